"""CLI edges: narrow output encodings, escaped values in number errors."""

from __future__ import annotations

from pathlib import Path

from .conftest import run_cli


def test_a_reply_a_latin1_terminal_cannot_hold_prints_with_replacements(fake_backend_plugin_file: Path) -> None:
    # The fake model repeats the message: an emoji and a CJK character a Latin-1 stream cannot encode.
    proc = run_cli("prompt", "-b", "fake", "café 😀 漢", env={"PYTHONIOENCODING": "latin-1"})
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "UnicodeEncodeError" not in proc.stderr
    assert "caf" in proc.stdout and "?" in proc.stdout


def test_a_utf8_stream_is_left_exactly_as_it_is(fake_backend_plugin_file: Path) -> None:
    proc = run_cli("prompt", "-b", "fake", "café 😀 漢", env={"PYTHONIOENCODING": "utf-8"})
    assert proc.returncode == 0, proc.stderr
    assert "café 😀 漢" in proc.stdout


def test_a_bad_number_is_quoted_once_escaped_once(assistant_home: Path) -> None:
    proc = run_cli("history", "show", "\x1b]0;PWN\x07\u202e")
    assert proc.returncode == 1
    assert proc.stderr.strip().endswith("not '␛]0;PWN␇\\u202e'"), proc.stderr
    assert "\x1b" not in proc.stderr and "\u202e" not in proc.stderr


def test_crlf_line_ends_print_as_line_ends_and_a_lone_cr_stays_visible(fake_backend_plugin_file: Path) -> None:
    proc = run_cli("prompt", "-b", "fake", "one\r\ntwo\rthree")
    assert proc.returncode == 0, proc.stderr
    assert "one\ntwo␍three" in proc.stdout
    assert "\r" not in proc.stdout


def test_streamed_line_ends_join_a_cr_and_lf_that_arrive_apart() -> None:
    from assistant.terminal_text import StreamedLineEnds

    folder = StreamedLineEnds()
    pieces = ["one\r", "\ntwo\r", "three\r\n", "four\r"]
    shown = "".join(folder.feed(piece) for piece in pieces) + folder.flush()
    assert shown == "one\ntwo\rthree\nfour\r"
    assert folder.flush() == ""


def test_a_template_reply_streams_crlf_as_line_ends_too(fake_backend_plugin_file: Path) -> None:
    proc = run_cli("prompt", "-t", "chat", "-b", "fake", "one\r\ntwo")
    assert proc.returncode == 0, proc.stderr
    assert "one\ntwo" in proc.stdout and "␍" not in proc.stdout


def test_config_show_never_prints_an_api_key_or_url_credentials(assistant_home: Path) -> None:
    import json

    config = assistant_home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        '[backends.openai]\napi_key = "sk-secret-1"\nbase_url = "http://user:pw@box:8000/v1"\n'
        '[remotes.lab]\nbase_url = "http://box:8001/v1"\napi_key = "sk-secret-2"\napi_key_env = "LAB_KEY"\n'
    )
    proc = run_cli("config", "show")
    assert proc.returncode == 0, proc.stderr
    assert "sk-secret" not in proc.stdout and "user:pw" not in proc.stdout
    shown = json.loads(proc.stdout)["config"]
    assert shown["backends"]["openai"] == {"api_key": "***", "base_url": "http://***@box:8000/v1"}
    assert shown["remotes"]["lab"] == {"base_url": "http://box:8001/v1", "api_key": "***", "api_key_env": "LAB_KEY"}


def test_a_label_the_model_wrote_shows_no_probabilities_as_if_measured() -> None:
    from assistant.tools.results import LabelResult

    written = LabelResult("positive", {"positive": 1.0, "negative": 0.0}, method="generation")
    assert written.to_text() == "positive  (written by the model: this backend cannot score labels, so no probabilities)"
    assert written.to_dict()["method"] == "generation"
    scored = LabelResult("positive", {"positive": 0.8, "negative": 0.2})
    assert scored.to_text() == "positive  (positive 0.80, negative 0.20)"


def test_a_wrong_tool_parameter_type_is_said_in_words() -> None:
    import pytest

    from assistant.errors import ConfigError
    from assistant.tools.base import Parameter

    with pytest.raises(ConfigError, match=r"^parameter 'chunk_tokens' needs a whole number, got 'many'$"):
        Parameter("chunk_tokens", type="int").coerce("many")


def test_a_choice_template_prints_its_label_once(fake_backend_plugin_file: Path) -> None:
    proc = run_cli("prompt", "-t", "few-shot-sentiment", "-b", "fake", "The soup was cold.")
    assert proc.returncode == 0, proc.stderr
    label = proc.stdout.strip()
    assert label in ("positive", "negative", "neutral"), proc.stdout
    assert label not in proc.stderr  # it was echoed to stderr as if streamed, then printed again


def test_plugins_lists_an_unreadable_config_instead_of_failing(assistant_home: Path) -> None:
    config = assistant_home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('plugin_dirs = ["~/p"]\n[params\n')  # the warning is for a config that sets plugin_dirs
    proc = run_cli("plugins")
    assert proc.returncode == 0, proc.stderr
    assert "FAILED plugin_dirs (config): the plugins of plugin_dirs were not loaded: invalid TOML" in proc.stdout


def test_backends_marks_the_default_once(assistant_home: Path) -> None:
    line = next(line for line in run_cli("backends").stdout.splitlines() if line.startswith("llama-cpp"))
    assert line.count("(default)") == 1

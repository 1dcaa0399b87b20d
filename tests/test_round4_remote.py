"""A user running models on a server, end to end: each test failed before its fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest
from click.testing import CliRunner

from assistant.cli import main

from .openai_fake_server import FakeOpenAIServer, chat_chunk, send_json, sse, tiny_openai_server  # noqa: F401 (the server fixture)


@pytest.fixture(name="default_server")
def default_openai_server() -> Iterator[FakeOpenAIServer]:
    """The config's default server ([backends.openai]): a resumed remote conversation must not land here."""
    fake = FakeOpenAIServer()
    fake.models("tiny", owned_by="me")
    fake.route("POST", "/v1/chat/completions", sse([chat_chunk("wrong server"), chat_chunk(finish="stop")]))
    yield fake
    fake.close()


def _write_config(home: Path, text: str) -> None:
    (home / "config").mkdir(parents=True, exist_ok=True)
    (home / "config" / "config.toml").write_text(text)


# ---- 1. resuming a conversation with a named remote goes back to that remote -----------------


def test_resumed_remote_conversation_reconnects_to_the_same_remote(
    server: FakeOpenAIServer, default_server: FakeOpenAIServer, assistant_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.route("POST", "/v1/chat/completions", sse([chat_chunk("Paris."), chat_chunk(finish="stop")]))
    _write_config(
        assistant_home,
        f'[backends.openai]\nbase_url = "{default_server.base_url}"\n'
        f'[remotes.lab]\nbase_url = "{server.base_url}"\nmodel = "tiny"\napi_key_env = "LAB_KEY"\n',
    )
    monkeypatch.setenv("LAB_KEY", "s3cret-lab-key")
    runner = CliRunner()
    first = runner.invoke(main, ["prompt", "-b", "openai", "-m", "lab", "--json", "Capital of France?"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["model"] == "lab/tiny"  # the reference -m takes, not the bare served id
    listing = runner.invoke(main, ["history", "list", "--json"])
    assert json.loads(listing.stdout)[0]["model"] == "lab/tiny"

    resumed = runner.invoke(main, ["prompt", "-c", "And of Italy?"])
    assert resumed.exit_code == 0, resumed.output
    assert resumed.stdout == "Paris.\n"
    assert default_server.bodies("/v1/chat/completions") == []  # before: the default server answered
    second = server.bodies("/v1/chat/completions")[1]
    assert second["model"] == "tiny"  # the server still gets its own id
    assert [m["content"] for m in second["messages"] if m["role"] != "system"] == [
        "Capital of France?", "Paris.", "And of Italy?"
    ]
    assert server.requests[-1]["headers"]["Authorization"] == "Bearer s3cret-lab-key"
    for path in assistant_home.rglob("*.db*"):  # the key reaches the server, never the history
        assert b"s3cret-lab-key" not in path.read_bytes()


def test_resume_continues_with_the_model_that_wrote_the_newest_reply(
    server: FakeOpenAIServer, assistant_home: Path, fake_backend: None
) -> None:
    """A conversation moved to a remote (``-c -b openai -m lab``) stays there on the next ``-c``.

    Before, ``-c`` took the conversation row's model, the first turn's, and went back to it.
    """
    server.route("POST", "/v1/chat/completions", sse([chat_chunk("remote reply"), chat_chunk(finish="stop")]))
    _write_config(assistant_home, f'[remotes.lab]\nbase_url = "{server.base_url}"\nmodel = "tiny"\n')
    runner = CliRunner()
    assert runner.invoke(main, ["prompt", "-b", "fake", "-m", "local-model", "first"]).exit_code == 0
    moved = runner.invoke(main, ["prompt", "-c", "-b", "openai", "-m", "lab", "second"])
    assert moved.exit_code == 0, moved.output
    again = runner.invoke(main, ["prompt", "-c", "third"])
    assert again.exit_code == 0, again.output
    assert again.stdout == "remote reply\n"
    assert len(server.bodies("/v1/chat/completions")) == 2


def test_resume_skips_a_reply_that_failed_before_any_text(
    server: FakeOpenAIServer, assistant_home: Path, fake_backend: None
) -> None:
    """A model that was refused (404) is not the one to continue with: the last one that answered is."""
    server.route("POST", "/v1/chat/completions", lambda h, _: send_json(h, 404, {"error": {"message": "no such model"}}))
    _write_config(assistant_home, f'[remotes.lab]\nbase_url = "{server.base_url}"\nmodel = "tiny"\n')
    runner = CliRunner()
    assert runner.invoke(main, ["prompt", "-b", "fake", "-m", "local-model", "first"]).exit_code == 0
    failed = runner.invoke(main, ["prompt", "-c", "-b", "openai", "-m", "lab/typo", "second"])
    assert failed.exit_code == 1 and "no such model" in failed.stderr
    again = runner.invoke(main, ["prompt", "-c", "--json", "third"])
    assert again.exit_code == 0, again.output
    assert (json.loads(again.stdout)["backend"], json.loads(again.stdout)["model"]) == ("fake", "local-model")


def test_a_model_naming_a_remote_needs_no_backend_flag(
    server: FakeOpenAIServer, assistant_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``-m lab`` (or ``default_model = "lab"``) can only mean the remote: no ``-b openai`` needed.

    Before, the default local backend tried to load "lab" and failed with a hint to add ``-b openai``.
    A local file of that path still wins.
    """
    server.route("POST", "/v1/chat/completions", sse([chat_chunk("from lab"), chat_chunk(finish="stop")]))
    _write_config(assistant_home, f'[remotes.lab]\nbase_url = "{server.base_url}"\nmodel = "tiny"\n')
    runner = CliRunner()
    given = runner.invoke(main, ["prompt", "-m", "lab/tiny", "--json", "Hi"])
    assert given.exit_code == 0, given.output
    assert json.loads(given.stdout)["backend"] == "openai"
    _write_config(
        assistant_home, f'default_model = "lab"\n[remotes.lab]\nbase_url = "{server.base_url}"\nmodel = "tiny"\n'
    )
    configured = runner.invoke(main, ["prompt", "Hi"])
    assert configured.exit_code == 0, configured.output
    assert configured.stdout == "from lab\n"

    from assistant.cli.common import resolve_model_and_backend

    monkeypatch.chdir(tmp_path)
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "model.gguf").write_bytes(b"GGUF")
    assert resolve_model_and_backend("lab/model.gguf", None)[1] != "openai"  # a local file of that path
    assert resolve_model_and_backend("lab/tiny", "fake") == ("lab/tiny", "fake")  # -b as given


def test_ctrl_c_in_a_batch_says_so_once_and_exits_130(
    fake_backend: None, assistant_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch's own line (what is kept, --resume) is the whole report: no second "interrupted" line."""
    from assistant.backends.fake import FakeBackend

    real_stream, real_complete = FakeBackend.stream, FakeBackend.complete

    def stop_at_the_second_row(method: Any) -> Any:
        def wrapper(self: Any, messages: Any, *args: Any, **kwargs: Any) -> Any:
            if "second" in str(messages):
                raise KeyboardInterrupt
            return method(self, messages, *args, **kwargs)

        return wrapper

    monkeypatch.setattr(FakeBackend, "stream", stop_at_the_second_row(real_stream))
    monkeypatch.setattr(FakeBackend, "complete", stop_at_the_second_row(real_complete))
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"input": "first"}\n{"input": "second"}\n{"input": "third"}\n')
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(
        main, ["prompt", "-b", "fake", "-m", "m", "-t", "chat", "--batch", str(rows), "--out", str(out)]
    )
    assert result.exit_code == 130, result.output
    lines = [line for line in result.stderr.splitlines() if "interrupted" in line]
    assert lines == ["batch interrupted; finished rows are saved. rerun with --resume to continue"]
    assert [json.loads(line)["row"] for line in out.read_text().splitlines()] == [1]


def test_out_dash_writes_the_results_to_stdout(
    fake_backend: None, assistant_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--out -`` is stdout (before: a results file named "-" in the current directory)."""
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"input": "first"}\n')
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["prompt", "-b", "fake", "-m", "m", "-t", "chat", "--batch", str(rows), "--out", "-"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "-").exists()
    assert json.loads(result.stdout.splitlines()[0])["row"] == 1


def test_a_resumed_turn_on_a_server_of_unknown_context_says_unknown_not_of_0() -> None:
    """A server that does not report its context length gave "34 prompt tokens of 0"."""
    from types import SimpleNamespace

    from assistant.cli.history_options import describe_fit

    fit = SimpleNamespace(prompt_tokens=34, dropped=0)
    assert describe_fit(7, fit, 0) == "conversation 7: 34 prompt tokens (the context window's length is unknown)"
    assert describe_fit(7, fit, 8192) == "conversation 7: 34 prompt tokens of 8192"


def test_debug_after_the_command_shows_the_traceback(assistant_home: Path) -> None:
    """``assistant prompt --debug …`` printed one line: the command's flag was gone by the error boundary."""
    for args in (["--debug", "prompt", "-b", "nope", "hi"], ["prompt", "--debug", "-b", "nope", "hi"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code != 0
        assert result.exception is not None and not isinstance(result.exception, SystemExit), args  # raised
    plain = CliRunner().invoke(main, ["prompt", "-b", "nope", "hi"])
    assert isinstance(plain.exception, SystemExit) and plain.stderr.startswith("error: ")

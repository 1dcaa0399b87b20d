"""Round 13, integration: follow-ups of the helpers' reports that touch files shared by two areas."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from assistant.errors import ConfigError, RemoteError, TemplateError
from assistant.input_files import read_limited, wide_encoding

DEEP = "[" * 5000 + "]" * 5000
"""JSON nested past the parser's stack: ``json.loads`` raises RecursionError, not ValueError."""


@pytest.mark.parametrize("data", [b"a\0b", b"h\0i\n", b"\0\1\2\3", b"\x01\0\x02\0"])
def test_bytes_that_only_look_wide_at_their_start_are_no_utf16(data: bytes) -> None:
    """Stdin is refused on the UTF-16 guess now, so the guess must be narrow: ``a\\0b`` from a program,
    or binary data opening ``\\0\\1``, was called "UTF-16 text" (on stdin: refused)."""
    assert wide_encoding(data) is None
    with pytest.raises(ConfigError, match="NUL byte"):  # binary, not UTF-16: refused as binary (round 20)
        read_limited(io.BytesIO(data), "the input on stdin")


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-16", "utf-32-le", "utf-32"])
def test_text_in_a_wide_encoding_is_still_named(encoding: str) -> None:
    data = "Zoë went to Zürich, then home.".encode(encoding)
    assert wide_encoding(data) == ("UTF-32" if "32" in encoding else "UTF-16")
    with pytest.raises(ConfigError, match=r"is UTF-(16|32) text, not UTF-8"):
        read_limited(io.BytesIO(data), "the input on stdin")


def test_a_batch_row_nested_past_the_parsers_stack_fails_on_its_own(tmp_path: Path) -> None:
    from assistant.batch.rows import read_rows

    path = tmp_path / "rows.jsonl"
    path.write_text('{"text": "hi"}\n{"text": "x", "v": ' + DEEP + "}\n", encoding="utf-8")
    first, second = read_rows(path)
    assert first.error is None and second.error == "row 2 nests too deeply (lists or objects inside one another)"


def test_a_reply_of_deeply_nested_brackets_is_shown_as_text_not_a_crash() -> None:
    pytest.importorskip("textual")
    from assistant.tui.widgets.chat_log import json_markdown

    assert json_markdown(DEEP) is None
    assert json_markdown('{"a": [1]}') is not None


def test_an_examples_file_nested_too_deeply_is_a_template_error(tmp_path: Path) -> None:
    from assistant.templates import load_template

    (tmp_path / "ex.jsonl").write_text(DEEP + "\n", encoding="utf-8")
    template = tmp_path / "t.jinja"
    template.write_text("---\nexamples: ex.jsonl\n---\n{{ input }}\n", encoding="utf-8")
    with pytest.raises(TemplateError, match=r"ex.jsonl:1: invalid JSON: nested too deeply"):
        load_template(str(template)).examples  # noqa: B018 (loading the examples is the point)


def test_a_server_event_nested_too_deeply_is_a_remote_error() -> None:
    from assistant.backends.openai.stream import parse_event

    with pytest.raises(RemoteError):
        parse_event(DEEP, "http://127.0.0.1:1")


def test_the_chat_app_runs_a_servers_model_named_like_a_catalog_base_model_as_chat() -> None:
    """The chat app keyed its chat-or-completion choice on the model's name alone: ``chat -b openai -m
    gemma3`` (Ollama's instruction-tuned Gemma) showed "template completion", as the catalog's base
    ``gemma3`` would, where ``assistant prompt`` runs it as chat."""
    pytest.importorskip("textual")
    from tests.tui_support import make_app

    controller = make_app(model="gemma3").controller
    assert controller.prompt_mode() == "completion"  # the fake backend lists catalog models: the base Gemma
    controller.settings.backend = "openai"
    assert controller.prompt_mode() == "chat"


def test_a_title_made_from_coloured_text_keeps_its_words_not_its_escape_codes() -> None:
    """Text piped from a coloured terminal (``prompt "$(ls --color=always)"``) was titled ``[31mred [0m
    alert``: the ESC became a space and the rest of the code stayed, in the sidebar and ``history list``."""
    from assistant.history.stored_text import title_from
    from assistant.terminal_text import without_escape_sequences

    assert title_from("\x1b[31mred\x1b[0m alert") == "red alert"
    assert title_from("see \x1b]8;;https://x.test\x07the link\x1b]8;;\x07 \x9b1mnow") == "see the link now"
    assert title_from("plain [31m text") == "plain [31m text"  # no ESC: nothing is taken for a code
    assert without_escape_sequences("a\x1b(Bb") == "ab"


def test_names_in_coloured_text_are_still_found_with_the_shared_escape_pattern() -> None:
    from tests.test_tools_r7 import ScoreCounter

    from assistant.tools import get_tool

    backend = ScoreCounter()
    get_tool("ner").run("We met \x1b[1mBarack Obama\x1b[0m in Paris.", backend, view="none")
    typed = [line for line in backend.scored if line.endswith(":")]
    assert typed == ["Barack Obama:", "Paris:"], typed

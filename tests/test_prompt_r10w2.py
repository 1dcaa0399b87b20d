"""``assistant prompt`` as a demanding user runs it (round 10): the defects found, each pinned by a test."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner, Result

from assistant.backends.fake import FakeBackend, FakeBackendPlugin
from assistant.cli import main
from assistant.plugins import register_plugin

pytestmark = pytest.mark.usefixtures("assistant_home")


def cli(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input)


def replying(reply: str, *, constrained: bool = False) -> list[FakeBackend]:
    made: list[FakeBackend] = []

    def factory() -> FakeBackend:
        made.append(FakeBackend(reply=reply, constrained=constrained))
        return made[-1]

    register_plugin(FakeBackendPlugin(factory), name="fake-replying")
    return made


# Characters JSON lets stand raw inside a string which a terminal could act on: DEL, a C1 CSI,
# a bidi override, a line separator, a tag character (past U+FFFF), a zero-width space.
HOSTILE = "a\x7fb\x9bc\u202ed\u2028e\U000e0041f\u200bg"


@pytest.mark.parametrize("layout", ['{"name": "%s"}', '{\n  "name":"%s"\r\n}'])
def test_a_schema_document_on_a_pipe_stays_the_json_that_was_checked(layout: str) -> None:
    """``prompt --schema S | jq``: the document is printed only once it has passed the check, but
    it was printed through the terminal guard, which turned DEL into ``␡`` (another value) and a
    C1 control or a tag character into ``\\x9b``/``\\U000e0041`` (no JSON at all: jq failed on it)."""
    reply = layout % HOSTILE
    assert json.loads(reply) == {"name": HOSTILE}
    replying(reply)
    result = cli("prompt", "-b", "fake", "-m", "x", "--schema", "name", "hi")
    assert result.exit_code == 0, result.output
    printed = result.stdout
    assert json.loads(printed) == {"name": HOSTILE}  # the very value checked, as JSON
    assert "\r" not in printed and all(ch not in printed for ch in "\x7f\x9b\u202e\u2028\U000e0041\u200b")
    if "\n" not in layout:
        assert printed == '{"name": "a\\u007fb\\u009bc\\u202ed\\u2028e\\udb40\\udc41f\\u200bg"}\n'  # layout kept


@pytest.mark.parametrize(
    ("data", "said"),
    [
        ("notes".encode("utf-16-le"), "is UTF-16 text, not UTF-8"),  # without its byte-order mark
        ("notes".encode("utf-16-be"), "is UTF-16 text, not UTF-8"),
        ("notes".encode("utf-32-le"), "is UTF-32 text, not UTF-8"),
        ("notes".encode("utf-16"), "is UTF-16 text, not UTF-8"),  # with one: was "byte 0xff at offset 0"
        ("notes".encode("utf-32"), "is UTF-32 text, not UTF-8"),
        (b"key = 1\n\0\0\0\0", "holds a NUL byte at offset 8, line 2: not text"),  # a zero-padded file
    ],
)
def test_a_named_file_that_is_not_utf8_text_is_refused_by_what_it_is(tmp_path: Any, data: bytes, said: str) -> None:
    """``-v input=@notes.txt`` of a UTF-16 file without a BOM was sent as ``n\\0o\\0t\\0e\\0s\\0``: every
    byte is valid UTF-8, so the strict read let the NULs through to the model (and the history);
    with a BOM it was "byte 0xff at offset 0", which does not say what the file is."""
    from assistant.errors import ConfigError
    from assistant.input_files import read_input_file

    path = tmp_path / "notes.txt"
    path.write_bytes(data)
    with pytest.raises(ConfigError) as caught:
        read_input_file(path, "-v input: file")
    assert said in str(caught.value) and "save it as UTF-8" in str(caught.value)
    assert str(caught.value).startswith(f"-v input: file {path} ")


def test_nul_bytes_on_stdin_are_refused_as_from_a_file() -> None:
    """Stdin is read leniently for invalid UTF-8, but a NUL byte is binary data there as in a file (round 20)."""
    import io

    from assistant.errors import ConfigError
    from assistant.input_files import read_limited

    with pytest.raises(ConfigError, match="NUL byte at offset 1"):
        read_limited(io.BytesIO(b"a\0b"), "the input on stdin")


def test_prompt_refuses_a_utf16_template_variable_file(tmp_path: Any) -> None:
    made = replying("ok", constrained=True)
    path = tmp_path / "notes.txt"
    path.write_bytes("hello".encode("utf-16-le"))
    result = cli("prompt", "-b", "fake", "-m", "x", "-t", "summarize", "-v", f"input=@{path}")
    assert result.exit_code == 1 and made == []
    assert result.stderr.strip().splitlines() == [
        f"error: -v input: file {path} is UTF-16 text, not UTF-8; save it as UTF-8"
    ]


@pytest.mark.parametrize(
    "schema",
    [{"enum": []}, {"type": "integer", "minimum": 0.5, "maximum": 0.7},
     {"type": "object", "required": ["a"], "additionalProperties": False}],
)  # fmt: skip
def test_chat_session_refuses_a_schema_no_json_can_match_before_anything_is_recorded(
    tmp_path: Any, schema: dict[str, Any]
) -> None:
    """``--schema`` refuses these when given; ``ChatSession(params={"json_schema": ...})`` took them and
    failed at send with a BackendError blamed on the engine, recorded in the history as the turn's error."""
    from assistant.errors import ConfigError
    from assistant.history import ConversationRecorder, HistoryStore
    from assistant.session import ChatSession

    backend = FakeBackend()
    backend.load("x")
    with pytest.raises(ConfigError, match=r"^json_schema: the JSON schema cannot be compiled"):
        ChatSession(backend, params={"json_schema": schema})
    session = ChatSession(backend, params={"max_tokens": 50})
    store = HistoryStore.open(tmp_path / "h.db")
    session.recorder = ConversationRecorder(store)
    session.params = {"json_schema": schema}  # set between sends: checked at the send, before it is recorded
    with pytest.raises(ConfigError, match="cannot be compiled"):
        list(session.send("hi"))
    assert store.list_conversations() == [] and session.messages == []
    store.close()

"""Round 7 CLI fixes: a schema belongs to its reply, a resumed batch stays one conversation,
a tool that uses no model loads none.

All on the fake backend (or on no backend at all): each test fails without its fix.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from assistant import hookimpl
from assistant.backends.fake import FakeBackend
from assistant.cli import main
from assistant.plugins import register_plugin
from assistant.structured.output import schema_instruction, without_schema_instruction
from assistant.tools import BaseTool, Parameter, TextResult

DOG = "name, age int"


def cli(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input)


def history(*args: str) -> Any:
    result = cli("history", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# ---- 1. the schema instruction belongs to the structured reply -----------------------------------


def test_continuing_a_schema_reply_without_schema_is_plain_chat(fakes: list[FakeBackend]) -> None:
    first = cli("prompt", "-b", "fake", "-m", "x", "-s", "Be kind.", "--schema", DOG, "invent a dog")
    assert first.exit_code == 0, first.output
    assert "matches this JSON Schema" in fakes[0].calls[0]["prompt"]  # the structured reply is told
    (conversation,) = history("list")
    assert history("show", str(conversation["id"]))["system"] == "Be kind."  # the conversation is not

    second = cli("prompt", "-c", "describe it in words")
    assert second.exit_code == 0, second.output
    (call,) = fakes[1].calls
    assert call["params"].json_schema is None
    assert "JSON Schema" not in call["prompt"]  # nor told to write JSON that nothing holds it to
    assert "Be kind." in call["prompt"]  # the conversation's own system prompt stays


def test_continuing_with_schema_holds_that_reply_to_it(fakes: list[FakeBackend]) -> None:
    assert cli("prompt", "-b", "fake", "-m", "x", "hello").exit_code == 0
    result = cli("prompt", "-c", "--schema", DOG, "now a dog as JSON")
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.stdout)) == {"name", "age"}
    (call,) = fakes[1].calls
    assert call["params"].json_schema is not None and "matches this JSON Schema" in call["prompt"]
    assert cli("prompt", "-c", "thanks").exit_code == 0
    assert "JSON Schema" not in fakes[2].calls[0]["prompt"]


def test_a_conversation_stored_with_the_instruction_is_continued_without_it(
    fakes: list[FakeBackend], assistant_home: Path
) -> None:
    """Earlier versions stored the instruction as the system prompt: `-c` drops it there too."""
    assert cli("prompt", "-b", "fake", "-m", "x", "-s", "Be kind.", "hi").exit_code == 0
    (conversation,) = history("list")
    db = next(assistant_home.rglob("history.db"))
    with sqlite3.connect(db) as connection:
        connection.execute(
            "UPDATE conversations SET system = ? WHERE id = ?",
            [schema_instruction("Be kind.", {"type": "object"}), conversation["id"]],
        )
    assert cli("prompt", "-c", "more").exit_code == 0
    prompt = fakes[1].calls[0]["prompt"]
    assert "Be kind." in prompt and "JSON Schema" not in prompt


def test_without_schema_instruction_removes_only_an_exact_instruction() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    assert without_schema_instruction(schema_instruction("Be kind.", schema)) == "Be kind."
    assert without_schema_instruction(schema_instruction(None, schema)) is None
    assert without_schema_instruction("Be kind.") == "Be kind."
    assert without_schema_instruction(None) is None
    mentioned = "Explain: Reply with one JSON document that matches this JSON Schema:\nnot json"
    assert without_schema_instruction(mentioned) == mentioned
    inline = "Say x. Reply with one JSON document that matches this JSON Schema:\n{}"
    assert without_schema_instruction(inline) == inline  # not after a blank line: the user's own text


# ---- 2. a resumed batch continues the conversation its first run began ---------------------------


def rows(path: Path, texts: list[str]) -> Path:
    path.write_text("".join(json.dumps({"id": f"r{i}", "text": t}) + "\n" for i, t in enumerate(texts, 1)))
    return path


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_resumed_tool_batch_is_recorded_in_the_first_runs_conversation(fakes: list[FakeBackend], tmp_path: Path) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rows(source, ["great, positive", "awful, negative"])
    first = cli("sentiment", "-b", "fake", "-m", "m", "--batch", str(source), "--out", str(out))
    assert first.exit_code == 0, first.output
    (conversation,) = history("list")
    assert f"(history: conversation {conversation['id']})" in first.stderr
    assert {line["conversation_id"] for line in lines(out)} == {conversation["id"]}

    rows(source, ["great, positive", "awful, negative", "fine, positive"])  # one more row to run
    second = cli("sentiment", "-b", "fake", "-m", "m", "--batch", str(source), "--out", str(out), "--resume")
    assert second.exit_code == 0, second.output
    assert "1 ok, 0 failed, 2 already done" in second.stderr
    assert f"(history: conversation {conversation['id']})" in second.stderr
    assert [c["id"] for c in history("list")] == [conversation["id"]]  # no second conversation
    shown = history("show", str(conversation["id"]))
    assert [m["content"] for m in shown["messages"] if m["role"] == "user"] == [
        "great, positive", "awful, negative", "fine, positive",
    ]  # fmt: skip
    assert lines(out)[-1]["conversation_id"] == conversation["id"]


def test_a_resume_whose_conversation_is_gone_says_so_and_starts_one(fakes: list[FakeBackend], tmp_path: Path) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rows(source, ["great, positive"])
    assert cli("sentiment", "-b", "fake", "-m", "m", "--batch", str(source), "--out", str(out)).exit_code == 0
    rows(source, ["great, positive", "awful, negative"])
    other = tmp_path / "other.db"
    result = cli(
        "sentiment", "-b", "fake", "-m", "m", "--batch", str(source), "--out", str(out), "--resume", "--db", str(other)
    )
    assert result.exit_code == 0, result.output
    assert "is not in this history; the resumed rows are recorded in a new conversation" in result.stderr
    (conversation,) = history("list", "--db", str(other))
    assert f"(history: conversation {conversation['id']})" in result.stderr


def test_a_no_log_batch_names_no_conversation(fakes: list[FakeBackend], tmp_path: Path) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rows(source, ["great, positive"])
    result = cli("sentiment", "-b", "fake", "-m", "m", "--batch", str(source), "--out", str(out), "--no-log")
    assert result.exit_code == 0, result.output
    assert "history:" not in result.stderr and lines(out)[0]["conversation_id"] is None


def test_the_row_is_written_even_when_recording_it_is_interrupted(tmp_path: Path) -> None:
    from assistant.batch import Row, run_rows

    out = tmp_path / "out.jsonl"

    def interrupt(record: dict[str, Any]) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_rows([Row(1, {"text": "a"})], lambda row: {"result": 1}, out=out, on_record=interrupt, conversation=lambda: 7)
    assert lines(out) == [{"row": 1, "id": None, "result": 1, "error": None, "conversation_id": 7}]


# ---- 3. a tool that uses no model loads none ------------------------------------------------------


class Shout(BaseTool):
    name = "shout"
    description = "Upper-case the text."
    parameters = (Parameter("times", "int", default=1),)
    needs_model = False

    def __init__(self) -> None:
        self.backends: list[Any] = []

    def run(self, text: str, params: Any, backend: Any) -> TextResult:
        self.backends.append(backend)
        return TextResult(" ".join([text.upper()] * params["times"]))


@pytest.fixture
def shout(fakes: list[FakeBackend], monkeypatch: pytest.MonkeyPatch) -> Shout:
    """``shout`` registered; the default backend is the counting fake, so loading any model shows in ``fakes``."""
    tool = Shout()

    class Plugin:
        @hookimpl
        def register_tools(self, register: Any) -> None:
            register(tool)

    register_plugin(Plugin(), name="shout-r7")
    monkeypatch.setenv("ASSISTANT_BACKEND", "fake")
    monkeypatch.setenv("ASSISTANT_MODEL", "x")
    return tool


def test_a_tool_without_a_model_runs_without_loading_one(shout: Shout, fakes: list[FakeBackend]) -> None:
    result = cli("shout", "--times", "2", "hello")
    assert result.exit_code == 0, result.output
    assert result.stdout == "HELLO HELLO\n"
    assert fakes == [] and shout.backends == [None]
    (conversation,) = history("list")
    reply = history("show", str(conversation["id"]))["messages"][-1]
    assert reply["content"] == "HELLO HELLO" and reply["model"] is None and reply["backend"] is None


def test_a_tool_batch_without_a_model_loads_none(shout: Shout, fakes: list[FakeBackend], tmp_path: Path) -> None:
    source, out = rows(tmp_path / "in.jsonl", ["a", "b"]), tmp_path / "out.jsonl"
    result = cli("tool", "shout", "--batch", str(source), "--out", str(out), "--parallel", "3")
    assert result.exit_code == 0, result.output
    assert [line["result"] for line in lines(out)] == [{"text": "A"}, {"text": "B"}]
    assert "--parallel 3 runs as 1" in result.stderr
    assert fakes == []


def test_model_options_for_a_tool_without_a_model_are_refused(shout: Shout, fakes: list[FakeBackend]) -> None:
    result = cli("shout", "-m", "smollm2", "-o", "n_ctx=512", "hello")
    assert result.exit_code == 2
    assert "tool 'shout' uses no model (it declares needs_model = False); drop -m, -o" in result.stderr
    assert fakes == []


def test_the_python_api_loads_no_model_and_passes_none(shout: Shout, fakes: list[FakeBackend]) -> None:
    from assistant.tools import get_tool

    registered = get_tool("shout")
    assert registered.needs_model is False and registered.to_dict()["needs_model"] is False
    assert registered.run("hi").to_text() == "HI"
    assert registered.run("hi", FakeBackend()).to_text() == "HI"  # a backend given anyway is not passed on
    assert shout.backends == [None, None] and fakes == []
    assert get_tool("sentiment").needs_model is True  # undeclared: a model, as before


def test_needs_model_must_be_a_bool() -> None:
    from assistant.tools import available_tools
    from assistant.plugins import plugin_failures

    class Vague(BaseTool):
        name = "vague"
        description = "x"
        needs_model = "no"  # type: ignore[assignment]

    class Plugin:
        @hookimpl
        def register_tools(self, register: Any) -> None:
            register(Vague())

    register_plugin(Plugin(), name="vague-plugin")
    assert "vague" not in available_tools()
    assert any("needs_model must be True or False, got 'no'" in f.error for f in plugin_failures())


# ---- everyday paths ----------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["text", "file", "file-dash", "stdin"])
def test_blank_tool_input_is_refused_before_a_model_loads(how: str, fakes: list[FakeBackend], tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    args = {"text": [" "], "file": ["--file", str(empty)], "file-dash": ["--file", "-"], "stdin": []}[how]
    result = cli("sentiment", "-b", "fake", "-m", "m", *args, input="\n")
    assert result.exit_code == 2, result.output
    assert "no input: pass TEXT" in result.stderr and "holds no text" in result.stderr
    assert fakes == []  # no model was loaded for it
    assert history("list") == []  # and no empty turn recorded


def test_a_tool_parameter_given_as_option_and_with_p_is_refused(fakes: list[FakeBackend]) -> None:
    result = cli("translate", "-b", "fake", "-m", "m", "--to", "German", "-p", "to=French", "hi")
    assert result.exit_code == 2, result.output
    assert "tool 'translate': parameter 'to' given twice (--to and -p to=...); give it once" in result.stderr
    aliased = cli("translate", "-b", "fake", "-m", "m", "--to", "German", "--from", "English", "-p", "source=French", "hi")
    assert aliased.exit_code == 2 and "parameter 'source' given twice (--source and -p source=...)" in aliased.stderr
    assert fakes == []


def test_the_help_of_a_tool_without_a_model_offers_no_model_options(shout: Shout) -> None:
    for args in (["shout", "--help"], ["tool", "shout", "--help"]):
        shown = cli(*args).stdout
        assert "--times" in shown and "--model" not in shown and "--option" not in shown, args
    assert "--model" in cli("tool", "sentiment", "--help").stdout  # the generic command, reused, shows them again


def test_results_to_a_pipe_named_as_out_end_without_an_error(tmp_path: Path) -> None:
    """``--out /dev/stdout | jq``: every row was written, then fsync of the pipe failed the batch (exit 1)."""
    import os

    from assistant.batch import Row, run_rows

    read_end, write_end = os.pipe()
    with os.fdopen(read_end) as reader:
        try:
            summary = run_rows([Row(1, {"text": "a"})], lambda row: {"result": 1}, out=Path(f"/dev/fd/{write_end}"))
        finally:
            os.close(write_end)
        assert json.loads(reader.read()) == {"row": 1, "id": None, "result": 1, "error": None}
    assert summary.done == 1


def test_a_tool_result_ending_its_line_is_not_followed_by_a_blank_line(shout: Shout) -> None:
    """``echo hello | assistant shout`` printed "HELLO", then an empty line."""
    assert cli("shout", input="hello\n").stdout == "HELLO\n"
    assert cli("shout", "hello").stdout == "HELLO\n"


@pytest.mark.parametrize(
    "args, option",
    [
        (["shout", "--file", ""], "'-f' / '--file'"),
        (["shout", "--batch", ""], "'--batch'"),
        (["shout", "--batch", "in.jsonl", "--out", " "], "'--out' / '--output'"),
        (["prompt", "-t", "zero-shot", "--batch", ""], "'--batch'"),
    ],
)
def test_an_empty_file_name_is_refused_naming_the_option(shout: Shout, args: list[str], option: str) -> None:
    """``--out "$OUT"`` with OUT unset: "--out . is a directory"; ``--file ""``: "stdin holds no text"."""
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert f"Invalid value for {option}: needs a file name, not an empty string" in result.stderr

"""Round 12: the tools as a demanding user meets them. Each test failed before its fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from assistant.cli import main
from assistant.errors import ConfigError, ToolError
from assistant.tools import BaseTool, TextResult, get_tool
from assistant.tools.registry import RegisteredTool

from .test_tools_fake import RecordingFake

MISSING_MODEL = "/nonexistent/model.gguf"  # loading it fails: a command that loads a model says so
TOO_SHORT = "the input is too short to summarize (under 12 words): shown as it is"


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def no_default_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Python API's default model cannot be loaded: a run that loads it fails."""

    def refuse(self: RegisteredTool) -> Any:
        raise AssertionError("the default model was loaded")

    monkeypatch.setattr(RegisteredTool, "default_backend", refuse)


# ---- 1. an input the tool settles without a model loads none ------------------------------------------------
def test_the_command_line_loads_no_model_for_an_input_too_short_to_summarize() -> None:
    """Before: `assistant summarize "x y z"` loaded the model (~4 s), then gave the input back."""
    result = _invoke("summarize", "-m", MISSING_MODEL, "x y z")
    assert result.exit_code == 0, result.output
    assert result.output == f"x y z\n[{TOO_SHORT}]\n"


def test_the_command_line_refuses_input_without_words_before_loading_a_model() -> None:
    result = _invoke("summarize", "-m", MISSING_MODEL, "!!! 😀")
    assert result.exit_code == 1
    assert "no words, only symbols or punctuation" in result.output
    assert "nonexistent" not in result.output


def test_the_command_line_still_loads_the_model_for_input_long_enough() -> None:
    text = "The council voted on Tuesday to build a new public library near the station."
    result = _invoke("summarize", "-m", MISSING_MODEL, text)
    assert result.exit_code != 0 and "nonexistent" in result.output


def test_a_batch_of_inputs_all_too_short_loads_no_model(tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"id": "a", "text": "short one"}\n{"id": "b", "text": "???"}\nnot json\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = _invoke("summarize", "-m", MISSING_MODEL, "--batch", str(rows), "--out", str(out))
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in records[:2]] == ["a", "b"]
    assert records[0]["result"]["note"] == TOO_SHORT and records[0]["model"] is None
    assert "no words" in records[1]["error"] and records[2]["error"]
    assert "nonexistent" not in result.output


def test_a_batch_with_one_input_long_enough_loads_the_model(tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    long = "The council voted on Tuesday to build a new public library near the station."
    rows.write_text(json.dumps({"text": "short"}) + "\n" + json.dumps({"text": long}) + "\n", encoding="utf-8")
    result = _invoke("summarize", "-m", MISSING_MODEL, "--batch", str(rows), "--out", str(tmp_path / "o.jsonl"))
    assert result.exit_code != 0 and "nonexistent" in result.output


def test_the_python_api_loads_no_default_model_for_a_short_input(no_default_model: None) -> None:
    result = get_tool("summarize").run("The cat sat on the mat.")
    assert result.to_dict()["note"] == TOO_SHORT
    with pytest.raises(ToolError, match="nothing to summarize"):
        get_tool("summarize").run("   ...  ")


def test_the_decision_is_the_tools_own_and_asked_once_before_the_model(no_default_model: None) -> None:
    assert get_tool("summarize").answer_without_model("x y z", {"length": "bullets", "chunk_tokens": 0}) is not None
    long = "The council voted on Tuesday to build a new public library near the station."
    assert get_tool("summarize").answer_without_model(long, {"length": "short", "chunk_tokens": 0}) is None
    backend = RecordingFake(reply="A council will build a library.")
    assert get_tool("summarize").run(long, backend).summary == "A council will build a library."


@pytest.mark.parametrize(
    ("text", "paragraphs"),
    [("2024", 1), ("```python\nprint('hi')\n```\n", 0), ("12:30 — 14:45\n\n```\nx = 1\n```", 1)],
)
def test_translate_loads_no_model_for_input_with_no_words_outside_code(
    text: str, paragraphs: int, no_default_model: None
) -> None:
    """Before: a file of only code, or "2024", loaded the model and made no call to it."""
    result = get_tool("translate").run(text, to="fr")
    assert (result.translation, result.paragraphs, result.target) == (text, paragraphs, "French")
    backend = RecordingFake(reply="Bonjour.")
    assert get_tool("translate").run(text, backend, to="fr").translation == text
    assert backend.generations == 0


def test_translate_and_sentiment_refuse_empty_input_before_loading_a_model(no_default_model: None) -> None:
    with pytest.raises(ToolError, match="nothing to translate"):
        get_tool("translate").run("  \n ", to="fr")
    with pytest.raises(ToolError, match="nothing to classify"):
        get_tool("sentiment").run(" ")
    backend = RecordingFake(reply="Bonjour.")
    assert get_tool("translate").run("Good morning.", backend, to="fr").translation == "Bonjour."


class _Early(BaseTool):
    name = "early"
    description = "Answers some inputs itself."

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.runs = 0

    def answer_without_model(self, text: str, params: Any) -> Any:
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer

    def run(self, text: str, params: Any, backend: Any) -> Any:
        self.runs += 1
        return TextResult("from run")


def test_a_plugins_answer_without_model_is_checked_and_its_bug_named(no_default_model: None) -> None:
    early = _Early("settled")
    assert RegisteredTool(early, "mine").run("x").to_text() == "settled" and early.runs == 0
    assert RegisteredTool(_Early(None), "mine").run("x", RecordingFake()).to_text() == "from run"
    with pytest.raises(ToolError, match=r"tool 'early' \(plugin 'mine'\) failed: KeyError"):
        RegisteredTool(_Early(KeyError("length")), "mine").run("x")
    with pytest.raises(ToolError, match="returned int"):
        RegisteredTool(_Early(3), "mine").run("x")


def test_an_answer_without_model_that_is_not_a_method_is_refused_at_registration() -> None:
    from assistant.tools.registry import _check_tool

    tool = _Early(None)
    tool.answer_without_model = "yes"  # type: ignore[method-assign, assignment]
    with pytest.raises(ConfigError, match="answer_without_model must be a method"):
        _check_tool(tool)


def test_an_answer_without_model_with_the_wrong_signature_is_refused_at_registration() -> None:
    from assistant.tools.registry import _check_tool

    class Wrong(_Early):
        def answer_without_model(self, text: str) -> Any:  # type: ignore[override]
            return None

    with pytest.raises(ConfigError, match=r"answer_without_model must accept \(text, params\)"):
        _check_tool(Wrong(None))
    _check_tool(_Early(None))  # the right one passes


# ---- 2. --examples similar: one example per label per round, the nearest round last ---------------------
def test_similar_examples_are_laid_out_in_rounds_of_one_per_label() -> None:
    """Before: sorted by similarity alone, the neutral facts (no word shared with a film review) came first
    and two film reviews last, right before the input: SmolLM2 gave neutral 2 % on neutral rows."""
    from assistant.tools.prompts import DemonstrationPool

    pool = DemonstrationPool(
        [
            {"input": "A moving film with a superb cast.", "output": "positive"},
            {"input": "The film was dull and far too long.", "output": "negative"},
            {"input": "The shop is on the corner.", "output": "neutral"},
            {"input": "Great film, great ending.", "output": "positive"},
            {"input": "The kettle holds two litres.", "output": "neutral"},
            {"input": "A tedious film.", "output": "negative"},
        ]
    )
    chosen = pool.nearest("The film is about two hours long.", 2, ["positive", "negative", "neutral"])
    assert [e["output"] for e in chosen] == ["positive", "negative", "neutral"] * 2
    assert chosen[-2]["input"] == "The film was dull and far too long."  # each label's nearest in the last round
    assert chosen[-1]["input"] == "The shop is on the corner."  # no word shared: the tie keeps pool order


def test_with_no_word_shared_the_last_example_is_not_always_the_pools_first() -> None:
    from assistant.tools.prompts import DemonstrationPool

    rows = [{"input": f"{label} example {n}", "output": label} for n in range(3) for label in ("positive", "neutral")]
    chosen = DemonstrationPool(rows).nearest("zebra", 2, ["positive", "neutral"])
    assert [e["output"] for e in chosen] == ["positive", "neutral", "positive", "neutral"]
    assert chosen[-1] == {"input": "neutral example 0", "output": "neutral"}


def test_sentiment_shows_the_rounds_in_the_order_of_the_labels_asked() -> None:
    tool = get_tool("sentiment").tool
    chosen = tool._demonstrations("The museum is closed on Mondays.", ["neutral", "negative", "positive"], "similar")
    assert [e["output"] for e in chosen] == ["neutral", "negative", "positive"] * 2


# ---- 3. a plugin file that is a loop of symbolic links says so ----------------------------------------------
def test_a_plugin_symlink_loop_is_not_called_a_missing_file(assistant_home: Path) -> None:
    """Before: "loop.py is a symbolic link to loop.py, which does not exist", with loop.py right there."""
    from assistant.plugins import plugin_failures

    directory = assistant_home / "config" / "plugins"
    directory.mkdir(parents=True)
    (directory / "loop.py").symlink_to("loop.py")
    [error] = [f.error for f in plugin_failures() if f.name == "loop"]
    assert error == f"{directory / 'loop.py'} is a symbolic link to loop.py, a loop of symbolic links that never reaches a file"


def test_a_long_input_is_not_word_counted_to_decide_it_is_not_short(monkeypatch: pytest.MonkeyPatch) -> None:
    """Asked before the model loads and again as the tool runs: counting a 30 MB document's words took seconds."""
    import sys

    module = sys.modules[type(get_tool("summarize").tool).__module__]

    def refuse(text: str) -> int:
        raise AssertionError("word_count was called")

    monkeypatch.setattr(module, "word_count", refuse)
    assert get_tool("summarize").answer_without_model("word " * 100, {"length": "short", "chunk_tokens": 0}) is None

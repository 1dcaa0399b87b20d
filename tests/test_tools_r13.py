"""Round 13: the tools as a demanding user meets them. Each test failed before its fix."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from assistant.backends.fake import FakeBackend
from assistant.cli import main
from assistant.errors import ConfigError, ToolError
from assistant.tools import BaseTool, Parameter, TextResult, get_tool
from assistant.tools.registry import RegisteredTool
from assistant.tools.spans import candidate_spans


def summarize_module() -> Any:
    return sys.modules[type(get_tool("summarize").tool).__module__]


def fake(reply: str) -> FakeBackend:
    backend = FakeBackend(reply=reply, context_length=2048)
    backend.load("fake-model")
    return backend


# ---- 1. an office's words after its title are no part of the name ---------------------------------------------
@pytest.mark.parametrize(
    ("text", "names"),
    [
        # Before: "Executive Tim Cook", "Justice John Roberts", and "Financial" as a name of its own.
        ("Chief Executive Tim Cook said the company would grow.", ["Tim Cook"]),
        ("Chief Executive Officer Tim Cook said so.", ["Tim Cook"]),
        ("Chief Justice John Roberts ruled on Monday.", ["John Roberts"]),
        ("Chief Financial Officer Amy Hood left Microsoft.", ["Amy Hood", "Microsoft"]),
        ("Apple Chief Executive Tim Cook spoke.", ["Apple", "Tim Cook"]),
        ("They met the Chief Executive.", []),  # the office alone names no one
    ],
)
def test_an_office_after_its_title_is_the_titles_not_the_names(text: str, names: list[str]) -> None:
    assert [span.text for span in candidate_spans(text, dates=False)] == names


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("The Executive Office of the President issued a statement.", ["Executive Office"]),
        ("The Justice Department said so.", ["Justice Department"]),
        ("Chief Seattle spoke.", ["Seattle"]),
    ],
)
def test_office_words_not_after_a_title_stay_in_the_name(text: str, names: list[str]) -> None:
    assert [span.text for span in candidate_spans(text, dates=False)] == names


# ---- 2. a summary sentence that states a number its input never gave is dropped -------------------------------
NEWS = (
    "Microsoft announced a partnership with OpenAI to build new data centers in Wisconsin. Satya Nadella "
    "told reporters in Redmond that the investment would create 2,000 jobs by 2026."
)
INVENTED = (
    "Microsoft and OpenAI will build data centers in Wisconsin, creating 2000 jobs by 2026. "
    "A move that could see up to 1,500 jobs created within 5 years."
)


def test_a_summary_sentence_with_an_invented_number_is_dropped() -> None:
    """Before: SmolLM2's "up to 1,500 jobs … within the next five years" (the story said 2,000) was kept."""
    result = get_tool("summarize").run(NEWS, fake(INVENTED), length="short")
    assert result.summary == "Microsoft and OpenAI will build data centers in Wisconsin, creating 2000 jobs by 2026."


def test_a_sentence_summary_is_the_first_faithful_sentence() -> None:
    reply = "Microsoft will hire 900 people. Microsoft will build data centers in Wisconsin."
    result = get_tool("summarize").run(NEWS, fake(reply), length="sentence")
    assert result.summary == "Microsoft will build data centers in Wisconsin."


def test_an_invented_bullet_is_dropped_and_list_numbers_are_no_figures() -> None:
    reply = "1. Microsoft partners with OpenAI.\n2. It will spend $3 billion.\n3. It creates 2,000 jobs."
    result = get_tool("summarize").run(NEWS, fake(reply), length="bullets")
    assert result.summary == "- Microsoft partners with OpenAI.\n- It creates 2,000 jobs."


@pytest.mark.parametrize(
    ("reply", "source", "kept"),
    [
        ("There were 2 reasons.", "There were two reasons, and both were good.", "There were 2 reasons."),
        ("It rose 3.5% in 2024.", "Prices rose 3.5 per cent in 2024.", "It rose 3.5% in 2024."),
        # every sentence invented: nothing of it is sure, and it is kept rather than emptied
        ("It cost 99 dollars.", "No figures here at all.", "It cost 99 dollars."),
    ],
)
def test_numbers_the_source_gives_are_kept(reply: str, source: str, kept: str) -> None:
    assert summarize_module().grounded(reply, source) == kept


# ---- 3. the Python API: a model's name where a backend belongs, a fractional whole number ---------------------
@pytest.mark.parametrize("backend", ["smollm2", 5, {"n_ctx": 2048}])
def test_a_model_name_for_a_backend_is_refused_in_one_line_not_blamed_on_the_plugin(backend: Any) -> None:
    """Before: "tool 'ner' (plugin 'ner') failed: AttributeError: 'str' object has no attribute 'count_tokens'"."""
    with pytest.raises(ConfigError, match=r"^tool 'ner' needs a loaded backend \(load_backend\(NAME, MODEL\)\)"):
        get_tool("ner").run("John Smith went to Paris.", backend)


def test_a_fractional_whole_number_parameter_is_refused_not_truncated() -> None:
    """Before: chunk_tokens=100.5 ran as 100 (and 1.5 was refused as "not 1", a value never given)."""
    with pytest.raises(ConfigError, match=r"parameter 'chunk_tokens' needs a whole number, got 100\.5"):
        get_tool("summarize").run(NEWS, fake("Microsoft builds data centers."), chunk_tokens=100.5)
    result = get_tool("summarize").run(NEWS, fake("Microsoft builds data centers."), chunk_tokens=128.0)
    assert result.summary == "Microsoft builds data centers."


# ---- 4. a plugin result whose to_dict() is no JSON object is the plugin's error, named ------------------------
class _Data(TextResult):
    """A result whose ``to_dict()`` gives what the test says (or raises it)."""

    def __init__(self, data: Any) -> None:
        super().__init__("shown")
        self.data = data

    def to_dict(self) -> Any:
        if isinstance(self.data, Exception):
            raise self.data
        return self.data


class _Returns(BaseTool):
    name = "returns"
    description = "Returns a result whose to_dict() is given."
    needs_model = False

    def __init__(self, data: Any) -> None:
        self.data = data

    def run(self, text: str, params: Any, backend: Any) -> Any:
        return _Data(self.data)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (KeyError("boom"), "failed: KeyError: 'boom'"),  # before: a traceback from the CLI and from a batch
        ({"v": float("nan")}, "is not JSON: Out of range float"),  # before: printed {"v": NaN}, no JSON
        ([1, 2], "gave list, not a dict"),  # before: accepted, a result line of a batch that was a list
        ({"b": b"x"}, "is not JSON: Object of type bytes"),  # before: a history error naming no plugin
    ],
)
def test_a_result_whose_to_dict_is_no_json_object_names_the_plugin(data: Any, why: str) -> None:
    with pytest.raises(ToolError, match=rf"^tool 'returns' \(plugin 'mine'\): its result's to_dict\(\) {re.escape(why)}"):
        RegisteredTool(_Returns(data), "mine").run("text")


BROKEN_RESULT_PLUGIN = """
from assistant import hookimpl
from assistant.tools import BaseTool, TextResult


class Broken(TextResult):
    def to_dict(self):
        raise KeyError("boom")


class Returns(BaseTool):
    name = "returns"
    description = "Returns a result whose to_dict() raises."
    needs_model = False

    def run(self, text, params, backend):
        return Broken("shown")


@hookimpl
def register_tools(register):
    register(Returns())
"""


def test_a_result_whose_to_dict_raises_is_a_one_line_error_and_a_batchs_error_line(
    assistant_home: Path, tmp_path: Path
) -> None:
    """Before: `assistant tool returns TEXT` and the whole batch ended in a KeyError traceback."""
    from assistant.plugins import reset_plugins

    directory = assistant_home / "config" / "plugins"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "broken_result.py").write_text(BROKEN_RESULT_PLUGIN, encoding="utf-8")
    reset_plugins()
    error = "tool 'returns' (plugin 'broken_result'): its result's to_dict() failed: KeyError: 'boom'"
    single = CliRunner().invoke(main, ["tool", "returns", "--no-log", "text"])
    assert (single.exit_code, single.output) == (1, f"error: {error}\n")
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"text": "a"}\n{"text": "b"}\n', encoding="utf-8")
    batch = CliRunner().invoke(main, ["tool", "returns", "--no-log", "--batch", str(rows)])
    assert [json.loads(line)["error"] for line in batch.stdout.splitlines()] == [error, error]


# ---- 5. a reply that repeats the prompt (a base model continuing it) is refused, not passed off -----------------
ECHO = (
    "You are a helpful assistant.\n\nSummarize the following text in a short paragraph of two to four sentences.\n\n"
    + NEWS
)


def test_a_summary_that_repeats_its_prompt_is_refused_in_one_line() -> None:
    """Before: gemma3-270m's "summary" was the system prompt, the instruction and the input, passed off as one."""
    backend = fake(ECHO)
    with pytest.raises(ToolError, match=r"^the model repeated its prompt instead of writing a summary, as a base model"):
        get_tool("summarize").run(NEWS, backend, length="short")


def test_a_translation_that_repeats_its_prompt_is_refused() -> None:
    reply = "Translate the following text to French. Reply with the translation only.\n\nGood morning."
    with pytest.raises(ToolError, match=r"repeated its prompt instead of writing a translation"):
        get_tool("translate").run("Good morning.", fake(reply), to="fr")


def test_an_instruction_the_input_itself_holds_is_no_echo() -> None:
    """A text about the prompt (here, one that quotes its instruction) may be summarised with that line."""
    line = "Summarize the following text in a short paragraph of two to four sentences."
    text = f"The tool sends this line to the model.\n\n{line}\n\nThen it sends the text, and reads the reply."
    result = get_tool("summarize").run(text, fake(f"The tool sends a line.\n{line}"), length="short")
    assert result.summary == f"The tool sends a line.\n{line}"


# ---- 6. a required parameter given empty is refused like a missing one ----------------------------------------
class _Needs(BaseTool):
    name = "needs"
    description = "Needs a value."
    needs_model = False
    parameters = (Parameter("need", "str", required=True),)

    def run(self, text: str, params: Any, backend: Any) -> Any:
        return TextResult(params["need"])


@pytest.mark.parametrize("value", ["", "   "])
def test_a_required_text_parameter_given_empty_is_refused(value: str) -> None:
    """Before: `-p need=` satisfied the requirement, and the tool ran with ""."""
    with pytest.raises(ConfigError, match=r"^parameter 'need' is required and cannot be empty$"):
        RegisteredTool(_Needs(), "mine").run("text", need=value)
    assert RegisteredTool(_Needs(), "mine").run("text", need="x").to_text() == "x"

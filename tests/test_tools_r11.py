"""Round 11: summarize, translate and sentiment as a demanding user meets them. Each test failed before its fix."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from assistant.errors import ToolError
from assistant.tools import get_tool
from assistant.tools.languages import language_name
from assistant.tools.results import LabelResult, SummaryResult
from assistant.tools.text import word_count
from assistant.types import Message

from .test_tools_fake import RecordingFake

PROMPTS = Path(__file__).resolve().parents[1] / "prompts"


class PromptFake(RecordingFake):
    """Records the messages of every generation."""

    def __init__(self, reply: Any = None) -> None:
        super().__init__(reply=reply)
        self.prompts: list[list[Message]] = []

    def stream(self, messages: Any, params: Any) -> Any:
        self.prompts.append(list(messages))
        return super().stream(messages, params)


def module_of(name: str) -> Any:
    return sys.modules[type(get_tool(name).tool).__module__]


# ---- 1. an input too short to summarize is its own summary -------------------------------------------------
@pytest.mark.parametrize("text", ["x y z", "我喜欢猫", "The cat sat on the mat.", "  2024\n"])
@pytest.mark.parametrize("length", ["sentence", "short", "bullets"])
def test_an_input_too_short_to_summarize_comes_back_as_it_is_without_a_model_call(text: str, length: str) -> None:
    """Before: SmolLM2 turned "x y z" into "a new employee wellness program that focuses on mental health"."""
    backend = RecordingFake(reply="An invented summary about carbon emissions.")
    result = get_tool("summarize").run(text, backend, length=length)
    assert backend.generations == 0
    assert (result.summary, result.chunks, result.rounds, result.finish_reason) == (text.strip(), 0, 0, "stop")
    assert result.to_dict()["note"] == "the input is too short to summarize (under 12 words): shown as it is"
    assert result.to_text() == f"{text.strip()}\n[the input is too short to summarize (under 12 words): shown as it is]"


def test_twelve_words_are_summarised_and_a_summary_has_no_note() -> None:
    backend = RecordingFake(reply="A council will build a library.")
    text = "The council voted on Tuesday to build a new public library near the station."
    assert word_count(text) >= 12
    result = get_tool("summarize").run(text, backend, length="short")
    assert backend.generations == 1 and result.note is None and "note" not in result.to_dict()
    assert result.to_text() == "A council will build a library."


def test_a_few_enormous_words_are_no_short_input() -> None:
    """A base64 blob is one "word" of thousands of characters: it still goes through the chunking."""
    backend = RecordingFake(context_length=512)
    result = get_tool("summarize").run("x" * 6000, backend, length="sentence")
    assert result.note is None and backend.generations > 1


def test_input_without_words_is_still_an_error_not_returned() -> None:
    with pytest.raises(ToolError, match="no words, only symbols"):
        get_tool("summarize").run("😀 !!!", RecordingFake())


@pytest.mark.parametrize(
    ("text", "count"),
    [("x y z", 3), ("我喜欢猫", 4), ("!!! ok", 1), ("猫 cat, dog", 3), ("हिन्दी भाषा", 2), ("", 0), ("¡Hola, señor!", 2)],
)
def test_words_are_counted_in_any_script(text: str, count: int) -> None:
    assert word_count(text) == count


def test_the_summarize_help_says_what_short_input_gets() -> None:
    assert "under 12 words" in get_tool("summarize").description


def test_the_chat_app_runs_the_same_tool_and_gets_the_same_short_input_result() -> None:
    from assistant.tui.tool_calls import prepare_tool_call

    call = prepare_tool_call("/summarize length=bullets x y z", [Message("user", "/summarize x y z")])
    backend = RecordingFake(reply="An invented summary.")
    result = call.tool.run(call.text, backend, params=call.params)  # as the chat app's controller runs it
    assert backend.generations == 0
    assert result.to_text() == "x y z\n[the input is too short to summarize (under 12 words): shown as it is]"


def test_a_stored_short_summary_round_trips_its_note() -> None:
    result = SummaryResult(summary="x", length="short", chunks=0, rounds=0, note="n")
    assert json.loads(result.to_json())["note"] == "n"
    assert "note" not in SummaryResult(summary="x", length="short").to_dict()


# ---- 2. a script or region subtag reaches the prompt -------------------------------------------------------
@pytest.mark.parametrize(
    ("tag", "name"),
    [
        ("zh-Hant", "Chinese (Traditional)"), ("zh_Hans", "Chinese (Simplified)"),
        ("zh-TW", "Chinese (Traditional, Taiwan)"), ("zh-Hant-HK", "Chinese (Traditional, Hong Kong)"),
        ("zh-CN", "Chinese (Simplified, China)"), ("sr-Latn", "Serbian (Latin)"), ("sr-Cyrl-RS", "Serbian (Cyrillic)"),
        ("pt-BR", "Portuguese (Brazil)"), ("pt-PT", "Portuguese (Portugal)"), ("es-419", "Spanish (Latin America)"),
        ("en-GB-oxendict", "English (United Kingdom)"), ("ja-Jpan", "Japanese"), ("zh", "Chinese"), ("fr-SN", "French"),
    ],
)
def test_a_tag_names_the_written_form_it_asks_for(tag: str, name: str) -> None:
    assert language_name(tag) == name
    assert language_name(name) == name  # the name the result shows is accepted back as a target


def test_zh_hant_reaches_the_translate_prompt_as_traditional_chinese() -> None:
    """Before: the model was asked for plain "Chinese" and may answer in Simplified."""
    backend = PromptFake(reply="早安。")
    result = get_tool("translate").run("Good morning.", backend, to="zh-Hant")
    prompt = "\n".join(m.content for m in backend.prompts[0])
    assert "to Chinese (Traditional)." in prompt
    assert (result.target, result.translation) == ("Chinese (Traditional)", "早安。")


@pytest.mark.parametrize("reply", ["Chinese: 早安。", "Chinese (Traditional): 早安。", "Here is the translation: 早安。"])
def test_a_label_naming_the_language_without_its_script_is_still_chatter(reply: str) -> None:
    cleaner = module_of("translate").make_cleaner("Good morning.", ("Chinese (Traditional)", ""))
    assert cleaner(reply) == "早安。"


# ---- 3. sentiment --examples similar shows every label its examples -----------------------------------------
def _prompt_examples(prompt: str) -> list[str]:
    return [line.split(": ", 1)[1] for line in prompt.splitlines() if line.startswith("Sentiment: ")]


def test_the_pool_has_neutral_examples_and_similar_shows_two_per_label() -> None:
    """Before: neutral got no example while positive and negative got two each."""
    tool = module_of("sentiment").Sentiment()
    prompt = tool._prompt("The room was fine.", ["positive", "negative", "neutral"], "similar")
    assert sorted(_prompt_examples(prompt)) == ["negative"] * 2 + ["neutral"] * 2 + ["positive"] * 2
    assert tool._note(["positive", "negative", "neutral"], "similar") is None


def test_neutral_examples_change_nothing_for_positive_and_negative() -> None:
    """The pool's IDF is measured over the rows of the labels asked for, so the measured pos/neg choice stands."""
    from assistant.tools.prompts import DemonstrationPool

    rows = [json.loads(line) for line in (PROMPTS / "sentiment.pool.jsonl").read_text().splitlines() if line.strip()]
    before = DemonstrationPool([row for row in rows if row["output"] != "neutral"])
    tool = module_of("sentiment").Sentiment()
    for text in ["The soup was cold.", "a moving film about a family", "The update made it faster.", "zzz"]:
        assert tool._demonstrations(text, ["positive", "negative"], "similar") == before.nearest(
            text, 2, ["positive", "negative"]
        )


def test_a_label_the_pool_lacks_gets_the_fixed_examples_and_a_note() -> None:
    tool = module_of("sentiment").Sentiment()
    rows = [json.loads(line) for line in (PROMPTS / "sentiment.pool.jsonl").read_text().splitlines() if line.strip()]
    tool._pool_rows = [row for row in rows if row["output"] != "neutral"]  # a pool without neutral rows
    prompt = tool._prompt("The room was fine.", ["positive", "negative", "Neutral"], "similar")
    assert _prompt_examples(prompt).count("Neutral") == 2  # the template's two fixed neutral examples
    assert "Review: The box is twenty centimetres wide.\nSentiment: Neutral" in prompt
    assert _prompt_examples(prompt).count("positive") == 2 and _prompt_examples(prompt).count("negative") == 2
    assert tool._note(["positive", "negative", "Neutral"], "similar") == (
        "examples=similar: the fixed examples shown for 'Neutral', which the pool has none of"
    )


def test_a_label_nobody_has_examples_of_is_named_and_the_result_says_so() -> None:
    tool = module_of("sentiment").Sentiment()
    labels = ["positive", "negative", "mixed"]
    assert tool._note(labels, "similar") == (
        "examples=similar: no examples at all for 'mixed' (neither the pool nor the fixed ones have any)"
    )
    assert tool._note(labels, "fixed") is None
    result = get_tool("sentiment").run("It was fine, I guess.", RecordingFake(), labels=labels, examples="similar")
    assert result.to_dict()["note"].startswith("examples=similar: no examples at all for 'mixed'")
    assert result.to_text().splitlines()[-1].startswith("note: examples=similar")
    plain = get_tool("sentiment").run("It was fine.", RecordingFake(), labels=labels)
    assert "note" not in plain.to_dict() and "note" not in plain.to_text()


def test_the_sentiment_help_says_what_a_label_the_pool_lacks_gets() -> None:
    (examples,) = [p for p in get_tool("sentiment").parameters if p.name == "examples"]
    assert "a label the pool lacks gets the fixed examples" in examples.help


def test_a_label_result_note_is_only_in_the_json_when_there_is_one() -> None:
    assert "note" not in LabelResult("a", {"a": 0.6, "b": 0.4}).to_dict()
    noted = LabelResult("a", {"a": 0.6, "b": 0.4}, note="n")
    assert noted.to_dict()["note"] == "n" and noted.to_text() == "a  (a 0.60, b 0.40)\nnote: n"


# ---- 4. a user's own sentiment template without a pool ------------------------------------------------------
def _own_template(home: Path) -> Path:
    templates = home / "config" / "templates"
    templates.mkdir(parents=True)
    body = (PROMPTS / "sentiment.jinja").read_text(encoding="utf-8").replace("Classify the sentiment", "Judge the mood")
    (templates / "sentiment.jinja").write_text(body, encoding="utf-8")
    (templates / "sentiment.examples.jsonl").write_text(
        (PROMPTS / "sentiment.examples.jsonl").read_text(encoding="utf-8"), encoding="utf-8"
    )
    return templates


def test_a_users_sentiment_template_without_a_pool_uses_the_assistants_pool(assistant_home: Path) -> None:
    """Before: `--examples similar` failed as a bug in the plugin (FileNotFoundError: .../sentiment.pool.jsonl)."""
    _own_template(assistant_home)
    tool = module_of("sentiment").Sentiment()
    prompt = tool._prompt("The soup was cold.", ["positive", "negative", "neutral"], "similar")
    assert prompt.startswith("Judge the mood")
    assert sorted(_prompt_examples(prompt)) == ["negative"] * 2 + ["neutral"] * 2 + ["positive"] * 2


@pytest.mark.parametrize(
    ("content", "wanted"),
    [(b'{"input": \n', "cannot be read"), (b"\xff\xfe", "cannot be read"), (b'{"input": 1}\n', "must hold one")],
)
def test_an_unreadable_pool_is_a_one_line_config_error(assistant_home: Path, content: bytes, wanted: str) -> None:
    from assistant.errors import ConfigError

    (_own_template(assistant_home) / "sentiment.pool.jsonl").write_bytes(content)
    with pytest.raises(ConfigError, match=f"the examples=similar pool .*sentiment.pool.jsonl {wanted}") as caught:
        get_tool("sentiment").run("The soup was cold.", RecordingFake(), examples="similar")
    assert "\n" not in str(caught.value)

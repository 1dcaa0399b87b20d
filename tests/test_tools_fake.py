"""Structural guarantees of the four tools, on the fast fake backend.

The fake backend's replies are scripted here, so these tests check what the
tools promise whatever the model says: labels from the set, probabilities
summing to 1, entity offsets that slice the input, paragraph breaks kept,
long input never overflowing the context, and unusable output retried once
and then a clear ToolError.
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.backends.fake import FakeBackend
from assistant.errors import ConfigError, NotSupportedError, ToolError
from assistant.tools import get_tool
from assistant.types import GenerationParams


class RecordingFake(FakeBackend):
    """A fake backend that records the size of every prompt it is given (to prove nothing overflows)."""

    def __init__(self, reply: Any = None, context_length: int = 2048) -> None:
        super().__init__(reply=reply, context_length=context_length)
        self.load("fake-model")
        self.prompt_sizes: list[int] = []
        self.score_calls: list[tuple[str, list[str]]] = []
        self.generations = 0
        self.max_tokens: list[int] = []

    def sample_tokens(self, prompt_ids: list[int], params: GenerationParams) -> Any:
        self.prompt_sizes.append(len(prompt_ids))
        self.generations += 1
        self.max_tokens.append(params.max_tokens)
        return super().sample_tokens(prompt_ids, params)

    def score(self, prompt: str, candidates: Sequence[str]) -> list[float]:
        self.prompt_sizes.append(self.count_tokens(prompt) + max(self.count_tokens(c) for c in candidates))
        self.score_calls.append((prompt, list(candidates)))
        return super().score(prompt, candidates)


class ScorelessFake(RecordingFake):
    """Like a remote server without logprobs: ``score`` is not supported."""

    def score(self, prompt: str, candidates: Sequence[str]) -> list[float]:
        raise NotSupportedError("this backend cannot score")


class FixedScores(RecordingFake):
    """Scores chosen by a function of the candidate, to check how scores become a label."""

    def __init__(self, table: Callable[[str, str], float]) -> None:
        super().__init__()
        self.table = table

    def score(self, prompt: str, candidates: Sequence[str]) -> list[float]:
        super().score(prompt, candidates)
        return [self.table(prompt, c) for c in candidates]


def last_user_text(prompt: str) -> str:
    """The input text inside a tool's chat prompt (after the instruction's blank line)."""
    turn = prompt.rsplit("<|im_start|>user\n", 1)[-1].split("<|im_end|>", 1)[0]
    return turn.split("\n\n", 1)[-1]


LONG_TEXT = "\n\n".join(
    " ".join(f"Sentence {p}.{s} talks about topic {p * s} at some length." for s in range(12)) for p in range(15)
)


# ---- sentiment -----------------------------------------------------------------------------------
LABEL_SETS = st.lists(st.sampled_from(["positive", "negative", "neutral", "mixed", "angry", "Happy"]), min_size=2,
                      max_size=4, unique_by=str.lower)


def _shows_text(text: str) -> bool:
    """The sentiment plugin's own test of input that shows something (other input is refused as empty)."""
    return __import__(type(get_tool("sentiment").tool).__module__).shows_text(text)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(min_size=1, max_size=80).filter(_shows_text), labels=LABEL_SETS)
def test_sentiment_label_is_in_the_set_and_probabilities_sum_to_one(text: str, labels: list[str]) -> None:
    backend = RecordingFake()
    result = get_tool("sentiment").run(text, backend, labels=labels)
    assert result.label in labels
    assert list(result.probabilities) == labels
    assert math.isclose(sum(result.probabilities.values()), 1.0, rel_tol=1e-9)
    assert result.probabilities[result.label] == max(result.probabilities.values())
    assert result.method == "likelihood"
    assert len(backend.score_calls) == 1, "one prompt evaluation per input"


def test_sentiment_picks_the_most_likely_label_and_softmaxes_the_scores() -> None:
    backend = FixedScores(lambda prompt, c: {" positive": -3.0, " negative": -1.0}[c])
    result = get_tool("sentiment").run("whatever", backend)
    assert result.label == "negative"
    assert result.probabilities["negative"] == pytest.approx(1 / (1 + math.exp(-2)))
    prompt, candidates = backend.score_calls[0]
    assert candidates == [" positive", " negative"]
    assert prompt.endswith("Review: whatever\nSentiment:")


def test_sentiment_calibration_subtracts_the_content_free_scores_once_per_label_set() -> None:
    def table(prompt: str, candidate: str) -> float:
        content_free = prompt.endswith(("Review: N/A\nSentiment:", "Review: \nSentiment:", "Review: [MASK]\nSentiment:"))
        if candidate == " positive":
            return -1.0 if content_free else -1.5  # the model always leans positive...
        return -4.0 if content_free else -2.0  # ...but this text raised "negative" far more

    backend = FixedScores(table)
    tool = get_tool("sentiment")
    assert tool.run("text", backend).label == "positive"
    result = tool.run("text", backend, calibrate=True)
    assert result.label == "negative"
    calls = len(backend.score_calls)
    tool.run("another", backend, calibrate=True)
    assert len(backend.score_calls) == calls + 1, "the baseline is computed once"


def test_sentiment_of_a_long_text_is_averaged_over_pieces_that_fit() -> None:
    backend = RecordingFake(context_length=512)
    result = get_tool("sentiment").run(LONG_TEXT, backend)
    assert len(backend.score_calls) > 1
    assert max(backend.prompt_sizes) < 512
    assert math.isclose(sum(result.probabilities.values()), 1.0)


def test_sentiment_falls_back_to_a_checked_generated_label_when_scoring_is_unsupported() -> None:
    backend = ScorelessFake(reply="Negative.")
    result = get_tool("sentiment").run("meh", backend)
    assert result.label == "negative" and result.method == "generation"
    assert result.probabilities == {"positive": 0.0, "negative": 1.0}

    chatty = ScorelessFake(reply="I cannot say.")
    with pytest.raises(ToolError, match="did not answer with one of positive, negative"):
        get_tool("sentiment").run("meh", chatty)
    assert chatty.generations == 2, "retried once"


@pytest.mark.parametrize("labels", [["positive"], ["a", "A"], ["good", ""], ["x:y", "z"]])
def test_bad_sentiment_labels_are_config_errors(labels: list[str]) -> None:
    with pytest.raises(ConfigError):
        get_tool("sentiment").run("text", RecordingFake(), labels=labels)


def test_empty_input_is_a_tool_error() -> None:
    for name, params in [("sentiment", {}), ("summarize", {}), ("translate", {"to": "fr"})]:
        with pytest.raises(ToolError, match="empty"):
            get_tool(name).run("  \n ", RecordingFake(), **params)


# ---- NER --------------------------------------------------------------------------------------------
NER_TEXT = st.lists(
    st.sampled_from(["Ana", "Lopez", "met", "the", "Bank", "of", "England", "in", "Paris", ".", ",", "on",
                     "Tuesday", "1999", "Médecins", "Sans", "Frontières", "\n", "She", "said", "NASA", "'s", "é"]),
    max_size=40,
).map(" ".join)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=NER_TEXT, types=st.sampled_from([["PERSON", "LOCATION", "ORGANIZATION"], ["PERSON", "DATE"], ["MISC"]]))
def test_entities_are_slices_of_the_input_with_requested_types(text: str, types: list[str]) -> None:
    result = get_tool("ner").run(text, RecordingFake(), types=types)
    assert result.types == types
    previous_end = 0
    for entity in result.entities:
        assert text[entity.start : entity.end] == entity.text
        assert entity.type in types
        assert entity.start >= previous_end, "in order, not overlapping"
        assert 0.0 < entity.probability <= 1.0
        previous_end = entity.end


def test_ner_types_each_candidate_by_likelihood() -> None:
    choice = {"Ana Lopez": " person", "Paris": " place", "Yesterday": " none"}

    def table(prompt: str, candidate: str) -> float:
        # About 0.65 for the chosen type: unsure enough that each name is also asked what it is.
        span = prompt.rsplit("\n", 1)[-1].rstrip(":")
        return 0.0 if choice.get(span) == candidate else -2.0

    backend = FixedScores(table)
    text = "Yesterday Ana Lopez flew to Paris."
    result = get_tool("ner").run(text, backend)
    assert [(e.text, e.type, e.start, e.end) for e in result.entities] == [
        ("Ana Lopez", "PERSON", 10, 19),
        ("Paris", "LOCATION", 28, 33),
    ]
    in_sentence = {tuple(c) for p, c in backend.score_calls if p.endswith(":")}
    assert in_sentence == {(" person", " place", " organization", " other", " none")}
    by_itself = [(p.rsplit("\n", 1)[-1], c) for p, c in backend.score_calls if not p.endswith(":")]
    spans = sorted(p.rsplit("\n", 1)[-1][:-1] for p, _ in backend.score_calls if p.endswith(":"))
    assert sorted(p for p, _ in by_itself) == [f"{span} is a" for span in spans], "each name once more, by itself"
    assert {"Ana Lopez", "Paris"} <= set(spans)
    assert all(" country" in c and " company" in c and " person" in c for _, c in by_itself)


def test_ner_offers_the_core_types_even_when_fewer_are_asked_for_and_dates_only_date() -> None:
    choice = {"Ana": " person", "Paris": " place", "Tuesday": " date"}

    def table(prompt: str, candidate: str) -> float:
        span = prompt.rsplit("\n", 1)[-1].rstrip(":")
        return 0.0 if choice.get(span) == candidate else -5.0

    backend = FixedScores(table)
    result = get_tool("ner").run("Ana flew to Paris on Tuesday.", backend, types=["PERSON", "DATE"])
    assert [(e.text, e.type) for e in result.entities] == [("Ana", "PERSON"), ("Tuesday", "DATE")]
    offered = {c[0]: c[1] for c in ((p.rsplit("\n", 1)[-1], tuple(c)) for p, c in backend.score_calls)}
    assert offered["Paris:"] == (" person", " place", " organization", " other", " none")
    assert offered["Tuesday:"] == (" date", " none")


def test_ner_falls_back_to_checked_generation_without_scoring() -> None:
    result = get_tool("ner").run("Ana met Bob.", ScorelessFake(reply="person"))
    assert [(e.text, e.type) for e in result.entities] == [("Ana", "PERSON"), ("Bob", "PERSON")]
    with pytest.raises(ToolError):
        get_tool("ner").run("Ana met Bob.", ScorelessFake(reply="no idea"))


@pytest.mark.parametrize("types", [["PER SON!"], ["LOC", "LOCATION"], ["NONE"], []])
def test_bad_entity_types_are_config_errors(types: list[str]) -> None:
    with pytest.raises(ConfigError):
        get_tool("ner").run("Ana met Bob.", RecordingFake(), types=types)


def test_ner_on_a_huge_sentence_stays_inside_the_context() -> None:
    backend = RecordingFake(context_length=2048)  # the fake counts bytes: the prompt alone is ~1000
    text = " ".join(["word"] * 400 + ["Paris"] + ["word"] * 400) + "."
    result = get_tool("ner").run(text, backend)
    # The span in a window of its sentence, and the name by itself (plugins/ner.py, mix_views).
    assert len(backend.score_calls) == 2 and all("Paris" in prompt for prompt, _ in backend.score_calls)
    assert max(backend.prompt_sizes) < 2048
    for entity in result.entities:
        assert text[entity.start : entity.end] == entity.text


# ---- summarize -----------------------------------------------------------------------------------
def test_long_input_is_summarised_in_parts_without_overflow() -> None:
    backend = RecordingFake(context_length=512)
    seen: list[tuple[int, int, str]] = []
    result = get_tool("summarize").run(LONG_TEXT, backend, progress=lambda *a: seen.append(a))
    assert len(LONG_TEXT) > 10 * 512
    assert result.chunks > 1 and result.rounds >= 2
    assert max(backend.prompt_sizes) < 512
    assert result.summary
    assert seen[0][:2] == (0, result.chunks) and seen[-1][0] == seen[-1][1] == result.chunks


def test_a_single_enormous_word_is_summarised_without_overflow() -> None:
    backend = RecordingFake(context_length=512)
    result = get_tool("summarize").run("x" * 6000, backend, length="sentence")
    assert max(backend.prompt_sizes) < 512 and result.chunks > 1


def test_short_input_is_one_call_with_the_requested_length() -> None:
    backend = RecordingFake(reply="Here is a summary: It is short. It has a second sentence.")
    result = get_tool("summarize").run("Some text to summarise, long enough to need a summary: a dozen words or more.", backend, length="sentence")
    assert result.to_dict() == {
        "summary": "It is short.", "length": "sentence", "chunks": 1, "rounds": 1, "finish_reason": "stop"
    }
    assert backend.generations == 1


def test_a_summary_cut_at_its_budget_says_so_and_drops_the_unfinished_sentence() -> None:
    rambling = "The story begins in a village. " * 30 + "Then Thomas Reed married Eleanor and"
    backend = RecordingFake(reply=rambling, context_length=1024)  # "short": at most 1024 // 8 = 128 tokens
    result = get_tool("summarize").run("Some text to summarise, long enough to need a summary: a dozen words or more.", backend)
    assert result.finish_reason == "length" and result.to_dict()["finish_reason"] == "length"
    assert result.summary.endswith("village.") and "Eleanor" not in result.summary
    assert "cut at its token budget" in result.to_text()


def test_the_combine_step_budget_comes_from_the_parts_and_parts_report_tokens(monkeypatch: Any) -> None:
    summarize = get_tool("summarize")
    monkeypatch.setattr(summarize.tool, "tick_seconds", 0.0)
    backend = RecordingFake(reply="A part happens here. " * 5, context_length=1024)
    seen: list[str] = []
    result = summarize.run(LONG_TEXT, backend, progress=lambda d, t, m: seen.append(m))
    assert result.chunks > 1 and result.finish_reason == "stop"
    limit = 1024 // 8
    assert backend.max_tokens[-1] > limit  # the final combine may use what the parts hold, not the step limit
    assert any(re.search(r"summarizing part 1 of \d+ \(\d+ tokens\)", message) for message in seen)


def test_bullets_are_normalised_and_a_reply_without_bullets_is_retried_then_an_error() -> None:
    backend = RecordingFake(reply="Summary:\n* first point\n2. second point\n• third")
    result = get_tool("summarize").run("Some text to summarise, long enough to need a summary: a dozen words or more.", backend, length="bullets")
    assert result.summary == "- first point\n- second point\n- third"

    prose = RecordingFake(reply="Just a paragraph, no list at all.")
    with pytest.raises(ToolError, match="usable summary"):
        get_tool("summarize").run("Some text to summarise, long enough to need a summary: a dozen words or more.", prose, length="bullets")
    assert prose.generations == 2


def test_a_context_too_small_for_the_prompt_is_a_clear_error() -> None:
    with pytest.raises(ToolError, match="context window"):
        get_tool("summarize").run("Some text to summarise, long enough to need a summary: a dozen words or more.", RecordingFake(context_length=64))


# ---- translate -----------------------------------------------------------------------------------
def upper_reply(prompt: str) -> str:
    return "Here is the translation: " + last_user_text(prompt).upper()


def test_translation_keeps_paragraph_breaks_exactly() -> None:
    text = "\nFirst paragraph.\n\nSecond one,\nwith a line break.\n\n\n  Third.  \n"
    backend = RecordingFake(reply=upper_reply)
    result = get_tool("translate").run(text, backend, to="de", **{"from": "en"})
    assert result.translation == "\nFIRST PARAGRAPH.\n\nSECOND ONE,\nWITH A LINE BREAK.\n\n\n  THIRD.  \n"
    assert (result.source, result.target, result.paragraphs) == ("English", "German", 3)
    assert backend.generations == 3, "one call per paragraph"
    assert "from English to German" in backend.calls[0]["prompt"]


def test_translation_without_a_source_says_auto() -> None:
    backend = RecordingFake(reply=upper_reply)
    result = get_tool("translate").run("Hola.", backend, to="English")
    assert result.source == "auto" and " from " not in backend.calls[0]["prompt"].split("user\n")[-1].split("\n")[0]


def test_a_long_paragraph_is_translated_in_pieces_that_fit() -> None:
    backend = RecordingFake(reply=upper_reply, context_length=512)
    paragraph = " ".join(f"This is sentence number {i}." for i in range(80))
    result = get_tool("translate").run(paragraph, backend, to="en")
    assert backend.generations > 1 and max(backend.prompt_sizes) < 512
    assert re.sub(r"\s+", " ", result.translation) == paragraph.upper()


def test_translation_that_stays_empty_is_retried_once_then_an_error() -> None:
    backend = RecordingFake(reply="   ")
    with pytest.raises(ToolError, match="usable translation"):
        get_tool("translate").run("Bonjour", backend, to="en")
    assert backend.generations == 2


@pytest.mark.parametrize("to", ["xx", "12", "fr;rm -rf"])
def test_bad_languages_are_config_errors(to: str) -> None:
    with pytest.raises(ConfigError):
        get_tool("translate").run("Hello", RecordingFake(), to=to)

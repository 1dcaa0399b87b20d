"""Round 20: the tools as a demanding user meets them. Each test failed before its fix."""

from __future__ import annotations

import re

from assistant.backends.fake import FakeBackend
from assistant.tools import get_tool


def fake(reply: str, context_length: int = 2048) -> FakeBackend:
    backend = FakeBackend(reply=reply, context_length=context_length)
    backend.load("fake-model")
    return backend


# ---- sentiment: many labels say what they cost ----------------------------------------------------------------------
def test_sentiment_reports_a_short_text_scored_against_many_labels() -> None:
    """Before: ``--labels`` with 1,000 labels scored a four-word text for five minutes on SmolLM2 (each label
    scored in turn) with nothing on stderr; only a long text was reported."""
    said: list[tuple[int, int, str]] = []
    labels = [f"label{i}" for i in range(1000)]
    get_tool("sentiment").run("I loved it.", fake("x", 65536), labels=labels, progress=lambda *a: said.append(a))
    assert len(said) == 1 and said[0][:2] == (0, 1), said
    assert re.fullmatch(r"classifying \d+ tokens against 1,000 labels", said[0][2]), said
    said.clear()
    get_tool("sentiment").run("I loved it.", fake("x"), labels=["good", "bad"], progress=lambda *a: said.append(a))
    assert said == []  # two labels: nothing to wait for


# ---- summarize: a figure the input never gave is named, not passed off -------------------------------------------
PARK = (
    "The city council voted on Tuesday to expand the central park by ten acres, after residents complained about "
    "noise from the nearby highway. The mayor said the money would come from a state grant."
)


def test_summarize_names_a_figure_its_input_never_gave() -> None:
    """Before: SmolLM2's one sentence "a $1.2 million expansion" (the input names no sum) was kept, since
    every sentence of the reply had the figure, and printed as the summary without a word."""
    reply = "The city council approved a $1.2 million expansion of the central park by ten acres."
    result = get_tool("summarize").run(PARK, fake(reply, 65536), length="short")
    assert result.summary == reply
    assert result.to_dict()["note"] == "the summary states figures its input does not give, check them: $1.2 million"
    assert result.to_text().endswith("[the summary states figures its input does not give, check them: $1.2 million]")


def test_summarize_adds_no_note_for_the_inputs_own_figures_or_list_numbers() -> None:
    reply = "1. The council will add ten acres to the central park.\n2. A state grant pays for it."
    result = get_tool("summarize").run(PARK, fake(reply, 65536), length="bullets")
    assert "note" not in result.to_dict() and "check them" not in result.to_text()


def test_a_cut_summary_keeps_its_note() -> None:
    """The notice of a summary cut at its token budget hid the note: both are shown."""
    from assistant.tools.results import SummaryResult

    text = SummaryResult(summary="A park.", length="short", finish_reason="length", note="a note").to_text()
    assert text.splitlines()[0] == "A park." and text.splitlines()[-1] == "[a note]" and len(text.splitlines()) == 3

"""Round 7 of the sentiment work (issue #21): reading what the tool gets wrong.

``benchmarks/tools_eval.py --errors`` lists each misclassified SST-2 phrase
with the tool's label probabilities — what the methods of docs/tools.md were
chosen from. Checked here on the fake backend, with scores set by hand, so
the list is exactly the wrong rows with exactly the tool's probabilities.
"""

from __future__ import annotations

import math

import pytest

from tests.scoring_support import TableBackend
from assistant.tools import get_tool
from benchmarks.tools_eval import mistake_line, sentiment_accuracy


def by_last_review(prompt: str, candidate: str) -> float:
    """0.8 for "positive" when the input mentions "good", else 0.3 (log-probabilities)."""
    review = prompt.rsplit("Review:", 1)[1]
    p_positive = 0.8 if "good" in review else 0.3
    return math.log(p_positive if candidate == " positive" else 1 - p_positive)


ROWS = [
    {"text": "a good film", "label": "positive"},
    {"text": "a dull film", "label": "negative"},
    {"text": "good grief , what a mess", "label": "negative"},
    {"text": "quietly   moving", "label": "positive"},
    {"text": "no opinion here", "label": "neutral"},  # not among the labels: not counted
]


def test_the_mistakes_are_the_wrong_rows_with_the_tools_probabilities() -> None:
    mistakes: list[str] = []
    accuracy, cost = sentiment_accuracy(
        get_tool("sentiment"), TableBackend(by_last_review), ROWS, ["positive", "negative"], mistakes
    )
    assert accuracy == pytest.approx(2 / 4)
    assert cost.evaluations == 1.0
    assert mistakes == [
        "gold negative | positive 0.80 negative 0.20 | good grief , what a mess",
        "gold positive | positive 0.30 negative 0.70 | quietly moving",
    ]


def test_no_list_no_mistakes_recorded_and_the_same_accuracy() -> None:
    tool, backend = get_tool("sentiment"), TableBackend(by_last_review)
    accuracy, _ = sentiment_accuracy(tool, backend, ROWS, ["positive", "negative"])
    assert accuracy == pytest.approx(2 / 4)


def test_tool_parameters_still_reach_the_tool_beside_the_mistakes_list() -> None:
    prompts: list[str] = []

    def record(prompt: str, candidate: str) -> float:
        prompts.append(prompt)
        return -1.0

    backend = TableBackend(record)
    sentiment_accuracy(get_tool("sentiment"), backend, ROWS[:1], ["positive", "negative"], [], calibrate=True)
    assert any(p.endswith("Review: N/A\nSentiment:") for p in prompts), "calibrate=True: a content-free input"


def test_a_mistake_line_shows_control_characters_as_data() -> None:
    line = mistake_line("bad \x1b]0;owned\x07 film", "negative", {"positive": 0.6, "negative": 0.4})
    assert "\x1b" not in line and "\x07" not in line
    assert line.startswith("gold negative | positive 0.60 negative 0.40 | bad ")

"""Round 15, SST-2 levers (benchmarks/sentiment_r15.py): the prompts and the arithmetic the replay rests on.

No model: a replay that reads the rating scale upside down, marginalises with the wrong weights, or
calibrates against the wrong prior would report numbers nobody can trust.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from assistant.errors import ToolError
from assistant.tools import RegisteredTool, get_tool
from benchmarks.sentiment_r14 import fixed_demos
from benchmarks.sentiment_r15 import (
    GRADES,
    REASONS,
    calibrated,
    decisions,
    expected_rating,
    first_line,
    log_odds_of_ratings,
    marginal_log_odds,
    rating_prompt,
    reason_prefix,
)
from tests.scoring_support import TableBackend

DEMOS = [
    {"input": "Lovely.", "output": "positive"},
    {"input": "Awful.", "output": "negative"},
]


def test_rating_prompt_rates_each_example_and_ends_at_the_inputs_rating() -> None:
    prompt = rating_prompt("it 's  fine\nreally", DEMOS, (5, 1), with_label=False)
    assert "Review: Lovely.\nRating: 5\n\nReview: Awful.\nRating: 1\n\n" in prompt
    assert "Sentiment:" not in prompt
    assert prompt.endswith("Review: it's fine really\nRating:")  # the tool's spacing, one line
    labelled = rating_prompt("x", DEMOS, (4, 2), with_label=True)
    assert "Review: Lovely.\nRating: 4\nSentiment: positive\n\n" in labelled
    assert labelled.endswith("Review: x\nRating:")


def test_rating_log_odds_and_expectation_read_the_scale_the_right_way_up() -> None:
    high = [math.log(p) for p in (0.05, 0.05, 0.1, 0.3, 0.5)]
    assert log_odds_of_ratings(high) == pytest.approx(math.log(0.8 / 0.1))
    assert expected_rating(high) == pytest.approx(0.05 + 0.1 + 0.3 + 1.2 + 2.5)
    low = list(reversed(high))
    assert log_odds_of_ratings(low) == pytest.approx(-math.log(0.8 / 0.1))
    assert expected_rating(low) < 3 < expected_rating(high)
    # Scores need not be normalised: the expectation renormalises over the five ratings.
    assert expected_rating([v - 7.0 for v in high]) == pytest.approx(expected_rating(high))


def test_marginal_log_odds_weigh_each_ratings_label_by_that_rating() -> None:
    # All weight on rating 5, whose label log-odds are +2: the marginal is +2.
    certain = [-50.0, -50.0, -50.0, -50.0, 0.0]
    assert marginal_log_odds(certain, [-3.0, -2.0, 0.0, 1.0, 2.0]) == pytest.approx(2.0, abs=1e-6)
    # Half on 1 (P(positive) 0.1), half on 5 (0.9): P(positive) 0.5, log-odds 0.
    split = [math.log(0.5), -50.0, -50.0, -50.0, math.log(0.5)]
    after = [math.log(0.1 / 0.9), 0.0, 0.0, 0.0, math.log(0.9 / 0.1)]
    assert marginal_log_odds(split, after) == pytest.approx(0.0, abs=1e-6)


def test_calibrated_ratings_remove_what_the_model_gives_whatever_the_input() -> None:
    prior = [math.log(p) for p in (0.1, 0.1, 0.1, 0.2, 0.5)]  # the model favours 5 on empty input
    # An input rated exactly as the prior carries no evidence: flat after calibration.
    flat = calibrated(prior, [prior, prior])
    assert max(flat) - min(flat) == pytest.approx(0.0, abs=1e-9)
    assert log_odds_of_ratings(flat) == pytest.approx(0.0, abs=1e-9)
    # The prior is the mean *distribution* over the content-free rows, not the mean of their logs.
    a = [math.log(p) for p in (0.7, 0.1, 0.1, 0.05, 0.05)]
    b = [math.log(p) for p in (0.05, 0.05, 0.1, 0.1, 0.7)]
    mean = [(x + y) / 2 for x, y in zip((0.7, 0.1, 0.1, 0.05, 0.05), (0.05, 0.05, 0.1, 0.1, 0.7))]
    expected = [math.log(p) - math.log(m) for p, m in zip((0.1, 0.1, 0.1, 0.2, 0.5), mean)]
    assert calibrated(prior, [a, b]) == pytest.approx(expected)


def test_reason_prompts_put_the_reason_before_or_after_the_label() -> None:
    demos = fixed_demos()
    assert {d["input"] for d in demos} == set(REASONS)  # every fixed example has its reason
    before = reason_prefix(demos, after=False)
    first = demos[0]
    assert f"Review: {first['input']}\nReason: {REASONS[first['input']]}\nSentiment: {first['output']}\n" in before
    after = reason_prefix(demos, after=True)
    assert f"Review: {first['input']}\nSentiment: {first['output']}\nReason: {REASONS[first['input']]}\n" in after
    assert len(GRADES["rate-5142"]) == len(demos)


def test_a_generated_reason_is_cut_at_its_line_end() -> None:
    assert first_line(" it praises the food.\nSentiment: negative") == "it praises the food."
    assert first_line("") == ""


def test_replayed_rules_are_log_odds_with_positive_at_or_above_zero() -> None:
    base = [1.0, -1.0]
    ratings = [[math.log(p) for p in (0.05, 0.05, 0.1, 0.3, 0.5)], [math.log(p) for p in (0.5, 0.3, 0.1, 0.05, 0.05)]]
    rules = decisions("rate-5142", ratings, base, content_free=[ratings[0], ratings[1]])
    assert rules["rate-5142 P(≥4) vs P(≤2)"][0] > 0 > rules["rate-5142 P(≥4) vs P(≤2)"][1]
    assert rules["rate-5142 E[rating] − 3"][0] > 0 > rules["rate-5142 E[rating] − 3"][1]
    assert rules["base + 1.0 × rate-5142 P(≥4) vs P(≤2)"][0] == pytest.approx(1.0 + math.log(8))
    labelled = decisions("rate-label", [{"ratings": ratings[0], "after": [-2.0, -1.0, 0.0, 1.5, 3.0]}], [0.0])
    assert labelled["rate-label: label after the greedy rating"] == [3.0]  # rating 5 is the likeliest
    reasons = decisions("reason", [{"lo": -0.5, "reason": "it lists only faults."}], [1.0])
    assert reasons["base + reason (w 0.5)"] == [pytest.approx(0.75)]


def test_the_rating_is_centred_on_its_content_free_expectation_not_on_the_scales_middle() -> None:
    # The model rates an empty review 2 on average: a review it rates 2.5 leans positive by 0.5.
    empty = [0.0, -50.0, -50.0, -50.0, -50.0]  # rating 1
    middle = [-50.0, -50.0, 0.0, -50.0, -50.0]  # rating 3
    review = [-50.0, 0.0, 0.0, -50.0, -50.0]  # 2 or 3, evenly: 2.5
    rules = decisions("rate-5142", [review], [-0.2], content_free=[empty, middle])
    assert rules["base + 1.0 × (rate-5142 E − content-free E)"] == [pytest.approx(-0.2 + 0.5)]
    assert rules["base + 1.0 × (rate-5142 E − 3)"] == [pytest.approx(-0.2 - 0.5)]


# ---- the tool: what the model is shown ----------------------------------------------------------------------


def _recording(scored: list[str]) -> TableBackend:
    """A backend that says positive for a prompt whose input says "loved", and keeps every prompt."""

    def table(prompt: str, candidate: str) -> float:
        scored.append(prompt)
        review = prompt.rsplit("Review:", 1)[1]
        return -0.1 if (candidate == " positive") == ("loved" in review) else -3.0

    return TableBackend(table)


def test_coloured_input_is_classified_by_its_words_not_its_escape_sequences() -> None:
    """Before: "ESC[1mI loved it ESC[0m" reached the model with its escapes, and SmolLM2 read it negative
    (positive 0.36) where the plain words are positive (0.87)."""
    scored: list[str] = []
    result = get_tool("sentiment").run("\x1b[1mI lo\u00adved it\x1b[0m", _recording(scored))
    assert result.label == "positive"
    assert scored and all("\x1b" not in p and "\u00ad" not in p for p in scored)
    assert all(p.endswith("Review: I loved it\nSentiment:") for p in scored)


@pytest.mark.parametrize("text", ["\x1b[31m\x1b[0m", "\u200f\u200e", "\x00\x07 \x1b[2J"])
def test_input_that_shows_nothing_is_refused_before_any_model_loads(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: "ESC[31m ESC[0m" (what a coloured command leaves of an empty line) was classified
    (negative 0.91 with SmolLM2) instead of refused as the empty input it is."""

    def refuse(self: Any) -> Any:
        raise AssertionError("the default model was loaded")

    monkeypatch.setattr(RegisteredTool, "default_backend", refuse)
    with pytest.raises(ToolError, match="nothing to classify: the input shows no text"):
        get_tool("sentiment").run(text)
    scored: list[str] = []
    with pytest.raises(ToolError, match="nothing to classify"):
        get_tool("sentiment").run(text, _recording(scored))
    assert scored == []

"""benchmarks/sentiment_ensemble.py: log-odds through the tool, and how two models' log-odds are combined.

No model: the fake backend's label scores are set by hand, so the log-odds the
benchmark records must be exactly their difference (read through the
registered tool, as ``assistant sentiment`` runs it), and the replay's
averages, thresholds, calibration shifts and time ratio are checked on small
hand-made cases.
"""

from __future__ import annotations

import math

import pytest

from tests.scoring_support import TableBackend
from assistant.tools import get_tool
from benchmarks.sentiment_ensemble import (
    Outcome,
    average,
    baseline_shift,
    best_probability,
    content_free,
    content_free_shift,
    evaluate,
    expected_time_ratio,
    fixed_and_broken,
    label_of,
    log_odds,
    phrase_log_odds,
    rights,
    rows_digest,
    selective,
    variants,
)


def by_last_review(prompt: str, candidate: str) -> float:
    """Log-scores −1.0 / −2.5 for positive / negative when the review says "good", the other way round else."""
    review = prompt.rsplit("Review:", 1)[1]
    good = "good" in review
    if candidate == " positive":
        return -1.0 if good else -2.5
    return -2.5 if good else -1.0


def test_log_odds_through_the_tool_are_the_difference_of_the_label_scores() -> None:
    tool, backend = get_tool("sentiment"), TableBackend(by_last_review)
    assert phrase_log_odds(tool, backend, "a good film") == pytest.approx(1.5)
    assert phrase_log_odds(tool, backend, "a dull film") == pytest.approx(-1.5)


def test_content_free_log_odds_use_the_tools_prompt_and_baseline() -> None:
    seen: list[str] = []

    def table(prompt: str, candidate: str) -> float:
        seen.append(prompt.rsplit("Review:", 1)[1])
        review = prompt.rsplit("Review:", 1)[1]
        # A prior leaning positive after "N/A" only.
        if "N/A" in review:
            return math.log(0.8 if candidate == " positive" else 0.2)
        return math.log(0.5)

    per_input, baseline = content_free(get_tool("sentiment"), TableBackend(table))
    assert per_input == pytest.approx([math.log(4), 0.0, 0.0])
    # --calibrate averages probabilities: mean P(pos) 0.6, P(neg) 0.4.
    assert baseline == pytest.approx(math.log(0.6 / 0.4))
    assert {" N/A\nSentiment:", " \nSentiment:", " [MASK]\nSentiment:"} <= set(seen)


def test_log_odds_of_probabilities() -> None:
    assert log_odds({"positive": 0.75, "negative": 0.25}) == pytest.approx(math.log(3))
    assert log_odds({"positive": 0.5, "negative": 0.5}) == 0.0
    with pytest.raises(ValueError, match="no log-odds"):
        log_odds({"positive": 1.0, "negative": 0.0})


def test_decision_and_confidence_match_the_tool() -> None:
    assert label_of(0.0) == "positive"  # the tool's max() keeps the first label on a tie
    assert label_of(-1e-9) == "negative"
    assert best_probability(0.0) == 0.5
    assert best_probability(math.log(4)) == pytest.approx(0.8)
    assert best_probability(-math.log(4)) == pytest.approx(0.8)


def test_average_weights_and_shift() -> None:
    assert average(2.0, -1.0, 0.5) == pytest.approx(0.5)
    assert average(2.0, -1.0, 0.67) == pytest.approx(0.33 * 2.0 - 0.67)
    # The shift is the second model's prior: subtracted from its log-odds only.
    assert average(2.0, -1.0, 0.5, shift=-3.0) == pytest.approx(0.5 * 2.0 + 0.5 * 2.0)


def test_selective_asks_only_below_the_threshold() -> None:
    sure = math.log(9)  # best probability 0.9
    value, asked = selective(sure + 0.01, -10.0, 0.9, 0.5)
    assert (value, asked) == (sure + 0.01, False)
    value, asked = selective(sure - 0.01, -10.0, 0.9, 0.5)
    assert asked and value == pytest.approx(0.5 * (sure - 0.01) - 5.0)
    value, asked = selective(-0.1, 3.0, 0.6, 0.33, shift=1.0)
    assert asked and value == pytest.approx(0.67 * -0.1 + 0.33 * 2.0)
    assert selective(5.0, -5.0, None, 0.5) == (0.0, True)


def test_content_free_shifts() -> None:
    assert content_free_shift([1.0, -0.5, 0.5]) == pytest.approx(1 / 3)
    assert baseline_shift([math.log(0.6), math.log(0.3)]) == pytest.approx(math.log(2))
    with pytest.raises(ValueError):
        content_free_shift([])


def test_evaluate_counts_right_decisions_and_questions() -> None:
    first = [2.0, 0.1, -0.1, -3.0]
    second = [-5.0, 1.0, 1.0, 0.0]
    gold = ["positive", "positive", "positive", "negative"]
    alone = evaluate(lambda a, b: (a, False), first, second, gold)
    assert alone == Outcome(correct=3, n=4, asked=0)
    rule = lambda a, b: selective(a, b, 0.7, 0.5)  # noqa: E731
    outcome = evaluate(rule, first, second, gold)
    assert outcome == Outcome(correct=4, n=4, asked=2)
    assert outcome.accuracy == 1.0 and outcome.fraction_asked == 0.5
    with pytest.raises(ValueError):
        evaluate(rule, first, second[:3], gold)


def test_every_variant_is_named_once_and_the_first_is_the_model_alone() -> None:
    rules = variants({"": 0.0, "calibrated": 0.7})
    names = [name for name, _ in rules]
    assert len(names) == len(set(names))
    assert names[0] == "SmolLM2 alone"
    assert rules[0][1](0.3, -9.0) == (0.3, False)
    by_name = dict(rules)
    assert by_name["Gemma alone calibrated"](0.3, 1.0) == (pytest.approx(0.3), True)
    assert by_name["average w_gemma=0.5"](1.0, -3.0) == (pytest.approx(-1.0), True)
    assert by_name["selective p<0.6 w_gemma=0.5"](3.0, -9.0) == (3.0, False)


def test_time_ratio() -> None:
    assert expected_time_ratio(0.0, 0.4, 0.2) == 1.0
    assert expected_time_ratio(0.25, 0.4, 0.2) == pytest.approx(1.5)


def test_digest_changes_with_the_phrases() -> None:
    rows = [{"text": "a"}, {"text": "b"}]
    assert rows_digest(rows) == rows_digest([dict(r) for r in rows])
    assert rows_digest(rows) != rows_digest(rows[::-1])


def test_fixed_and_broken_count_what_a_variant_moved() -> None:
    first = [2.0, 0.1, -0.1, -3.0]
    second = [-5.0, -9.0, 1.0, 0.0]
    gold = ["positive", "positive", "positive", "negative"]
    alone = [r for r, _ in rights(lambda a, b: (a, False), first, second, gold)]
    mixed = rights(lambda a, b: selective(a, b, 0.7, 0.5), first, second, gold)
    assert mixed == [(True, False), (False, True), (True, True), (True, False)]
    assert fixed_and_broken(alone, [r for r, _ in mixed]) == (1, 1)
    with pytest.raises(ValueError):
        fixed_and_broken(alone, alone[:2])

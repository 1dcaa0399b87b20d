"""benchmarks/sentiment_demos.py: the candidate sets, the statistics, and that a set reaches the tool's prompt.

No model: the sets and the arithmetic are checked on hand-made cases, and the
prompt the benchmark scores is compared with the tool's own rendering — a
benchmark that scored a prompt of its own would measure something the tool
never runs.
"""

from __future__ import annotations

import math

import pytest

from benchmarks.sentiment_demos import (
    PROMPTS,
    candidate_pool,
    chosen_tool,
    current_set,
    done_keys,
    interleave,
    pearson,
    prior_positive,
    random_sets,
    read_examples,
    reorderings,
    set_id,
    spearman,
)


def _pool(n: int = 6) -> dict[str, list[dict[str, str]]]:
    return {
        "positive": [{"input": f"good thing {i}", "output": "positive"} for i in range(n)],
        "negative": [{"input": f"bad thing {i}", "output": "negative"} for i in range(n)],
    }


def test_random_sets_are_balanced_interleaved_distinct_and_repeatable() -> None:
    sets = random_sets(_pool(), 20, seed=3)
    assert sets == random_sets(_pool(), 20, seed=3)
    assert sets != random_sets(_pool(), 20, seed=4)
    for demos in sets:
        assert [e["output"] for e in demos] == ["positive", "negative", "positive", "negative"]
        assert len({e["input"] for e in demos}) == 4
    assert len({frozenset(e["input"] for e in demos) for demos in sets}) == 20


def test_asking_for_more_sets_than_exist_is_an_error_not_a_hang() -> None:
    with pytest.raises(ValueError, match="only 1 distinct"):
        random_sets(_pool(2), 2, seed=0)


def test_the_pool_keeps_each_input_once_and_only_the_two_labels() -> None:
    rows = [
        {"input": "a", "output": "positive"},
        {"input": "b", "output": "neutral"},
        {"input": "a", "output": "positive"},
        {"input": "c", "output": "negative"},
    ]
    pool = candidate_pool(rows, [{"input": "c", "output": "negative"}, {"input": "d", "output": "negative"}])
    assert [e["input"] for e in pool["positive"]] == ["a"]
    assert [e["input"] for e in pool["negative"]] == ["c", "d"]


def test_the_project_pool_holds_the_current_examples_and_24_per_label() -> None:
    pool = candidate_pool(current_set(), read_examples(PROMPTS / "sentiment.pool.jsonl"))
    assert len(pool["positive"]) == len(pool["negative"]) == 24
    assert [e["output"] for e in current_set()] == ["positive", "negative", "positive", "negative"]


def test_reorderings_keep_the_four_examples() -> None:
    demos = interleave(
        [{"input": "p1", "output": "positive"}, {"input": "p2", "output": "positive"}],
        [{"input": "n1", "output": "negative"}, {"input": "n2", "output": "negative"}],
    )
    orders = reorderings(demos)
    assert [e["input"] for e in orders["3412"]] == ["p2", "n2", "p1", "n1"]
    assert [e["input"] for e in orders["2143"]] == ["n1", "p1", "n2", "p2"]
    assert [e["input"] for e in orders["1324"]] == ["p1", "p2", "n1", "n2"]
    assert all(sorted(e["input"] for e in o) == ["n1", "n2", "p1", "p2"] for o in orders.values())
    with pytest.raises(ValueError):
        reorderings(demos[:3])


def test_set_id_names_order_and_labels() -> None:
    a = [{"input": "Slow, noisy and overpriced.", "output": "negative"}, {"input": "smart , sharp", "output": "positive"}]
    assert set_id(a) == "-sna.+ss"
    assert set_id(a[::-1]) != set_id(a)


def test_prior_positive_from_the_tools_baseline() -> None:
    assert prior_positive([math.log(0.3), math.log(0.7)]) == pytest.approx(0.3)
    # The baseline is a log of mean probabilities: it need not sum to one in probability.
    assert prior_positive([math.log(0.2), math.log(0.2)]) == pytest.approx(0.5)


def test_correlations() -> None:
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(pearson([1, 1, 1], [1, 2, 3]))
    assert spearman([1, 2, 3, 4], [1, 4, 9, 100]) == pytest.approx(1.0)
    assert spearman([1, 1, 2], [5, 5, 6]) == pytest.approx(1.0)  # ties share their rank
    with pytest.raises(ValueError):
        pearson([1], [1])


def test_done_keys_let_a_rerun_skip_what_is_measured() -> None:
    results = [{"id": "current", "slice": "even"}, {"id": "x", "slice": "odd"}]
    assert done_keys(results) == {("current", "even"), ("x", "odd")}


def test_the_current_set_reproduces_the_tools_own_prompt() -> None:
    from assistant import get_tool

    labels = ["positive", "negative"]
    text = "it does n't   work , but it 's fun"
    own = get_tool("sentiment").tool._prompt(text, labels, "fixed")
    assert chosen_tool(current_set()).tool._prompt(text, labels, "fixed") == own


def test_another_set_is_what_the_prompt_shows() -> None:
    demos = interleave(
        [{"input": "Lovely soup.", "output": "positive"}, {"input": "Great tea.", "output": "positive"}],
        [{"input": "Cold fries.", "output": "negative"}, {"input": "Rude staff.", "output": "negative"}],
    )
    prompt = chosen_tool(demos).tool._prompt("a phrase", ["positive", "negative"], "fixed")
    shown = [line for line in prompt.splitlines() if line.startswith("Review:")]
    assert shown == [
        "Review: Lovely soup.", "Review: Cold fries.", "Review: Great tea.", "Review: Rude staff.", "Review: a phrase",
    ]
    assert "The staff were friendly" not in prompt


def test_calibrated_accuracy_divides_by_the_prior() -> None:
    from benchmarks.sentiment_demos import calibrated_accuracy

    gold = ["positive", "negative", "positive"]
    assert calibrated_accuracy([0.6, 0.4, 0.45], 0.5, gold) == pytest.approx(2 / 3)
    # A prior leaning negative (P(pos) 0.3) turns 0.45 into a positive call.
    assert calibrated_accuracy([0.6, 0.2, 0.45], 0.3, gold) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        calibrated_accuracy([0.5], 0.5, gold)

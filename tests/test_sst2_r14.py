"""Round 14, SST-2 levers (benchmarks/sentiment_r14.py): the prompts and the arithmetic the replay rests on.

No model: a replay that mixes up which letter is which label, averages the wrong rows, or asks the
second prompts where it should not would report numbers nobody can trust.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from assistant.tools import get_tool
from assistant.tools.text import tidy_spacing
from benchmarks.sentiment_r14 import (
    accuracy,
    fixed_demos,
    knn_log_odds,
    mc_log_odds,
    mc_prompt,
    mean_log_odds,
    orders,
    selective_mean,
    tool_prompt,
)
from benchmarks.tools_metrics import ROOT
from tests.scoring_support import TableBackend

DEMOS = [
    {"input": "Lovely.", "output": "positive"},
    {"input": "Awful.", "output": "negative"},
]


def test_mc_prompt_answers_each_example_with_its_letter_in_either_order() -> None:
    prompt = mc_prompt("a  fine\nfilm", DEMOS, ("positive", "negative"))
    assert "Review: Lovely.\nOptions: A) positive B) negative\nAnswer: A\n" in prompt
    assert "Review: Awful.\nOptions: A) positive B) negative\nAnswer: B\n" in prompt
    assert prompt.endswith("Review: a fine film\nOptions: A) positive B) negative\nAnswer:")
    swapped = mc_prompt("x", DEMOS, ("negative", "positive"))
    assert "Review: Lovely.\nOptions: A) negative B) positive\nAnswer: B\n" in swapped


def test_mc_log_odds_follow_the_labels_not_the_letters() -> None:
    # " A" scores -1, " B" -3: A is positive in one order, negative in the other.
    assert mc_log_odds([-1.0, -3.0], ("positive", "negative")) == pytest.approx(2.0)
    assert mc_log_odds([-1.0, -3.0], ("negative", "positive")) == pytest.approx(-2.0)
    # Averaged over both orders, a pure letter bias (A always likelier by 2) cancels.
    assert mean_log_odds([[2.0], [-2.0]]) == [pytest.approx(0.0)]


def test_mean_log_odds_refuses_ragged_columns() -> None:
    assert mean_log_odds([[1.0, 3.0], [3.0, -1.0]]) == [2.0, 1.0]
    with pytest.raises(ValueError):
        mean_log_odds([[1.0], [1.0, 2.0]])


def test_accuracy_breaks_a_tie_to_positive_as_the_tool_does() -> None:
    gold = ["positive", "negative", "negative"]
    assert accuracy([0.0, -0.1, 0.2], gold) == pytest.approx(2 / 3)
    assert accuracy([0.0, -0.1, 0.2], gold, [1, 2]) == pytest.approx(0.5)


def test_orders_keep_a_positive_first_and_every_example_once() -> None:
    found = orders(fixed_demos())
    assert len(found) == 4 and "order-P1N1P2N2" in found
    for demos in found.values():
        assert [d["output"] for d in demos] == ["positive", "negative"] * 2
        assert sorted(d["input"] for d in demos) == sorted(d["input"] for d in fixed_demos())


def test_the_base_order_is_the_tools_own_prompt() -> None:
    assert tool_prompt("a fine film", orders(fixed_demos())["order-P1N1P2N2"]) == tool_prompt("a fine film")


def test_selective_mean_asks_only_where_the_base_is_unsure() -> None:
    # p(best) for log-odds 0.1 is 0.525 (< 0.6: asked), for 3.0 it is 0.95 (kept).
    values, share = selective_mean([0.1, 3.0], [[-0.9, -5.0]], 0.6)
    assert values == [pytest.approx(-0.4), 3.0]
    assert share == 0.5


def test_knn_votes_of_the_nearest_anchors_by_kl() -> None:
    def dist(p: list[float]) -> np.ndarray:
        return np.log(np.asarray(p))

    anchors = np.stack([dist([0.8, 0.2]), dist([0.7, 0.3]), dist([0.1, 0.9])])
    labels = ["positive", "positive", "negative"]
    # Nearest two to a 0.75/0.25 query are both positive: add-one log-odds log(3/1).
    assert knn_log_odds(dist([0.75, 0.25]), anchors, labels, 2) == pytest.approx(math.log(3))
    assert knn_log_odds(dist([0.15, 0.85]), anchors, labels, 1) == pytest.approx(math.log(1 / 2))


# ---- sentiment calibrate: the label prior measured on the pool's texts, not on content-free inputs ------------

POOL = [json.loads(line) for line in (ROOT / "prompts" / "sentiment.pool.jsonl").read_text().splitlines() if line]
POOL_LABEL = {tidy_spacing(" ".join(r["input"].split())): r["output"] for r in POOL}
FACT = "The museum is closed on Mondays."
THREE = ["positive", "negative", "neutral"]
# What a small model does (measured with SmolLM2, docs in plugins/sentiment.py): a neutral statement gets
# more of "neutral" than a review does, yet less than either polar label; a content-free input gets more.
DISTRIBUTIONS = {
    "positive": (0.9, 0.09, 0.01),
    "negative": (0.09, 0.9, 0.01),
    "neutral": (0.6, 0.3, 0.1),
    None: (0.4, 0.3, 0.3),  # "N/A", "", "[MASK]"
}


def small_model(prompt: str, candidate: str) -> float:
    review = prompt.rsplit("Review:", 1)[1].removesuffix("\nSentiment:").strip()
    kind = "neutral" if review == FACT else POOL_LABEL.get(review)
    return math.log(DISTRIBUTIONS[kind][THREE.index(candidate.strip())])


def test_pool_prior_lets_a_neutral_statement_be_neutral_where_content_free_inputs_cannot() -> None:
    tool, backend = get_tool("sentiment"), TableBackend(small_model)
    assert tool.run(FACT, backend, labels=THREE, examples="similar").label == "positive"
    # The content-free prior (0.4, 0.3, 0.3), what the fixed examples keep, leaves it positive: 1.5 · 1 · 0.33.
    assert tool.run(FACT, backend, labels=THREE, calibrate=True).label == "positive"
    result = tool.run(FACT, backend, labels=THREE, examples="similar", calibrate=True)
    # Balanced prior (0.53, 0.43, 0.04): 0.6 / 0.53, 0.3 / 0.43, 0.1 / 0.04 — neutral.
    assert result.label == "neutral"
    expected = [p / q for p, q in zip(DISTRIBUTIONS["neutral"], [sum(c) / 3 for c in zip(*list(DISTRIBUTIONS.values())[:3])])]
    assert [result.probabilities[label] for label in THREE] == pytest.approx([e / sum(expected) for e in expected])
    # A review stays what it is.
    review = next(r["input"] for r in POOL if r["output"] == "negative")
    assert tool.run(review, backend, labels=THREE, examples="similar", calibrate=True).label == "negative"


def test_pool_prior_scores_the_same_number_of_texts_of_each_label() -> None:
    scored: list[str] = []

    def recording(prompt: str, candidate: str) -> float:
        if candidate == " positive":
            scored.append(prompt)
        return small_model(prompt, candidate)

    get_tool("sentiment").run(FACT, TableBackend(recording), labels=THREE, examples="similar", calibrate=True)
    reviews = [p.rsplit("Review:", 1)[1].removesuffix("\nSentiment:").strip() for p in scored[:-1]]
    assert [POOL_LABEL[r] for r in reviews] == ["positive"] * 8 + ["negative"] * 8 + ["neutral"] * 8


def test_pool_prior_with_similar_examples_never_shows_a_text_as_its_own_example() -> None:
    scored: list[str] = []

    def recording(prompt: str, candidate: str) -> float:
        if candidate == " positive":
            scored.append(prompt)
        return small_model(prompt, candidate)

    get_tool("sentiment").run(FACT, TableBackend(recording), labels=THREE, examples="similar", calibrate=True)
    for prompt in scored[:-1]:
        *shown, review = prompt.split("Review:")
        assert all(review.removesuffix("\nSentiment:").strip() not in s for s in shown)


def test_labels_the_pool_lacks_are_calibrated_on_content_free_inputs_as_before() -> None:
    scored: list[str] = []

    def recording(prompt: str, candidate: str) -> float:
        scored.append(prompt)
        return -1.0

    get_tool("sentiment").run("fine", TableBackend(recording), labels=["happy", "sad"], calibrate=True)
    assert any(p.endswith("Review: N/A\nSentiment:") for p in scored)


@pytest.mark.model
def test_smollm2_similar_calibrated_calls_neutral_statements_neutral(smollm2_path: Any) -> None:
    """12 rows of the own set (6 neutral statements, 6 reviews), examples=similar: SmolLM2 got 10/14 neutral
    and 67/72 reviews on the whole set calibrated on the pool, 0/14 neutral before (plugins/sentiment.py)."""
    from assistant import load_backend
    from benchmarks.tools_metrics import OWN_DATA, load_jsonl

    rows = load_jsonl(OWN_DATA / "sentiment_eval.jsonl")
    chosen = [r for r in rows if r["label"] == "neutral"][:6] + [r for r in rows if r["label"] != "neutral"][:6]
    backend = load_backend("llama-cpp", str(smollm2_path), n_ctx=2048, progress=lambda message: None)
    try:
        tool = get_tool("sentiment")
        labels = [tool.run(r["text"], backend, labels=THREE, examples="similar", calibrate=True).label for r in chosen]
    finally:
        backend.unload()
    neutral = sum(label == "neutral" for label in labels[:6])
    reviews = sum(label == r["label"] for label, r in zip(labels[6:], chosen[6:]))
    assert neutral >= 3, f"{neutral}/6 neutral statements called neutral: {labels}"
    assert reviews >= 4, f"{reviews}/6 reviews right: {labels}"

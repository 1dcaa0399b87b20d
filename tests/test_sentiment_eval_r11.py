"""benchmarks/sentiment_levers.py: the lexicon tie-breaker, the hidden-state probes and their capture.

No model: the tie-breaker arithmetic is checked on hand-made log-odds, the probes on
separable synthetic features, and the hidden-state capture on a stand-in decoder
whose forward mimics the native decoder's call order (chunk → layers → logits).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from benchmarks.sentiment_levers import (
    POOL,
    HiddenCapture,
    best_probability,
    centroid_probe,
    consulted,
    decide,
    lexicon_added,
    lexicon_override,
    logistic_probe,
    pool_cross_validated,
)


def test_consulted_only_under_the_threshold():
    sure = math.log(0.9 / 0.1)  # best label 0.9
    assert best_probability(sure) == pytest.approx(0.9)
    assert not consulted(sure, 0.8) and not consulted(-sure, 0.8)
    assert consulted(sure, 0.95) and consulted(-sure, 0.95)
    assert consulted(sure, None)  # None: always


def test_lexicon_override_replaces_only_unsure_decisions_with_a_non_neutral_lexicon():
    unsure, sure = -0.1, -3.0
    assert decide(lexicon_override(unsure, 0.6, 0.6)) == "positive"
    assert lexicon_override(unsure, 0.01, 0.6) == unsure  # the lexicon is neutral: the model decides
    assert lexicon_override(sure, 0.9, 0.6) == sure  # the model is sure: unchanged
    assert decide(lexicon_override(0.2, -0.5, None)) == "negative"


def test_lexicon_added_is_weighted_and_selective():
    assert lexicon_added(0.1, -0.4, 0.6, 0.5) == pytest.approx(-0.1)
    assert lexicon_added(2.0, -0.9, 0.6, 2.0) == 2.0
    assert lexicon_added(2.0, -0.9, None, 2.0) == pytest.approx(0.2)


def synthetic(n: int = 40) -> tuple[list[list[float]], list[int]]:
    """Two classes apart on feature 0, noise-free elsewhere but for a spread, so both probes must separate them."""
    features, labels = [], []
    for i in range(n):
        label = i % 2
        features.append([(1.0 if label else -1.0) + 0.1 * (i % 5), 0.3 * ((i * 7) % 5), 0.2 * ((i * 3) % 4)])
        labels.append(label)
    return features, labels


@pytest.mark.parametrize("fit", [lambda x, y: centroid_probe(x, y), lambda x, y: logistic_probe(x, y, 1.0)])
def test_probes_give_positive_log_odds_to_the_positive_class(fit):
    import numpy as np

    features, labels = synthetic()
    x = np.asarray(features)
    scores = fit(x, labels)(x)
    assert [int(s >= 0) for s in scores] == labels
    # far from the pool, the sign still follows the separating feature
    assert fit(x, labels)(np.asarray([[5.0, 0.0, 0.0], [-5.0, 0.0, 0.0]])).tolist()[0] > 0


def test_logistic_probe_shrinks_with_a_larger_penalty():
    import numpy as np

    features, labels = synthetic()
    x = np.asarray(features)
    loose, tight = logistic_probe(x, labels, 0.1)(x), logistic_probe(x, labels, 100.0)(x)
    assert float(np.abs(tight).max()) < float(np.abs(loose).max())


def test_pool_cross_validation_scores_held_out_folds():
    import numpy as np

    features, labels = synthetic()
    x = np.asarray(features)
    assert pool_cross_validated(x, labels, centroid_probe) == 1.0
    # labels that no feature explains: held-out folds cannot all be right
    shuffled = [(i * 7 // 3) % 2 for i in range(len(labels))]
    assert pool_cross_validated(x, shuffled, lambda a, b: logistic_probe(a, b, 1.0)) < 0.9


class StandInDecoder:
    """The native decoder's call order: ``_forward_chunk`` runs every layer's ``_block_rest``, then ``_logits``."""

    final_norm = None

    def __init__(self, layers: int) -> None:
        self.layers = layers

    def _rms(self, x, weight):
        return x * 2

    def _block_rest(self, layer, x, attn, mm=None):
        return x + layer

    def _logits(self, x, mm=None):
        return x[-1:] * 10

    def _forward_chunk(self, ids, start, keep_all, need_logits):
        import torch

        x = torch.tensor([[float(i)] for i in ids])
        for layer in range(1, self.layers + 1):
            x = self._block_rest(layer, x, None)
        return self._logits(x) if need_logits else None


def test_hidden_capture_keeps_the_last_position_of_the_chunk_that_gives_logits():
    decoder = StandInDecoder(layers=30)
    capture = HiddenCapture(decoder, layers=(10, 30))
    decoder._forward_chunk([1, 2, 3], 0, False, False)  # a prefill chunk: no logits, nothing kept
    assert capture.take() is None
    out = decoder._forward_chunk([4, 5], 3, False, True)
    assert float(out[0, 0]) == (5 + sum(range(1, 31))) * 10  # the forward itself is unchanged
    state = capture.take()
    assert float(state["layer10"][0]) == 5 + sum(range(1, 11))
    assert float(state["layer30"][0]) == 5 + sum(range(1, 31))
    assert float(state["normed"][0]) == 2 * (5 + sum(range(1, 31)))
    assert capture.take() is None  # taken once


def test_the_probe_pool_is_balanced_distinct_and_written_for_the_benchmark():
    rows = [json.loads(line) for line in Path(POOL).read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(rows) == 200
    assert {r["output"] for r in rows} == {"positive", "negative"}
    assert sum(r["output"] == "positive" for r in rows) == 100
    assert len({r["input"] for r in rows}) == 200
    sst2 = Path(__file__).parents[1] / "benchmarks" / "data" / "sst2-dev.jsonl"
    public = {json.loads(line)["text"].lower() for line in sst2.read_text(encoding="utf-8").splitlines() if line}
    assert not any(r["input"].lower() in public for r in rows)

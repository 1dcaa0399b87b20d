"""The sampled distribution's one definition: numpy full-vocabulary, top-N ``explain``, and the torch Sampler agree."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.inspect.distribution import explain, next_token, sampled_distribution
from assistant.inspect.shade import SHADES, legend, shade_for, shaded, shown_probability
from assistant.types import GenerationParams, TokenLogprob, TopAlternative


def _logits(seed: int, vocab: int = 300, scale: float = 3.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(vocab) * scale).astype(np.float32)


def _alternatives(logits: np.ndarray, count: int | None = None) -> list[TopAlternative]:
    logprobs = logits.astype(np.float64) - np.log(np.exp(logits.astype(np.float64)).sum())
    order = np.argsort(-logprobs)[: count or len(logits)]
    return [TopAlternative(f"t{i}", int(i), float(logprobs[i])) for i in order]


SETTINGS = [
    GenerationParams(temperature=0),
    GenerationParams(temperature=0.7, top_k=40, top_p=0.95),
    GenerationParams(temperature=1.0, top_k=0, top_p=1.0),
    GenerationParams(temperature=1.3, top_k=0, top_p=0.5),
    GenerationParams(temperature=0.5, top_k=5, top_p=1.0),
    GenerationParams(temperature=2.0, top_k=1000, top_p=0.9),
]


@pytest.mark.parametrize("params", SETTINGS, ids=lambda p: f"T{p.temperature}-k{p.top_k}-p{p.top_p}")
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_full_vocabulary_sums_to_one_and_explain_agrees(params: GenerationParams, seed: int) -> None:
    logits = _logits(seed)
    dist = sampled_distribution(logits, params)
    assert dist.kept_p.sum() == pytest.approx(1.0, abs=1e-9)
    model = np.exp(logits.astype(np.float64) - dist.log_z)
    assert model.sum() == pytest.approx(1.0, abs=1e-4)
    candidates = explain(_alternatives(logits), params, complete=True)
    for c in candidates:
        assert c.p_sampled == pytest.approx(dist.p_sampled(c.token_id), abs=1e-9)
        assert c.cut_by == dist.cut_by(c.token_id)
        assert c.logprob == pytest.approx(dist.logprob(c.token_id), abs=1e-5)


@pytest.mark.parametrize("params", SETTINGS, ids=lambda p: f"T{p.temperature}-k{p.top_k}-p{p.top_p}")
@pytest.mark.parametrize("penalty", [1.0, 1.3])
def test_torch_sampler_and_numpy_keep_the_same_tokens_with_the_same_probabilities(
    params: GenerationParams, penalty: float
) -> None:
    torch = pytest.importorskip("torch")
    from assistant.backends.torch.sampling import Sampler, token_numbers

    params = params.replace(repeat_penalty=penalty)
    history = [3, 7, 7, 11]
    for seed in range(3):
        logits = _logits(seed)
        sampler = Sampler(params)
        sampler.history.extend(history)
        ids, probs = sampler.distribution(torch.from_numpy(logits))
        dist = sampled_distribution(logits, params, history)
        torch_p = dict(zip(range(len(logits)), probs.tolist())) if ids is None else dict(zip(ids.tolist(), probs.tolist()))
        numpy_p = dict(zip(dist.kept_ids.tolist(), dist.kept_p.tolist()))
        assert set(torch_p) == set(numpy_p)
        for token, p in numpy_p.items():
            assert torch_p[token] == pytest.approx(p, abs=1e-5)
        chosen = sampler(torch.from_numpy(logits))
        assert chosen in numpy_p
        logprob, p_sampled, top = token_numbers(torch.from_numpy(logits), chosen, 5, sampler.last)
        assert logprob == pytest.approx(dist.logprob(chosen), abs=1e-5)
        assert p_sampled == pytest.approx(dist.p_sampled(chosen), abs=1e-5)
        assert [t for t, _, _ in top] == dist.top_ids(5).tolist()


def test_greedy_gives_the_argmax_probability_one() -> None:
    logits = _logits(4)
    dist = sampled_distribution(logits, GenerationParams(temperature=0))
    best = int(np.argmax(logits))
    assert dist.p_sampled(best) == 1.0
    assert dist.cut_by(int(np.argsort(logits)[-2])) == "greedy"
    assert [c.p_sampled for c in explain(_alternatives(logits, 3), GenerationParams(temperature=0), False)] == [1, 0, 0]


def test_top_k_one_leaves_one_candidate_at_probability_one() -> None:
    logits = _logits(5)
    result = next_token(logits, GenerationParams(temperature=0.9, top_k=1), str, top=10)
    assert result.kept == 1
    assert [c.p_sampled for c in result.candidates if c.p_sampled] == [1.0]
    assert result.candidates[0].p_sampled == 1.0
    assert {c.cut_by for c in result.candidates[1:]} == {"top-k"}


def test_top_p_keeps_the_smallest_prefix_reaching_p() -> None:
    for seed in range(5):
        logits = _logits(seed, scale=2.0)
        result = next_token(logits, GenerationParams(temperature=1.0, top_k=0, top_p=0.5), str, top=300)
        probs = [c.prob for c in result.candidates]
        kept = [c for c in result.candidates if c.kept]
        assert kept == result.candidates[: len(kept)]  # a prefix of the ranking
        assert sum(probs[: len(kept)]) >= 0.5 - 1e-6
        assert sum(probs[: len(kept) - 1]) < 0.5
        assert {c.cut_by for c in result.candidates[len(kept) :]} == {"top-p"}
        assert sum(c.p_sampled for c in kept) == pytest.approx(1.0)


def test_repeat_penalty_lowers_a_repeated_token() -> None:
    logits = np.array([2.0, 1.9, -1.0, 0.5], dtype=np.float32)
    params = GenerationParams(temperature=0, repeat_penalty=1.5)
    assert sampled_distribution(logits, params, []).p_sampled(0) == 1.0
    assert sampled_distribution(logits, params, [0]).p_sampled(1) == 1.0  # 2.0 / 1.5 < 1.9
    # explain cannot know the logits' signs: every number is unknown, never guessed
    assert {c.p_sampled for c in explain(_alternatives(logits), params, True, history=[0])} == {None}


def test_explain_on_a_top_list_is_exact_or_unknown() -> None:
    logits = _logits(6, vocab=2000, scale=1.0)  # flat: top-p reaches far beyond a top-5 list
    alternatives = _alternatives(logits, 5)
    flat = explain(alternatives, GenerationParams(temperature=0.7, top_k=40, top_p=0.95), complete=False)
    assert all(c.p_sampled is None and c.kept for c in flat)
    # top-k inside the list: every number is known and matches the full computation
    params = GenerationParams(temperature=0.7, top_k=3, top_p=1.0)
    inside = explain(alternatives, params, complete=False)
    dist = sampled_distribution(logits, params)
    assert [c.p_sampled for c in inside] == pytest.approx([dist.p_sampled(a.token_id) for a in alternatives])
    assert [c.cut_by for c in inside] == [None, None, None, "top-k", "top-k"]


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    count=st.integers(1, 30),
    temperature=st.floats(0.05, 3.0),
    top_k=st.integers(0, 60),
    top_p=st.floats(0.05, 1.0),
    scale=st.floats(0.2, 8.0),
)
def test_explain_never_contradicts_the_full_vocabulary(
    seed: int, count: int, temperature: float, top_k: int, top_p: float, scale: float
) -> None:
    """Whatever a top-N list says it knows is what the whole vocabulary gives; the rest is None."""
    logits = _logits(seed, vocab=200, scale=scale)
    params = GenerationParams(temperature=temperature, top_k=top_k, top_p=top_p)
    dist = sampled_distribution(logits, params)
    for c in explain(_alternatives(logits, count), params, complete=False):
        if c.p_sampled is not None:
            assert c.p_sampled == pytest.approx(dist.p_sampled(c.token_id), abs=1e-6)
        if c.kept is not None:
            assert c.kept == (dist.cut_by(c.token_id) is None)
        if c.cut_by is not None:
            assert c.cut_by == dist.cut_by(c.token_id)


def test_widening_top_p_matches_a_full_sort() -> None:
    logits = _logits(7, vocab=50_000, scale=0.5)  # flat: the prefix reaching 0.9 is long
    params = GenerationParams(temperature=1.0, top_k=0, top_p=0.9)
    dist = sampled_distribution(logits, params)
    probs = np.exp(logits.astype(np.float64) - dist.log_z)
    order = np.argsort(-probs)
    keep = int(np.searchsorted(np.cumsum(probs[order]), 0.9)) + 1
    assert set(dist.kept_ids.tolist()) == set(order[:keep].tolist())


def test_entropy_of_a_uniform_distribution() -> None:
    dist = sampled_distribution(np.zeros(256, dtype=np.float32), GenerationParams())
    assert dist.entropy_bits() == pytest.approx(8.0)


def test_shades_cover_the_levels_and_the_legend_names_them() -> None:
    assert [shade_for(p).label for p in (0.0, 0.099, 0.1, 0.49, 0.5, 0.89, 0.9, 1.0)] == [
        "<10%", "<10%", "<50%", "<50%", "<90%", "<90%", "≥90%", "≥90%",
    ]  # fmt: skip
    assert shade_for(None) is None
    assert shaded("a\nb", None) == "a\nb"
    assert shaded("a\nb", 0.95) == f"{SHADES[-1].sgr()}a\x1b[0m\n{SHADES[-1].sgr()}b\x1b[0m"
    plain = legend(ansi=False)
    assert "\x1b" not in plain and all(s.label in plain for s in SHADES)
    entries = [TokenLogprob("a", 1, math.log(0.5), p_sampled=0.8), TokenLogprob("b", 2, math.log(0.2), p_sampled=0.3)]
    assert shown_probability(entries) == 0.3
    assert shown_probability(entries, sampled=False) == pytest.approx(0.2)
    assert shown_probability([TokenLogprob("a", 1, -1.0)]) is None


@settings(max_examples=300, deadline=None)
@given(piece=st.binary(max_size=12), special=st.sampled_from(["", "<|im_start|>", "\x1b]0;x\x07"]))
def test_a_token_piece_is_always_safe_to_print(piece: bytes, special: str) -> None:
    from assistant.inspect.pieces import TokenPiece

    shown = TokenPiece(1, piece, special).shown()
    assert shown  # even an empty piece is visible
    assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in shown)
    if not special and all(b >= 0x20 and b != 0x7F for b in piece):
        try:
            text = piece.decode("utf-8")
        except UnicodeDecodeError:
            return
        if all(not (0x80 <= ord(ch) < 0xA0) for ch in text):
            from assistant.inspect.pieces import drawable

            # a piece opening with a character of no width (a combining mark) sits on a dotted circle
            assert shown == drawable(text.replace(" ", "␣")) or not text

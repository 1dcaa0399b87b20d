"""The *sampled* distribution, defined once: what the settings leave of the model's prediction.

Two distributions have one meaning everywhere (see :class:`assistant.types.TokenLogprob`):
*model* — the softmax of the raw logits — and *sampled* — the distribution a
token is actually drawn from. The sampled one follows llama.cpp's chain as
:mod:`assistant.backends.torch.sampling` documents it:

1. repeat penalty over the last 64 *generated* tokens (a positive logit is
   divided by the penalty, a negative one multiplied);
2. greedy when ``temperature == 0``: probability 1 for the argmax, 0 elsewhere;
3. top-k (``0`` disables it);
4. top-p on the *untempered* distribution of what top-k left: the shortest
   prefix whose probability reaches ``p`` (at least one token);
5. min-p 0 (no-op), then temperature and softmax over what is left.

Two entry points share those rules:

- :func:`sampled_distribution` works on a full logits vector (numpy, float32
  in, vectorized): the backends call it while generating and for
  ``assistant next``; it never copies or sorts the whole vocabulary when
  top-k is on (an ``argpartition`` picks the k), and with top-k off it widens
  a partial sort only until top-p is reached;
- :func:`explain` works on a list of alternatives (``TopAlternative``): a
  top-N list (``complete=False``) or a whole vocabulary (``complete=True``).
  On a top-N list it gives a sampled probability only where the tokens
  outside the list cannot change it, and ``None`` elsewhere — honest numbers,
  never approximations. It uses that the model log-probabilities are
  normalized over the whole vocabulary, so the mass outside the list is
  known, and that every token outside is at most as likely as the list's last.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ..errors import ConfigError
from ..types import GenerationParams, TopAlternative

PENALTY_LAST_N = 64
"""Generated tokens the repeat penalty looks back over (llama-cpp-python's ``last_n_tokens_size``)."""

CutBy = Literal["top-k", "top-p", "greedy", "schema"]
"""The setting that gave a token sampled probability 0 (``greedy``: temperature 0 picked another;
``schema``: a ``json_schema`` did not allow it here)."""

_FIRST_WINDOW = 64  # tokens a widening partial sort starts with (top-k off, top-p on)
_FIRST_SPREAD = 4.0  # logits under the maximum a top-N search looks at first (widened as needed)


@dataclass(frozen=True)
class Candidate:
    """One token at one step, with both distributions and what the settings did to it.

    ``p_sampled`` is 0 when a setting cut the token (``cut_by`` names it) and
    ``None`` when it cannot be known from the numbers at hand; ``kept`` is then
    ``None`` too, unless it is known that the token survived the cuts.
    """

    token_id: int
    text: str
    logprob: float
    p_sampled: float | None
    cut_by: CutBy | None = None
    kept: bool | None = True

    @property
    def prob(self) -> float:
        """The model probability (``exp(logprob)``)."""
        return math.exp(self.logprob)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "id": self.token_id,
            "logprob": self.logprob,
            "p": self.prob,
            "p_sampled": self.p_sampled,
            "kept": self.kept,
            "cut_by": self.cut_by,
        }

    def alternative(self) -> TopAlternative:
        """The same token as a :class:`TopAlternative` (the shape of ``tokens[].top``)."""
        return TopAlternative(self.text, self.token_id, self.logprob, self.p_sampled)


@dataclass(frozen=True)
class NextToken:
    """The next-token distribution after a prompt, under some settings (``assistant next``).

    ``candidates`` are the most likely tokens of the *model* distribution, most
    likely first (tokens of one logit lowest id first, the order greedy decoding
    breaks ties in), each with its exact sampled probability (the whole vocabulary
    was looked at). ``greedy`` is what temperature 0 picks (after the repeat
    penalty); ``greedy_ties`` counts the tokens whose score equals its (1: no tie),
    of which greedy takes the lowest id. ``kept`` counts the tokens the settings
    leave a chance; ``kept_mass`` is their share of the model's probability.
    """

    prompt_tokens: int
    vocab_size: int
    entropy_bits: float
    greedy: Candidate
    candidates: list[Candidate]
    kept: int
    kept_mass: float
    params: GenerationParams = field(default_factory=GenerationParams)
    greedy_ties: int = 1

    def alternatives(self) -> list[TopAlternative]:
        """The candidates as a top-N list, to :func:`explain` again under other settings."""
        return [c.alternative() for c in self.candidates]

    def to_dict(self) -> dict[str, Any]:
        p = self.params
        return {
            "prompt_tokens": self.prompt_tokens,
            "vocab_size": self.vocab_size,
            "entropy_bits": self.entropy_bits,
            "greedy": self.greedy.to_dict(),
            "greedy_ties": self.greedy_ties,
            "kept": self.kept,
            "kept_mass": self.kept_mass,
            "settings": {
                "temperature": p.temperature, "top_k": p.top_k, "top_p": p.top_p,
                "repeat_penalty": p.repeat_penalty,
            },
            "candidates": [c.to_dict() for c in self.candidates],
        }  # fmt: skip


def penalty_window(history: Sequence[int]) -> list[int]:
    """The generated tokens the repeat penalty sees at the next step."""
    return list(history[-PENALTY_LAST_N:]) if history else []


PENALISED_LOGIT_LIMIT = 1e30
"""The most a repeat penalty may push a logit: past it, the temperature's division overflows float32 (NaN
probabilities); real logits stay within a few hundred, so nothing else is changed."""


def apply_repeat_penalty(logits: np.ndarray, history: Sequence[int], penalty: float) -> np.ndarray:
    """``logits`` with llama.cpp's repeat penalty applied (a copy only when something changes)."""
    window = penalty_window(history)
    if penalty == 1.0 or not window:
        return logits
    ids = np.unique(np.asarray(window, dtype=np.int64))
    out = logits.copy()
    values = out[ids]
    with np.errstate(divide="ignore", over="ignore"):
        penalised = np.where(values <= 0, values * penalty, values / penalty)
    # A tiny penalty (1e-308) divided a logit past the float range: inf made the softmax NaN.
    out[ids] = np.clip(penalised, -PENALISED_LOGIT_LIMIT, PENALISED_LOGIT_LIMIT)
    return out


class SampledDistribution:
    """The sampled distribution over a whole vocabulary, from one logits vector.

    Holds the kept tokens and their probabilities (few, usually), plus the
    model distribution's normalizer, so looking up a token's two numbers costs
    O(1) — the backends do it for the chosen token and the top alternatives
    at every step.
    """

    def __init__(
        self,
        logits: np.ndarray,
        log_z: float,
        kept_ids: np.ndarray,
        kept_p: np.ndarray,
        top_k_ids: np.ndarray | None,
        greedy: bool,
        ranked_raw: np.ndarray | None,
        allowed: np.ndarray | None = None,
    ) -> None:
        self.logits = logits
        """The raw logits (not a copy: valid as long as the caller's buffer is)."""
        self.log_z = log_z
        self.kept_ids = kept_ids
        """Token ids with a chance, most likely first (after the penalty)."""
        self.kept_p = kept_p
        """Their sampled probabilities (sum 1)."""
        self.greedy = greedy
        self._top_k_ids = top_k_ids  # None: top-k cut nothing
        self._ranked_raw = ranked_raw  # ids in raw-logit order, a prefix of the vocabulary's ranking
        self._allowed = allowed  # a json_schema's mask (None: every token allowed)
        self._lookup: dict[int, float] = dict(zip(kept_ids.tolist(), kept_p.tolist())) if len(kept_ids) <= 4096 else {}
        self._dense: np.ndarray | None = None
        if not self._lookup and len(kept_ids):
            self._dense = np.zeros(len(logits), dtype=np.float64)
            self._dense[kept_ids] = kept_p

    @property
    def vocab_size(self) -> int:
        return len(self.logits)

    def logprob(self, token_id: int) -> float:
        """The *model* log-probability (natural log, raw logits)."""
        return float(self.logits[token_id]) - self.log_z

    def p_sampled(self, token_id: int) -> float:
        """The probability under the sampled distribution (0 when a setting cut it)."""
        if self._dense is not None:
            return float(self._dense[token_id])
        return self._lookup.get(int(token_id), 0.0)

    def cut_by(self, token_id: int) -> CutBy | None:
        """Which setting cut the token; None if it is kept."""
        if self.p_sampled(token_id) > 0 or (self._dense is None and int(token_id) in self._lookup):
            return None
        if self._allowed is not None and not self._allowed[token_id]:
            return "schema"
        if self.greedy:
            return "greedy"
        if self._top_k_ids is not None and not bool(np.any(self._top_k_ids == token_id)):
            return "top-k"
        return "top-p"

    def top_ids(self, count: int) -> np.ndarray:
        """The ``count`` most likely ids of the *model* distribution, most likely first."""
        count = max(0, min(count, self.vocab_size))
        if count == 0:
            return np.zeros(0, dtype=np.int64)
        ranked = self._ranked_raw
        if ranked is not None and len(ranked) >= count:
            return ranked[:count]
        return top_indices(self.logits, count)

    def candidate(self, token_id: int, text: str) -> Candidate:
        cut = self.cut_by(token_id)
        return Candidate(int(token_id), text, self.logprob(token_id), self.p_sampled(token_id), cut, cut is None)

    def entropy_bits(self) -> float:
        """Entropy of the *model* distribution, in bits.

        A token of logit ``-inf`` (a model or engine that rules tokens out) has
        probability 0 and adds nothing: ``0 × -inf`` made the whole sum NaN
        (``"entropy_bits": NaN``, no JSON at all, and a RuntimeWarning on stderr).
        """
        shifted = self.logits.astype(np.float64) - self.log_z
        shifted = shifted[np.isfinite(shifted)]
        return float(-(np.exp(shifted) * shifted).sum() / math.log(2))

    def kept_mass(self) -> float:
        """The model probability of the kept tokens, at most 1.

        ``log_z`` sums float32 exponentials (the per-token cost is kept low), so
        the float64 sum over every token came out a hair over 1
        (``"kept_mass": 1.0000000025`` in ``assistant next --json`` with nothing cut):
        a probability past 1 is no probability, and a reader checking it fails.
        """
        if not len(self.kept_ids):
            return 0.0
        return min(1.0, float(np.exp(self.logits[self.kept_ids].astype(np.float64) - self.log_z).sum()))


def top_indices(values: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` largest values, largest first, ties lowest index first (no sort of them all).

    Ties go to the lowest index because that is how greedy decoding breaks them
    (llama.cpp's greedy sampler and ``torch.argmax`` keep the first maximum):
    ranked any other way, two tokens of one logit listed the greedy pick second
    in ``assistant next``, and top-k kept #1 and #3 of three tied tokens.

    Per generated token this is the costly step, so it avoids even a partial
    sort of all the values: a comparison against a threshold under the maximum
    (widened until ``count`` values pass it; a few microseconds each) picks a
    small superset, and only that is partitioned and sorted.
    """
    size = len(values)
    count = min(count, size)
    if count >= size:
        return _ranked(np.arange(size), values)
    if count * 16 <= size:
        top = float(values.max())
        spread = _FIRST_SPREAD
        while True:
            candidates = np.flatnonzero(values >= top - spread)
            if len(candidates) >= count or not math.isfinite(spread):
                break
            spread *= 1.5
        if len(candidates) >= count and len(candidates) * 4 <= size:
            # every value tied with the count-th largest passed the threshold too
            return _ranked(*_largest(candidates, values[candidates], count))
    return _ranked(*_largest(None, values, count))


def _largest(ids: np.ndarray | None, values: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``count`` largest of ``values`` (``ids``: their indices, ascending; None: ``0..n-1``), with them.

    Of the values tied with the ``count``-th largest, the lowest indices are taken.
    """
    positions = np.arange(len(values)) if ids is None else ids
    if len(values) > count:
        cut = len(values) - count
        chosen = np.argpartition(values, cut)[cut:]
        kth = values[chosen].min()
        if np.count_nonzero(values == kth) > np.count_nonzero(values[chosen] == kth):  # a tie across the cut
            above = np.flatnonzero(values > kth)
            chosen = np.concatenate([above, np.flatnonzero(values == kth)[: count - len(above)]])
        chosen = np.sort(chosen)
        return positions[chosen], values[chosen]
    return positions, values


def _ranked(ids: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``ids`` (ascending, with their ``values``) largest first, ties lowest id first: greedy decoding's order.

    A stable sort keeps tied values in the order given, ascending ids.
    """
    return ids[np.argsort(-values, kind="stable")]


def _logsumexp(values: np.ndarray) -> float:
    top = float(values.max())
    return top + math.log(float(np.exp(values - np.float32(top)).sum(dtype=np.float64)))


def sampled_distribution(
    logits: np.ndarray, params: GenerationParams, history: Sequence[int] = (), allowed: np.ndarray | None = None
) -> SampledDistribution:
    """Apply the sampler chain to a full logits vector (``history``: the tokens generated so far).

    ``logits`` is 1-D (float32 preferred; it is not modified or copied unless
    the repeat penalty changes it). ``allowed`` is a ``json_schema``'s mask
    (:class:`~assistant.structured.constraint.JsonConstraint`): it comes first,
    as the engines apply it, so the chain runs over the allowed tokens only;
    the *model* numbers stay those of the raw logits.
    """
    raw = logits if logits.dtype in (np.float32, np.float64) else logits.astype(np.float32)
    if allowed is not None:
        return _masked_distribution(raw, params, history, allowed)
    log_z = _logsumexp(raw)
    x = apply_repeat_penalty(raw, history, params.repeat_penalty)
    penalized = x is not raw
    vocab = len(x)
    if params.greedy:
        pick = int(np.argmax(x))
        ids = np.array([pick], dtype=np.int64)
        return SampledDistribution(raw, log_z, ids, np.ones(1), None, True, None if penalized else ids)
    k = params.top_k if 0 < params.top_k < vocab else vocab
    top_k_ids: np.ndarray | None = None
    if k < vocab:
        ranked = top_indices(x, k)
        top_k_ids = ranked
        values = x[ranked].astype(np.float64)
        keep = top_p_kept(values, values, params.top_p)
    elif params.top_p < 1.0:
        ranked, keep = _widening_top_p(x, params.top_p)
    else:
        ranked = np.arange(vocab)
        keep = vocab
    kept = ranked[:keep]
    scaled = x[kept].astype(np.float64) / params.temperature
    scaled -= scaled.max()
    p = np.exp(scaled)
    p /= p.sum()
    if keep == vocab and k == vocab:
        ranked_raw = None  # id order, not a ranking
    else:
        ranked_raw = None if penalized else ranked
    return SampledDistribution(raw, log_z, kept, p, top_k_ids, False, ranked_raw)


def _masked_distribution(
    raw: np.ndarray, params: GenerationParams, history: Sequence[int], allowed: np.ndarray
) -> SampledDistribution:
    """:func:`sampled_distribution` over the ``allowed`` tokens: the chain runs on that subset, ids mapped back."""
    ids = np.flatnonzero(allowed[: len(raw)])
    x = apply_repeat_penalty(raw, history, params.repeat_penalty)[ids]
    inner = sampled_distribution(x, params)
    top_k_ids = ids[inner._top_k_ids] if inner._top_k_ids is not None else None
    return SampledDistribution(
        raw, _logsumexp(raw), ids[inner.kept_ids], inner.kept_p, top_k_ids, inner.greedy, None, allowed
    )


def _float32_total(values: np.ndarray) -> np.float32:
    """``exp(value - max)`` over ``values``, added one by one in float32 as llama.cpp's softmax adds them."""
    return np.cumsum(np.exp((values - values.max()).astype(np.float32)), dtype=np.float32)[-1]


def _top_p_cumulative(sorted_values: np.ndarray, top: float, total: np.float32) -> np.ndarray:
    """The running total of the (descending) values' probabilities ``exp(value - top) / total``, in float32.

    The arithmetic of llama.cpp's top-p (float32 probabilities normalized by
    division, added one by one, compared with the float32 ``p``), so that a cut
    at a boundary falls where the engine's does: normalized in float64 by
    ``exp(value - log_mass)``, two tokens tied at the top came to
    0.49999999999999994 each, and ``top_p=0.5`` kept both here where llama.cpp
    (0.5, reached) keeps one; 40 tied tokens under ``top_p=0.75`` kept 30, llama.cpp 31.
    ``assistant next`` then gave a sampled probability to a token the engine never draws.
    """
    probs = np.exp((sorted_values - top).astype(np.float32)) / total
    return np.cumsum(probs, dtype=np.float32)


def top_p_kept(ranked: np.ndarray, entering: np.ndarray, top_p: float) -> int:
    """How many of ``ranked`` (descending) top-p keeps; ``entering`` is what the chain hands top-p, in the
    order llama.cpp adds it up (the top-k survivors ranked, or the whole vocabulary in id order).

    One definition for ``assistant next`` and the transformers backend's sampler, so the two cut where the
    engine does: the sampler's ``softmax`` and ``cumsum`` (which adds float32 in double on the CPU) kept 30
    of 40 tied tokens under ``top_p=0.75`` where llama.cpp and this view keep 31.
    """
    return _top_p_keep(ranked.astype(np.float64), _float32_total(entering), top_p)


def _top_p_keep(sorted_values: np.ndarray, total: np.float32, top_p: float) -> int:
    """How many of the (descending) values top-p keeps; ``exp(value - max)`` sums to ``total`` over them."""
    if top_p >= 1.0:
        return len(sorted_values)
    cumulative = _top_p_cumulative(sorted_values, float(sorted_values[0]), total)
    first = int(np.searchsorted(cumulative, np.float32(top_p), side="left"))
    return max(1, min(first + 1, len(sorted_values)))


def _widening_top_p(x: np.ndarray, top_p: float) -> tuple[np.ndarray, int]:
    """Top-p over the whole vocabulary, sorting only a widening prefix of it."""
    vocab = len(x)
    top = float(x.max())
    total = _float32_total(x)
    window = _FIRST_WINDOW
    while True:
        ranked = top_indices(x, window)
        values = x[ranked].astype(np.float64)
        cumulative = _top_p_cumulative(values, top, total)
        first = int(np.searchsorted(cumulative, np.float32(top_p), side="left"))
        if first < len(ranked) or len(ranked) >= vocab:
            return ranked, max(1, min(first + 1, len(ranked)))
        window *= 4


def token_numbers(
    dist: SampledDistribution, chosen: int, top: int
) -> tuple[float, float, list[tuple[int, float, float]]]:
    """The chosen token's (model logprob, p_sampled) and the ``top`` alternatives' ``(id, logprob, p_sampled)``."""
    alternatives = [(int(t), dist.logprob(t), dist.p_sampled(t)) for t in dist.top_ids(top).tolist()]
    return dist.logprob(chosen), dist.p_sampled(chosen), alternatives


def next_token(
    logits: np.ndarray,
    params: GenerationParams,
    text_of: Any,
    *,
    top: int = 10,
    prompt_tokens: int = 0,
    history: Sequence[int] = (),
) -> NextToken:
    """The :class:`NextToken` record for one logits vector; ``text_of(id) -> str`` names tokens."""
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:  # top=0 gave an empty list, silently
        raise ConfigError(f"top must be a whole number of candidates, at least 1, not {top!r}")
    dist = sampled_distribution(logits, params, history)
    scores = apply_repeat_penalty(dist.logits, history, params.repeat_penalty)
    greedy_id = int(np.argmax(scores))  # the first maximum, as llama.cpp's greedy sampler and torch.argmax
    return NextToken(
        prompt_tokens=prompt_tokens,
        vocab_size=dist.vocab_size,
        entropy_bits=dist.entropy_bits(),
        greedy=dist.candidate(greedy_id, text_of(greedy_id)),
        candidates=[dist.candidate(t, text_of(t)) for t in dist.top_ids(top).tolist()],
        kept=len(dist.kept_ids),
        kept_mass=dist.kept_mass(),
        params=params,
        greedy_ties=int(np.count_nonzero(scores == scores[greedy_id])),
    )


def explain(
    alternatives: Sequence[TopAlternative],
    params: GenerationParams,
    complete: bool,
    history: Sequence[int] = (),
) -> list[Candidate]:
    """What the settings do to each alternative, most likely first.

    ``alternatives`` are the most likely tokens of one step's *model*
    distribution (any order; ``logprob`` normalized over the whole
    vocabulary). ``complete=True`` says they are the whole vocabulary. Where a
    sampled probability depends on tokens outside the list, it is ``None``.
    A repeat penalty with a non-empty ``history`` needs the logits themselves
    (it acts on their sign), so then every number is ``None``. Tokens of one
    log-probability are ordered lowest id first, as greedy decoding breaks ties.
    """
    ordered = sorted(alternatives, key=lambda a: (-a.logprob, a.token_id))
    n = len(ordered)
    if n == 0:
        return []
    if params.repeat_penalty != 1.0 and penalty_window(history):
        return [Candidate(a.token_id, a.token, a.logprob, None, None, None) for a in ordered]
    if params.greedy:
        return [
            Candidate(a.token_id, a.token, a.logprob, 1.0 if i == 0 else 0.0, None if i == 0 else "greedy", i == 0)
            for i, a in enumerate(ordered)
        ]
    logprobs = np.array([a.logprob for a in ordered], dtype=np.float64)
    probs = np.exp(logprobs)
    listed = float(probs.sum())
    total = listed if complete else 1.0
    p_last = float(probs[-1])
    k = max(0, params.top_k)
    if complete and k >= n:
        k = 0
    # 1. top-k: which listed tokens it keeps, and bounds on the mass of everything it keeps
    if k and k <= n:
        in_top_k = k
        mass_low = mass_high = float(probs[:k].sum())
        top_k_inside = True
    elif k:
        in_top_k = n
        mass_low, mass_high = listed, min(total, listed + (k - n) * p_last)
        top_k_inside = complete
    else:
        in_top_k = n
        mass_low = mass_high = total
        top_k_inside = complete
    # 2. top-p on the untempered distribution of what top-k left
    state: list[bool | None] = [True] * in_top_k  # kept (True), cut (False), unknown (None)
    keep: int | None = in_top_k if top_k_inside else None
    if params.top_p < 1.0:
        keep = None
        cumulative = np.cumsum(probs[:in_top_k])
        surely = [bool(c >= params.top_p * mass_high) for c in cumulative]  # reached whatever the mass
        maybe = [bool(c >= params.top_p * mass_low) for c in cumulative]  # reached for some possible mass
        first_sure = surely.index(True) if True in surely else None
        first_maybe = maybe.index(True) if True in maybe else None
        if first_sure is not None and first_sure == first_maybe:
            keep = first_sure + 1  # the cut-off is known
        elif first_maybe is None:
            keep = in_top_k if top_k_inside else None  # never reached inside the list: all listed kept
        if keep is not None:
            state = [i < keep for i in range(in_top_k)]
        else:
            start = first_maybe + 1 if first_maybe is not None else in_top_k
            end = first_sure + 1 if first_sure is not None else in_top_k
            state = [True] * start + [None] * (end - start) + [False] * (in_top_k - end)
    elif keep is None and k == 0 and params.temperature == 1.0:
        keep = -1  # nothing truncated, no temperature: the sampled distribution is the model's
    out: list[Candidate] = []
    log_norm = 0.0
    if keep is not None and keep > 0:
        kept = logprobs[:keep] / params.temperature
        log_norm = float(kept.max()) + math.log(float(np.exp(kept - kept.max()).sum()))
    for i, alt in enumerate(ordered):
        if i >= in_top_k:
            out.append(Candidate(alt.token_id, alt.token, alt.logprob, 0.0, "top-k", False))
            continue
        known = state[i]
        if known is False:
            out.append(Candidate(alt.token_id, alt.token, alt.logprob, 0.0, "top-p", False))
        elif keep is not None and known:
            p = math.exp(alt.logprob / params.temperature - log_norm)
            out.append(Candidate(alt.token_id, alt.token, alt.logprob, p, None, True))
        else:
            out.append(Candidate(alt.token_id, alt.token, alt.logprob, None, None, known))
    return out

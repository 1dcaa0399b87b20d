"""Token sampling in torch with llama.cpp's semantics, so params mean the same on both engines.

llama-cpp-python builds this sampler chain (``Llama._init_sampler``), which we
reproduce step by step:

0. a ``json_schema``'s mask, when there is one: the backend sets disallowed
   tokens to -inf before calling the sampler (on llama-cpp the same mask is
   the chain's first, custom sampler), so every step below runs over the
   tokens the schema allows (:mod:`assistant.structured.constraint`);
1. repeat penalty over the last ``last_n`` (64) *generated* tokens — llama.cpp's
   sampler only sees accepted tokens, not the prompt: a positive logit is
   divided by the penalty, a negative one multiplied;
2. greedy (``temperature == 0``): argmax, first index on ties — done;
3. top-k (``k <= 0`` disables it); of tokens tied at the cut, the lowest ids are kept
   (:func:`ranked_top`), as :func:`assistant.inspect.distribution.top_indices` keeps them;
4. top-p on the *untempered* distribution of what top-k left: keep the
   shortest prefix whose probability reaches ``p`` (at least one token);
5. min-p 0 and typical-p 1 are no-ops, as llama-cpp passes them;
6. temperature, softmax, one draw from a seeded generator.

:mod:`assistant.inspect.distribution` defines the same chain in numpy, for the
per-token *sampled* probabilities; tests hold the two to the same numbers.

The random streams differ between engines, so a seed reproduces a run on the
same backend, not across backends; greedy decoding is identical everywhere.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Any

from ...inspect.distribution import PENALISED_LOGIT_LIMIT, PENALTY_LAST_N
from ...types import GenerationParams


class Sampler:
    """Picks the next token from a logits vector; keeps the penalty window and the RNG."""

    def __init__(self, params: GenerationParams, device: Any = "cpu", last_n: int = PENALTY_LAST_N) -> None:
        import torch

        self.params = params
        self.history: deque[int] = deque(maxlen=last_n)
        seed = params.seed if params.seed is not None else random.randrange(2**31)
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(int(seed))
        self.last: tuple[Any, Any] | None = None
        """The distribution the last token was drawn from (see :meth:`distribution`)."""

    def __call__(self, logits: Any) -> int:
        """``logits``: 1-D float tensor over the vocabulary (not modified)."""
        import torch

        ids, probs = self.distribution(logits)
        if self.params.greedy:
            token = int(ids[0])
        else:
            choice = int(torch.multinomial(probs, 1, generator=self.generator))
            token = int(ids[choice]) if ids is not None else choice
        self.last = (ids, probs)
        self.history.append(token)
        return token

    def distribution(self, logits: Any) -> tuple[Any, Any]:
        """The sampled distribution at this step: ``(ids, probs)``, ``ids`` None when it spans the vocabulary.

        The torch twin of :func:`assistant.inspect.distribution.sampled_distribution`
        (tests hold the two to the same kept set and probabilities); it reads
        the penalty window but does not change it.
        """
        import torch

        params = self.params
        if params.repeat_penalty != 1.0 and self.history:
            logits = logits.clone()
            ids = torch.tensor(sorted(set(self.history)), device=logits.device)
            values = logits[ids]
            penalised = torch.where(values <= 0, values * params.repeat_penalty, values / params.repeat_penalty)
            # a tiny penalty overflowed to inf (NaN probabilities): held as the numpy twin holds it
            logits[ids] = penalised.clamp(-PENALISED_LOGIT_LIMIT, PENALISED_LOGIT_LIMIT)
        if params.greedy:
            token = torch.argmax(logits).reshape(1)
            return token, torch.ones(1, device=logits.device)
        vocab = logits.shape[-1]
        if 0 < params.top_k < vocab:
            values, ids = ranked_top(logits, params.top_k)
            entering = values.double()  # what top-p adds up, as llama.cpp does: the survivors, ranked
        elif params.top_p < 1.0:
            values, ids = torch.sort(logits, descending=True, stable=True)  # ties lowest id first, as top-k
            entering = logits.float()  # unranked: llama.cpp's softmax adds the vocabulary in id order
        else:
            values, ids = logits, None
        if params.top_p < 1.0:
            from ...inspect.distribution import top_p_kept

            # llama.cpp's float32 arithmetic, from the one definition ``assistant next`` uses: ``softmax`` and
            # ``cumsum`` here (double on the CPU) cut between tied tokens where the engine does not. One
            # transfer of the step's numbers, where ``int(searchsorted(...))`` waited for the device as well.
            keep = top_p_kept(values.float().cpu().numpy(), entering.cpu().numpy(), params.top_p)
            values, ids = values[:keep], ids[:keep] if ids is not None else None
        return ids, torch.softmax(values.float() / params.temperature, dim=-1)


def ranked_top(values: Any, count: int) -> tuple[Any, Any]:
    """The ``count`` largest of ``values`` (1-D) and their ids: largest first, ties lowest id first.

    ``torch.topk`` leaves which of tied values it takes unspecified: of four tokens tied
    at a top-k cut of three, it kept ids 2, 4 and 5 where llama.cpp, ``assistant next`` and
    the numpy twin (:func:`assistant.inspect.distribution.top_indices`) keep 1, 2 and 4, so
    ``top_k`` kept other tokens on this backend. ``topk`` still finds the cut's value
    (no sort of the whole vocabulary per token); only the tokens at or above it are ranked.

    Every step stays on the device, of shapes known beforehand: ``nonzero`` (a shape
    that depends on the data) and ``numel`` of it waited for the GPU, twice per token
    while streaming with log-probs, before the one transfer of the step's numbers.
    """
    import torch

    count = min(count, values.shape[-1])
    found, found_ids = torch.topk(values, count)
    if count <= 0:
        return found, found_ids
    kth = found[-1]
    above = values > kth
    tied = values == kth
    # the tied tokens in id order, as many as the cut leaves room for: the lowest ids
    room = count - above.sum()
    chosen = above | (tied & (torch.cumsum(tied, dim=-1) <= room))
    # exactly ``count`` chosen: topk of the 0/1 mask gives their ids (in no order), sorted into id order
    ids = torch.sort(torch.topk(chosen.to(torch.uint8), count).indices).values
    order = torch.sort(values[ids], descending=True, stable=True).indices  # equal values sit in id order
    ids = ids[order]
    # NaN logits compare with nothing (fewer than ``count`` chosen): topk's own answer, as before
    whole = chosen.sum() == count
    return torch.where(whole, values[ids], found), torch.where(whole, ids, found_ids)


def token_numbers(
    logits: Any, token: int, count: int, sampled: tuple[Any, Any] | None
) -> tuple[float, float | None, list[tuple[int, float, float | None]]]:
    """The model log-probability and sampled probability of ``token``, and the ``count`` most likely tokens'.

    The model numbers come from the raw logits (before penalty, truncation and
    temperature), as on llama-cpp; ``sampled`` is the step's
    :meth:`Sampler.distribution` (``None``: sampled probabilities unknown).
    """
    import torch

    logprobs = torch.log_softmax(logits.float(), dim=-1)
    _, ids = ranked_top(logprobs, count)  # alternatives tied in logprob listed as greedy breaks ties
    wanted = torch.cat([torch.tensor([token], device=ids.device), ids])
    columns = [logprobs[wanted], wanted.double()]  # ids up to 2**53 are exact in a double
    if sampled is not None:
        kept_ids, kept_p = sampled
        if kept_ids is None:
            columns.append(kept_p[wanted])
        else:
            match = wanted[:, None] == kept_ids[None, :]
            columns.append((match.float() * kept_p[None, :]).sum(dim=1))
    # One transfer for the step (a float32 is exact in a double): a .tolist() per column and a float() of
    # the token's log-prob each waited for the GPU, on every streamed token.
    rows = torch.stack([column.double() for column in columns], dim=1).tolist()
    p_sampled = [row[2] if sampled is not None else None for row in rows]
    top = [(int(row[1]), row[0], p) for row, p in zip(rows[1:], p_sampled[1:])]
    return rows[0][0], p_sampled[0], top

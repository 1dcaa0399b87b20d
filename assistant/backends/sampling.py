"""Token sampling in torch with llama.cpp's semantics, so params mean the same on both engines.

llama-cpp-python builds this sampler chain (``Llama._init_sampler``), which we
reproduce step by step:

1. repeat penalty over the last ``last_n`` (64) *generated* tokens — llama.cpp's
   sampler only sees accepted tokens, not the prompt: a positive logit is
   divided by the penalty, a negative one multiplied;
2. greedy (``temperature == 0``): argmax, first index on ties — done;
3. top-k (``k <= 0`` disables it);
4. top-p on the *untempered* distribution of what top-k left: keep the
   shortest prefix whose probability reaches ``p`` (at least one token);
5. min-p 0 and typical-p 1 are no-ops, as llama-cpp passes them;
6. temperature, softmax, one draw from a seeded generator.

The random streams differ between engines, so a seed reproduces a run on the
same backend, not across backends; greedy decoding is identical everywhere.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Any

from ..types import GenerationParams

PENALTY_LAST_N = 64  # llama-cpp-python's last_n_tokens_size default


class Sampler:
    """Picks the next token from a logits vector; keeps the penalty window and the RNG."""

    def __init__(self, params: GenerationParams, device: Any = "cpu", last_n: int = PENALTY_LAST_N) -> None:
        import torch

        self.params = params
        self.history: deque[int] = deque(maxlen=last_n)
        seed = params.seed if params.seed is not None else random.randrange(2**31)
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(int(seed))

    def __call__(self, logits: Any) -> int:
        """``logits``: 1-D float tensor over the vocabulary (not modified)."""
        import torch

        params = self.params
        if params.repeat_penalty != 1.0 and self.history:
            logits = logits.clone()
            ids = torch.tensor(sorted(set(self.history)), device=logits.device)
            values = logits[ids]
            logits[ids] = torch.where(values <= 0, values * params.repeat_penalty, values / params.repeat_penalty)
        if params.greedy:
            token = int(torch.argmax(logits))
        else:
            token = self._sample(logits)
        self.history.append(token)
        return token

    def _sample(self, logits: Any) -> int:
        import torch

        params = self.params
        vocab = logits.shape[-1]
        if 0 < params.top_k < vocab:
            values, ids = torch.topk(logits, params.top_k)  # sorted, descending
        elif params.top_p < 1.0:
            values, ids = torch.sort(logits, descending=True)
        else:
            values, ids = logits, None
        if params.top_p < 1.0:
            probs = torch.softmax(values.float(), dim=-1)
            cumulative = torch.cumsum(probs, dim=-1)
            # first index where the running total reaches p; keep it and everything before
            keep = int(torch.searchsorted(cumulative, torch.tensor([params.top_p], device=cumulative.device)))
            keep = max(1, min(keep + 1, values.shape[-1]))
            values, ids = values[:keep], ids[:keep] if ids is not None else None
        probs = torch.softmax(values.float() / params.temperature, dim=-1)
        choice = int(torch.multinomial(probs, 1, generator=self.generator))
        return int(ids[choice]) if ids is not None else choice


def top_logprobs(logits: Any, token: int, count: int) -> tuple[float, list[tuple[int, float]]]:
    """The model's log-probability of ``token`` and the ``count`` most likely tokens.

    Like the llama-cpp backend, these come from the raw logits (before penalty,
    truncation and temperature): they describe the model, not the sampler.
    """
    import torch

    logprobs = torch.log_softmax(logits.float(), dim=-1)
    values, ids = torch.topk(logprobs, min(count, logprobs.shape[-1]))
    return float(logprobs[token]), [(int(i), float(v)) for i, v in zip(ids.tolist(), values.tolist())]

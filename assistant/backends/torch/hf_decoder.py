"""Decoding through the HF model's own forward, for architectures the native decoder lacks.

Same contract as :class:`~assistant.backends.torch.native_decoder.NativeDecoder`:
``forward(ids, start)`` evaluates ``ids`` at positions ``start…`` on top of a
cache that holds the first ``start`` tokens. HF caches cannot always be cut
back (sliding-window layers drop old entries), so a request that starts
before the cache's end rebuilds the cache from the remembered tokens.
"""

from __future__ import annotations

import inspect
from typing import Any

PREFILL_CHUNK = 512


def cache_keyword(model: Any) -> str:
    """The name ``model.forward`` takes its KV cache under.

    Recent transformers 5.x call it ``cache`` and warn that ``past_key_values``
    (the name of earlier 5.x releases) goes away in 5.40.
    """
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


class HFDecoder:
    kind = "hf"

    def __init__(self, model: Any, max_positions: int) -> None:
        self.model = model
        self.max_positions = max_positions
        self.device = model.device
        self._cache: Any = None
        self._tokens: list[int] = []
        self._cache_keyword = cache_keyword(model)

    def reset(self) -> None:
        self._cache = None
        self._tokens = []

    def reference_logits(self, ids: list[int]) -> Any:
        """Logits for every position of ``ids`` from a fresh, cache-less forward."""
        import torch

        with torch.inference_mode():
            out = self.model(input_ids=torch.tensor([ids], device=self.device), use_cache=False)
        return out.logits[0].float()

    def forward(self, ids: list[int], start: int, all_logits: bool = False) -> Any:
        import torch

        if start + len(ids) > self.max_positions:
            raise ValueError(f"{start + len(ids)} positions exceed the context of {self.max_positions}")
        with torch.inference_mode():
            if start != len(self._tokens) or self._cache is None:
                kept = self._tokens[:start]
                self.reset()
                if kept:
                    self._run(kept, 0, False)
            logits = self._run(ids, start, all_logits)
        return logits

    def _run(self, ids: list[int], start: int, all_logits: bool) -> Any:
        import torch
        from transformers import DynamicCache

        if self._cache is None:
            self._cache = DynamicCache(config=self.model.config)
        outputs = []
        for offset in range(0, len(ids), PREFILL_CHUNK):
            chunk = ids[offset : offset + PREFILL_CHUNK]
            begin = start + offset
            positions = torch.arange(begin, begin + len(chunk), device=self.device)
            out = self.model(
                input_ids=torch.tensor([chunk], device=self.device),
                position_ids=positions[None],
                use_cache=True,
                logits_to_keep=0 if all_logits else 1,
                **{self._cache_keyword: self._cache},
            )
            outputs.append(out.logits[0].float())
            self._tokens.extend(chunk)
        return torch.cat(outputs) if all_logits else outputs[-1]

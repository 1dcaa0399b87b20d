"""The decoder's one-sequence KV cache, and which tokens it holds: prompt-prefix reuse.

Apart from :mod:`.backend` because every model call there (generation,
``score``, forced tokens for the token view) goes through the same rule: only
the part of a prompt the cache does not already hold is evaluated, so a chat's
next turn or a second label re-reads only what changed. The decoders
(:mod:`.native_decoder`, :mod:`.hf_decoder`) keep the keys/values by position;
this object keeps the token ids of those positions, and the logits at the end
of recently evaluated prompts, so asking for the same prompt again gives
bit-identical numbers instead of re-running the last position in a different
batch shape (which changes the last float bits).

Not thread-safe on its own: the backend holds its lock around every use.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

from ...errors import BackendError
from ..prompt_reuse import common_prefix

MAX_SNAPSHOTS = 4
"""Prompts whose final logits are kept (a retry, ``score`` twice, streamed vs complete)."""
FORCED_CHUNK = 32
"""Forced tokens per forward in :meth:`PromptCache.forced_rows`: chunk × vocabulary floats of logits at once."""


class PromptCache:
    """Evaluates token ids through ``decoder``, re-using the positions its cache already holds."""

    def __init__(self, decoder: Any) -> None:
        self.decoder = decoder
        self.cached: list[int] = []
        """Token ids whose keys/values the decoder's cache holds, by position."""
        self.snapshots: dict[tuple[int, ...], Any] = {}
        """Prompt ids -> the logits after them."""

    def truncate(self, length: int) -> None:
        """Forget cached positions from ``length`` on (they will be overwritten)."""
        self.cached = self.cached[:length]
        for key in [k for k in self.snapshots if len(k) > length]:
            del self.snapshots[key]

    def evaluate(self, ids: list[int]) -> Any:
        """Logits after ``ids``, re-evaluating only what the cache does not already hold."""
        if not ids:
            raise BackendError("the prompt is empty: there is nothing to continue from")
        key = tuple(ids)
        common = common_prefix(self.cached, ids)
        if key in self.snapshots and common >= len(ids):
            self.truncate(len(ids))
            return self.snapshots[key]
        reuse = min(common, len(ids) - 1)
        self.truncate(reuse)
        logits = self.decoder.forward(ids[reuse:], reuse)[-1]
        self.cached = list(ids)
        self.snapshots[key] = logits
        while len(self.snapshots) > MAX_SNAPSHOTS:
            del self.snapshots[next(iter(self.snapshots))]
        return logits

    def step(self, token: int) -> Any:
        """Logits after one more token at the end of what the cache holds."""
        logits = self.decoder.forward([token], len(self.cached))
        self.cached.append(token)
        return logits[-1]

    def prefill(self, ids: list[int], chunk: int, cancelled: Callable[[], bool]) -> bool:
        """Evaluate the prompt's whole chunks one call at a time; False if cancelled between two.

        The chunks are the ones the decoder runs in one ``forward`` (from the
        first position the cache lacks, ``chunk`` long), and the rest (at most
        one chunk, with the last token) is left to :meth:`evaluate`, so the
        numbers do not change; only a cancel can now come in between.
        """
        reuse = min(common_prefix(self.cached, ids), len(ids) - 1)
        whole = (len(ids) - 1 - reuse) // chunk
        if whole == 0:
            return not cancelled()
        self.truncate(reuse)
        for start in range(reuse, reuse + whole * chunk, chunk):
            if cancelled():
                return False
            self.decoder.forward(ids[start : start + chunk], start)
            self.cached = list(ids[: start + chunk])
        return not cancelled()

    def forced_rows(
        self, prompt_ids: list[int], tokens: list[int], chunk: int, cancelled: Callable[[], bool]
    ) -> Iterator[Any]:
        """Logits (float32 numpy) after the prompt, then after each forced token, ``FORCED_CHUNK`` per forward.

        The prompt is read as :meth:`prefill` reads it, ``chunk`` tokens per forward: a cancel
        between two ends the rows before the first (``next`` on a long prompt waited for all of it).
        """
        if not self.prefill(prompt_ids, chunk, cancelled):
            return
        yield self.evaluate(prompt_ids).float().cpu().numpy()
        done = 0
        while done < len(tokens):
            if cancelled():
                return
            chunk = tokens[done : done + FORCED_CHUNK]
            start = len(prompt_ids) + done
            self.truncate(start)
            rows = self.decoder.forward(chunk, start, all_logits=True).float().cpu().numpy()
            self.cached = list(prompt_ids) + tokens[: done + len(chunk)]
            done += len(chunk)
            yield from rows

    def continuation_logprob(self, prefix: list[int], tokens: list[int], first: Any) -> float:
        """Summed log-probability of ``tokens`` after ``prefix``; ``first`` holds the log-probs after ``prefix``."""
        import torch

        if not tokens:
            return 0.0
        total = float(first[tokens[0]])
        if len(tokens) > 1:
            self.truncate(len(prefix))
            logits = self.decoder.forward(tokens[:-1], len(prefix), all_logits=True)
            self.cached = prefix + tokens[:-1]
            logprobs = torch.log_softmax(logits, dim=-1)
            rows = torch.arange(len(tokens) - 1, device=logprobs.device)
            picked = logprobs[rows, torch.tensor(tokens[1:], device=logprobs.device)]
            total += float(picked.double().sum())
        return total

"""Turning a stream of tokens or server events into text: the mechanics every backend shares.

UTF-8-safe detokenization, stop sequences held back until they can no longer
match, timings, and collecting a stream into one :class:`~assistant.types.Completion`
(so streamed and non-streamed replies are the same text). Local engines use them
through :class:`~assistant.backends.base.TokenLoopBackend`; the openai backend
uses them directly.
"""

from __future__ import annotations

import codecs
from typing import Iterator, Sequence

from ..types import Chunk, Completion, Timings, TokenLogprob, Usage

__all__ = ["StopMatcher", "Utf8Detokenizer", "collect", "make_timings"]


def collect(stream: Iterator[Chunk], model: str, backend: str) -> Completion:
    """Concatenate a stream into a :class:`Completion` (so both paths give the same text)."""
    parts: list[str] = []
    token_ids: list[int] = []
    logprobs: list[TokenLogprob] = []
    final = Chunk(finish_reason="stop")
    for chunk in stream:
        parts.append(chunk.text)
        token_ids.extend(chunk.token_ids)
        logprobs.extend(chunk.logprobs)
        if chunk.finish_reason is not None:
            final = chunk
    return Completion(
        text="".join(parts),
        model=model,
        backend=backend,
        finish_reason=final.finish_reason or "stop",
        usage=final.usage or Usage(),
        timings=final.timings or Timings(),
        token_ids=token_ids,
        logprobs=logprobs,
        incomplete_bytes=final.incomplete_bytes,
    )


class Utf8Detokenizer:
    """Turns token byte pieces into text without ever splitting a multi-byte character.

    Tokens can end in the middle of a UTF-8 sequence (emoji, CJK); the incremental
    decoder holds those bytes back until the character is complete. When
    generation stops with a character still incomplete (``max_tokens`` reached
    after the first of an emoji's two tokens), :meth:`flush` drops those bytes
    and counts them in :attr:`dropped` instead of emitting U+FFFD, which would
    end up in the reply, the ``--json`` text and the history.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.dropped = 0

    def feed(self, piece: bytes) -> str:
        return self._decoder.decode(piece)

    def flush(self) -> str:
        """End of the text: nothing more to emit; an unfinished character's bytes are dropped."""
        pending, _ = self._decoder.getstate()
        self.dropped = len(pending)
        self._decoder.reset()
        return ""


class StopMatcher:
    """Finds stop sequences in streamed text, holding back text that might start one.

    ``push`` returns (text safe to emit, stopped). Held-back text is released by
    ``flush`` when generation ends for another reason.
    """

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = [s for s in stops if s]
        self._pending = ""

    def push(self, text: str) -> tuple[str, bool]:
        if not self._stops:
            return text, False
        self._pending += text
        earliest = -1
        for stop in self._stops:
            index = self._pending.find(stop)
            if index != -1 and (earliest == -1 or index < earliest):
                earliest = index
        if earliest != -1:
            out = self._pending[:earliest]
            self._pending = ""
            return out, True
        hold = 0
        for stop in self._stops:
            for size in range(min(len(stop) - 1, len(self._pending)), 0, -1):
                if self._pending.endswith(stop[:size]):
                    hold = max(hold, size)
                    break
        cut = len(self._pending) - hold
        out, self._pending = self._pending[:cut], self._pending[cut:]
        return out, False

    def flush(self) -> str:
        out, self._pending = self._pending, ""
        return out


def make_timings(
    start: float, first_at: float | None, last_at: float, end: float, generated: int
) -> Timings:
    """TTFT from request to first token; tok/s over the decode after the first token."""
    ttft_ms = (first_at - start) * 1000 if first_at is not None else None
    if first_at is not None and generated > 1 and last_at > first_at:
        tps = (generated - 1) / (last_at - first_at)
    elif generated and end > start:
        tps = generated / (end - start)
    else:
        tps = None
    return Timings(ttft_ms=ttft_ms, tokens_per_second=tps, duration_ms=(end - start) * 1000)

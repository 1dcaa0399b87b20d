"""The one backend protocol, and the token-loop machinery local backends share.

Callers only ever use :class:`Backend`; they never branch on the concrete type.
Local engines (llama.cpp, transformers) subclass :class:`TokenLoopBackend` and
implement a handful of primitives (tokenize, token bytes, sample the next
token, score); the base turns those into the full protocol so that stop
sequences, UTF-8 safety, cancellation, usage and timings behave identically on
every engine. A remote backend implements :class:`Backend` directly.
"""

from __future__ import annotations

import codecs
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Iterator, Protocol, Sequence, runtime_checkable

from ..errors import ContextOverflowError, NotSupportedError
from ..types import (
    AttentionMaps,
    Chunk,
    Completion,
    FinishReason,
    GenerationParams,
    Message,
    Timings,
    TokenLogprob,
    TopAlternative,
    Usage,
)

Prompt = Sequence[Message] | str
"""Chat messages (rendered with the model's chat template) or raw text (fed as is)."""


@dataclass(frozen=True)
class Capabilities:
    """What a loaded backend can do, as typed fields: callers read these, never ``info()`` keys.

    A front end decides what to offer from here (a token view needs ``logprobs``,
    the attention view ``attention``) instead of calling and catching
    :class:`~assistant.errors.NotSupportedError`.
    """

    streaming: bool = True
    score: bool = True
    """``score()`` gives real log-likelihoods (label scoring)."""
    logprobs: bool = True
    """Per-token *model* log-probabilities and top alternatives while generating."""
    sampled_probs: bool = True
    """Per-token probability under the *sampled* distribution (after the settings)."""
    next_token: bool = True
    """The full next-token distribution after a prompt, and teacher-forced token scoring."""
    attention: bool = False
    """``attention()`` returns attention weights."""
    constrained: bool = False
    """Decoding constrained to a JSON schema."""
    exact_token_count: bool = True
    """``count_tokens`` is the model's own tokenizer, not an estimate."""
    engine_process: bool = False
    """The model runs in a process of its own (the app's process stays free to draw)."""


@runtime_checkable
class Backend(Protocol):
    """What every inference backend provides. Sampling params mean the same everywhere."""

    name: str

    @property
    def model_name(self) -> str: ...

    @property
    def context_length(self) -> int: ...

    @property
    def capabilities(self) -> Capabilities:
        """What this backend can do with the loaded model (see :class:`Capabilities`)."""

    def load(self, model: str, **options: Any) -> None:
        """Load a catalog model name, a path, or (remote) a server-side model name."""

    def info(self) -> dict[str, Any]:
        """Model, device, context length and engine settings, for status bars and ``--json``."""

    def render_prompt(self, messages: Sequence[Message]) -> str:
        """The exact text the model sees for these messages, generation prompt included."""

    def prompt_token_ids(self, prompt: Prompt) -> list[int]:
        """Token ids fed to the model for this prompt (BOS included when the model wants it)."""

    def count_tokens(self, prompt: Prompt) -> int: ...

    def stream(self, prompt: Prompt, params: GenerationParams) -> Iterator[Chunk]:
        """Yield text chunks, then one final chunk with finish_reason, usage and timings."""

    def complete(self, prompt: Prompt, params: GenerationParams) -> Completion: ...

    def score(self, prompt: str, candidates: Sequence[str]) -> list[float]:
        """Log-likelihood (natural log, summed over tokens) of each continuation after ``prompt``."""

    def cancel(self) -> None:
        """Ask the running ``stream`` to stop; it finishes within one token with ``cancelled``."""

    def unload(self) -> None: ...


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
    )


class Utf8Detokenizer:
    """Turns token byte pieces into text without ever splitting a multi-byte character.

    Tokens can end in the middle of a UTF-8 sequence (emoji, CJK); the incremental
    decoder holds those bytes back until the character is complete.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, piece: bytes) -> str:
        return self._decoder.decode(piece)

    def flush(self) -> str:
        return self._decoder.decode(b"", final=True)


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


@dataclass
class SampledToken:
    """One token chosen by an engine, with optional log-probabilities."""

    token_id: int
    logprob: float | None = None
    top: list[tuple[int, float]] = field(default_factory=list)


class TokenLoopBackend(ABC):
    """Base for local engines: implements the protocol on top of token primitives."""

    name: str = "base"

    def __init__(self) -> None:
        self._cancel = threading.Event()
        self._model_name = ""

    # ---- primitives each engine implements -------------------------------------
    @property
    @abstractmethod
    def context_length(self) -> int: ...

    @abstractmethod
    def load(self, model: str, **options: Any) -> None: ...

    @abstractmethod
    def unload(self) -> None: ...

    @abstractmethod
    def render_prompt(self, messages: Sequence[Message]) -> str: ...

    @abstractmethod
    def tokenize_text(self, text: str) -> list[int]:
        """Tokenize rendered text, parsing special tokens and adding BOS if the model wants it."""

    @abstractmethod
    def token_bytes(self, token_id: int) -> bytes: ...

    @abstractmethod
    def is_end_of_generation(self, token_id: int) -> bool: ...

    @abstractmethod
    def sample_tokens(self, prompt_ids: list[int], params: GenerationParams) -> Iterator[SampledToken]:
        """Evaluate the prompt, then yield sampled tokens until the caller stops iterating.

        A long prompt takes seconds to evaluate on a CPU: engines evaluate it in
        chunks and return without yielding if :attr:`cancelled` is set between
        two, so Esc does not wait for the whole prompt.
        """

    @property
    def cancelled(self) -> bool:
        """Whether the running ``stream`` was asked to stop (engines check it between prompt chunks)."""
        return self._cancel.is_set()

    @abstractmethod
    def score(self, prompt: str, candidates: Sequence[str]) -> list[float]: ...

    # ---- the protocol, shared --------------------------------------------------
    capabilities_default = Capabilities()
    """Local engines form logits themselves, so they give every per-token number."""

    @property
    def capabilities(self) -> Capabilities:
        return self.capabilities_default

    @property
    def model_name(self) -> str:
        return self._model_name

    def info(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model_name, "context_length": self.context_length}

    def prompt_token_ids(self, prompt: Prompt) -> list[int]:
        text = prompt if isinstance(prompt, str) else self.render_prompt(prompt)
        return self.tokenize_text(text)

    def count_tokens(self, prompt: Prompt) -> int:
        return len(self.prompt_token_ids(prompt))

    def token_text(self, token_id: int) -> str:
        return self.token_bytes(token_id).decode("utf-8", errors="replace")

    def cancel(self) -> None:
        self._cancel.set()

    def complete(self, prompt: Prompt, params: GenerationParams) -> Completion:
        return collect(self.stream(prompt, params), self.model_name, self.name)

    def attention(self, prompt: Prompt, params: GenerationParams) -> AttentionMaps:
        """Attention weights of a generated response; only engines that can form them override this."""
        raise NotSupportedError(f"the {self.name} backend cannot return attention weights (-b transformers can)")

    def _logprob_entry(self, sampled: SampledToken) -> TokenLogprob:
        return TokenLogprob(
            token=self.token_text(sampled.token_id),
            token_id=sampled.token_id,
            logprob=float(sampled.logprob if sampled.logprob is not None else 0.0),
            top=[TopAlternative(self.token_text(t), t, float(lp)) for t, lp in sampled.top],
        )

    def stream(self, prompt: Prompt, params: GenerationParams) -> Iterator[Chunk]:
        self._cancel.clear()
        start = time.perf_counter()
        prompt_ids = self.prompt_token_ids(prompt)
        n_ctx = self.context_length
        if len(prompt_ids) >= n_ctx:
            raise ContextOverflowError(len(prompt_ids), n_ctx)
        budget = min(params.max_tokens, n_ctx - len(prompt_ids))
        detok = Utf8Detokenizer()
        stopper = StopMatcher(params.stop)
        finish: FinishReason = "length"
        hit_stop_sequence = False
        generated = 0
        first_at: float | None = None
        last_at = start
        tokens = self.sample_tokens(prompt_ids, params)
        try:
            for sampled in tokens:
                if self._cancel.is_set():
                    finish = "cancelled"
                    break
                now = time.perf_counter()
                if first_at is None:
                    first_at = now
                last_at = now
                if self.is_end_of_generation(sampled.token_id):
                    finish = "stop"
                    break
                generated += 1
                text, stopped = stopper.push(detok.feed(self.token_bytes(sampled.token_id)))
                logprobs = [self._logprob_entry(sampled)] if params.logprobs else []
                if text or logprobs or not stopped:
                    yield Chunk(text=text, token_ids=[sampled.token_id], logprobs=logprobs)
                if stopped:
                    finish = "stop"
                    hit_stop_sequence = True
                    break
                if self._cancel.is_set():
                    finish = "cancelled"
                    break
                if generated >= budget:
                    finish = "length"
                    break
            else:  # the engine stopped by itself: cancelled while it was still reading the prompt
                if self._cancel.is_set():
                    finish = "cancelled"
        finally:
            close = getattr(tokens, "close", None)
            if close is not None:
                close()
        tail = ""
        if not hit_stop_sequence:
            tail, hit_stop_sequence = stopper.push(detok.flush())
            if not hit_stop_sequence:
                tail += stopper.flush()
        end = time.perf_counter()
        yield Chunk(
            text=tail,
            finish_reason=finish,
            usage=Usage(prompt_tokens=len(prompt_ids), completion_tokens=generated),
            timings=make_timings(start, first_at, last_at, end, generated),
        )


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

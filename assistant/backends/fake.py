"""A fast, deterministic backend for tests and benchmarks (not registered by default).

It tokenizes UTF-8 bytes one byte per token, so it exercises the same multi-byte
safety, stop-sequence and cancellation paths as the real engines, in
microseconds. Register it from a test with::

    from assistant.backends.fake import FakeBackendPlugin
    from assistant.plugins import register_plugin
    register_plugin(FakeBackendPlugin(), name="fake")
"""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any, Callable, Iterator, Sequence

from ..errors import BackendError, ModelLoadError
from ..hookspecs import hookimpl
from ..types import GenerationParams, Message
from .base import SampledToken, TokenLoopBackend
from .chat_format import CHATML_TEMPLATE, render_chat_template

BOS, EOS = 256, 257
Reply = Callable[[list[int], GenerationParams], str]


def echo_reply(prompt_text: str) -> str:
    """Default reply: repeat the last user turn, so tests can see what was sent."""
    marker = "<|im_start|>user\n"
    last = prompt_text.rsplit(marker, 1)[-1].split("<|im_end|>", 1)[0]
    return f"Echo: {last}"


class FakeBackend(TokenLoopBackend):
    """Byte-level fake engine. ``reply`` decides the text; ``token_delay`` slows it down."""

    name = "fake"

    def __init__(
        self,
        reply: str | Callable[[str], str] | None = None,
        token_delay: float = 0.0,
        context_length: int = 2048,
    ) -> None:
        super().__init__()
        self.reply = reply
        self.token_delay = token_delay
        self._context_length = context_length
        self._loaded = False
        self.loaded_model: str | None = None
        self.calls: list[dict[str, Any]] = []

    @property
    def context_length(self) -> int:
        return self._context_length

    def load(self, model: str, **options: Any) -> None:
        if model.startswith("missing"):
            raise ModelLoadError(model, "no such file")
        self.token_delay = float(options.pop("token_delay", self.token_delay))
        self._context_length = int(options.pop("n_ctx", self._context_length))
        options.pop("progress", None)
        options.pop("verbose", None)
        self._loaded = True
        self._model_name = model
        self.loaded_model = model

    def unload(self) -> None:
        self._loaded = False

    def info(self) -> dict[str, Any]:
        return {**super().info(), "device": "cpu"}

    def render_prompt(self, messages: Sequence[Message]) -> str:
        return render_chat_template(CHATML_TEMPLATE, messages)

    def tokenize_text(self, text: str) -> list[int]:
        return [BOS, *text.encode("utf-8")]

    def token_bytes(self, token_id: int) -> bytes:
        return b"" if token_id >= 256 else bytes([token_id])

    def is_end_of_generation(self, token_id: int) -> bool:
        return token_id == EOS

    def _reply_text(self, prompt_text: str) -> str:
        if self.reply is None:
            return echo_reply(prompt_text)
        if callable(self.reply):
            return self.reply(prompt_text)
        return self.reply

    def sample_tokens(self, prompt_ids: list[int], params: GenerationParams) -> Iterator[SampledToken]:
        if not self._loaded:
            raise BackendError("no model loaded")
        prompt_text = bytes(t for t in prompt_ids if t < 256).decode("utf-8", errors="replace")
        self.calls.append({"prompt": prompt_text, "params": params})
        for byte in self._reply_text(prompt_text).encode("utf-8"):
            if self.token_delay:
                time.sleep(self.token_delay)
            top = [(byte, -0.1), ((byte + 1) % 256, -2.5)] if params.logprobs else []
            yield SampledToken(byte, -0.1, top[: params.logprobs])
        yield SampledToken(EOS, -0.01)

    def score(self, prompt: str, candidates: Sequence[str]) -> list[float]:
        """Deterministic: a candidate found in the last user turn scores highest."""
        last_turn = echo_reply(prompt).lower()
        scores = []
        for candidate in candidates:
            word = candidate.strip().lower()
            digest = int(hashlib.sha256(candidate.encode()).hexdigest()[:6], 16) / 0xFFFFFF
            bonus = 5.0 if word and word in last_turn else 0.0
            scores.append(bonus - 1.0 - digest - math.log1p(len(candidate)))
        return scores


class FakeBackendPlugin:
    """A plugin object registering ``fake``; pass a factory to control replies."""

    def __init__(self, factory: Callable[[], FakeBackend] = FakeBackend) -> None:
        self.factory = factory

    @hookimpl
    def register_backends(self, register: Callable[..., None]) -> None:
        register("fake", self.factory, description="deterministic fake backend for tests")

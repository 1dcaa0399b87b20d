"""A fast, deterministic backend for tests and benchmarks (not registered by default).

It tokenizes UTF-8 bytes one byte per token, so it exercises the same multi-byte
safety, stop-sequence and cancellation paths as the real engines, in
microseconds. Given ``special_tokens`` (e.g. ``("<|im_start|>", "<|im_end|>")``)
it also has control tokens (ids from 258 on), recognised only where the chat
template wrote them, as on the real engines. It constrains decoding too
(``capabilities.constrained``): with ``params.json_schema`` set it writes, byte
by byte, a deterministic document that matches the schema (its strings are the
reply text it would otherwise have written), then stops, so ``max_tokens``
cuts it like a real engine's. Register it from a test with::

    from assistant.backends.fake import FakeBackendPlugin
    from assistant.plugins import register_plugin
    register_plugin(FakeBackendPlugin(), name="fake")
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from typing import Any, Callable, Iterator, Sequence

from ..errors import BackendError, ModelLoadError
from ..hookspecs import hookimpl
from ..types import GenerationParams
from .base import Capabilities, Prompt, SampledToken, TokenLoopBackend, checked_candidates, checked_model
from .chat_format import CHATML_TEMPLATE, ChatFormat
from .llama_library import OPTIONS as LLAMA_OPTIONS

BOS, EOS = 256, 257
OPTIONS = ("n_ctx", "token_delay")
"""The options :meth:`FakeBackend.load` reads: the base's ``check_options`` refuses any other, as the
real engines do (``unknown fake option(s): n_ctxx (did you mean n_ctx?)``), so no test passes one by
mistake."""
IGNORED_OPTIONS = tuple(name for name in LLAMA_OPTIONS if name not in OPTIONS)
"""The llama-cpp engine's other options, taken and ignored: the fake stands in for a local engine in the
CLI's tests (``compare -o n_gpu_layers=0`` gives it to every side), and they change nothing in a fake."""
_CHATML = ChatFormat(CHATML_TEMPLATE, source="fallback:chatml")
VOCAB_SIZE = 258
Reply = Callable[[list[int], GenerationParams], str]


def echo_reply(prompt_text: str) -> str:
    """Default reply: repeat the last user turn, so tests can see what was sent."""
    marker = "<|im_start|>user\n"
    last = prompt_text.rsplit(marker, 1)[-1].split("<|im_end|>", 1)[0]
    return f"Echo: {last}"


def example_document(schema: dict[str, Any], text: str) -> Any:
    """A value matching ``schema`` (the subset of :mod:`assistant.structured.schema`), built from ``text``.

    Deterministic: every property of an object (in order), ``minItems`` items of
    an array (at least one where allowed), the first ``enum`` value, the first of
    several types; strings are ``text`` (up to 60 characters, padded or cut to their
    length bounds), numbers count its words (held to ``minimum``/``maximum``).
    """
    if "enum" in schema:
        return schema["enum"][0]
    kinds = schema.get("type", "string")
    kind = kinds if isinstance(kinds, str) else (kinds[0] if kinds else "string")
    if kind == "object":
        properties = schema.get("properties") or {}
        return {name: example_document(sub, text) for name, sub in properties.items()}
    if kind == "array":
        count = max(int(schema.get("minItems", 0)), min(1, int(schema.get("maxItems", 1))))
        return [example_document(schema.get("items") or {}, text) for _ in range(count)]
    if kind in ("integer", "number"):
        value: float = len(text.split()) + (0.5 if kind == "number" else 0)
        value = max(value, schema.get("minimum", value))
        value = min(value, schema.get("maximum", value))
        return int(value) if kind == "integer" and float(value).is_integer() else value
    if kind == "boolean":
        return len(text) % 2 == 0
    if kind == "null":
        return None
    short = text[: min(60, schema.get("maxLength", 60))]
    return short.ljust(schema.get("minLength", 0), ".")


class FakeBackend(TokenLoopBackend):
    """Byte-level fake engine. ``reply`` decides the text; ``token_delay`` slows it down."""

    name = "fake"
    capabilities_default = Capabilities(constrained=True)

    def __init__(
        self,
        reply: str | Callable[[str], str] | None = None,
        token_delay: float = 0.0,
        context_length: int = 2048,
        special_tokens: Sequence[str] = (),
        constrained: bool = True,
    ) -> None:
        super().__init__()
        self.constrained = constrained
        """False: behave as an engine that cannot constrain (``json_schema`` is refused)."""
        self.special_tokens = tuple(special_tokens)
        """Control tokens, ids ``VOCAB_SIZE + index`` (none by default: every byte is text)."""
        self.reply = reply
        self.token_delay = token_delay
        self._context_length = context_length
        self._loaded = False
        self.loaded_model: str | None = None
        self.calls: list[dict[str, Any]] = []

    @property
    def context_length(self) -> int:
        return self._context_length

    @property
    def capabilities(self) -> Capabilities:
        return dataclasses.replace(super().capabilities, constrained=self.constrained)

    def load(self, model: str, **options: Any) -> None:
        model = checked_model(model, f"the model given to the {self.name} backend's load()")
        if model.startswith("missing"):
            raise ModelLoadError(model, "no such file")
        self.check_options(options)  # a subclass with a load (and options) of its own is left to it
        self.token_delay = float(options.pop("token_delay", self.token_delay))
        self._context_length = int(options.pop("n_ctx", self._context_length))
        options.pop("progress", None)
        options.pop("verbose", None)
        self._loaded = True
        self._model_name = model
        self.loaded_model = model
        self._note_model_kind(model)  # "gemma3-270m": the catalog's base model, as the real engines say

    def unload(self) -> None:
        self._loaded = False

    def info(self) -> dict[str, Any]:
        return {**super().info(), "device": "cpu"}

    def chat_format(self) -> ChatFormat:
        return _CHATML

    def tokenize_fragment(self, text: str, parse_special: bool) -> list[int]:
        if not (parse_special and self.special_tokens):
            return list(text.encode("utf-8"))
        ids: list[int] = []
        position = 0
        while position < len(text):
            found = [(text.find(t, position), -len(t), i) for i, t in enumerate(self.special_tokens)]
            hits = [hit for hit in found if hit[0] != -1]
            if not hits:
                break
            at, negative_length, index = min(hits)
            ids += [*text[position:at].encode("utf-8"), VOCAB_SIZE + index]
            position = at - negative_length
        return ids + list(text[position:].encode("utf-8"))

    def leading_bos(self) -> int | None:
        return BOS

    def _special(self, token_id: int) -> str:
        index = token_id - VOCAB_SIZE
        return self.special_tokens[index] if 0 <= index < len(self.special_tokens) else ""

    def control_token_name(self, token_id: int) -> str:
        return self._special(token_id)

    def _prompt_text(self, prompt_ids: list[int]) -> str:
        """The prompt as text again: bytes, and the ``special_tokens`` as their names (BOS as nothing)."""
        pieces = [bytes([t]) if t < 256 else self._special(t).encode("utf-8") for t in prompt_ids]
        return b"".join(pieces).decode("utf-8", errors="replace")

    def token_bytes(self, token_id: int) -> bytes:
        return b"" if token_id >= 256 else bytes([token_id])

    def vocabulary_size(self) -> int:
        return VOCAB_SIZE + len(self.special_tokens)

    def is_end_of_generation(self, token_id: int) -> bool:
        return token_id == EOS

    def _reply_text(self, prompt_text: str) -> str:
        if self.reply is None:
            return echo_reply(prompt_text)
        if callable(self.reply):
            return self.reply(prompt_text)
        return self.reply

    def _reply_ids(self, prompt_ids: list[int], params: GenerationParams | None = None) -> list[int]:
        text = self._reply_text(self._prompt_text(prompt_ids))
        if params is not None and params.json_schema is not None:
            text = json.dumps(example_document(params.json_schema, text), ensure_ascii=False)
        return [*text.encode("utf-8"), EOS]

    def sample_tokens(self, prompt_ids: list[int], params: GenerationParams) -> Iterator[SampledToken]:
        if not self._loaded:
            raise BackendError("no model loaded")
        prompt_text = self._prompt_text(prompt_ids)
        self.calls.append({"prompt": prompt_text, "params": params})
        if params.logprobs:
            from ..inspect.distribution import sampled_distribution, token_numbers
        generated: list[int] = []
        for position, token in enumerate(self._reply_ids(prompt_ids, params)):
            if self.token_delay and token != EOS:
                time.sleep(self.token_delay)
            if not params.logprobs:
                yield SampledToken(token)
                continue
            dist = sampled_distribution(fake_logits(position, token), params, generated)
            logprob, p_sampled, top = token_numbers(dist, token, params.logprobs)
            generated.append(token)
            yield SampledToken(token, logprob, top, p_sampled)

    def iter_logits(self, prompt_ids: list[int], token_ids: Sequence[int]) -> Iterator[Any]:
        """The logits generation used: the reply's next byte clearly first (EOS after it)."""
        if not self._loaded:
            raise BackendError("no model loaded")
        reply = self._reply_ids(prompt_ids)
        for position in range(len(token_ids) + 1):
            yield fake_logits(position, reply[position] if position < len(reply) else EOS)

    def score(self, prompt: Prompt, candidates: Sequence[str]) -> list[float]:
        """Deterministic: a candidate found in the last user turn scores highest."""
        last_turn = echo_reply(prompt if isinstance(prompt, str) else self.render_prompt(prompt)).lower()
        scores = []
        for candidate in checked_candidates(candidates):
            word = candidate.strip().lower()
            digest = int(hashlib.sha256(candidate.encode()).hexdigest()[:6], 16) / 0xFFFFFF
            bonus = 5.0 if word and word in last_turn else 0.0
            scores.append(bonus - 1.0 - digest - math.log1p(len(candidate)))
        return scores


def fake_logits(position: int, target: int) -> Any:
    """Deterministic logits over the 258 fake tokens: ``target`` well ahead, the rest a fixed spread.

    Real numbers for the inspect paths (sampled probabilities, ``next``,
    teacher forcing) without a model: the spread changes with ``position`` so
    the alternatives differ from step to step.
    """
    import numpy as np

    ids = np.arange(VOCAB_SIZE)
    logits = -((ids * 7 + position * 13) % VOCAB_SIZE).astype(np.float32) / 32  # a permutation: no ties
    logits[target] = 4.0
    return logits


class FakeAttentionBackend(FakeBackend):
    """The fake with attention maps, for the attention view's and command's tests (``fake-attention``).

    Each layer's heads look back with their own reach: row ``i`` of head ``h``
    in layer ``l`` is a decaying distribution over tokens ``0..i`` (causal, sums
    to 1) with extra weight on the first token, as real models' "attention sink".
    """

    name = "fake-attention"
    capabilities_default = Capabilities(attention=True, constrained=True)
    layers, heads = 4, 3

    def attention_shape(self) -> tuple[int, int]:
        return self.layers, self.heads

    def attention_weights(self, token_ids: list[int], start: int) -> list[Any]:
        import numpy as np

        if not self._loaded:
            raise BackendError("no model loaded")
        n = len(token_ids)
        distance = np.arange(n)[:, None] - np.arange(n)[None, :]
        layers = []
        for layer in range(self.layers):
            if self.cancelled:
                raise BackendError("the attention computation was cancelled")
            heads = []
            for head in range(self.heads):
                reach = 1.0 + layer + 2.0 * head
                weights = np.where(distance >= 0, np.exp(-np.maximum(distance, 0) / reach), 0.0)
                weights[:, 0] += 0.5 * (layer + 1)
                weights = np.tril(weights)
                heads.append(weights / weights.sum(axis=1, keepdims=True))
            layers.append(np.stack(heads)[:, start:, start:].astype(np.float32))
        return layers


class FakeBackendPlugin:
    """A plugin object registering ``fake``; pass a factory to control replies."""

    def __init__(self, factory: Callable[[], FakeBackend] = FakeBackend) -> None:
        self.factory = factory

    @hookimpl
    def register_backends(self, register: Callable[..., None]) -> None:
        register("fake", self.factory, description="deterministic fake backend for tests")
        register("fake-attention", FakeAttentionBackend, description="the fake, with attention maps")

"""Plain data types shared by every backend, tool and front end.

They are dataclasses rather than dicts so that a typo is an error, and the ones
that are written out (messages, params, replies, usage, token numbers) have
``to_dict`` so JSON output (``--json``, history, batch results) is one call.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import AssistantError, ConfigError

MAX_LOGPROBS = 20
"""Most alternatives per token ``-o logprobs=N`` may ask for (what OpenAI-compatible servers allow)."""
MAX_SEED = 2**32 - 2
"""Largest sampling seed: llama.cpp's seed is an unsigned 32-bit number whose top value means "random"."""
MAX_MAX_TOKENS = 10_000_000
"""Largest ``max_tokens``: past any context window there is, and small enough to size buffers by."""
MAX_TOP_K = 2**31 - 1
"""Largest ``top_k``: llama.cpp (and the servers built on it) read it as a signed 32-bit number, so
``top_k=4294967297`` was top-k 1 there (greedy) and no cut on transformers. Any value at or past the
vocabulary's size keeps every token, as 0 does."""
MAX_TEMPERATURE = 1e6
"""Largest ``temperature``: past it every token left is as likely as the next to six digits. The engines
divide in float32, where 1e39 is infinity: logits of -inf (a schema's disallowed tokens) became NaN."""

Role = Literal["system", "user", "assistant"]
FinishReason = Literal["stop", "length", "cancelled", "error"]


LengthLimit = Literal["max_tokens", "context_window", "unknown"]
"""Which limit cut a reply that ended with ``finish_reason == "length"`` (``unknown``: the counts cannot tell)."""

LENGTH_LIMIT_WORDS: dict[LengthLimit, str] = {
    "max_tokens": "stopped at max tokens",
    "context_window": "stopped where the context window ends",
    "unknown": "stopped at max tokens or where the context window ends",
}
"""How the chat app's headers, ``history show`` and the markdown export say which limit cut a reply."""


def fills_context_window(prompt_tokens: int, completion_tokens: int, context_length: int | None) -> bool:
    """Whether prompt and reply together reached the end of the context window."""
    return bool(context_length) and prompt_tokens + completion_tokens >= (context_length or 0)


def length_limit(
    prompt_tokens: int | None, completion_tokens: int | None, context_length: int | None, max_tokens: int | None
) -> LengthLimit:
    """Which limit cut a reply that ended as "length": both do, and the fix differs (raise max_tokens or n_ctx).

    With the window's size (a live reply) prompt and reply against it decide. Without it (a
    stored reply: the window it had is not stored, and the engine loaded now may have another
    ``n_ctx``) its own ``max_tokens`` does: a reply shorter than that was cut by the window.
    Without counts (a server that reports no usage) it is ``unknown``.
    """
    if completion_tokens:
        if context_length and prompt_tokens:
            return "context_window" if fills_context_window(prompt_tokens, completion_tokens, context_length) else "max_tokens"
        if max_tokens:
            return "context_window" if completion_tokens < max_tokens else "max_tokens"
    return "unknown"


def length_note(prompt_tokens: int, completion_tokens: int, context_length: int | None) -> str:
    """Why a reply that ended with ``finish_reason == "length"`` was cut, and what to change.

    "length" covers two limits: ``max_tokens``, and the end of the context window
    (the prompt fills part of it, so the reply's room can be less than
    ``max_tokens``). Telling a user to raise ``max_tokens`` when the window was
    full sends them the wrong way, so prompt and reply against the window decide.
    """
    if fills_context_window(prompt_tokens, completion_tokens, context_length):
        return (
            f"the reply stopped where the context window of {context_length} tokens ends; "
            "shorten the prompt, start a new conversation, or raise -o n_ctx=N"
        )
    return "the reply stopped at max_tokens; raise it with -o max_tokens=N"


@dataclass(frozen=True)
class Message:
    """One chat turn. ``content`` is plain text: never markup, never a template."""

    role: Role
    content: str

    def __post_init__(self) -> None:
        # From the Python API: Message("robot", None) was taken, and failed far away (or was stored).
        if self.role not in ("system", "user", "assistant"):
            raise ConfigError(f"message role must be system, user or assistant, not {self.role!r}")
        if not isinstance(self.content, str):
            raise ConfigError(f"message content must be text, not {type(self.content).__name__}")

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        """A message from ``{"role": ..., "content": ...}`` (a missing content is empty text).

        The content must be text: ``str()`` of anything else made ``None`` the message
        "None" and an OpenAI content list its Python repr, sent to the model as the user's words.
        """
        if not isinstance(data, dict):
            raise TypeError(f"Message.from_dict needs a dict with role and content, not {type(data).__name__}")
        role = data.get("role")
        if role not in ("system", "user", "assistant"):
            raise ConfigError(f"message role must be system, user or assistant, not {role!r}")
        return cls(role=role, content=data.get("content", ""))


GREEDY_BELOW = 1e-5
"""Temperatures under this *are* greedy decoding: they are stored, sent and shown as 0.

One definition of "effectively greedy" for every backend. At such a temperature
each engine picks the most likely token anyway (llama.cpp's float32 makes 1e-300
exactly 0), but a value kept as it is read as sampling elsewhere: it was shown as
``temperature 1e-300`` with top-k/top-p cuts that did not happen, and dividing
logits by 1e-320 gave NaN probabilities. vLLM also treats temperatures under
1e-5 as greedy (its ``_SAMPLING_EPS``), so a remote vLLM and a local engine agree."""


@dataclass
class GenerationParams:
    """Sampling settings. Each field means the same thing on every backend.

    ``temperature == 0`` selects greedy decoding (and makes ``top_k``/``top_p``/``seed``
    irrelevant); a temperature under :data:`GREEDY_BELOW` is stored as 0. Samplers apply
    in llama.cpp's order: repeat penalty, top-k, top-p, temperature. ``top_k == 0`` and ``top_p == 1`` disable those filters.
    ``logprobs > 0`` asks for that many top alternatives per generated token.
    ``json_schema`` constrains decoding (backends whose ``Capabilities.constrained``
    is false refuse it rather than ignore it).
    """

    max_tokens: int = 512
    temperature: float = 0.7
    top_k: int = 40
    top_p: float = 0.95
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    repeat_penalty: float = 1.0
    logprobs: int = 0
    json_schema: dict[str, Any] | None = None
    """Constrain decoding to JSON documents matching this schema (the subset of
    :mod:`assistant.structured.schema`): every sampled token keeps the text a
    valid prefix, and generation ends when the document is complete. None: free text."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Reject values no backend could honour, with the option's name in the message."""
        self._check_types()
        for name in ("temperature", "top_p", "repeat_penalty"):  # nan passes every comparison below
            if not math.isfinite(getattr(self, name)):
                raise ConfigError(f"{name} must be a finite number, not {getattr(self, name)!r}")
        if self.max_tokens < 1:
            raise ConfigError("max_tokens must be at least 1")
        if self.max_tokens > MAX_MAX_TOKENS:
            raise ConfigError(f"max_tokens must be at most {MAX_MAX_TOKENS:,} (a reply stops at the context window anyway)")
        if self.seed is not None and not 0 <= self.seed <= MAX_SEED:
            # llama.cpp takes an unsigned 32-bit seed and reads 0xFFFFFFFF (what -1 becomes) as "random".
            from .option_values import typed_text  # exact, as typed (10**19 was shown as 1e+19)

            raise ConfigError(f"seed must be a whole number from 0 to {MAX_SEED}, not {typed_text(self.seed)}")
        if self.temperature < 0:
            raise ConfigError("temperature must be >= 0 (0 means greedy)")
        if self.temperature > MAX_TEMPERATURE:
            raise ConfigError(f"temperature must be at most {MAX_TEMPERATURE:g} (past it every token is as likely)")
        if self.temperature < GREEDY_BELOW:
            self.temperature = 0.0  # greedy, and shown so (see GREEDY_BELOW)
        if self.top_k < 0:
            raise ConfigError("top_k must be >= 0 (0 disables it)")
        if self.top_k > MAX_TOP_K:
            raise ConfigError(f"top_k must be at most {MAX_TOP_K} (0, or any number past the vocabulary, disables it)")
        if not 0 < self.top_p <= 1:
            raise ConfigError("top_p must be in (0, 1]")
        if self.repeat_penalty <= 0:
            raise ConfigError("repeat_penalty must be > 0 (1 disables it)")
        if self.logprobs < 0:
            raise ConfigError("logprobs must be >= 0")
        if self.logprobs > MAX_LOGPROBS:
            raise ConfigError(f"logprobs must be at most {MAX_LOGPROBS} (the alternatives kept per token)")
        if self.json_schema is not None:
            # The one check of a schema (the subset, then what the constraint engine can hold a reply
            # to): ``{"enum": []}`` passed here and failed at the first token, after a model had loaded.
            from .structured.constraint import check_constrainable

            try:
                check_constrainable("json_schema", self.json_schema)
            except AssistantError as exc:
                raise ConfigError(str(exc)) from None
        if isinstance(self.stop, str):
            self.stop = [self.stop]
        from .option_values import check_stop_sequences  # the -o / template limits, for the Python API too

        check_stop_sequences(self.stop)
        if any(not s for s in self.stop):
            raise ConfigError("stop sequences must not be empty")
        if self.stop and self.json_schema is not None:
            # the decoder writes the document whole; a stop sequence cut it ("Expecting ',' delimiter")
            raise ConfigError("stop sequences would cut the JSON document a schema asks for: leave stop out")
        from .text_checks import invalid_unicode

        for number, sequence in enumerate(self.stop, 1):  # never matched by any reply: it cannot be text
            problem = invalid_unicode(sequence)
            if problem:
                raise ConfigError(f"stop sequence {number} is not valid Unicode ({problem})")

    def _check_types(self) -> None:
        """Wrong types from the Python API, refused in words: ``temperature="x"`` was a TypeError
        from a comparison, ``max_tokens=2.5`` was taken, ``stop=5`` failed deep in a backend."""
        for name in ("temperature", "top_p", "repeat_penalty"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ConfigError(f"{name} must be a number, not {value!r}")
            if type(value) is not float:  # numpy's float32, a Fraction, an int: stored as the float they are
                try:
                    setattr(self, name, float(value))
                except OverflowError:  # temperature=10**400 was an OverflowError from math.isfinite
                    raise ConfigError(f"{name} must be a finite number, not one too large for a float") from None
        for name in ("max_tokens", "top_k", "logprobs", "seed"):
            value = getattr(self, name)
            if value is None and name == "seed":
                continue
            if type(value) is not int:  # 8.0, numpy's int64 (a DataFrame's column): a plain int from here on
                setattr(self, name, _whole_number(name, value))
        stop = self.stop
        if not isinstance(stop, str) and (
            not isinstance(stop, (list, tuple)) or not all(isinstance(s, str) for s in stop)
        ):
            from .option_values import typed_text

            raise ConfigError(f"stop must be a text or a list of texts, not {typed_text(stop)}")
        if isinstance(stop, tuple):
            self.stop = list(stop)

    @property
    def greedy(self) -> bool:
        """Greedy decoding: temperature 0, or one under :data:`GREEDY_BELOW` set after validation."""
        return self.temperature < GREEDY_BELOW

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> GenerationParams:
        """A copy with ``changes``, validated as construction validates (a wrong type is a ConfigError).

        A name that is no setting is a ConfigError naming it, not the ``TypeError``
        of ``dataclasses.replace``: the names come from users (``-o``, a batch row's
        or a results file's ``params``), and a TypeError surfaced as a traceback.
        """
        known = self.field_names()
        unknown = [name for name in changes if name not in known]
        if unknown:
            names = ", ".join(repr(name) for name in unknown)
            plural = "s" if len(unknown) > 1 else ""
            raise ConfigError(f"unknown generation parameter{plural} {names} (known: {', '.join(known)})")
        return dataclasses.replace(self, **changes)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]


def _whole_number(name: str, value: Any) -> int:
    """A whole number given as another type (``8.0``, ``numpy.int64(8)``) as an int; a ConfigError otherwise."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            number = math.nan
        if number.is_integer():
            return int(number)
    raise ConfigError(f"{name} needs a whole number, not {value!r}")


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict[str, int]:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens}


@dataclass
class Timings:
    """Wall-clock measurements of one generation, in the units users read."""

    ttft_ms: float | None = None
    tokens_per_second: float | None = None
    duration_ms: float | None = None

    def to_dict(self) -> dict[str, float | None]:
        return dataclasses.asdict(self)


@dataclass
class TopAlternative:
    """One candidate at a generation step, with both probabilities (see :class:`TokenLogprob`)."""

    token: str
    token_id: int
    logprob: float
    p_sampled: float | None = None
    piece: bytes | None = None
    """The token's exact bytes where the engine knows them (see :class:`TokenLogprob`)."""
    special: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.token, "id": self.token_id, "logprob": self.logprob, "p_sampled": self.p_sampled,
                **_piece_fields(self.piece, self.special)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TopAlternative:
        p = data.get("p_sampled")
        return cls(str(data.get("text", "")), int(data.get("id", -1)), float(data["logprob"]),
                   None if p is None else float(p), _piece_of(data), bool(data.get("special", False)))


def _piece_fields(piece: bytes | None, special: bool) -> dict[str, Any]:
    """``bytes`` (hex) and ``special``, as ``tokenize --json`` writes them; nothing where the bytes are unknown."""
    return {} if piece is None else {"bytes": piece.hex(), "special": special}


def _piece_of(data: dict[str, Any]) -> bytes | None:
    """The bytes a stored token carries (hex), or None: older records and servers have none."""
    value = data.get("bytes")
    if not isinstance(value, str):
        return None
    try:
        return bytes.fromhex(value)
    except ValueError:
        return None


@dataclass
class TokenLogprob:
    """One generated token and the distributions it was chosen from.

    Two distributions, with one meaning on every backend:

    - *model* (``logprob``): the natural-log softmax of the model's raw logits at
      that step — what the network predicts, before any sampling setting;
    - *sampled* (``p_sampled``): the probability of the token under the
      distribution it was actually drawn from — after repeat penalty, top-k,
      top-p, min-p and temperature (greedy: 1 for the pick, 0 elsewhere). 0 means
      a setting cut it; ``None`` means the backend cannot know it (a remote server
      reports only the model's numbers).

    ``top`` holds the most likely tokens of the *model* distribution at that step
    (the chosen one included when it is among them), each with both numbers.
    ``token_id`` is -1 where a server reports text only.

    ``piece`` is the token's exact bytes where the engine knows them (the local
    engines): ``token`` alone is "\ufffd" for each half of a character split
    across two tokens (an emoji, CJK), so a reply could not be rebuilt from its
    tokens. ``special`` marks a control token (``<|im_end|>``), whose text is empty.
    """

    token: str
    token_id: int
    logprob: float
    top: list[TopAlternative] = field(default_factory=list)
    p_sampled: float | None = None
    piece: bytes | None = None
    special: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``--json``, history and exports: ``{text, id, logprob, p_sampled, top}``
        (and ``bytes``/``special`` where the engine knows them)."""
        return {
            "text": self.token,
            "id": self.token_id,
            "logprob": self.logprob,
            "p_sampled": self.p_sampled,
            **_piece_fields(self.piece, self.special),
            "top": [alt.to_dict() for alt in self.top],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenLogprob:
        p = data.get("p_sampled")
        return cls(
            token=str(data.get("text", "")),
            token_id=int(data.get("id", -1)),
            logprob=float(data["logprob"]),
            top=[TopAlternative.from_dict(alt) for alt in data.get("top") or []],
            p_sampled=None if p is None else float(p),
            piece=_piece_of(data),
            special=bool(data.get("special", False)),
        )


@dataclass
class Chunk:
    """One piece of a streamed reply.

    Text chunks carry ``text`` and the ``token_ids`` that produced it (text may lag
    tokens by a few ids while a multi-byte character is incomplete). The final chunk
    has ``finish_reason``, ``usage`` and ``timings`` set and usually empty text.
    """

    text: str = ""
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[TokenLogprob] = field(default_factory=list)
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    timings: Timings | None = None
    incomplete_bytes: int = 0
    """On the final chunk: bytes of a character the model had not finished when generation
    stopped (``max_tokens``, a cancel). They are dropped, never shown as U+FFFD."""


@dataclass
class AttentionMaps:
    """Attention weights of one response (transformers backend, on request).

    ``layers[l][h, i, j]`` is how much token ``i`` attends to token ``j`` in head
    ``h`` of layer ``l``, over the prompt followed by the generated tokens
    (``token_ids``; the first ``prompt_tokens`` are the prompt). Arrays are
    numpy float32, ``[heads, n, n]`` each.

    When a window was asked for, only the last tokens are kept: ``token_ids``,
    ``tokens`` and the arrays cover positions ``window_start`` onwards of prompt
    + reply (``prompt_tokens`` still counts the whole prompt), and a row's
    weights on tokens before the window are not included.
    """

    token_ids: list[int]
    tokens: list[str]
    prompt_tokens: int
    layers: list[Any]
    completion: Completion | None = None
    window_start: int = 0
    pieces: list[Any] = field(default_factory=list)
    """Each kept token's :class:`~assistant.inspect.pieces.TokenPiece` (exact bytes, control name): labels."""


@dataclass
class Completion:
    """A whole reply, as collected from a stream."""

    text: str
    model: str
    backend: str
    finish_reason: FinishReason
    usage: Usage
    timings: Timings
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[TokenLogprob] = field(default_factory=list)
    incomplete_bytes: int = 0
    """Bytes of a cut-off last character, dropped from ``text`` (see :attr:`Chunk.incomplete_bytes`)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "model": self.model,
            "backend": self.backend,
            "finish_reason": self.finish_reason,
            "usage": self.usage.to_dict(),
            "timings": {
                "ttft_ms": self.timings.ttft_ms,
                "tokens_per_second": self.timings.tokens_per_second,
            },
            **({"tokens": [entry.to_dict() for entry in self.logprobs]} if self.logprobs else {}),
            **({"incomplete_bytes": self.incomplete_bytes} if self.incomplete_bytes else {}),
        }

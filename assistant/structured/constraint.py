"""JSON-schema-constrained decoding for the local engines: schema → token mask, step by step.

The engine is llguidance (docs/performance.md, "Constrained decoding", has the
comparison with xgrammar and outlines-core that chose it): one dependency-free
wheel, a compiled schema in well under a millisecond, and a next-token mask
over SmolLM2's 49k tokens in about 0.2 ms — a few percent of a CPU decode step.

Three pieces, each defined once for both engines:

- :class:`ConstraintVocabulary` — a loaded model's vocabulary as llguidance
  needs it, built from the :class:`~assistant.backends.base.TokenLoopBackend`
  primitives both engines already implement (``token_bytes``,
  ``control_token_name``, ``is_end_of_generation``, ``tokenize_fragment``), so
  llama.cpp and transformers constrain over exactly the bytes they stream.
  Building it costs a few hundred ms, once per loaded model.
- compiled schemas, cached per (vocabulary, schema): a fresh matcher for a
  request is a copy of the cached one;
- :class:`JsonConstraint` — one generation's state: the allowed tokens for the
  next step, ``advance(token)`` after sampling, and ``complete`` once the
  document is closed (generation ends there, with nothing else allowed).

End-of-generation tokens are allowed exactly when the document is complete or
could end here (a top-level number), so a model that wants to stop early
cannot: it must close what it opened. llguidance is imported lazily (it is a
compiled extension; ``assistant --help`` never loads it).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import BackendError
from .schema import check_schema

if TYPE_CHECKING:
    import numpy as np

    from ..backends.base import TokenLoopBackend

MAX_CACHED_SCHEMAS = 64
"""Compiled schemas kept per vocabulary (a batch or a template reuses one; a few KB each)."""
_CONTROL_MARK = b"\xff"  # llguidance's prefix for a special token's name: never matches JSON text


def schema_key(schema: dict[str, Any]) -> str:
    """The cache key of a schema: its canonical JSON text (key order does not matter)."""
    return json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_CANNOT_COMPILE = "the JSON schema cannot be compiled for constrained decoding"
_MAX_ENGINE_ERROR = 200  # llguidance quotes whole generated regexes (thousands of characters) in its errors


_CONSTRAINABLE: OrderedDict[str, None] = OrderedDict()
"""Keys (:func:`schema_key`) of schemas :func:`check_constrainable` has passed, most recent last."""
_CONSTRAINABLE_LOCK = threading.Lock()


def check_constrainable(where: str, schema: dict[str, Any]) -> None:
    """Refuse, before any model loads, a schema the constraint engine cannot build or no JSON can match.

    The one check of a ``json_schema``: :meth:`GenerationParams.validate
    <assistant.types.GenerationParams.validate>` runs it, so every path that
    builds params (the CLI's ``--schema``, templates, ``ChatSession``, the
    Python API) refuses the same schemas with the same line.
    :func:`~assistant.structured.schema.check_schema` knows the subset; this
    asks llguidance itself (no vocabulary needed) so that
    ``required: [x]`` with no ``x`` allowed, an empty ``enum``, an integer range
    with no integer in it, or bounds the engine cannot turn into a regex are
    one error line when the schema is given, not after a model has loaded.
    A schema that passed is remembered (:data:`MAX_CACHED_SCHEMAS` of them):
    params are validated again at every request, and a large schema takes
    llguidance a tenth of a second.
    """
    from ..errors import ConfigError

    check_schema(where, schema)
    try:
        key: str | None = schema_key(schema)
    except (TypeError, ValueError):  # a value JSON cannot hold: the engine refuses it below, in words
        key = None
    with _CONSTRAINABLE_LOCK:
        if key is not None and key in _CONSTRAINABLE:
            _CONSTRAINABLE.move_to_end(key)
            return
    import llguidance

    problem = llguidance.LLMatcher.validate_grammar(_grammar(schema, ConfigError, where))
    if problem:
        raise ConfigError(f"{where}: {_CANNOT_COMPILE}: {_one_line(problem)}")
    if key is not None:
        with _CONSTRAINABLE_LOCK:
            _CONSTRAINABLE[key] = None
            while len(_CONSTRAINABLE) > MAX_CACHED_SCHEMAS:
                _CONSTRAINABLE.popitem(last=False)


def _grammar(schema: dict[str, Any], error: type[Exception], where: str = "") -> str:
    import llguidance

    try:
        return llguidance.LLMatcher.grammar_from_json_schema(schema, defaults={"whitespace_flexible": False})
    except (ValueError, TypeError) as exc:  # e.g. a number JSON allows but the engine cannot serialise
        prefix = f"{where}: " if where else ""
        raise error(f"{prefix}{_CANNOT_COMPILE}: {_one_line(str(exc))}") from None


def _one_line(text: str) -> str:
    """An engine message as one bounded line (its regex errors span lines and quote the whole regex)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= _MAX_ENGINE_ERROR else flat[: _MAX_ENGINE_ERROR - 3] + "..."


class ConstraintVocabulary:
    """A model's vocabulary for the constraint engine, with its compiled schemas.

    ``pieces[i]`` is token ``i``'s bytes as the engine streams them; ``control``
    holds the names of control tokens (they never match JSON, they are marked
    as special); ``eog`` are the end-of-generation ids; ``size`` is the length
    of the engine's logits vector (a model may pad its vocabulary past the
    tokenizer's: the padding is never allowed); ``tokenize`` turns text into
    ids (llguidance uses it for forced text).
    """

    def __init__(
        self,
        pieces: Sequence[bytes],
        control: Sequence[str],
        eog: Sequence[int],
        size: int,
        tokenize: Callable[[str], list[int]],
    ) -> None:
        import llguidance

        if not eog:
            raise BackendError("this model has no end-of-generation token; a constrained reply could not end")
        self.size = size
        self.eog = sorted({int(t) for t in eog})
        marked = [_CONTROL_MARK + name.encode("utf-8") if name else piece for piece, name in zip(pieces, control)]
        # llguidance needs every token to be distinct bytes or a marked special; a control token
        # without a name (or a duplicate name) gets one made from its id.
        seen: set[bytes] = set()
        for index, piece in enumerate(marked):
            if piece.startswith(_CONTROL_MARK) and (piece in seen or piece == _CONTROL_MARK):
                marked[index] = _CONTROL_MARK + b"<|special_%d|>" % index
            seen.add(marked[index])
        specials = [i for i, piece in enumerate(marked) if piece.startswith(_CONTROL_MARK)]
        self.tokenizer = llguidance.LLTokenizer(
            llguidance.TokenizerWrapper(_Tokens(marked, self.eog[0], specials, tokenize)),
            n_vocab=size,
            eos_token=self.eog,
        )
        self._compiled: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_backend(cls, backend: TokenLoopBackend, count: int, size: int | None = None) -> ConstraintVocabulary:
        """The vocabulary of a loaded local engine: ``count`` tokens, logits of ``size`` (default ``count``)."""
        pieces = [backend.token_bytes(i) for i in range(count)]
        control = [backend.control_token_name(i) if not pieces[i] else "" for i in range(count)]
        eog = [i for i in range(count) if backend.is_end_of_generation(i)]
        return cls(
            pieces, control, eog, size or count, lambda text: backend.tokenize_fragment(text, parse_special=False)
        )

    def compile(self, schema: dict[str, Any]) -> Any:
        """The pristine llguidance matcher of ``schema`` (cached); callers copy it, never advance it."""
        import llguidance

        key = schema_key(schema)
        with self._lock:
            matcher = self._compiled.get(key)
            if matcher is not None:
                self._compiled.move_to_end(key)
                return matcher
        check_schema("json_schema", schema)
        grammar = _grammar(schema, BackendError)
        matcher = llguidance.LLMatcher(self.tokenizer, grammar, log_level=0)
        if matcher.is_error():
            raise BackendError(f"{_CANNOT_COMPILE}: {_one_line(matcher.get_error())}")
        with self._lock:
            self._compiled[key] = matcher
            while len(self._compiled) > MAX_CACHED_SCHEMAS:
                self._compiled.popitem(last=False)
        return matcher

    def start(self, schema: dict[str, Any]) -> JsonConstraint:
        """A new generation's constraint for ``schema``."""
        return JsonConstraint(self.compile(schema).deep_copy(), self.size, self.eog)


class _Tokens:
    """What ``llguidance.TokenizerWrapper`` reads: the token byte strings, EOS/BOS, specials, and a tokenizer."""

    bos_token_id = None

    def __init__(self, tokens: list[bytes], eos: int, specials: list[int], tokenize: Callable[[str], list[int]]) -> None:
        self.tokens = tokens
        self.eos_token_id = eos
        self.special_token_ids = specials
        self._tokenize = tokenize

    def __call__(self, text: str | bytes) -> list[int]:
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        return list(self._tokenize(text))


class JsonConstraint:
    """One constrained generation: which tokens may come next, and whether the document is done.

    Engines call :meth:`allowed` (or :meth:`mask_numpy`/:meth:`mask_torch`)
    before sampling — the mask applies to the raw logits, before the repeat
    penalty, top-k, top-p and temperature, so those settings mean the same
    with and without a schema — then :meth:`advance` with the sampled token.
    ``last_allowed`` keeps the mask the last token was drawn under, for the
    per-token sampled probabilities.
    """

    def __init__(self, matcher: Any, size: int, eog: Sequence[int]) -> None:
        import numpy as np

        self._matcher = matcher
        self.size = size
        self._eog = frozenset(eog)
        self._words = np.zeros((size + 31) // 32, dtype=np.int32)
        self.last_allowed: np.ndarray | None = None

    def allowed(self) -> np.ndarray:
        """A boolean array over the logits: True where the token keeps the text a valid prefix."""
        import numpy as np

        words = self._words
        self._matcher.unsafe_compute_mask_ptr(words.ctypes.data, words.nbytes)
        self._check()
        bits = np.unpackbits(words.view(np.uint8), bitorder="little")[: self.size]
        self.last_allowed = bits.view(np.bool_)
        return self.last_allowed

    def mask_numpy(self, logits: np.ndarray) -> np.ndarray:
        """``logits`` with every disallowed token at -inf (in place; returns it)."""
        import numpy as np

        allowed = self.allowed()
        logits[~allowed[: len(logits)]] = -np.inf
        return logits

    def mask_torch(self, logits: Any) -> Any:
        """A copy of the 1-D torch ``logits`` with every disallowed token at -inf."""
        import torch

        allowed = torch.from_numpy(self.allowed()[: logits.shape[-1]]).to(logits.device, non_blocking=True)
        return logits.masked_fill(~allowed, float("-inf"))

    def advance(self, token: int) -> None:
        """Take the sampled ``token`` (an end-of-generation token ends the document, if it may)."""
        if int(token) in self._eog:
            return
        if not self._matcher.consume_token(int(token)):
            raise BackendError(
                f"constrained decoding: token {token} was not allowed ({_one_line(self._matcher.get_error())})"
            )

    @property
    def complete(self) -> bool:
        """The document is closed: nothing but end-of-generation may follow, so generation ends here."""
        return bool(self._matcher.is_stopped())

    @property
    def accepting(self) -> bool:
        """The text so far is a whole document (it may still go on, e.g. a top-level number)."""
        return bool(self._matcher.is_accepting())

    def _check(self) -> None:
        if self._matcher.is_error():
            raise BackendError(f"constrained decoding failed: {_one_line(self._matcher.get_error())}")

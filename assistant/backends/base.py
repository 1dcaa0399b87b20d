"""The one backend protocol, and the token-loop machinery local backends share.

Callers only ever use :class:`Backend`; they never branch on the concrete type.
Local engines (llama.cpp, transformers) subclass :class:`TokenLoopBackend` and
implement a handful of primitives (tokenize, token bytes, sample the next
token, score); the base turns those into the full protocol so that stop
sequences, UTF-8 safety, cancellation, usage and timings behave identically on
every engine. A remote backend implements :class:`Backend` directly. What looks inside a
reply (attention, log-probs of given tokens, the next-token distribution) is in
:mod:`.token_inspection`.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from ..errors import ConfigError, ContextOverflowError, NotSupportedError
from ..types import Chunk, Completion, FinishReason, GenerationParams, Message, Usage
from .capabilities import Capabilities, refuse_unconstrained
from .chat_format import ChatFormat, PromptSegment
from .streaming import StopMatcher, Utf8Detokenizer, collect, make_timings
from .token_inspection import TokenInspection

if TYPE_CHECKING:
    from ..structured.constraint import ConstraintVocabulary, JsonConstraint

from .protocol import (  # the contract and its input checks, re-exported: imported from here for years
    NOTHING_TO_PREDICT_FROM,
    Backend,
    Prompt,
    check_prompt_fits,
    checked_candidates,
    checked_model,
    checked_params,
    checked_prompt,
)

__all__ = [
    "NOTHING_TO_PREDICT_FROM",
    "Backend",
    "Prompt",
    "SampledToken",
    "TokenLoopBackend",
    "checked_candidates",
    "checked_model",
    "checked_params",
    "checked_prompt",
]


@dataclass
class SampledToken:
    """One token chosen by an engine, with optional log-probabilities.

    ``logprob`` is the *model* log-probability, ``p_sampled`` the probability
    under the *sampled* distribution (see :class:`~assistant.types.TokenLogprob`);
    ``top`` holds ``(id, logprob, p_sampled)`` of the most likely tokens.
    """

    token_id: int
    logprob: float | None = None
    top: list[tuple[int, float, float | None]] = field(default_factory=list)
    p_sampled: float | None = None
    ends_document: bool = False
    """This token closed the constrained (``json_schema``) document: generation ends after it."""


_this_request = threading.local()


def stop_this_request_on(event: threading.Event | None) -> None:
    """Let ``event`` stop the request this thread runs (``None``: no longer), as a backend's ``cancel`` stops any.

    ``cancel`` is the whole backend's: the engine process, which serves the app's requests from a thread
    each, could send it for a closed stream only while that stream ran alone, so a stream closed while
    another ran read its whole prompt first (seconds). :attr:`TokenLoopBackend.cancelled` checks the event
    too, between two prompt chunks, and llama.cpp's abort check (taken in the thread that reads the prompt)
    between two steps of one.
    """
    _this_request.stop = event


def request_stop() -> threading.Event | None:
    """The event :func:`stop_this_request_on` gave this thread, if any."""
    return getattr(_this_request, "stop", None)


class TokenLoopBackend(TokenInspection, ABC):
    """Base for local engines: implements the protocol on top of token primitives.

    Its inspection members (attention, teacher-forced log-probs, the next-token distribution) are
    :class:`~.token_inspection.TokenInspection`'s.
    """

    name: str = "base"

    def __init__(self) -> None:
        self._cancel = threading.Event()
        self._model_name = ""
        self._chat_turns = True
        """Whether the loaded model takes chat turns: ``Capabilities.chat_turns``."""
        self._constraint_vocab: ConstraintVocabulary | None = None
        self._constraint_lock = threading.Lock()

    # ---- primitives each engine implements -------------------------------------
    @property
    @abstractmethod
    def context_length(self) -> int: ...

    @abstractmethod
    def load(self, model: str, **options: Any) -> None: ...

    @abstractmethod
    def unload(self) -> None: ...

    def check_options(self, options: dict[str, Any], model: str | None = None) -> None:
        """The unknown-option refusal of :meth:`load`, from the one list ``load`` reads.

        ``model`` is taken for the protocol's sake: the local engines here check its
        limits too (their own ``check_options``); a plugin's engine knows its own.

        The module that defines the engine's ``load`` names the options it reads in
        ``OPTIONS`` (and those it accepts and ignores in ``IGNORED_OPTIONS``), as
        llama_cpp.py and torch/backend.py do; an engine whose ``load`` has no such list
        (a plugin's subclass with a ``load`` of its own) is left to ``load``.
        """
        import sys

        from ..option_values import unknown_options_error

        module = sys.modules.get(getattr(type(self).load, "__module__", None) or "")
        known = getattr(module, "OPTIONS", None)
        if not isinstance(known, (tuple, list, frozenset, set)):
            return
        ignored = getattr(module, "IGNORED_OPTIONS", ())
        unknown = set(options) - set(known) - set(ignored) - {"verbose", "progress"}
        if unknown:
            raise unknown_options_error(self.name, unknown, list(known))

    @abstractmethod
    def chat_format(self) -> ChatFormat:
        """The loaded model's chat format (its own template, or the per-architecture fallback)."""

    def render_prompt(self, messages: Sequence[Message]) -> str:
        return self.chat_format().render(messages)

    def render_segments(self, messages: Sequence[Message]) -> list[PromptSegment]:
        """:meth:`render_prompt`'s text cut into template text and data (``ChatFormat.render_segments``)."""
        return self.chat_format().render_segments(messages)

    @abstractmethod
    def tokenize_fragment(self, text: str, parse_special: bool) -> list[int]:
        """Token ids of ``text`` on its own, no BOS; control tokens are recognised only if ``parse_special``."""

    @abstractmethod
    def leading_bos(self) -> int | None:
        """The BOS id the model wants at the start of every prompt, or None."""

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

    def constraint_sizes(self) -> tuple[int, int]:
        """(tokens in the vocabulary, length of a logits vector), for engines with ``Capabilities.constrained``."""
        raise NotSupportedError(f"the {self.name} backend cannot constrain decoding to a JSON schema")

    def vocabulary_size(self) -> int | None:
        """How many token ids the model has (ids 0 to this − 1); None where the engine does not say."""
        try:
            return self.constraint_sizes()[0]
        except NotSupportedError:
            return None

    def checked_token_ids(self, token_ids: Sequence[int]) -> list[int]:
        """Token ids a caller gives (a reply to score, pieces to name), checked before an engine reads them.

        An id outside the vocabulary made llama.cpp abort the whole process (a C++
        ``std::out_of_range``) and transformers raise IndexError or OverflowError.
        """
        size = self.vocabulary_size()
        ids: list[int] = []
        for token in token_ids:
            if isinstance(token, bool) or not hasattr(token, "__index__"):
                raise TypeError(f"a token id must be a whole number, not {type(token).__name__}")
            number = int(token)
            if number < 0 or (size is not None and number >= size):
                top = f"0 to {size - 1}" if size is not None else "0 or more"
                raise ConfigError(f"token id {number} is not in this model's vocabulary ({top})")
            ids.append(number)
        return ids

    def json_constraint(self, params: GenerationParams) -> JsonConstraint | None:
        """The constraint for ``params.json_schema`` (None: free text); engines mask the raw logits with it.

        The vocabulary is built on the first constrained request after a load (a few hundred ms).
        """
        if params.json_schema is None:
            return None
        with self._constraint_lock:
            if self._constraint_vocab is None:
                from ..structured.constraint import ConstraintVocabulary

                count, size = self.constraint_sizes()
                self._constraint_vocab = ConstraintVocabulary.from_backend(self, count, size)
            vocab = self._constraint_vocab
        return vocab.start(params.json_schema)

    def forget_constraint_vocabulary(self) -> None:
        self._constraint_vocab = None  # engines call it when they unload a model

    @property
    def cancelled(self) -> bool:
        """Whether the running ``stream`` was asked to stop (engines check it between prompt chunks): by
        :meth:`cancel`, or by the event this thread's request stops on (:func:`stop_this_request_on`)."""
        stop = request_stop()
        return self._cancel.is_set() or (stop is not None and stop.is_set())

    @abstractmethod
    def score(self, prompt: Prompt, candidates: Sequence[str]) -> list[float]: ...

    # ---- the protocol, shared --------------------------------------------------
    capabilities_default = Capabilities()
    """Local engines form logits themselves, so they give every per-token number."""

    @property
    def capabilities(self) -> Capabilities:
        """The engine's own (``capabilities_default``), with what the loaded model is (``chat_turns``)."""
        return dataclasses.replace(self.capabilities_default, chat_turns=self._chat_turns)

    def _note_model_kind(self, model: str) -> None:
        """Record whether ``model`` (as ``load`` was given it, its files now here) is a chat model.

        Each engine's ``load`` calls it once the model is loaded: the catalog entry, or the
        chat template in the files, decides (:func:`~assistant.models.mode.default_mode`), as
        it decides the default ``--mode``, so the capability and the mode never disagree.
        """
        from ..models.mode import default_mode

        self._chat_turns = default_mode(model) == "chat"

    @property
    def model_name(self) -> str:
        return self._model_name

    def info(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model_name, "context_length": self.context_length}

    def prompt_segments(self, prompt: Prompt) -> list[PromptSegment]:
        """The prompt as template text and data: raw text is all data, messages go through the chat format."""
        if isinstance(checked_prompt(prompt), str):
            return [PromptSegment(prompt, data=True)]
        return self.render_segments(prompt)

    def prompt_token_ids(self, prompt: Prompt) -> list[int]:
        return self.tokenize_segments(self.prompt_segments(prompt))

    def tokenize_text(self, text: str) -> list[int]:
        """Tokenize *trusted* rendered text, parsing its control tokens, BOS added if the model wants it.

        Only for text that came out of a chat template with no data in it (tests,
        a template's own markers); prompts go through :meth:`prompt_token_ids`.
        """
        return self.tokenize_segments([PromptSegment(text, data=False)])

    def scoring_token_ids(self, prompt: Prompt, candidates: Sequence[str]) -> tuple[list[int], list[list[int]]]:
        """Ids of ``prompt``, and of ``prompt`` followed by each candidate (data), checked against the context.

        Each candidate is tokenized *with* the prompt, as the model would read the
        text, so a candidate's first token may merge with the prompt's last one (a
        prompt ending in a space, "Answer: " + "yes"): the engines then score the
        merged tokens after the prompt's shared ids, the prompt's last token "healed".
        A candidate that merges with the prompt's *first* token leaves nothing to score
        it after: refused (it scored 0.0, certainty, for every candidate of ``score("x", ["a"])``).
        """
        candidates = checked_candidates(candidates)
        segments = self.prompt_segments(prompt)
        prompt_ids = self.tokenize_segments(segments)
        n_ctx = self.context_length
        check_prompt_fits(prompt_ids, n_ctx)  # an empty one: llama-cpp scored 0.0 (certainty) for every candidate
        continued = []
        for candidate in candidates:
            ids = self.tokenize_segments([*segments, PromptSegment(candidate, data=True)])
            if len(ids) > n_ctx:  # the prompt fits (above): name the candidate that does not
                raise ContextOverflowError(len(ids), n_ctx, what=f"prompt with the candidate {candidate[:40]!r}")
            if candidate and prompt_ids and ids and ids[0] != prompt_ids[0]:
                raise ConfigError(
                    f"the candidate {candidate[:40]!r} merges with the prompt's first token, so nothing comes "
                    "before it to score it after: give a longer prompt"
                )
            continued.append(ids)
        return prompt_ids, continued

    def tokenize_segments(self, segments: Sequence[PromptSegment]) -> list[int]:
        """Token ids of a segmented prompt: control tokens only where the template wrote them.

        The text is cut at each control token found in a template segment, and
        every run between two of them — template text and data together — is
        tokenized with control tokens off. That is exactly how an engine treats
        text with special-token parsing on (it splits at control tokens, then
        tokenizes each piece), so a prompt whose data holds no control-token text
        gets the same ids as before; data that does gets the characters.
        """
        runs: list[str | int] = []
        pending: list[str] = []
        for segment in segments:
            if segment.data:
                pending.append(segment.text)
                continue
            position = 0
            for token in self.tokenize_fragment(segment.text, parse_special=True):
                marker = self.control_token_name(token)
                at = segment.text.find(marker, position) if marker else -1
                if at == -1:
                    continue
                pending.append(segment.text[position:at])
                runs += ["".join(pending), token]
                pending = []
                position = at + len(marker)
            pending.append(segment.text[position:])
        runs.append("".join(pending))
        ids: list[int] = []
        for run in runs:
            if isinstance(run, int):
                ids.append(run)
            elif run:
                ids.extend(self.tokenize_fragment(run, parse_special=False))
        bos = self.leading_bos()
        if bos is not None and ids[:1] != [bos]:
            ids.insert(0, bos)
        return ids

    def count_tokens(self, prompt: Prompt) -> int:
        return len(self.prompt_token_ids(prompt))

    def token_text(self, token_id: int) -> str:
        return self.token_bytes(token_id).decode("utf-8", errors="replace")

    def cancel(self) -> None:
        self._cancel.set()

    def complete(self, prompt: Prompt, params: GenerationParams) -> Completion:
        return collect(self.stream(prompt, params), self.model_name, self.name)

    def control_token_name(self, token_id: int) -> str:
        """A control token's name (``<|im_start|>``), "" for any other token.

        For labels (a control token's text is empty, like llama.cpp's), and for
        :meth:`tokenize_segments` to find where the template wrote one.
        """
        return ""

    def continuation_token_ids(self, text: str) -> list[int]:
        """Tokens of ``text`` continuing a prompt: no BOS, and special-token text stays plain text."""
        return self.tokenize_fragment(text, parse_special=False)

    def stream(self, prompt: Prompt, params: GenerationParams) -> Iterator[Chunk]:
        refuse_unconstrained(self.name, self.capabilities, checked_params(params))
        self._cancel.clear()
        start = time.perf_counter()
        prompt_ids = self.prompt_token_ids(prompt)
        n_ctx = self.context_length
        check_prompt_fits(prompt_ids, n_ctx)
        budget = min(params.max_tokens, n_ctx - len(prompt_ids))
        detok = Utf8Detokenizer()
        stopper = StopMatcher(params.stop)
        finish: FinishReason = "length"
        hit_stop_sequence = False
        generated = 0
        first_at: float | None = None
        last_at = start
        # A control token's text is empty, so a stop sequence naming one (``-o stop=<|im_start|>``) is
        # matched by the token's name instead; its text never reaches the StopMatcher.
        stop_names = frozenset(params.stop)
        tokens = self.sample_tokens(prompt_ids, params)
        try:
            for sampled in tokens:
                if self.cancelled:
                    finish = "cancelled"
                    break
                now = time.perf_counter()
                if first_at is None:
                    first_at = now
                last_at = now
                if self.is_end_of_generation(sampled.token_id):
                    finish = "stop"
                    break
                if stop_names and (name := self.control_token_name(sampled.token_id)) and name in stop_names:
                    finish = "stop"  # the text held back as a possible stop's start is still flushed below
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
                if sampled.ends_document:
                    finish = "stop"
                    break
                if self.cancelled:
                    finish = "cancelled"
                    break
                if generated >= budget:
                    finish = "length"
                    break
            else:  # the engine stopped by itself: cancelled while it was still reading the prompt
                if self.cancelled:
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
            incomplete_bytes=detok.dropped,
        )

"""The one backend protocol (:class:`Backend`) and the checks every backend makes of its inputs.

Callers only ever use :class:`Backend`; they never branch on the concrete type. A
remote backend implements it directly; local engines subclass
:class:`~assistant.backends.base.TokenLoopBackend`, which implements it on top of
token primitives. Kept apart from that machinery, so that a plugin author reads the
contract in one short file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, Protocol, Sequence, runtime_checkable

from ..errors import ConfigError, ContextOverflowError
from ..types import AttentionMaps, Chunk, Completion, GenerationParams, Message, TokenLogprob
from .capabilities import Capabilities

if TYPE_CHECKING:
    from ..inspect.distribution import NextToken
    from ..inspect.pieces import TokenPiece

Prompt = Sequence[Message] | str
"""Chat messages (rendered with the model's chat template; at least one) or raw text (fed as is).

Either way the text from users, files, variables and tools is *data*: only the
chat template's own markers become control tokens. Raw text has no template, so
all of it is data (``"<|im_end|>"`` in it is those characters, not the token).
"""


NOTHING_TO_PREDICT_FROM = "the text is empty and this model starts it with no token of its own: nothing to predict from"


def check_prompt_fits(prompt_ids: Sequence[int], n_ctx: int) -> None:
    """Refuse a prompt of no tokens (nothing to predict from) or one that leaves the window no room.

    The one check every local engine call makes before it reads a prompt (generation,
    scoring, attention): engines assert on an empty one (llama-cpp-python: a bare
    AssertionError), and one that fills the window has no position left to predict.
    """
    if not prompt_ids:
        raise ConfigError(NOTHING_TO_PREDICT_FROM)
    if len(prompt_ids) >= n_ctx:
        raise ContextOverflowError(len(prompt_ids), n_ctx)


def checked_model(model: Any, where: str = "the model given to a backend's load()") -> str:
    """``model`` as the text ``-m`` takes: a str as it is, a path object's path; a TypeError for anything else.

    The one check of a model argument, made by every backend's ``load`` (and by
    :func:`~assistant.backends.load_backend`, which names itself in ``where``), as
    :func:`checked_prompt` is of a prompt: ``backend.load(5)`` was a raw
    "'int' object has no attribute 'startswith'" on one engine and another message on the next.
    """
    import os

    if isinstance(model, os.PathLike):
        model = os.fspath(model)
    if not isinstance(model, str):
        raise TypeError(
            f"{where} must be a str (a catalog name, a path, hf:ORG/REPO) or a path, not {type(model).__name__}"
        )
    return model


EMPTY_CONVERSATION = "the conversation is empty: give at least one message (a system prompt alone is one)"


def refuse_empty_conversation(messages: Sequence[Message]) -> None:
    """Refuse a prompt of no messages, on every backend alike.

    Local engines rendered ``[]`` through the model's chat template, which made up a
    conversation of its own (SmolLM2's default system prompt, then a reply to nobody),
    while the openai backend sent ``[]`` to the server, which refused it or did the same.
    An empty conversation has nothing to answer, so it is a one-line error everywhere.
    """
    if not messages:
        raise ConfigError(EMPTY_CONVERSATION)


def checked_prompt(prompt: Any) -> Prompt:
    """``prompt`` itself if it is a :data:`Prompt`; a TypeError naming what it is otherwise.

    The Python API's edge: a list of OpenAI-style dicts or a number would
    otherwise fail deep in a chat template ("'dict' object has no attribute ...").
    """
    if isinstance(prompt, str):
        _refuse_invalid_unicode(prompt)
        return prompt
    if isinstance(prompt, Sequence) and not isinstance(prompt, (bytes, bytearray)):
        wrong = next((m for m in prompt if not isinstance(m, Message)), None)
        if wrong is None:
            refuse_empty_conversation(prompt)
            for message in prompt:
                _refuse_invalid_unicode(message.content)
            return prompt
        hint = " (Message.from_dict makes one from a dict)" if isinstance(wrong, dict) else ""
        raise TypeError(f"a prompt's messages must be Message objects{hint}, not {type(wrong).__name__}")
    raise TypeError(f"a prompt must be text (str) or a list of Message, not {type(prompt).__name__}")


def _refuse_invalid_unicode(text: str, what: str = "the prompt") -> None:
    """A lone surrogate (``"\\ud800"`` from a bad decode) is a one-line error, not a UnicodeEncodeError in the engine."""
    from ..text_checks import invalid_unicode

    problem = invalid_unicode(text)
    if problem:
        raise ConfigError(f"{what} is not valid text: {problem}")


def checked_params(params: Any) -> GenerationParams:
    """``params`` itself if it is a :class:`GenerationParams` with values a backend can honour.

    A TypeError names what else it is. The values are checked again here, not only where the object
    was made: a field changed afterwards (``params.max_tokens = 0``) reached the engine unchecked
    (a token was generated; ``stop = [5]`` was a raw TypeError).
    """
    if not isinstance(params, GenerationParams):
        hint = " (GenerationParams(**values) makes one from a dict)" if isinstance(params, dict) else ""
        raise TypeError(f"params must be a GenerationParams{hint}, not {type(params).__name__}")
    params.validate()
    return params


def checked_candidates(candidates: Any) -> list[str]:
    """``candidates`` as a list of texts; a TypeError naming what else it is.

    A bare string is itself a sequence: ``score(prompt, "yes")`` scored the three
    one-letter candidates "y", "e" and "s", and ``[None]`` failed deep in a tokenizer.
    """
    if isinstance(candidates, str):
        raise TypeError(f"candidates must be a list of texts, not one text (give [{candidates[:40]!r}] for one candidate)")
    if not isinstance(candidates, Sequence) or isinstance(candidates, (bytes, bytearray)):
        raise TypeError(f"candidates must be a list of texts, not {type(candidates).__name__}")
    for candidate in candidates:
        if not isinstance(candidate, str):
            raise TypeError(f"candidates must be texts (str), not {type(candidate).__name__}")
        _refuse_invalid_unicode(candidate, "a candidate")
    return list(candidates)


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

    def score(self, prompt: Prompt, candidates: Sequence[str]) -> list[float]:
        """Log-likelihood (natural log, summed over tokens) of each continuation after ``prompt``.

        Chat messages are rendered with the generation prompt, as :meth:`stream`
        would; candidates are data, like the prompt's contents.
        """

    def cancel(self) -> None:
        """Ask the running ``stream`` to stop; it finishes within one token with ``cancelled``."""

    def token_logprobs(
        self, prompt: Prompt, token_ids: Sequence[int], params: GenerationParams, top: int = 5
    ) -> Iterator[TokenLogprob]:
        """Teacher-forced numbers of a given reply: what each token *would* have had when generated.

        ``token_ids`` follow ``prompt`` (a reply this model wrote, from
        ``Completion.token_ids``). For each: its model logprob, its sampled
        probability under ``params`` (repeat penalty over the reply's earlier
        tokens included), and the ``top`` most likely alternatives with both
        numbers — the same numbers generation reports with ``-o logprobs=top``.
        Lazy, one entry per token: iterate for progress, stop (or ``cancel``)
        to abandon. Only when ``capabilities.next_token``, else
        :class:`NotSupportedError`.
        """

    def token_pieces(self, token_ids: Sequence[int]) -> list[TokenPiece]:
        """Each token's exact bytes and, for a chat-template control token, its name (``assistant tokenize``).

        Only when ``capabilities.next_token`` (a local vocabulary), else :class:`NotSupportedError`.
        """

    def next_token(self, prompt: Prompt, params: GenerationParams, top: int = 10) -> NextToken:
        """The next-token distribution after ``prompt`` (rendered as :meth:`stream` would), whole vocabulary.

        See :class:`~assistant.inspect.distribution.NextToken`; ``top``
        candidates, most likely first. Only when ``capabilities.next_token``.
        """

    def attention(
        self,
        prompt: Prompt,
        params: GenerationParams,
        *,
        reply: str | Sequence[int] | None = None,
        window: int | None = None,
        memory_limit: int | None = ...,
    ) -> AttentionMaps:
        """Attention weights over prompt + reply (see :meth:`TokenLoopBackend.attention`).

        Only when ``capabilities.attention``; otherwise :class:`NotSupportedError`.
        """

    def attention_shape(self) -> tuple[int, int]:
        """(layers, heads) of the loaded model, known before any attention is computed."""

    def check_options(self, options: dict[str, Any], model: str | None = None) -> None:
        """Raise the error :meth:`load` would raise for an option it does not take, loading nothing.

        Called on an unloaded backend (``assistant compare`` checks both sides before
        either runs). With ``model`` (what :meth:`load` would be given), also what ``load``
        would refuse about that model's limits that its files on disk tell, such as an
        ``n_ctx`` past the context it was trained on — read from headers, never loaded or
        downloaded (a model not here yet is left to ``load``). A remote backend, whose
        model lives on a server, takes ``model`` and checks the options alone.
        Use :func:`assistant.backends.check_options`, which also takes a plugin backend
        written before this member (or before ``model``).
        """

    def unload(self) -> None: ...

"""A chat session: a loaded backend, the conversation so far, and the sampling params.

Front ends (the line chat, the TUI, ``assistant prompt``) all talk to a model
through this class, so they share one definition of "send a message and stream
the reply", including how a cancelled reply is kept.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .backends import Backend, backend_failure, load_backend
from .backends.base import Prompt
from .context import FittedPrompt, fit_to_context, reply_reserve
from .errors import AssistantError, ConfigError, HistoryError
from .terminal_text import message_line
from .text_checks import invalid_unicode
from .types import Chunk, Completion, GenerationParams, Message, Timings, TokenLogprob, Usage

if TYPE_CHECKING:
    from .history.recorder import ConversationRecorder
    from .history.records import Status, Turn
    from .models.mode import Mode


def stderr_progress(message: str) -> None:
    """The Python API's default progress: its lines name files others chose (a hub's, a GGUF's), so shown safely,
    one line each (:func:`~assistant.terminal_text.message_line`), as the CLI's progress lines are."""
    print(message_line(message), file=sys.stderr, flush=True)


def open_backend(
    model: str,
    backend: str,
    options: dict[str, Any] | None = None,
    progress: Callable[[str], None] = stderr_progress,
) -> Backend:
    """Load ``model`` into the named backend with config + explicit options."""
    return load_backend(backend, model, progress=progress, **(options or {}))


@dataclass
class ChatSession:
    """A conversation with one backend.

    ``recorder`` (optional, a :class:`~assistant.history.ConversationRecorder`)
    stores every turn: the user's message before generation, then the reply with
    status ``complete``, ``interrupted`` (cancelled, Ctrl-C, consumer stopped) or
    ``error``. Each ``send`` fits the prompt into the context window with
    :func:`~assistant.context.fit_to_context`; ``last_fit`` says how many tokens it
    used and how many old messages it left out.

    ``params`` may be given as a mapping (``{"temperature": 0}``): it is built into
    :class:`GenerationParams` over the config's ``[params]``, as ``run_template`` and
    the tools take it (left out, the config's ``[params]`` alone). A script's wrong
    argument (a backend's name instead of a loaded backend, a message that is not text)
    is a :class:`ConfigError` naming it, raised before anything is sent or recorded,
    not an engine failure blamed on the backend.
    The fields are checked again at each :meth:`send`, so one set in between
    (``session.params.temperature = -1``, ``session.recorder = ...``) is held to the same rules.
    """

    backend: Backend
    params: GenerationParams = field(default_factory=lambda: session_params(None))
    """Left out, the config's ``[params]``, as ``params=None`` or ``{}`` give: ``ChatSession(backend)``
    sampled at 0.7 where the config said ``temperature = 0`` and every command, template and tool obeyed it."""
    system: str | None = None
    messages: list[Message] = field(default_factory=list)
    last: Completion | None = None
    recorder: ConversationRecorder | None = None
    last_fit: FittedPrompt | None = None
    mode: Mode | None = None
    """``completion``: the conversation is one text the model continues (base models; see
    :mod:`assistant.models.mode`, which decides); no system prompt, no chat template.
    Left out (None), the loaded model's, as ``assistant prompt`` chooses it: ``completion``
    where ``backend.capabilities.chat_turns`` is false. It was always ``chat``, and a base
    model (``gemma3-270m``) wrapped in turns it never learned wrote "mejorar" instead of
    "Paris". Set when the session is made; always ``chat`` or ``completion`` after."""
    _sending: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)
    """Held while a reply streams: a conversation has one reply at a time (see :meth:`send`)."""

    if TYPE_CHECKING:
        # The signature type checkers see; at run time the dataclass writes ``__init__`` as usual.
        # The generated one took ``params`` as a GenerationParams only, so the README's
        # ``ChatSession(backend, params={"temperature": 0})`` failed mypy while it runs as documented.
        def __init__(
            self,
            backend: Backend,
            params: GenerationParams | Mapping[str, Any] | None = ...,
            system: str | None = None,
            messages: list[Message] = ...,
            last: Completion | None = None,
            recorder: ConversationRecorder | None = None,
            last_fit: FittedPrompt | None = None,
            mode: Mode | None = None,
        ) -> None: ...

    def __post_init__(self) -> None:
        self._check_fields()

    def _check_fields(self) -> None:
        """Every field checked, at construction and again at each :meth:`send`: a script sets them
        between sends (``session.recorder = ConversationRecorder(store)``, ``session.params.top_p = 2``),
        and a wrong one must be refused before anything is recorded or sent."""
        if self.backend is None or isinstance(self.backend, PLAIN_DATA):
            # ChatSession(5) or a backend's name was taken, and failed at the first send as an
            # AttributeError blamed on "the backend" (or, from another thread, cancel()).
            raise ConfigError(
                f"ChatSession needs a loaded backend (load_backend(NAME, MODEL)), not {shown_argument(self.backend)}"
            )
        if self.recorder is not None and not all(
            callable(getattr(self.recorder, name, None)) for name in ("start", "progress", "finish", "fail")
        ):
            # recorder="x" was taken and failed at send with "'str' object has no attribute 'start'".
            raise ConfigError(
                "ChatSession's recorder must be a ConversationRecorder (assistant.history) or None, "
                f"not {shown_argument(self.recorder)}"
            )
        self.params = session_params(self.params)
        # A field set since (``session.params.temperature = -5``) skipped the checks made when the
        # params were built, and the engine sampled at a negative temperature without a word.
        self.params.validate()  # a schema no JSON matches (``{"enum": []}``) too: before anything is recorded
        if self.system is not None and not isinstance(self.system, str):
            raise ConfigError(
                f"ChatSession's system prompt must be a str or None, not {type(self.system).__name__}"
            )
        if self.system is not None and (problem := invalid_unicode(self.system)):
            raise ConfigError(f"ChatSession's system prompt is not valid Unicode ({problem})")
        if self.mode is None:  # the loaded model's own, a typed capability of the protocol
            self.mode = "chat" if self.backend.capabilities.chat_turns else "completion"
        if self.mode not in ("chat", "completion"):
            raise ConfigError(f"ChatSession's mode must be 'chat' or 'completion', not {self.mode!r}")
        if not isinstance(self.messages, list) or not all(isinstance(m, Message) for m in self.messages):
            raise ConfigError("ChatSession's messages must be a list of Message")

    def prompt_messages(self, user_text: str | None = None) -> list[Message]:
        """System prompt + history (+ the new user turn), before fitting to the context."""
        out: list[Message] = []
        if self.system and self.mode == "chat":
            out.append(Message("system", self.system))
        out.extend(self.messages)
        if user_text is not None:
            out.append(Message("user", user_text))
        return out

    def fit_prompt(self, user_text: str | None = None) -> FittedPrompt:
        """What the backend will be sent: the prompt trimmed to the context window."""
        reserve = reply_reserve(self.params, self.backend.context_length)
        counter = self.backend if self.mode == "chat" else _CompletionCounter(self.backend)
        return fit_to_context(counter, self.prompt_messages(user_text), reserve)  # type: ignore[arg-type]

    def prompt_for(self, fitted: FittedPrompt) -> Prompt:
        """What goes to the backend: the messages (chat) or the one text of :func:`completion_text` (completion)."""
        return fitted.messages if self.mode == "chat" else completion_text(fitted.messages)

    def send(self, user_text: str) -> Generator[Chunk, None, None]:
        """Stream the reply to ``user_text``; the turn is recorded even if cut short.

        A generator (typed so: ``close()`` it to stop early, as the refusal below says),
        not only an iterator: ``Iterator[Chunk]`` made a checker reject ``reply.close()``.

        The prompt is built and fitted to the context window first: one that
        cannot be (longer than the window, a template that cannot render it)
        raises before anything is recorded, since the model never saw it. Then
        the user's message is stored (when recording) before generation can
        fail. If nothing was generated (an error or a cancel before the first
        token), the in-memory conversation is left as it was so the user can
        retry; the database keeps the attempt with its status.

        One reply at a time: a second ``send`` while the first one's stream is
        still open (not read to its end nor closed; another thread's) is refused,
        since both would append to one conversation and share one engine.

        :attr:`last` and :attr:`last_fit` are this send's from its start: None until
        it has a reply (a failure before the first token leaves None, never the
        previous reply as if it were this one's).

        Not itself a generator: a wrong argument, a field set wrong since, or a reply still
        streaming is refused here, at the call. As a generator, ``session.send(5)`` raised only
        when its stream was first read, so a script that never read it never learned. The
        session is taken when the stream starts (a stream never read holds nothing), and its
        fields are checked again then (one set between the call and the first read).
        """
        self._check_send(user_text)
        return self._stream(user_text)

    def _check_send(self, user_text: str) -> None:
        """What :meth:`send` refuses, at its call and again when its stream starts."""
        if not isinstance(user_text, str):
            raise ConfigError(
                f"ChatSession.send needs the user's text (a str), got {type(user_text).__name__}"
            )
        problem = invalid_unicode(user_text)
        if problem:  # refused where it enters, in the message's own positions (see assistant.text_checks)
            raise ConfigError(f"the message is not valid Unicode ({problem})")
        if self._sending.locked():
            raise _still_streaming()
        self._check_fields()  # a mapping assigned to params since, a recorder set since …

    def _stream(self, user_text: str) -> Generator[Chunk, None, None]:
        """:meth:`send`'s stream: the session is held from its first read to its end or ``close()``."""
        if not self._sending.acquire(blocking=False):
            raise _still_streaming()
        try:
            yield from self._send(user_text)
        finally:
            self._sending.release()

    def _send(self, user_text: str) -> Generator[Chunk, None, None]:
        """:meth:`send`, once the session is free."""
        self.last = self.last_fit = None  # this send's from here on (see send)
        self._check_fields()  # again: one set between the call and the stream's first read
        try:
            fitted = self.fit_prompt(user_text)
        except AssistantError:
            raise
        except Exception as exc:  # a backend's bug while counting tokens: one line naming the backend
            raise backend_failure(self.backend.name, "count the prompt's tokens", exc) from exc
        prompt = self.prompt_for(fitted)
        recorder = self.recorder  # the one that started the turn finishes it
        # completion mode: the exact text sent is kept with the reply, so resuming continues from it
        sent = prompt if isinstance(prompt, str) else None
        turn = recorder.start(self, user_text, completion_prompt=sent) if recorder is not None else None
        parts: list[str] = []
        token_ids: list[int] = []
        logprobs: list[TokenLogprob] = []  # kept with the turn when the params asked for them
        final: Chunk | None = None
        appended = False
        status: Status = "interrupted"  # unless the stream ends or raises: the consumer stopped
        error: str | None = None
        try:
            self.last_fit = fitted
            self.messages.append(Message("user", user_text))
            appended = True
            for chunk in self.backend.stream(prompt, self.params):
                parts.append(chunk.text)
                token_ids.extend(chunk.token_ids)
                logprobs.extend(chunk.logprobs)
                if chunk.finish_reason is not None:
                    final = chunk
                if recorder is not None and turn is not None:
                    recorder.progress(turn, parts)
                yield chunk
            status = "complete"
        except AssistantError as exc:
            status, error = "error", str(exc) or type(exc).__name__
            raise
        except Exception as exc:  # a backend's bug: one line naming the backend, recorded as the turn's error
            failure = backend_failure(self.backend.name, "generate", exc)
            status, error = "error", str(failure)
            raise failure from exc
        except KeyboardInterrupt:
            status, error = "interrupted", "interrupted by the user"
            raise
        finally:
            if status == "interrupted" and final is not None:
                # The consumer stopped at the chunk that ended the reply (``if chunk.finish_reason: break``):
                # the reply was whole, and was stored as interrupted while ``last`` said "stop".
                status, error = "complete", None
            completion: Completion | None = None
            if parts or status == "complete":
                completion = self._finish(
                    parts, final, "error" if status == "error" else "cancelled", token_ids, logprobs,
                    prompt_tokens=fitted.prompt_tokens,
                )
                if not completion.text and completion.finish_reason == "cancelled":
                    # Stopped before the first token (the engine ends a cancelled stream normally):
                    # the model never answered, so the exchange leaves the live conversation, as
                    # a resumed one leaves it out (context_of). ``last`` still says what happened.
                    del self.messages[-2:]
            elif appended:
                self.messages.pop()  # nothing generated: leave the conversation as it was
            if recorder is not None and turn is not None:
                _record(recorder, turn, completion, status, error, propagating=error is not None)

    def _finish(
        self,
        parts: list[str],
        final: Chunk | None,
        default_reason: str,
        token_ids: list[int] | None = None,
        logprobs: list[TokenLogprob] | None = None,
        prompt_tokens: int | None = None,
    ) -> Completion:
        """The reply as :attr:`last`. Cut short (no final chunk: the consumer stopped, Ctrl-C, an
        error), its usage is what was counted here, not the zeros a reply of "The" was shown with."""
        text = "".join(parts)
        usage = final.usage if final and final.usage else Usage(prompt_tokens or 0, len(token_ids or []))
        self.messages.append(Message("assistant", text))
        self.last = Completion(
            text=text,
            model=self.backend.model_name,
            backend=self.backend.name,
            finish_reason=(final.finish_reason if final and final.finish_reason else default_reason),  # type: ignore[arg-type]
            usage=usage,
            timings=final.timings if final and final.timings else Timings(),
            token_ids=token_ids or [],
            logprobs=logprobs or [],
            incomplete_bytes=final.incomplete_bytes if final else 0,
        )
        return self.last

    def cancel(self) -> None:
        """Stop the reply streaming now (from another thread): it is kept, cut short, as ``cancelled``.

        The backend's own cancel; one made while nothing streams is cleared when the next reply starts."""
        self.backend.cancel()


def _still_streaming() -> ConfigError:
    """The refusal of a second :meth:`ChatSession.send` while a reply streams (one conversation, one engine)."""
    return ConfigError(
        "this ChatSession is still streaming a reply: read it to the end or close() it before sending again"
    )


def session_params(params: GenerationParams | Mapping[str, Any] | None) -> GenerationParams:
    """A session's params: a GenerationParams as given; a mapping (or None) over the config's ``[params]``."""
    if isinstance(params, GenerationParams):
        return params
    if params is None or isinstance(params, Mapping):
        from .options import build_params

        return build_params(dict(params or {}))
    raise ConfigError(
        f"ChatSession's params must be a GenerationParams or a mapping, not {type(params).__name__}"
    )


PLAIN_DATA = (str, bytes, bytearray, int, float, complex, list, tuple, dict, set, frozenset, Mapping)
"""What a script passes by mistake for a backend (its name, a number, a dict of options): never one."""


def shown_argument(value: object) -> str:
    """A wrong argument in an error: its value where that is a short name or number, else its type.

    Never an object's own ``repr``: that can be long, raise, or hold terminal escapes."""
    if value is None or isinstance(value, (str, bytes, int, float)):
        shown = repr(value)  # escapes control characters
        if len(shown) <= 60:
            return shown
    return type(value).__name__


TURN_SEPARATOR = " "
"""Put before a user's text that follows a turn when neither side has whitespace where they meet."""


@dataclass(frozen=True)
class SentText(Message):
    """A message of a resumed completion-mode conversation with the text it added to the prompt the
    model was really sent (:attr:`~assistant.history.records.StoredMessage.completion_prompt`).

    Why: :func:`completion_text` joins turns by today's rule; a conversation
    written under another (before :data:`TURN_SEPARATOR`, none went between a
    reply and the next user text) rebuilt into another text than the one its
    model continued. ``sent`` is what joined this message to the text before it
    (whitespace, or nothing) and its text; :func:`completion_text` takes it as it
    is. ``content`` stays the message as stored: chat mode, and every view of
    the turns, use that.
    """

    sent: str

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.sent, str):
            raise ConfigError(f"SentText's sent text must be text, not {type(self.sent).__name__}")
        if not self.sent.endswith(self.content):
            raise ConfigError("SentText's sent text must end with its content (what joined it, then the text)")


def completion_text(messages: list[Message]) -> str:
    """A completion-mode conversation as the one text the model continues: every turn's text, in order.

    What the user typed and what the model wrote are one document (system
    messages have no place in it and are left out). A reply is the model's
    continuation of the text before it, so nothing goes before it. The user's
    next text, though, is new writing after a finished reply: joined as is,
    ``…the sea.`` and ``In the abyss`` became ``…the sea.In the abyss``, for
    the model and on screen. So where neither the text so far ends with
    whitespace nor the user's text starts with some, one
    :data:`TURN_SEPARATOR` goes between them; a newline either side wrote is
    kept as the only separator. This is the one definition: the chat app's
    turns and views and ``assistant prompt -c`` send and show this text.
    A resumed conversation's :class:`SentText` messages add the text they were
    sent as, joints included, so it continues as it was written (the first one
    kept drops what joined it to turns left out).
    """
    parts: list[str] = []
    last = ""  # the last character so far (an empty turn adds none)
    first = True  # no turn before this one (the ones before it were left out, or there were none)
    for message in messages:
        if message.role == "system":
            continue
        if isinstance(message, SentText):
            sent = message.content if first else message.sent  # what joined it to a turn left out goes too
            first = False
            if sent:
                parts.append(sent)
                last = sent[-1]
            continue
        first = False
        if not message.content:
            continue
        text = message.content
        if message.role == "user" and last and not last.isspace() and not text[0].isspace():
            parts.append(TURN_SEPARATOR)
        parts.append(text)
        last = text[-1]
    return "".join(parts)


class _CompletionCounter:
    """Counts a prompt's tokens as completion text, so context fitting measures what is really sent."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    @property
    def context_length(self) -> int:
        return self.backend.context_length

    def count_tokens(self, messages: list[Message]) -> int:
        return self.backend.count_tokens(completion_text(messages))


def _record(
    recorder: ConversationRecorder,
    turn: Turn,
    completion: Completion | None,
    status: Status,
    error: str | None,
    propagating: bool,
) -> None:
    """Store the reply; a failure to record never hides the error that ended the turn."""
    try:
        if status == "complete" and completion is not None:
            recorder.finish(turn, completion)
        else:
            recorder.fail(turn, completion.text if completion else "", status, error)
    except HistoryError:
        if not propagating:
            raise

"""``ConversationRecorder``: the bridge between a ChatSession and the history store.

:class:`~assistant.session.ChatSession` calls it around every ``send``; front
ends only construct it::

    store = HistoryStore.open(db_path)                # --db / config / default
    session.recorder = ConversationRecorder(store)    # new conversation on first turn
    session.recorder = ConversationRecorder(store, conversation_id=12)  # resume

The conversation row is created lazily on the first turn, so opening the chat
and quitting leaves no empty conversation behind.

A conversation is a tree (see :meth:`HistoryStore.messages`): a turn normally
follows the message this recorder last knew as the head — the one the model's
context ends with — so a turn another process added meanwhile (two ``prompt -c``
at once, two chat windows on one conversation) becomes another branch instead of
a turn the model never saw; :meth:`ConversationRecorder.regenerate` makes the next turn
another reply to a stored user message, :meth:`ConversationRecorder.branch_after`
puts an edited message beside the one it replaces. Both branches are kept;
:meth:`ConversationRecorder.activate` switches between them.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from ..errors import HistoryError
from ..types import Completion, Message
from . import arguments
from .batch_turns import BatchRow
from .model_refs import model_ref_of
from .records import INTERRUPTED_BY_USER, KINDS, Kind, Status, Turn, TurnMeta
from .store import AT_HEAD, KEEP, HistoryStore
from .stored_text import title_from

if TYPE_CHECKING:
    from ..session import ChatSession

CHECKPOINT_INTERVAL_S = 1.0


class ConversationRecorder:
    """Records one conversation's turns: the one place a turn is written, for every front end.

    Streamed chat turns use :meth:`start` / :meth:`progress` / :meth:`finish` /
    :meth:`fail` (through :class:`~assistant.session.ChatSession`); one-shot
    turns — a tool, a scored label, a template run, a batch row — use
    :meth:`turn`. ``template`` tags turns made from a template; ``title`` and
    ``kind`` describe the conversation it creates on its first turn.
    """

    def __init__(
        self,
        store: HistoryStore,
        conversation_id: int | None = None,
        *,
        template: str | None = None,
        title: str | None = None,
        kind: Kind = "chat",
        checkpoint_interval: float = CHECKPOINT_INTERVAL_S,
        after: Any = AT_HEAD,
    ) -> None:
        """``after``: the message a resumed conversation's context ends with (default: its head now)."""
        if not isinstance(store, HistoryStore):  # else the first turn fails, after the model has run
            raise HistoryError(f"store must be a HistoryStore (HistoryStore.open()), not {type(store).__name__}")
        if kind not in KINDS:
            raise HistoryError(f"conversation kind must be one of {', '.join(KINDS)}, not {kind!r}")
        self.store = store
        self.conversation_id = conversation_id
        self.template = template
        self.title = title
        self.kind = kind
        self.checkpoint_interval = checkpoint_interval
        self._after: Any = after
        """The message the next turn follows: the head as this recorder saw it (AT_HEAD: the store's)."""
        self._lock = threading.Lock()
        if conversation_id is not None:
            conversation = store.get_conversation(conversation_id)
            if after is AT_HEAD and conversation.head_id is not None:
                self._after = conversation.head_id
        self._last_checkpoint = 0.0
        self._checkpoint_failed = False
        self._next: tuple[str, int | None] | None = None
        """Where the next turn goes when not after the head: ("after", parent) or ("reply", user message)."""
        self.last_turn: Turn | None = None
        """The turn recorded last (its message ids: the chat app's widgets point at them)."""
        self.batch_row: BatchRow | None = None
        """The batch row the next turn is (:mod:`.batch_turns`): stored with it, then cleared."""

    # ---- branches ----------------------------------------------------------------------
    def branch_after(self, parent_id: int | None) -> None:
        """The next turn's user message follows ``parent_id`` (None: a new first message), not the head.

        Edit and resend: the edited message is a new sibling of the one it
        replaces, whose branch stays in the history.
        """
        self._require_conversation()
        self._next = ("after", parent_id)

    def regenerate(self, user_message_id: int) -> None:
        """The next turn is another reply to the stored ``user_message_id`` (its text is not stored again)."""
        self._require_conversation()
        self._next = ("reply", user_message_id)

    def cancel_branch(self) -> None:
        """The turn prepared with :meth:`branch_after` / :meth:`regenerate` did not happen.

        The next turn follows the stored head again: a front end that backs out
        reloads the conversation from the store (the branch it shows next).
        """
        self._next = None
        self._after = AT_HEAD

    @property
    def head(self) -> int | None:
        """The message the next turn follows as this recorder knows it, or None for the store's head."""
        return None if self._after is AT_HEAD else self._after

    @property
    def branching(self) -> bool:
        """A branch is prepared for the next turn."""
        return self._next is not None

    def activate(self, message_id: int) -> int:
        """Show and continue the branch through ``message_id`` (another version of a reply or a message).

        Returns the branch's head: the next turn follows it.
        """
        head = self.store.activate(self._require_conversation(), message_id)
        self._after = head
        return head

    def siblings(self, message_id: int) -> list[int]:
        """The versions at ``message_id``'s place, oldest first (itself included)."""
        return self.store.siblings(self._require_conversation(), message_id)

    def _require_conversation(self) -> int:
        if self.conversation_id is None:
            raise HistoryError("this conversation has no stored turns yet")
        return self.conversation_id

    def meta_of(self, session: ChatSession) -> TurnMeta:
        """What produced a turn of ``session``: its backend, model, params and this recorder's template."""
        return TurnMeta(
            model=session.backend.model_name or None,
            backend=session.backend.name,
            template=self.template,
            params=session.params.to_dict(),
            model_ref=model_ref_of(session.backend),
        )

    def start(self, session: ChatSession, user_text: str, completion_prompt: str | None = None) -> Turn:
        """Store the user's message (creating the conversation if needed) before generation.

        The system prompt recorded is the one the model is sent: none in
        completion mode (a base model continues the text alone, see
        :meth:`ChatSession.prompt_messages`). Recorded as the session's, the
        configured default showed in ``history show`` and every export (a
        ``system`` turn in jsonl) of a conversation the model never saw it in.
        ``completion_prompt``: in completion mode, the one text the model is sent,
        kept with the reply so that resuming continues from exactly that text
        (:attr:`~assistant.history.records.StoredMessage.completion_prompt`).
        """
        system = session.system if session.mode == "chat" else None
        return self.start_turn(user_text, self.meta_of(session), system, completion_prompt=completion_prompt)

    def start_turn(
        self, user_text: str, meta: TurnMeta, system: str | None = KEEP, rendered: Sequence[Message] | None = None,
        *, completion_prompt: str | None = None,
    ) -> Turn:
        """The user's message, stored before anything runs; the conversation is created on the first turn.

        It follows the conversation's head, unless a branch was prepared
        (:meth:`branch_after`, :meth:`regenerate`: then only a new reply is stored).
        Not the store's head: the head as this recorder saw it, so the stored
        turn follows what the model was given even when another process wrote
        to the conversation meanwhile. ``rendered``: what a prompt template made of
        ``user_text``, sent in its place, and ``completion_prompt``: see :meth:`HistoryStore.start_turn`.
        """
        with self._lock:  # one decision of where the turn goes at a time (batch rows may record from threads)
            turn = self._start_turn(user_text, meta, system, rendered, completion_prompt)
            self._after = turn.reply_message_id
            self.last_turn = turn
        return turn

    def _start_turn(
        self, user_text: str, meta: TurnMeta, system: str | None, rendered: Sequence[Message] | None,
        completion_prompt: str | None,
    ) -> Turn:
        if self.conversation_id is None:
            conversation = self.store.create_conversation(
                title=self.title or title_from(user_text),
                system=None if system is KEEP else system,
                meta=meta,
                kind=self.kind,
            )
            self.conversation_id = conversation.id
        self._last_checkpoint = time.monotonic()
        self._checkpoint_failed = False
        where, self._next = self._next, None
        batch_row, self.batch_row = self.batch_row, None
        # The system prompt goes with the turn: a change is recorded in the same transaction,
        # and the turns before it keep the one they had.
        if where is not None and where[0] == "reply":
            assert where[1] is not None
            return self.store.start_reply(
                self.conversation_id, where[1], meta, system=system, completion_prompt=completion_prompt,
                batch_row=batch_row,
            )
        return self.store.start_turn(
            self.conversation_id, user_text, meta, parent_id=self._after if where is None else where[1],
            system=system, rendered=rendered, completion_prompt=completion_prompt, batch_row=batch_row,
        )

    def progress(self, turn: Turn, parts: list[str]) -> None:
        """Checkpoint the partial reply at most every ``checkpoint_interval`` seconds.

        Best effort: if the database is briefly unavailable the generation goes
        on; :meth:`finish` reports the error if it persists.
        """
        if self._checkpoint_failed:
            return
        now = time.monotonic()
        if now - self._last_checkpoint < self.checkpoint_interval:
            return
        self._last_checkpoint = now
        try:
            self.store.checkpoint(turn, "".join(parts))
        except HistoryError:
            self._checkpoint_failed = True

    def finish(
        self, turn: Turn, completion: Completion, *, tool_name: str | None = None, tool_result: Any = None
    ) -> None:
        self.store.finish_turn(turn, completion, tool_name=tool_name, tool_result=tool_result)

    def fail(
        self, turn: Turn, partial_text: str, status: Status, error: str | None = None, tool_name: str | None = None
    ) -> None:
        self.store.fail_turn(turn, partial_text, status=status, error=error, tool_name=tool_name)

    @contextmanager
    def turn(
        self, user_text: str, meta: TurnMeta, system: str | None = KEEP, rendered: Sequence[Message] | None = None
    ) -> Iterator[ExchangeTurn]:
        """A one-shot turn: stored before the run, kept as interrupted / error if it is cut short.

        ``rendered``: what a prompt template made of ``user_text`` (a template run), as :meth:`start_turn`.

        ::

            with recorder.turn(user_text, meta) as turn:
                result = run(...)            # may raise: stored as error / interrupted
                turn.complete(completion, tool_name="ner", tool_result=result.to_dict())
        """
        turn = self.start_turn(user_text, meta, system, rendered)
        report = ExchangeTurn()
        try:
            yield report
        except KeyboardInterrupt:
            self.fail(turn, "".join(report.partial), "interrupted", INTERRUPTED_BY_USER, report.tool_name)
            raise
        except Exception as exc:
            self.fail(turn, "".join(report.partial), "error", str(exc) or type(exc).__name__, report.tool_name)
            raise
        if report.completion is not None and report.status is None:
            self.finish(turn, report.completion, tool_name=report.tool_name, tool_result=report.tool_result)
        else:
            self.fail(
                turn, "".join(report.partial), report.status or "error", report.error or "no result", report.tool_name
            )


@dataclass
class ExchangeTurn:
    """What a one-shot run reports back: a completion, or a failure with the text so far."""

    partial: list[str] = field(default_factory=list)
    completion: Completion | None = None
    tool_name: str | None = None
    """The tool that runs (set before it runs, so a failure is stored as that tool's too)."""
    tool_result: Any = None
    status: Status | None = None
    error: str | None = None
    recorded: bool = True
    """False with ``--no-log`` (:func:`unrecorded_turn`): nothing is stored, so nothing needs to be storable."""

    def add_text(self, piece: str) -> None:
        self.partial.append(piece)

    def complete(self, completion: Completion, *, tool_name: str | None = None, tool_result: Any = None) -> None:
        """Checked here, inside the ``with``: a wrong value is then stored as the turn's error and raised.
        Found only when the block ended, the turn was left "interrupted" (or "no result": None) and no one told."""
        if self.recorded:
            arguments.completion(completion)
            self.partial = [completion.text]  # kept with the error should the rest be refused
            arguments.optional_text(tool_name, "tool_name")
            arguments.json_text(tool_result, "tool result")
        self.completion, self.tool_name, self.tool_result = completion, tool_name, tool_result

    def fail(self, error: str, text: str | None = None) -> None:
        """The run finished but produced no valid result (e.g. no answer line)."""
        self.status, self.error = "error", error
        if text is not None:
            self.partial = [text]


@contextmanager
def unrecorded_turn() -> Iterator[ExchangeTurn]:
    """The same ``turn`` API with ``--no-log``: the report is collected and dropped."""
    yield ExchangeTurn(recorded=False)

"""What the front ends' history options (``--db``, ``--no-log``, ``-c``, ``--cid``) resolve to.

``assistant prompt``, the chat and the TUI all call :func:`link_history` once,
then take the model, system prompt, earlier messages and recorder from it, so
"continue a conversation" means the same thing everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from ..errors import ConfigError, HistoryError
from ..types import Message
from .db import resolve_db_path
from .recorder import ConversationRecorder
from .records import Conversation, StoredMessage
from .resume import context_of
from .store import AT_HEAD, HistoryStore


@dataclass
class HistoryLink:
    """The store (None with ``--no-log`` and nothing to continue) and the conversation resumed."""

    store: HistoryStore | None
    conversation: Conversation | None = None
    messages: list[Message] = field(default_factory=list)
    log: bool = True
    written_by: tuple[str | None, str | None] | None = None
    """(model, backend) the resumed branch continues with (:func:`model_to_continue`), if any: see :attr:`model`."""
    after: Any = AT_HEAD
    """The message :attr:`messages` ends with (the head when it was read): the next turn follows it."""

    @property
    def model(self) -> str | None:
        """The model to continue with when ``-m`` is not given: the one that wrote the newest reply.

        The conversation row keeps the *first* turn's model, so a conversation moved to
        another model (``-c -b openai -m lab/MODEL``, F2 in the chat) went back to the old
        one on the next ``-c``; it is taken from the newest reply, with its backend.
        """
        if self.written_by is not None:
            return self.written_by[0]
        return self.conversation.model if self.conversation else None  # a file with no model on any message

    @property
    def backend(self) -> str | None:
        """The backend paired with :attr:`model` (a model name means nothing on another backend)."""
        if self.written_by is not None:
            return self.written_by[1]
        return self.conversation.backend if self.conversation else None

    def system(self, explicit: str | None, default: str | None) -> str | None:
        """``-s`` wins; a resumed conversation keeps its own; else the default.

        Older versions stored a ``--schema`` turn's JSON instruction as the
        conversation's system prompt; it belonged to that reply, so a resumed
        conversation is given its system prompt without it.
        """
        if explicit is not None:
            return explicit
        if self.conversation is not None:
            from ..structured.output import without_schema_instruction

            return without_schema_instruction(self.conversation.system)
        return default

    def recorder(self, template: str | None = None) -> ConversationRecorder | None:
        if not self.log or self.store is None:
            return None
        conversation_id = self.conversation.id if self.conversation else None
        return ConversationRecorder(self.store, conversation_id, template=template, after=self.after)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


def link_history(
    db: str | None = None,
    no_log: bool = False,
    continue_latest: bool = False,
    conversation_id: int | None = None,
) -> HistoryLink:
    """Open the history for a front end; fails early (before any model loads) if it cannot."""
    if continue_latest and conversation_id is not None:
        raise ConfigError("use either -c/--continue or --cid, not both")
    resuming = continue_latest or conversation_id is not None
    if no_log and not resuming:
        return HistoryLink(None, log=False)
    if resuming and not resolve_db_path(db).exists():
        raise HistoryError(f"no conversation to continue yet (no history at {resolve_db_path(db)})")
    store = HistoryStore.open(db, need_write=not no_log)
    try:
        conversation: Conversation | None = None
        if conversation_id is not None:
            conversation = store.get_conversation(conversation_id)
        elif continue_latest:
            conversation = store.latest_conversation()
            if conversation is None:
                raise HistoryError("no conversation to continue yet")
        stored = store.messages(conversation.id) if conversation else []
    except BaseException:
        store.close()
        raise
    return HistoryLink(
        store, conversation, context_of(stored), log=not no_log,
        written_by=model_to_continue(stored),
        # what the model is given ends here, so the turn goes after it even if another process writes meanwhile
        after=(stored[-1].id if stored else None) if conversation is not None else AT_HEAD,
    )


def model_to_continue(stored: Sequence[StoredMessage]) -> tuple[str | None, str | None] | None:
    """(model, backend) a resumed conversation continues with unless ``-m``/``-b`` say otherwise: the one
    place ``-c``, ``--cid`` and the chat app's reopening take it from the history.

    The newest reply's (:func:`newest_writer`), else the first turn's (:func:`first_model`), each as
    ``-m`` loads it again (:attr:`StoredMessage.model_to_load`).
    """
    return newest_writer(stored) or first_model(stored)


def newest_writer(stored: Sequence[StoredMessage]) -> tuple[str | None, str | None] | None:
    """(model, backend) of the newest reply a model actually wrote (some text, or complete), or None.

    The model as ``-m`` loads it again (:attr:`StoredMessage.model_to_load`: a model given by path is
    its path, not the file name the reply shows).

    A reply that failed before any text (a refused model name, a server that was
    down) is skipped: continuing with what failed would fail again.
    """
    for message in reversed(stored):
        model = message.model_to_load
        if message.role == "assistant" and model and (message.content or message.status == "complete"):
            return model, message.backend
    return None


def first_model(stored: Sequence[StoredMessage]) -> tuple[str | None, str | None] | None:
    """(model, backend) the branch's first turn was sent to, as ``-m`` loads it again; None without one.

    Where no reply was written (Esc before the first token, a failed load), this is what continuing
    tries: the conversation row's model is only the short name, and a model given by path went back
    to "model file not found: x.gguf".
    """
    for message in stored:
        if message.model_to_load:
            return message.model_to_load, message.backend
    return None

"""What the front ends' history options (``--db``, ``--no-log``, ``-c``, ``--cid``) resolve to.

``assistant prompt``, the chat and the TUI all call :func:`link_history` once,
then take the model, system prompt, earlier messages and recorder from it, so
"continue a conversation" means the same thing everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ConfigError, HistoryError
from ..types import Message
from .db import resolve_db_path
from .recorder import ConversationRecorder
from .records import Conversation
from .store import HistoryStore


@dataclass
class HistoryLink:
    """The store (None with ``--no-log`` and nothing to continue) and the conversation resumed."""

    store: HistoryStore | None
    conversation: Conversation | None = None
    messages: list[Message] = field(default_factory=list)
    log: bool = True

    @property
    def model(self) -> str | None:
        """The resumed conversation's model, used when ``-m`` is not given."""
        return self.conversation.model if self.conversation else None

    @property
    def backend(self) -> str | None:
        return self.conversation.backend if self.conversation else None

    def system(self, explicit: str | None, default: str | None) -> str | None:
        """``-s`` wins; a resumed conversation keeps its own; else the default."""
        if explicit is not None:
            return explicit
        if self.conversation is not None:
            return self.conversation.system
        return default

    def recorder(self, template: str | None = None) -> ConversationRecorder | None:
        if not self.log or self.store is None:
            return None
        conversation_id = self.conversation.id if self.conversation else None
        return ConversationRecorder(self.store, conversation_id, template=template)

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
        messages = store.context_messages(conversation.id) if conversation else []
    except BaseException:
        store.close()
        raise
    return HistoryLink(store, conversation, messages, log=not no_log)

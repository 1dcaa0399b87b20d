"""The conversations sidebar's data: the history store, seen as rows to list and open.

A thin, UI-free layer over :class:`~assistant.history.HistoryStore` so the
sidebar only draws rows, and so "history is off" (``--no-log`` with nothing to
continue) is one object that says so instead of ``None`` checks everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import HistoryError
from ..history.stored_text import UNTITLED  # one name for a conversation without a title, CLI and app
from ..types import Message

if TYPE_CHECKING:
    from ..history import Conversation, ConversationRecorder, HistoryStore, StoredMessage


def format_when(iso: str) -> str:
    """A stored UTC timestamp as local "YYYY-MM-DD HH:MM" (the raw text if unparsable)."""
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


@dataclass(frozen=True)
class ConversationRow:
    """One sidebar entry: a conversation, or a search hit inside one."""

    id: int
    title: str
    detail: str
    found: tuple[tuple[int, int], ...] = ()
    """Where ``detail`` (a search hit's snippet) matched the search, as character spans: the sidebar styles
    them (:mod:`.search_marks`; brackets, as ``history search`` prints, could not be told from the text's)."""


@dataclass
class OpenedConversation:
    conversation: Conversation
    stored: list[StoredMessage]
    """Every stored message, whatever its status: what the screen shows."""
    context: list[Message]
    """The turns the model is resumed with (fitted to the window at each send)."""
    remembered: Any = None
    """The settings its newest reply was made with (assistant.tui.remembered.Remembered), once restored."""


class ConversationLibrary:
    """Lists, searches, opens, renames and deletes stored conversations."""

    def __init__(self, store: HistoryStore | None, log: bool = True) -> None:
        self.store = store
        self.log = log and store is not None

    @property
    def available(self) -> bool:
        return self.store is not None

    def _require(self) -> HistoryStore:
        if self.store is None:
            raise HistoryError("history is off for this session (--no-log)")
        return self.store

    def recorder(
        self, conversation_id: int | None = None, template: str | None = None
    ) -> ConversationRecorder | None:
        """Records the turns of this conversation (a new one when None), unless logging is off."""
        if not self.log or self.store is None:
            return None
        from ..history import ConversationRecorder

        return ConversationRecorder(self.store, conversation_id, template=template)

    def recent_inputs(self, limit: int = 500) -> list[str]:
        """What the user sent in earlier chats, oldest first, so Up reaches past this run of the app."""
        return self.store.recent_user_texts(limit) if self.store is not None else []

    @property
    def keeps_drafts(self) -> bool:
        """Whether an unsent message is kept on quitting: not with history off (``--no-log``: nothing
        typed is written to disk)."""
        return self.log and self.store is not None

    def keep_draft(self, conversation_id: int | None, text: str) -> None:
        """Keep the message box's unsent ``text`` for this conversation (None: the new chat)."""
        if self.keeps_drafts:
            from .remembered import draft_key, keep_draft

            assert self.store is not None
            keep_draft(draft_key(self.store.path, conversation_id), text)

    def take_draft(self, conversation_id: int | None) -> str:
        """The unsent message kept for this conversation ("" when none); it is forgotten once taken."""
        if not self.keeps_drafts:
            return ""
        from .remembered import draft_key, take_draft

        assert self.store is not None
        return take_draft(draft_key(self.store.path, conversation_id))

    def recent(self, limit: int = 200) -> list[ConversationRow]:
        if self.store is None:
            return []
        return [
            ConversationRow(
                conversation.id,
                conversation.title or UNTITLED,
                f"{format_when(conversation.updated)} · {conversation.message_count or 0} msgs",
            )
            for conversation in self.store.list_conversations(limit=limit)
        ]

    def search(self, query: str, limit: int = 100) -> list[ConversationRow]:
        """Conversations with a message matching ``query`` (any text), best hit first."""
        from ..history.search import has_word_characters

        if self.store is None or not query.strip():
            return self.recent()
        if not has_word_characters(query):
            return []  # nothing searchable typed yet ("(", "*"): no matches rather than an error
        from .search_marks import sidebar_snippet

        rows = []
        # the best hit of each conversation, the only one the sidebar shows: snippets are made for those alone
        for hit in self.store.search(query, limit=limit, marked=True, per_conversation=True):
            snippet = sidebar_snippet(hit.marked)
            rows.append(
                ConversationRow(hit.conversation_id, hit.conversation_title or UNTITLED, snippet.text, snippet.found)
            )
        return rows

    def open(self, conversation_id: int) -> OpenedConversation:
        store = self._require()
        return OpenedConversation(
            conversation=store.get_conversation(conversation_id),
            stored=store.messages(conversation_id),
            context=store.context_messages(conversation_id),
        )

    def title(self, conversation_id: int) -> str:
        """The conversation's title, "" when it has none (without reading its messages)."""
        return self._require().get_conversation(conversation_id).title or ""

    def rename(self, conversation_id: int, title: str) -> None:
        self._require().rename(conversation_id, title)

    def delete(self, conversation_id: int) -> None:
        self._require().delete(conversation_id)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()

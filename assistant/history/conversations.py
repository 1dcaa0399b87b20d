"""The ``conversations`` rows of :class:`~assistant.history.store.HistoryStore`: create, find, list, rename, delete.

A conversation's system prompt changes with a turn (:mod:`.turns`); its
messages are read by :mod:`.store`.
"""

from __future__ import annotations

from ..errors import HistoryError
from . import arguments
from .access import StoreAccess, guarded, now_iso
from .db import BUSY_TIMEOUT_S, write_transaction
from .records import Conversation, Kind, TurnMeta
from .stored_text import given_title, storable_text


class ConversationRows(StoreAccess):
    """The store's methods on whole conversations."""

    @guarded
    def create_conversation(
        self,
        *,
        title: str | None = None,
        system: str | None = None,
        meta: TurnMeta = TurnMeta(),
        kind: Kind = "chat",
    ) -> Conversation:
        kind = arguments.kind(kind)  # type: ignore[assignment]
        meta = arguments.turn_meta(meta)
        now = now_iso()
        row = {  # the title: a batch's names its file
            "title": (given_title(title) or None) if title is not None else None,
            "created": now,
            "updated": now,
            "model": meta.model,
            "backend": meta.backend,
            "template": meta.template,
            "system": storable_text(system, "the system prompt") if system is not None else None,
            "params": arguments.json_text(meta.params, "params"),
            "kind": kind,
        }
        with write_transaction(self.db):
            cursor = self.db.execute(
                "INSERT INTO conversations (title, created, updated, model, backend, template, system, params, kind)"
                " VALUES (:title, :created, :updated, :model, :backend, :template, :system, :params, :kind)",
                row,
            )
        return Conversation(id=int(cursor.lastrowid or 0), message_count=0, **{**row, "params": meta.params})

    @guarded
    def get_conversation(self, conversation_id: int) -> Conversation:
        conversation_id = arguments.row_id(conversation_id)
        rows = list(
            self.db.query(
                "SELECT c.*, (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) AS message_count"
                " FROM conversations c WHERE c.id = ?",
                [conversation_id],
            )
        )
        if not rows:
            raise HistoryError(f"no conversation with id {conversation_id} (see `assistant history list`)")
        return Conversation.from_row(rows[0])

    @guarded
    def latest_conversation(self, kind: Kind | None = "chat") -> Conversation | None:
        """The most recently updated conversation of ``kind`` (None: any kind), or None if there is none.

        ``-c`` continues a *chat*: a tool run or a batch made since is not what
        the user means to continue.
        """
        kind = arguments.kind(kind, none_ok=True)
        where, args = ("WHERE kind = ?", [kind]) if kind is not None else ("", [])
        rows = list(
            self.db.query(f"SELECT id FROM conversations {where} ORDER BY updated DESC, id DESC LIMIT 1", args)
        )
        return self.get_conversation(rows[0]["id"]) if rows else None

    @guarded
    def list_conversations(self, limit: int = 20, offset: int = 0) -> list[Conversation]:
        """Newest first, each with its message count."""
        limit, offset = arguments.count(limit, "limit"), arguments.count(offset, "offset")
        rows = self.db.query(
            "SELECT c.*, (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) AS message_count"
            " FROM conversations c ORDER BY c.updated DESC, c.id DESC LIMIT ? OFFSET ?",
            [limit, offset],
        )
        return [Conversation.from_row(row) for row in rows]

    @guarded
    def conversation_ids(self) -> list[int]:
        """Every conversation id, oldest first (``export --all``)."""
        return [row[0] for row in self.db.execute("SELECT id FROM conversations ORDER BY id").fetchall()]

    @guarded
    def rename(self, conversation_id: int, title: str) -> None:
        conversation_id = arguments.row_id(conversation_id)
        title = given_title(title)
        if not title:
            raise HistoryError("a conversation title cannot be empty")
        with write_transaction(self.db):
            cursor = self.db.execute("UPDATE conversations SET title = ? WHERE id = ?", [title, conversation_id])
            if cursor.rowcount == 0:
                raise HistoryError(f"no conversation with id {conversation_id}")

    @guarded
    def delete(self, conversation_id: int) -> int:
        """Delete a conversation and its messages (and their search index rows); return the count.

        Gone from the file too, not only from every read: the search index
        keeps a deleted message's words in its segments (the FTS triggers only
        add a "deleted" marker) until they are merged, and SQLite leaves freed
        pages as they were. So the index is merged now (FTS5 ``optimize``, about
        a second for 50,000 messages), freed pages are zeroed (``secure_delete``)
        and the write-ahead log, which holds copies of the pages, is emptied.
        """
        conversation_id = arguments.row_id(conversation_id)
        self.db.execute("PRAGMA secure_delete = ON")  # this connection's deletes overwrite what they free
        with write_transaction(self.db):
            # Explicit rather than ON DELETE CASCADE alone, so it works even on a
            # connection where foreign keys are off; the FTS triggers fire per row.
            deleted = self.db.execute(
                "DELETE FROM messages WHERE conversation_id = ?", [conversation_id]
            ).rowcount
            self.db.execute("DELETE FROM batch_turns WHERE conversation_id = ?", [conversation_id])
            cursor = self.db.execute("DELETE FROM conversations WHERE id = ?", [conversation_id])
            if cursor.rowcount == 0:
                raise HistoryError(f"no conversation with id {conversation_id}")
            if deleted:
                self.db.execute("INSERT INTO messages_fts (messages_fts) VALUES ('optimize')")
        # Best effort, without waiting: a reader in another process (an open chat app in the middle
        # of a read) keeps the log until it lets go, and the delete is not held up for it.
        self.db.execute("PRAGMA busy_timeout = 0")
        try:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            self.db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        return int(deleted)

"""``HistoryStore``: conversations and messages in the history database.

Recording a turn is two steps so that nothing the user typed is ever lost
(:mod:`.turns`): the user's message is committed before generation starts, and
the reply is filled in as it ends; a process killed in between leaves it
``interrupted``. All writes are transactions; every public method is thread-safe
(one connection, one lock: :mod:`.access`).

The store is one class made of parts by job: :mod:`.conversations` (create,
list, rename, delete), :mod:`.turns` (recording), and this module — opening the
file (creating or upgrading it) and reading it back. How messages form a tree of
branches, and the queries that walk it, live in :mod:`.tree`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Literal, Sequence, overload

from ..errors import HistoryError
from ..types import Message
from . import arguments, batch_turns, completion_prompts, tree
from .access import guarded, now_iso  # noqa: F401  (now_iso: imported from here)
from .conversations import ConversationRows
from .db import (
    check_existing_file,
    check_writable,
    connect,
    is_writable,
    resolve_db_path,
    translate_errors,
    write_transaction,
)
from .migrations import migrate, needed_to_read, newer_names, pending_names, refuse_foreign
from .records import Conversation, Kind, SearchHit, StoredMessage
from .repair import rebuild_search_index
from .resume import context_of  # noqa: F401  (imported from here by the chat app)
from .search import MarkedHit, message_snippet, search_messages
from .turns import AT_HEAD, KEEP, TurnWriter  # noqa: F401  (imported from here)

RANK_WINDOW = 500
"""Relevance search ranks at most this many of the newest matches (bounded latency)."""


class HistoryStore(ConversationRows, TurnWriter):
    """The conversation database. Open with :meth:`open`; close with :meth:`close`."""

    # ---- opening -----------------------------------------------------------------
    @classmethod
    def open(
        cls, path: str | Path | None = None, *, create: bool = True, need_write: bool = True
    ) -> HistoryStore:
        """Open (and create/upgrade) the database at ``path`` (default: ``--db``/config/data dir).

        ``create=False`` fails with a clear error when the file does not exist;
        ``need_write=False`` lets read-only commands open a read-only file.
        """
        resolved = resolve_db_path(arguments.db_path(path))
        check_existing_file(resolved, must_exist=not create)
        if resolved.exists():
            # Looked at read-only first: reading commands need no more (it works in
            # a read-only directory too) unless the file needs upgrading, and a
            # file that is not a history is refused before anything is written
            # to it (not even the switch to WAL).
            db = connect(resolved, read_only=True)
            try:
                with translate_errors(resolved):
                    refuse_foreign(db, resolved)
                    pending = pending_names(db)
                    newer = newer_names(db) if need_write else []
            except BaseException:
                db.close()
                raise
            if newer:
                db.close()
                raise HistoryError(
                    f"history database {resolved} was written by a newer version of assistant (its schema has "
                    f"{', '.join(newer[:3])}); upgrade assistant, choose another file with --db, "
                    "or skip history with --no-log (reading it with `assistant history` works)"
                )
            if not need_write and not pending:
                return cls(db, resolved)
            if not need_write and not needed_to_read(pending) and not is_writable(resolved):
                return cls(db, resolved)  # older by columns a read does without: read as it is
            db.close()
            if not need_write and not is_writable(resolved):
                raise HistoryError(f"history database {resolved} needs upgrading but is read-only")
        check_writable(resolved)
        db = connect(resolved)
        try:
            with translate_errors(resolved):
                migrate(db)
        except BaseException:
            db.close()
            raise
        return cls(db, resolved)

    def close(self) -> None:
        with self._lock:
            self.db.close()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- reading -----------------------------------------------------------------
    @guarded
    def messages(
        self, conversation_id: int, branch: str = "active", *, head: int | None = None
    ) -> list[StoredMessage]:
        """The conversation's messages in order, whatever their status: its active branch, or ``"all"``.

        The active branch is the path from the first message to the head: what
        the chat shows and continues, ``-c`` resumes and export writes. ``head``
        names another message to end the path at instead: the branch a chat window
        is on while another process moved the stored head. Each
        message says which of the versions at its place it is
        (``alternative`` of ``alternatives``). A conversation without a head
        (no tree: rows written by something else) is read in id order.
        """
        if branch not in ("active", "all"):
            raise HistoryError(f"branch must be 'active' or 'all', not {branch!r}")
        conversation_id = arguments.row_id(conversation_id)
        if head is not None:
            head = arguments.row_id(head, "head")
        if head is None:
            head = tree.head_of(self.db, conversation_id)
        found = self.db.execute("SELECT system FROM conversations WHERE id = ?", [conversation_id]).fetchone()
        system = found[0] if found else None
        rows = tree.branch_rows(self.db, conversation_id, None if branch == "all" else head)
        messages = [StoredMessage.from_row(row, system) for row in completion_prompts.resolved(self.db, rows)]
        if head is not None:
            tree.number_versions(self.db, conversation_id, messages)
        return messages

    @guarded
    def head_turn(self, conversation_id: int) -> tuple[StoredMessage, StoredMessage] | None:
        """The conversation's newest turn on its shown branch: the user message and the reply that is its
        head (None: no head, or the head is no reply to a user message). Two rows read, not the branch:
        a resumed batch asks it of a conversation of 100,000 turns."""
        conversation_id = arguments.row_id(conversation_id)
        head = tree.head_of(self.db, conversation_id)
        if head is None:
            return None
        found = {
            row["role"]: row
            for row in self.db.query(
                "SELECT m.* FROM messages m JOIN messages r ON m.id IN (r.id, r.parent_id)"
                " WHERE r.id = ? AND r.conversation_id = ? AND m.conversation_id = r.conversation_id",
                [head, conversation_id],
            )
        }
        reply, user = found.get("assistant"), found.get("user")
        if reply is None or user is None or reply["id"] != head or reply["parent_id"] != user["id"]:
            return None
        rows = list(completion_prompts.resolved(self.db, [user, reply]))
        return StoredMessage.from_row(rows[0]), StoredMessage.from_row(rows[1])

    @guarded
    def batch_turn(self, conversation_id: int) -> tuple[int, batch_turns.BatchRow] | None:
        """The user message of a batch conversation's newest turn and where its results file stood then
        (:mod:`.batch_turns`); None where the batch recorded none."""
        return batch_turns.newest(self.db, arguments.row_id(conversation_id))

    @guarded
    def batch_conversation(self, results: str, written: int) -> int | None:
        """The newest conversation whose newest batch turn was recorded for the results file ``results`` when
        it held ``written`` bytes of whole lines (:func:`.batch_turns.last_recorded`)."""
        return batch_turns.last_recorded(self.db, results, arguments.count(written, "written"))

    @guarded
    def siblings(self, conversation_id: int, message_id: int) -> list[int]:
        """The versions at ``message_id``'s place, itself included, oldest first (the other replies
        to its user message, or the other messages sent after the same reply)."""
        return tree.siblings(self.db, arguments.row_id(conversation_id), arguments.row_id(message_id, "message id"))

    @guarded
    def activate(self, conversation_id: int, message_id: int) -> int:
        """Make the branch through ``message_id`` the active one; return its new head.

        The head is the newest message below ``message_id`` (ids grow, so it
        is a leaf): the branch as it was last written, as far as it went.
        """
        conversation_id, message_id = arguments.row_id(conversation_id), arguments.row_id(message_id, "message id")
        with write_transaction(self.db):
            tree.member_role(self.db, conversation_id, message_id)
            head = tree.leaf_below(self.db, message_id)
            tree.set_head(self.db, conversation_id, head)
        return head

    @guarded
    def head_through(self, conversation_id: int, message_id: int) -> int:
        """The head :meth:`activate` would give the branch through ``message_id``, changing nothing:
        ``history show --at`` reads the branch a search hit is on (search covers every branch)."""
        conversation_id, message_id = arguments.row_id(conversation_id), arguments.row_id(message_id, "message id")
        tree.member_role(self.db, conversation_id, message_id)
        return tree.leaf_below(self.db, message_id)

    @guarded
    def recent_user_texts(self, limit: int = 500, kind: Kind = "chat") -> list[str]:
        """The newest ``limit`` user messages of ``kind`` conversations, oldest first (the chat app's Up history)."""
        limit, kind = arguments.count(limit, "limit"), arguments.kind(kind)  # type: ignore[assignment]
        rows = self.db.query(
            "SELECT m.content FROM messages m JOIN conversations c ON c.id = m.conversation_id"
            " WHERE m.role = 'user' AND c.kind = ? ORDER BY m.id DESC LIMIT ?",
            [kind, limit],
        )
        return [row["content"] for row in rows][::-1]

    def context_messages(self, conversation_id: int) -> list[Message]:
        """The turns to resume a conversation with (system prompt not included).

        A user message whose reply is empty (failed before any text, or the
        process died first) is left out, as the live chat does, so the model sees
        alternating turns; such messages stay in the database and in ``show``.
        """
        return context_of(self.messages(conversation_id))

    @overload
    def search(
        self, query: str, limit: int = ..., order: str = ..., *, marked: Literal[False] = ...,
        per_conversation: bool = ...,
    ) -> list[SearchHit]: ...

    @overload
    def search(
        self, query: str, limit: int = ..., order: str = ..., *, marked: Literal[True], per_conversation: bool = ...
    ) -> list[MarkedHit]: ...

    @guarded
    def search(
        self, query: str, limit: int = 20, order: str = "relevance", *, marked: bool = False,
        per_conversation: bool = False,
    ) -> list[SearchHit] | list[MarkedHit]:
        """Messages containing every word of ``query`` (any text: see :mod:`.search`), ranked by
        relevance (BM25, among the newest :data:`RANK_WINDOW` matches) or ``order="recent"``.

        Each hit's snippet shows its matches in ``[brackets]`` (what ``history search`` prints); with
        ``marked`` the hits are :class:`~.search.MarkedHit` instead (the snippet's text and where it
        matched), for a display that shows a match otherwise: a message's own ``[word]`` cannot be
        told from a bracket added. With ``per_conversation`` only the best hit of each conversation among
        the ``limit`` is kept, and only those get a snippet (a list of conversations shows no other)."""
        if order not in ("relevance", "recent"):
            raise HistoryError(f"search order must be 'relevance' or 'recent', not {order!r}")
        limit = arguments.count(limit, "limit")
        query = arguments.text(query, "the search query")
        return search_messages(
            self.db, query, limit, order, RANK_WINDOW, marked=bool(marked), per_conversation=bool(per_conversation)
        )

    def _snippet(self, message_id: int, match: str, query: str) -> str:
        return message_snippet(self.db, message_id, match, query)

    @guarded
    def repair(self) -> int:
        """Rebuild the search index from the messages (see :mod:`.repair`); return how many it holds."""
        return rebuild_search_index(self.db, self.path)

    def iter_export(self, conversation_ids: Sequence[int]) -> Iterator[tuple[Conversation, list[StoredMessage]]]:
        """Each conversation and its messages; of several, a damaged one is skipped (see :func:`.export.readable`).

        The ids are checked here, at the call: checked as each was read, ``iter_export([0])`` raised only when
        the export was first read (a conversation that does not exist still is, as it is read)."""
        if isinstance(conversation_ids, (str, bytes)) or not isinstance(conversation_ids, Sequence):
            raise HistoryError(f"conversation_ids must be a list of ids, not {type(conversation_ids).__name__}")
        ids = [arguments.row_id(conversation_id) for conversation_id in conversation_ids]
        from .export import readable

        return readable(ids, lambda cid: (self.get_conversation(cid), self.messages(cid)))

"""``HistoryStore``: conversations and messages in the history database.

Recording a turn is two steps so that nothing the user typed is ever lost:

1. :meth:`HistoryStore.start_turn` commits the user's message *before*
   generation starts, together with an empty reply row marked ``interrupted``;
2. :meth:`HistoryStore.finish_turn` (or :meth:`HistoryStore.fail_turn`) fills in
   the reply, its status, usage and timings. :meth:`HistoryStore.checkpoint`
   saves partial text while streaming.

A process killed in between leaves the user's message and the partial reply
(as of the last checkpoint) marked ``interrupted``. All writes are
transactions; every public method is thread-safe (one connection, one lock).

How messages form a tree of branches, and the queries that walk it, live in
:mod:`.tree`; this module owns the connection, its lock and transactions, and
the public API on top.
"""

from __future__ import annotations

import functools
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, TypeVar

import sqlite_utils

from ..errors import HistoryError
from ..types import Completion, Message
from . import arguments, completion_prompts, tree
from .db import (
    BUSY_TIMEOUT_S,
    check_existing_file,
    check_writable,
    connect,
    is_writable,
    resolve_db_path,
    translate_errors,
    write_transaction,
)
from .migrations import migrate, needed_to_read, newer_names, pending_names, refuse_foreign
from .records import (
    KINDS,
    STATUSES,
    Conversation,
    Kind,
    SearchHit,
    Status,
    StoredMessage,
    Turn,
    TurnMeta,
    rendered_json,
)
from .repair import rebuild_search_index
from .resume import context_of  # noqa: F401  (imported from here by the chat app)
from .search import message_snippet, search_messages
from .stored_text import one_line, storable_text, title_from

T = TypeVar("T")
RANK_WINDOW = 500
"""Relevance search ranks at most this many of the newest matches (bounded latency)."""

AT_HEAD: Any = object()
"""``start_turn(parent_id=AT_HEAD)``: the new message follows the conversation's head (the default)."""

KEEP: Any = object()
"""``start_turn(system=KEEP)``: the turn does not change the conversation's system prompt."""

_FINISH_TO_STATUS: dict[str, Status] = {
    "stop": "complete",
    "length": "complete",
    "cancelled": "interrupted",
    "error": "error",
}


def now_iso() -> str:
    """UTC, microseconds (so "latest" is unambiguous); ISO 8601 strings sort chronologically."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _guarded(method: Callable[..., T]) -> Callable[..., T]:
    """Serialise access to the connection and turn SQLite errors into HistoryError."""

    @functools.wraps(method)
    def wrapper(self: HistoryStore, *args: Any, **kwargs: Any) -> T:
        with self._lock, translate_errors(self.path):
            return method(self, *args, **kwargs)

    return wrapper


class HistoryStore:
    """The conversation database. Open with :meth:`open`; close with :meth:`close`."""

    def __init__(self, db: sqlite_utils.Database, path: Path) -> None:
        self.db = db
        self.path = path
        self._lock = threading.RLock()

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

    # ---- conversations -------------------------------------------------------------
    @_guarded
    def create_conversation(
        self,
        *,
        title: str | None = None,
        system: str | None = None,
        meta: TurnMeta = TurnMeta(),
        kind: Kind = "chat",
    ) -> Conversation:
        if kind not in KINDS:
            raise HistoryError(f"conversation kind must be one of {', '.join(KINDS)}, not {kind!r}")
        meta = arguments.turn_meta(meta)
        now = now_iso()
        row = {  # the title: a batch's names its file
            "title": (one_line(storable_text(title, "a conversation title")) or None) if title is not None else None,
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

    @_guarded
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

    @_guarded
    def latest_conversation(self, kind: Kind | None = "chat") -> Conversation | None:
        """The most recently updated conversation of ``kind`` (None: any kind), or None if there is none.

        ``-c`` continues a *chat*: a tool run or a batch made since is not what
        the user means to continue.
        """
        if kind is not None and kind not in KINDS:
            raise HistoryError(f"conversation kind must be one of {', '.join(KINDS)} or None, not {kind!r}")
        where, args = ("WHERE kind = ?", [kind]) if kind is not None else ("", [])
        rows = list(
            self.db.query(f"SELECT id FROM conversations {where} ORDER BY updated DESC, id DESC LIMIT 1", args)
        )
        return self.get_conversation(rows[0]["id"]) if rows else None

    @_guarded
    def list_conversations(self, limit: int = 20, offset: int = 0) -> list[Conversation]:
        """Newest first, each with its message count."""
        limit, offset = arguments.count(limit, "limit"), arguments.count(offset, "offset")
        rows = self.db.query(
            "SELECT c.*, (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) AS message_count"
            " FROM conversations c ORDER BY c.updated DESC, c.id DESC LIMIT ? OFFSET ?",
            [limit, offset],
        )
        return [Conversation.from_row(row) for row in rows]

    @_guarded
    def conversation_ids(self) -> list[int]:
        """Every conversation id, oldest first (``export --all``)."""
        return [row[0] for row in self.db.execute("SELECT id FROM conversations ORDER BY id").fetchall()]

    @_guarded
    def rename(self, conversation_id: int, title: str) -> None:
        conversation_id = arguments.row_id(conversation_id)
        title = one_line(storable_text(title, "a conversation title"))  # as one made from a message: no ESC, BEL
        if not title:
            raise HistoryError("a conversation title cannot be empty")
        with write_transaction(self.db):
            cursor = self.db.execute("UPDATE conversations SET title = ? WHERE id = ?", [title, conversation_id])
            if cursor.rowcount == 0:
                raise HistoryError(f"no conversation with id {conversation_id}")

    def _change_system(self, conversation_id: int, current: str | None, system: Any) -> None:
        """Make ``system`` the conversation's system prompt (``KEEP``: leave it), inside a write transaction:
        what later turns are resumed with.

        A message stores NULL while it was written under the conversation's
        prompt; before that changes, those messages are given the old one
        ('' for none), so no message ever shows a prompt it did not have.
        Decided on the stored prompt, under the write lock: two processes on
        one conversation with different prompts each keep their own turns'.
        """
        if system is KEEP:
            return
        new = storable_text(system, "the system prompt") if system is not None else None
        if (new or None) == (current or None):  # "" and None both mean no system prompt
            return
        self.db.execute(
            "UPDATE messages SET system = ? WHERE conversation_id = ? AND system IS NULL",
            [current or "", conversation_id],
        )
        self.db.execute("UPDATE conversations SET system = ? WHERE id = ?", [new, conversation_id])

    @_guarded
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

    # ---- recording turns -----------------------------------------------------------
    @_guarded
    def start_turn(
        self,
        conversation_id: int,
        user_text: str,
        meta: TurnMeta = TurnMeta(),
        *,
        parent_id: Any = AT_HEAD,
        system: Any = KEEP,
        rendered: Sequence[Message] | None = None,
        completion_prompt: str | None = None,
    ) -> Turn:
        """Commit the user's message (and an empty ``interrupted`` reply) before generating.

        The message follows the conversation's head (the branch shown), or
        ``parent_id``: a message of the conversation, or None for a new first
        message — an edited message starts a branch there. The new reply
        becomes the head. ``system``: the system prompt the turn is generated
        under, when it may differ from the conversation's (see :meth:`_change_system`).
        ``rendered``: what a prompt template made of ``user_text``, sent in its place
        (:attr:`StoredMessage.rendered`); ``user_text`` is what the user typed.
        ``completion_prompt``: in completion mode, the text the model is sent (kept with the reply,
        :attr:`StoredMessage.completion_prompt`).
        """
        conversation_id = arguments.row_id(conversation_id)
        meta = arguments.turn_meta(meta)
        if parent_id is not AT_HEAD and parent_id is not None:
            parent_id = arguments.row_id(parent_id, "parent_id")
        now = now_iso()
        user_text = storable_text(user_text)
        rendered = arguments.rendered(rendered)
        sent = rendered_json([Message(m.role, storable_text(m.content)) for m in rendered] if rendered else None)
        prompt = arguments.completion_prompt(completion_prompt)
        with write_transaction(self.db):
            row = self.db.execute(
                "SELECT id, head_id, system FROM conversations WHERE id = ?", [conversation_id]
            ).fetchone()
            if row is None:  # most often deleted by another process (`history delete`) while a chat had it open
                raise HistoryError(f"no conversation with id {conversation_id} (deleted?); start a new conversation")
            head = row[1] if row[1] is not None else tree.chain_in_order(self.db, conversation_id)
            if parent_id is AT_HEAD:
                parent_id = head
            elif parent_id is not None:
                tree.member_role(self.db, conversation_id, parent_id)
            self._change_system(conversation_id, row[2], system)
            self.db.execute(
                "UPDATE conversations SET updated = ?, title = coalesce(title, ?) WHERE id = ?",
                [now, title_from(user_text), conversation_id],
            )
            user_id = self._insert(conversation_id, "user", user_text, now, meta, "complete", parent_id, sent)
            reply_id = self._insert(conversation_id, "assistant", "", now, meta, "interrupted", user_id)
            completion_prompts.store(self.db, reply_id, prompt)  # what it adds to the reply's before
            tree.set_head(self.db, conversation_id, reply_id)
        return Turn(conversation_id, user_id, reply_id)

    @_guarded
    def start_reply(
        self, conversation_id: int, user_message_id: int, meta: TurnMeta = TurnMeta(), *, system: Any = KEEP,
        completion_prompt: str | None = None,
    ) -> Turn:
        """Another reply to a stored user message (regenerate): an empty ``interrupted`` one, made the head.

        The replies before it stay as alternatives (:meth:`siblings`). ``system``, ``completion_prompt``:
        as for :meth:`start_turn`.
        """
        conversation_id = arguments.row_id(conversation_id)
        user_message_id = arguments.row_id(user_message_id, "user_message_id")
        meta = arguments.turn_meta(meta)
        prompt = arguments.completion_prompt(completion_prompt)
        now = now_iso()
        with write_transaction(self.db):
            if tree.member_role(self.db, conversation_id, user_message_id) != "user":
                raise HistoryError(f"message {user_message_id} is not a user message: only those get replies")
            current = self.db.execute("SELECT system FROM conversations WHERE id = ?", [conversation_id]).fetchone()
            self._change_system(conversation_id, current[0], system)
            self.db.execute("UPDATE conversations SET updated = ? WHERE id = ?", [now, conversation_id])
            reply_id = self._insert(conversation_id, "assistant", "", now, meta, "interrupted", user_message_id)
            completion_prompts.store(self.db, reply_id, prompt)
            tree.set_head(self.db, conversation_id, reply_id)
        return Turn(conversation_id, user_message_id, reply_id)

    def _insert(
        self, conversation_id: int, role: str, content: str, now: str, meta: TurnMeta, status: str,
        parent_id: int | None, rendered: str | None = None,
    ) -> int:
        cursor = self.db.execute(
            "INSERT INTO messages (conversation_id, role, content, created, model, backend, template,"
            " params, status, parent_id, rendered) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [conversation_id, role, content, now, meta.model, meta.backend, meta.template,
             arguments.json_text(meta.params, "params"), status, parent_id, rendered],
        )
        return int(cursor.lastrowid or 0)

    @_guarded
    def checkpoint(self, turn: Turn, partial_text: str) -> None:
        """Save the reply so far; a process killed later keeps at least this much."""
        if turn.finished:
            return
        with write_transaction(self.db):
            self.db.execute(
                "UPDATE messages SET content = ? WHERE id = ? AND status = 'interrupted'",
                [storable_text(partial_text), turn.reply_message_id],
            )

    @_guarded
    def finish_turn(
        self,
        turn: Turn,
        completion: Completion,
        *,
        tool_name: str | None = None,
        tool_result: Any = None,
    ) -> None:
        """Store the finished reply; its status follows ``completion.finish_reason``."""
        completion = arguments.completion(completion)
        tool_name = arguments.optional_text(tool_name, "tool_name")
        status = _FINISH_TO_STATUS.get(completion.finish_reason, "complete")
        self._write_reply(
            turn,
            {
                "content": storable_text(completion.text),
                "status": status,
                "finish_reason": completion.finish_reason,
                "error": None,
                "model": completion.model or None,
                "backend": completion.backend or None,
                "prompt_tokens": completion.usage.prompt_tokens,
                "completion_tokens": completion.usage.completion_tokens,
                "ttft_ms": completion.timings.ttft_ms,
                "tokens_per_second": completion.timings.tokens_per_second,
                "duration_ms": completion.timings.duration_ms,
                "tool_name": tool_name,
                "tool_result": arguments.json_text(tool_result, "tool result"),
                "tokens": arguments.json_text([e.to_dict() for e in completion.logprobs] or None, "tokens"),
                # without logprobs the ids alone: the exact tokens sampled, for the token view
                "token_ids": None if completion.logprobs else arguments.json_text(list(completion.token_ids) or None, "token ids"),
            },
        )

    @_guarded
    def fail_turn(
        self,
        turn: Turn,
        partial_text: str,
        *,
        status: Status = "error",
        error: str | None = None,
        tool_name: str | None = None,
    ) -> None:
        """Keep a reply cut short by cancel (``interrupted``) or a failure (``error``).

        ``tool_name``: the tool that failed (a slash command stopped with Esc), so the turn is
        drawn again as the failed tool run it was, not as a model reply that failed.
        """
        if status not in STATUSES or status == "complete":
            raise HistoryError(f"fail_turn status must be 'interrupted' or 'error', not {status!r}")
        error = arguments.optional_text(error, "error")
        tool_name = arguments.optional_text(tool_name, "tool_name")
        values: dict[str, Any] = {"content": storable_text(partial_text), "status": status, "error": error}
        if tool_name is not None:
            values["tool_name"] = tool_name
        self._write_reply(turn, values)

    def _write_reply(self, turn: Turn, values: dict[str, Any]) -> None:
        if turn.finished:
            raise HistoryError(f"turn {turn.reply_message_id} was already finished")
        assignments = ", ".join(f"{column} = :{column}" for column in values)
        with write_transaction(self.db):
            self.db.execute(
                f"UPDATE messages SET {assignments} WHERE id = :reply_id",
                {**values, "reply_id": turn.reply_message_id},
            )
            self.db.execute(
                "UPDATE conversations SET updated = ? WHERE id = ?", [now_iso(), turn.conversation_id]
            )
        turn.finished = True

    def record_turn(
        self,
        conversation_id: int,
        user_text: str,
        completion: Completion,
        meta: TurnMeta = TurnMeta(),
        *,
        tool_name: str | None = None,
        tool_result: Any = None,
    ) -> Turn:
        """Store a finished, non-streamed exchange (batch runs, tools) in one call."""
        turn = self.start_turn(conversation_id, user_text, meta)
        self.finish_turn(turn, completion, tool_name=tool_name, tool_result=tool_result)
        return turn

    # ---- reading -----------------------------------------------------------------
    @_guarded
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

    @_guarded
    def siblings(self, conversation_id: int, message_id: int) -> list[int]:
        """The versions at ``message_id``'s place, itself included, oldest first (the other replies
        to its user message, or the other messages sent after the same reply)."""
        return tree.siblings(self.db, arguments.row_id(conversation_id), arguments.row_id(message_id, "message id"))

    @_guarded
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

    @_guarded
    def head_through(self, conversation_id: int, message_id: int) -> int:
        """The head :meth:`activate` would give the branch through ``message_id``, changing nothing:
        ``history show --at`` reads the branch a search hit is on (search covers every branch)."""
        conversation_id, message_id = arguments.row_id(conversation_id), arguments.row_id(message_id, "message id")
        tree.member_role(self.db, conversation_id, message_id)
        return tree.leaf_below(self.db, message_id)

    @_guarded
    def recent_user_texts(self, limit: int = 500, kind: Kind = "chat") -> list[str]:
        """The newest ``limit`` user messages of ``kind`` conversations, oldest first (the chat app's Up history)."""
        limit = arguments.count(limit, "limit")
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

    @_guarded
    def search(self, query: str, limit: int = 20, order: str = "relevance") -> list[SearchHit]:
        """Messages containing every word of ``query`` (any text: see :mod:`.search`), ranked by
        relevance (BM25, among the newest :data:`RANK_WINDOW` matches) or ``order="recent"``."""
        if order not in ("relevance", "recent"):
            raise HistoryError(f"search order must be 'relevance' or 'recent', not {order!r}")
        limit = arguments.count(limit, "limit")
        return search_messages(self.db, arguments.text(query, "the search query"), limit, order, RANK_WINDOW)

    def _snippet(self, message_id: int, match: str, query: str) -> str:
        return message_snippet(self.db, message_id, match, query)

    @_guarded
    def repair(self) -> int:
        """Rebuild the search index from the messages (see :mod:`.repair`); return how many it holds."""
        return rebuild_search_index(self.db, self.path)

    def iter_export(self, conversation_ids: Sequence[int]) -> Iterator[tuple[Conversation, list[StoredMessage]]]:
        """Each conversation and its messages; of several, a damaged one is skipped (see :func:`.export.readable`)."""
        if isinstance(conversation_ids, (str, bytes)) or not isinstance(conversation_ids, Sequence):
            raise HistoryError(f"conversation_ids must be a list of ids, not {type(conversation_ids).__name__}")
        from .export import readable

        return readable(conversation_ids, lambda cid: (self.get_conversation(cid), self.messages(cid)))

"""The conversation tree: how stored messages hang together, and which branch is active.

A conversation is a tree of messages. Each message names its ``parent_id``
(None: a first message); regenerating a reply adds a sibling reply, editing a
message adds a sibling user message, and ``conversations.head_id`` points at
the newest message of the branch shown and continued. A parent's id is always
lower than its children's, which is what keeps the recursive walks below
finite whatever a damaged file holds. Rows written by something that knows no
tree (no head) are read, and when written to, chained, in id order.

Every query that walks that tree lives here, so the representation is defined
once. :class:`~assistant.history.store.HistoryStore` calls these functions
inside its lock and its transactions; they neither lock nor commit.
"""

from __future__ import annotations

from typing import Any, Iterable

import sqlite_utils

from ..errors import HistoryError
from .records import StoredMessage


def head_of(db: sqlite_utils.Database, conversation_id: int) -> int | None:
    """The conversation's head (None: no messages yet, no tree, or no such conversation)."""
    row = db.execute("SELECT head_id FROM conversations WHERE id = ?", [conversation_id]).fetchone()
    return row[0] if row else None


def set_head(db: sqlite_utils.Database, conversation_id: int, message_id: int) -> None:
    db.execute("UPDATE conversations SET head_id = ? WHERE id = ?", [message_id, conversation_id])


def chain_in_order(db: sqlite_utils.Database, conversation_id: int) -> int | None:
    """Make a conversation without a head one branch in id order, as migration 0005 did for
    older files; return its last message (None: it has none)."""
    db.execute(
        "UPDATE messages SET parent_id = (SELECT max(p.id) FROM messages p"
        " WHERE p.conversation_id = messages.conversation_id AND p.id < messages.id)"
        " WHERE conversation_id = ?",
        [conversation_id],
    )
    row = db.execute("SELECT max(id) FROM messages WHERE conversation_id = ?", [conversation_id]).fetchone()
    return row[0] if row else None


def member_role(db: sqlite_utils.Database, conversation_id: int, message_id: int) -> str:
    """The role of ``message_id``, which must be a message of ``conversation_id``."""
    row = db.execute(
        "SELECT role FROM messages WHERE id = ? AND conversation_id = ?", [message_id, conversation_id]
    ).fetchone()
    if row is None:
        raise HistoryError(f"conversation {conversation_id} has no message {message_id}")
    return str(row[0])


def branch_rows(
    db: sqlite_utils.Database, conversation_id: int, head: int | None
) -> Iterable[dict[str, Any]]:
    """The rows of the path from the first message to ``head``, in order (every row, in id
    order, when there is no head)."""
    if head is None:
        return db.query("SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", [conversation_id])
    return db.query(
        """
        WITH RECURSIVE path(id) AS (
            SELECT ?
            UNION ALL
            SELECT m.parent_id FROM messages m JOIN path ON m.id = path.id
            WHERE m.parent_id IS NOT NULL AND m.parent_id < m.id
        )
        SELECT messages.* FROM messages JOIN path USING (id) WHERE conversation_id = ? ORDER BY id
        """,
        [head, conversation_id],
    )


def number_versions(db: sqlite_utils.Database, conversation_id: int, messages: list[StoredMessage]) -> None:
    """Set each message's ``alternative`` of ``alternatives``: which of the versions at its place it is."""
    children: dict[int | None, list[int]] = {}  # parent id -> its children, oldest first
    for message_id, parent_id in db.execute(
        "SELECT id, parent_id FROM messages WHERE conversation_id = ? ORDER BY id", [conversation_id]
    ):
        children.setdefault(parent_id, []).append(message_id)
    for message in messages:
        versions = children.get(message.parent_id, [message.id])
        message.alternative, message.alternatives = versions.index(message.id) + 1, len(versions)


def siblings(db: sqlite_utils.Database, conversation_id: int, message_id: int) -> list[int]:
    """The versions at ``message_id``'s place, itself included, oldest first."""
    member_role(db, conversation_id, message_id)
    rows = db.execute(
        "SELECT id FROM messages WHERE conversation_id = ?"
        " AND parent_id IS (SELECT parent_id FROM messages WHERE id = ?) ORDER BY id",
        [conversation_id, message_id],
    ).fetchall()
    return [row[0] for row in rows]


def leaf_below(db: sqlite_utils.Database, message_id: int) -> int:
    """The newest message below ``message_id`` (ids grow, so it is a leaf): the branch through
    it as it was last written, as far as it went."""
    row = db.execute(
        """
        WITH RECURSIVE below(id) AS (
            SELECT ?
            UNION ALL
            SELECT m.id FROM messages m JOIN below ON m.parent_id = below.id WHERE m.id > below.id
        )
        SELECT max(id) FROM below
        """,
        [message_id],
    ).fetchone()
    return int(row[0])

"""Where a batch's newest turn stands in its results file (table ``batch_turns``, migration 0015).

A batch records a row's turn, then writes the row's result line. A run killed between the two
(kill -9, a power cut) leaves a turn that no line names; ``--resume`` runs that row again and,
unless it can tell the stored turn is that row's, records it a second time. When it was the first
row's turn, no line named even the conversation, so the resumed rows began another one.

So each batch conversation keeps, for its newest turn, the results file it was recorded for, how
many bytes of whole lines that file held then, and the row (number and ``id``). Every line written
after the turn makes the file longer, so a file still that long has no line after the turn: the turn
is the one a kill left unwritten, and the row is named exactly, whatever its text (a template without
an ``input`` variable has none to match). Nothing is guessed from titles or texts.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from ..errors import HistoryError


@dataclass(frozen=True)
class BatchRow:
    """A batch row's turn as the batch recorded it: which results file, its size then, which row."""

    results: str
    """The results file's absolute path (:func:`~assistant.batch.history.results_key`)."""
    written: int
    """The bytes of whole result lines the file held when the turn was recorded."""
    row: int
    """The row's number in the ``--batch`` file."""
    row_id: Any = None
    """The row's ``id`` (any JSON value; None: none)."""


def checked(row: Any) -> BatchRow | None:
    """``row`` where it is a :class:`BatchRow` whose values a file can hold (or None), else one HistoryError,
    before anything is written: a turn refused half way would leave its user message without its reply."""
    if row is None:
        return None
    if not isinstance(row, BatchRow) or not isinstance(row.results, str):
        raise HistoryError(f"batch_row must be a BatchRow, not {type(row).__name__}")
    if type(row.written) is not int or type(row.row) is not int or row.written < 0 or row.row < 1:
        raise HistoryError(f"a batch row's size and number must be whole numbers, not {row.written!r}, {row.row!r}")
    try:
        json.dumps(row.row_id)
    except (TypeError, ValueError, RecursionError):
        raise HistoryError(f"a batch row's id must be a JSON value, not {type(row.row_id).__name__}") from None
    return row


def store(db: sqlite_utils.Database, conversation_id: int, message_id: int, row: BatchRow) -> None:
    """Make ``row`` (its turn's user message ``message_id``) the conversation's newest batch turn, inside the
    caller's write transaction: recorded with the turn or not at all."""
    row_id = None if row.row_id is None else json.dumps(row.row_id, ensure_ascii=False, sort_keys=True)
    db.execute(
        "INSERT OR REPLACE INTO batch_turns (conversation_id, message_id, results, written, row, row_id)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [conversation_id, message_id, row.results, row.written, row.row, row_id],
    )


def newest(db: sqlite_utils.Database, conversation_id: int) -> tuple[int, BatchRow] | None:
    """The user message of the conversation's newest batch turn, and that turn's :class:`BatchRow`; None where
    none was recorded (a chat, a batch of an older version, a file opened read-only before migration 0015)."""
    found = _query(
        db, "SELECT message_id, results, written, row, row_id FROM batch_turns WHERE conversation_id = ?",
        [conversation_id],
    )  # fmt: skip
    row = _row(found[0][1:]) if found else None
    return (int(found[0][0]), row) if row is not None and isinstance(found[0][0], int) else None


def last_recorded(db: sqlite_utils.Database, results: str, written: int) -> int | None:
    """The newest conversation whose newest batch turn was recorded for ``results`` when it held ``written``
    bytes of whole lines (None: none): the conversation of a turn no line of that file names yet."""
    found = _query(
        db, "SELECT conversation_id FROM batch_turns WHERE results = ? AND written = ? ORDER BY conversation_id DESC"
        " LIMIT 1", [results, written],
    )  # fmt: skip
    return int(found[0][0]) if found else None


def _query(db: sqlite_utils.Database, sql: str, values: list[Any]) -> list[tuple[Any, ...]]:
    try:
        return list(db.execute(sql, values).fetchall())
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []  # a file before migration 0015 (opened read-only): no batch turn recorded there
        raise


def _row(values: tuple[Any, ...]) -> BatchRow | None:
    """A stored row as a :class:`BatchRow`; None where another program left something else in it (then no
    turn is taken for an unwritten one: the resume records the row as a new turn, as before 0015)."""
    results, written, row, row_id = values
    if not isinstance(results, str) or type(written) is not int or type(row) is not int:
        return None
    try:
        parsed = None if row_id is None else json.loads(row_id)
    except (ValueError, TypeError, RecursionError):
        return None
    return BatchRow(results, written, row, parsed)

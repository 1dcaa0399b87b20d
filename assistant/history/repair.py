"""Rebuilding the search index: the part of a history file that can be damaged and made again.

``messages_fts`` is an external-content FTS5 index: it holds no text of its own,
only what it was told by the triggers on ``messages``. When its pages hold
something FTS5 cannot read (a crash on a file system that reorders writes, a
tool that edited the file), every search, delete and new message fails with
"database disk image is malformed" — while the messages themselves are intact
and ``list``/``show``/``export`` still read them. The old advice, "move it aside",
threw a whole history away for an index that ``'rebuild'`` makes again from the
messages. ``assistant history repair`` does that, after SQLite's own check says
the tables themselves are sound; a file damaged beyond that is left as it is.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import HistoryError
from .db import BUSY_TIMEOUT_S, check_existing_file, resolve_db_path, write_transaction

if TYPE_CHECKING:
    import sqlite_utils

REPAIR_HINT = "`assistant history repair` rebuilds its search index, the part usually at fault, keeping every message"
"""Said with a "malformed" error (see :func:`.db.describe_error`)."""


def _beyond_repair(path: Path, detail: str, conn: sqlite3.Connection) -> HistoryError:
    """The error for a file whose tables are damaged: how to save what still reads, where anything does.

    The export it points to opens the file and lists its conversations first; where even that
    list does not read (a file cut short), the export failed with "`assistant history repair`
    rebuilds its search index", sending the user back here, round and round.
    """
    if _lists_conversations(conn):
        then = "save what still reads with `assistant history export --all --format json`, then move the file aside"
    else:
        then = "not even its list of conversations reads, so nothing can be exported; move the file aside"
    return HistoryError(f"{path} is damaged beyond its search index ({detail}); {then}")


def _lists_conversations(conn: sqlite3.Connection) -> bool:
    """Whether the schema, the migrations applied and the conversations' ids read: what opening the
    history and an export of it need before any conversation."""
    from .migrations import migrations

    try:
        conn.execute("SELECT name, sql FROM sqlite_master").fetchall()
        conn.execute(f'SELECT * FROM "{migrations.migrations_table}"').fetchall()
        conn.execute("SELECT id FROM conversations").fetchall()
    except sqlite3.DatabaseError:
        return False
    return True


def check_tables(conn: sqlite3.Connection, path: Path) -> None:
    """``PRAGMA quick_check``: a :class:`HistoryError` saying the file is past repair unless it is "ok"."""
    try:
        problems = [str(row[0]) for row in conn.execute("PRAGMA quick_check").fetchall()]
    except sqlite3.DatabaseError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise
        if "not a database" in str(exc):  # not SQLite at all: there is nothing to export either
            raise HistoryError(f"{path} is not a SQLite database; move it aside or choose another with --db") from exc
        raise _beyond_repair(path, str(exc), conn) from exc
    if problems != ["ok"]:
        raise _beyond_repair(path, "; ".join(problems[:3]), conn)


def rebuild_search_index(db: sqlite_utils.Database, path: Path) -> int:
    """Check the tables, rebuild ``messages_fts`` from ``messages`` and check it; return the messages indexed.

    A file damaged beyond the index is refused, changing nothing: the messages
    it still reads can be exported before it is moved aside.
    """
    check_tables(db.conn, path)
    with write_transaction(db):
        try:
            db.execute("INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')")
        except sqlite3.DatabaseError as exc:
            if not unreadable_index(exc):
                raise
            _empty_index(db)  # 'rebuild' needs an index FTS5 can open: start it again from an empty one
            db.execute("INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')")
        db.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")
    return int(db.execute("SELECT count(*) FROM messages").fetchone()[0])


UNREADABLE_INDEX = ("vtable constructor failed", "invalid fts5 file format")
"""SQLite's words when FTS5 cannot open the index: its structure record or settings are lost or unreadable."""


def unreadable_index(exc: BaseException) -> bool:
    """Whether ``exc`` says the search index cannot be opened (see :func:`_empty_index`)."""
    text = str(exc).lower()
    return any(words in text for words in UNREADABLE_INDEX)


def _empty_index(db: sqlite_utils.Database) -> None:
    """Reset ``messages_fts``'s own tables to those of a new, empty index (in the caller's transaction).

    Why: with the index's structure record or its settings row lost (a torn
    write, a tool that "cleaned" the file), FTS5 cannot open the table at all —
    search, delete and every new message fail with "vtable constructor failed",
    and so did ``'rebuild'`` and even ``DROP TABLE``: the repair meant for a
    damaged index could not repair this one. The shadow tables are ordinary
    tables; an empty index's rows, taken from a scratch FTS5 table made by this
    same SQLite library (so in a format it reads), make the index openable, and
    ``'rebuild'`` then fills it from the messages. No message is touched.
    """
    scratch = sqlite3.connect(":memory:")
    try:
        scratch.execute("CREATE VIRTUAL TABLE fresh USING fts5(content)")
        blocks = scratch.execute("SELECT id, block FROM fresh_data").fetchall()
        settings = scratch.execute("SELECT k, v FROM fresh_config").fetchall()
    finally:
        scratch.close()
    for table in ("messages_fts_data", "messages_fts_idx", "messages_fts_docsize", "messages_fts_config"):
        db.execute(f"DELETE FROM {table}")
    db.conn.executemany("INSERT INTO messages_fts_data (id, block) VALUES (?, ?)", blocks)
    db.conn.executemany("INSERT INTO messages_fts_config (k, v) VALUES (?, ?)", settings)


def drop_search_index(db: sqlite_utils.Database) -> None:
    """Drop ``messages_fts`` and its triggers (a migration that makes them anew), even an index FTS5
    cannot open (:func:`_empty_index` first: ``DROP TABLE`` needs to open it too)."""
    for trigger in ("messages_ai", "messages_ad", "messages_au"):
        db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    try:
        db.execute("DROP TABLE IF EXISTS messages_fts")
    except sqlite3.DatabaseError as exc:
        if not unreadable_index(exc):
            raise
        _empty_index(db)
        db.execute("DROP TABLE messages_fts")


def repair_history(path: Any = None) -> int:
    """``assistant history repair``: check the file before the history opens it, then rebuild its index.

    Opening reads the schema and the migrations, which a file damaged there
    cannot give: that is said as "beyond repair", not as the "malformed" error
    whose advice is to run this.
    """
    from . import arguments
    from .store import HistoryStore

    resolved = resolve_db_path(arguments.db_path(path))
    check_existing_file(resolved, must_exist=True)
    try:
        # Absolute: a relative ``--db`` (``--db history.db``) has no file URI.
        conn = sqlite3.connect(f"{resolved.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
    except sqlite3.Error as exc:
        raise HistoryError(f"cannot open history database {resolved}: {exc}") from exc
    try:
        check_tables(conn, resolved)
    except sqlite3.Error as exc:  # locked: said as every command says it
        from .db import describe_error

        raise HistoryError(describe_error(resolved, exc)) from exc
    finally:
        conn.close()
    with HistoryStore.open(resolved, create=False) as store:
        return store.repair()

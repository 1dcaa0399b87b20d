"""Opening the history database: where it lives, connection settings, and errors.

One SQLite file holds every conversation. The connection is tuned for a chat
log written by one or a few processes at a time:

* **WAL journal** — readers never block the writer and a killed writer cannot
  corrupt the file (an unfinished transaction is simply not in the log).
* ``synchronous=NORMAL`` — in WAL mode this is crash-safe for the application
  (``kill -9`` loses nothing committed); only a power cut can lose the last few
  commits, never consistency. FULL would fsync on every turn for little gain.
* **busy timeout** — a second process waits up to :data:`BUSY_TIMEOUT_S` for the
  write lock instead of failing at once.
* ``foreign_keys=ON`` — messages cannot point at a missing conversation.
* **text read with replacement** — a TEXT value that is not UTF-8 (written by
  another program, or by hand with ``CAST(x'ff' AS TEXT)``) reads with U+FFFD
  where its bad bytes are (:func:`_decode_text`), as invalid UTF-8 from stdin
  does, instead of one row making every read of the history fail; a BLOB
  (``x'..'``, ``readfile()``) reads as text the same way (:func:`_decoded_row`):
  the history stores none, and as ``bytes`` it stopped ``list``, ``show`` and
  every export with a traceback.

Every :class:`sqlite3.Error` that leaves this package is turned into a
:class:`~assistant.errors.HistoryError` whose message names the file and says
what to do (read-only file, locked, not a database, disk full…).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path
from typing import Iterator

import sqlite_utils

from ..errors import HistoryError
from ..files import names_a_directory

BUSY_TIMEOUT_S = 5.0
DB_FILENAME = "history.db"


def default_db_path() -> Path:
    """``<data dir>/history.db`` (``ASSISTANT_HOME/data`` under tests)."""
    from ..config import paths

    return paths().data_dir / DB_FILENAME


def resolve_db_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--db PATH`` beats the config's ``db`` key, which beats the default location.

    An explicit path that is empty (``--db "$UNSET"``) or ends in a separator
    (``--db backups/``: a directory) is refused: taken as given, the first
    wrote to the default history the user meant to keep apart from, and the
    second created a database *file* named like the directory.

    An explicit path in a folder that does not exist is refused too, naming the
    folder: ``--db ~/histroy/work.db`` made the missing folders and a new, empty
    history without a word, and every later ``history list`` with the right path
    wondered where the conversations went. The default location (the data dir's
    ``history.db``, given or not) and the config's ``db`` are still created as needed.
    """
    if explicit is not None:
        text = os.fspath(explicit)
        if not text.strip():
            raise HistoryError(
                "the history database path is empty; give a file with --db PATH, or leave --db out"
            )
        if names_a_directory(text):
            suggested = f"{text.rstrip('/' + os.sep)}{os.sep}{DB_FILENAME}"
            raise HistoryError(f"history database {text} names a directory; give a file path, such as {suggested}")
        path = Path(os.path.expanduser(text))  # ~nouser stays as written (Path.expanduser raised)
        _check_folder(path)
        return path
    from ..config import load_config

    configured = load_config().get("db")  # a string, made absolute from the config file's directory
    if configured:
        return Path(configured)
    return default_db_path()


def _check_folder(path: Path) -> None:
    """Refuse an explicit database path whose folder is missing (see :func:`resolve_db_path`)."""
    folder = path.parent
    if folder.is_dir() or os.path.abspath(path) == os.path.abspath(default_db_path()):
        return
    if folder.exists():
        raise HistoryError(f"cannot use history database {path}: {folder} is not a folder")
    raise HistoryError(
        f"the folder {folder} of history database {path} does not exist; create it first, or fix the --db path"
    )


def describe_error(path: Path, exc: BaseException) -> str:
    """A one-line, actionable message for a database failure."""
    text = str(exc)
    lowered = text.lower()
    if "readonly" in lowered or "read-only" in lowered:
        return (
            f"history database {path} is read-only; fix its permissions, "
            "choose another file with --db, or skip history with --no-log"
        )
    if "locked" in lowered or "busy" in lowered:
        return (
            f"history database {path} is locked by another process "
            f"(waited {BUSY_TIMEOUT_S:g} s); try again"
        )
    from .repair import REPAIR_HINT, unreadable_index

    if "malformed" in lowered or "corrupt" in lowered or unreadable_index(exc):  # most often the search index
        return (
            f"{path} is not a usable history database ({text}); {REPAIR_HINT} "
            "(with the same --db); if it cannot, move the file aside or choose another with --db"
        )
    if "not a database" in lowered:
        return f"{path} is not a usable history database ({text}); move it aside or choose another with --db"
    if "disk is full" in lowered or "disk full" in lowered:
        return f"cannot write history database {path}: the disk is full"
    if "closed database" in lowered:  # used after HistoryStore.close() (sqlite3.ProgrammingError)
        return f"history database {path} was closed (HistoryStore.close()); open it again with HistoryStore.open"
    if "unable to open" in lowered:
        return f"cannot open history database {path}: check the directory exists and is writable"
    return f"history database {path}: {text}"


@contextlib.contextmanager
def translate_errors(path: Path) -> Iterator[None]:
    """Re-raise SQLite and file-system errors as :class:`HistoryError`."""
    try:
        yield
    except HistoryError:
        raise
    except sqlite3.Error as exc:
        raise HistoryError(describe_error(path, exc)) from exc
    except OSError as exc:
        raise HistoryError(f"history database {path}: {exc.strerror or exc}") from exc


def check_existing_file(path: Path, *, must_exist: bool) -> None:
    """A one-line HistoryError unless ``path`` is a file (or, ``must_exist=False``, nothing yet)."""
    if not path.exists():
        if must_exist:
            raise HistoryError(f"no history database at {path} yet")
        return
    if not path.is_file():
        # SQLite says "disk I/O error" for a directory or /dev/null, and opening a FIFO blocks for ever.
        raise HistoryError(
            f"history database {path} is not a file (a directory, device or pipe); "
            "give a file path with --db, or skip history with --no-log"
        )


def is_writable(path: Path) -> bool:
    """Whether SQLite could write ``path``: the file and its directory (journal, WAL and index files live there)."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)


def check_writable(path: Path) -> None:
    """Fail early, with a clear message, when the file or its directory is read-only.

    SQLite itself would open a read-only file silently and fail only at the first
    write — after the model has been loaded and the user has typed something.
    """
    if path.exists():
        if not os.access(path, os.W_OK):
            raise HistoryError(describe_error(path, sqlite3.OperationalError("readonly")))
        return
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HistoryError(f"cannot create the directory for history database {path}: {exc.strerror}") from exc
    if not os.access(parent, os.W_OK | os.X_OK):
        raise HistoryError(
            f"cannot create history database {path}: {parent} is not writable; "
            "choose another file with --db or skip history with --no-log"
        )


def _enable_wal(conn: sqlite3.Connection) -> None:
    """``PRAGMA journal_mode = WAL``, retried while another connection holds the lock.

    Switching a new file to WAL takes an exclusive lock, and when another
    process is doing the same (two front ends started at once on a fresh
    database) SQLite answers "database is locked" at once, without waiting
    the busy timeout. So wait here, up to the same :data:`BUSY_TIMEOUT_S`.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    pause = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL").fetchone()
            return
        except sqlite3.OperationalError as exc:
            busy = "locked" in str(exc).lower() or "busy" in str(exc).lower()
            if not busy or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def _decode_text(value: bytes) -> str:
    """A TEXT value as ``str``, invalid UTF-8 as U+FFFD: the connections' ``text_factory``.

    sqlite3's default (``str``) raises "Could not decode to UTF-8 column …" for
    the whole query, so one bad title or message took ``list``, ``show``,
    ``search``, ``export``, ``-c`` and the chat app's sidebar down together.
    """
    return value.decode("utf-8", "replace")


def _decoded_row(cursor: sqlite3.Cursor, row: tuple[object, ...]) -> tuple[object, ...]:
    """A row with any BLOB value read as text (:func:`_decode_text`): the connections' ``row_factory``."""
    if any(type(value) is bytes for value in row):
        return tuple(_decode_text(value) if type(value) is bytes else value for value in row)
    return row


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """``mode=ro``; where that cannot work, ``immutable=1``.

    A WAL database read with ``mode=ro`` still needs its ``-shm`` index, which
    SQLite creates next to the file: in a read-only directory (a mounted backup,
    another user's data) that fails with "unable to open database file".
    ``immutable=1`` reads the file without any locking or index; it is only
    used when ``mode=ro`` failed, i.e. when nobody can be writing there either.
    It reads the main file alone: with a ``-wal`` file holding changes beside
    it (a writer still running, or killed) it would show the history as it was
    before them — all of it, for a file whose every turn was in the WAL, came
    out as "needs upgrading" — so that is one clear error instead.
    """
    base = path.resolve().as_uri()
    conn = sqlite3.connect(f"{base}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError as exc:
        conn.close()
        if "unable to open" not in str(exc).lower() and "readonly" not in str(exc).lower():
            raise
    wal = path.with_name(path.name + "-wal")
    if wal.is_file() and wal.stat().st_size > 0:
        raise HistoryError(
            f"cannot read history database {path} in a read-only directory: its newest changes are in "
            f"{wal.name}, which SQLite reads only where it can write; copy both files to a writable directory"
        )
    return sqlite3.connect(f"{base}?immutable=1", uri=True, timeout=BUSY_TIMEOUT_S, check_same_thread=False)


def connect(path: Path, *, read_only: bool = False) -> sqlite_utils.Database:
    """A tuned connection wrapped in :class:`sqlite_utils.Database` (no migrations run).

    ``read_only=True`` (reading commands) opens with ``mode=ro`` — or
    ``immutable=1`` in a read-only directory — so reading never needs, or
    takes, write access. ``check_same_thread=False``: front ends generate in a
    worker thread and record from there; :class:`~assistant.history.store.HistoryStore`
    serialises access with a lock.
    """
    with translate_errors(path):
        if read_only:
            conn = _connect_read_only(path)
        else:
            conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, check_same_thread=False)
        conn.text_factory = _decode_text
        conn.row_factory = _decoded_row
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            if not read_only:
                # Persistent in the file; returns the mode in force (stays
                # "delete"/"memory" where WAL is impossible, which is still safe).
                _enable_wal(conn)
                conn.execute("PRAGMA synchronous = NORMAL")
            # Touch the schema so "not a database" surfaces here, not later.
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except BaseException:
            conn.close()
            raise
        return sqlite_utils.Database(conn)


@contextlib.contextmanager
def write_transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """One write transaction: ``BEGIN IMMEDIATE`` outside, ``db.atomic()`` savepoint inside.

    ``db.atomic()`` opens with a plain (deferred) ``BEGIN``. In WAL mode a deferred
    transaction that reads before it writes fails at once with SQLITE_BUSY when
    another process committed in between — the busy timeout does not apply. Taking
    the write lock up front makes concurrent writers queue politely instead.
    Nested use (already in a transaction) is just ``db.atomic()``: a savepoint.
    """
    if db.conn.in_transaction:
        with db.atomic():
            yield db
        return
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        with db.atomic():  # a savepoint: keeps sqlite-utils' rollback semantics
            yield db
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
    else:
        try:
            db.conn.execute("COMMIT")
        except BaseException:
            if db.conn.in_transaction:
                db.conn.execute("ROLLBACK")
            raise

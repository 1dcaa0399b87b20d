"""Telling SQLite's own files by their first bytes: a database, its write-ahead log, its rollback journal,
and the shared-memory index beside a database.

Why: a command that writes a file the user names (``--out`` of a batch) must not overwrite one of them.
``--out ~/.local/share/assistant/history.db --force`` replaced the whole history with one result line,
and the history was gone ("file is not a database"). Recognised by content, not by being the history in
use, so another ``--db`` file, a backup of one, or any other program's database is kept too.
"""

from __future__ import annotations

from pathlib import Path

DATABASE_HEADER = b"SQLite format 3\x00"
WAL_MAGIC = (b"\x37\x7f\x06\x82", b"\x37\x7f\x06\x83")
JOURNAL_MAGIC = b"\xd9\xd5\x05\xf9\x20\xa1\x63\xd7"
COMPANIONS = {
    "-wal": "a SQLite write-ahead log", "-shm": "a SQLite shared-memory index", "-journal": "a SQLite rollback journal"
}
"""The files SQLite keeps beside a database (``history.db-wal``), by the suffix of their names."""


def sqlite_file_kind(path: Path) -> str | None:
    """What SQLite file ``path`` is (``"a SQLite database"``, ``"a SQLite write-ahead log"``, ...), else None.

    A file that cannot be read, or is not a regular file, is None: whoever opens it says why.
    """
    try:
        if not path.is_file():
            return None
        with path.open("rb") as handle:
            head = handle.read(len(DATABASE_HEADER))
    except OSError:
        return None
    if head.startswith(DATABASE_HEADER):
        return "a SQLite database"
    if head[:4] in WAL_MAGIC:
        return "a SQLite write-ahead log"
    if head.startswith(JOURNAL_MAGIC):
        return "a SQLite rollback journal"
    for suffix, kind in COMPANIONS.items():  # one SQLite keeps beside a database, empty between uses
        if path.name.endswith(suffix) and sqlite_file_kind(path.with_name(path.name[: -len(suffix)])) is not None:
            return kind
    return None

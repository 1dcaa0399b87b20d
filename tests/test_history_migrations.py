"""Schema migrations: from an empty file, from every earlier schema, and failing halfway."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlite_utils

from assistant.errors import HistoryError
from assistant.history import HistoryStore
from assistant.history.db import connect
from assistant.history.migrations import migrate, migrations, pending_names

ALL_NAMES = [m.name for m in migrations._migrations]


def schema(path: Path) -> list[tuple[str, str, str]]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name"
        ).fetchall()
    finally:
        conn.close()
    return [(t, n, " ".join((s or "").split())) for t, n, s in rows]


def applied(path: Path) -> list[str]:
    db = sqlite_utils.Database(path)
    try:
        return [m.name for m in migrations.applied(db)]
    finally:
        db.close()


def test_names_are_unique_and_ordered() -> None:
    assert len(ALL_NAMES) == len(set(ALL_NAMES)) >= 2
    assert ALL_NAMES == sorted(ALL_NAMES)  # NNNN_ prefixes keep them in order


def test_from_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with HistoryStore.open(path) as store:
        assert set(store.db.table_names()) >= {"conversations", "messages", "messages_fts", "_sqlite_migrations"}
        assert {t.name for t in store.db["messages"].triggers} == {"messages_ai", "messages_ad", "messages_au"}
    assert applied(path) == ALL_NAMES
    with HistoryStore.open(path):  # reopening applies nothing twice
        pass
    assert applied(path) == ALL_NAMES


def _seed(db: sqlite_utils.Database) -> None:
    """Insert a conversation and a message using whatever columns the old schema has."""
    conversation = {"id": 1, "title": "old", "created": "2020-01-01T00:00:00+00:00",
                    "updated": "2020-01-01T00:00:00+00:00", "model": "m", "system": "sys"}
    message = {"id": 1, "conversation_id": 1, "role": "user", "content": "legacy unicorn 🦄",
               "created": "2020-01-01T00:00:00+00:00", "status": "complete"}
    for table, row in (("conversations", conversation), ("messages", message)):
        if db[table].exists():
            columns = {c.name for c in db[table].columns}
            db[table].insert({k: v for k, v in row.items() if k in columns})


@pytest.mark.parametrize("stop_before", ALL_NAMES[1:])
def test_from_every_earlier_schema(tmp_path: Path, stop_before: str) -> None:
    fresh = tmp_path / "fresh.db"
    HistoryStore.open(fresh).close()

    old = tmp_path / "old.db"
    db = connect(old)
    migrations.apply(db, stop_before=stop_before)
    assert pending_names(db)[0] == stop_before
    _seed(db)
    db.close()

    with HistoryStore.open(old) as store:
        assert store.get_conversation(1).title == "old"
        assert store.messages(1)[0].content == "legacy unicorn 🦄"
        assert [h.message_id for h in store.search("unicorn")] == [1]  # indexed by the upgrade
    assert applied(old) == ALL_NAMES
    assert schema(old) == schema(fresh)


def test_a_migration_failing_halfway_rolls_back_and_stays_pending(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "h.db"
    fts_migration = next(m for m in migrations._migrations if m.name == "0002_messages_fts")
    real = fts_migration.fn

    def half_then_fail(db: sqlite_utils.Database) -> None:
        real(db)  # creates the FTS table and triggers...
        db.execute("INSERT INTO messages_fts (rowid, content) VALUES (1, 'x')")
        raise sqlite3.OperationalError("disk I/O error while migrating")  # ...then fails

    monkeypatch.setattr(fts_migration, "fn", half_then_fail)
    with pytest.raises(HistoryError, match="disk I/O error"):
        HistoryStore.open(path)
    db = sqlite_utils.Database(path)
    assert "messages_fts" not in db.table_names()
    assert not db["messages"].triggers
    assert "conversations" in db.table_names()  # the migration before it stays applied
    assert pending_names(db) == ALL_NAMES[ALL_NAMES.index("0002_messages_fts") :]  # it and those after it
    db.close()

    monkeypatch.setattr(fts_migration, "fn", real)
    with HistoryStore.open(path) as store:  # the next start retries it
        assert pending_names(store.db) == []
        conversation = store.create_conversation()
        store.start_turn(conversation.id, "searchable again")
        assert store.search("searchable")


def test_migrate_holds_the_write_lock(tmp_path: Path) -> None:
    """Another connection cannot write while migrations run (no double CREATE TABLE)."""
    path = tmp_path / "lock.db"
    other = sqlite3.connect(path, timeout=0)
    seen: list[str] = []
    set_copy = type(migrations)("test-set")

    @set_copy(name="0001_probe")
    def probe(db: sqlite_utils.Database) -> None:
        try:
            other.execute("CREATE TABLE intruder (x)")
        except sqlite3.OperationalError as exc:
            seen.append(str(exc))

    db = connect(path)
    assert migrate(db, set_copy) == ["0001_probe"]
    db.close()
    other.close()
    assert seen and "locked" in seen[0]


def test_kinds_are_backfilled_from_what_older_files_hold(tmp_path: Path) -> None:
    """Tool runs (a tool_name on a reply) and batches (their titles) become their own kind; the rest chat."""
    old = tmp_path / "old.db"
    db = connect(old)
    migrations.apply(db, stop_before="0004_kinds_and_finish_reasons")
    stamp = "2020-01-01T00:00:00+00:00"
    for cid, title in ((1, "a chat"), (2, "sentiment"), (3, "sentiment: batch over in.jsonl"),
                       (4, "batch: zero-shot over rows.jsonl")):
        db["conversations"].insert({"id": cid, "title": title, "created": stamp, "updated": stamp})
    db["messages"].insert({"conversation_id": 2, "role": "assistant", "content": "{}", "created": stamp,
                           "tool_name": "sentiment"})
    db.close()
    with HistoryStore.open(old) as store:
        assert [store.get_conversation(cid).kind for cid in (1, 2, 3, 4)] == ["chat", "tool", "batch", "batch"]
        assert store.latest_conversation().id == 1  # -c continues the chat
        assert store.latest_conversation(kind=None).id == 4

"""Round 10, history as a user: a search index FTS5 cannot even open is repaired, and a database written
by a newer version is read but not written."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from assistant.cli import main
from assistant.errors import HistoryError
from assistant.history import HistoryStore, TurnMeta
from assistant.types import Completion, Timings, Usage

META = TurnMeta(model="m", backend="fake")


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def history_with_two_turns(path: Path) -> None:
    with HistoryStore.open(path) as store:
        conversation = store.create_conversation(title="t")
        for text in ("hello sea", "deep abyss"):
            turn = store.start_turn(conversation.id, text, META)
            store.finish_turn(turn, Completion(f"re {text}", "m", "fake", "stop", Usage(), Timings()))


@pytest.mark.parametrize(
    "damage",
    [
        "DELETE FROM messages_fts_data WHERE id = 10",  # the index's structure record lost
        "DELETE FROM messages_fts_config",  # its settings lost
    ],
)
def test_repair_rebuilds_an_index_fts5_cannot_open(tmp_path: Path, damage: str) -> None:
    """With the index's structure record or settings lost, FTS5 cannot open ``messages_fts``: search,
    delete and new turns failed with "vtable constructor failed" and no advice, and ``history repair``
    — the command for a damaged index — failed with the same words, since 'rebuild' (and DROP TABLE)
    needs the index opened first."""
    db = tmp_path / "h.db"
    history_with_two_turns(db)
    conn = sqlite3.connect(db)
    conn.execute(damage)
    conn.commit()
    conn.close()

    broken = cli("history", "search", "abyss", "--db", str(db))
    assert broken.exit_code == 1
    assert "assistant history repair" in broken.output  # the error says what to do

    repaired = cli("history", "repair", "--db", str(db))
    assert repaired.exit_code == 0, repaired.output
    assert "4 messages" in repaired.output

    found = cli("history", "search", "abyss", "--db", str(db))
    assert found.exit_code == 0, found.output
    assert "abyss" in found.output
    with HistoryStore.open(db) as store:  # every message kept; new turns are indexed again
        assert [m.content for m in store.messages(1)] == ["hello sea", "re hello sea", "deep abyss", "re deep abyss"]
        turn = store.start_turn(1, "coral reef", META)
        store.finish_turn(turn, Completion("ok", "m", "fake", "stop", Usage(), Timings()))
        assert [hit.message_id for hit in store.search("coral")] == [turn.user_message_id]
        assert store.delete(1) == 6


def newer_file(path: Path) -> None:
    history_with_two_turns(path)
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at)"
        " VALUES ('assistant.history', '0099_from_the_future', '2030-01-01')"
    )
    conn.commit()
    conn.close()


def test_a_newer_versions_database_is_read_but_not_written(tmp_path: Path) -> None:
    """A file a newer version upgraded was written as if it had this version's schema (rename, delete,
    new turns): rows without what the newer schema expects break it for the version that made it."""
    db = tmp_path / "h.db"
    newer_file(db)
    before = db.read_bytes()

    shown = cli("history", "show", "1", "--db", str(db))
    assert shown.exit_code == 0 and "deep abyss" in shown.output
    assert cli("history", "search", "abyss", "--db", str(db)).exit_code == 0

    renamed = cli("history", "rename", "1", "new title", "--db", str(db))
    assert renamed.exit_code == 1
    assert "newer version" in renamed.output and "0099_from_the_future" in renamed.output
    assert len(renamed.output.strip().splitlines()) == 1
    with pytest.raises(HistoryError, match="newer version"):
        HistoryStore.open(db)
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT title FROM conversations").fetchall() == [("t",)]
    conn.close()
    assert db.read_bytes() == before


def test_a_completion_mode_conversation_records_no_system_prompt(tmp_path: Path) -> None:
    """A base model is sent no system prompt (completion mode), but the session's — the configured
    default — was recorded: ``history show`` and the exports gave the conversation a system turn the
    model never had (a ``system`` message in the jsonl fine-tuning export)."""
    from assistant.backends.fake import FakeBackend
    from assistant.history import ConversationRecorder
    from assistant.history.export import fine_tuning_dict
    from assistant.session import ChatSession
    from assistant.types import GenerationParams

    backend = FakeBackend(reply=" below the waves.")
    backend.load("fake")
    with HistoryStore.open(tmp_path / "h.db") as store:
        session = ChatSession(
            backend, params=GenerationParams(temperature=0.0, max_tokens=64),
            system="You are a helpful assistant.", mode="completion", recorder=ConversationRecorder(store),
        )
        for text in ("The sea", "In the abyss"):
            for _ in session.send(text):
                pass
        conversation = store.get_conversation(1)
        messages = store.messages(1)
        assert conversation.system is None
        assert [m.system for m in messages] == [None] * 4
        exported = fine_tuning_dict(conversation, messages)
        assert exported is not None and [m["role"] for m in exported["messages"]] == [
            "user", "assistant", "user", "assistant"
        ]
    shown = cli("history", "show", "1", "--db", str(tmp_path / "h.db"))
    assert shown.exit_code == 0 and "--- system" not in shown.output

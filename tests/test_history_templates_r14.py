"""Round 14, history and templates: ids never reused, coloured text searchable, and the CLI's edges."""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from assistant.cli import main
from assistant.errors import HistoryError
from assistant.history import HistoryStore
from assistant.history.db import connect
from assistant.history.migrations import migrations
from assistant.types import Completion, Timings, Usage

COLOURED = "\x1b[31mred\x1b[0m alert"
LINKED = "see \x1b]8;;https://example.com\x07the manual\x1b]8;;\x07 now"


def cli(*args: str, input: str | io.BytesIO | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input)


def _rows(path: Path, table: str) -> list[tuple[object, ...]]:
    """Every row of ``table`` in the columns the old schema has (what an upgrade must keep as it was)."""
    conn = sqlite3.connect(path)
    try:
        added = ("searchable", "model_ref")  # columns later migrations add
        columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})") if row[1] not in added]
        return conn.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY id").fetchall()
    finally:
        conn.close()


def _previous_version_file(path: Path) -> None:
    """A history as the previous version wrote it (schema up to 0010), with real turns in it."""
    db = connect(path)
    migrations.apply(db, stop_before="0011_search_words_without_escapes")
    stamp = "2026-01-01T00:00:00+00:00"
    for cid, title in ((1, "first"), (2, "second"), (3, "third")):
        db.execute(
            "INSERT INTO conversations (id, title, created, updated, model, backend, system, params, kind)"
            " VALUES (?, ?, ?, ?, 'smollm2', 'llama-cpp', 'Be brief.', '{\"temperature\": 0}', 'chat')",
            [cid, title, stamp, stamp],
        )
    texts = [(1, "user", COLOURED), (1, "assistant", "plain words"), (2, "user", "hello"), (2, "assistant", LINKED),
             (3, "user", "soon gone"), (3, "assistant", "bye")]
    parent: dict[int, int | None] = {}
    for message_id, (cid, role, text) in enumerate(texts, start=1):
        db.execute(
            "INSERT INTO messages (id, conversation_id, role, content, created, status, parent_id)"
            " VALUES (?, ?, ?, ?, ?, 'complete', ?)",
            [message_id, cid, role, text, stamp, parent.get(cid)],
        )
        parent[cid] = message_id
        db.execute("UPDATE conversations SET head_id = ? WHERE id = ?", [message_id, cid])
    db.execute("DELETE FROM messages WHERE conversation_id = 3")  # deleted by the previous version:
    db.execute("DELETE FROM conversations WHERE id = 3")  # its id is not known any more
    db.conn.commit()
    db.close()


# ---- known item 1: ids -----------------------------------------------------------------------------
def test_a_deleted_conversations_id_is_not_given_to_the_next_one(tmp_path: Path) -> None:
    """`history delete 5` then a new chat got id 5 again: "conversation 5" in a note meant another one."""
    with HistoryStore.open(tmp_path / "h.db") as store:
        first = store.create_conversation(title="kept")
        newest = store.create_conversation(title="deleted")
        store.start_turn(newest.id, "words")
        store.delete(newest.id)
        again = store.create_conversation(title="new")
        assert again.id == newest.id + 1
        assert [c.id for c in store.list_conversations()] == [again.id, first.id]


def test_upgrading_the_previous_schema_never_reuses_ids_again(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _previous_version_file(path)
    with HistoryStore.open(path) as store:
        assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1  # back on after the migration
        assert store.db.execute("PRAGMA foreign_key_check").fetchall() == []
        assert [m.content for m in store.messages(2)] == ["hello", LINKED]
        newest = store.create_conversation(title="after the upgrade")
        assert newest.id == 3  # the largest id kept, + 1 (3 was deleted before: unknown now)
        store.delete(newest.id)
        assert store.create_conversation().id == 4  # from now on, never reused
        store.delete(1)  # messages still follow their conversation (ON DELETE CASCADE kept)
        assert store.db.execute("SELECT count(*) FROM messages WHERE conversation_id = 1").fetchone()[0] == 0


def test_the_upgrade_keeps_rows_exactly(tmp_path: Path) -> None:
    """Every column of every row, as the previous version wrote it (the table is made again)."""
    path = tmp_path / "old.db"
    _previous_version_file(path)
    before = (_rows(path, "conversations"), _rows(path, "messages"))
    HistoryStore.open(path).close()
    assert (_rows(path, "conversations"), _rows(path, "messages")) == before


# ---- known item 2: search ----------------------------------------------------------------------------
def test_the_words_of_coloured_text_are_found_and_the_text_kept_as_it_came(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    with HistoryStore.open(path) as store:
        conversation = store.create_conversation()
        turn = store.start_turn(conversation.id, COLOURED)
        store.checkpoint(turn, "half \x1b[1mway")
        assert [h.message_id for h in store.search("way")] == [turn.reply_message_id]
        store.finish_turn(turn, Completion(LINKED, model="m", backend="fake", finish_reason="stop", usage=Usage(), timings=Timings()))
        assert [h.message_id for h in store.search("red")] == [turn.user_message_id]
        assert [h.message_id for h in store.search("manual")] == [turn.reply_message_id]
        assert store.search("31mred") == [] and store.search("way") == []  # the checkpoint's words replaced
        assert store.search("red")[0].snippet == "[red] alert"
        assert [h.message_id for h in store.search(COLOURED)] == [turn.user_message_id]  # a pasted query too
        assert [m.content for m in store.messages(conversation.id)] == [COLOURED, LINKED]
        store.repair()  # rebuilt from the same words
        assert [h.message_id for h in store.search("red")] == [turn.user_message_id]
        store.delete(conversation.id)
        assert store.search("red") == [] and store.search("alert") == []


def test_a_long_coloured_message_gets_its_snippet_from_its_words(tmp_path: Path) -> None:
    with HistoryStore.open(tmp_path / "h.db") as store:
        conversation = store.create_conversation()
        store.start_turn(conversation.id, "filler " * 1000 + COLOURED)
        (hit,) = store.search("red")
        assert "[red]" in hit.snippet and "\x1b" not in hit.snippet


def test_the_upgrade_indexes_the_words_of_coloured_text_already_stored(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _previous_version_file(path)
    with HistoryStore.open(path) as store:
        assert [h.message_id for h in store.search("red")] == [1]
        assert [h.message_id for h in store.search("manual")] == [4]
        assert store.search("31mred") == []
    result = cli("history", "search", "red", "--db", str(path))
    assert result.exit_code == 0 and "#1" in result.output and "\x1b" not in result.output


def test_the_upgrade_of_a_file_whose_search_index_cannot_be_opened_makes_it_anew(tmp_path: Path) -> None:
    """Remaking the conversations table reads every trigger, and one writing to an index FTS5 cannot open
    failed the upgrade: the file was then unusable, to ``history repair`` too (it upgrades first)."""
    path = tmp_path / "old.db"
    _previous_version_file(path)
    damaged = sqlite3.connect(path)
    damaged.execute("DELETE FROM messages_fts_config")  # the index's settings lost: FTS5 cannot open it
    damaged.commit()
    damaged.close()
    with HistoryStore.open(path) as store:
        assert [h.message_id for h in store.search("red")] == [1]
        assert store.create_conversation().id == 3


# ---- known item 4 ----------------------------------------------------------------------------------
def test_an_unknown_kind_is_refused_not_an_empty_history(tmp_path: Path) -> None:
    with HistoryStore.open(tmp_path / "h.db") as store:
        store.start_turn(store.create_conversation().id, "typed")
        with pytest.raises(HistoryError, match="kind must be one of chat, tool, batch, not 'bogus'"):
            store.recent_user_texts(kind="bogus")  # type: ignore[arg-type]
        assert store.recent_user_texts(kind="chat") == ["typed"]


# ---- known item 5 ----------------------------------------------------------------------------------
class _CtrlCAtTheKeyboard(io.BytesIO):
    """Stdin where the user presses Ctrl-C instead of answering."""

    def read(self, size: int | None = -1) -> bytes:
        if size == 0:  # click's check that the stream is binary
            return b""
        raise KeyboardInterrupt

    read1 = readline = read  # type: ignore[assignment]


def test_ctrl_c_at_the_delete_question_deletes_nothing_in_one_line(tmp_path: Path) -> None:
    db = str(tmp_path / "h.db")
    with HistoryStore.open(db) as store:
        store.start_turn(store.create_conversation().id, "keep me")
    result = cli("history", "delete", "1", "--db", db, input=_CtrlCAtTheKeyboard())
    assert result.exit_code == 130, result.output
    assert result.output.rstrip().endswith("interrupted: nothing deleted") and "Aborted" not in result.output
    declined = cli("history", "delete", "1", "--db", db, input="n\n")
    assert declined.exit_code == 1 and declined.output.rstrip().endswith("nothing deleted")
    assert "Aborted" not in declined.output
    with HistoryStore.open(db) as store:
        assert store.get_conversation(1).message_count == 2


# ---- known item 6 ----------------------------------------------------------------------------------
@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_an_export_that_cannot_be_written_to_stdout_says_so(tmp_path: Path) -> None:
    db = str(tmp_path / "h.db")
    with HistoryStore.open(db) as store:
        store.start_turn(store.create_conversation().id, "words " * 100)
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "assistant", "history", "export", "1", "--format", "json", "--db", db],
            stdout=full, stderr=subprocess.PIPE, text=True, timeout=120,
        )
    assert done.returncode == 1
    assert done.stderr == "error: could not write the export to standard output: No space left on device\n"


# ---- known item 7 ----------------------------------------------------------------------------------
def test_a_template_variable_reads_stdin_with_at_dash() -> None:
    """``-v target=@-`` said "file - does not exist"; it reads stdin, as curl's ``@-`` does."""
    result = cli("templates", "render", "translate", "-v", "target=@-", "--input", "hello", input="French\n")
    assert result.exit_code == 0, result.output
    assert "Translate the following text to French." in result.output
    both = cli("templates", "render", "translate", "-v", "target=@-", "--input", "-", input="French\n")
    assert both.exit_code == 1
    assert "-v target=@- and --input - both read stdin" in both.output
    twice = cli("templates", "render", "translate", "-v", "target=@-", "-v", "source=@-", "--input", "x", input="y")
    assert twice.exit_code == 1 and "both read stdin" in twice.output
    literal = cli("templates", "render", "zero-shot", "-v", "task=@@-", "--input", "hello")
    assert "[user]\n@-\n" in literal.output  # translate checks its target now: '@-' is no language


def test_prompt_t_takes_a_variable_from_stdin_and_its_input_from_text(fakes: list) -> None:
    result = cli(
        "prompt", "-b", "fake", "--no-log", "-t", "translate", "-v", "target=@-", "hello there", input="German\n"
    )
    assert result.exit_code == 0, result.output
    sent = fakes[-1].calls[-1]["prompt"]
    assert "to German." in sent and "hello there" in sent


# ---- found this round -----------------------------------------------------------------------------
def test_a_csv_header_that_is_not_utf8_is_one_error_before_any_row(tmp_path: Path, fakes: list) -> None:
    """A Latin-1 header (``entrée``) failed every row with "row N is not valid Unicode (byte 0xe9 at
    character 5)": the header's byte, blamed on rows whose cells were all fine."""
    rows = tmp_path / "rows.csv"
    rows.write_bytes(b"input,entr\xe9e\nhello,x\nworld,y\n")
    out = tmp_path / "out.jsonl"
    result = cli("prompt", "-b", "fake", "--no-log", "-t", "zero-shot", "--batch", str(rows), "--out", str(out))
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"error: batch file {rows}: the header's column 2 is not UTF-8 text (byte 0xe9 at character 5); "
        "save the file as UTF-8"
    )
    assert not out.exists() and not fakes  # refused before the model loads


def test_prompt_t_without_text_when_stdin_went_to_a_variable_says_where_the_input_goes(fakes: list) -> None:
    result = cli("prompt", "-b", "fake", "--no-log", "-t", "translate", "-v", "target=@-", input="German\n")
    assert result.exit_code == 1
    assert "missing required variable(s) input (pass input as TEXT: stdin went to -v NAME=@-)" in result.output
    assert not fakes  # before the model loads

"""Round 20, history: the Python API, ``--db``, titles and batch resumes.

1. ``ChatSession.send(5)`` (and ``iter_export`` with an unknown format) raised only when the returned
   generator was first read: a caller who never read it never learned.
2. ``--db /missing/dir/x.db`` made the missing folders and a new, empty history without a word.
3. Titles were flattened by their own rule (every control a space), beside terminal_text's one rule.
4. A ``--resume`` of another rows file into a killed run's emptied results file went on in that run's
   conversation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from assistant.backends.fake import FakeBackend
from assistant.cli import main
from assistant.errors import ConfigError, HistoryError
from assistant.session import ChatSession


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def loaded() -> FakeBackend:
    backend = FakeBackend(reply="Hello.")
    backend.load("fake-model")
    return backend


# ---- known item 1: checks at the call ----------------------------------------------------------------
@pytest.mark.parametrize("text", [5, None, b"Hi", "bad \ud800"])
def test_a_wrong_message_is_refused_at_the_call_not_at_the_first_read(text: Any) -> None:
    session = ChatSession(loaded())
    with pytest.raises(ConfigError):
        session.send(text)  # never read
    assert session.messages == []


def test_a_field_set_wrong_since_is_refused_at_the_call() -> None:
    session = ChatSession(loaded())
    session.params.temperature = -1
    with pytest.raises(ConfigError):
        session.send("Hi")


def test_a_send_while_a_reply_streams_is_refused_at_the_call_and_a_stream_never_read_holds_nothing() -> None:
    session = ChatSession(loaded())
    first = session.send("A")
    next(first)
    with pytest.raises(ConfigError, match="still streaming a reply"):
        session.send("B")
    first.close()
    session.send("never read")  # made, never read: the session is not taken
    assert "".join(chunk.text for chunk in session.send("C")) == "Hello."
    assert [m.content for m in session.messages if m.role == "user"] == ["A", "C"]  # "never read" sent nothing


def test_two_streams_made_before_either_is_read_still_take_turns() -> None:
    session = ChatSession(loaded())
    first, second = session.send("A"), session.send("B")
    next(first)
    with pytest.raises(ConfigError, match="still streaming a reply"):
        next(second)
    "".join(chunk.text for chunk in first)
    assert [m.role for m in session.messages] == ["user", "assistant"]


def test_what_send_returns_is_still_a_generator_to_close() -> None:
    import inspect

    reply = ChatSession(loaded()).send("A")
    assert inspect.isgenerator(reply)
    reply.close()


def test_an_unknown_export_format_is_refused_at_the_call() -> None:
    from assistant.history.export import iter_export

    with pytest.raises(HistoryError, match="unknown export format"):
        iter_export(iter(()), "yaml", many=True)


# ---- known item 2: --db in a folder that does not exist ----------------------------------------------
@pytest.mark.parametrize(
    "command",
    [
        ["history", "list"], ["history", "search", "x"], ["history", "show", "1"], ["history", "export", "1"],
        ["history", "rename", "1", "t"], ["history", "delete", "1", "--yes"], ["history", "repair"],
        ["prompt", "-b", "fake", "-m", "m", "hi"],
    ],
)
def test_a_db_in_a_missing_folder_is_refused_naming_the_folder(command: list[str], tmp_path: Path) -> None:
    missing = tmp_path / "histroy" / "deeper"
    result = cli(*command, "--db", str(missing / "work.db"))
    assert result.exit_code != 0
    assert f"the folder {missing} of history database" in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert not (tmp_path / "histroy").exists()  # nothing made


def test_a_db_under_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes").write_text("x")
    result = cli("prompt", "-b", "fake", "-m", "m", "hi", "--db", str(tmp_path / "notes" / "h.db"))
    assert result.exit_code != 0 and "is not a folder" in result.output, result.output


def test_the_default_history_and_an_existing_folder_are_still_made_as_needed(
    fakes: list[FakeBackend], assistant_home: Path, tmp_path: Path
) -> None:
    from assistant.history import HistoryStore, default_db_path

    assert not default_db_path().parent.exists()
    with HistoryStore.open(default_db_path()):  # named outright, it is still the default location
        pass
    assert cli("prompt", "-b", "fake", "-m", "m", "hi", "--db", str(tmp_path / "new.db")).exit_code == 0
    assert (tmp_path / "new.db").is_file()


# ---- known item 3: titles by the one rule -------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("ok\rFAILED", "ok\rFAILED"),  # a lone CR is no line end: the listing shows it (␍), as `show` does
        ("a\x07b", "a\x07b"),
        ("\n\n  first line\r\nsecond", "first line"),
        ("one\u2028two", "one"),
        ("a \t  b", "a b"),
        ("\x1b[31mred\x1b[0m alert", "red alert"),
        ("\x07\x1b\nHello", "Hello"),  # a line of controls alone has no word: not the title
    ],
)
def test_a_title_is_one_line_by_the_terminal_text_rule(text: str, title: str) -> None:
    from assistant.history.stored_text import title_from
    from assistant.terminal_text import one_line, visible_line

    assert title_from(text) == title
    assert visible_line(title) == visible_line(one_line(title))
    assert "\x07" not in visible_line(title_from("a\x07b") or "")


def test_a_title_stored_under_the_old_rule_shows_as_before(tmp_path: Path) -> None:
    from assistant.history import HistoryStore

    db = tmp_path / "h.db"
    with HistoryStore.open(db) as store:
        conversation = store.create_conversation(title="old  rule")
        store.db.execute("UPDATE conversations SET title = ? WHERE id = ?", ["old rule title", conversation.id])
    listed = cli("history", "list", "--db", str(db))
    assert "old rule title" in listed.output, listed.output


def test_a_renamed_title_keeps_a_control_for_the_listing_to_show(tmp_path: Path) -> None:
    from assistant.history import HistoryStore

    db = tmp_path / "h.db"
    with HistoryStore.open(db) as store:
        conversation = store.create_conversation(title="x")
    assert cli("history", "rename", str(conversation.id), "bell\x07here\nnext", "--db", str(db)).exit_code == 0
    listed = cli("history", "list", "--db", str(db)).output
    assert "bell␇here next" in listed and "\x07" not in listed, listed


# ---- known item 4: another rows file into a killed run's emptied results file --------------------------
def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _said(conversation_id: int) -> list[str]:
    from assistant.history.store import HistoryStore

    with HistoryStore.open() as store:
        return [m.content for m in store.messages(conversation_id, "all") if m.role == "user"]


def _conversations() -> list[int]:
    from assistant.history.store import HistoryStore

    with HistoryStore.open() as store:
        return sorted(c.id for c in store.list_conversations(limit=100))


@pytest.mark.parametrize("kind", ["template", "tool"])
def test_another_rows_file_resumed_into_a_killed_runs_empty_results_starts_its_own_conversation(
    kind: str, fakes: list[FakeBackend], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_history_r19 import Killed, _killed_before_line

    first_rows, other_rows, out = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "out.jsonl"
    first_rows.write_text('"one"\n"two"\n')
    other_rows.write_text('"alpha"\n"beta"\n')
    command = ["prompt", "-t", "chat"] if kind == "template" else ["sentiment"]
    with monkeypatch.context() as patch:
        _killed_before_line(patch, 1)
        with pytest.raises(Killed):
            cli(*command, "-b", "fake", "-m", "m", "--batch", str(first_rows), "--out", str(out))
    assert out.read_text() == ""
    [killed] = _conversations()
    resumed = cli(*command, "-b", "fake", "-m", "m", "--batch", str(other_rows), "--out", str(out), "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert _said(killed) == ["one"]  # the killed run's conversation is left as it was
    [new] = [cid for cid in _conversations() if cid != killed]
    assert _said(new) == ["alpha", "beta"]
    assert {line["conversation_id"] for line in _lines(out)} == {new}
    assert f"conversation {new})" in resumed.output


def test_the_same_rows_file_resumed_after_the_kill_still_goes_on_in_its_conversation(
    fakes: list[FakeBackend], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_history_r19 import Killed, _killed_before_line

    rows, out = tmp_path / "a.jsonl", tmp_path / "out.jsonl"
    rows.write_text('{"id": 1, "text": "one"}\n{"id": 2, "text": "two"}\n')
    base = ["sentiment", "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out)]
    with monkeypatch.context() as patch:
        _killed_before_line(patch, 1)
        with pytest.raises(Killed):
            cli(*base)
    [killed] = _conversations()
    assert cli(*base, "--resume").exit_code == 0
    assert _conversations() == [killed] and _said(killed) == ["one", "two"]


def test_another_rows_file_resumed_into_results_none_of_whose_lines_are_its_rows_is_refused(
    fakes: list[FakeBackend], tmp_path: Path
) -> None:
    """Rows with ids no line names: nothing was compared, and the other batch's rows were appended to the file
    and to that batch's conversation."""
    first_rows, other_rows, out = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "out.jsonl"
    first_rows.write_text('"one"\n"two"\n')
    other_rows.write_text('{"id": "x", "text": "alpha"}\n{"id": "y", "text": "beta"}\n')
    assert cli("sentiment", "-b", "fake", "-m", "m", "--batch", str(first_rows), "--out", str(out)).exit_code == 0
    before = out.read_text()
    for command in (["sentiment"], ["prompt", "-t", "chat"]):
        refused = cli(*command, "-b", "fake", "-m", "m", "--batch", str(other_rows), "--out", str(out), "--resume")
        assert refused.exit_code == 1
        assert "is a row of this --batch file" in refused.output or "holds results of tool" in refused.output
    assert "none of the 2 finished line(s)" in cli(
        "sentiment", "-b", "fake", "-m", "m", "--batch", str(other_rows), "--out", str(out), "--resume"
    ).output
    assert out.read_text() == before and _said(1) == ["one", "two"]


def test_rows_with_ids_reordered_still_resume(fakes: list[FakeBackend], tmp_path: Path) -> None:
    rows, out = tmp_path / "a.jsonl", tmp_path / "out.jsonl"
    rows.write_text('{"id": "x", "text": "alpha"}\n')
    assert cli("sentiment", "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out)).exit_code == 0
    rows.write_text('{"id": "y", "text": "beta"}\n{"id": "x", "text": "alpha"}\n')
    resumed = cli("sentiment", "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out), "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert [line["id"] for line in _lines(out)] == ["x", "y"]


def test_an_export_of_a_wrong_id_is_refused_at_the_call(tmp_path: Path) -> None:
    from assistant.history import HistoryStore

    with HistoryStore.open(tmp_path / "h.db") as store:
        with pytest.raises(HistoryError, match="conversation id must be a whole number"):
            store.iter_export([0])  # never read


# ---- item 5: bad input ----------------------------------------------------------------------------------
def test_a_db_or_export_path_of_an_unknown_users_home_is_one_line_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``~nouser/x.db``: ``Path.expanduser`` raised RuntimeError ("Could not determine home directory")."""
    monkeypatch.chdir(tmp_path)
    listed = cli("history", "list", "--db", "~no_such_user_r20/x.db")
    assert listed.exit_code == 1 and "the folder ~no_such_user_r20 of history database" in listed.output
    from assistant.history import HistoryStore

    db = tmp_path / "h.db"
    with HistoryStore.open(db) as store:
        store.create_conversation(title="x")
    exported = cli("history", "export", "--all", "--db", str(db), "-o", "~no_such_user_r20/x.md")
    assert exported.exit_code == 1 and "cannot write ~no_such_user_r20/x.md" in exported.output, exported.output

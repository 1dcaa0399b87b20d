"""Round 18, batches, history and model references.

1. A batch killed after a row's turn was recorded but before its result line was written: ``--resume``
   ran the row again and the conversation got that row's user turn twice.
2. A ``--resume`` whose only unfinished rows were lines marked ``history_error`` loaded the model to record
   them, though recording them runs nothing.
3. A ``--resume`` read the whole results file a dozen times (each check its own reading).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, Callable

import pytest
from click.testing import CliRunner, Result

from assistant.backends.fake import FakeBackend
from assistant.cli import main


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _said(conversation_id: int) -> list[str]:
    from assistant.history.store import HistoryStore

    with HistoryStore.open() as store:
        return [m.content for m in store.messages(conversation_id, "all") if m.role == "user"]




# ---- known item 2: lines only to record load no model -------------------------------------------------
@pytest.mark.parametrize("kind", ["template", "tool"])
def test_a_resume_that_only_records_marked_lines_loads_no_model(
    kind: str, lock_on: Callable[[str], list[sqlite3.Connection]], fakes: list[FakeBackend], tmp_path: Path
) -> None:
    rows, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    rows.write_text('"one"\n"two"\n"three"\n')
    command = ["prompt", "-t", "chat"] if kind == "template" else ["sentiment"]
    base = [*command, "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out)]
    held = lock_on("three")  # the last row: every row has its line, one of them marked
    stopped = cli(*base)
    assert stopped.exit_code == 1
    assert [line.get("history_error") is not None for line in _lines(out)] == [False, False, True]
    held.pop().close()
    fakes.clear()
    resumed = cli(*base, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert fakes == []  # nothing ran, so no model was loaded
    assert "0 ok, 0 failed, 3 already done (1 of them now recorded in the history) of 3 rows" in resumed.output
    lines = _lines(out)
    assert [line["row"] for line in lines] == [1, 2, 3, 3] and "history_error" not in lines[-1]
    assert {line["conversation_id"] for line in lines} == {lines[0]["conversation_id"]}
    assert _said(lines[0]["conversation_id"]) == ["one", "two", "three"]
    from assistant.history.store import HistoryStore

    with HistoryStore.open() as store:  # recorded as the model that wrote the line made it
        reply = store.messages(lines[0]["conversation_id"])[-1]
    assert (reply.model, reply.backend, reply.status) == (lines[-1]["model"], "fake", "complete")
    assert reply.template == ("chat" if kind == "template" else None)
    again = cli(*base, "--resume")
    assert again.exit_code == 0 and "3 already done of 3 rows" in again.output and fakes == []


def test_a_template_line_recorded_without_the_model_keeps_the_rendered_prompt(
    lock_on: Callable[[str], list[sqlite3.Connection]], fakes: list[FakeBackend], tmp_path: Path
) -> None:
    """The turn a template line gets without the model is the one the live run records: what was sent
    (the rendered template) and the row's own sampling parameters."""
    rows, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    rows.write_text('{"text": "one"}\n{"text": "two", "params": {"temperature": 0.3}}\n')
    base = ["prompt", "-t", "sentiment", "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out)]
    held = lock_on("two")
    assert cli(*base).exit_code == 1
    held.pop().close()
    fakes.clear()
    assert cli(*base, "--resume").exit_code == 0 and fakes == []
    from assistant.history.store import HistoryStore

    with HistoryStore.open() as store:
        said = [m for m in store.messages(_lines(out)[-1]["conversation_id"]) if m.role == "user"]
    assert [m.content for m in said] == ["one", "two"]
    assert said[1].rendered is not None and said[1].rendered[-1].content == said[0].rendered[-1].content.replace("one", "two")
    assert said[1].params is not None and said[1].params["temperature"] == 0.3


# ---- known item 3: the results file is read once --------------------------------------------------------
@pytest.mark.parametrize("kind", ["template", "tool"])
def test_a_resume_reads_the_results_file_once(
    kind: str, fakes: list[FakeBackend], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    rows.write_text('"one"\n"two"\n"three"\n')
    command = ["prompt", "-t", "chat"] if kind == "template" else ["sentiment"]
    base = [*command, "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out)]
    assert cli(*base).exit_code == 0
    out.write_text("\n".join(out.read_text().splitlines()[:2]) + "\n")  # the third row's line lost
    reads: list[str] = []
    original = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self == out:
            reads.append(str(self))
        return original(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    resumed = cli(*base, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert "1 ok, 0 failed, 2 already done of 3 rows" in resumed.output
    assert len(reads) == 1


def test_a_results_file_changed_between_two_checks_is_read_again(tmp_path: Path) -> None:
    """Read once is read once per content: a line appended (even of the same length as one cut) is seen."""
    from assistant.batch import Row, done_rows

    out = tmp_path / "out.jsonl"
    rows = [Row(1, {"text": "a"}), Row(2, {"text": "b"})]
    out.write_text('{"row": 1, "id": null, "error": null}\n')
    assert done_rows(rows, out) == {1}
    out.write_text('{"row": 2, "id": null, "error": null}\n')  # the same length, another row
    assert done_rows(rows, out) == {2}


# ---- known item 1: a turn recorded by a run killed before its line ---------------------------------------
def _killed_before_the_last_line(out: Path) -> None:
    """The state a kill -9 leaves between recording a row's turn and writing its result line: the turn in
    the history, the line not in the file."""
    out.write_text("".join(out.read_text().splitlines(keepends=True)[:-1]))


@pytest.mark.parametrize("kind", ["template", "tool"])
def test_a_resume_after_a_kill_between_turn_and_line_records_no_second_turn(
    kind: str, fakes: list[FakeBackend], tmp_path: Path
) -> None:
    from assistant.history.store import HistoryStore

    rows, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    rows.write_text('"one"\n"two"\n"three"\n')
    command = ["prompt", "-t", "chat"] if kind == "template" else ["sentiment"]
    base = [*command, "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out)]
    assert cli(*base).exit_code == 0
    conversation = _lines(out)[0]["conversation_id"]
    _killed_before_the_last_line(out)
    resumed = cli(*base, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert "1 ok, 0 failed, 2 already done of 3 rows" in resumed.output
    assert _said(conversation) == ["one", "two", "three"]  # in every branch: "three" once
    with HistoryStore.open() as store:
        shown = store.messages(conversation)
        replies = store.siblings(conversation, shown[-1].id)
    assert [m.content for m in shown if m.role == "user"] == ["one", "two", "three"]
    assert len(replies) == 2 and shown[-1].alternative == 2  # both answers kept, the line's shown
    assert _lines(out)[-1]["message_id"] == shown[-1].id


def test_the_row_of_an_unwritten_turn_is_recorded_before_rows_run_again(fakes: list[FakeBackend], tmp_path: Path) -> None:
    """A failed row run again before it would follow the unwritten turn's reply: a new reply beside that one
    left it on a branch no longer shown. The unwritten turn's row is recorded first."""
    from assistant.history.store import HistoryStore

    rows, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    rows.write_text('"one"\n{"text": "two", "params": {"bogus": 1}}\n"three"\n')
    base = ["sentiment", "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out)]
    assert cli(*base).exit_code == 1  # a row failed
    assert [line["error"] is None for line in _lines(out)] == [True, False, True]
    conversation = _lines(out)[0]["conversation_id"]
    _killed_before_the_last_line(out)
    resumed = cli(*base, "--resume")
    assert resumed.exit_code == 1, resumed.output
    assert "1 ok, 1 failed, 1 already done of 3 rows" in resumed.output
    with HistoryStore.open() as store:
        shown = [m.content for m in store.messages(conversation) if m.role == "user"]
    assert shown == ["one", "two", "three", "two"]  # every turn on the branch shown, "three" once
    assert _said(conversation) == shown


def test_a_results_file_without_message_ids_resumes_as_before(fakes: list[FakeBackend], tmp_path: Path) -> None:
    """A file of an older version names no message: nothing tells a turn of its rows from another, so none
    is taken for the unwritten one."""
    rows, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    rows.write_text('"one"\n"two"\n')
    base = ["sentiment", "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out)]
    assert cli(*base).exit_code == 0
    conversation = _lines(out)[0]["conversation_id"]
    out.write_text(json.dumps({k: v for k, v in _lines(out)[0].items() if k != "message_id"}) + "\n")
    assert cli(*base, "--resume").exit_code == 0
    assert _said(conversation) == ["one", "two", "two"]


def test_turns_of_several_lines_cut_by_hand_are_left_as_they_are(fakes: list[FakeBackend], tmp_path: Path) -> None:
    """A kill leaves at most one turn without its line, right after the newest line's. Two lines cut from the
    file (by hand) leave two: neither is taken for an unwritten one, and the rows run in their order."""
    rows, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    rows.write_text('"one"\n"two"\n"three"\n')
    base = ["sentiment", "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out)]
    assert cli(*base).exit_code == 0
    conversation = _lines(out)[0]["conversation_id"]
    _killed_before_the_last_line(out)
    _killed_before_the_last_line(out)
    assert cli(*base, "--resume").exit_code == 0
    assert [line["row"] for line in _lines(out)] == [1, 2, 3]
    assert _said(conversation) == ["one", "two", "three", "two", "three"]


def test_a_marked_line_recorded_by_a_resume_killed_before_its_line_is_not_recorded_twice(
    lock_on: Callable[[str], list[sqlite3.Connection]], fakes: list[FakeBackend], tmp_path: Path
) -> None:
    rows, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    rows.write_text('"one"\n"two"\n"three"\n')
    base = ["sentiment", "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out)]
    held = lock_on("three")
    assert cli(*base).exit_code == 1
    held.pop().close()
    assert cli(*base, "--resume").exit_code == 0  # records row 3's turn, writes its line again unmarked ...
    _killed_before_the_last_line(out)  # ... which a kill lost
    assert "history_error" in _lines(out)[-1]
    fakes.clear()
    again = cli(*base, "--resume")
    assert again.exit_code == 0, again.output
    assert fakes == [] and "1 of them now recorded in the history" in again.output
    assert _said(_lines(out)[0]["conversation_id"]) == ["one", "two", "three"]


# ---- found using them -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["backup.db", "other-history.sqlite", "notes.md"])
def test_an_export_never_replaces_another_history_database(fakes: list[FakeBackend], tmp_path: Path, name: str) -> None:
    """``history export --all -o backup.db`` replaced a backup of the history (or another ``--db``'s) with
    Markdown: only the database in use was refused. Any SQLite file is, whatever its name."""
    from assistant.history.store import HistoryStore

    assert cli("prompt", "-b", "fake", "-m", "m", "hello").exit_code == 0
    other = tmp_path / name
    with HistoryStore.open(other) as store:
        store.create_conversation(title="kept")
    before = other.read_bytes()
    result = cli("history", "export", "--all", "-o", str(other))
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: cannot export to {other}: it is a SQLite database (a history?), not an export; choose another file"
    ]
    assert other.read_bytes() == before
    listed = cli("history", "list", "--db", str(other))
    assert listed.exit_code == 0 and "kept" in listed.output


def test_an_export_still_replaces_an_earlier_export(fakes: list[FakeBackend], tmp_path: Path) -> None:
    assert cli("prompt", "-b", "fake", "-m", "m", "hello").exit_code == 0
    target = tmp_path / "export.md"
    target.write_text("an older export\n")
    assert cli("history", "export", "--all", "-o", str(target)).exit_code == 0
    assert "hello" in target.read_text() and "older" not in target.read_text()


def test_a_turn_begun_and_refused_its_reply_gets_that_reply_on_resume(
    fakes: list[FakeBackend], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The history took a row's user message, then refused its reply (the database locked in between): the
    line is marked, and ``--resume`` gave that row a second turn beside the empty one. Its reply now goes to
    the turn it was missing from, as another version of the reply."""
    from assistant.errors import HistoryError
    from assistant.history.store import HistoryStore

    original = HistoryStore.finish_turn
    calls: list[int] = []

    def finish_turn(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise HistoryError("database is locked")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(HistoryStore, "finish_turn", finish_turn)
    rows, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    rows.write_text('"one"\n"two"\n"three"\n')
    base = ["sentiment", "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out)]
    assert cli(*base).exit_code == 1
    marked = _lines(out)[-1]
    assert marked["row"] == 2 and marked["history_error"] and isinstance(marked["message_id"], int)
    resumed = cli(*base, "--resume")
    assert resumed.exit_code == 0, resumed.output
    conversation = marked["conversation_id"]
    assert _said(conversation) == ["one", "two", "three"]
    with HistoryStore.open() as store:
        shown = store.messages(conversation)
    assert [m.status for m in shown] == ["complete"] * 6
    assert shown[3].alternative == 2 and shown[3].content == json.dumps(marked["result"])


def test_a_resume_that_still_cannot_record_says_so_without_loading_the_model(
    lock_on: Callable[[str], list[sqlite3.Connection]], fakes: list[FakeBackend], tmp_path: Path
) -> None:
    rows, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    rows.write_text('"one"\n"two"\n')
    base = ["sentiment", "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out)]
    held = lock_on("two")
    assert cli(*base).exit_code == 1
    held.pop().close()
    fakes.clear()
    held = lock_on("two")  # locked again as the resume records it
    resumed = cli(*base, "--resume")
    held.pop().close()
    assert resumed.exit_code == 1 and fakes == []
    assert "error: the batch stopped: row 2 could not be recorded in the history" in resumed.output
    assert [line["row"] for line in _lines(out)] == [1, 2, 2] and "history_error" in _lines(out)[-1]
    assert cli(*base, "--resume").exit_code == 0 and fakes == []
    assert _said(_lines(out)[0]["conversation_id"]) == ["one", "two"]

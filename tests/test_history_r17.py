"""Round 17, batches, history and model references.

1. ``history show`` of a tool batch's turn printed its JSON result twice: the reply's text is that JSON.
2. A batch row whose result line was written but whose turn the history could not take (locked, full
   disk) counted as done: ``--resume`` skipped it and the history never got that turn. The line is now
   marked (``history_error``) and ``--resume`` records the turn from it, without running the row again.
3. ``check_resume_inputs`` (and the template's settings check) ran twice for a CLI template batch.

Found using them: the markdown export gave a tool batch turn's JSON twice too; two runs of one batch at
once both ran every row into one results file (and a ``--force`` emptied a file another run was writing);
``--out history.db --force`` replaced the whole history with one result line.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, Callable

import pytest
from click.testing import CliRunner, Result

from assistant.backends.fake import FakeBackend, FakeBackendPlugin
from assistant.cli import main
from assistant.plugins import register_plugin


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _said(conversation_id: int) -> list[str]:
    from assistant.history.store import HistoryStore

    with HistoryStore.open() as store:
        return [m.content for m in store.messages(conversation_id, "all") if m.role == "user"]


# ---- known item 1: a tool batch's turn shows its JSON once ---------------------------------------------
def test_history_show_of_a_tool_batch_turn_shows_its_result_once(fakes: list[FakeBackend], tmp_path: Path) -> None:
    rows, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    rows.write_text('"I love it"\n')
    assert cli("sentiment", "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out)).exit_code == 0
    shown = cli("history", "show", "1")
    assert shown.exit_code == 0, shown.output
    assert shown.output.count('"label"') == 1
    reply = shown.output.split("(", 1)[1].split("tool sentiment)\n", 1)[1]
    assert reply.startswith("  {") and json.loads(reply) == _lines(out)[0]["result"]


def test_the_markdown_export_of_a_tool_batch_turn_gives_its_result_once(fakes: list[FakeBackend], tmp_path: Path) -> None:
    rows, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    rows.write_text('"I love it"\n')
    assert cli("sentiment", "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out)).exit_code == 0
    assert cli("sentiment", "-b", "fake", "-m", "m", "I love it").exit_code == 0
    batch, single = (cli("history", "export", str(n), "--format", "markdown").output for n in (1, 2))
    assert batch.count('"label"') == 1 and "Tool `sentiment` result:" not in batch
    assert single.count('"label"') == 1 and "Tool `sentiment` result:" in single


def test_history_show_of_a_single_tool_run_shows_its_result_under_it(fakes: list[FakeBackend]) -> None:
    """A single run's text is the tool's reading of the result; the JSON follows it, indented as message text."""
    assert cli("sentiment", "-b", "fake", "-m", "m", "I love it").exit_code == 0
    shown = cli("history", "show", "1").output
    after = shown.split("tool sentiment)\n", 1)[1].splitlines()
    assert after[1] == "  {" and all(line.startswith("  ") for line in after if line)
    assert shown.count('"label"') == 1


# ---- known item 2: a row written but not recorded --------------------------------------------------------
def test_a_template_batch_row_not_recorded_is_recorded_by_resume_without_running_it(
    lock_on: Callable[[str], list[sqlite3.Connection]], tmp_path: Path
) -> None:
    sent: list[str] = []

    def reply(prompt: str) -> str:
        sent.append(prompt.rsplit("user", 1)[-1])
        return "ok"

    register_plugin(FakeBackendPlugin(lambda: FakeBackend(reply=reply)), name="fake-counting")
    held = lock_on("two")
    rows, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    rows.write_text('"one"\n"two"\n"three"\n"four"\n')
    base = ["prompt", "-t", "chat", "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out)]
    stopped = cli(*base)
    assert stopped.exit_code == 1
    assert 'its result line is kept, marked "history_error", and --resume records it' in stopped.output
    assert [line.get("history_error") is not None for line in _lines(out)] == [False, True]
    held.pop().close()
    sent.clear()
    resumed = cli(*base, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert "2 ok, 0 failed, 2 already done (1 of them now recorded in the history) of 4 rows" in resumed.output
    assert len(sent) == 2 and "two" not in "".join(sent)  # rows 3 and 4 ran; row 2 was only recorded
    lines = _lines(out)
    assert [line["row"] for line in lines] == [1, 2, 2, 3, 4]
    assert "history_error" not in lines[2] and lines[2]["output"] == lines[1]["output"]
    assert len({line["conversation_id"] for line in lines}) == 1
    assert _said(lines[-1]["conversation_id"]) == ["one", "two", "three", "four"]
    again = cli(*base, "--resume")  # every row done and recorded: nothing to do, no model to load
    assert again.exit_code == 0 and "4 already done of 4 rows" in again.output


def test_a_tool_batch_row_not_recorded_is_recorded_by_resume_without_running_it(
    lock_on: Callable[[str], list[sqlite3.Connection]], fakes: list[FakeBackend], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from assistant.tools import batch as tool_batch

    ran: list[Any] = []
    original = tool_batch.run_tool_row

    def counted(tool: Any, row: Any, *args: Any, **kwargs: Any) -> Any:
        ran.append(row.number)
        return original(tool, row, *args, **kwargs)

    monkeypatch.setattr(tool_batch, "run_tool_row", counted)
    held = lock_on("two")
    rows, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    rows.write_text('"one"\n"two"\n"three"\n')
    base = ["sentiment", "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out)]
    assert cli(*base).exit_code == 1
    held.pop().close()
    ran.clear()
    resumed = cli(*base, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert ran == [3]
    lines = _lines(out)
    assert lines[2]["row"] == 2 and lines[2]["result"] == lines[1]["result"] and "history_error" not in lines[2]
    assert _said(lines[-1]["conversation_id"]) == ["one", "two", "three"]


def test_a_resume_without_the_history_keeps_the_mark(
    lock_on: Callable[[str], list[sqlite3.Connection]], fakes: list[FakeBackend], tmp_path: Path
) -> None:
    """``--no-log`` records nothing: the line still says its turn is missing, for a later recorded resume."""
    held = lock_on("two")
    rows, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    rows.write_text('"one"\n"two"\n"three"\n')
    base = ["prompt", "-t", "chat", "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out)]
    assert cli(*base).exit_code == 1
    held.pop().close()
    assert cli(*base, "--resume", "--no-log").exit_code == 0
    assert [line["row"] for line in _lines(out)] == [1, 2, 3]
    assert "history_error" in _lines(out)[1]
    recorded = cli(*base, "--resume")  # every row done, one not recorded: this run records it
    assert recorded.exit_code == 0, recorded.output
    assert "1 of them now recorded in the history" in recorded.output
    assert _said(_lines(out)[-1]["conversation_id"]) == ["one", "two"]


# ---- known item 3: the resume checks run once ---------------------------------------------------------
def test_a_cli_template_batch_checks_its_resume_once(
    fakes: list[FakeBackend], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assistant.batch import provenance
    from assistant.templates import batch as template_batch

    calls: dict[str, int] = {"inputs": 0, "kind": 0}

    def counting(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return original(*args, **kwargs)

        return wrapped

    inputs = counting("inputs", provenance.check_resume_inputs)
    kind = counting("kind", provenance.check_resume_kind)
    for module in (provenance, template_batch):
        monkeypatch.setattr(module, "check_resume_inputs", inputs)
        monkeypatch.setattr(module, "check_resume_kind", kind)
    rows, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    rows.write_text('"one"\n"two"\n')
    out.write_text('{"row": 1, "id": null, "vars": {"input": "one"}, "template": "chat", "error": null}\n')
    result = cli("prompt", "-t", "chat", "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out), "--resume")
    assert result.exit_code == 0, result.output
    assert calls == {"inputs": 1, "kind": 1}


def test_the_python_api_batch_still_checks_the_rows_on_resume(fake_backend: None, tmp_path: Path) -> None:
    from assistant.backends import load_backend
    from assistant.batch import read_rows
    from assistant.errors import ConfigError
    from assistant.templates.batch import run_batch
    from assistant.templates.loader import load_template

    rows, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    rows.write_text('"one"\n"two"\n')
    template = load_template("chat")
    backend = load_backend("fake", "m")
    run_batch(template, read_rows(rows), backend, out=out)
    rows.write_text('"changed"\n"two"\n')
    with pytest.raises(ConfigError, match="row 1's finished line"):
        run_batch(template, read_rows(rows), backend, out=out, resume=True)


# ---- found: two runs of one batch writing one results file at once ---------------------------------------
@pytest.fixture
def held_by_another_run(tmp_path: Path) -> Any:
    """``out.jsonl`` with one finished row, locked as a batch run writing it holds it."""
    import fcntl

    out = tmp_path / "out.jsonl"
    out.write_text('{"row": 1, "id": null, "vars": {"input": "one"}, "template": "chat", "error": null}\n')
    handle = out.open("a")
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    yield out
    handle.close()


@pytest.mark.parametrize("flag", ["--resume", "--force"])
def test_a_second_run_on_a_results_file_being_written_is_refused(
    fakes: list[FakeBackend], held_by_another_run: Path, tmp_path: Path, flag: str
) -> None:
    """Both runs ran every row into the one file (its lines twice, interleaved) and into two conversations."""
    out = held_by_another_run
    before = out.read_bytes()
    rows = tmp_path / "rows.jsonl"
    rows.write_text('"one"\n"two"\n')
    result = cli("prompt", "-t", "chat", "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out), flag)
    assert result.exit_code == 1
    assert result.output == (
        f"error: {out} is being written by another batch run; wait for it to end (then --resume it), "
        "or choose another --out\n"
    )
    assert out.read_bytes() == before and not fakes  # refused before the model loads, the file as it was


def test_a_results_file_locked_after_the_checks_is_not_emptied(held_by_another_run: Path) -> None:
    """The run that passed its checks before the other took the file opens it last: refused, not truncated."""
    from assistant.batch.output import OutputSink
    from assistant.errors import ConfigError

    before = held_by_another_run.read_bytes()
    with pytest.raises(ConfigError, match="being written by another batch run"):
        OutputSink(held_by_another_run, None, append=False).__enter__()
    assert held_by_another_run.read_bytes() == before


def test_a_finished_run_leaves_no_lock(fakes: list[FakeBackend], tmp_path: Path) -> None:
    rows, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    rows.write_text('"one"\n')
    base = ["prompt", "-t", "chat", "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out), "--no-log"]
    assert cli(*base).exit_code == 0
    assert cli(*base, "--force").exit_code == 0
    assert [line["row"] for line in _lines(out)] == [1]


def test_the_moved_batch_names_are_still_importable_from_the_runner() -> None:
    from assistant.batch import output, progress, runner

    assert runner.ProgressBar is progress.ProgressBar and runner.format_duration is progress.format_duration
    for module in (runner, output, progress):
        assert module.__file__ is not None and len(Path(module.__file__).read_text().splitlines()) < 600


# ---- found: --out naming a history database ------------------------------------------------------------
@pytest.mark.parametrize("suffix", ["", "-wal", "-shm"])
def test_a_batch_does_not_overwrite_a_history_database(fakes: list[FakeBackend], tmp_path: Path, suffix: str) -> None:
    """``--out history.db --force`` replaced the whole history with one result line ("file is not a database")."""
    from assistant.history import resolve_db_path

    assert cli("prompt", "-b", "fake", "-m", "m", "hello").exit_code == 0
    database = resolve_db_path(None)
    target = database.with_name(database.name + suffix)
    target.touch()
    before = {path: path.read_bytes() for path in database.parent.iterdir()}
    rows = tmp_path / "rows.jsonl"
    rows.write_text('"one"\n')
    result = cli("sentiment", "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(target), "--force", "--no-log")
    assert result.exit_code == 1
    assert result.output.startswith(f"error: --out {target} is a SQLite ") and result.output.count("\n") == 1
    assert {path: path.read_bytes() for path in database.parent.iterdir()} == before and len(fakes) == 1  # no load
    assert cli("history", "show", "1").exit_code == 0


def test_a_results_file_that_only_starts_like_nothing_of_sqlites_is_still_overwritten(
    fakes: list[FakeBackend], tmp_path: Path
) -> None:
    rows, out = tmp_path / "rows.jsonl", tmp_path / "x.db-wal"  # a -wal name without its database beside it
    rows.write_text('"one"\n')
    out.write_text("old\n")
    result = cli("prompt", "-t", "chat", "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out), "--force", "--no-log")
    assert result.exit_code == 0, result.output
    assert [line["row"] for line in _lines(out)] == [1]

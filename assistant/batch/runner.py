"""Running rows and writing their results: resume, overwrite protection, progress and a summary.

Results are appended one JSON line per row and flushed as they come, so an
interrupted batch keeps every finished row. ``resume`` skips rows the output
already holds without an error, re-runs the failed ones (their newer line
comes later in the file: the last line for a row wins) and repairs a
half-written last line. Rows are matched to their lines by ``id`` where the
input gives each row its own, else by row number (:func:`done_rows`). An
existing results file is never overwritten unless ``force`` is given.

A batch is one conversation in the history, with a turn per row. Each line
names it (``conversation_id``), so ``--resume`` finds the conversation the
first run began and continues it (:func:`recorded_conversation`,
:mod:`.history`) instead of scattering one batch over several.

A failure of the backend itself (:class:`BackendFailure`: the server refuses the key or
cannot be reached) is not a row's: when consecutive rows meet the same one, the batch
stops, and ``--resume`` goes on from there once it is fixed.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator, TypeVar

from ..errors import AssistantError, ConfigError, OutputError, RemoteError
from ..terminal_text import json_text, one_line
from .output import OutputSink, hold, writing
from .parallel import in_order
from .progress import ProgressBar, format_duration  # noqa: F401 (moved to .progress; still importable here)
from .rows import Row, jsonl_lines

T = TypeVar("T")

RowWork = Callable[[Row], dict[str, Any]]
"""Runs one row; returns its result record (``error`` set when it failed). Must not raise for a bad row.
A row that failed because the backend as a whole did (:func:`backend_failure`) returns a
:class:`BackendFailure` record, so the runner can stop a batch that every later row would fail too."""

REQUEST_FAULTS = frozenset({400, 413, 414, 422})
"""HTTP statuses that blame the request (a row too long, a prompt the server would not take), not the server:
the next row may well succeed, so they never stop a batch."""
STOP_AFTER = 2
"""Consecutive rows failing with the same backend failure that stop a batch (:func:`run_rows`)."""
HISTORY_ERROR = "history_error"
"""The field of a result line whose row ran but whose turn the history could not take (the database
locked past its wait, a full disk): why. ``--resume`` records that turn from the line, without running
the row again (:func:`unrecorded_lines`), and writes the line again without it."""


HISTORY_FIELDS = ("conversation_id", "message_id", HISTORY_ERROR)
"""The fields of a result line that say where the history keeps its row's turn (or why it does not)."""


class BackendFailure(dict):  # type: ignore[type-arg]
    """The record of a row that failed because the backend did: the server refused the API key, could not
    be reached, lost the model. Written like any record; the type only tells the runner.

    Such a failure is the same for every row, so a batch of 10,000 rows against a wrong key or a stopped
    server made 10,000 requests and wrote 10,000 identical error lines: :func:`run_rows` stops after
    :data:`STOP_AFTER` rows in a row fail alike, and ``--resume`` goes on once the cause is fixed.
    """


def backend_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure of the backend as a whole (a :class:`RemoteError` that does not blame
    the request itself, :data:`REQUEST_FAULTS`), which the next row would most likely meet too."""
    if not isinstance(exc, RemoteError):
        return False
    status = getattr(exc, "status", None)  # an HTTP status, where the error has one
    return not (isinstance(status, int) and status in REQUEST_FAULTS)


@dataclass
class BatchSummary:
    total: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    conversation_id: int | None = None
    """The history conversation holding the rows' turns (None: not recorded, ``--no-log``)."""
    recorded: int = 0
    """Of the rows :attr:`skipped`, those whose turn this run put in the history from their line
    (:data:`HISTORY_ERROR`): an earlier run wrote their result but could not record it."""
    stopped: str | None = None
    """Why the batch stopped before its last row (the backend failed alike on consecutive rows, the
    history could not record a row), else None."""

    @property
    def not_run(self) -> int:
        """Rows neither run in this run nor done before it (a stopped batch's rest: ``--resume`` runs them)."""
        return max(0, self.total - self.skipped - self.done - self.failed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "done": self.done,
            "failed": self.failed,
            "skipped": self.skipped,
            "recorded": self.recorded,
            "not_run": self.not_run,
            "seconds": round(self.seconds, 3),
            "conversation_id": self.conversation_id,
            "stopped": self.stopped,
        }

    def line(self, out: Path | None = None) -> str:
        """The one line a batch ends with.

        ``batch: 4 ok, 1 failed, 2 already done of 7 rows in 3.1s -> out.jsonl (history: conversation 12)``:
        the conversation is the one ``assistant history show`` opens, the same for every run of a resumed batch.
        """
        skipped = f", {self.skipped} already done" if self.skipped else ""
        if self.recorded:
            skipped += f" ({self.recorded} of them now recorded in the history)"
        if self.stopped is not None and self.not_run:
            skipped += f", {self.not_run} not run"
        target = f" -> {one_line(str(out))}" if out is not None else ""  # one line, whatever the path holds
        recorded = f" (history: conversation {self.conversation_id})" if self.conversation_id is not None else ""
        return (
            f"batch: {self.done} ok, {self.failed} failed{skipped} of {self.total} rows "
            f"in {self.seconds:.1f}s{target}{recorded}"
        )


def check_output(out: Path | None, resume: bool, force: bool = False, source: Path | None = None) -> None:
    """Refuse what would lose or mix results, before any model loads.

    A new batch is not mixed into an existing results file (nor ``--resume``
    given without one), the inputs (``source``) are never the file the
    results overwrite, and a results file that cannot be created fails now,
    not after the model has loaded and the first row has run.
    """
    if resume and out is None:
        raise ConfigError("--resume needs --out (the results file to continue)")
    if resume and force:
        raise ConfigError("use either --resume (continue the results file) or --force (start it again)")
    if out is None:
        return
    if source is not None and _same_file(out, source):
        raise ConfigError(f"--out {out} is the --batch input file; choose another results file")
    if out.is_dir():
        raise ConfigError(f"--out {out} is a directory; give a file name for the results")
    if resume and out.exists() and not out.is_file():
        # Reading /dev/stdout for the rows done waited for ever on a pipe, or for keys on a terminal.
        raise ConfigError(f"--resume reads the rows done from --out, and {out} is not a regular file; give the results file")
    _check_writable(out)
    from ..history.sqlite_files import sqlite_file_kind

    if (kind := sqlite_file_kind(out)) is not None:  # --force over the history: every conversation gone
        raise ConfigError(f"--out {out} is {kind} (a history?), not a results file; choose another --out")
    if out.is_file():  # a run writing it now: refused before its lines are read or cut (unreadable: said later)
        with contextlib.suppress(OSError), out.open("rb") as handle:
            hold(handle, out, shared=True)
    if out is not None and not resume and not force and out.exists() and out.stat().st_size:
        raise ConfigError(
            f"{out} already exists; pass --resume to continue it, --force to overwrite it, or choose another --out"
        )
    if resume and out.is_file() and out.stat().st_size:
        _check_resumable(out)


CUT_RECORD = b'{"row"'
"""How every result line starts (:func:`run_rows` writes ``row`` first): a last line cut short by a kill
starts so too, and only such a line is ever dropped (:func:`_line_statuses`)."""


def _check_resumable(out: Path) -> None:
    """Refuse to ``--resume`` into a file that is not a batch's results.

    ``--resume`` appends to ``out`` and drops a half-written last line: given ``--out notes.txt``
    by mistake, it cut the last line of the user's notes and appended results to them. A file
    with no result line is not resumed; nor one whose unfinished last line is not a cut result.
    """
    data = _results_bytes(out)
    cut = data.rfind(b"\n") + 1
    whole, rest = data[:cut], data[cut:]
    fragment = _results_text(rest).strip().encode()
    if fragment and not _is_result_line(rest) and not (fragment.startswith(CUT_RECORD) or CUT_RECORD.startswith(fragment)):
        raise ConfigError(
            f"--resume: the last line of {out} is not a batch result, so {out} is not a results file to continue; "
            "choose another --out"
        )
    if _results_text(whole).strip() and not fragment and not _records_in(out):  # a blank rest holds no record
        raise ConfigError(f"--resume: {out} holds no batch results; choose another --out")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _check_writable(out: Path) -> None:
    """The results file, or the directory it will be created in (its nearest existing parent), accepts writes."""
    if out.exists():
        target, what = out, "file"
    else:
        target = out.parent
        while not target.exists() and target != target.parent:
            target = target.parent
        what = "directory"
        if not target.is_dir():
            raise OutputError(f"cannot write {out}: {target} is not a directory")
    if not os.access(target, os.W_OK):
        raise OutputError(f"cannot write {out}: the {what} {target} is not writable")


def _line_statuses(out: Path) -> list[tuple[int, Any, bool]]:
    """``(row, id, ok)`` for each result line of ``out`` in file order; truncates a half-written last line.

    A last line without its newline that is a whole result (a file saved by an editor or
    a script that drops the final newline) is kept and given its newline: only a line cut
    short by an interrupted write is dropped. A prefix of a record never parses as one
    (its braces are unbalanced), so the two cannot be confused.
    """
    if not out.exists():
        return []
    data = _results_bytes(out)
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        if _is_result_line(data[cut:]):
            with out.open("ab") as handle:  # a whole row: keep it; appended rows start on a line of their own
                handle.write(b"\n")
        else:
            with out.open("r+b") as handle:  # the interrupted write: drop it, the row re-runs
                handle.truncate(cut)
    return [(record["row"], record.get("id"), record.get("error") is None) for record in _records_in(out)]


_kept: tuple[tuple[Any, ...], bytes, list[dict[str, Any]] | None] | None = None
"""The last results file read: its identity (:func:`_file_key`), its bytes and, once asked for, its records."""


def forget_parsed() -> None:
    """Drop the kept bytes and records of :func:`_results_bytes` (a large file's take hundreds of megabytes)."""
    global _kept
    _kept = None


def _file_key(out: Path) -> tuple[Any, ...]:
    """What tells one state of a file from another without reading it: any write (an append, a cut, a
    rewrite of the same length) changes its size or its change time, which are kept to the nanosecond."""
    st = out.stat()
    return (os.path.abspath(out), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _results_bytes(out: Path) -> bytes:
    """The bytes of the results file ``out``, read once for every check of a ``--resume``.

    A ``--resume`` asks the file for each of its checks (the checks before the model loads, which batch
    wrote it, its shared settings, its model, its conversation, the rows done): each read the whole file
    again, a dozen times per resume, and a 100,000-row file sat silent for a minute before its first row.
    The file is read again only once it has changed (:func:`_file_key`): a file appended to since is
    another file.
    """
    global _kept
    key = _file_key(out)
    if _kept is None or _kept[0] != key:
        _kept = (key, out.read_bytes(), None)
    return _kept[1]


def _records_in(out: Path) -> list[dict[str, Any]]:
    """The result records of the results file ``out`` (:func:`_result_records`), parsed once per content.

    Callers must not change the records: they are kept for the next check.
    """
    global _kept
    data = _results_bytes(out)
    assert _kept is not None
    if _kept[2] is None:
        _kept = (_kept[0], data, list(_result_records(data)))
    return _kept[2]


def _result_records(data: bytes) -> Iterator[dict[str, Any]]:
    """The result records of a results file's bytes, in file order: JSON objects with a row number.

    One reading for the resume check, the conversation lookup and :func:`iter_results`;
    anything else on a line (a cut write, a note) is no record.
    """
    for line in jsonl_lines(_results_text(data)):
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            continue
        if isinstance(record, dict) and isinstance(record.get("row"), int):
            yield record


def _results_text(data: bytes) -> str:
    """A results file's text. A byte order mark (the file saved by an editor that adds one)
    is not part of the first line: read with it, that line was no JSON, its row counted as
    not done, and ``--resume`` ran it a second time."""
    return data.decode("utf-8-sig", errors="replace")


def _is_result_line(line: bytes) -> bool:
    """Whether ``line`` is one whole result record (a JSON object with a row number)."""
    return len(list(_result_records(line))) == 1


def recorded_conversation(out: Path) -> int | None:
    """The history conversation the batch behind ``out`` was recorded in: the last line's ``conversation_id``.

    None when no line names one (a ``--no-log`` run, a file from an older version, no file).
    The last line wins, as for the rows: a run that had to start a new conversation is the
    one the next ``--resume`` continues.
    """
    if not out.exists():
        return None
    found: int | None = None
    for record in _records_in(out):
        value = record.get("conversation_id")
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            found = value
    return found


def written_turn(out: Path, conversation_id: int) -> tuple[int, bool] | None:
    """The newest history message a line of ``out`` says holds its row's reply (``message_id``) in the
    conversation ``conversation_id``, and whether that line says its turn could not be recorded whole
    (:data:`HISTORY_ERROR`: begun, its reply refused); None where no line names one (a file of an older
    version, ``--no-log``).

    A turn newer than it at the conversation's head was recorded by a run killed before it wrote that
    row's line (:func:`~assistant.batch.history.unwritten_turn`).
    """
    if not out.exists():
        return None
    found: tuple[int, bool] | None = None
    for record in _records_in(out):
        value = record.get("message_id")
        if record.get("conversation_id") == conversation_id and type(value) is int and (found is None or value >= found[0]):
            found = (value, bool(record.get(HISTORY_ERROR)))
    return found


def whole_lines_size(out: Path) -> int:
    """The bytes of the whole lines of ``out`` (a last line cut short by a kill left out): what a batch's
    newest turn records of its results file (:mod:`~assistant.history.batch_turns`)."""
    return _results_bytes(out).rfind(b"\n") + 1 if out.is_file() else 0


def matching_row(rows: list[Row], number: int, row_id: Any) -> Row | None:
    """The row of ``rows`` that a line of row ``number`` with ``row_id`` stands for, matched as
    :func:`done_rows` matches lines (by a unique ``id``, else by number and id); None: none."""
    found = _matched(rows, [(number, row_id, True)])
    return next((row for row in rows if row.number in found), None)


def completed_rows(out: Path) -> set[int]:
    """Row numbers already in ``out`` without an error (the last line for a row wins).

    Truncates a half-written last line.
    """
    status = {row: ok for row, _, ok in _line_statuses(out)}
    return {row for row, ok in status.items() if ok}


def _id_key(value: Any) -> str:
    """An ``id`` as a dictionary key: ids are any JSON value (``7``, ``"7"``, ``[1, 2]``),
    compared as JSON (text and whole numbers, nearly every id, without calling the encoder:
    a 100,000-row resume spent seconds there)."""
    if type(value) is str:
        return '"' + value  # no JSON text of another type starts with a quote
    if type(value) is int:
        return str(value)  # the JSON of a whole number
    if value is None:
        return "null"  # a row without an id: most rows of most files
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def done_rows(rows: list[Row], out: Path) -> set[int]:
    """The numbers of the ``rows`` that ``out`` already holds without an error (the last line for a row wins).

    A row whose ``id`` no other row of the input shares is matched by that id,
    wherever its line was written: rows inserted, deleted or reordered in the
    input between two runs still find their results, and no row is skipped
    because another row used to stand at its number. Other rows (no id, or an
    id given twice) are matched by number, and only when the line's id is the
    row's too. Truncates a half-written last line.
    """
    return {number for number, ok in _matched(rows, _line_statuses(out)).items() if ok}


def done_lines(rows: list[Row], out: Path) -> dict[int, dict[str, Any]]:
    """Per row of ``rows`` that ``out`` holds without an error (:func:`done_rows`), its line.

    For a check of what a finished line recorded against the row it stands for now. The lines are
    the parsed records :func:`_records_in` keeps (not copied: 100,000 of them cost a second), so
    callers must not change them. A half-written last line is no record, and is left as it is.
    """
    records = _records_in(out) if out.exists() else []
    matched = _matched(rows, ((record["row"], record.get("id"), record) for record in records))
    return {number: record for number, record in matched.items() if record.get("error") is None}


def _matched(rows: list[Row], lines: Iterable[tuple[int, Any, T]]) -> dict[int, T]:
    """Per row, what the last of ``lines`` (``(row, id, value)``) that is its result carries: the one
    matching by its id where no other row shares it, else by number and id (see :func:`done_rows`)."""
    counts = collections.Counter(_id_key(row.id) for row in rows if row.id is not None)
    by_id: dict[str, T] = {}
    by_number: dict[tuple[int, str], T] = {}
    for number, row_id, value in lines:
        key = _id_key(row_id)
        if row_id is not None:
            by_id[key] = value
        by_number[(number, key)] = value
    found: dict[int, T] = {}
    for row in rows:
        key = _id_key(row.id)
        unique = row.id is not None and counts[key] == 1
        table: dict[Any, T] = by_id if unique else by_number
        wanted = key if unique else (row.number, key)
        if wanted in table:
            found[row.number] = table[wanted]
    return found


def unrecorded_lines(rows: list[Row], out: Path | None) -> dict[int, dict[str, Any]]:
    """Per row of ``rows`` whose finished line in ``out`` says its turn is not in the history
    (:data:`HISTORY_ERROR`), that line (a copy): ``--resume`` records the turn from it.

    Such a row counted as done, so a ``--resume`` skipped it and the history never got its turn.
    """
    if out is None or not out.exists():
        return {}
    return {number: dict(line) for number, line in done_lines(rows, out).items() if line.get(HISTORY_ERROR)}


def already_done(rows: list[Row], out: Path | None, resume: bool) -> BatchSummary | None:
    """The summary of a ``--resume`` that finds every row done, else None: checked before the model loads.

    Loading a model (seconds, or a server's first request) to run nothing is the
    cost this saves; the summary line is the one the run would have ended with.
    """
    if not resume or out is None or not rows:
        return None
    if len(done_rows(rows, out)) < len(rows):
        return None
    return BatchSummary(total=len(rows), skipped=len(rows))


def iter_results(path: Path) -> Iterator[dict[str, Any]]:
    """The last result line per row of a results file, in row order."""
    latest = {record["row"]: record for record in _records_in(path)}
    for number in sorted(latest):
        yield dict(latest[number])  # a copy: the parsed records are kept for the next reading


def run_rows(
    rows: list[Row],
    work: RowWork,
    *,
    out: Path | None = None,
    resume: bool = False,
    force: bool = False,
    progress: ProgressBar | Callable[[int], ProgressBar] | None = None,
    stdout: IO[str] | None = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    parallel: int = 1,
    cancel: Callable[[], None] | None = None,
    conversation: Callable[[], int | None] | None = None,
    turn: Callable[[], int | None] | None = None,
) -> BatchSummary:
    """Run every row not yet done through ``work``, writing each record as it comes.

    Each record starts with ``row`` and ``id``; ``on_record`` sees it just before
    it is written (the CLI records it in the history), and it is written even when
    ``on_record`` raises (Ctrl-C while recording keeps the row). ``conversation`` gives the
    history conversation the rows are recorded in: asked after ``on_record`` (the
    first row's turn creates it), written on every line as ``conversation_id``
    and into the summary. With ``parallel`` > 1 that many rows run at once
    (:mod:`.parallel`; ``work`` must then be thread-safe) and records are still
    written in input order; ``cancel`` stops the in-flight requests when the
    batch is interrupted. When :data:`STOP_AFTER` rows in a row come back as the same
    :class:`BackendFailure` (a refused key, a server that cannot be reached), the batch stops
    there, every line written so far kept, and the summary says why (``stopped``): the rows
    left would each fail the same way, one request and one error line apiece. So does an
    ``on_record`` that fails (the history database locked by another program for longer than its
    wait, a full disk): the row's line is written, marked with why (:data:`HISTORY_ERROR`), and the
    batch ends with how to go on (``--resume``), where it ended on the bare error ("…; try again")
    and a rerun without ``--resume`` was refused for the results file it had left. A ``--resume``
    with an ``on_record`` gives it the marked lines again, in their turn, without running their rows
    (a model's second answer could differ from the one the file keeps), and writes them again unmarked.
    """
    check_output(out, resume, force)
    done = done_rows(rows, out) if resume and out is not None else set()
    replayed = unrecorded_lines(rows, out) if resume and on_record is not None else {}
    pending = [row for row in rows if row.number not in done or row.number in replayed]
    summary = BatchSummary(
        total=len(rows), skipped=len(rows) - len(pending) + len(replayed),
        conversation_id=conversation() if conversation else None,
    )  # fmt: skip
    forget_parsed()  # every check has read the file: its records need not stay in memory while the rows run
    bar = progress(len(pending)) if callable(progress) else progress
    start = time.perf_counter()

    def run(row: Row) -> dict[str, Any]:
        line = replayed.get(row.number)
        if line is None:
            return work(row)
        return {key: value for key, value in line.items() if key not in ("row", "id", *HISTORY_FIELDS)}

    results = in_order(pending, run, parallel, cancel)
    alike: list[int] = []  # the consecutive rows that failed with the same backend failure
    last_failure: str | None = None
    with OutputSink(out, stdout, append=resume) as sink, contextlib.closing(results), writing(out):
        try:
            for row, result in results:
                failure = str(result.get("error")) if isinstance(result, BackendFailure) else None
                alike = [*alike, row.number] if failure is not None and failure == last_failure else [row.number]
                last_failure = failure
                record = {"row": row.number, "id": row.id, **result}
                record.setdefault("error", None)
                unrecorded: str | None = None
                try:
                    if on_record is not None:
                        on_record(record)
                except AssistantError as exc:
                    unrecorded = (
                        f"row {row.number} could not be recorded in the history: {exc} (its result line is kept, "
                        f'marked "{HISTORY_ERROR}", and --resume records it)'
                    )
                    record[HISTORY_ERROR] = str(exc)
                finally:  # a failed or interrupted recording still keeps the row's result
                    if conversation is not None:
                        record["conversation_id"] = summary.conversation_id = conversation()
                    if turn is not None and on_record is not None and (message := turn()) is not None:
                        record["message_id"] = message
                    sink.write(json_text(record) + "\n")
                    sink.flush()
                ok = record["error"] is None
                if row.number in replayed:
                    summary.recorded += 1 if unrecorded is None else 0
                else:
                    summary.done += 1 if ok else 0
                    summary.failed += 0 if ok else 1
                if bar is not None:
                    bar.advance(ok)
                if unrecorded is not None:
                    summary.stopped = unrecorded
                    break  # every later row's turn would fail alike, or go to a conversation missing this one
                if failure is not None and len(alike) >= STOP_AFTER:
                    rows_named = ", ".join(map(str, alike[:-1])) + f" and {alike[-1]}"
                    summary.stopped = f"rows {rows_named} failed alike: {failure}"
                    break  # closing ``results`` cancels the rows in flight; none of them is written
        finally:
            summary.seconds = time.perf_counter() - start
            if bar is not None:
                bar.close()
    return summary

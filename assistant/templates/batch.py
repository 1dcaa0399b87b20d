"""Batch runs: one template, one row of variables per run, results appended as JSONL.

Rows come from JSONL (one object per line; a bare string is the ``input``) or CSV
(a header row names the variables). Each result line records the row number, the
variables used, a hash of the rendered prompt, the output, the extracted answer,
usage and timings. A row that fails (bad JSON, a missing variable, a backend
error) is recorded with its ``error`` and the batch goes on.

Results are flushed line by line, so an interrupted batch keeps every finished
row; ``resume=True`` skips rows the output already holds without an error, re-runs
the failed ones (their newer line comes later in the file: the last line for a
row wins) and repairs a half-written last line.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Mapping

from ..backends.base import Backend
from ..errors import AssistantError, ConfigError
from ..types import GenerationParams, Message
from .render import prompt_hash, render_template, with_system
from .run import execute
from .spec import PromptTemplate


@dataclass
class Row:
    number: int  # 1-based data row (JSONL line / CSV record after the header)
    values: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # the row itself could not be read


@dataclass
class BatchSummary:
    total: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "done": self.done,
            "failed": self.failed,
            "skipped": self.skipped,
            "seconds": round(self.seconds, 3),
        }


def read_rows(path: Path) -> list[Row]:
    """All rows of a JSONL or CSV file (chosen by extension); unreadable rows carry an error."""
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".ndjson", ".csv"):
        raise ConfigError(f"batch file {path} must be .jsonl or .csv")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"batch file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read batch file {path}: {exc}") from exc
    return _csv_rows(text) if suffix == ".csv" else _jsonl_rows(text)


def _jsonl_rows(text: str) -> list[Row]:
    rows: list[Row] = []
    for number, line in enumerate((line for line in text.splitlines() if line.strip()), 1):
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            rows.append(Row(number, error=f"invalid JSON: {exc.msg}"))
            continue
        if isinstance(value, str):
            value = {"input": value}
        if not isinstance(value, dict):
            rows.append(Row(number, error="a row must be a JSON object (or a string, the input)"))
            continue
        rows.append(Row(number, value))
    return rows


def _csv_rows(text: str) -> list[Row]:
    reader = csv.DictReader(io.StringIO(text))
    rows: list[Row] = []
    for number, record in enumerate(reader, 1):
        if None in record:
            rows.append(Row(number, error="the row has more cells than the header"))
            continue
        # An empty cell means "not given", so the variable's default applies.
        rows.append(Row(number, {k: v for k, v in record.items() if v not in ("", None)}))
    return rows


def completed_rows(out: Path) -> set[int]:
    """Row numbers already in ``out`` without an error; truncates a half-written last line."""
    if not out.exists():
        return set()
    data = out.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        with out.open("r+b") as handle:  # the interrupted write: drop it, the row re-runs
            handle.truncate(cut)
        data = data[:cut]
    status: dict[int, bool] = {}
    for line in data.decode("utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("row"), int):
            status[record["row"]] = record.get("error") is None
    return {row for row, ok in status.items() if ok}


class ProgressBar:
    """``[#####.....] 45/100 45% 2.3 rows/s ETA 0:24 (1 failed)`` redrawn on a terminal.

    On a non-terminal stream it stays quiet until :meth:`close`, so logs hold one
    summary line instead of hundreds of carriage returns.
    """

    def __init__(self, total: int, stream: IO[str] | None = None, width: int = 24) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.width = width
        self.count = 0
        self.failed = 0
        self.start = time.perf_counter()
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())

    def advance(self, ok: bool = True) -> None:
        self.count += 1
        self.failed += 0 if ok else 1
        if self.live:
            self.stream.write("\r" + self.line())
            self.stream.flush()

    def line(self, now: float | None = None) -> str:
        elapsed = (now if now is not None else time.perf_counter()) - self.start
        fraction = self.count / self.total if self.total else 1.0
        filled = int(self.width * fraction)
        rate = self.count / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.count) / rate if rate > 0 else None
        parts = [
            f"[{'#' * filled}{'.' * (self.width - filled)}]",
            f"{self.count}/{self.total}",
            f"{fraction:4.0%}",
            f"{rate:.2f} rows/s",
            f"ETA {format_duration(eta)}" if eta is not None else "ETA --:--",
        ]
        if self.failed:
            parts.append(f"({self.failed} failed)")
        return " ".join(parts)

    def close(self) -> None:
        if self.live:
            self.stream.write("\n")
            self.stream.flush()


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def check_output(out: Path | None, resume: bool) -> None:
    """Refuse to mix a new batch into an existing results file (and --resume without one)."""
    if resume and out is None:
        raise ConfigError("--resume needs --out (the results file to continue)")
    if out is not None and not resume and out.exists() and out.stat().st_size:
        raise ConfigError(f"{out} already exists; pass --resume to continue it or choose another --out")


def run_batch(
    template: PromptTemplate,
    rows: list[Row],
    backend: Backend,
    *,
    out: Path | None = None,
    resume: bool = False,
    params: GenerationParams | None = None,
    variables: Mapping[str, Any] | None = None,
    examples_as: str | None = None,
    system: str | None = None,
    progress: ProgressBar | Callable[[int], ProgressBar] | None = None,
    stdout: IO[str] | None = None,
    on_record: Callable[[dict[str, Any], list[Message] | None], None] | None = None,
) -> BatchSummary:
    """Run every row not yet done; ``variables`` are shared values a row's own columns override.

    ``system`` replaces the template's system prompt for every row (as ``-s`` does).
    ``on_record(record, messages)`` sees each row's result after it is written
    (the CLI records it in the history; ``messages`` is None if rendering failed).
    """
    check_output(out, resume)
    done = completed_rows(out) if resume and out is not None else set()
    pending = [row for row in rows if row.number not in done]
    summary = BatchSummary(total=len(rows), skipped=len(rows) - len(pending))
    bar = progress(len(pending)) if callable(progress) else progress
    generation = params or template.generation_params()
    declared = set(template.variable_names)
    start = time.perf_counter()
    with _OutputSink(out, stdout) as sink:
        try:
            for row in pending:
                record, messages = _run_row(
                    template, row, backend, generation, variables or {}, declared, examples_as, system
                )
                sink.write(json.dumps(record, ensure_ascii=False) + "\n")
                sink.flush()
                if on_record is not None:
                    on_record(record, messages)
                ok = record["error"] is None
                summary.done += 1 if ok else 0
                summary.failed += 0 if ok else 1
                if bar is not None:
                    bar.advance(ok)
        finally:
            summary.seconds = time.perf_counter() - start
            if bar is not None:
                bar.close()
    return summary


class _OutputSink:
    """Append to ``out`` (created with its directory), or write to stdout without closing it."""

    def __init__(self, out: Path | None, stdout: IO[str] | None) -> None:
        self.out = out
        self.stdout = stdout
        self.handle: IO[str] | None = None

    def __enter__(self) -> IO[str]:
        if self.out is None:
            return self.stdout or sys.stdout
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.handle = self.out.open("a", encoding="utf-8")
        return self.handle

    def __exit__(self, *exc: object) -> None:
        if self.handle is not None:
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.handle.close()


def _run_row(
    template: PromptTemplate,
    row: Row,
    backend: Backend,
    params: GenerationParams,
    shared: Mapping[str, Any],
    declared: set[str],
    examples_as: str | None,
    system: str | None,
) -> tuple[dict[str, Any], list[Message] | None]:
    values = {**shared, **{k: v for k, v in row.values.items() if k in declared}}
    record: dict[str, Any] = {"row": row.number, "vars": values, "prompt_hash": None}
    if row.error is not None:
        return _failed(record, row.error), None
    messages: list[Message] | None = None
    try:
        messages = with_system(render_template(template, values, examples_as=examples_as), system)
        record["prompt_hash"] = prompt_hash(messages)
        result = execute(template, messages, backend, params)
    except AssistantError as exc:  # one bad row must not end the batch
        return _failed(record, str(exc)), messages
    except Exception as exc:  # an engine's own exception type: still only this row's failure
        return _failed(record, f"{type(exc).__name__}: {exc}"), messages
    data = result.to_dict()
    data.pop("template", None)
    return {**record, **data}, messages


def _failed(record: dict[str, Any], error: str) -> dict[str, Any]:
    return {**record, "output": None, "answer": None, "error": error, "usage": None, "timings": None}


def iter_results(path: Path) -> Iterator[dict[str, Any]]:
    """The last result line per row of a results file, in row order."""
    latest: dict[int, dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("row"), int):
            latest[record["row"]] = record
    for number in sorted(latest):
        yield latest[number]

"""The batch options every batch-capable command shares, and how a batch ends on the command line.

``prompt -t NAME --batch`` and the tool commands take the same flags with the
same meaning (the old ``--output`` of tool batches stays as an alias of
``--out``); the work is :mod:`assistant.batch`'s.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, NoReturn

import click

from .common import FilePath, echo_untrusted

if TYPE_CHECKING:
    from ..backends.base import Backend
    from ..batch import BatchSummary

BATCH_FLAGS = ("batch", "out", "resume", "force", "input_field", "parallel")
"""The keyword names the options below arrive under."""


def batch_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--batch FILE``, ``--out/--output``, ``--resume``, ``--force``, ``--input-field``, ``--parallel``."""
    options = [
        click.option(
            "--batch",
            type=FilePath(path_type=Path, dir_okay=False),
            default=None,
            help="Run once per row of a .jsonl/.csv file (rows: {\"id\", \"text\" or \"input\", ...}).",
        ),
        click.option(
            "--out", "--output", "out", type=FilePath(path_type=Path, dir_okay=False, allow_dash=True),
            default=None, callback=_dash_is_stdout,
            help="Batch results file (JSON lines; default, or -, stdout).",
        ),
        click.option("--resume", is_flag=True, help="Continue a batch: skip the rows --out already holds."),
        click.option("--force", is_flag=True, help="Overwrite an existing --out instead of refusing."),
        click.option(
            "--input-field", default=None, metavar="NAME",
            help="The row field holding the input text (default: \"text\", else \"input\").",
        ),
        click.option(
            "--parallel", type=click.IntRange(min=1), default=None, metavar="N",
            help="Rows in flight at once (default: batch_parallel in the config, else 1; see docs/scale.md).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def check_batch_flags(
    batch: Path | None,
    out: Path | None,
    resume: bool,
    force: bool,
    input_field: str | None,
    parallel: int | None = None,
) -> None:
    """The other batch flags without --batch are a usage error (they would silently do nothing).

    A batch without ``--parallel`` reads ``batch_parallel`` from the config here, so a bad
    value there is refused before the model loads (seconds locally, a request to a server),
    not after, as the other batch checks are.
    """
    if input_field is not None and not input_field.strip():
        # ``--input-field "$FIELD"`` with the variable unset: taken as "not given", every row's
        # ``text`` ran instead of the field meant, as ``--out ""`` and ``--batch ""`` are refused.
        raise click.UsageError("--input-field is empty; name the row field holding the input text, or leave it out")
    if batch is None and (out is not None or resume or force or input_field or parallel is not None):
        raise click.UsageError("--out/--output, --resume, --force, --input-field and --parallel go with --batch")
    if batch is not None and parallel is None:
        from ..config import batch_parallel as configured

        configured()


def batch_parallel(requested: int | None, engine: Backend) -> int:
    """Rows to run at once: ``--parallel``, else the config's ``batch_parallel``, capped by the backend.

    A backend that cannot take that many (:attr:`Capabilities.max_parallel`)
    runs fewer, with one note on stderr saying so.
    """
    from ..batch.parallel import parallel_for
    from ..config import batch_parallel as configured

    chosen, note = parallel_for(engine, requested if requested is not None else configured())
    if note:
        click.echo(note, err=True)
    return chosen


def _dash_is_stdout(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """``--out -`` is stdout, as the convention goes, not a results file named "-"."""
    return None if value is not None and str(value) == "-" else value


def finish_batch(summary: BatchSummary, out: Path | None) -> None:
    """The summary line on stderr; exit status 1 when any row failed (their lines say why).

    A batch stopped by a failure of the backend itself says so first, on one line of its own
    (the failure is the server's text: shown visibly), with how to go on.
    """
    if summary.stopped is not None:
        then = "rerun with --resume to run the rest" if out is not None else "run the batch again"
        from ..terminal_text import message_line

        stopped = message_line(str(summary.stopped))  # the server's text: one line, shown visibly
        click.echo(f"error: the batch stopped: {stopped}; once that is fixed, {then}", err=True)
    echo_untrusted(summary.line(out), err=True)  # the --out path is the user's text: shown visibly
    if summary.failed or summary.stopped is not None:
        sys.exit(1)


def interrupted(out: Path | None) -> NoReturn:
    """Ctrl-C in a batch: say what is kept and how to go on, then exit 130 (this line is the whole report)."""
    hint = " rerun with --resume to continue" if out is not None else ""
    click.echo(f"\nbatch interrupted; finished rows are saved.{hint}", err=True)
    sys.exit(130)

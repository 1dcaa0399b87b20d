"""Running a tool over a ``--batch`` file, and the history turn of a tool's result (``assistant NAME``).

Split from :mod:`assistant.cli.tools` (the commands, their options, one input): the
batch runs through the shared batch runner (:mod:`assistant.batch`), each row also a
turn of the batch's conversation, recorded as a single run's result is.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable

import click

from .batch_options import finish_batch, interrupted
from .common import echo_untrusted

if TYPE_CHECKING:
    from ..backends.base import Backend
    from ..batch import Row
    from ..tools import RegisteredTool


def tool_turn_meta(engine: Backend | None, params: dict[str, Any]) -> Any:
    """What produced a tool turn: the model and backend, or only the parameters for a tool that uses no model."""
    from ..history.exchange import turn_meta
    from ..history.records import TurnMeta

    return turn_meta(engine, params) if engine is not None else TurnMeta(params=dict(params))


def report_tool_result(
    turn: Any, tool_name: str, text: str, data: Any, engine: Backend | None, started: float
) -> None:
    """A tool's result as a history turn: its text as the reply, its JSON as ``tool_result``.

    A tool that uses no model (``engine`` None) leaves the turn's model and backend empty.
    """
    from ..tools.batch import complete_turn

    duration_ms = (time.perf_counter() - started) * 1000
    complete_turn(
        turn, tool_name, text, data, engine.model_name if engine else None, engine.name if engine else None, duration_ms
    )


def run_batch(
    tool: RegisteredTool,
    rows: list[Row],
    engine: Backend | None,
    params: dict[str, Any],
    flags: dict[str, Any],
    recorder: Any,
    check_interrupt: Callable[[], None] = lambda: None,
) -> None:
    """The tool over every row (the shared batch runner), each row also a turn in the batch's conversation.

    ``check_interrupt()`` runs after each row's work and raises :class:`KeyboardInterrupt`
    for a Ctrl-C the engine swallowed: that row is then not written as done with a cut result.

    ``engine`` is None for a tool that uses no model: its rows run one at a time (there is no
    backend to declare how many requests it takes, nor a model call to overlap).
    """
    from ..batch import ProgressBar, run_rows
    from ..batch.provenance import check_resume_model, made_by
    from ..tools.batch import record_line, run_tool_row
    from .batch_options import batch_parallel

    out, input_field = flags["out"], flags["input_field"]
    check_resume_model(out, flags["resume"], engine)  # the model's name is known once it is loaded
    if engine is not None:
        parallel = batch_parallel(flags["parallel"], engine)
    else:
        parallel = 1
        if (flags["parallel"] or 1) > 1 and not tool.needs_model:
            click.echo(f"note: tool {tool.name!r} uses no model; --parallel {flags['parallel']} runs as 1", err=True)
    started: dict[int, float] = {}  # per row: rows may run at once (--parallel)
    made = made_by(engine)  # the same on every line: asked once, before any row runs

    def work(row: Row) -> dict[str, Any]:
        if recorder.enabled:  # popped when the row's turn is recorded: with --no-log, nothing would pop it
            started[row.number] = time.perf_counter()
        result = run_tool_row(tool, row, engine, params, input_field, made)
        check_interrupt()
        return result

    def record(result: dict[str, Any]) -> None:
        started_at = started.pop(result["row"], None)  # none for a line recorded without running its row
        duration_ms = (time.perf_counter() - started_at) * 1000 if started_at is not None else 0.0
        record_line(recorder, result, params, duration_ms)

    if recorder.note:
        echo_untrusted(recorder.note, err=True)
    try:
        summary = run_rows(
            recorder.first_rows(rows, out, input_field), work, out=out, resume=flags["resume"], force=flags["force"],
            progress=lambda total: ProgressBar(total), on_record=record if recorder.enabled else None, parallel=parallel,
            cancel=engine.cancel if engine is not None else None, conversation=recorder.conversation,
            turn=recorder.turn_id,
        )  # fmt: skip
    except KeyboardInterrupt:
        interrupted(out)
    finish_batch(summary, out)

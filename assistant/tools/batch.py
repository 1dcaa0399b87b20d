"""Tool batches: a tool over many inputs (``assistant NAME --batch FILE``) without losing any of them.

Rows, resuming, overwrite protection, the progress bar and the summary are the
shared batch runner's (:mod:`assistant.batch`, the same row format as template
batches: JSONL or CSV, ``id`` kept, the input text in ``text`` or ``input`` or
the ``--input-field``, per-row ``params``). This module turns a row into a tool
run: its record is ``{"row", "id", "input", "tool", "params", "model", "backend", "model_ref", "result"}`` on
success or the same with ``error`` instead of ``result`` when the row is malformed or the tool fails
on it — one bad input never stops the others. ``tool``, ``params`` (the parameters the row
ran with, defaults included), ``model``, ``backend`` and ``model_ref`` say what made the line, so ``--resume``
refuses to add the lines of another tool, other parameters or another model to a results file
(:func:`check_resume`, :func:`~assistant.batch.provenance.check_resume_model`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..batch import BackendFailure, Row, backend_failure
from ..batch.provenance import as_json, check_resume_kind, check_resume_made, check_resume_model, made_by
from ..batch.provenance import model_key as _model_key  # noqa: F401 (its old name, which tests use)
from ..errors import AssistantError, ConfigError, exception_text
from .base import ParameterSet

__all__ = [
    "check_resume", "check_resume_model", "complete_turn", "made_by", "missing_everywhere", "record_line", "run_tool_row",
    "settled_without_model",
]

if TYPE_CHECKING:
    from ..backends.base import Backend
    from .registry import RegisteredTool


def _merged(tool: RegisteredTool, shared: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Shared parameters with a row's overrides on top (aliases like ``from`` mapped to their name)."""
    declared = ParameterSet(tool.name, tool.parameters)
    merged = dict(shared)
    seen: dict[str, str] = {}
    for key, value in overrides.items():
        parameter = declared.lookup(key)
        name = parameter.name if parameter else key
        if name in seen:  # {"from": "en", "source": "de"}: one would silently win
            raise ConfigError(
                f"tool {tool.name!r}: parameter {name!r} given twice in the row's params ({seen[name]!r} and {key!r})"
            )
        seen[name] = key
        merged[name] = value
    return declared.resolve(merged)


def missing_everywhere(tool: RegisteredTool, rows: list[Row], given: dict[str, Any]) -> str | None:
    """The name of a required parameter that neither the command (``given``) nor any row's ``params``
    gives, else None: every row would fail for the want of it, so the batch is refused before the model
    loads (a CSV file's rows have no ``params`` at all)."""
    declared = ParameterSet(tool.name, tool.parameters)
    for parameter in tool.parameters:
        if not parameter.required or any(given.get(name) is not None for name in parameter.names):
            continue
        in_rows = any(
            (found := declared.lookup(key)) is not None and found.name == parameter.name and value is not None
            for row in rows
            if row.error is None
            for key, value in row.params.items()
        )
        if not in_rows:
            return parameter.name
    return None


def _field_hint(tool: RegisteredTool, row: Row, given: dict[str, Any]) -> str:
    """Why a required parameter that the row holds as a plain field (a CSV column ``to``) was not taken.

    A row's fields are its input and id; only its ``params`` object overrides parameters, so the
    bare "needs the parameter 'to'" would leave a user looking at the ``to`` column puzzled.
    """
    for parameter in tool.parameters:
        if not parameter.required or any(name in given for name in parameter.names):
            continue
        field = next((name for name in parameter.names if row.values.get(name) is not None), None)
        if field is not None:
            return (
                f'; the row\'s "{field}" field is not a parameter: a JSON Lines row gives it as '
                f'"params": {{"{parameter.name}": ...}} (a CSV row cannot), or pass it to the command'
            )
    return ""


def settled_without_model(
    tool: RegisteredTool, row: Row, params: dict[str, Any] | None = None, input_field: str | None = None
) -> bool:
    """Whether the row's record needs no model: the tool settles its input without one
    (:meth:`~.registry.RegisteredTool.answer_without_model`), or the row fails before any model call
    (malformed, no input, bad ``params``, an input the tool refuses). A batch whose every row is
    settled so loads no model: a file of short reviews to summarize cost a model load for nothing."""
    text = row.input_text(input_field)
    if row.error is not None or text is None or row.input_not_text(input_field) is not None:
        return True
    try:
        line_params = _merged(tool, dict(params or {}), row.params) if row.params else dict(params or {})
        return tool.answer_without_model(text, line_params) is not None
    except AssistantError:
        return True


def run_tool_row(
    tool: RegisteredTool,
    row: Row,
    backend: Backend,
    params: dict[str, Any] | None = None,
    input_field: str | None = None,
    made: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One row's record (without ``row``/``id``, which the runner adds); per-row ``params`` win.

    ``made`` is :func:`~assistant.batch.provenance.made_by` of ``backend``, asked once per batch by
    the caller: asked per row, while other rows run (``--parallel``), a backend's ``info()`` may fail
    half way and leave one line without the ``model_ref`` its other lines have.
    """
    not_text = row.input_not_text(input_field)  # {"text": 5}: refused, not run as the text "5"
    text = None if not_text else row.input_text(input_field)
    record: dict[str, Any] = {"input": text, "tool": tool.name, "params": None, **(made or made_by(backend))}
    if row.error is not None:
        return {**record, "error": row.error}
    if not_text is not None:
        return {**record, "error": not_text}
    if text is None:
        return {**record, "error": row.missing_input(input_field)}
    shared = dict(params or {})
    try:
        line_params = _merged(tool, shared, row.params) if row.params else shared
        record["params"] = line_params
        result = tool.run(text, backend, params=line_params)
    except AssistantError as exc:
        failed = {**record, "error": str(exc) + _field_hint(tool, row, {**shared, **row.params})}
        return BackendFailure(failed) if backend_failure(exc) else failed  # the runner stops on a run of these
    except Exception as exc:  # an engine's own exception type: still only this row's failure
        return {**record, "error": f"{type(exc).__name__}: {exception_text(exc)}"}
    return {**record, "result": result.to_dict(), "error": None}


def complete_turn(
    turn: Any, tool_name: str, text: str, data: Any, model: str | None, backend: str | None, duration_ms: float
) -> None:
    """A tool's result as its history turn's reply: ``text`` shown, its JSON (``data``) as ``tool_result``;
    ``model`` and ``backend`` None for a tool that uses no model."""
    from ..types import Completion, Timings, Usage

    completion = Completion(
        text=text, model=model or "", backend=backend or "", finish_reason="stop", usage=Usage(),
        timings=Timings(duration_ms=duration_ms),
    )  # fmt: skip
    turn.complete(completion, tool_name=tool_name, tool_result=data)


def record_line(
    recorder: Any, record: dict[str, Any], params: dict[str, Any] | None = None, duration_ms: float = 0.0
) -> None:
    """A tool batch's result line as its turn in the batch's conversation (``recorder.turn``).

    What made the turn is the line's own (``model``, ``backend``, ``model_ref``, the ``params`` the row ran
    with; ``params`` here only for a row that failed before it had its own), so a line written by an earlier
    run and not recorded then (:data:`~assistant.batch.runner.HISTORY_ERROR`) is recorded without the model
    loaded again: those are the values the loaded model gave every line. A row that never had an input
    (not JSON, no text field) said nothing to record.
    """
    from ..history.records import TurnMeta
    from ..terminal_text import json_text

    text = record.get("input")
    if not isinstance(text, str):
        return
    used = record.get("params")
    used = dict(used) if isinstance(used, dict) else dict(params or {})
    model, backend = record.get("model"), record.get("backend")
    if backend is None:  # a tool that uses no model
        meta = TurnMeta(params=used)
    else:
        meta = TurnMeta(model=model, backend=backend, params=used, model_ref=record.get("model_ref"))
    with recorder.turn(text, meta, line=record) as turn:  # the row's turn, known as that row's on --resume
        if record.get("error") is not None:
            turn.fail(str(record["error"]))
        else:  # its text the result's JSON (null for a score that is not finite), as the line has it
            result = record.get("result")
            complete_turn(turn, str(record.get("tool")), json_text(result), result, model, backend, duration_ms)


def check_resume(tool: RegisteredTool, rows: list[Row], out: Path | None, resume: bool, params: dict[str, Any]) -> None:
    """Refuse a ``--resume`` whose results file another tool, other parameters or a template batch wrote.

    ``--resume`` keeps the lines already there and runs only the rest, so resuming a sentiment
    batch's file with ``ner``, or with ``--labels`` changed, left one file of two kinds of result
    that nothing marked apart (and a template batch's file made every row look done). Checked on
    the lines of finished rows, before the model loads. ``params`` are the command's, defaults
    included, compared by :func:`~assistant.batch.provenance.check_resume_made` as a template
    batch's shared settings are, with two differences of meaning: the line of a row with its own
    ``params`` is not compared (it ran with other values by design), and a parameter named on
    one side only is another version's, not another value. A file from a version that did not
    record the tool is not checked.
    """
    check_resume_kind(out, resume, "tool", tool.name)
    own_numbers = {row.number for row in rows if row.params}
    own_ids = {as_json(row.id) for row in rows if row.params and row.id is not None}

    def compared(record: dict[str, Any]) -> bool:
        own = record.get("row") in own_numbers or as_json(record.get("id")) in own_ids
        return record.get("tool") is not None and not own

    declared = {name: parameter for parameter in tool.parameters for name in parameter.names}

    def as_now(field: str, recorded: Any) -> Any:
        """A line's parameters as this version resolves them: ``to=fr`` before translate's check named it."""
        if not isinstance(recorded, dict):
            return recorded
        spelled = dict(recorded)
        for name, value in recorded.items():
            if name in declared and value is not None:
                try:
                    spelled[name] = declared[name].coerce(value)
                except ConfigError:  # refused now: compared as it was written (and found different)
                    pass
        return spelled

    check_resume_made(
        out, resume, {"params": params}, {"params": ""}, partial={"params"}, compared=compared, as_now=as_now
    )

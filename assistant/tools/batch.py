"""Tool batches: a tool over many inputs (``assistant NAME --batch FILE``) without losing any of them.

Rows, resuming, overwrite protection, the progress bar and the summary are the
shared batch runner's (:mod:`assistant.batch`, the same row format as template
batches: JSONL or CSV, ``id`` kept, the input text in ``text`` or ``input`` or
the ``--input-field``, per-row ``params``). This module turns a row into a tool
run: its record is ``{"row", "id", "input", "result"}`` on success or
``{"row", "id", "input", "error"}`` when the row is malformed or the tool fails
on it — one bad input never stops the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..batch import Row
from ..errors import AssistantError
from .base import ParameterSet

if TYPE_CHECKING:
    from ..backends.base import Backend
    from .registry import RegisteredTool


def _merged(tool: RegisteredTool, shared: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Shared parameters with a row's overrides on top (aliases like ``from`` mapped to their name)."""
    declared = ParameterSet(tool.name, tool.parameters)
    merged = dict(shared)
    for key, value in overrides.items():
        parameter = declared.lookup(key)
        merged[parameter.name if parameter else key] = value
    return declared.resolve(merged)


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


def run_tool_row(
    tool: RegisteredTool,
    row: Row,
    backend: Backend,
    params: dict[str, Any] | None = None,
    input_field: str | None = None,
) -> dict[str, Any]:
    """One row's record (without ``row``/``id``, which the runner adds); per-row ``params`` win."""
    text = row.input_text(input_field)
    record: dict[str, Any] = {"input": text}
    if row.error is not None:
        return {**record, "error": row.error}
    if text is None:
        return {**record, "error": row.missing_input(input_field)}
    shared = dict(params or {})
    try:
        line_params = _merged(tool, shared, row.params) if row.params else shared
        result = tool.run(text, backend, params=line_params)
    except AssistantError as exc:
        return {**record, "error": str(exc) + _field_hint(tool, row, {**shared, **row.params})}
    except Exception as exc:  # an engine's own exception type: still only this row's failure
        return {**record, "error": f"{type(exc).__name__}: {exc}"}
    return {**record, "result": result.to_dict(), "error": None}

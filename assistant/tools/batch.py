"""Running a tool over many inputs (``--batch FILE.jsonl``) without losing any of them.

Each line of the input file is a JSON object ``{"text": ..., "id": ..., "params": {...}}``
(``id`` and ``params`` optional) or a bare JSON string. Every line produces one
output record, in order: ``{"line", "id", "text", "result"}`` on success or
``{"line", "id", "text", "error"}`` when the line is malformed or the tool
fails on it — one bad input never stops the others.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from ..errors import AssistantError, ConfigError
from .base import ParameterSet

if TYPE_CHECKING:
    from ..backends.base import Backend
    from .registry import RegisteredTool


@dataclass
class BatchItem:
    """One input line: its text and per-line parameters, or why the line cannot be used."""

    line: int
    text: str | None = None
    id: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def parse_line(number: int, raw: str) -> BatchItem:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        return BatchItem(number, error=f"line {number} is not JSON: {exc.msg}")
    if isinstance(data, str):
        return BatchItem(number, text=data)
    if not isinstance(data, dict):
        return BatchItem(number, error=f"line {number} must be a JSON object or string")
    text, params = data.get("text"), data.get("params", {})
    if not isinstance(text, str):
        return BatchItem(number, id=data.get("id"), error=f"line {number} has no \"text\" string")
    if not isinstance(params, dict):
        return BatchItem(number, text=text, id=data.get("id"), error=f"line {number}: \"params\" must be an object")
    return BatchItem(number, text=text, id=data.get("id"), params=params)


def read_batch(path: Path) -> list[BatchItem]:
    """Every non-blank line of ``path`` as a :class:`BatchItem` (line numbers from 1)."""
    try:
        content = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        raise ConfigError(f"cannot read batch file {path}: {exc.strerror}") from exc
    items = [parse_line(number, raw) for number, raw in enumerate(content.splitlines(), 1) if raw.strip()]
    if not items:
        raise ConfigError(f"batch file {path} has no inputs")
    return items


def _merged(tool: RegisteredTool, shared: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Shared parameters with a line's overrides on top (aliases like ``from`` mapped to their name)."""
    declared = ParameterSet(tool.name, tool.parameters)
    merged = dict(shared)
    for key, value in overrides.items():
        parameter = declared.lookup(key)
        merged[parameter.name if parameter else key] = value
    return declared.resolve(merged)


def run_batch(
    tool: RegisteredTool, items: Sequence[BatchItem], backend: Backend, params: dict[str, Any] | None = None
) -> Iterator[dict[str, Any]]:
    """One output record per item, in order; per-line ``params`` override the shared ones."""
    shared = dict(params or {})
    for item in items:
        record: dict[str, Any] = {"line": item.line, "id": item.id, "text": item.text}
        if item.error is not None:
            record["error"] = item.error
            yield record
            continue
        assert item.text is not None
        try:
            line_params = _merged(tool, shared, item.params) if item.params else shared
            result = tool.run(item.text, backend, params=line_params)
            record["result"] = result.to_dict()
        except AssistantError as exc:
            record["error"] = str(exc)
        yield record

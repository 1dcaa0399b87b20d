"""Reading batch input: one row format for template and tool batches.

A JSONL line is an object or a bare string (the input text); a CSV file has a
header row naming the fields (an empty cell means "not given"). In an object:

- ``id`` (optional, any JSON value) is copied into the row's result;
- ``params`` (optional object) holds per-row parameters (tool parameters);
- the input text is ``text`` or ``input`` by default (``reviews.jsonl`` rows
  like ``{"id": 1, "text": "..."}`` work for tools and templates alike), or the
  field ``--input-field NAME`` names;
- every other field is a value (a template's variables).

A row that cannot be used (bad JSON, invalid Unicode, no input) carries an
``error`` and still produces a result line, so one bad row never stops a batch.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..text_checks import invalid_unicode_in

DEFAULT_INPUT_FIELDS = ("text", "input")
"""Where a row's input text is looked for when no ``--input-field`` is given, in this order."""
SUFFIXES = (".jsonl", ".ndjson", ".csv")
MAX_BATCH_BYTES = 256 * 1024 * 1024
"""Largest batch file read: every row is held in memory while the batch runs (hundreds of thousands of rows fit)."""


@dataclass
class Row:
    """One input row: 1-based ``number`` (its line in a JSONL file, blank lines skipped but counted;
    its record after the header in a CSV file)."""

    number: int
    values: dict[str, Any] = field(default_factory=dict)
    id: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def input_text(self, input_field: str | None = None) -> str | None:
        """The row's input text: ``input_field``, else the first of :data:`DEFAULT_INPUT_FIELDS` present."""
        names = (input_field,) if input_field else DEFAULT_INPUT_FIELDS
        for name in names:
            value = self.values.get(name)
            if value is not None:
                return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        return None

    def missing_input(self, input_field: str | None = None) -> str:
        wanted = f'"{input_field}"' if input_field else " or ".join(f'"{n}"' for n in DEFAULT_INPUT_FIELDS)
        return f"row {self.number} has no {wanted} field (choose one with --input-field)"


def read_rows(path: Path) -> list[Row]:
    """Every row of a JSONL or CSV file (chosen by extension); unreadable rows carry an error."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ConfigError(f"batch file {path} must be .jsonl or .csv")
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BATCH_BYTES + 1)  # never more: a name can lead to /dev/zero
        if len(data) > MAX_BATCH_BYTES:
            raise ConfigError(f"batch file {path} is larger than {MAX_BATCH_BYTES // 2**20} MiB; split it into several")
        text = data.decode("utf-8-sig", errors="replace")
    except FileNotFoundError:
        raise ConfigError(f"batch file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read batch file {path}: {exc.strerror or exc}") from exc
    rows = _csv_rows(text) if suffix == ".csv" else _jsonl_rows(text)
    if not rows:
        raise ConfigError(f"batch file {path} has no rows")
    return rows


def _jsonl_rows(text: str) -> list[Row]:
    rows: list[Row] = []
    for number, line in enumerate(text.splitlines(), 1):  # the line number: what an editor shows
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            rows.append(Row(number, error=f"row {number} is not JSON: {exc.msg}"))
            continue
        rows.append(_row(number, value))
    return rows


def _row(number: int, value: Any) -> Row:
    problem = invalid_unicode_in(value)
    if problem:  # "\ud800": no engine or database can take it
        row_id = value.get("id") if isinstance(value, dict) else None
        kept_id = row_id if not invalid_unicode_in(row_id) else None  # so the error line still says which row
        return Row(number, id=kept_id, error=f"row {number} is not valid Unicode ({problem})")
    if isinstance(value, str):
        return Row(number, {"text": value})
    if not isinstance(value, dict):
        return Row(number, error=f"row {number} must be a JSON object (or a string, the input)")
    values = dict(value)
    row_id = values.pop("id", None)
    params = values.pop("params", {})
    if not isinstance(params, dict):
        return Row(number, values, row_id, error=f'row {number}: "params" must be an object')
    return Row(number, values, row_id, params)


def _csv_rows(text: str) -> list[Row]:
    reader = csv.DictReader(io.StringIO(text))
    rows: list[Row] = []
    for number, record in enumerate(reader, 1):
        if None in record:
            rows.append(Row(number, error=f"row {number} has more cells than the header"))
            continue
        values = {k: v for k, v in record.items() if v not in ("", None)}
        row_id = values.pop("id", None)
        rows.append(Row(number, values, row_id))
    return rows

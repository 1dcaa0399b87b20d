"""Reading batch input: one row format for template and tool batches.

A JSONL line is an object or a bare string (the input text); a CSV file has a
header row naming the fields (an empty cell means "not given"). In an object:

- ``id`` (optional, any JSON value) is copied into the row's result;
- ``params`` (optional object) holds per-row parameters (a tool's, or a template's sampling parameters);
- the input text is ``text`` or ``input`` by default (``reviews.jsonl`` rows
  like ``{"id": 1, "text": "..."}`` work for tools and templates alike), or the
  field ``--input-field NAME`` names;
- every other field is a value (a template's variables).

A row that cannot be used (bad JSON, bytes that are not UTF-8, no input) carries an
``error`` and still produces a result line, so one bad row never stops a batch.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..input_files import MAX_INPUT_BYTES, wide_encoding
from ..text_checks import RepeatedKey, invalid_unicode, invalid_unicode_in, refuse_repeated_keys

DEFAULT_INPUT_FIELDS = ("text", "input")
"""Where a row's input text is looked for when no ``--input-field`` is given, in this order."""
SUFFIXES = (".jsonl", ".ndjson", ".csv")
MAX_BATCH_BYTES = 256 * 1024 * 1024
"""Largest batch file read: every row is held in memory while the batch runs (hundreds of thousands of rows fit)."""
MAX_ROW_CHARS = MAX_INPUT_BYTES
"""Longest row, in characters: one input, so no longer than ``--file`` reads. A 100 MB line
otherwise took minutes and gigabytes to parse and run; over the limit it fails on its own."""


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def jsonl_lines(text: str) -> list[str]:
    """The lines of a JSON Lines text: split at ``\\n``, ``\\r\\n`` or ``\\r`` only.

    Not :meth:`str.splitlines`, which also breaks at U+2028, U+2029, U+0085 and
    a few C0 controls: JSON keeps the first three raw inside strings (and
    ``ensure_ascii=False`` writers emit them so), so a valid row holding one was
    cut into two broken rows and every later row number shifted. CR and LF never
    occur raw inside a JSON value, so splitting at them alone is exact.
    """
    lines = _LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line; it starts no new one
    return lines


@dataclass
class Row:
    """One input row: 1-based ``number`` (its line in a JSONL file, blank lines skipped but counted;
    its record after the header in a CSV file)."""

    number: int
    values: dict[str, Any] = field(default_factory=dict)
    id: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    empty: tuple[str, ...] = ()
    """A CSV row's columns whose cells are empty (left out of ``values``, so a default applies)."""
    short: tuple[str, ...] = ()
    """A CSV row's columns it has no cell for at all (a record with fewer cells than the header)."""

    def input_text(self, input_field: str | None = None) -> str | None:
        """The row's input text: ``input_field``, else the first of :data:`DEFAULT_INPUT_FIELDS` present."""
        names = (input_field,) if input_field else DEFAULT_INPUT_FIELDS
        for name in names:
            value = self.values.get(name)
            if value is not None:
                return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        return None

    def input_not_text(self, input_field: str | None = None) -> str | None:
        """The error of a row whose input field holds a JSON value that is not text (``{"text": 5}``), else None.

        For a tool batch, whose input is text: :meth:`input_text` gives such a value as its JSON,
        and the sentiment of ``5`` or of ``["a", "b"]`` was reported as if the row had said it. A
        template batch does not ask: a template may use a number or a list.
        """
        names = (input_field,) if input_field else DEFAULT_INPUT_FIELDS
        name = next((name for name in names if self.values.get(name) is not None), None)
        if name is None or isinstance(self.values[name], str):
            return None
        return f'row {self.number}: "{name}" is {_json_kind(self.values[name])}, not text'

    def missing_input(self, input_field: str | None = None) -> str:
        names = (input_field,) if input_field else DEFAULT_INPUT_FIELDS
        blank = [name for name in names if name in self.empty]
        if blank:  # the column is there, its cell is not: "no field" would send the user to the header
            return f'row {self.number} has an empty "{blank[0]}" cell'
        given = [name for name in names if isinstance(self.values.get(name), str) and not self.values[name].strip()]
        if given:  # "text": "" or "   ": there is a field, with nothing in it
            return f'row {self.number} has an empty "{given[0]}" field'
        cut = [name for name in names if name in self.short]
        if cut:  # the header has the column; this record stops before it (a ragged row)
            return f'row {self.number} has fewer cells than the header: none for "{cut[0]}"'
        null = [name for name in names if name in self.values and self.values[name] is None]
        if null:  # "text": null: the field is there ("has no field" sent the user looking for it), holding no text
            return f'row {self.number}: "{null[0]}" is null, not text'
        wanted = " or ".join(f'"{n}"' for n in names)
        return f"row {self.number} has no {wanted} field (choose one with --input-field)"


def _json_kind(value: Any) -> str:
    """What a JSON value is, in words, for an error line: ``a number``, ``a list``, ``true``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "null" if value is None else f"a {type(value).__name__}"


RESERVED_FIELDS = ("id", "params")
"""A row's fields that are not values (:func:`_row` takes them out): its result's id, its own parameters."""


def _has_reserved(row: Row, name: str) -> bool:
    return row.id is not None if name == "id" else bool(row.params)


def check_input_field(rows: list[Row], input_field: str | None, source: Path, *, required: bool = False) -> None:
    """Refuse an ``--input-field`` that no readable row has, before the model loads.

    A typo (``--input-field txt``) would otherwise load the model and then fail
    every row, one line each. A field that only some rows lack is left to fail
    those rows alone. With ``required`` (a tool batch: every row needs its input
    text) the same holds without ``--input-field``: a file none of whose rows has
    a ``text`` or ``input`` field (a CSV whose column is ``review``) is refused,
    naming the fields it has.
    """
    if not input_field and not required:
        return
    readable = [row for row in rows if row.error is None]
    if not readable or any(row.input_text(input_field) is not None for row in readable):
        return
    wanted = set((input_field,) if input_field else DEFAULT_INPUT_FIELDS)
    if any(set(row.empty) & wanted or set(row.values) & wanted for row in readable):
        # The column is there, only empty so far (a CSV cell, a JSON null: "its fields: text" followed
        # "no row has a text field"): each row says so.
        return
    names = sorted({name for row in readable for name in (*row.values, *row.empty)})
    shown = ", ".join(names[:12]) + (", …" if len(names) > 12 else "")
    if input_field in RESERVED_FIELDS and any(_has_reserved(row, input_field) for row in readable):
        # "no row has that field" was untrue: the rows have it, read as what it means to every row.
        what = "the row's id, copied into its result" if input_field == "id" else "the row's own parameters"
        raise ConfigError(
            f"--input-field {input_field!r}: that field is {what}, not an input text; "
            f"name another (its fields: {shown or 'none'})"
        )
    if input_field:
        raise ConfigError(f"--input-field {input_field!r}: no row of {source} has that field (its fields: {shown or 'none'})")
    raise ConfigError(
        f'no row of {source} has a "text" or "input" field (its fields: {shown or "none"}); '
        "name the one holding the input with --input-field"
    )


def read_rows(path: Path) -> list[Row]:
    """Every row of a JSONL or CSV file (chosen by extension); unreadable rows carry an error."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        if str(path) == "-" or (path.exists() and not path.is_file()):
            # `--batch -` or `--batch <(cmd)`: the format is the name's, and --resume reads the rows again.
            raise ConfigError(
                f"--batch {path}: rows are read from a .jsonl or .csv file, not from a pipe or stdin; "
                "save them to one first"
            )
        raise ConfigError(f"batch file {path} must be .jsonl or .csv")
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BATCH_BYTES + 1)  # never more: a name can lead to /dev/zero
        if len(data) > MAX_BATCH_BYTES:
            raise ConfigError(f"batch file {path} is larger than {MAX_BATCH_BYTES // 2**20} MiB; split it into several")
        wide = wide_encoding(data)  # one file of another encoding: one error, before the model loads
        if wide:
            raise ConfigError(f"batch file {path} is {wide} text, not UTF-8; save it as UTF-8")
        # Undecodable bytes stay as surrogate escapes, so the row holding them fails with
        # its position (text_checks) instead of being silently changed to U+FFFD: a Latin-1
        # file would otherwise run with every accented letter replaced, and "succeed".
        text = data.decode("utf-8-sig", errors="surrogateescape")
    except FileNotFoundError:
        raise ConfigError(f"batch file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read batch file {path}: {exc.strerror or exc}") from exc
    rows = _csv_rows(text, path) if suffix == ".csv" else _jsonl_rows(text)
    if not rows:
        raise ConfigError(f"batch file {path} has no rows")
    return rows


def _jsonl_rows(text: str) -> list[Row]:
    rows: list[Row] = []
    for number, line in enumerate(jsonl_lines(text), 1):  # the line number: what an editor shows
        if len(line) > MAX_ROW_CHARS:  # checked before parsing: json.loads of it is the cost
            rows.append(Row(number, error=_too_long(number)))
            continue
        if not line.strip():
            continue
        try:
            value = json.loads(
                line,
                parse_constant=_no_constant,
                parse_float=_finite_float,
                parse_int=_whole_number,
                object_pairs_hook=refuse_repeated_keys,  # as a CSV header naming a field twice is refused
            )
        except json.JSONDecodeError as exc:
            # exc.msg alone read "Unterminated string starting at", the place it names left off
            rows.append(Row(number, error=f"row {number} is not JSON: {exc.msg} (character {exc.pos + 1})"))
            continue
        except RecursionError:  # "[[[…" a thousand deep: the parser's own stack, a traceback before
            rows.append(Row(number, error=f"row {number} nests too deeply (lists or objects inside one another)"))
            continue
        except RepeatedKey as exc:
            rows.append(Row(number, error=f"row {number} gives the field {exc.key!r} twice; give it once"))
            continue
        except ValueError as exc:  # NaN / Infinity (_no_constant), 1e400 (_finite_float), 9…9 (_whole_number)
            rows.append(Row(number, error=f"row {number} is not JSON: {exc}"))
            continue
        rows.append(_row(number, value))
    return rows


def _no_constant(name: str) -> Any:
    """Refuse ``NaN``, ``Infinity`` and ``-Infinity``, which Python's JSON reader takes and JSON has not:
    an ``"id": NaN`` was copied into the result line, which ``jq`` and every strict reader then refused."""
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(literal: str) -> float:
    """A JSON number as a float, refusing one too large for any float (``1e400``): Python reads it
    as infinity, and the result line then held ``Infinity``, which no strict JSON reader takes."""
    value = float(literal)
    if math.isinf(value):
        raise ValueError(f"the number {_clipped_number(literal)} is too large (it would be infinity)")
    return value


def _whole_number(literal: str) -> int:
    """A JSON integer; one of thousands of digits is refused in words, where Python's own error
    told the user to call ``sys.set_int_max_str_digits()``."""
    try:
        return int(literal)
    except ValueError:
        raise ValueError(f"the number {_clipped_number(literal)} has too many digits ({len(literal):,})") from None


def _clipped_number(literal: str) -> str:
    return literal if len(literal) <= 40 else literal[:39] + "…"


def _too_long(number: int) -> str:
    return f"row {number} is longer than {MAX_ROW_CHARS // 2**20} Mi characters, the most one input may be"


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
    params = values.pop("params", None)
    if params is None:  # null is "not given", as for every other field
        params = {}
    if not isinstance(params, dict):
        return Row(number, values, row_id, error=f'row {number}: "params" must be an object')
    return Row(number, values, row_id, params)


def _csv_rows(text: str, path: Path) -> list[Row]:
    """The records after the header row, each checked on its own.

    ``newline=""`` as the csv module requires, so CR-only files (old Excel for
    Mac) and CRLF inside quoted cells read right. ``strict`` so that malformed
    quoting is an error: otherwise an unterminated quote silently swallowed
    every later record into one cell and those rows never ran. A bad record
    becomes a failed row and reading goes on at the next line. The cell size
    limit (128 KiB by default, past which the reader raised) is lifted to the
    file cap, as a JSONL row is not limited either.
    """
    if csv.field_size_limit() < MAX_BATCH_BYTES:
        csv.field_size_limit(MAX_BATCH_BYTES)  # process-wide, but only ever raised
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] = []
    try:
        while not header:  # blank lines before the header are skipped
            header = next(reader)
    except StopIteration:
        return []
    except csv.Error as exc:
        raise ConfigError(f"batch file {path}: the header row is not valid CSV ({exc})") from None
    # "id, text" (a space after each comma, as people type CSV) named a column " text", which no
    # row field or template variable matched: every row failed with "no text field". Cells keep
    # their spaces (they are the input); only the names are trimmed.
    header = [name.strip() for name in header]
    for column, name in enumerate(header, 1):
        # Checked once here: left to the rows, every row failed with "row N is not valid Unicode
        # (byte 0xe9 at character 5)", the header's byte, in cells that were all fine.
        problem = invalid_unicode(name)
        if problem:
            raise ConfigError(
                f"batch file {path}: the header's column {column} is not UTF-8 text ({problem}); save the file as UTF-8"
            )
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise ConfigError(f"batch file {path}: the header names {', '.join(map(repr, repeated))} more than once")
    rows: list[Row] = []
    number = 0
    while True:
        line = reader.line_num + 1  # where this record starts: what to look at in an editor
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            number += 1
            rows.append(Row(number, error=f"row {number} (line {line}) is not valid CSV: {exc}"))
            continue
        if not cells:
            continue  # a blank line is no record
        number += 1
        if len(cells) > len(header):
            rows.append(Row(number, error=f"row {number} has more cells than the header"))
            continue
        if sum(map(len, cells)) > MAX_ROW_CHARS:
            rows.append(Row(number, error=_too_long(number)))
            continue
        record = dict(zip(header, cells))
        short = tuple(header[len(cells) :])
        problem = invalid_unicode_in(record)
        if problem:
            row_id = record.get("id")
            kept_id = row_id if row_id and not invalid_unicode(row_id) else None
            rows.append(Row(number, id=kept_id, error=f"row {number} is not valid Unicode ({problem})"))
            continue
        values = {k: v for k, v in record.items() if v != ""}
        row_id = values.pop("id", None)
        rows.append(Row(number, values, row_id, empty=tuple(k for k, v in record.items() if v == ""), short=short))
    return rows

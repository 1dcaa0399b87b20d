"""What a user types as a schema: llm's concise syntax, inline JSON, a file, or a template's schema.

The concise syntax is simonw/llm's (``llm --schema 'name, age int, bio: a short
biography'``), so a schema written for one tool works in the other:

- fields are separated by commas, or by newlines when there is a newline
  (then a description may hold commas);
- each field is a name, an optional type after a space -- ``int``, ``float``,
  ``bool`` or ``str`` (the default) -- and an optional ``: description``;
- every field is required and no other field is allowed (``additionalProperties:
  false``): a constrained decoder would otherwise be free to add keys the user
  never asked for (SmolLM2 adds a ``description`` to each item of a list).

``--schema-multi`` wraps a schema as llm does: an object whose ``items`` is an
array of it (``{"items": [...]}``), which every engine can constrain to.

Where llm quietly turns an unknown type into a string (``age integer`` ->
string) or lets a repeated name overwrite the first, this parser refuses, naming
the field: a schema never says less than the user wrote.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..text_checks import RepeatedKey, refuse_repeated_keys
from .output import NotJsonConstant, NumberOutOfRange, bounded_int, refuse_constant

CONCISE_TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}
"""Type words of the concise syntax and the JSON Schema types they stand for (llm's four)."""


def concise_schema(text: str) -> dict[str, Any]:
    """The object schema of a concise definition (``'name, age int: their age'``)."""
    separator = "\n" if "\n" in text else ","
    fields = [field.strip() for field in text.split(separator) if field.strip()]
    if not fields:
        raise ConfigError("the concise schema names no field (write e.g. 'name, age int')")
    properties: dict[str, Any] = {}
    for field in fields:
        head, colon, description = field.partition(":")
        words = head.split()
        if not words:
            raise ConfigError(f"concise schema: field {field!r} has no name before its ':'")
        if len(words) > 2:
            raise ConfigError(
                f"concise schema: field {head.strip()!r} has more than a name and a type "
                "(descriptions go after a ':')"
            )
        name = words[0]
        kind = words[1] if len(words) == 2 else "str"
        if kind not in CONCISE_TYPES:
            raise ConfigError(
                f"concise schema: field {name!r} has unknown type {kind!r} (types: {', '.join(CONCISE_TYPES)})"
            )
        if name in properties:
            raise ConfigError(f"concise schema: field {name!r} is given twice")
        prop: dict[str, Any] = {"type": CONCISE_TYPES[kind]}
        if colon and description.strip():
            prop["description"] = description.strip()
        properties[name] = prop
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def multi_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` as the items of an ``items`` array in an object (llm's ``--schema-multi``)."""
    return {
        "type": "object",
        "properties": {"items": {"type": "array", "items": schema}},
        "required": ["items"],
        "additionalProperties": False,
    }


def resolve_schema(value: str, *, multi: bool = False, option: str = "--schema") -> dict[str, Any]:
    """A checked JSON Schema from what the user gave ``option``.

    In this order: inline JSON (starts with ``{``; ``[`` is refused as no schema), ``t:NAME`` (the output
    schema of template NAME), an existing file holding a JSON Schema, else the
    concise syntax. A value that looks like a file name (``.json`` or a path
    separator, no comma) but names no file is an error rather than a one-field
    schema. Keywords outside :data:`~assistant.structured.schema.SUPPORTED` are
    rejected by name.
    """
    if not isinstance(value, str):  # from Python: resolve_schema(None) was an AttributeError from .strip()
        raise TypeError(f"{option} needs the schema as text (JSON, a file, or fields), not {type(value).__name__}")
    text = value.strip()
    if not text:
        raise ConfigError(f"{option} needs a schema: JSON, a file, or fields like 'name, age int'")
    if text.startswith(("{", "[")):
        schema = _json_schema(text, f"{option} (inline JSON)")
    elif text.startswith("t:"):
        schema = _template_schema(text[2:].strip(), option)
    elif _is_file(text):
        from ..input_files import read_input_file

        path = Path(text).expanduser()
        raw = read_input_file(path, f"{option}: schema file", strict=True)
        schema = _json_schema(raw, f"{option} file {path}")
    elif _looks_like_path(text):
        if Path(text).expanduser().is_dir():
            raise ConfigError(f"{option}: {text} is a directory, not a schema file")
        if Path(text).expanduser().exists():  # /dev/zero, a FIFO: never read (it may not end)
            raise ConfigError(f"{option}: {text} is not a regular file")
        raise ConfigError(f"{option}: file {text} does not exist (inline JSON starts with '{{')")
    else:
        schema = concise_schema(text)
    if multi:
        schema = multi_schema(schema)
    from .constraint import check_constrainable

    check_constrainable(option, schema)  # the subset, then what no model could be held to
    return schema


def _is_file(text: str) -> bool:
    try:
        return "\n" not in text and Path(text).expanduser().is_file()
    except (OSError, ValueError):  # a name too long for the file system is no file
        return False


def _looks_like_path(text: str) -> bool:
    return "\n" not in text and "," not in text and (text.endswith(".json") or "/" in text)



def _json_schema(text: str, where: str) -> dict[str, Any]:
    try:
        # 1e999 reads as inf here, which check_schema then refuses naming its place (schema.maximum)
        schema = json.loads(
            text, object_pairs_hook=refuse_repeated_keys, parse_constant=refuse_constant, parse_int=bounded_int
        )
    except NotJsonConstant as exc:  # Python reads NaN; it would be written back into the prompt as NaN
        raise ConfigError(f"{where} is not valid JSON: {exc} is not JSON") from None
    except NumberOutOfRange as exc:  # 5,000 digits were a ValueError traceback
        raise ConfigError(f"{where}: {exc}") from None
    except RepeatedKey as exc:
        raise ConfigError(f"{where}: the key {exc.key[:60]!r} is given twice in one object") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where} is not valid JSON: {exc.msg} (line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise ConfigError(f"{where} nests too deeply to be a schema") from None
    if not isinstance(schema, dict):
        raise ConfigError(f"{where} must be a JSON object (a schema), not {type(schema).__name__}")
    return schema


def _template_schema(name: str, option: str) -> dict[str, Any]:
    from ..templates import load_template

    template = load_template(name)
    if template.output.schema is None:
        raise ConfigError(f"{option}: template {name!r} has no output schema")
    return dict(template.output.schema)

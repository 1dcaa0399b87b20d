"""A small JSON Schema subset for checking ``output: json`` answers.

Supported keywords: ``type`` (a name or a list), ``properties``, ``required``,
``additionalProperties`` (boolean), ``items``, ``enum``, ``minItems``,
``maxItems``, ``minLength``, ``maxLength``, ``minimum``, ``maximum``,
``description`` and ``title``. The bounds matter to constrained decoding: a
string or number without one lets a small model at temperature > 0 wander on
inside it until ``max_tokens``. Any other keyword is rejected when
the template loads, so a schema never silently checks less than it says.
"""

from __future__ import annotations

from typing import Any

from ..errors import TemplateError

SUPPORTED = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "enum",
        "minItems",
        "maxItems",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "description",
        "title",
    }
)
_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


MAX_DEPTH = 32
"""Most schemas nested inside one another (``items`` of ``items``, ``properties`` of ``properties``).

Real answers nest a few levels; the cap keeps the recursive checks, the validator,
the constraint compiler and the history's copy of the schema far from Python's
recursion limit, so a hostile or mistaken schema is one error line, not a crash."""


def check_schema(where: str, schema: Any, path: str = "schema", depth: int = 0) -> None:
    """Reject schemas that use keywords this validator does not implement, or that nest past :data:`MAX_DEPTH`."""
    if not isinstance(schema, dict):
        raise TemplateError(f"{where}: {path} must be a mapping")
    if depth > MAX_DEPTH:
        raise TemplateError(f"{where}: the schema nests more than {MAX_DEPTH} levels deep")
    for key in schema:
        if key not in SUPPORTED:
            raise TemplateError(
                f"{where}: {path}: unsupported schema keyword {key!r} (supported: {', '.join(sorted(SUPPORTED))})"
            )
    kinds = schema.get("type")
    for kind in [kinds] if isinstance(kinds, str) else (kinds or []):
        if kind not in _TYPES:
            raise TemplateError(f"{where}: {path}: unknown type {kind!r}")
    for key in ("minItems", "maxItems", "minLength", "maxLength"):
        if key in schema and (not isinstance(schema[key], int) or isinstance(schema[key], bool) or schema[key] < 0):
            raise TemplateError(f"{where}: {path}.{key} must be a whole number >= 0, not {schema[key]!r}")
    for key in ("minimum", "maximum"):
        if key in schema and (not isinstance(schema[key], (int, float)) or isinstance(schema[key], bool)):
            raise TemplateError(f"{where}: {path}.{key} must be a number, not {schema[key]!r}")
    for low, high in (("minItems", "maxItems"), ("minLength", "maxLength"), ("minimum", "maximum")):
        if low in schema and high in schema and schema[low] > schema[high]:
            raise TemplateError(f"{where}: {path}: {low} {schema[low]!r} is above {high} {schema[high]!r}")
    for name, sub in (schema.get("properties") or {}).items():
        check_schema(where, sub, f"{path}.properties.{name}", depth + 1)
    if "items" in schema:
        check_schema(where, schema["items"], f"{path}.items", depth + 1)


def _is_type(value: Any, kind: str) -> bool:
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    if kind == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES[kind])


def validate(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Every way ``value`` violates ``schema``, as ``path: problem`` strings (empty if valid)."""
    problems: list[str] = []
    kinds = schema.get("type")
    if kinds is not None:
        names = [kinds] if isinstance(kinds, str) else list(kinds)
        if not any(_is_type(value, kind) for kind in names):
            return [f"{path}: expected {' or '.join(names)}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {value!r} is not one of {schema['enum']!r}")
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        for name in schema.get("required") or []:
            if name not in value:
                problems.append(f"{path}: missing required property {name!r}")
        if schema.get("additionalProperties") is False:
            for name in value:
                if name not in properties:
                    problems.append(f"{path}: unexpected property {name!r}")
        for name, sub in properties.items():
            if name in value:
                problems.extend(validate(value[name], sub, f"{path}.{name}"))
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            problems.append(f"{path}: shorter than {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            problems.append(f"{path}: longer than {schema['maxLength']} characters")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(f"{path}: {value!r} is below the minimum {schema['minimum']!r}")
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(f"{path}: {value!r} is above the maximum {schema['maximum']!r}")
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            problems.append(f"{path}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            problems.append(f"{path}: more than {schema['maxItems']} items")
        if "items" in schema:
            for index, item in enumerate(value):
                problems.extend(validate(item, schema["items"], f"{path}[{index}]"))
    return problems

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

import math
from typing import Any

from ..errors import TemplateError
from ..text_checks import invalid_unicode

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


MAX_SUBSCHEMAS = 2000
"""Most schemas in one (every ``properties`` entry and ``items`` counts), and most ``enum`` values in all
(what an enum's arrays and objects hold counts too: one enum value of 20,000 keys took the engine 10 s).

The constraint engine's work grows faster than the schema: 10,000 optional
properties took it 5 s to compile and 500,000 enum values 5 s to refuse, all
before the first token. Counting first refuses such a schema at once; it also
bounds a template's YAML aliases, which can make a short file name the same
sub-schema millions of times."""


def check_schema(where: str, schema: Any, path: str = "schema", depth: int = 0) -> None:
    """Reject schemas that use keywords this validator does not implement, or that nest past :data:`MAX_DEPTH`."""
    if depth == 0:
        _check_size(where, schema)
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
    if kinds is not None and not isinstance(kinds, (str, list)):
        raise TemplateError(f"{where}: {path}.type must be a type name or a list of them, not {_short(kinds)}")
    for kind in [kinds] if isinstance(kinds, str) else (kinds or []):
        if not isinstance(kind, str) or kind not in _TYPES:
            raise TemplateError(f"{where}: {path}: unknown type {_short(kind)}")
    _check_shapes(where, path, schema)
    for key in ("minItems", "maxItems", "minLength", "maxLength"):
        value = schema.get(key)
        if key in schema and (not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_COUNT):
            raise TemplateError(
                f"{where}: {path}.{key} must be a whole number from 0 to {MAX_COUNT}, not {_short(value)}"
            )
    for key in ("minimum", "maximum"):
        value = schema.get(key)
        if key in schema and (not isinstance(value, (int, float)) or isinstance(value, bool) or not _finite(value)):
            raise TemplateError(
                f"{where}: {path}.{key} must be a number from -{MAX_BOUND:.0e} to {MAX_BOUND:.0e}, not {_short(value)}"
            )
    for low, high in (("minItems", "maxItems"), ("minLength", "maxLength"), ("minimum", "maximum")):
        if low in schema and high in schema and schema[low] > schema[high]:
            raise TemplateError(f"{where}: {path}: {low} {schema[low]!r} is above {high} {schema[high]!r}")
    for name, sub in (schema.get("properties") or {}).items():
        check_schema(where, sub, f"{path}.properties.{name}", depth + 1)
    if "items" in schema:
        check_schema(where, schema["items"], f"{path}.items", depth + 1)
    if depth == 0:
        _check_json_values(where, schema)


MAX_VALUE_DEPTH = 2 * MAX_DEPTH + 36
"""Most arrays and objects nested in one another anywhere in a schema, enum values included.

Room for :data:`MAX_DEPTH` sub-schemas (each two levels: ``properties``, then the name)
with enum values inside; far from the recursion limit that writing the schema as JSON
(the constraint engine's input, the prompt's instruction, the history) would hit: an
enum value nested 100,000 lists deep was a ``RecursionError`` traceback."""


def _check_json_values(where: str, schema: dict[str, Any]) -> None:
    """Every value in ``schema`` one JSON can hold, as the Python API may give it anything.

    A schema from text (``--schema``, a file) is JSON already; one built in Python was not
    checked past its keywords: ``enum: [float("nan")]`` was held to by a decoder that wrote
    ``NaN`` (no JSON), a tuple or an int key became another value once written as JSON (a
    reply matching it failed validation), and a lone surrogate in a property name reached the
    engine. Walked without recursion, each problem named by its place.
    """
    pending: list[tuple[Any, str, Any, int]] = [(schema, "schema", None, 0)]
    while pending:
        value, parent, key, depth = pending.pop()
        if isinstance(value, (dict, list)) and depth > MAX_VALUE_DEPTH:
            raise TemplateError(f"{where}: the schema nests more than {MAX_VALUE_DEPTH} arrays and objects deep")
        if isinstance(value, dict):
            here = _place(parent, key)
            for name, item in value.items():
                if not isinstance(name, str):
                    raise TemplateError(f"{where}: {here}: the key {_short(name)} is not text (JSON keys are strings)")
                if problem := invalid_unicode(name):
                    raise TemplateError(f"{where}: {here}: a key is not valid Unicode ({problem})")
                pending.append((item, here, name, depth + 1))
        elif isinstance(value, list):
            here = _place(parent, key)
            pending.extend((item, here, index, depth + 1) for index, item in enumerate(value))
        elif isinstance(value, str):
            if problem := invalid_unicode(value):
                raise TemplateError(f"{where}: {_place(parent, key)} is not valid Unicode ({problem})")
        elif isinstance(value, float) and not math.isfinite(value):
            raise TemplateError(f"{where}: {_place(parent, key)} is {value!r}, which is no JSON number")
        elif value is not None and not isinstance(value, (bool, int, float)):
            raise TemplateError(
                f"{where}: {_place(parent, key)} is a {type(value).__name__}, not a JSON value "
                "(text, a number, true/false, null, a list or a mapping)"
            )


def _place(parent: str, key: Any) -> str:
    """Where a value sits, in the paths the other checks print: ``schema.properties.age``, ``schema.enum[0]``."""
    if key is None:
        return parent
    return f"{parent}[{key}]" if isinstance(key, int) else f"{parent}.{key}"


def _enum_size(values: list[Any], limit: int) -> int:
    """An enum's values and everything their arrays and objects hold, counted up to just past ``limit``."""
    pending, count = list(values), 0
    while pending and count <= limit:
        value = pending.pop()
        count += 1
        if isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return count


MAX_COUNT = 1_000_000
"""Largest ``minLength``/``maxLength``/``minItems``/``maxItems``: far past any reply a context holds,
and below the 2**32 where the constraint engine's repetition counts stop (``maxLength: 1e12`` could
not be compiled, and was only found out after the model had loaded)."""

MAX_BOUND = 1e15
"""Largest ``minimum``/``maximum`` magnitude: numbers past it (1e400 parses as infinity, 10**20 is no
float the constraint engine can take) would make a constraint that cannot be built or a check that
never fails; 1e15 still holds every integer exactly."""


def _check_size(where: str, schema: Any) -> None:
    """Refuse a schema with more than :data:`MAX_SUBSCHEMAS` sub-schemas or enum values, counting as it goes."""
    pending, schemas, values = [schema], 0, 0
    while pending:
        node = pending.pop()
        schemas += 1
        if not isinstance(node, dict):
            continue
        enum = node.get("enum")
        values += _enum_size(enum, MAX_SUBSCHEMAS - values) if isinstance(enum, list) else 0
        properties = node.get("properties")
        required = node.get("required")
        if isinstance(required, list):
            # A required name with no property is a key the engine must write with any value: a
            # sub-schema too. 1,000,000 of them took it 140 s to refuse, before the first token.
            known = properties if isinstance(properties, dict) else {}
            schemas += _unlisted_count(required, known, MAX_SUBSCHEMAS + 1 - schemas)
        if schemas > MAX_SUBSCHEMAS or values > MAX_SUBSCHEMAS:
            what = (
                "sub-schemas (properties, items and required names without a property)"
                if schemas > MAX_SUBSCHEMAS
                else "enum values (with what their arrays and objects hold)"
            )
            raise TemplateError(f"{where}: the schema has more than {MAX_SUBSCHEMAS} {what}")
        if isinstance(properties, dict):
            pending.extend(properties.values())
        if "items" in node:
            pending.append(node["items"])


def _unlisted_count(required: list[Any], properties: dict[str, Any], limit: int) -> int:
    """How many of ``required`` (repeats included, so a long list of one name is no way round the limit)
    are no key of ``properties``, counted up to ``limit``."""
    count = 0
    for name in required:
        if not isinstance(name, str) or name not in properties:  # a non-text name is refused by name later
            count += 1
            if count >= limit:
                break
    return count


def _finite(value: float) -> bool:
    return -MAX_BOUND <= value <= MAX_BOUND


def _short(value: Any, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters: errors quote what the user wrote, never all of it."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_shapes(where: str, path: str, schema: dict[str, Any]) -> None:
    """The keywords whose value has a fixed JSON shape: the validator reads them as such.

    A string ``enum`` would turn membership into a substring test and a list of
    ``properties`` would crash it, so both are refused when the schema is given.
    """
    if "properties" in schema and not isinstance(schema["properties"], dict):
        raise TemplateError(f"{where}: {path}.properties must be a mapping of names to schemas")
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(name, str) for name in required):
        raise TemplateError(f"{where}: {path}.required must be a list of property names")
    seen: set[str] = set()
    for name in required:  # JSON Schema: "MUST be unique"; a million repeats of one took the engine 2 s
        if name in seen:
            raise TemplateError(f"{where}: {path}.required names {_short(name)} more than once")
        seen.add(name)
    if "enum" in schema and not isinstance(schema["enum"], list):
        raise TemplateError(f"{where}: {path}.enum must be a list of values")
    if "additionalProperties" in schema and not isinstance(schema["additionalProperties"], bool):
        raise TemplateError(
            f"{where}: {path}.additionalProperties must be true or false (a schema there is not supported)"
        )
    for key in ("title", "description"):
        if key in schema and not isinstance(schema[key], str):
            raise TemplateError(f"{where}: {path}.{key} must be text")


def _same_json(a: Any, b: Any) -> bool:
    """JSON equality: Python's ``==`` says ``True == 1`` and ``False == 0.0``, so ``enum: [1]`` let
    ``true`` through (and ``enum: [false]`` a ``0``) wherever a reply is validated, not constrained."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_json(a[key], b[key]) for key in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b))
    return a == b


def _is_type(value: Any, kind: str) -> bool:
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    if kind == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES[kind])


class _Enum:
    """An ``enum`` ready for many membership tests: its text, number, boolean and null values in a set.

    A reply's array of 20,000 items under an enum of 2,000 values was compared one pair at a
    time (and the enum written out for each miss): 22 s after the reply had ended. Keys keep
    JSON's equality (:func:`_same_json`): ``True`` and ``1`` are apart, ``1`` and ``1.0`` are one.
    """

    def __init__(self, choices: list[Any]) -> None:
        self.scalars = {_scalar_key(choice) for choice in choices if _is_scalar(choice)}
        self.others = [choice for choice in choices if not _is_scalar(choice)]  # arrays and objects
        self.shown = _short(choices, 120)

    def __contains__(self, value: Any) -> bool:
        if _is_scalar(value):
            return _scalar_key(value) in self.scalars
        return any(_same_json(value, choice) for choice in self.others)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float))  # bool is an int


def _scalar_key(value: Any) -> tuple[str, Any]:
    return ("bool" if isinstance(value, bool) else "number" if isinstance(value, (int, float)) else "text", value)


def validate(
    value: Any, schema: dict[str, Any], path: str = "$", _enums: dict[int, _Enum] | None = None
) -> list[str]:
    """Every way ``value`` violates ``schema``, as ``path: problem`` strings (empty if valid)."""
    problems: list[str] = []
    enums = {} if _enums is None else _enums  # one _Enum per enum list for the whole reply
    kinds = schema.get("type")
    if kinds is not None:
        names = [kinds] if isinstance(kinds, str) else list(kinds)
        if not any(_is_type(value, kind) for kind in names):
            return [f"{path}: expected {' or '.join(names)}, got {type(value).__name__}"]
    if isinstance(schema.get("enum"), list):
        enum = enums.get(id(schema["enum"]))
        if enum is None:
            enum = enums[id(schema["enum"])] = _Enum(schema["enum"])
        if value not in enum:
            problems.append(f"{path}: {_short(value)} is not one of {enum.shown}")
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
                problems.extend(validate(value[name], sub, f"{path}.{name}", enums))
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
                problems.extend(validate(item, schema["items"], f"{path}[{index}]", enums))
    return problems

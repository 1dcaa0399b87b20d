"""Round 8 (second wave): schemas that crashed, checked less than they said, or failed only after a model loaded.

Each case is a schema a user gave ``--schema`` (or a template's ``output``):
before these fixes a list of ``properties`` was a Python traceback, a string
``enum`` turned membership into a substring test on the validation-only path,
``minimum: 1e400`` (infinity) or ``10**20`` and ``maxLength: 1e12`` reached
the constraint engine and failed only after the model had loaded (one of them
as "the llama-cpp backend failed to generate: ValueError"), and a schema no
JSON can match was refused only after loading, or a huge one took seconds.
"""

from __future__ import annotations

from typing import Any

import pytest

from assistant.errors import AssistantError, ConfigError, TemplateError
from assistant.structured.concise import resolve_schema
from assistant.structured.schema import MAX_SUBSCHEMAS, check_schema, validate


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"properties": ["a"]}, "properties must be a mapping"),
        ({"type": "string", "enum": "abc"}, "enum must be a list"),
        ({"type": "object", "required": "a"}, "required must be a list of property names"),
        ({"type": "object", "required": [1]}, "required must be a list of property names"),
        ({"type": "object", "additionalProperties": {"type": "integer"}}, "additionalProperties must be true or false"),
        ({"type": "object", "additionalProperties": "no"}, "additionalProperties must be true or false"),
        ({"type": 5}, "type must be a type name or a list"),
        ({"type": [["string"]]}, "unknown type"),
        ({"type": {"string": 1}}, "type must be a type name or a list"),
        ({"type": "string", "title": ["x"]}, "title must be text"),
        ({"type": "integer", "minimum": float("inf")}, "minimum must be a number from"),
        ({"type": "number", "maximum": float("nan")}, "maximum must be a number from"),
        ({"type": "integer", "minimum": -(10**29)}, "minimum must be a number from"),
        ({"type": "string", "maxLength": 10**12}, "maxLength must be a whole number from 0 to"),
        ({"type": "array", "minItems": 2**40}, "minItems must be a whole number from 0 to"),
    ],
)
def test_malformed_keywords_are_one_error_when_the_schema_is_checked(schema: dict[str, Any], message: str) -> None:
    with pytest.raises(TemplateError, match=message) as caught:
        check_schema("test", schema)
    assert "\n" not in str(caught.value)
    assert len(str(caught.value)) < 300  # a huge number is shortened, not quoted whole


def test_a_string_enum_never_becomes_a_substring_test() -> None:
    # What the validation-only path (a server that cannot constrain) did with {"enum": "abc"}:
    # "b" passed because "b" in "abc". Now the schema never gets that far.
    with pytest.raises(TemplateError):
        check_schema("test", {"type": "string", "enum": "abc"})
    assert validate("b", {"type": "string", "enum": ["abc"]})  # a list enum still checks membership


def test_inline_json_with_infinity_is_refused_before_a_model_loads() -> None:
    with pytest.raises(TemplateError, match="not inf"):
        resolve_schema('{"type": "integer", "maximum": 1e400}')


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        (
            '{"type":"object","properties":{"a":{"type":"string"}},"required":["b"],"additionalProperties":false}',
            "required property 'b' is unsatisfiable",
        ),
        ('{"type":"string","enum":[1,2]}', "incompatible types"),
        ('{"enum":[]}', "Unsatisfiable"),
        ('{"type":"integer","minimum":1.5,"maximum":1.7}', "contains no integer"),
    ],
)
def test_a_schema_no_json_can_match_is_refused_when_given(schema: str, message: str) -> None:
    """No backend is involved: these were found only after the model had loaded (a second or more)."""
    with pytest.raises(ConfigError, match=message) as caught:
        resolve_schema(schema)
    assert str(caught.value).startswith("--schema: the JSON schema cannot be compiled")


def test_an_engine_error_that_quotes_a_regex_is_one_bounded_line() -> None:
    # llguidance's own message here is several lines quoting a regex of thousands of characters.
    with pytest.raises(ConfigError) as caught:
        resolve_schema('{"type":"number","maximum":-1e-300}')
    text = str(caught.value)
    assert "\n" not in text and len(text) < 300 and text.endswith("...")


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(MAX_SUBSCHEMAS + 1)}},
        {"type": "string", "enum": [f"v{i}" for i in range(MAX_SUBSCHEMAS + 1)]},
        {"type": "array", "items": {"enum": list(range(MAX_SUBSCHEMAS // 2 + 1)) * 2}},
    ],
)
def test_a_schema_too_large_to_compile_in_time_is_refused_at_once(schema: dict[str, Any]) -> None:
    """10,000 optional properties took the engine 5 s to compile; this refusal counts, it does not compile."""
    with pytest.raises(TemplateError, match=f"more than {MAX_SUBSCHEMAS}"):
        check_schema("test", schema)


def test_a_shared_sub_schema_is_counted_each_time_it_is_reached() -> None:
    # YAML aliases give one dict many parents; counting visits bounds the walk (2**40 paths here).
    node: dict[str, Any] = {"type": "string"}
    for _ in range(40):
        node = {"type": "object", "properties": {"a": node, "b": node}}
    with pytest.raises(TemplateError, match="sub-schemas"):
        check_schema("test", node)


def test_bounds_at_the_limits_are_still_accepted_and_compile() -> None:
    schema = resolve_schema(
        '{"type":"object","properties":{"n":{"type":"integer","minimum":-1e15,"maximum":1e15},'
        '"s":{"type":"string","minLength":0,"maxLength":1000000}},"required":["n","s"]}'
    )
    assert schema["properties"]["n"]["maximum"] == 1e15
    check_schema("test", {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(500)}})


def test_errors_from_resolving_are_assistant_errors() -> None:
    """The CLI turns AssistantError into one line; a TypeError or AttributeError was a traceback."""
    for bad in ('{"properties":["a"]}', '{"type":5}', '{"type":[["x"]]}', '{"items":[{"type":"string"}]}'):
        with pytest.raises(AssistantError):
            resolve_schema(bad)


@pytest.mark.parametrize(
    ("value", "choices", "ok"),
    [
        (True, [1], False),
        (1, [True], False),
        (0, [False], False),
        (False, [0.0], False),
        ({"a": True}, [{"a": 1}], False),
        ([1, True], [[1, 1]], False),
        (1, [1.0], True),  # one JSON number
        ({"a": [False]}, [{"a": [False]}], True),
        ("x", ["x", 1], True),
    ],
)
def test_enum_compares_as_json_not_as_python(value: Any, choices: list[Any], ok: bool) -> None:
    """The validation-only path (constrain: false, servers that cannot constrain) let ``true`` match ``enum: [1]``."""
    assert (validate(value, {"enum": choices}) == []) is ok


@pytest.mark.parametrize(
    "text",
    [
        '{"type": "string", "maxLength": 5, "type": "integer"}',
        '{"type": "object", "properties": {"a": {"type": "string"}, "a": {"type": "integer"}}}',
    ],
)
def test_a_key_given_twice_in_a_json_schema_is_refused(text: str, tmp_path: Any) -> None:
    """Like the concise syntax's repeated field: json.loads kept the last one silently."""
    with pytest.raises(ConfigError, match="given twice"):
        resolve_schema(text)
    path = tmp_path / "dup.schema.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="given twice"):
        resolve_schema(str(path))


@pytest.mark.parametrize("text", ["NaN", '{"a": Infinity}', "[-Infinity]"])
def test_a_validated_reply_with_nan_or_infinity_is_not_json(text: str) -> None:
    """Python's json reader accepted them, and ``--json`` then printed ``"object": NaN``: invalid JSON."""
    from assistant.structured.output import check_reply

    value, problem = check_reply(text, "stop", {})
    assert value is None and problem is not None and "is not JSON" in problem


def test_a_validated_reply_nested_past_the_recursion_limit_is_an_error_not_a_crash() -> None:
    from assistant.structured.output import check_reply

    value, problem = check_reply("[" * 100_000 + "]" * 100_000, "stop", {"type": "array"})
    assert value is None and problem is not None and "nests too deeply" in problem


def test_a_token_the_constraint_refuses_is_a_one_line_error() -> None:
    """llguidance's own message for a refused token spans lines; every engine error is now one bounded line."""
    from assistant.errors import BackendError
    from assistant.structured.constraint import ConstraintVocabulary

    pieces = [bytes([b]) for b in range(256)] + [b""]
    control = [""] * 256 + ["<|im_end|>"]
    vocab = ConstraintVocabulary(pieces, control, [256], 257, lambda text: list(text.encode("utf-8")))
    constraint = vocab.start({"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]})
    with pytest.raises(BackendError) as caught:
        constraint.advance(ord("x"))  # a document cannot start with x
    text = str(caught.value)
    assert "\n" not in text and len(text) < 300


def test_a_value_outside_a_long_enum_is_a_short_problem() -> None:
    """The problem quoted every allowed value and the whole reply value: one line of many KB."""
    problems = validate("z" * 5000, {"enum": [f"value number {i}" for i in range(1000)]})
    assert len(problems) == 1 and len(problems[0]) < 250

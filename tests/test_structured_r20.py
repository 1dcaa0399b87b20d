"""Round 20, structured output and the Python API's non-session parts."""

from __future__ import annotations

import pytest

from assistant.errors import AssistantError, ConfigError
from assistant.types import GenerationParams

# ---- 0. the stop-sequence limits of -o and templates apply to the Python API too ----------------------------------


def test_too_many_stop_sequences_through_the_python_api_are_one_line() -> None:
    """GenerationParams(stop=[100,000 texts]) was taken, and slowed every reply with no word said."""
    assert GenerationParams(stop=[f"s{i}" for i in range(1000)]).stop[-1] == "s999"
    with pytest.raises(ConfigError) as caught:
        GenerationParams(stop=[f"s{i}" for i in range(1001)])
    assert str(caught.value) == "stop gives 1,001 stop sequences; at most 1,000 are taken"


def test_stop_text_past_64_kib_through_the_python_api_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^stop: the stop sequences hold more than 64 KiB"):
        GenerationParams(stop="x" * 70_000)
    with pytest.raises(ConfigError, match=r"^stop: the stop sequences hold more than 64 KiB"):
        GenerationParams().replace(stop=["x" * 40_000, "y" * 40_000])


# ---- 1. required names count against the schema's size, and are unique -------------------------------------------


def test_required_names_without_a_property_count_against_the_schema_limit() -> None:
    """Each is a key the engine must write: 1,000,000 of them took llguidance 140 s to refuse (5,000 to build)."""
    from assistant.structured.schema import MAX_SUBSCHEMAS

    many = {"type": "object", "required": [f"p{i}" for i in range(5_000)]}
    with pytest.raises(ConfigError) as caught:
        GenerationParams(json_schema=many)
    assert str(caught.value) == (
        f"json_schema: the schema has more than {MAX_SUBSCHEMAS} sub-schemas "
        "(properties, items and required names without a property)"
    )
    # names that are properties cost nothing more: 1,999 properties, all required, still pass
    names = [f"p{i}" for i in range(MAX_SUBSCHEMAS - 1)]
    listed = {"type": "object", "properties": {n: {"type": "string"} for n in names}, "required": names}
    assert GenerationParams(json_schema=listed).json_schema is listed


def test_a_required_name_given_twice_is_refused_naming_it() -> None:
    """JSON Schema says required names MUST be unique; a million repeats of one took the engine 2 s."""
    from assistant.errors import TemplateError
    from assistant.structured.schema import check_schema

    with pytest.raises(ConfigError, match=r"^json_schema: schema\.required names 'a' more than once$"):
        GenerationParams(json_schema={"type": "object", "properties": {"a": {}}, "required": ["a"] * 1_000_000})
    with pytest.raises(TemplateError, match=r"^t: schema\.properties\.x\.required names 'b' more than once$"):
        check_schema("t", {"properties": {"x": {"properties": {"b": {}}, "required": ["b", "c", "b"]}}})


# ---- 2. numbers Python cannot hold as written, in a reply or a schema ---------------------------------------------


def test_a_reply_number_past_the_float_range_is_refused_not_read_as_infinity() -> None:
    """``1e999`` under ``type: number`` was taken as inf, and ``--json`` printed it back as ``Infinity``."""
    from assistant.structured.output import check_reply

    assert check_reply("[1.5, 1e308]", "stop", {"type": "array"}) == ([1.5, 1e308], None)
    for text in ("1e999", '{"a": [-1e400]}'):
        value, problem = check_reply(text, "stop", None)
        assert value is None
        assert problem is not None and problem.startswith("the reply's JSON cannot be read: the number ")
        assert problem.endswith("e999 is too large to read") or problem.endswith("e400 is too large to read")


def test_a_reply_integer_of_5000_digits_is_an_error_line_not_a_traceback() -> None:
    """Python refuses to read integers past 4,300 digits with a ValueError no reader caught."""
    from assistant.structured.output import check_reply

    value, problem = check_reply("1" * 5000, "stop", {"type": "integer"})
    assert (value, problem) == (
        None,
        "the reply's JSON cannot be read: the number 11111111111111111111... (5,000 characters) is too large to read",
    )
    assert check_reply("1" * 4000, "stop", {"type": "integer"})[0] == int("1" * 4000)


def test_a_schema_with_a_5000_digit_number_is_a_config_error() -> None:
    from assistant.structured.concise import resolve_schema

    with pytest.raises(ConfigError, match=r"^--schema \(inline JSON\): the number 1{20}\.\.\. \(5,000 characters\)"):
        resolve_schema('{"type": "integer", "maximum": ' + "1" * 5000 + "}")
    with pytest.raises(AssistantError, match=r"^--schema: schema\.maximum must be a number .* not inf$"):
        resolve_schema('{"type": "number", "maximum": 1e999}')  # as before: refused naming its place


# ---- 3. checking a long reply against a large enum ------------------------------------------------------------------


def test_enum_membership_is_a_lookup_not_a_comparison_with_every_value(monkeypatch: pytest.MonkeyPatch) -> None:
    """20,000 items under a 2,000-value enum took 22 s to check (40 million comparisons) after the reply ended."""
    from assistant.structured import schema as schema_module

    compared: list[int] = []
    real = schema_module._same_json

    def counting(a: object, b: object) -> bool:
        compared.append(1)
        return real(a, b)

    monkeypatch.setattr(schema_module, "_same_json", counting)
    enum = {"type": "array", "items": {"enum": [f"v{i}" for i in range(200)] + [1, False, None]}}
    assert schema_module.validate([f"v{i % 200}" for i in range(400)] + [1.0, False, None], enum) == []
    problems = schema_module.validate(["zz", 0, True, "None"], enum)
    assert [p.split(":")[0] for p in problems] == ["$[0]", "$[1]", "$[2]", "$[3]"]  # JSON's equality is kept
    assert compared == []  # text, numbers, booleans and null are looked up
    # arrays and objects still compare by JSON equality, with only the enum's arrays and objects
    assert schema_module.validate([[1.0, {"a": True}]], {"items": {"enum": ["x", [1, {"a": True}]]}}) == []
    assert schema_module.validate([[1, {"a": 1}]], {"items": {"enum": ["x", [1, {"a": True}]]}}) != []

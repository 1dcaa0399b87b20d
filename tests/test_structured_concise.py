"""The schema a user types (#18): llm's concise syntax, ``--schema-multi``, inline JSON, files, ``t:NAME``.

The examples are llm's own documented ones (docs/schemas.md of simonw/llm), so
a schema written for llm means the same here; where llm quietly accepts a typo
(an unknown type becomes a string) this parser refuses it by name.
"""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant.errors import ConfigError, TemplateError
from assistant.structured.concise import CONCISE_TYPES, concise_schema, multi_schema, resolve_schema
from assistant.structured.output import check_reply
from assistant.structured.schema import check_schema, validate


def test_llm_documented_examples() -> None:
    assert concise_schema("name, age int, one_sentence_bio") == {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}, "one_sentence_bio": {"type": "string"}},
        "required": ["name", "age", "one_sentence_bio"],
        "additionalProperties": False,
    }
    described = concise_schema("name: the person's name, age int: their age, bio: a short bio")
    assert described["properties"] == {
        "name": {"type": "string", "description": "the person's name"},
        "age": {"type": "integer", "description": "their age"},
        "bio": {"type": "string", "description": "a short bio"},
    }
    # Newline-separated: descriptions may then hold commas (and colons after the first).
    lines = concise_schema("\nname: the person's name\nage int: their age\nbio: a short bio, no more than three: sentences\n")
    assert lines["properties"]["bio"] == {"type": "string", "description": "a short bio, no more than three: sentences"}
    assert lines["required"] == ["name", "age", "bio"]


def test_every_concise_type() -> None:
    schema = concise_schema("a str, b int, c float, d bool")
    assert [p["type"] for p in schema["properties"].values()] == ["string", "integer", "number", "boolean"]


def test_multi_wraps_in_an_items_array_as_llm_does() -> None:
    one = concise_schema("name, age int")
    assert multi_schema(one) == {
        "type": "object",
        "properties": {"items": {"type": "array", "items": one}},
        "required": ["items"],
        "additionalProperties": False,
    }
    assert resolve_schema("name, age int", multi=True) == multi_schema(one)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("age integer", "unknown type 'integer'"),
        ("name, name int", "'name' is given twice"),
        ("name, : a description", "no name before its ':'"),
        ("full name str", "more than a name and a type"),
        (" , ,\t", "names no field"),
    ],
)
def test_mistakes_llm_would_accept_silently_are_refused(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        concise_schema(text)


def test_resolve_inline_json_file_and_template(tmp_path: Path, user_templates: Path, write_file: Any) -> None:
    inline = '{"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}'
    assert resolve_schema(inline) == json.loads(inline)
    path = tmp_path / "dog.schema.json"
    path.write_text(inline)
    assert resolve_schema(str(path)) == json.loads(inline)
    write_file(
        user_templates,
        "dogs.jinja",
        """
        ---
        output: {type: json, schema: {type: object, properties: {name: {type: string}}}}
        ---
        {{ input }}
        """,
    )
    assert resolve_schema("t:dogs") == {"type": "object", "properties": {"name": {"type": "string"}}}


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        ('{"type": "object", "pattern": "x"}', TemplateError, "unsupported schema keyword 'pattern'"),
        ('{"type": "object", "properties": {"a": {"format": "date"}}}', TemplateError, "properties.a: unsupported schema keyword 'format'"),
        ('{"type": "thing"}', TemplateError, "unknown type 'thing'"),
        ('{"type": ', ConfigError, "not valid JSON"),
        ("[1, 2]", ConfigError, "must be a JSON object"),
        ("missing/dog.json", ConfigError, "does not exist"),
        ("", ConfigError, "needs a schema"),
    ],
)
def test_resolve_rejects_what_cannot_be_honoured(value: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        resolve_schema(value)


def test_a_json_file_that_is_not_a_schema_object(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="must be a JSON object"):
        resolve_schema(str(path), option="--schema-multi")


def test_check_reply_refuses_a_cut_document_even_when_it_parses() -> None:
    schema = concise_schema("n int")
    assert check_reply('{"n": 3}', "stop", schema) == ({"n": 3}, None)
    assert check_reply('{"n": 3}', "length", schema)[1].startswith("the reply stopped at max_tokens")
    assert check_reply('{"n": ', "length", schema)[0] is None
    assert "does not match the schema: $.n: expected integer" in (check_reply('{"n": "x"}', "stop", schema)[1] or "")
    assert "not one JSON document" in (check_reply('Sure! {"n": 3}', "stop", schema)[1] or "")


# ---- property: any concise definition is a valid, checked object schema -----------------

NAMES = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=12)
DESCRIPTIONS = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r,"), max_size=30
).filter(lambda d: d.strip() == d)
FIELDS = st.lists(
    st.tuples(NAMES, st.sampled_from([None, *CONCISE_TYPES]), st.one_of(st.none(), DESCRIPTIONS)),
    min_size=1,
    max_size=8,
    unique_by=lambda field: field[0],
)


def _write(fields: list[tuple[str, str | None, str | None]], newline: bool) -> str:
    parts = []
    for name, kind, description in fields:
        head = f"{name} {kind}" if kind else name
        parts.append(f"{head}: {description}" if description is not None else head)
    return ("\n" if newline else ", ").join(parts) + ("\n" if newline else "")


@given(FIELDS, st.booleans())
def test_concise_round_trip(fields: list[tuple[str, str | None, str | None]], newline: bool) -> None:
    text = _write(fields, newline)
    schema = concise_schema(text)
    check_schema("test", schema)
    assert schema["required"] == [name for name, _, _ in fields]
    for name, kind, description in fields:
        prop = schema["properties"][name]
        assert prop["type"] == CONCISE_TYPES[kind or "str"]
        assert prop.get("description") == (description or None)
    example = {name: {"string": "x", "integer": 1, "number": 1.5, "boolean": True}[p["type"]]
               for name, p in schema["properties"].items()}
    assert validate(example, schema) == []
    assert validate({}, schema) == [f"$: missing required property {name!r}" for name, _, _ in fields]

"""``prompt --schema``/``--schema-multi``, templates with a schema, and batches (#18), on the fake backend.

The fake constrains honestly: under a schema it writes a document matching it
(strings from its echo of the prompt), byte by byte, and ``max_tokens`` cuts it
like any engine. A fake made unable to constrain refuses a schema, so the front
ends must validate instead and say so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.backends.fake import FakeBackend, FakeBackendPlugin
from assistant.cli import main
from assistant.errors import NotSupportedError, TemplateError
from assistant.plugins import register_plugin
from assistant.structured.concise import concise_schema
from assistant.structured.schema import check_schema, validate
from assistant.templates import load_template, run_template
from assistant.types import GenerationParams
from tests.conftest import recorded_on_load

DOG = "name, age int, bio: a short biography"


def cli(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input)


def unconstrained(reply: str) -> list[FakeBackend]:
    """A fake that cannot constrain, replying ``reply`` (the last made one's ``reply`` is used for the next)."""
    made: list[FakeBackend] = []

    def factory() -> FakeBackend:
        return recorded_on_load(FakeBackend(reply=made[-1].reply if made else reply, constrained=False), made)

    register_plugin(FakeBackendPlugin(factory), name="fake-unconstrained")
    return made


def test_schema_prints_the_document_and_the_model_reads_the_schema(fakes: list[FakeBackend]) -> None:
    result = cli("prompt", "-b", "fake", "-m", "x", "--schema", DOG, "invent a dog")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"name": "Echo: invent a dog", "age": 4, "bio": "Echo: invent a dog"}
    (call,) = fakes[0].calls
    assert call["params"].json_schema == concise_schema(DOG)
    assert "matches this JSON Schema" in call["prompt"] and '"bio": {"type": "string", "description": "a short biography"}' in call["prompt"]


def test_json_includes_the_parsed_object(fakes: list[FakeBackend]) -> None:
    result = cli("prompt", "-b", "fake", "-m", "x", "--schema-multi", "name, legs int", "--json", "two cats")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["object"] == {"items": [{"name": "Echo: two cats", "legs": 3}]}  # legs: the words it read
    assert data["schema_error"] is None and data["finish_reason"] == "stop"
    assert json.loads(data["text"]) == data["object"]


def test_max_tokens_before_the_document_closes_is_an_error_not_an_object(fakes: list[FakeBackend]) -> None:
    result = cli("prompt", "-b", "fake", "-m", "x", "--schema", DOG, "-o", "max_tokens=12", "invent a dog")
    assert result.exit_code == 1
    assert result.stdout == ""  # nothing a pipe could take for the document
    assert result.stderr.strip().splitlines() == [
        "error: the reply stopped at max_tokens before the JSON document was complete; raise it with -o max_tokens=N"
    ]
    as_json = cli("prompt", "-b", "fake", "-m", "x", "--schema", DOG, "-o", "max_tokens=12", "--json", "dog")
    assert as_json.exit_code == 1
    data = json.loads(as_json.stdout)
    assert data["finish_reason"] == "length" and data["object"] is None and "max_tokens" in data["schema_error"]


def test_an_unsupported_keyword_fails_before_the_model_loads(fakes: list[FakeBackend]) -> None:
    result = cli("prompt", "-b", "fake", "-m", "x", "--schema", '{"type": "string", "pattern": "^a"}', "hi")
    assert result.exit_code == 1
    assert "unsupported schema keyword 'pattern'" in result.stderr
    assert fakes == []
    both = cli("prompt", "-b", "fake", "-m", "x", "--schema", "a", "--schema-multi", "a", "hi")
    assert both.exit_code == 2 and "not both" in both.output


def test_a_backend_that_cannot_constrain_gets_validation_and_a_note() -> None:
    made = unconstrained('{"name": "Rex", "age": 3, "bio": "A good dog."}')
    good = cli("prompt", "-b", "fake", "-m", "x", "--schema", DOG, "invent a dog")
    assert good.exit_code == 0, good.output
    assert json.loads(good.stdout) == {"name": "Rex", "age": 3, "bio": "A good dog."}
    assert "the reply is validated against the schema, not constrained" in good.stderr
    assert made[0].calls[0]["params"].json_schema is None
    made[0].reply = '{"name": "Rex", "age": "three"}'
    bad = cli("prompt", "-b", "fake", "-m", "x", "--schema", DOG, "invent a dog")
    assert bad.exit_code == 1 and bad.stdout == ""
    assert "error: the reply does not match the schema: $: missing required property 'bio'; $.age: expected integer" in bad.stderr


def test_the_fake_refuses_a_schema_it_was_made_unable_to_honour() -> None:
    backend = FakeBackend(constrained=False)
    backend.load("x")
    assert not backend.capabilities.constrained
    with pytest.raises(NotSupportedError):
        backend.complete("hi", GenerationParams(json_schema={"type": "object"}))


def test_constrained_stream_is_the_document_in_pieces_and_matches_complete() -> None:
    backend = FakeBackend()
    backend.load("x")
    params = GenerationParams(json_schema=concise_schema(DOG), temperature=0)
    chunks = list(backend.stream("a dog", params))
    assert len([c for c in chunks if c.text]) > 10
    text = "".join(c.text for c in chunks)
    assert chunks[-1].finish_reason == "stop"
    assert text == backend.complete("a dog", params).text
    assert set(json.loads(text)) == {"name", "age", "bio"}


# ---- templates ---------------------------------------------------------------------------

PERSON = """
---
variables: [input]
output:
  type: json
  schema:
    type: object
    required: [name, tags]
    properties:
      name: {type: string}
      tags: {type: array, items: {enum: [a, b]}, minItems: 2, maxItems: 3}
      kind: {enum: [cat, dog]}
%s---
{{ input }}
"""


def test_a_template_with_a_schema_is_constrained_by_itself(user_templates: Path, write_file: Any) -> None:
    write_file(user_templates, "person.jinja", PERSON % "")
    backend = FakeBackend(reply="Ada")
    backend.load("x")
    result = run_template("person", input="who?", backend=backend)
    assert result.ok, result.error
    assert result.answer == {"name": "Ada", "tags": ["a", "a"], "kind": "cat"}
    assert backend.calls[-1]["params"].json_schema == load_template("person").output.schema
    cut = run_template("person", input="who?", backend=backend, params={"max_tokens": 5})
    assert cut.answer is None and cut.finish_reason == "length" and "max_tokens" in (cut.error or "")


def test_constrain_false_opts_out(user_templates: Path, write_file: Any) -> None:
    write_file(user_templates, "free.jinja", PERSON % "  constrain: false\n")
    backend = FakeBackend(reply='Here: {"name": "Ada", "tags": ["b", "b"]}')
    backend.load("x")
    result = run_template("free", input="who?", backend=backend)
    assert backend.calls[-1]["params"].json_schema is None
    assert result.answer == {"name": "Ada", "tags": ["b", "b"]}
    assert load_template("free").to_dict()["output"]["constrain"] is False


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("output: {type: json, constrain: false}", "'constrain' only applies to type json with a 'schema'"),
        ("output: {type: json, schema: {type: object}, constrain: maybe}", "'constrain' must be true or false"),
        ("params: {json_schema: {type: object}}", "json_schema is set by 'output"),
    ],
)
def test_template_settings_checked_when_loading(user_templates: Path, write_file: Any, output: str, message: str) -> None:
    write_file(user_templates, "bad.jinja", f"---\n{output}\n---\n{{{{ input }}}}\n")
    with pytest.raises(TemplateError, match=message):
        load_template("bad")


def test_cli_template_notes_when_the_schema_is_only_validated(user_templates: Path, write_file: Any) -> None:
    write_file(user_templates, "person.jinja", PERSON % "")
    unconstrained('{"name": "Ada", "tags": ["a", "b"]}')
    result = cli("prompt", "-t", "person", "-b", "fake", "-m", "x", "who?")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"name": "Ada", "tags": ["a", "b"]}
    assert result.stderr.count("not constrained") == 1


def test_chain_of_thought_json_is_validated_with_a_note(
    fakes: list[FakeBackend], user_templates: Path, write_file: Any
) -> None:
    write_file(
        user_templates,
        "think.jinja",
        """
        ---
        strategy: chain-of-thought
        variables: [input]
        output: {type: json, schema: {type: object}}
        ---
        {{ input }}
        """,
    )
    result = cli("prompt", "-t", "think", "-b", "fake", "-m", "x", "hi")
    assert "reasons before its answer line" in result.stderr
    assert fakes[0].calls[0]["params"].json_schema is None


def test_t_with_schema_makes_a_template_answer_in_json(fakes: list[FakeBackend]) -> None:
    result = cli("prompt", "-t", "chat", "--schema", "word", "-b", "fake", "-m", "x", "hello")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"word": "Echo: hello"}
    choice = cli("prompt", "-t", "few-shot-sentiment", "--schema", "word", "-b", "fake", "-m", "x", "great")
    assert choice.exit_code == 1 and "takes no --schema" in choice.stderr


# ---- batches -----------------------------------------------------------------------------


def _rows(tmp_path: Path, *texts: str) -> Path:
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts, 1)))
    return path


def test_schema_batch_writes_one_parsed_object_per_row(fakes: list[FakeBackend], tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    result = cli("prompt", "--schema", "name, words int", "--batch", str(_rows(tmp_path, "a cat", "two big dogs")),
                 "--out", str(out), "-b", "fake", "-m", "x")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["id"], r["answer"], r["error"]) for r in records] == [
        (1, {"name": "Echo: a cat", "words": 3}, None),
        (2, {"name": "Echo: two big dogs", "words": 4}, None),
    ]
    assert all(call["params"].json_schema == concise_schema("name, words int") for call in fakes[0].calls)
    assert "matches this JSON Schema" in fakes[0].calls[0]["prompt"]


def test_template_batch_rows_cut_at_max_tokens_fail_alone(
    fakes: list[FakeBackend], tmp_path: Path, user_templates: Path, write_file: Any
) -> None:
    write_file(user_templates, "person.jinja", PERSON % "")
    out = tmp_path / "out.jsonl"
    rows = _rows(tmp_path, "x", "a much longer input that makes the document too long for the budget given")
    result = cli("prompt", "-t", "person", "--batch", str(rows), "--out", str(out), "-b", "fake", "-m", "x",
                 "-o", "max_tokens=70")
    assert result.exit_code == 1, result.output
    first, second = (json.loads(line) for line in out.read_text().splitlines())
    assert first["error"] is None and first["answer"]["tags"] == ["a", "a"]
    assert second["answer"] is None and second["finish_reason"] == "length" and "max_tokens" in second["error"]


def test_batch_options_without_template_or_schema_still_refused(fakes: list[FakeBackend], tmp_path: Path) -> None:
    result = cli("prompt", "--batch", str(_rows(tmp_path, "a")), "-b", "fake", "-m", "x")
    assert result.exit_code == 2 and "need a template (-t NAME) or a --schema" in result.output


def test_json_schema_is_not_an_o_option(fakes: list[FakeBackend]) -> None:
    result = cli("prompt", "-b", "fake", "-m", "x", "-o", 'json_schema={"type": "object"}', "hi")
    assert result.exit_code == 1 and "use --schema SCHEMA" in result.stderr


# ---- the fake's constraint is honest: whatever the schema, its document matches ----------

LEAVES = st.one_of(
    st.sampled_from([{"type": t} for t in ("string", "integer", "number", "boolean", "null")]),
    st.lists(st.one_of(st.integers(-5, 5), st.text(max_size=4)), min_size=1, max_size=3).map(lambda e: {"enum": e}),
    st.just({"type": ["integer", "null"]}),
    st.tuples(st.integers(0, 4), st.integers(0, 6)).map(
        lambda t: {"type": "string", "minLength": t[0], "maxLength": t[0] + t[1]}
    ),
    st.tuples(st.sampled_from(["integer", "number"]), st.integers(-20, 20), st.integers(0, 9)).map(
        lambda t: {"type": t[0], "minimum": t[1], "maximum": t[1] + t[2]}
    ),
)
SCHEMAS = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.dictionaries(st.text("abcxyz", min_size=1, max_size=3), inner, max_size=4).flatmap(
            lambda props: st.fixed_dictionaries(
                {"type": st.just("object"), "properties": st.just(props),
                 "required": st.just(sorted(props)), "additionalProperties": st.just(False)}
            )
        ),
        st.tuples(inner, st.integers(0, 2), st.integers(0, 3)).map(
            lambda t: {"type": "array", "items": t[0], "minItems": t[1], "maxItems": max(t[1], t[2])}
        ),
    ),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None)
@given(SCHEMAS, st.text(max_size=20))
def test_the_fake_writes_a_matching_document_for_any_schema(schema: dict[str, Any], words: str) -> None:
    check_schema("test", schema)
    backend = FakeBackend(reply=words)
    backend.load("x")
    completion = backend.complete("hi", GenerationParams(json_schema=schema, max_tokens=4096))
    assert completion.finish_reason == "stop"
    assert validate(json.loads(completion.text), schema) == []

"""``prompt --schema`` on real models (#18): the default model through the CLI, and ``-b openai``
against llama-cpp-python's own server on loopback.

SmolLM2-135M left to itself rarely writes valid JSON for a schema; held to it
by the decoder, the reply parses and validates every time, and a budget too
small for the document is a clear error rather than half an object.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from assistant.structured.concise import concise_schema, multi_schema
from assistant.structured.schema import validate

from .conftest import run_cli
from .test_openai_server import LlamaServer, start_llama_server

pytestmark = pytest.mark.model

DOG = "name, age int, good bool"
"""Short fields: in a free-text field such as a biography the 135M model can repeat itself past any budget
(the document stays a valid prefix; the budget error below is what that looks like)."""
PEOPLE = {
    "type": "object",
    "required": ["people"],
    "properties": {
        "people": {
            "type": "array",
            "minItems": 1,
            "maxItems": 3,
            "items": {
                "type": "object",
                "required": ["name", "role"],
                "additionalProperties": False,
                "properties": {"name": {"type": "string"}, "role": {"enum": ["chef", "pilot", "teacher"]}},
            },
        }
    },
}


@pytest.mark.parametrize("temperature", ["0", "0.7"])
def test_prompt_schema_on_the_default_model_validates(smollm2_path: Path, temperature: str) -> None:
    result = run_cli("prompt", "--schema", DOG, "-o", f"temperature={temperature}", "-o", "seed=7",
                     "-o", "max_tokens=80", "--no-log", "Invent a cool dog.")
    assert result.returncode == 0, result.stderr
    value = json.loads(result.stdout)
    assert validate(value, concise_schema(DOG)) == []
    assert "not constrained" not in result.stderr


def test_prompt_schema_json_with_enums_and_arrays(smollm2_path: Path, tmp_path: Path) -> None:
    schema_file = tmp_path / "people.schema.json"
    schema_file.write_text(json.dumps(PEOPLE))
    result = run_cli("prompt", "--schema", str(schema_file), "--json", "-o", "temperature=0", "-o", "max_tokens=120",
                     "--no-log", "Ana cooks in a restaurant and Bo flies planes. List the people.")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["schema_error"] is None and data["finish_reason"] == "stop"
    assert validate(data["object"], PEOPLE) == [] and json.loads(data["text"]) == data["object"]


def test_a_budget_too_small_is_a_clear_error(smollm2_path: Path) -> None:
    result = run_cli("prompt", "--schema-multi", DOG, "-o", "temperature=0", "-o", "max_tokens=6", "--no-log",
                     "Invent three dogs.")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip().splitlines()[-1] == (
        "error: the reply stopped at max_tokens before the JSON document was complete; raise it with -o max_tokens=N"
    )


@pytest.fixture(scope="module")
def smollm2_server(smollm2_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    server = start_llama_server({"smollm2": smollm2_path}, tmp_path_factory.mktemp("srv"))
    yield server
    server.stop()


def test_openai_against_llama_cpp_server_validates(smollm2_server: LlamaServer) -> None:
    env: dict[str, Any] = {"ASSISTANT_OPENAI_BASE_URL": smollm2_server.base_url}
    two_dogs = multi_schema(concise_schema("name, age int"))
    two_dogs["properties"]["items"].update(minItems=2, maxItems=2)
    result = run_cli("prompt", "-b", "openai", "-m", "smollm2", "--schema", json.dumps(two_dogs), "--json",
                     "-o", "temperature=0", "-o", "max_tokens=120", "--no-log", "Invent two dogs.", env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["schema_error"] is None and json.loads(data["text"]) == data["object"]
    assert validate(data["object"], two_dogs) == [] and len(data["object"]["items"]) == 2
    assert "not constrained" not in result.stderr


def test_template_batch_with_a_schema_answers_every_row(smollm2_path: Path, tmp_path: Path, user_templates: Path) -> None:
    (user_templates / "review.jinja").write_text(
        "---\n"
        "variables: [input]\n"
        "system: Rate the review. Reply in JSON.\n"
        "output:\n"
        "  type: json\n"
        "  schema: {type: object, required: [mood, stars], additionalProperties: false,\n"
        "           properties: {mood: {enum: [happy, angry]}, stars: {type: integer}}}\n"
        "---\n"
        "{{ input }}\n"
    )
    rows = tmp_path / "reviews.jsonl"
    rows.write_text("".join(json.dumps({"text": t}) + "\n" for t in ("Loved it!", "Awful, broken on arrival.", "Fine.")))
    out = tmp_path / "out.jsonl"
    result = run_cli("prompt", "-t", "review", "--batch", str(rows), "--out", str(out), "-o", "temperature=0",
                     "-o", "max_tokens=40", "--no-log")
    assert result.returncode == 0, result.stderr
    assert "not constrained" not in result.stderr
    answers = [json.loads(line)["answer"] for line in out.read_text().splitlines()]
    assert len(answers) == 3
    for answer in answers:
        assert set(answer) == {"mood", "stars"} and answer["mood"] in ("happy", "angry")

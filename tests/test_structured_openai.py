"""``-b openai`` and JSON schemas (#18) against the scripted server: what goes over the wire, and refusals.

A server whose profile can hold a chat reply to a schema gets ``response_format``
in the shape it reads; one that cannot (TGI, an unknown server) refuses the
schema with a message saying the reply can only be validated, and the template
path then validates instead of sending it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from assistant.backends import load_backend
from assistant.backends.openai.backend import OpenAIBackend, estimate_tokens
from assistant.backends.openai.servers import PROFILES
from assistant.cli import main
from assistant.errors import NotSupportedError
from assistant.structured.concise import concise_schema
from assistant.templates import run_template
from assistant.types import GenerationParams, Message

from .openai_fake_server import DONE, FakeOpenAIServer, chat_chunk, fake_openai_server, sse  # noqa: F401 (the server fixture)

DOG = concise_schema("name, age int")
ASK = [Message("user", "invent a dog")]


def connect(fake: FakeOpenAIServer, owned_by: str, **options: Any) -> OpenAIBackend:
    fake.models("tiny", owned_by=owned_by)
    backend = load_backend("openai", "tiny", base_url=fake.base_url, progress=lambda _: None, **options)
    assert isinstance(backend, OpenAIBackend)
    return backend


def answer(*pieces: str, finish: str = "stop") -> Any:
    return sse([chat_chunk(p) for p in pieces] + [chat_chunk(None, finish), DONE])


@pytest.mark.parametrize(
    ("owned_by", "expected"),
    [
        ("vllm", {"type": "json_schema", "json_schema": {"name": "reply", "schema": DOG, "strict": True}}),
        ("llamacpp", {"type": "json_schema", "json_schema": {"name": "reply", "schema": DOG, "strict": True}}),
        ("library", {"type": "json_schema", "json_schema": {"name": "reply", "schema": DOG, "strict": True}}),
        ("me", {"type": "json_object", "schema": DOG}),  # llama-cpp-python reads its own shape
    ],
    ids=["vllm", "llama-server", "ollama", "llama-cpp-python"],
)
def test_the_request_carries_response_format(server: FakeOpenAIServer, owned_by: str, expected: Any) -> None:
    backend = connect(server, owned_by)
    assert backend.capabilities.constrained and backend.info()["constrained"] is True
    server.route("POST", "/v1/chat/completions", answer('{"name": "Rex",', ' "age": 3}'))
    completion = backend.complete(ASK, GenerationParams(temperature=0, json_schema=DOG))
    assert json.loads(completion.text) == {"name": "Rex", "age": 3}
    (body,) = server.bodies("/v1/chat/completions")
    assert body["response_format"] == expected
    server.requests.clear()
    backend.complete(ASK, GenerationParams(temperature=0))
    assert "response_format" not in server.bodies("/v1/chat/completions")[0]


def test_a_titled_schema_names_the_format() -> None:
    request = PROFILES["vllm"].schema_request({**DOG, "title": "A dog / record"})
    assert request["json_schema"]["name"] == "A_dog___record"


@pytest.mark.parametrize("server_name", ["tgi", "openai"])
def test_a_server_that_cannot_constrain_refuses_the_schema(server: FakeOpenAIServer, server_name: str) -> None:
    backend = connect(server, "someone", server=server_name)
    assert not backend.capabilities.constrained
    with pytest.raises(NotSupportedError, match="cannot constrain decoding to a JSON schema.*can only be validated"):
        backend.complete(ASK, GenerationParams(json_schema=DOG))
    assert server.bodies("/v1/chat/completions") == []


def test_raw_text_prompts_cannot_be_held_to_a_schema(server: FakeOpenAIServer) -> None:
    backend = connect(server, "vllm")
    with pytest.raises(NotSupportedError, match="only chat replies"):
        backend.complete("invent a dog:", GenerationParams(json_schema=DOG))


def test_template_on_a_server_that_cannot_constrain_validates_instead(
    server: FakeOpenAIServer, user_templates: Path, write_file: Any
) -> None:
    write_file(
        user_templates,
        "dog.jinja",
        """
        ---
        variables: [input]
        output: {type: json, schema: {type: object, required: [name], properties: {name: {type: string}}}}
        ---
        {{ input }}
        """,
    )
    backend = connect(server, "someone", server="tgi")
    server.route("POST", "/v1/chat/completions", answer('Sure: {"name": "Rex"}'))
    result = run_template("dog", input="a dog", backend=backend)
    assert result.ok and result.answer == {"name": "Rex"}
    assert "response_format" not in server.bodies("/v1/chat/completions")[0]


def test_cli_schema_against_the_scripted_server(server: FakeOpenAIServer) -> None:
    server.models("tiny", owned_by="vllm")
    server.route("POST", "/v1/chat/completions", answer('{"name": "Rex", "age": 3}'))
    result = CliRunner().invoke(
        main, ["prompt", "-b", "openai", "-m", "tiny", "-o", f"base_url={server.base_url}", "--schema", "name, age int",
               "--json", "invent a dog"],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["object"] == {"name": "Rex", "age": 3}
    body = server.bodies("/v1/chat/completions")[0]
    assert body["response_format"]["json_schema"]["schema"] == DOG
    assert "matches this JSON Schema" in body["messages"][0]["content"]
    # The server said "length": a cut document is an error, even from a constraining server.
    server.route("POST", "/v1/chat/completions", answer('{"name": "Re', finish="length"))
    cut = CliRunner().invoke(
        main, ["prompt", "-b", "openai", "-m", "tiny", "-o", f"base_url={server.base_url}", "--schema", "name, age int",
               "invent a dog"],
    )
    assert cut.exit_code == 1 and cut.stdout == "" and "stopped at max_tokens" in cut.stderr


def test_names_that_moved_out_of_backend_py_still_import() -> None:
    assert estimate_tokens("abcdefgh") == 2

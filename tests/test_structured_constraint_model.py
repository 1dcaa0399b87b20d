"""Constrained decoding on SmolLM2 with both local backends (issue #18).

50 varied prompts × 5 schemas (flat object, nested objects, arrays with
minItems/maxItems, enums, required vs optional) at temperature 0 and 0.7: every
reply parses and validates. Streaming gives the same text as ``complete``; a
cancel stops mid-document; ``max_tokens`` before the document closes is a
``length`` finish; per-token sampled probabilities include the schema's mask.
The same prompts and schemas are the benchmark's (benchmarks/constrained.py),
which also reports how often *free* replies are valid.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.backends import Backend, load_backend
from assistant.structured.schema import validate
from assistant.types import GenerationParams
from benchmarks.constrained import MAX_TOKENS, SCHEMAS, SUBJECTS, messages

pytestmark = pytest.mark.model

ENGINES = ("llama-cpp", "transformers")


@pytest.fixture(scope="module", params=ENGINES)
def backend(request: pytest.FixtureRequest, smollm2_path: Path) -> Iterator[Backend]:
    # One thread: on a shared CPU llama.cpp's spinning threads slow down tenfold when another job runs.
    loaded = load_backend(request.param, str(smollm2_path), n_ctx=1024, n_threads=1, progress=lambda _: None)
    assert loaded.capabilities.constrained
    yield loaded
    loaded.unload()


def _problems(text: str, schema: dict[str, Any]) -> list[str]:
    try:
        return validate(json.loads(text), schema)
    except ValueError as exc:
        return [f"not JSON: {exc}"]


@pytest.mark.parametrize("temperature", [0.0, 0.7])
def test_every_reply_parses_and_validates(backend: Backend, temperature: float) -> None:
    """Every reply closes within ``MAX_TOKENS`` as a document that parses and validates.

    The constraint decides what the model may write, not whether it stops: the
    schemas bound their strings and numbers (``maxLength``, ``maximum``), as a
    real schema should — unbounded, SmolLM2 at 0.7 wandered on inside a string in
    5 of 250 replies until ``max_tokens`` (a ``length`` finish, which the front
    ends turn into an error, never a truncated object).
    """
    invalid, unfinished = [], []
    for name, schema in SCHEMAS.items():
        for index, subject in enumerate(SUBJECTS):
            params = GenerationParams(temperature=temperature, max_tokens=MAX_TOKENS, json_schema=schema, seed=index)
            done = backend.complete(messages(name, subject), params)
            if done.finish_reason != "stop":
                assert done.finish_reason == "length" and _problems(done.text, schema)
                unfinished.append(f"{name} / {subject}: {done.text!r}")
            elif problems := _problems(done.text, schema):
                invalid.append(f"{name} / {subject}: {problems[:1]} {done.text!r}")
    cases = len(SCHEMAS) * len(SUBJECTS)
    assert not invalid, f"{len(invalid)} of {cases} finished replies are invalid:\n" + "\n".join(invalid[:10])
    assert not unfinished, f"{len(unfinished)} of {cases} hit max_tokens:\n" + "\n".join(unfinished[:10])


@pytest.mark.parametrize("temperature", [0.0, 0.7])
def test_streaming_gives_the_same_text_as_complete(backend: Backend, temperature: float) -> None:
    for name in ("nested", "optional"):
        params = GenerationParams(temperature=temperature, max_tokens=MAX_TOKENS, json_schema=SCHEMAS[name], seed=7)
        prompt = messages(name, SUBJECTS[3])
        chunks = list(backend.stream(prompt, params))
        done = backend.complete(prompt, params)
        assert "".join(chunk.text for chunk in chunks) == done.text
        assert chunks[-1].finish_reason == done.finish_reason == "stop"
        assert _problems(done.text, SCHEMAS[name]) == []


def test_cancel_stops_mid_document(backend: Backend) -> None:
    schema = SCHEMAS["nested"]
    params = GenerationParams(temperature=0, max_tokens=MAX_TOKENS, json_schema=schema)
    prompt = messages("nested", SUBJECTS[0])
    whole = backend.complete(prompt, params).text
    text, finish = "", None
    for seen, chunk in enumerate(backend.stream(prompt, params), start=1):
        text += chunk.text
        if seen == 4:
            backend.cancel()
        finish = chunk.finish_reason or finish
    assert finish == "cancelled"
    assert whole.startswith(text) and len(text) < len(whole)
    assert _problems(text, schema), "a cancelled reply is never a whole document"
    assert backend.complete(prompt, params).text == whole, "the next request is unaffected"


def test_max_tokens_before_the_document_closes_is_a_length_finish(backend: Backend) -> None:
    schema = SCHEMAS["nested"]
    done = backend.complete(messages("nested", SUBJECTS[1]), GenerationParams(max_tokens=6, json_schema=schema))
    assert done.finish_reason == "length"
    assert done.usage.completion_tokens == 6
    assert _problems(done.text, schema)


def test_a_document_closing_on_the_last_allowed_token_is_a_stop(backend: Backend) -> None:
    params = GenerationParams(temperature=0, max_tokens=MAX_TOKENS, json_schema=SCHEMAS["enums"])
    prompt = messages("enums", SUBJECTS[2])
    full = backend.complete(prompt, params)
    exact = backend.complete(prompt, params.replace(max_tokens=full.usage.completion_tokens))
    assert exact.text == full.text and exact.finish_reason == "stop"


def test_sampled_probabilities_include_the_mask(backend: Backend) -> None:
    schema = SCHEMAS["flat"]
    params = GenerationParams(temperature=0.7, max_tokens=MAX_TOKENS, json_schema=schema, logprobs=5, seed=1)
    done = backend.complete(messages("flat", SUBJECTS[5]), params)
    assert _problems(done.text, schema) == []
    assert done.logprobs and all(entry.p_sampled and entry.p_sampled > 0 for entry in done.logprobs)
    # The model's favourite first token is rarely '{"'; whatever the schema forbids has p_sampled 0.
    cut = [alt for entry in done.logprobs for alt in entry.top if alt.p_sampled == 0 and alt.logprob > entry.logprob]
    assert cut, "the schema overruled the model somewhere"
    for entry in done.logprobs:
        assert sum(alt.p_sampled or 0 for alt in entry.top) <= 1 + 1e-6


def test_constrained_and_free_requests_from_two_threads(backend: Backend) -> None:
    """On transformers a constrained request leaves the batch scheduler; both still finish correctly."""
    if backend.capabilities.max_parallel < 2:
        pytest.skip("this backend takes one request at a time")
    schema = SCHEMAS["arrays"]
    results: dict[str, Any] = {}

    def run(key: str, params: GenerationParams) -> None:
        results[key] = backend.complete(messages("arrays", SUBJECTS[8]), params)

    threads = [
        threading.Thread(target=run, args=("schema", GenerationParams(temperature=0, max_tokens=MAX_TOKENS, json_schema=schema))),
        threading.Thread(target=run, args=("free", GenerationParams(temperature=0, max_tokens=24))),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert _problems(results["schema"].text, schema) == []
    assert results["free"].usage.completion_tokens > 0


def test_the_engine_process_carries_the_schema(smollm2_path: Path) -> None:
    from assistant.backends.engine.process import load_in_engine_process

    backend = load_in_engine_process("llama-cpp", str(smollm2_path), n_ctx=1024, n_threads=1)
    try:
        assert backend.capabilities.constrained and backend.capabilities.engine_process
        schema = SCHEMAS["nested"]
        params = GenerationParams(temperature=0.7, max_tokens=MAX_TOKENS, json_schema=schema, seed=2)
        done = backend.complete(messages("nested", SUBJECTS[4]), params)
        assert done.finish_reason == "stop" and _problems(done.text, schema) == []
    finally:
        backend.unload()

"""Batched decoding on the transformers backend: concurrent requests share forwards, outputs unchanged.

The scheduler's own rules are checked without a model; the real-model tests
(SmolLM2 and Gemma 3) hold every row of a batch to the output it gets alone.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from assistant.backends import load_backend
from assistant.backends.torch.batch_scheduler import BatchScheduler, Request
from assistant.batch import Row
from assistant.templates import template_from_string
from assistant.templates.batch import run_batch
from assistant.types import Completion, GenerationParams, Message


# ---- the scheduler, no model ----------------------------------------------------------------
def _echo_batches(sizes: list[int]) -> Any:
    def run(requests: list[Request]) -> None:
        sizes.append(len(requests))
        time.sleep(0.05)
        for request in requests:
            request.put(len(request.prompt_ids))
            request.finish()

    return run


def test_a_lone_request_runs_alone() -> None:
    sizes: list[int] = []
    scheduler = BatchScheduler(_echo_batches(sizes), max_batch=8)
    got = list(scheduler.generate(Request([1, 2], GenerationParams(), 4), lambda: iter(["alone"])))
    assert got == ["alone"] and sizes == []


def test_requests_that_come_together_are_batched() -> None:
    sizes: list[int] = []
    scheduler = BatchScheduler(_echo_batches(sizes), max_batch=4, gather_s=0.05)
    results: dict[int, list[Any]] = {}
    barrier = threading.Barrier(6)

    def one(n: int) -> None:
        barrier.wait()
        results[n] = list(scheduler.generate(Request([0] * n, GenerationParams(), 4), lambda: iter(["alone"])))

    threads = [threading.Thread(target=one, args=(n,)) for n in range(1, 7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(results) == list(range(1, 7))
    assert all(got in (["alone"], [n]) for n, got in results.items())  # each caller gets its own tokens
    assert sum(sizes) + sum(r == ["alone"] for r in results.values()) == 6
    assert max(sizes) > 1 and max(sizes) <= 4  # batched, never past max_batch


def test_an_engine_error_reaches_every_caller_of_the_batch() -> None:
    def broken(requests: list[Request]) -> None:
        raise RuntimeError("engine fell over")

    scheduler = BatchScheduler(broken, max_batch=4, gather_s=0.05)
    errors: list[str] = []
    barrier = threading.Barrier(3)

    def one() -> None:
        barrier.wait()
        try:
            list(scheduler.generate(Request([1], GenerationParams(), 4), lambda: iter(["alone"])))
        except RuntimeError as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=one) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert errors and set(errors) == {"engine fell over"}


# ---- real models -------------------------------------------------------------------------------
PROMPTS = [
    ("What is the capital of France?", GenerationParams(temperature=0, max_tokens=24)),
    ("Write a haiku about bread.", GenerationParams(temperature=0, max_tokens=24, stop=["\n"])),
    ("Hi", GenerationParams(temperature=0, max_tokens=5)),  # leaves the batch first
    ("List three colors and say why each one is nice.", GenerationParams(temperature=0, max_tokens=48)),
    ("Tell me a story about a cat.", GenerationParams(temperature=0.8, top_k=40, max_tokens=20, seed=7)),
    ("Name a fruit.", GenerationParams(temperature=0.7, top_p=0.9, max_tokens=12, seed=3, repeat_penalty=1.3)),
]


@pytest.fixture(scope="module", params=["smollm2", "gemma3-270m"])
def engine(request: pytest.FixtureRequest) -> Iterator[Any]:
    path: Path = request.getfixturevalue("smollm2_path" if request.param == "smollm2" else "gemma_path")
    backend = load_backend("transformers", str(path), n_ctx=512, progress=lambda *_: None)
    yield backend
    backend.unload()


def _concurrently(engine: Any, jobs: list[tuple[str, GenerationParams]]) -> list[Completion]:
    results: list[Completion | None] = [None] * len(jobs)
    barrier = threading.Barrier(len(jobs))

    def one(index: int) -> None:
        text, params = jobs[index]
        barrier.wait()
        results[index] = engine.complete([Message("user", text)], params)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert all(r is not None for r in results)
    return results  # type: ignore[return-value]


@pytest.mark.model
def test_every_row_of_a_batch_matches_running_it_alone(engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert engine.info()["decoder"] == "native" and engine.capabilities.max_parallel > 1
    alone = [engine.complete([Message("user", text)], params) for text, params in PROMPTS]
    sizes: list[int] = []
    run = engine._scheduler._run_batch
    monkeypatch.setattr(engine._scheduler, "_run_batch", lambda requests: (sizes.append(len(requests)), run(requests)))
    together = _concurrently(engine, PROMPTS)
    assert sizes and max(sizes) >= 3, "the requests should have shared forwards"
    for single, batched, (text, _) in zip(alone, together, PROMPTS):
        assert batched.token_ids == single.token_ids, text
        assert batched.text == single.text and batched.finish_reason == single.finish_reason
    assert together[2].finish_reason == "length" and len(together[2].token_ids) == 5
    assert "\n" not in together[1].text


@pytest.mark.model
def test_a_template_batch_gives_the_same_results_in_parallel(engine: Any) -> None:
    template = template_from_string("---\nvariables: [input]\n---\nAnswer in one word: {{ input }}\n", "t")
    questions = ["What colour is the sky?", "What is 2 + 2?", "Capital of Italy?", "Opposite of hot?", "A baby cat is a?"]
    rows = [Row(n, {"text": q}, id=n) for n, q in enumerate(questions, 1)]
    params = GenerationParams(temperature=0, max_tokens=12)
    outputs = []
    for parallel in (1, 4):
        import io

        sink = io.StringIO()
        summary = run_batch(template, rows, engine, params=params, stdout=sink, parallel=parallel)
        assert summary.failed == 0
        outputs.append([line for line in sink.getvalue().splitlines()])
    import json

    def texts(lines: list[str]) -> list[tuple[int, str]]:
        return [(json.loads(line)["row"], json.loads(line)["output"]) for line in lines]

    assert texts(outputs[0]) == texts(outputs[1])


@pytest.mark.model
def test_batches_multiply_by_reordered_weights_when_memory_allows(
    engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a CPU the batched path uses oneDNN's reordered copy; without room for it, the decoder's own product."""
    import torch

    from assistant.backends.torch import native_batch

    decoder = engine._decoder
    saved = decoder.batch_matmul
    try:
        decoder.batch_matmul = None
        mm = native_batch.matmul_for_rows(decoder)
        assert mm != decoder._mm, "oneDNN's reordered weights should be used on this CPU"
        x = torch.randn(8, decoder.embed.shape[-1])
        for stored in (decoder.layers[0].wgu, decoder.lm_head):
            assert torch.allclose(mm(x, stored), decoder._mm(x, stored), rtol=1e-4, atol=1e-4)
        decoder.batch_matmul = None
        monkeypatch.setattr("assistant.models.context_size.available_memory", lambda: 1 << 20)
        assert native_batch.matmul_for_rows(decoder) == decoder._mm
    finally:
        decoder.batch_matmul = saved

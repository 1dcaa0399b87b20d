"""The backend protocol's promises, checked on real models through every local backend.

One suite, parametrized over backends: each backend must give the same
guarantees for the same model (greedy answers, streaming equals non-streaming,
scoring, overflow, cancel, bad files).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Iterator

import pytest

from assistant.backends import Backend, load_backend
from assistant.errors import ContextOverflowError, ModelLoadError
from assistant.types import GenerationParams, Message

pytestmark = pytest.mark.model

CONTRACT_BACKENDS = ["llama-cpp", "transformers"]
FRANCE = [Message("system", "You are a helpful assistant."), Message("user", "What is the capital of France?")]
GREEDY = GenerationParams(temperature=0, max_tokens=48)


@pytest.fixture(scope="module", params=CONTRACT_BACKENDS)
def smollm2(request: pytest.FixtureRequest, smollm2_path: Path) -> Iterator[Backend]:
    backend = load_backend(request.param, str(smollm2_path), n_ctx=512, progress=lambda _: None)
    yield backend
    backend.unload()


def test_greedy_france_mentions_paris(smollm2: Backend) -> None:
    assert "Paris" in smollm2.complete(FRANCE, GREEDY).text


def test_streamed_equals_non_streamed(smollm2: Backend) -> None:
    prompt = [Message("user", "Write three short sentences about the sea, with an emoji.")]
    streamed = list(smollm2.stream(prompt, GREEDY))
    whole = smollm2.complete(prompt, GREEDY)
    assert "".join(c.text for c in streamed) == whole.text
    assert streamed[-1].finish_reason == whole.finish_reason
    assert [t for c in streamed for t in c.token_ids] == whole.token_ids
    assert whole.usage.completion_tokens == len(whole.token_ids)
    assert streamed[-1].timings is not None and streamed[-1].timings.tokens_per_second


def test_score_prefers_paris(smollm2: Backend) -> None:
    paris, berlin = smollm2.score("The capital of France is", [" Paris", " Berlin"])
    assert paris > berlin
    # Scoring twice (KV cache reused) gives the same numbers.
    assert smollm2.score("The capital of France is", [" Paris", " Berlin"]) == pytest.approx([paris, berlin])


def test_score_matches_generation_logprob(smollm2: Backend) -> None:
    completion = smollm2.complete(
        "The capital of France is", GenerationParams(temperature=0, max_tokens=1, logprobs=3)
    )
    first = completion.logprobs[0]
    (score,) = smollm2.score("The capital of France is", [first.token])
    assert score == pytest.approx(first.logprob, abs=1e-3)
    assert first.top[0].token_id == first.token_id
    assert len(first.top) == 3


def test_generation_after_score_is_unaffected(smollm2: Backend) -> None:
    before = smollm2.complete(FRANCE, GREEDY).text
    smollm2.score("Completely different text", [" a", " b"])
    assert smollm2.complete(FRANCE, GREEDY).text == before


def test_prompt_longer_than_context_overflows(smollm2: Backend) -> None:
    with pytest.raises(ContextOverflowError) as info:
        smollm2.complete([Message("user", "word " * 2000)], GREEDY)
    assert info.value.context_length == smollm2.context_length
    assert info.value.prompt_tokens > smollm2.context_length


def test_cancel_stops_within_one_token(smollm2: Backend) -> None:
    prompt = [Message("user", "Write a long story about a cat who sails around the world.")]
    seen = 0
    final = None
    for chunk in smollm2.stream(prompt, GenerationParams(temperature=0, max_tokens=200)):
        if chunk.finish_reason:
            final = chunk
            break
        seen += len(chunk.token_ids)
        if seen == 3:
            smollm2.cancel()
    assert final is not None and final.finish_reason == "cancelled"
    assert final.usage is not None and final.usage.completion_tokens <= 4


def test_cancel_from_another_thread(smollm2: Backend) -> None:
    prompt = [Message("user", "Count from one to one hundred in words.")]
    started = threading.Event()
    chunks = []

    def consume() -> None:
        for chunk in smollm2.stream(prompt, GenerationParams(temperature=0, max_tokens=300)):
            chunks.append(chunk)
            started.set()

    worker = threading.Thread(target=consume)
    worker.start()
    assert started.wait(60)
    smollm2.cancel()
    worker.join(60)
    assert not worker.is_alive()
    assert chunks[-1].finish_reason == "cancelled"


def test_cancel_while_the_prompt_is_read_stops_between_two_chunks(smollm2: Backend) -> None:
    """Esc during a long prompt (a minute of a long conversation on a CPU) does not wait for all of it."""
    from typing import Any

    engine: Any = smollm2
    # Where each backend evaluates one chunk of the prompt.
    owner, method = (engine._llm, "eval") if engine.name == "llama-cpp" else (engine._decoder, "forward")
    original = getattr(owner, method)
    calls: list[int] = []

    def one_chunk(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            smollm2.cancel()  # as Esc would, from the UI thread
        return original(*args, **kwargs)

    saved, engine.prefill_chunk = engine.prefill_chunk, 16
    setattr(owner, method, one_chunk)
    try:
        prompt = [Message("user", "Tell me everything about the sea and its waves. " * 25)]
        assert smollm2.count_tokens(prompt) > 10 * 16
        chunks = list(smollm2.stream(prompt, GenerationParams(temperature=0, max_tokens=20)))
    finally:
        delattr(owner, method)
        engine.prefill_chunk = saved
    final = chunks[-1]
    assert final.finish_reason == "cancelled"
    assert final.usage is not None and final.usage.completion_tokens == 0
    assert len(calls) == 2  # stopped between the chunks, not after the whole prompt
    assert "Paris" in smollm2.complete(FRANCE, GREEDY).text  # and the engine works on


def test_seed_makes_sampling_reproducible(smollm2: Backend) -> None:
    params = GenerationParams(temperature=1.0, seed=1234, max_tokens=24)
    assert smollm2.complete("Once upon a time", params).text == smollm2.complete("Once upon a time", params).text


def test_stop_sequence_is_excluded(smollm2: Backend) -> None:
    text = smollm2.complete("1, 2, 3, 4,", GenerationParams(temperature=0, max_tokens=30, stop=[" 7"])).text
    assert " 7" not in text
    assert text.startswith(" 5, 6,")


def test_max_tokens_gives_length(smollm2: Backend) -> None:
    completion = smollm2.complete("Once upon a time", GenerationParams(temperature=0, max_tokens=5))
    assert completion.finish_reason == "length"
    assert completion.usage.completion_tokens == 5


@pytest.mark.parametrize("backend_name", CONTRACT_BACKENDS)
def test_truncated_file_is_a_model_load_error(backend_name: str, smollm2_path: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.gguf"
    with smollm2_path.open("rb") as src:
        truncated.write_bytes(src.read(4_000_000))
    with pytest.raises(ModelLoadError) as info:
        load_backend(backend_name, str(truncated), progress=lambda _: None)
    assert str(truncated) in str(info.value)


@pytest.mark.parametrize("backend_name", CONTRACT_BACKENDS)
def test_not_a_gguf_is_a_model_load_error(backend_name: str, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.gguf"
    bogus.write_text("this is not a model")
    with pytest.raises(ModelLoadError, match="not a GGUF"):
        load_backend(backend_name, str(bogus), progress=lambda _: None)


@pytest.mark.parametrize("backend_name", CONTRACT_BACKENDS)
def test_gemma_base_model_uses_gemma_turn_format(backend_name: str, gemma_path: Path) -> None:
    backend = load_backend(backend_name, str(gemma_path), n_ctx=512, progress=lambda _: None)
    try:
        messages = [Message("system", "Be brief."), Message("user", "Name a color.")]
        rendered = backend.render_prompt(messages)
        assert rendered == "<start_of_turn>user\nBe brief.\n\nName a color.<end_of_turn>\n<start_of_turn>model\n"
        ids = backend.prompt_token_ids(messages)
        assert backend.token_text(ids[0]) == "" and len(ids) < 20  # BOS once, specials parsed
        completion = backend.complete(messages, GenerationParams(temperature=0, max_tokens=16))
        assert completion.text.strip(), "a base model under the Gemma format must still answer"
        assert "<end_of_turn>" not in completion.text
    finally:
        backend.unload()

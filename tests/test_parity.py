"""llama-cpp and transformers on the same GGUF model must feed and produce the same tokens.

Both engines read the same Q4 weights, but llama.cpp multiplies them in
quantized form (activations rounded to 8 bits, an f16 KV cache) while
transformers dequantizes them to float32 once. A token's log-prob differs
between the two by up to ~0.35 nats at the first step and ~0.7 by the 16th,
and by how much depends on the CPU kernels llama.cpp was built with (AVX2 on
AMD EPYC, AVX-512 on Intel Xeon here). Greedy decoding therefore agrees
wherever the top two candidates are further apart than that, and where it
does not, the two engines must still agree on both candidates' log-probs
within that noise: a real bug (a wrong weight, position or template) moves
them far more. Of the eight Gemma prompts below, five to six agree on all 16
tokens, depending on the build; the others reach a near-tie and diverge there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from assistant.backends import Backend, Prompt, load_backend
from assistant.types import Completion, GenerationParams, Message

pytestmark = pytest.mark.model

GREEDY16 = GenerationParams(temperature=0, max_tokens=16, logprobs=5)

GEMMA_PROMPTS: list[Prompt] = [
    [Message("system", "Be brief."), Message("user", "Name a color.")],  # AVX-512: a near-tie at step 10
    "The quick brown fox",
    [Message("user", "Write a haiku about autumn leaves.")],
    [Message("user", "Translate to German: Good morning, how are you?")],
    "def fibonacci(n):\n",
    "El sol brilla y los pájaros cantan 🐦",
    [Message("user", "What is the capital of France?")],  # a near-tie at step 7 (two junk tokens)
    [Message("user", "List three prime numbers.")],  # a near-tie at step 8 or 9
]
NOISE_NATS = 0.75
"""How far one token's log-prob may differ between the engines (seen: up to 0.68 by step 16)."""
TOKENIZER_TEXTS = [
    "Hello world",
    "  leading and  double  spaces\t\ttabs\n\n\nnewlines",
    "émoji 🐱🏳️‍🌈 and 中文字符, ÿ\x01 control",
    "<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n",
    "<|im_start|>user\nhi<|im_end|>\n",
    "<bos>already has a BOS",
    "don't I'll 3.14159 https://example.com/a?b=c#d",
]


def _load(name: str, path: Path) -> Backend:
    return load_backend(name, str(path), n_ctx=512, progress=lambda _: None)


@pytest.fixture(scope="module")
def gemma_pair(gemma_path: Path) -> Iterator[tuple[Backend, Backend]]:
    pair = (_load("llama-cpp", gemma_path), _load("transformers", gemma_path))
    yield pair
    for backend in pair:
        backend.unload()


@pytest.fixture(scope="module")
def smollm2_pair(smollm2_path: Path) -> Iterator[tuple[Backend, Backend]]:
    pair = (_load("llama-cpp", smollm2_path), _load("transformers", smollm2_path))
    yield pair
    for backend in pair:
        backend.unload()


@pytest.fixture(scope="module")
def gemma_runs(gemma_pair: tuple[Backend, Backend]) -> list[tuple[Completion, Completion]]:
    llama, transformers = gemma_pair
    return [(llama.complete(prompt, GREEDY16), transformers.complete(prompt, GREEDY16)) for prompt in GEMMA_PROMPTS]


@pytest.mark.parametrize("prompt", GEMMA_PROMPTS + TOKENIZER_TEXTS)
def test_gemma_prompt_token_ids_identical(gemma_pair: tuple[Backend, Backend], prompt: Prompt) -> None:
    llama, transformers = gemma_pair
    assert transformers.prompt_token_ids(prompt) == llama.prompt_token_ids(prompt)


@pytest.mark.parametrize("text", TOKENIZER_TEXTS)
def test_smollm2_prompt_token_ids_identical(smollm2_pair: tuple[Backend, Backend], text: str) -> None:
    llama, transformers = smollm2_pair
    assert transformers.prompt_token_ids(text) == llama.prompt_token_ids(text)
    messages = [Message("system", "You are a helpful assistant."), Message("user", text)]
    assert transformers.prompt_token_ids(messages) == llama.prompt_token_ids(messages)


def _divergence(llama: Completion, transformers: Completion) -> int | None:
    """The first step where the two greedy runs chose different tokens (None: the same tokens)."""
    pairs = enumerate(zip(llama.token_ids, transformers.token_ids))
    step = next((i for i, (a, b) in pairs if a != b), None)
    if step is None and len(llama.token_ids) != len(transformers.token_ids):
        return min(len(llama.token_ids), len(transformers.token_ids))
    return step


@pytest.mark.parametrize("index", range(len(GEMMA_PROMPTS)))
def test_gemma_greedy_agrees_up_to_a_near_tie(gemma_runs: list[tuple[Completion, Completion]], index: int) -> None:
    llama, transformers = gemma_runs[index]
    assert len(llama.token_ids) == 16 or llama.finish_reason == "stop"
    step = _divergence(llama, transformers)
    for i in range(len(llama.token_ids) if step is None else step):  # same tokens: same log-probs, within noise
        assert transformers.logprobs[i].logprob == pytest.approx(llama.logprobs[i].logprob, abs=NOISE_NATS), i
    if step is None:
        assert transformers.text == llama.text  # same ids must stream the same text
        return
    assert step < min(len(llama.token_ids), len(transformers.token_ids)), "one run stopped early"
    theirs, ours = llama.logprobs[step], transformers.logprobs[step]
    their_top = {alt.token_id: alt.logprob for alt in theirs.top}
    our_top = {alt.token_id: alt.logprob for alt in ours.top}
    assert ours.token_id in their_top and theirs.token_id in our_top, "not a near-tie: choices outside top-5"
    for token in (theirs.token_id, ours.token_id):
        assert abs(their_top[token] - our_top[token]) <= NOISE_NATS, (
            f"diverged at step {step}: token {token} at {their_top[token]:.3f} nats in llama.cpp, "
            f"{our_top[token]:.3f} in transformers: more than quantization noise"
        )


def test_gemma_greedy_most_prompts_agree_on_every_token(gemma_runs: list[tuple[Completion, Completion]]) -> None:
    same = [i for i, (llama, transformers) in enumerate(gemma_runs) if _divergence(llama, transformers) is None]
    assert len(same) >= len(GEMMA_PROMPTS) // 2, f"only prompts {same} agree on all 16 tokens"


def test_gemma_same_top1_first_token(gemma_runs: list[tuple[Completion, Completion]]) -> None:
    for llama, transformers in gemma_runs:
        assert transformers.logprobs[0].top[0].token_id == llama.logprobs[0].top[0].token_id
        # llama.cpp's 8-bit activations and f16 KV cache move log-probs by up to ~0.35 nats
        # here (the dequantized weights themselves are bit-exact); a real bug moves them far more.
        assert transformers.logprobs[0].logprob == pytest.approx(llama.logprobs[0].logprob, abs=0.5)


def test_smollm2_france_mentions_paris_on_both(smollm2_pair: tuple[Backend, Backend]) -> None:
    question = [Message("system", "You are a helpful assistant."), Message("user", "What is the capital of France?")]
    for backend in smollm2_pair:
        assert "Paris" in backend.complete(question, GenerationParams(temperature=0, max_tokens=32)).text


@pytest.mark.parametrize("pair_name", ["gemma_pair", "smollm2_pair"])
def test_every_token_streams_the_same_bytes_and_ends_the_same(
    pair_name: str, request: pytest.FixtureRequest
) -> None:
    llama, transformers = request.getfixturevalue(pair_name)
    vocab = llama._llm.n_vocab()  # llama-cpp internals: the reference vocabulary size
    mismatched = [i for i in range(vocab) if transformers.token_bytes(i) != llama.token_bytes(i)]
    assert mismatched == [], f"{len(mismatched)} tokens differ, e.g. {mismatched[:5]}"
    eog = [i for i in range(vocab) if transformers.is_end_of_generation(i) != llama.is_end_of_generation(i)]
    assert eog == [], f"end-of-generation differs for {eog[:5]}"

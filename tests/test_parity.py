"""llama-cpp and transformers on the same GGUF model must feed and produce the same tokens.

Both engines read the same Q4 weights, but llama.cpp multiplies them in
quantized form (activations rounded to 8 bits) while transformers dequantizes
them to float32 once. Greedy decoding therefore agrees wherever the top two
candidates are not nearly tied. Of the eight Gemma prompts below, six agree on
all 16 tokens; two reach a near-tie (a gap of 0.01–0.06 nats in one engine)
and then diverge. Those two are kept and checked for exactly that, not dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from assistant.backends import Backend, Prompt, load_backend
from assistant.types import Completion, GenerationParams, Message

pytestmark = pytest.mark.model

GREEDY16 = GenerationParams(temperature=0, max_tokens=16, logprobs=5)

IDENTICAL_PROMPTS: list[Prompt] = [
    [Message("system", "Be brief."), Message("user", "Name a color.")],
    "The quick brown fox",
    [Message("user", "Write a haiku about autumn leaves.")],
    [Message("user", "Translate to German: Good morning, how are you?")],
    "def fibonacci(n):\n",
    "El sol brilla y los pájaros cantan 🐦",
]
NEAR_TIE_PROMPTS: list[Prompt] = [
    [Message("user", "What is the capital of France?")],  # llama.cpp: 2 junk tokens 0.014 nats apart at step 7
    [Message("user", "List three prime numbers.")],  # transformers: '0' vs ',' 0.06 nats apart at step 8
]
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
    return [
        (llama.complete(prompt, GREEDY16), transformers.complete(prompt, GREEDY16))
        for prompt in IDENTICAL_PROMPTS + NEAR_TIE_PROMPTS
    ]


@pytest.mark.parametrize("prompt", IDENTICAL_PROMPTS + NEAR_TIE_PROMPTS + TOKENIZER_TEXTS)
def test_gemma_prompt_token_ids_identical(gemma_pair: tuple[Backend, Backend], prompt: Prompt) -> None:
    llama, transformers = gemma_pair
    assert transformers.prompt_token_ids(prompt) == llama.prompt_token_ids(prompt)


@pytest.mark.parametrize("text", TOKENIZER_TEXTS)
def test_smollm2_prompt_token_ids_identical(smollm2_pair: tuple[Backend, Backend], text: str) -> None:
    llama, transformers = smollm2_pair
    assert transformers.prompt_token_ids(text) == llama.prompt_token_ids(text)
    messages = [Message("system", "You are a helpful assistant."), Message("user", text)]
    assert transformers.prompt_token_ids(messages) == llama.prompt_token_ids(messages)


@pytest.mark.parametrize("index", range(len(IDENTICAL_PROMPTS)))
def test_gemma_greedy_first_16_tokens_identical(
    gemma_runs: list[tuple[Completion, Completion]], index: int
) -> None:
    llama, transformers = gemma_runs[index]
    assert len(llama.token_ids) == 16 or llama.finish_reason == "stop"
    assert transformers.token_ids == llama.token_ids
    assert transformers.text == llama.text  # same ids must stream the same text


@pytest.mark.parametrize("index", range(len(NEAR_TIE_PROMPTS)))
def test_gemma_divergence_only_at_a_near_tie(gemma_runs: list[tuple[Completion, Completion]], index: int) -> None:
    llama, transformers = gemma_runs[len(IDENTICAL_PROMPTS) + index]
    if transformers.token_ids == llama.token_ids:
        return
    step = next(i for i, (a, b) in enumerate(zip(llama.token_ids, transformers.token_ids)) if a != b)
    ours, theirs = transformers.logprobs[step], llama.logprobs[step]
    their_top = {alt.token_id: alt.logprob for alt in theirs.top}
    our_top = {alt.token_id: alt.logprob for alt in ours.top}
    assert ours.token_id in their_top and theirs.token_id in our_top, "not a near-tie: choices outside top-5"
    gaps = [
        abs(their_top[ours.token_id] - their_top[theirs.token_id]),
        abs(our_top[ours.token_id] - our_top[theirs.token_id]),
    ]
    assert min(gaps) < 0.1, f"diverged at step {step} with gaps {gaps}: more than a near-tie"


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

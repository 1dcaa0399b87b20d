"""The transformers backend on real models: conversion cache, decoders, errors, introspection.

The behaviour shared with llama-cpp (greedy answers, streaming, score, cancel,
overflow, bad files) is in test_backend_contract.py; parity with llama.cpp is
in test_parity.py. This file covers what only this backend has.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator

import pytest

from assistant.backends import load_backend
from assistant.backends.torch.backend import TransformersBackend
from assistant.errors import BackendError
from assistant.types import GenerationParams, Message

pytestmark = pytest.mark.model
torch = pytest.importorskip("torch")

FRANCE = [Message("system", "You are a helpful assistant."), Message("user", "What is the capital of France?")]
GREEDY = GenerationParams(temperature=0, max_tokens=24)


def _quiet(_: str) -> None:
    pass


@pytest.fixture(scope="module")
def smollm2(smollm2_path: Path) -> Iterator[TransformersBackend]:
    backend = load_backend("transformers", str(smollm2_path), n_ctx=512, progress=_quiet)
    assert isinstance(backend, TransformersBackend)
    yield backend
    backend.unload()


@pytest.fixture(scope="module")
def gemma(gemma_path: Path) -> Iterator[TransformersBackend]:
    backend = load_backend("transformers", str(gemma_path), n_ctx=512, progress=_quiet)
    assert isinstance(backend, TransformersBackend)
    yield backend
    backend.unload()


# ---- loading and the conversion cache -------------------------------------------------------------


@pytest.mark.slow
def test_first_load_converts_once_then_uses_the_copy(
    smollm2_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assistant.backends.torch import native_decoder
    from assistant.backends.torch.convert import SIDECAR, converted_dir

    monkeypatch.setenv("ASSISTANT_TRANSFORMERS_CACHE", str(tmp_path / "cache"))
    target = converted_dir(smollm2_path)
    target.mkdir(parents=True)
    (target / "config.json").write_text("{}")  # an interrupted conversion: no sidecar
    messages: list[str] = []
    first = load_backend("transformers", str(smollm2_path), n_ctx=256, progress=messages.append)
    try:
        ids = first.prompt_token_ids(FRANCE)
    finally:
        first.unload()
    assert any("converting" in m for m in messages) and any("converted in" in m for m in messages)
    assert {"model.safetensors", "tokenizer.json", SIDECAR} <= {p.name for p in target.iterdir()}
    assert not [p for p in target.parent.iterdir() if ".partial-" in p.name]
    facts = json.loads((target / SIDECAR).read_text())
    assert facts["add_bos"] is False and facts["chat_template"].startswith("{% for message")
    assert len(facts["native_verified"]) == 1  # the native decoder matched the HF forward
    messages.clear()

    def not_again(*args: object) -> None:
        raise AssertionError("a verified model is not verified again")

    monkeypatch.setattr(native_decoder, "verify", not_again)
    second = load_backend("transformers", str(smollm2_path), n_ctx=256, progress=messages.append)
    try:
        assert messages == []
        assert second.prompt_token_ids(FRANCE) == ids
        assert second.info()["converted"] == str(target)
        assert second.info()["decoder"] == "native"
    finally:
        second.unload()


def test_plain_hugging_face_directory(smollm2: TransformersBackend, tmp_path: Path) -> None:
    source = Path(smollm2.info()["converted"])
    plain = tmp_path / "SmolLM2-hf"
    plain.mkdir()
    for item in source.iterdir():
        if item.name != "assistant.json":  # without our sidecar it is an ordinary HF checkout
            os.symlink(item, plain / item.name)
    backend = load_backend("transformers", str(plain), n_ctx=256, progress=_quiet)
    try:
        assert backend.info()["converted"] is None
        assert backend.info()["chat_format"] == "model"  # the tokenizer's own template
        assert backend.prompt_token_ids(FRANCE) == smollm2.prompt_token_ids(FRANCE)
        assert "Paris" in backend.complete(FRANCE, GREEDY).text
    finally:
        backend.unload()


def test_info_reports_engine_settings(smollm2: TransformersBackend) -> None:
    info = smollm2.info()
    assert info["backend"] == "transformers"
    assert info["device"] == "cpu" and info["dtype"] == "float32"
    assert info["decoder"] == "native" and info["cuda_graphs"] is False
    assert info["n_ctx"] == 512 == smollm2.context_length
    assert info["n_threads"] == (os.cpu_count() or 1)


# ---- the decoders ------------------------------------------------------------------------------------


def test_hf_forward_decoder_gives_the_same_tokens(smollm2_path: Path, smollm2: TransformersBackend) -> None:
    # "false" as a Python caller may pass it: bool("false") is True, and it ran the native decoder
    slow = load_backend("transformers", str(smollm2_path), n_ctx=512, native="false", progress=_quiet)
    try:
        assert slow.info()["decoder"] == "hf"
        assert slow.complete(FRANCE, GREEDY).token_ids == smollm2.complete(FRANCE, GREEDY).token_ids
        candidates = [" Paris", " Lyon and Paris"]
        assert slow.score("The capital of France is", candidates) == pytest.approx(
            smollm2.score("The capital of France is", candidates), abs=1e-3
        )
    finally:
        slow.unload()


def test_native_forward_matches_hf_with_a_short_sliding_window(gemma: TransformersBackend) -> None:
    """Gemma 3's sliding-window layers: ours vs HF's masks, with the window shrunk to 4."""
    decoder = gemma._decoder
    model = gemma._model
    ids = gemma.prompt_token_ids("One two three four five six seven eight nine ten")
    sliding = [layer for layer in decoder.layers if layer.window is not None]
    assert sliding, "gemma3 has sliding-window layers"
    original = model.config.sliding_window
    with torch.inference_mode():
        full_window = model(input_ids=torch.tensor([ids]), use_cache=False).logits[0].float()
    try:
        for layer in sliding:
            layer.window = 4
        model.config.sliding_window = 4
        with torch.inference_mode():
            reference = model(input_ids=torch.tensor([ids]), use_cache=False).logits[0].float()
        assert float((reference - full_window).abs().max()) > 0.1, "the short window must matter"
        decoder.reset()
        ours = decoder.forward(ids, 0, all_logits=True)
        assert float((ours - reference).abs().max()) < 1e-3 * float(reference.abs().max())
        # the CUDA-graph step (static shapes, masked attention over the whole cache), run eagerly
        decoder.reset()
        with torch.inference_mode():
            decoder._ensure_capacity(len(ids))
            for position, token in enumerate(ids):
                step = decoder.static_step(torch.tensor([token]), torch.tensor([position]))
                assert float((step[0] - reference[position]).abs().max()) < 1e-3 * float(reference.abs().max())
    finally:
        for layer in sliding:
            layer.window = original
        model.config.sliding_window = original
        decoder.reset()
        gemma._truncate(0)


def test_chunked_prefill_equals_one_pass(smollm2: TransformersBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.backends.torch import native_decoder

    decoder = smollm2._decoder
    ids = smollm2.prompt_token_ids("A long enough prompt to be split into several chunks of four.")
    whole = decoder.forward(ids, 0, all_logits=True)
    monkeypatch.setattr(native_decoder, "PREFILL_CHUNK", 4)
    chunked = decoder.forward(ids, 0, all_logits=True)
    smollm2._truncate(0)
    assert chunked.shape == whole.shape
    assert float((chunked - whole).abs().max()) < 1e-3


def test_score_of_a_multi_token_continuation_matches_its_generation(smollm2: TransformersBackend) -> None:
    prompt = "The capital of France is"
    completion = smollm2.complete(prompt, GenerationParams(temperature=0, max_tokens=2, logprobs=1))
    assert completion.text == " Paris."
    # precondition: the text re-tokenizes into the generated tokens (" Paris.\n\n" would not)
    assert smollm2.tokenize_text(prompt + completion.text) == smollm2.tokenize_text(prompt) + completion.token_ids
    (score,) = smollm2.score(prompt, [completion.text])
    assert score == pytest.approx(sum(entry.logprob for entry in completion.logprobs), abs=2e-3)


def test_bfloat16_on_cpu_is_honoured(smollm2_path: Path) -> None:
    backend = load_backend("transformers", str(smollm2_path), n_ctx=256, dtype="bf16", progress=_quiet)
    try:
        assert backend.info()["dtype"] == "bfloat16"
        assert backend.complete(FRANCE, GREEDY).text.strip()
    finally:
        backend.unload()


# ---- errors ---------------------------------------------------------------------------------------------


def test_out_of_memory_unloads_and_says_what_to_do(smollm2_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = load_backend("transformers", str(smollm2_path), n_ctx=256, progress=_quiet)

    def exhausted(*args: object, **kwargs: object) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(backend._decoder, "forward", exhausted)
    with pytest.raises(BackendError, match="ran out of memory while generating; the model was unloaded"):
        backend.complete(FRANCE, GREEDY)
    with pytest.raises(BackendError, match="no model loaded"):
        backend.complete(FRANCE, GREEDY)
    backend.load(str(smollm2_path), n_ctx=256, progress=_quiet)  # the app can carry on
    try:
        assert "Paris" in backend.complete(FRANCE, GREEDY).text
    finally:
        backend.unload()


def test_out_of_memory_while_loading(smollm2_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.backends.torch import native_decoder

    def exhausted(*args: object, **kwargs: object) -> None:
        raise RuntimeError("MPS backend out of memory (MPS allocated: 8 GB)")

    monkeypatch.setattr(native_decoder.NativeDecoder, "__init__", exhausted)
    backend = TransformersBackend()
    with pytest.raises(BackendError, match="out of memory while loading the model"):
        backend.load(str(smollm2_path), n_ctx=256, progress=_quiet)
    assert backend._model is None


def test_bad_option_values(smollm2_path: Path) -> None:
    with pytest.raises(BackendError, match="attn must be"):
        TransformersBackend().load(str(smollm2_path), attn="flash", progress=_quiet)
    with pytest.raises(BackendError, match="unknown dtype"):
        TransformersBackend().load(str(smollm2_path), dtype="int4", progress=_quiet)


# ---- introspection -------------------------------------------------------------------------------------


def test_attention_maps_of_a_response(smollm2: TransformersBackend) -> None:
    import numpy as np

    before = smollm2.complete(FRANCE, GREEDY).text
    maps = smollm2.attention(FRANCE, GenerationParams(temperature=0, max_tokens=4))
    n = len(maps.token_ids)
    assert maps.prompt_tokens == len(smollm2.prompt_token_ids(FRANCE))
    assert n == maps.prompt_tokens + len(maps.completion.token_ids) and len(maps.tokens) == n
    config = smollm2._model.config
    assert len(maps.layers) == config.num_hidden_layers
    for layer in maps.layers:
        assert layer.shape == (config.num_attention_heads, n, n)
        assert np.allclose(layer.sum(axis=-1), 1.0, atol=1e-4)  # each row is a distribution
        assert float(np.triu(layer, k=1).max()) == 0.0  # causal: no token sees the future
    assert config._attn_implementation == "sdpa"  # eager only for the call
    assert smollm2.complete(FRANCE, GREEDY).text == before


def test_logprobs_alternatives(smollm2: TransformersBackend) -> None:
    completion = smollm2.complete(FRANCE, GenerationParams(temperature=0, max_tokens=3, logprobs=4))
    for entry in completion.logprobs:
        assert len(entry.top) == 4
        assert entry.top[0].token_id == entry.token_id  # greedy picks the most likely
        assert [alt.logprob for alt in entry.top] == sorted((alt.logprob for alt in entry.top), reverse=True)

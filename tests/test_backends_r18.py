"""Round 18, backends: a misbehaving server, bad model files, sampling parameters across backends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from assistant.backends import load_backend
from assistant.backends.openai.backend import OpenAIBackend
from assistant.errors import ModelLoadError, RemoteError
from assistant.types import GenerationParams, Message

from .openai_fake_server import DONE, FakeOpenAIServer, chat_chunk, sse, tiny_openai_server  # noqa: F401

HELLO = [Message("user", "Say hello")]


def connect(fake: FakeOpenAIServer, **options: Any) -> OpenAIBackend:
    options.setdefault("base_url", fake.base_url)
    backend = load_backend("openai", "tiny", progress=lambda _: None, **options)
    assert isinstance(backend, OpenAIBackend)
    return backend


# -- known 1. a server whose events hold a delta that is no object --------------------------------------


@pytest.mark.parametrize("key", ["delta", "message"])
def test_a_choice_whose_delta_is_no_object_is_a_malformed_event_not_an_empty_reply(
    server: FakeOpenAIServer, key: str
) -> None:
    """``"delta": "Hello"`` was read as no text at all: the reply ended as an empty, successful one."""
    event = "data: " + json.dumps({"choices": [{"index": 0, key: "Hello", "finish_reason": "stop"}]}) + "\n\n"
    server.route("POST", "/v1/chat/completions", sse([event, DONE]))
    backend = connect(server)
    with pytest.raises(RemoteError, match="sent a malformed stream event: .*Hello"):
        backend.complete(HELLO, GenerationParams(temperature=0, max_tokens=8))


def test_a_delta_without_content_is_still_no_text(server: FakeOpenAIServer) -> None:
    """The usual first event (``{"role": "assistant"}``, or ``"content": null``) stays accepted."""
    first = {"choices": [{"index": 0, "delta": {"role": "assistant", "content": None}}]}
    events = ["data: " + json.dumps(first) + "\n\n", chat_chunk("Hi"), chat_chunk(finish="stop"), DONE]
    server.route("POST", "/v1/chat/completions", sse(events))
    assert connect(server).complete(HELLO, GenerationParams(temperature=0, max_tokens=8)).text == "Hi"


# -- known 3. stop sequences: any number, on every backend ------------------------------------------------


@pytest.mark.parametrize("server_name", ["openai", "tgi"])
def test_more_stop_sequences_than_a_server_takes_still_cut_the_reply(server_name: str) -> None:
    """Six ``-o stop=`` worked on a local backend and failed on TGI and the OpenAI API (at most 4 there):
    the server now gets the first four, and the reply is cut at the others here."""
    fake = FakeOpenAIServer()
    try:
        fake.models("tiny", owned_by="someone")
        events = [chat_chunk("one two "), chat_chunk("six seven"), DONE]
        fake.route("POST", "/v1/chat/completions", sse(events))
        backend = connect(fake, server=server_name)
        stops = ["a1", "b2", "c3", "d4", "e5", "six"]
        reply = backend.complete(HELLO, GenerationParams(temperature=0, max_tokens=16, stop=stops))
        assert (reply.text, reply.finish_reason) == ("one two ", "stop")
        assert fake.bodies("/v1/chat/completions")[-1]["stop"] == stops[:4]
    finally:
        fake.close()


def test_servers_without_a_stop_limit_get_every_stop_sequence(server: FakeOpenAIServer) -> None:
    """llama-cpp-python's server (``owned_by: me``) takes any number: all of them are sent."""
    server.route("POST", "/v1/chat/completions", sse([chat_chunk("hi"), chat_chunk(finish="stop"), DONE]))
    stops = [f"s{i}" for i in range(7)]
    connect(server).complete(HELLO, GenerationParams(temperature=0, max_tokens=8, stop=stops))
    assert server.bodies("/v1/chat/completions")[-1]["stop"] == stops


# -- known 2. a model directory whose weight file holds other tensors ------------------------------------


def _tiny_hf_directory(directory: Path) -> Path:
    """A one-layer Llama with a word-level tokenizer, saved as transformers saves a model."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models

    words = ["[UNK]", "<s>", "</s>", "hello", "world"]
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="[UNK]", bos_token="<s>", eos_token="</s>"
    )
    fast.save_pretrained(directory)
    config = transformers.LlamaConfig(
        vocab_size=len(words), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
    )  # fmt: skip
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(config).save_pretrained(directory)
    return directory


def test_a_weight_file_without_the_models_weights_is_refused_not_run_with_random_ones(tmp_path: Path) -> None:
    """A ``model.safetensors`` holding other tensors loaded "fine" (transformers filled every weight with
    random numbers and warned quietly) and chatted in random tokens."""
    directory = _tiny_hf_directory(tmp_path / "model")
    import torch
    from safetensors.torch import save_file

    from assistant.backends.torch.loading import load_directory

    cpu = torch.device("cpu")
    model, _ = load_directory(directory, torch.float32, cpu, "eager", False, directory)
    assert model is not None  # the real weights load
    save_file({"\x1b[31mother": torch.zeros(2)}, str(directory / "model.safetensors"))
    lacking = r"its weight files lack \d+ of the weights the model needs \("
    with pytest.raises(ModelLoadError, match=lacking) as raised:
        load_directory(directory, torch.float32, cpu, "eager", False, directory)
    assert "\x1b" not in str(raised.value)


def test_a_hostile_safetensors_header_is_a_model_load_error(tmp_path: Path) -> None:
    """A header claiming 2**62 bytes was "the transformers backend failed to load …: SafetensorError: …",
    not the one ModelLoadError every other unreadable model file gives."""
    import struct

    directory = _tiny_hf_directory(tmp_path / "model")
    import torch

    from assistant.backends.torch.loading import load_directory

    (directory / "model.safetensors").write_bytes(struct.pack("<Q", 2**62) + b"{}")
    with pytest.raises(ModelLoadError, match="transformers cannot load it: .*header too large"):
        load_directory(directory, torch.float32, torch.device("cpu"), "eager", False, directory)


# -- found using the engines: closing a reply in the engine process left the model busy -------------------

ONE_AT_A_TIME = '''
import threading

from assistant.backends.fake import FakeBackend
from assistant.errors import BackendError


class OneAtATime(FakeBackend):
    """The fake with a local engine's rule: one reply at a time (llama-cpp's engine lock)."""

    def __init__(self):
        super().__init__(token_delay=0.05)
        self._busy = threading.Lock()

    def sample_tokens(self, prompt_ids, params):
        if not self._busy.acquire(blocking=False):
            raise BackendError("already generating (a reply not read to its end)")
        try:
            yield from super().sample_tokens(prompt_ids, params)
        finally:
            self._busy.release()
'''


def test_a_reply_closed_in_the_engine_process_frees_the_model_as_in_this_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``stream(...).close()`` returned while the engine still held the model: the next request, sent at
    once, failed with "already generating or scoring (… a reply not read to its end)" on llama-cpp, where
    the same calls on a backend in this process work."""
    from assistant.backends.engine.process import load_in_engine_process

    (tmp_path / "one_at_a_time.py").write_text(ONE_AT_A_TIME, encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    backend = load_in_engine_process("fake", "m", factory="one_at_a_time:OneAtATime")
    try:
        for _ in range(3):
            reply = backend.stream("tell me " * 20, GenerationParams(max_tokens=200))
            next(reply)
            next(reply)
            reply.close()
            assert backend.complete("hi", GenerationParams(max_tokens=4)).text == "Echo"
    finally:
        backend.unload()

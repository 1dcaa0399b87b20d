"""Round 20, backends: GGUF hyperparameters that make no sense, refused by both local backends; a close of one
stream in the engine process stops its prompt's evaluation while another request runs."""

from __future__ import annotations

import struct
import threading
import time
from multiprocessing import Pipe
from pathlib import Path
from typing import Iterator

import pytest

from assistant.backends import load_backend
from assistant.backends.base import SampledToken, stop_this_request_on
from assistant.backends.engine import wire
from assistant.backends.engine.host import EngineHost
from assistant.backends.fake import FakeBackend
from assistant.backends.llama_limits import check_header_values, check_llama_limits
from assistant.errors import ModelLoadError
from assistant.models.gguf import read_metadata
from assistant.types import Chunk, GenerationParams

# -- known 1. nonsense hyperparameters in an untrusted header ------------------------------------------------

_FORMATS = {4: "<I", 5: "<i", 6: "<f", 10: "<Q", 12: "<d"}
"""The scalar GGUF types :func:`patched_gguf` rewrites in place (same size, so every offset stays)."""


def patched_gguf(source: Path, target: Path, key: str, value: float) -> Path:
    """A copy of ``source`` with the scalar ``key`` set to ``value`` (in the type the file stores it)."""
    data = bytearray(source.read_bytes())
    name = key.encode()
    at = data.find(struct.pack("<Q", len(name)) + name)
    assert at >= 0, f"{key} is not in {source.name}"
    kind_at = at + 8 + len(name)
    (kind,) = struct.unpack_from("<I", data, kind_at)
    struct.pack_into(_FORMATS[kind], data, kind_at + 4, value)
    target.write_bytes(bytes(data))
    return target


NONSENSE = [
    ("llama.rope.freq_base", 0.0, "llama.rope.freq_base 0 is not a finite number above 0"),
    ("llama.rope.freq_base", -10000.0, "llama.rope.freq_base -10000 is not a finite number above 0"),
    ("llama.rope.freq_base", float("nan"), "llama.rope.freq_base nan is not a finite number above 0"),
    ("llama.rope.freq_base", float("inf"), "llama.rope.freq_base inf is not a finite number above 0"),
    ("llama.attention.layer_norm_rms_epsilon", float("inf"), "llama.attention.layer_norm_rms_epsilon inf is not a finite"),
    ("llama.context_length", 0, "llama.context_length is 0: a model is trained on at least one token"),
    ("llama.embedding_length", 0, "llama.embedding_length is 0: a model's embeddings have at least one"),
]


@pytest.mark.model
@pytest.mark.parametrize("backend", ["llama-cpp", "transformers"])
@pytest.mark.parametrize(("key", "value", "reason"), NONSENSE, ids=[f"{k}={v}" for k, v, _ in NONSENSE])
def test_a_gguf_with_a_nonsense_hyperparameter_is_refused_at_load_naming_key_and_value(
    smollm2_path: Path, tmp_path: Path, backend: str, key: str, value: float, reason: str
) -> None:
    """Was: SmolLM2 with ``llama.rope.freq_base`` 0 (or NaN) loaded on both backends and answered "............";
    an infinite epsilon answered "%5"; a context length of 0 loaded as if the key were missing; an embedding
    length of 0 was llama.cpp's "invalid n_rot: 64, expected 0", naming no key."""
    gguf = patched_gguf(smollm2_path, tmp_path / "nonsense.gguf", key, value)
    said: list[str] = []
    with pytest.raises(ModelLoadError) as caught:
        load_backend(backend, str(gguf), n_ctx=256, progress=said.append)
    message = str(caught.value)
    assert f"corrupt GGUF header ({reason}" in message and "\n" not in message
    assert not any("converting" in line for line in said)  # the transformers backend: before converting


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("llama.rope.scaling.factor", 0.0),  # llama.cpp's "no scaling"
        ("llama.rope.scaling.factor", 4.0),
        ("llama.attention.layer_norm_rms_epsilon", 0.0),  # SmolLM2 answers with it as with 1e-5
        ("llama.rope.freq_base", 1e-3),
        ("llama.context_length", 1),
    ],
)
def test_hyperparameters_an_engine_takes_pass(key: str, value: float) -> None:
    check_header_values(Path("x.gguf"), {"general.architecture": "llama", key: value})


@pytest.mark.parametrize("value", [-1.0, float("nan"), float("inf")])
def test_a_negative_or_non_finite_rope_scaling_factor_is_refused(value: float) -> None:
    metadata = {"general.architecture": "llama", "llama.rope.scaling.factor": value}
    with pytest.raises(ModelLoadError, match=r"\(llama.rope.scaling.factor \S+ is not a finite number of at least 0"):
        check_llama_limits(Path("x.gguf"), metadata)


@pytest.mark.model
def test_the_real_models_headers_pass(smollm2_path: Path, gemma_path: Path) -> None:
    for path in (smollm2_path, gemma_path):
        check_llama_limits(path, read_metadata(path))


# -- known 2. a close stops its own stream's prompt evaluation while another request runs -----------------


class GatedPromptBackend(FakeBackend):
    """Reads each prompt until its request is cancelled or ``release`` is set, checking between two steps
    as llama.cpp's abort check does; each call's start is noted in ``reading`` (in call order)."""

    def __init__(self) -> None:
        super().__init__(reply="y")
        self.reading: list[threading.Event] = [threading.Event(), threading.Event()]
        self.release = threading.Event()
        self._calls = 0

    def sample_tokens(self, prompt_ids: list[int], params: GenerationParams) -> Iterator[SampledToken]:
        self.reading[self._calls].set()
        self._calls += 1
        while not self.release.is_set():
            if self.cancelled:
                return  # the prompt's evaluation aborted: no token
            time.sleep(0.005)
        yield from super().sample_tokens(prompt_ids, params)


def test_a_stream_closed_while_its_prompt_is_read_stops_there_while_another_stream_reads_its_own() -> None:
    """Round 19 cancelled the backend for a close only while the stream ran alone: closed while another
    stream ran, it read its whole prompt (seconds) before the close was seen at its first token."""
    app_end, host_end = Pipe()
    backend = GatedPromptBackend()
    backend.load("m")
    host = EngineHost(host_end, host_end)
    host.backend = backend
    threading.Thread(target=host.serve, daemon=True).start()
    assert app_end.recv()[0] == wire.READY
    for request_id in (1, 2):
        app_end.send((wire.STREAM, request_id, ("stream", ("a long prompt", GenerationParams(max_tokens=5)), {})))
        assert backend.reading[request_id - 1].wait(30)
    app_end.send((wire.CLOSE, 1, None))
    seen: list[tuple[str, int]] = []
    while (wire.END, 1) not in seen:
        assert app_end.poll(30), f"stream 1 did not end on its close while stream 2 read its prompt: {seen}"
        kind, request_id, payload = app_end.recv()
        seen.append((kind, request_id))
    assert all(request_id == 1 for _, request_id in seen)  # stream 2 still reads its prompt, uncancelled
    assert not backend.cancelled
    backend.release.set()
    chunks: list[Chunk] = []
    while True:
        kind, request_id, payload = app_end.recv()
        assert request_id == 2
        if kind == wire.END:
            break
        chunks.extend(payload)
    assert "".join(chunk.text for chunk in chunks) == "y" and chunks[-1].finish_reason == "stop"
    app_end.send((wire.EXIT, 0, None))


def test_a_request_stop_is_only_its_own_threads() -> None:
    """The stop a thread's request was given is not another thread's, and is forgotten when cleared."""
    backend = FakeBackend()
    stop = threading.Event()
    stop.set()
    stop_this_request_on(stop)
    try:
        assert backend.cancelled
        other: list[bool] = []
        worker = threading.Thread(target=lambda: other.append(backend.cancelled))
        worker.start()
        worker.join()
        assert other == [False]
    finally:
        stop_this_request_on(None)
    assert not backend.cancelled


# -- 3. audit: a Mamba GGUF (no attention heads) is not refused for its 0 heads --------------------------


def test_an_attention_free_gguf_is_not_refused_for_having_no_attention_heads(tmp_path: Path) -> None:
    """llama.cpp's converter writes ``mamba.attention.head_count = 0`` (Mamba has no attention), and
    transformers reads no head count for it: round 19's check refused every Mamba GGUF on -b transformers."""
    from assistant.backends.torch.convert import check_divisors

    for key in ("attention.head_count", "attention.head_count_kv"):
        check_divisors({"general.architecture": "mamba", f"mamba.{key}": 0}, tmp_path / "mamba.gguf")
        with pytest.raises(ModelLoadError, match=f"llama.{key} is 0"):
            check_divisors({"general.architecture": "llama", f"llama.{key}": 0}, tmp_path / "llama.gguf")

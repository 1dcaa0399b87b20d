"""Round 8, second wave: llama-cpp backend and its engine process."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from assistant.backends import load_backend
from assistant.types import GenerationParams

from .interrupt_support import CancelAfter

pytestmark = pytest.mark.model

LONG_TEXT = " ".join(f"item{i}" for i in range(120))




@pytest.fixture(scope="module")
def backend(smollm2_path: Path):  # type: ignore[no-untyped-def]
    # One batch holds the whole prompt: before the fix, nothing could stop it once it started.
    engine = load_backend("llama-cpp", str(smollm2_path), n_ctx=1024, n_batch=1024, progress=lambda _: None)
    yield engine
    engine.unload()


def test_a_cancel_stops_the_prompt_mid_decode_and_the_cache_stays_usable(backend) -> None:  # type: ignore[no-untyped-def]
    """Ctrl+C while a long prompt was read waited for the whole ``n_batch`` chunk (seconds on a busy CPU)."""
    params = GenerationParams(temperature=0, max_tokens=3, seed=1)
    expected = "".join(chunk.text for chunk in backend.stream(LONG_TEXT, params))
    backend._llm.n_tokens = 0  # nothing cached: the next reply reads the whole prompt again
    backend._cancel = CancelAfter(40)  # far fewer checks than one decode makes between its steps
    try:
        chunks = list(backend.stream(LONG_TEXT, params))
    finally:
        backend._cancel = threading.Event()
    assert chunks[-1].finish_reason == "cancelled"
    assert "".join(chunk.text for chunk in chunks) == ""
    assert backend._llm.n_tokens == 0  # the aborted decode recorded nothing
    assert backend._abort_check is None  # generating tokens pays no check per step
    again = "".join(chunk.text for chunk in backend.stream(LONG_TEXT, params))
    assert again == expected
    assert backend._abort_check is None  # a reply that runs to its end leaves no check behind either

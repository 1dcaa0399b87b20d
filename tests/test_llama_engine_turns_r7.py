"""Round 7: one llama.cpp context decodes one thing at a time; a second use is refused, never a crash."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from assistant.backends import load_backend
from assistant.errors import BackendError
from assistant.types import GenerationParams, Message

pytestmark = pytest.mark.model

PROMPT = [Message("user", "Count from one to twenty in words.")]


@pytest.fixture(scope="module")
def backend(smollm2_path: Path):  # type: ignore[no-untyped-def]
    engine = load_backend("llama-cpp", str(smollm2_path), n_ctx=512, progress=lambda _: None)
    yield engine
    engine.unload()


def test_a_score_while_a_reply_is_paused_mid_stream_is_refused_then_allowed(backend) -> None:  # type: ignore[no-untyped-def]
    """It would have rewritten the paused reply's KV cache."""
    stream = backend.stream(PROMPT, GenerationParams(temperature=0, max_tokens=24))
    next(stream)
    with pytest.raises(BackendError, match="already generating or scoring"):
        backend.score(PROMPT, [" one", " two"])
    stream.close()
    assert len(backend.score(PROMPT, [" one", " two"])) == 2


def test_two_threads_on_one_backend_get_a_clear_error_not_an_abort(backend) -> None:  # type: ignore[no-untyped-def]
    """Two threads decoding on one context aborted the process with GGML_ASSERT."""
    results: list[str] = []
    errors: list[str] = []
    started, tried = threading.Event(), threading.Event()

    def first() -> None:
        for index, chunk in enumerate(backend.stream(PROMPT, GenerationParams(temperature=0, max_tokens=48))):
            if index == 1:
                started.set()
                tried.wait(60)  # mid-reply while the other thread asks
            results.append(chunk.text)

    thread = threading.Thread(target=first)
    thread.start()
    assert started.wait(60)
    try:
        backend.complete(PROMPT, GenerationParams(temperature=0, max_tokens=8))
    except BackendError as exc:
        errors.append(str(exc))
    finally:
        tried.set()
    thread.join(120)
    assert errors and "load one backend per thread" in errors[0]
    assert "".join(results)
    assert backend.complete(PROMPT, GenerationParams(temperature=0, max_tokens=4)).text  # free again

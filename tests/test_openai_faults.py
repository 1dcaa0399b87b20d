"""Remote-backend faults found by driving it as a user: cancels, secrets, retries.

Each test pins one bug that a scripted server on 127.0.0.1 reproduces.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from assistant.backends import load_backend
from assistant.backends.openai.backend import OpenAIBackend
from assistant.types import GenerationParams, Message

from .openai_fake_server import FakeOpenAIServer, tiny_openai_server  # noqa: F401 (the server fixture)

HELLO = [Message("user", "Say hello")]
GREEDY = GenerationParams(temperature=0, max_tokens=8)


def connect(fake: FakeOpenAIServer, **options: Any) -> OpenAIBackend:
    options.setdefault("base_url", fake.base_url)
    backend = load_backend("openai", "tiny", progress=lambda _: None, **options)
    assert isinstance(backend, OpenAIBackend)
    return backend


def silent(seconds: float) -> Any:
    """A server still reading a long prompt: not even the response headers for ``seconds``."""
    return lambda h, _: time.sleep(seconds)


# ---- cancel before the server's first byte ---------------------------------------------------
def test_cancel_before_the_response_headers_does_not_wait_for_them(server: FakeOpenAIServer) -> None:
    """Ctrl-C on a batch whose rows wait on a busy server used to hang until the headers came (up to read_timeout)."""
    server.route("POST", "/v1/chat/completions", silent(30))
    backend = connect(server)
    finishes: list[str] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            finishes.append(backend.complete(HELLO, GREEDY).finish_reason)
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(3)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while len(server.bodies("/v1/chat/completions")) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    started = time.monotonic()
    backend.cancel()
    for thread in threads:
        thread.join(timeout=8)
    assert time.monotonic() - started < 3
    assert not errors
    assert finishes == ["cancelled"] * 3


def test_a_cancelled_connection_is_not_reused_for_the_next_request(server: FakeOpenAIServer) -> None:
    """After a cancel shut the pooled sockets down, the next reply still works."""
    from .openai_fake_server import DONE, chat_chunk, sse

    server.route("POST", "/v1/chat/completions", sse([chat_chunk("hi"), chat_chunk(None, "stop"), DONE]))
    backend = connect(server)
    assert backend.complete(HELLO, GREEDY).text == "hi"
    backend.cancel()
    assert backend.complete(HELLO, GREEDY).text == "hi"


# ---- credentials in base_url ---------------------------------------------------------------------
def test_a_password_in_base_url_never_reaches_messages_or_info(server: FakeOpenAIServer) -> None:
    """``http://user:pass@host/v1`` is HTTP basic auth; errors and info() used to print the password."""
    from assistant.errors import RemoteError

    with pytest.raises(RemoteError) as caught:
        load_backend("openai", "tiny", base_url="http://user:s3cret@127.0.0.1:1/v1", progress=lambda _: None)
    assert "s3cret" not in str(caught.value) and "cannot connect to http://127.0.0.1:1" in str(caught.value)
    backend = connect(server, base_url=server.base_url.replace("http://", "http://user:s3cret@"))
    assert server.requests[0]["headers"]["Authorization"].startswith("Basic ")  # still sent, as basic auth
    assert "s3cret" not in str(backend.info())
    assert backend.info()["base_url"] == server.base_url.replace("http://", "http://***@")


def test_a_base_url_with_a_query_string_is_refused_without_echoing_it() -> None:
    """Paths are appended to base_url, so "?key=..." + "/chat/completions" would go to the wrong place."""
    from assistant.errors import ConfigError

    with pytest.raises(ConfigError, match="query string") as caught:
        load_backend("openai", "tiny", base_url="http://127.0.0.1:1/v1?key=s3cret", progress=lambda _: None)
    assert "s3cret" not in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        load_backend("openai", "tiny", base_url="ftp://u:s3cret@127.0.0.1:1/v1", progress=lambda _: None)
    assert "s3cret" not in str(caught.value)


# ---- a reply the server dropped ------------------------------------------------------------------
def test_done_without_a_finish_reason_is_a_dropped_reply_not_an_empty_one(server: FakeOpenAIServer) -> None:
    """llama-cpp-python's server ends a running request with a bare ``[DONE]`` when another arrives.

    Under ``--parallel`` every such row used to be recorded as a successful empty reply.
    """
    from assistant.errors import RemoteError

    from .openai_fake_server import DONE, sse

    role_only = 'data: {"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": null}]}\n\n'
    server.route("POST", "/v1/chat/completions", sse([role_only, DONE]))
    backend = connect(server)
    with pytest.raises(RemoteError, match="without a finish reason .*--interrupt_requests False"):
        backend.complete(HELLO, GREEDY)


def test_text_received_before_a_dropped_reply_is_kept(server: FakeOpenAIServer) -> None:
    from assistant.errors import RemoteError

    from .openai_fake_server import DONE, chat_chunk, sse

    server.route("POST", "/v1/chat/completions", sse([chat_chunk("Hello"), chat_chunk(" wor"), DONE]))
    backend = connect(server, server="vllm")
    pieces: list[str] = []
    with pytest.raises(RemoteError, match="dropped the request\\)$"):
        for chunk in backend.stream(HELLO, GREEDY):
            pieces.append(chunk.text)
    assert "".join(pieces) == "Hello wor"


# ---- server text on the terminal -------------------------------------------------------------------
def test_warnings_quoting_the_server_reach_stderr_without_escape_sequences(
    server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without a ``progress`` callback (library use, the engine process) warnings went to stderr raw."""
    server.models("evil\x1b]0;pwned\x07", owned_by="me")
    load_backend("openai", "tiny", base_url=server.base_url)
    err = capsys.readouterr().err
    assert "is not among those" in err and "\x1b" not in err and "\x07" not in err


def test_a_server_quoting_the_refused_api_key_does_not_get_it_printed(server: FakeOpenAIServer) -> None:
    from assistant.errors import RemoteError

    from .openai_fake_server import send_json

    key = "sk-live-0123456789abcdef"
    server.route("GET", "/v1/models", lambda h, _: send_json(h, 401, {"error": {"message": f"Invalid API key {key}"}}))
    with pytest.raises(RemoteError, match="401") as caught:
        connect(server, api_key=key)
    assert key not in str(caught.value) and "Invalid API key ***" in str(caught.value)

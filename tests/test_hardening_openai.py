"""Issue #20, item 10: the remote backend's timing and answers that are not the OpenAI API.

A loopback server that trickles bytes (keep-alive comments, a body one byte at a
time) resets a plain read timeout forever; the client must give up after the
configured time all the same, with a message naming it.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from assistant.backends import load_backend
from assistant.errors import RemoteError
from assistant.types import GenerationParams, Message

from .openai_fake_server import DONE, FakeOpenAIServer, chat_chunk, fake_openai_server, sse  # noqa: F401 (the server fixture)

HELLO = [Message("user", "hi")]
GREEDY = GenerationParams(max_tokens=8, temperature=0)
TRICKLE_FOR = 6.0  # how long the server keeps trickling: well past the timeouts under test


def _connect(server: FakeOpenAIServer, **options: Any) -> Any:
    return load_backend("openai", "tiny", base_url=server.base_url, progress=lambda _: None, **options)


def html_page(h: Any, _: Any) -> None:
    data = b"<!doctype html><html><body>Welcome to the router</body></html>"
    h.send_response(200)
    h.send_header("content-type", "text/html; charset=utf-8")
    h.send_header("content-length", str(len(data)))
    h.end_headers()
    h.wfile.write(data)


def trickle(first: bytes, byte: bytes, content_type: str, interval: float = 0.1) -> Any:
    """Send ``first``, then ``byte`` every ``interval`` seconds for TRICKLE_FOR seconds."""

    def handler(h: Any, _: Any) -> None:
        h.send_response(200)
        h.send_header("content-type", content_type)
        h.end_headers()
        h.wfile.write(first)
        h.wfile.flush()
        stop = time.monotonic() + TRICKLE_FOR
        while time.monotonic() < stop:
            time.sleep(interval)
            h.wfile.write(byte)
            h.wfile.flush()

    return handler


def stalled(h: Any, _: Any) -> None:
    time.sleep(TRICKLE_FOR)


def test_the_models_probe_uses_the_configured_read_timeout(server: FakeOpenAIServer) -> None:
    server.route("GET", "/v1/models", stalled)
    with pytest.raises(RemoteError, match=r"sent nothing for 0\.5s \(raise it with -o read_timeout=SECONDS\)"):
        _connect(server, read_timeout=0.5)


def test_a_models_answer_trickled_byte_by_byte_hits_the_total_deadline(server: FakeOpenAIServer) -> None:
    server.route("GET", "/v1/models", trickle(b'{"data": [', b" ", "application/json"))
    with pytest.raises(RemoteError, match=r"did not finish answering /v1/models within 1s \(raise it with -o read_timeout"):
        _connect(server, read_timeout=1)


def test_a_stream_of_keep_alive_bytes_times_out(server: FakeOpenAIServer) -> None:
    server.models("tiny")
    server.route("POST", "/v1/chat/completions", trickle(chat_chunk("Hi").encode(), b": ping\n\n", "text/event-stream"))
    backend = _connect(server, read_timeout=1)
    pieces: list[str] = []
    with pytest.raises(RemoteError, match=r"sent no data for 1s, only keep-alive bytes \(raise it with -o read_timeout"):
        for chunk in backend.stream(HELLO, GREEDY):
            pieces.append(chunk.text)
    assert "".join(pieces) == "Hi"  # what arrived before is kept
    backend.unload()


def test_keep_alives_between_events_are_fine(server: FakeOpenAIServer) -> None:
    server.models("tiny")
    events = [chat_chunk("A"), ": ping\n\n", chat_chunk("B"), ": ping\n\n", chat_chunk(None, "stop"), DONE]
    server.route("POST", "/v1/chat/completions", sse(events, delay=0.2))
    backend = _connect(server, read_timeout=1)
    assert "".join(c.text for c in backend.stream(HELLO, GREEDY)) == "AB"
    backend.unload()


def test_an_html_models_page_is_not_an_openai_server(server: FakeOpenAIServer) -> None:
    server.route("GET", "/v1/models", html_page)
    with pytest.raises(RemoteError, match=r"is not an OpenAI-compatible server \(got text/html for /v1/models\)"):
        _connect(server)


def test_an_html_reply_to_a_chat_request_is_not_an_openai_server(server: FakeOpenAIServer) -> None:
    server.models("tiny")
    server.route("POST", "/v1/chat/completions", html_page)
    backend = _connect(server)
    with pytest.raises(RemoteError, match=r"not an OpenAI-compatible server \(got text/html for /v1/chat/completions\)"):
        list(backend.stream(HELLO, GREEDY))
    backend.unload()

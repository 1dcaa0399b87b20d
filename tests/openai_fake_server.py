"""A tiny scripted HTTP server on 127.0.0.1 that plays (or breaks) the OpenAI API on purpose.

Each test installs handlers per ``(method, path)``; a handler gets the request
handler and the parsed JSON body and writes whatever it likes, including
malformed events, errors, stalls and connections cut mid-reply.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator

import pytest

Handler = Callable[["_RequestHandler", Any], None]


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    server: "_Server"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        owner = self.server.owner
        owner.requests.append({"method": method, "path": self.path, "body": body, "headers": dict(self.headers)})
        handler = owner.routes.get((method, self.path))
        if handler is None:
            send_json(self, 404, {"error": {"message": f"no route {method} {self.path}"}})
            return
        try:
            handler(self, body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: "FakeOpenAIServer"


class FakeOpenAIServer:
    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.requests: list[dict[str, Any]] = []
        self._httpd = _Server(("127.0.0.1", 0), _RequestHandler)
        self._httpd.owner = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def route(self, method: str, path: str, handler: Handler) -> None:
        self.routes[(method, path)] = handler

    def models(self, *ids: str, owned_by: str = "me", **extra: Any) -> None:
        data = [{"id": i, "object": "model", "owned_by": owned_by, **extra} for i in ids]
        self.route("GET", "/v1/models", lambda h, _: send_json(h, 200, {"object": "list", "data": data}))

    def bodies(self, path: str) -> list[Any]:
        return [r["body"] for r in self.requests if r["path"] == path]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def send_json(handler: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
    data = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("content-type", "application/json")
    handler.send_header("content-length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def send_text(handler: BaseHTTPRequestHandler, status: int, text: str) -> None:
    data = text.encode()
    handler.send_response(status)
    handler.send_header("content-type", "text/plain")
    handler.send_header("content-length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def chat_chunk(content: str | None = None, finish: str | None = None, **extra: Any) -> str:
    delta = {} if content is None else {"content": content}
    choice = {"index": 0, "delta": delta, "finish_reason": finish, **extra}
    return "data: " + json.dumps({"object": "chat.completion.chunk", "choices": [choice]}) + "\n\n"


def text_chunk(text: str, finish: str | None = None, **extra: Any) -> str:
    choice = {"index": 0, "text": text, "finish_reason": finish, **extra}
    return "data: " + json.dumps({"object": "text_completion", "choices": [choice]}) + "\n\n"


DONE = "data: [DONE]\n\n"


def sse(events: list[str], delay: float = 0.0, end: str = "close") -> Handler:
    """Stream ``events`` (raw SSE text); ``end`` is "close" (normal), "cut" (RST mid-body)."""

    def handler(h: _RequestHandler, _: Any) -> None:
        h.send_response(200)
        h.send_header("content-type", "text/event-stream")
        h.end_headers()
        for event in events:
            h.wfile.write(event.encode())
            h.wfile.flush()
            if delay:
                time.sleep(delay)
        if end == "cut":
            h.wfile.flush()
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.connection.close()

    return handler


def chunked_then_cut(events: list[str]) -> Handler:
    """HTTP/1.1 chunked body that stops without its final chunk: a cut the client can detect."""

    def handler(h: _RequestHandler, _: Any) -> None:
        h.protocol_version = "HTTP/1.1"
        h.send_response(200)
        h.send_header("content-type", "text/event-stream")
        h.send_header("transfer-encoding", "chunked")
        h.end_headers()
        for event in events:
            data = event.encode()
            h.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            h.wfile.flush()
        h.close_connection = True

    return handler


def stall(seconds: float, first: list[str] | None = None) -> Handler:
    """Send headers (and ``first`` events), then say nothing for ``seconds``."""

    def handler(h: _RequestHandler, _: Any) -> None:
        h.send_response(200)
        h.send_header("content-type", "text/event-stream")
        h.end_headers()
        for event in first or []:
            h.wfile.write(event.encode())
        h.wfile.flush()
        time.sleep(seconds)

    return handler


# ---- fixtures: a test module imports the one it needs (each is the module's ``server``) ----


@pytest.fixture(name="server")
def fake_openai_server() -> Iterator[FakeOpenAIServer]:
    """A fake server with no routes: the test scripts every answer, ``/v1/models`` included."""
    fake = FakeOpenAIServer()
    yield fake
    fake.close()


@pytest.fixture(name="server")
def tiny_openai_server() -> Iterator[FakeOpenAIServer]:
    """A fake server that lists one model, ``tiny``; the test scripts the rest."""
    fake = FakeOpenAIServer()
    fake.models("tiny", owned_by="me")
    yield fake
    fake.close()

"""Round 6: the remote backend driven by a user behind proxies, gateways and flaky servers.

Each test pins one bug that a scripted server on 127.0.0.1 reproduces: what the
server said got lost (an HTML error page quoted tag by tag, a plain-text 200 or an
empty stream read as a reply cut short, llama.cpp's ``error:`` line ignored, a 200
error body read as "no model list"), an API key reached messages, ``--json`` and the
history (quoted back by the server, or a key with a trailing newline quoted by
httpx), a rate limit turned scoring off for good, or a refused detection probe
outside ``/v1`` failed a load that ``/v1/models`` had already answered.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from assistant.backends import load_backend
from assistant.backends.openai.backend import OpenAIBackend
from assistant.backends.openai.http import server_message
from assistant.cli import main
from assistant.errors import RemoteError
from assistant.types import GenerationParams, Message

from .openai_fake_server import (  # noqa: F401 (the server fixture)
    DONE,
    FakeOpenAIServer,
    chat_chunk,
    send_json,
    sse,
    tiny_openai_server,
)

HELLO = [Message("user", "Say hello")]
GREEDY = GenerationParams(temperature=0, max_tokens=8)
KEY = "sk-live-0123456789abcdef"

NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.25.3</center>\r\n</body>\r\n</html>\r\n"
)


def connect(fake: FakeOpenAIServer, **options: Any) -> OpenAIBackend:
    options.setdefault("base_url", fake.base_url)
    backend = load_backend("openai", "tiny", progress=lambda _: None, **options)
    assert isinstance(backend, OpenAIBackend)
    return backend


def send_raw(status: int, content_type: str, text: str) -> Any:
    def handler(h: Any, _: Any) -> None:
        data = text.encode()
        h.send_response(status)
        h.send_header("content-type", content_type)
        h.send_header("content-length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    return handler


# ---- a proxy's HTML error page ------------------------------------------------------------------
def test_a_proxys_html_error_page_is_named_by_its_title_not_quoted_tag_by_tag(server: FakeOpenAIServer) -> None:
    """nginx's 413/502 page used to come out as ``<html> <head><title>502 ...</title></head> <body> ...``."""
    page = NGINX_502.replace("502 Bad Gateway", "413 Request Entity Too Large")
    server.route("POST", "/v1/chat/completions", send_raw(413, "text/html", page))
    with pytest.raises(RemoteError) as caught:
        connect(server).complete(HELLO, GREEDY)
    message = str(caught.value)
    assert message.endswith("for /v1/chat/completions: HTML page '413 Request Entity Too Large'"), message
    assert "<" not in message and "\n" not in message


@pytest.mark.parametrize(
    "body, expected",
    [
        (NGINX_502, "HTML page '502 Bad Gateway'"),
        ("<!DOCTYPE html><html><body><h1>Access &amp; denied</h1><p>Ray ID 8f</p></body></html>",
         "HTML page 'Access & denied'"),
        ("<html><body><script>var x = 1;</script>Sign in to continue</body></html>", "HTML page 'Sign in to continue'"),
        ("Internal Server Error", "Internal Server Error"),  # plain text stays as it is
        ("a < b and <b>c</b>", "a < b and <b>c</b>"),  # so does text that merely holds a tag
    ],
    ids=["nginx", "heading", "text-only", "plain", "not-html"],
)
def test_server_message_summarises_html_pages_only(body: str, expected: str) -> None:
    assert server_message(body) == (expected, None)


# ---- a 200 that is no event stream --------------------------------------------------------------
def test_a_plain_text_200_is_reported_as_such_not_as_a_stream_cut_short(server: FakeOpenAIServer) -> None:
    """Before: ``... ended the stream before the reply was complete``, hiding what the server said."""
    server.route("POST", "/v1/chat/completions", send_raw(200, "text/plain", "Upstream model is loading\n"))
    with pytest.raises(RemoteError) as caught:
        connect(server).complete(HELLO, GREEDY)
    assert str(caught.value) == (
        f"http://127.0.0.1:{server.port} answered /v1/chat/completions with text/plain, "
        "not an event stream: 'Upstream model is loading'"
    )


def test_keep_alive_comments_alone_still_read_as_a_stream_cut_short(server: FakeOpenAIServer) -> None:
    """Only lines that are no SSE at all make a body "not an event stream": ``: ping`` is SSE."""
    server.route("POST", "/v1/chat/completions", sse([": ping\n\n", ": ping\n\n", "data: {\"choices\": [{"]))
    with pytest.raises(RemoteError, match="ended the stream without sending any reply"):
        connect(server).complete(HELLO, GREEDY)


# ---- a 200 carrying an error ----------------------------------------------------------------------
def test_a_model_list_answered_with_an_error_body_says_what_the_server_said(server: FakeOpenAIServer) -> None:
    """A proxy answering 200 ``{"error": ...}`` used to get "gave no model list ... check base_url"."""
    server.route(
        "GET", "/v1/models", lambda h, _: send_json(h, 200, {"error": {"message": f"key {KEY} has expired"}})
    )
    with pytest.raises(RemoteError) as caught:
        load_backend("openai", "", base_url=server.base_url, api_key=KEY, progress=lambda _: None)
    assert str(caught.value) == f"http://127.0.0.1:{server.port} answered /v1/models with an error: key *** has expired"


# ---- a key quoted back outside a 4xx ----------------------------------------------------------------
def _quote_key_in_200(h: Any, _: Any) -> None:
    key = h.headers["authorization"].removeprefix("Bearer ")
    send_json(h, 200, {"error": {"message": f"quota exceeded for key {key}"}})


def _quote_key_mid_stream(h: Any, body: Any) -> None:
    key = h.headers["authorization"].removeprefix("Bearer ")
    error = "data: " + json.dumps({"error": {"message": f"key {key} revoked"}}) + "\n\n"
    sse([chat_chunk("Hi "), error, DONE])(h, body)


def _quote_key_as_text(h: Any, _: Any) -> None:
    key = h.headers["authorization"].removeprefix("Bearer ")
    send_raw(200, "text/plain", f"bad key {key}")(h, _)


@pytest.mark.parametrize(
    "handler", [_quote_key_in_200, _quote_key_mid_stream, _quote_key_as_text], ids=["200-error", "event", "text"]
)
def test_a_key_the_server_quotes_back_never_reaches_the_message(server: FakeOpenAIServer, handler: Any) -> None:
    """Only 4xx bodies were redacted: a 200 error body or an error event printed the key."""
    server.route("POST", "/v1/chat/completions", handler)
    with pytest.raises(RemoteError) as caught:
        connect(server, api_key=KEY).complete(HELLO, GREEDY)
    assert KEY not in str(caught.value) and "***" in str(caught.value)


def test_cli_keeps_a_quoted_key_out_of_json_and_history(
    server: FakeOpenAIServer, assistant_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.route("POST", "/v1/chat/completions", _quote_key_mid_stream)
    (assistant_home / "config").mkdir(parents=True, exist_ok=True)
    (assistant_home / "config" / "config.toml").write_text(
        f'[remotes.lab]\nbase_url = "{server.base_url}"\nmodel = "tiny"\napi_key_env = "LAB_KEY"\n'
    )
    monkeypatch.setenv("LAB_KEY", KEY)
    result = CliRunner().invoke(main, ["prompt", "-m", "lab", "--json", "hello"])
    assert result.exit_code == 1
    assert "key *** revoked" in result.output and KEY not in result.output
    db = assistant_home / "data" / "history.db"
    with sqlite3.connect(db) as conn:
        rows = [" ".join(str(v) for v in row) for row in conn.execute("select * from messages")]
        rows += [" ".join(str(v) for v in row) for row in conn.execute("select * from conversations")]
    assert any("key *** revoked" in row for row in rows)
    assert not any(KEY in row for row in rows)


# ---- scoring under a rate limit ------------------------------------------------------------------
@pytest.mark.parametrize("status", [429, 401, 413])
def test_a_rate_limited_score_fails_the_call_instead_of_turning_scoring_off(
    server: FakeOpenAIServer, status: int
) -> None:
    """A 429 (or 401, 413) on /v1/completions read as "the server refuses prompt log-probabilities":
    scoring was marked unsupported for the connection and tools quietly switched to generating."""
    def busy(h: Any, _: Any) -> None:
        data = json.dumps({"error": {"message": "slow down"}}).encode()
        h.send_response(status)
        h.send_header("content-type", "application/json")
        h.send_header("retry-after", "3600")  # longer than any retry waits: answered at once
        h.send_header("content-length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    server.models("gpt", owned_by="openai")  # generic: prompt log-probabilities are tried
    server.route("POST", "/v1/completions", busy)
    backend = load_backend("openai", "gpt", base_url=server.base_url, progress=lambda _: None)
    with pytest.raises(RemoteError, match=f"answered {status} .*slow down"):  # not NotSupportedError
        backend.score("The capital of France is", [" Paris"])
    assert backend.capabilities.score and backend.info()["score"] == "unchecked"


# ---- llama.cpp's "error:" stream line ---------------------------------------------------------------
LLAMA_ERROR = (
    'error: {"code":400,"message":"the request exceeds the available context size, try increasing it",'
    '"type":"exceed_context_size_error"}\n\n'
)


@pytest.mark.parametrize(
    "events, before",
    [
        ([LLAMA_ERROR, DONE], ""),  # was: "answered without a reply (no choices); is it an OpenAI-compatible server?"
        ([chat_chunk("Once"), LLAMA_ERROR, DONE], "Once"),  # was: "ended the reply without a finish reason"
        ([chat_chunk("Once"), 'event: error\ndata: {"message": "the request exceeds the available context size"}\n\n',
          DONE], "Once"),  # the spec's own way to type an event
        ([chat_chunk("Once"), ('data: {"object": "error", "message": "the request exceeds the available context size",'
          ' "type": "BadRequestError", "code": 400}\n\n'), DONE], "Once"),  # vLLM's error object, not under "error"
    ],
    ids=["llama-first", "llama-mid", "event-error", "object-error"],
)
def test_an_error_event_in_the_stream_says_what_the_server_said(
    server: FakeOpenAIServer, events: list[str], before: str
) -> None:
    """llama.cpp's server streams a failure as an ``error: {...}`` line, which SSE ignores as an unknown field."""
    server.route("POST", "/v1/chat/completions", sse(events))
    received: list[str] = []
    with pytest.raises(RemoteError) as caught:
        for chunk in connect(server).stream(HELLO, GREEDY):
            received.append(chunk.text)
    assert str(caught.value).startswith(
        f"http://127.0.0.1:{server.port} reported an error mid-reply: the request exceeds the available context size"
    )
    assert "".join(received) == before


# ---- a key with a trailing newline or a stray character ---------------------------------------------
def test_a_key_read_with_its_line_break_is_sent_without_it(
    server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch, assistant_home: Path
) -> None:
    """httpx refused ``Bearer sk-...\\r`` with "illegal header value b'Bearer sk-...\\r'": the key, printed."""
    server.route("POST", "/v1/chat/completions", sse([chat_chunk("hi"), chat_chunk(None, "stop"), DONE]))
    (assistant_home / "config").mkdir(parents=True, exist_ok=True)
    (assistant_home / "config" / "config.toml").write_text(
        f'[remotes.lab]\nbase_url = "{server.base_url}"\nmodel = "tiny"\napi_key_env = "LAB_KEY"\n'
    )
    monkeypatch.setenv("LAB_KEY", KEY + "\r\n")
    backend = load_backend("openai", "lab", progress=lambda _: None)
    assert backend.complete(HELLO, GREEDY).text == "hi"
    assert {r["headers"].get("Authorization") for r in server.requests} == {f"Bearer {KEY}"}


@pytest.mark.parametrize("bad", [KEY + "\x00", "sk-clé-0123456789", "sk-01\n23456789"], ids=["nul", "non-ascii", "newline"])
def test_a_key_no_header_can_carry_is_a_config_error_that_does_not_quote_it(server: FakeOpenAIServer, bad: str) -> None:
    from assistant.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        connect(server, api_key=bad)
    message = str(caught.value)
    assert message.startswith("the API key from -o api_key holds a control or non-ASCII character")
    assert bad.strip() not in message and "sk-" not in message
    assert server.requests == []


# ---- a long Retry-After -----------------------------------------------------------------------------
def test_a_long_retry_after_is_named_in_the_error(server: FakeOpenAIServer) -> None:
    """Over 60 s is not waited for; the row's error used to drop when the server would take requests again."""

    def quota(h: Any, _: Any) -> None:
        data = json.dumps({"error": {"message": "daily quota used up"}}).encode()
        h.send_response(429)
        h.send_header("content-type", "application/json")
        h.send_header("retry-after", "7200")
        h.send_header("content-length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    server.route("POST", "/v1/chat/completions", quota)
    with pytest.raises(RemoteError) as caught:
        connect(server).complete(HELLO, GREEDY)
    assert str(caught.value).endswith(
        "answered 429 Too Many Requests for /v1/chat/completions: daily quota used up "
        "(the server asks to wait 7200s before retrying)"
    )


# ---- detection probes outside /v1 --------------------------------------------------------------------
def test_a_gateway_refusing_paths_outside_the_api_still_loads(server: FakeOpenAIServer) -> None:
    """Only /v1/* is let through (an API gateway, a proxy's auth): the Ollama/TGI probes got 403/500,
    and the load failed with "answered 403 Forbidden for /api/version ... check the API key"."""
    server.models("gpt-x", owned_by="openai")
    server.route("GET", "/api/version", lambda h, _: send_json(h, 403, {"error": {"message": "forbidden"}}))
    server.route("GET", "/info", lambda h, _: send_json(h, 500, {"error": {"message": "no upstream"}}))
    server.route("POST", "/v1/chat/completions", sse([chat_chunk("hi"), chat_chunk(None, "stop"), DONE]))
    backend = load_backend("openai", "gpt-x", base_url=server.base_url, progress=lambda _: None)
    assert backend.info()["server"] == "openai"
    assert backend.complete(HELLO, GREEDY).text == "hi"


def test_a_refused_context_probe_leaves_the_context_unknown(server: FakeOpenAIServer) -> None:
    server.models("m", owned_by="llamacpp")  # llama-server: the context window is read from /props
    server.route("GET", "/props", lambda h, _: send_json(h, 401, {"error": {"message": "unauthorized"}}))
    backend = load_backend("openai", "m", base_url=server.base_url, progress=lambda _: None)
    assert (backend.context_length, backend.info()["context_length_source"]) == (0, "unknown")


# ---- llama-cpp-python's empty stream for a prompt longer than its context ------------------------------
def test_an_empty_stream_from_llama_cpp_python_names_the_context_window(server: FakeOpenAIServer) -> None:
    """Its server sends 200 and closes the stream at once ("Requested tokens (2705) exceed context window
    of 2048" goes to its log); the message was "ended the stream before the reply was complete"."""
    server.route("POST", "/v1/chat/completions", sse([]))  # tiny is owned_by "me": llama-cpp-python
    with pytest.raises(RemoteError) as caught:
        connect(server).complete(HELLO, GREEDY)
    assert str(caught.value) == (
        f"http://127.0.0.1:{server.port} ended the stream without sending any reply; llama-cpp-python's server "
        "does this when the prompt does not fit its context window: shorten the prompt, or start the server "
        "with a larger --n_ctx"
    )

"""Round 8: the remote backend against servers that send odd shapes, odd numbers and odd answers.

Each test pins one bug a scripted server on 127.0.0.1 reproduced: logprobs of the
wrong shape crashed with a traceback (``'str' object has no attribute 'items'``),
NaN logprobs made ``--json`` print ``NaN`` (not JSON), alternatives dropped the
bytes the server listed, negative usage made a negative speed, ``"max_model_len":
true`` became a window of "True tokens", a redirect read as "ended the stream
without sending any reply" or "gave no model list", one non-UTF-8 byte in
``/v1/models`` hid the whole list, plain answers and error bodies were read
without any size limit, and from Python ``read_timeout=True`` was a 1-second timeout.
"""

from __future__ import annotations

import re
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from assistant.backends import load_backend
from assistant.backends.openai import http as remote_http
from assistant.backends.openai.backend import OpenAIBackend
from assistant.backends.openai.sse import SSEDecoder
from assistant.backends.openai.stream import parse_event
from assistant.cli import main
from assistant.errors import ConfigError, RemoteError
from assistant.types import GenerationParams, Message

from .openai_fake_server import (  # noqa: F401 (the server fixture)
    DONE,
    FakeOpenAIServer,
    chat_chunk,
    chunked_then_cut,
    send_json,
    sse,
    text_chunk,
    tiny_openai_server,
)

HELLO = [Message("user", "Say hello")]
GREEDY = GenerationParams(temperature=0, max_tokens=8)
KEY = "sk-live-0123456789abcdef"


def connect(fake: FakeOpenAIServer, **options: Any) -> OpenAIBackend:
    options.setdefault("base_url", fake.base_url)
    backend = load_backend("openai", "tiny", progress=lambda _: None, **options)
    assert isinstance(backend, OpenAIBackend)
    return backend


def send_bytes(status: int, content_type: str, data: bytes, headers: dict[str, str] | None = None) -> Any:
    def handler(h: Any, _: Any) -> None:
        h.send_response(status)
        h.send_header("content-type", content_type)
        h.send_header("content-length", str(len(data)))
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(data)

    return handler


# ---- logprobs: the bytes of alternatives, and shapes that crashed ----------------------------------------
def test_alternatives_keep_the_bytes_the_server_lists(server: FakeOpenAIServer) -> None:
    """Known from round 7: only the chosen token kept its ``bytes``; an alternative that is half
    an emoji ("\ufffd" as text) could not be rebuilt."""
    logprobs = {"content": [{
        "token": "Hi", "logprob": -0.1, "bytes": [72, 105],
        "top_logprobs": [
            {"token": "Hi", "logprob": -0.1, "bytes": [72, 105]},
            {"token": "\ufffd", "logprob": -2.5, "bytes": [240, 159]},
            {"token": "Yo", "logprob": -3.0},
        ],
    }]}  # fmt: skip
    server.route("POST", "/v1/chat/completions", sse([chat_chunk("Hi", logprobs=logprobs), chat_chunk(None, "stop"), DONE]))
    reply = connect(server).complete(HELLO, GenerationParams(temperature=0, max_tokens=8, logprobs=3))
    [token] = reply.logprobs
    assert token.piece == b"Hi"
    assert [(alt.token, alt.piece) for alt in token.top] == [("Hi", b"Hi"), ("\ufffd", b"\xf0\x9f"), ("Yo", None)]
    assert token.top[1].to_dict()["bytes"] == "f09f"


@pytest.mark.parametrize(
    "logprobs",
    [
        {"tokens": ["a"], "token_logprobs": [-1.0], "top_logprobs": ["a"]},  # AttributeError before
        {"tokens": ["a"], "token_logprobs": [-1.0], "top_logprobs": [["a", -1.0]]},  # AttributeError before
        {"tokens": ["a"], "token_logprobs": [-1.0], "top_logprobs": 5},  # TypeError before
        {"tokens": ["a"], "token_logprobs": {"a": -1.0}},  # an object, not a list: nothing
        {"tokens": 5, "token_logprobs": [-1.0]},  # TypeError before
        {"content": [{"token": "a", "logprob": -1.0, "top_logprobs": 5}]},  # TypeError before
    ],
    ids=["top-str", "top-list", "top-int", "values-dict", "tokens-int", "chat-top-int"],
)
def test_logprobs_of_the_wrong_shape_are_left_out_not_a_crash(logprobs: dict[str, Any]) -> None:
    data = json.dumps({"choices": [{"index": 0, "text": "a", "logprobs": logprobs}]})
    update = parse_event(data, "http://box", want_logprobs=3)
    assert update.text == "a"
    assert all(not token.top or all(alt.logprob == -1.0 for alt in token.top) for token in update.logprobs)


def test_non_numbers_among_logprobs_are_left_out() -> None:
    """NaN became ``"logprob": NaN`` in ``--json`` (not JSON); ``true`` became a logprob of 1.0."""
    content = [
        {"token": "a", "logprob": float("nan")},
        {"token": "b", "logprob": True},
        {"token": "c", "logprob": float("inf")},
        {"token": "d", "logprob": -1.5, "top_logprobs": [
            {"token": "d", "logprob": -1.5}, {"token": "e", "logprob": float("nan")}, {"token": "f", "logprob": False},
        ]},
    ]  # fmt: skip
    data = json.dumps({"choices": [{"index": 0, "delta": {"content": "abcd"}, "logprobs": {"content": content}}]})
    update = parse_event(data, "http://box", want_logprobs=5)
    assert [(t.token, t.logprob, [a.token for a in t.top]) for t in update.logprobs] == [("d", -1.5, ["d"])]


def test_cli_json_stays_json_when_the_server_sends_nan(
    server: FakeOpenAIServer, assistant_home: Path
) -> None:
    logprobs = {"content": [{"token": "Hi", "logprob": float("nan")}, {"token": "!", "logprob": -0.5}]}
    server.route("POST", "/v1/chat/completions", sse([chat_chunk("Hi!", logprobs=logprobs), chat_chunk(None, "stop"), DONE]))
    result = CliRunner().invoke(
        main, ["prompt", "-b", "openai", "-o", f"base_url={server.base_url}", "-o", "logprobs=2", "--json", "hi"]
    )
    assert result.exit_code == 0, result.output
    line = next(line for line in result.stdout.splitlines() if line.startswith("{"))

    def refuse(constant: str) -> Any:
        raise AssertionError(f"not JSON: {constant}")

    document = json.loads(line, parse_constant=refuse)
    assert [t["text"] for t in document["tokens"]] == ["!"]


# ---- usage and speeds -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "usage", ['{"prompt_tokens": -5, "completion_tokens": -3}', '{"prompt_tokens": true, "completion_tokens": false}']
)
def test_negative_or_boolean_usage_is_not_taken(server: FakeOpenAIServer, usage: str) -> None:
    """``completion_tokens: -3`` gave a negative tokens_per_second in ``--json``; ``true`` counted as 1."""
    event = f'data: {{"choices": [], "usage": {usage}}}\n\n'
    server.route("POST", "/v1/chat/completions", sse([chat_chunk("x"), event, chat_chunk(None, "stop"), DONE]))
    reply = connect(server).complete(HELLO, GREEDY)
    counts = (reply.usage.prompt_tokens, reply.usage.completion_tokens)
    assert [type(n) for n in counts] == [int, int] and counts[0] > 0 and counts[1] == 1
    assert reply.timings.tokens_per_second is None or reply.timings.tokens_per_second > 0


@pytest.mark.parametrize("speed", [-3, float("inf"), True, "fast"])
def test_a_server_speed_that_is_no_speed_is_ignored(speed: Any) -> None:
    update = parse_event(json.dumps({"timings": {"predicted_per_second": speed}}), "http://box")
    assert update.tokens_per_second is None


def test_a_choice_with_a_null_index_is_the_reply(server: FakeOpenAIServer) -> None:
    """``"index": null`` was skipped as another choice, so the reply read as "no choices"."""
    event = 'data: {"choices": [{"index": null, "delta": {"content": "Hi"}, "finish_reason": "stop"}]}\n\n'
    server.route("POST", "/v1/chat/completions", sse([event, DONE]))
    assert connect(server).complete(HELLO, GREEDY).text == "Hi"


# ---- discovery ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [True, -4, "4096", 0])
def test_a_context_window_that_is_no_positive_whole_number_is_unknown(server: FakeOpenAIServer, value: Any) -> None:
    """``"max_model_len": true`` made the window ``True`` ("the context window is True tokens")."""
    server.route(
        "GET", "/v1/models", lambda h, _: send_json(h, 200, {"data": [{"id": "tiny", "max_model_len": value}]})
    )
    backend = connect(server)
    assert backend.context_length == 0 and type(backend.context_length) is int
    assert backend.info()["context_length_source"] == "unknown"


def test_a_model_list_with_a_byte_that_is_not_utf8_still_loads(server: FakeOpenAIServer) -> None:
    """One Latin-1 byte made the whole answer "non-JSON": "gave no model list ... check base_url"."""
    server.route("GET", "/v1/models", send_bytes(200, "application/json", b'{"data": [{"id": "caf\xe9"}]}'))
    backend = load_backend("openai", "", base_url=server.base_url, progress=lambda _: None)
    assert backend.info()["model"] == "caf\ufffd"


# ---- redirects ------------------------------------------------------------------------------------------
def test_a_redirected_stream_says_where_it_was_sent_and_does_not_follow(server: FakeOpenAIServer) -> None:
    """Before: "ended the stream without sending any reply", with nothing to go on."""
    target = f"http://user:{KEY}@127.0.0.1:{server.port}/elsewhere?key={KEY}"
    server.route("POST", "/v1/chat/completions", send_bytes(307, "text/plain", b"", {"location": target}))
    with pytest.raises(RemoteError) as caught:
        connect(server, api_key=KEY).complete(HELLO, GREEDY)
    message = str(caught.value)
    assert message.startswith(
        f"http://127.0.0.1:{server.port} answered 307 Temporary Redirect for /v1/chat/completions, redirecting to "
    )
    assert "set base_url" in message and KEY not in message and "\n" not in message
    assert not [r for r in server.requests if r["path"].startswith("/elsewhere")]


def test_a_redirected_model_list_is_named_as_a_redirect(server: FakeOpenAIServer) -> None:
    """Before: "gave no model list at /v1/models; check that base_url is the API root"."""
    server.route("GET", "/v1/models", send_bytes(301, "text/html", b"", {"location": "https://box/v1/models"}))
    with pytest.raises(RemoteError, match=r"answered 301 Moved Permanently for /v1/models, redirecting to 'https://box/v1/models'"):
        load_backend("openai", "", base_url=server.base_url, progress=lambda _: None)


# ---- sizes ----------------------------------------------------------------------------------------------
def test_a_plain_answer_past_the_size_limit_is_an_error(server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """``/v1/models`` (or a tokenization, an echo) was read whole, however large: memory ran out first."""
    monkeypatch.setattr(remote_http, "MAX_BODY_BYTES", 1000)
    listing = {"data": [{"id": f"model-{i}"} for i in range(200)]}
    server.route("GET", "/v1/models", lambda h, _: send_json(h, 200, listing))
    with pytest.raises(RemoteError, match=r"answered /v1/models with more than 0 MiB"):
        load_backend("openai", "model-1", base_url=server.base_url, progress=lambda _: None)


def test_an_endless_error_body_still_gives_the_status(server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(remote_http, "MAX_BODY_BYTES", 1000)
    server.route("POST", "/v1/chat/completions", send_bytes(500, "text/plain", b"x" * 50_000))
    with pytest.raises(RemoteError, match=r"answered 500 Internal Server Error for /v1/chat/completions: \(empty response\)"):
        connect(server).complete(HELLO, GREEDY)


def test_a_line_that_arrives_in_many_reads_is_one_line() -> None:
    """The decoder keeps pieces without a line end apart (a 20 MB event took seconds); they must
    still join into one line, for events and for a body that is no event stream."""
    decoder = SSEDecoder()
    events = [event for piece in (b"data: ab", b"cd", b"ef\r", b"\n", b"\r\n") for event in decoder.feed(piece)]
    assert [event.data for event in events] == ["abcdef"]
    plain = SSEDecoder()
    for piece in (b"Internal ", b"Server ", b"Error"):
        assert plain.feed(piece) == []
    assert plain.has_partial_event
    plain.close()
    assert plain.foreign == "Internal Server Error"


def test_a_long_text_completion_stream_is_whole(server: FakeOpenAIServer) -> None:
    long_text = "y" * 300_000
    server.route("POST", "/v1/completions", sse([text_chunk(long_text), text_chunk("", "stop"), DONE]))
    assert connect(server).complete("Once", GREEDY).text == long_text


# ---- scoring: echoes with values that are no numbers ---------------------------------------------------
@pytest.mark.parametrize(
    "offsets, values",
    [(["0", "4"], [None, -1.0]), ([0, 4], [None, "abc"]), ([0, 4], [None, float("nan")])],
    ids=["string-offset", "string-value", "nan-value"],
)
def test_an_echo_with_values_that_are_no_numbers_is_a_remote_error(
    server: FakeOpenAIServer, offsets: list[Any], values: list[Any]
) -> None:
    """A string offset crashed with ValueError (a traceback); NaN gave a NaN score."""

    def completions(h: Any, body: Any) -> None:
        if body.get("echo"):
            text = body["prompt"]
            logprobs = {"tokens": [text[:4], text[4:]], "text_offset": offsets, "token_logprobs": values}
        else:
            text, logprobs = " x", {"tokens": [" x"], "text_offset": [0], "token_logprobs": [-0.5]}
        send_json(h, 200, {"choices": [{"index": 0, "text": text, "logprobs": logprobs}]})

    server.route("POST", "/v1/completions", completions)
    backend = connect(server)
    with pytest.raises(RemoteError, match="echoed log-probabilities that are not finite numbers"):
        backend.score("abcd", ["ef"])


# ---- settings from Python ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "options, words",
    [
        ({"read_timeout": True}, "option read_timeout needs a number, got True"),
        # n_ctx is a shared option: load_backend() checks it for every backend, before the openai settings
        ({"n_ctx": 2.7}, "n_ctx in load_backend() must be a whole number, not 2.7"),
        ({"n_ctx": False}, "n_ctx in load_backend() must be a whole number, not False"),
        ({"api_key": ["sk-x"]}, "must be a string, got list"),
    ],
)
def test_options_of_the_wrong_type_from_python_are_config_errors(
    server: FakeOpenAIServer, options: dict[str, Any], words: str
) -> None:
    """``read_timeout=True`` was a 1-second timeout, ``n_ctx=2.7`` a 2-token window, a list a key."""
    with pytest.raises(ConfigError, match=re.escape(words)):
        connect(server, **options)
    assert not any("sk-x" in str(r["headers"]) for r in server.requests)


def test_whole_floats_are_fine_for_whole_options(server: FakeOpenAIServer) -> None:
    assert connect(server, n_ctx=4096.0).context_length == 4096


def test_a_short_list_of_alternatives_drops_no_token() -> None:
    """Text-completion logprobs are parallel lists; a ``top_logprobs`` shorter than ``tokens`` cut the tokens off."""
    logprobs = {"tokens": ["a", "b", "c"], "token_logprobs": [-1.0, -2.0, -3.0], "top_logprobs": [{"a": -1.0}]}
    data = json.dumps({"choices": [{"index": 0, "text": "abc", "logprobs": logprobs}]})
    update = parse_event(data, "http://box", want_logprobs=2)
    assert [(t.token, len(t.top)) for t in update.logprobs] == [("a", 1), ("b", 0), ("c", 0)]


# ---- base URLs that are no URL ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url, words",
    [
        ("http://[::1", "Invalid IPv6 URL in 'http://[::1'"),
        (f"http://user:{KEY}@[::1/v1", "Invalid IPv6 URL in 'http://***@[::1/v1'"),
        ("http://127.0.0.1:99999/v1", "Port out of range"),
        ("http://127.0.0.1:port/v1", "Port could not be cast"),
        ("http://exa mple.com/v1", "it holds a space or a control character: 'http://exa mple.com/v1'"),
        ("http://box/o\x1bk/v1", "it holds a space or a control character: 'http://box/o\\x1bk/v1'"),
    ],
)
def test_a_base_url_that_is_no_url_is_a_config_error(url: str, words: str) -> None:
    """Before: "the openai backend failed to load : ValueError: Invalid IPv6 URL" (or httpx's InvalidURL),
    a port past 65535 read as "connection refused", a space as "name or service not known"."""
    with pytest.raises(ConfigError) as caught:
        load_backend("openai", "tiny", base_url=url, progress=lambda _: None)
    message = str(caught.value)
    assert message.startswith("base_url from -o base_url must look like http://HOST:PORT/v1")
    assert words in message and KEY not in message and "\x1b" not in message


def test_redact_url_hides_a_password_in_a_url_it_cannot_split() -> None:
    assert remote_http.redact_url(f"http://me:{KEY}@[::1/v1") == "http://***@[::1/v1"
    assert remote_http.origin(f"http://me:{KEY}@[::1/v1") == "http://***@[::1/v1"


def test_detection_probes_wait_no_longer_than_the_read_timeout(server: FakeOpenAIServer) -> None:
    """The probes outside the API waited 10 s each whatever ``read_timeout`` said: a gateway holding
    ``/api/version`` open for 2 s made this (generic) server "Ollama" even with ``read_timeout=0.5``."""
    import time

    def slow_version(h: Any, _: Any) -> None:
        time.sleep(2)
        send_json(h, 200, {"version": "0.1"})

    server.models("tiny", owned_by="someone")
    server.route("GET", "/api/version", slow_version)
    backend = connect(server, read_timeout=0.5)
    assert backend.info()["server"] == "openai"


def test_model_ids_that_are_no_names_are_not_models(server: FakeOpenAIServer) -> None:
    """``{"id": ""}`` became the server's only model: requests asked for model "" and the history kept none."""
    listing = {"data": [{"id": ""}, {"id": {"name": "x"}}, {"id": True}, {"id": "  "}, {"id": "real"}]}
    server.route("GET", "/v1/models", lambda h, _: send_json(h, 200, listing))
    backend = load_backend("openai", "", base_url=server.base_url, progress=lambda _: None)
    assert backend.info()["model"] == "real"


def test_events_read_the_same_in_one_piece_or_byte_by_byte() -> None:
    """Lines are now read by position within a piece (cutting each off copied the rest of a big piece)."""
    body = b"data: a\r\n\r\n: ping\rdata: b\rdata: c\r\rid: 7\ndata: d\n\nevent: error\ndata: {}\n\ndata: tail"
    whole = SSEDecoder().feed(body)
    decoder = SSEDecoder()
    split = [event for i in range(len(body)) for event in decoder.feed(body[i : i + 1])]
    assert whole == split
    assert [(e.data, e.event, e.id) for e in whole] == [
        ("a", "message", None), ("b\nc", "message", None), ("d", "message", "7"), ("{}", "error", "7"),
    ]  # fmt: skip


@pytest.mark.parametrize("key", ["connect_timeout", "read_timeout"])
def test_a_timeout_past_a_week_is_a_config_error(server: FakeOpenAIServer, key: str) -> None:
    """``-o read_timeout=1e20`` failed every load with "OverflowError: timestamp out of range for platform time_t"."""
    with pytest.raises(ConfigError, match=f"option {key} must be at most 604800 seconds"):
        connect(server, **{key: 1e20})
    assert connect(server, **{key: 604800}).info()["model"] == "tiny"


@pytest.mark.parametrize(
    "owned_by, words",
    [
        ("me", "ended the stream without sending any reply; llama-cpp-python's server does this when the prompt "
               "does not fit its context window"),
        ("someone", "closed the connection in the middle of a response"),
    ],
)
def test_a_connection_closed_before_any_event_names_llama_cpp_pythons_window(
    server: FakeOpenAIServer, owned_by: str, words: str
) -> None:
    """llama-cpp-python refuses a prompt longer than its window with an empty stream, or (when its close
    wins the race) a chunked stream cut before any event: the second read "closed the connection in
    the middle of a response", so tests/test_openai_server.py failed now and then."""
    server.models("tiny", owned_by=owned_by)
    server.route("POST", "/v1/chat/completions", chunked_then_cut([": ping\n\n"]))
    with pytest.raises(RemoteError, match=words):
        connect(server).complete(HELLO, GREEDY)

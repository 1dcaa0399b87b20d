"""The remote backend against a scripted server on 127.0.0.1 that misbehaves on purpose.

Everything a real server can do wrong — refuse, stall, cut the stream, send
garbage, report an error mid-reply — must end in a one-line RemoteError, keep
the text received so far, and never hang.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from assistant.backends import load_backend
from assistant.backends.openai.backend import OpenAIBackend
from assistant.errors import ContextOverflowError, NotSupportedError, RemoteError
from assistant.session import ChatSession
from assistant.types import GenerationParams, Message

from .conftest import run_cli
from .openai_fake_server import (
    DONE,
    FakeOpenAIServer,
    chat_chunk,
    chunked_then_cut,
    send_json,
    send_text,
    sse,
    stall,
    text_chunk,
    tiny_openai_server,  # noqa: F401 (the server fixture)
)

HELLO = [Message("user", "Say hello")]
GREEDY = GenerationParams(temperature=0, max_tokens=32)


def connect(server: FakeOpenAIServer, model: str = "tiny", **options: Any) -> OpenAIBackend:
    notes: list[str] = []
    backend = load_backend("openai", model, base_url=server.base_url, progress=notes.append, **options)
    assert isinstance(backend, OpenAIBackend)
    backend.notes = notes  # type: ignore[attr-defined]
    return backend


def reply(*pieces: str, finish: str = "stop", usage: dict[str, int] | None = None) -> list[str]:
    events = [chat_chunk(p) for p in pieces] + [chat_chunk(None, finish)]
    if usage:
        events.append("data: " + json.dumps({"choices": [], "usage": usage}) + "\n\n")
    return events + [DONE]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---- connecting -----------------------------------------------------------------------
def test_load_detects_server_and_context(server: FakeOpenAIServer) -> None:
    server.models("served-model", owned_by="vllm", max_model_len=4096)
    backend = connect(server, "served-model")
    info = backend.info()
    assert (info["server"], info["context_length"], info["device"]) == ("vllm", 4096, "remote")
    assert backend.model_name == "served-model" and backend.notes == []  # type: ignore[attr-defined]


def test_unlisted_model_warns_and_sole_model_is_the_default(server: FakeOpenAIServer, assistant_home: Path) -> None:
    backend = connect(server, "smollm2")
    assert "'smollm2' is not among" in backend.notes[0]  # type: ignore[attr-defined]
    (assistant_home / "config").mkdir(parents=True)
    (assistant_home / "config" / "config.toml").write_text(f'[remotes.box]\nbase_url = "{server.base_url}"\n')
    assert load_backend("openai", "box", progress=lambda _: None).model_name == "box/tiny"  # REMOTE/MODEL


def test_connection_refused_is_one_line() -> None:
    with pytest.raises(RemoteError, match=r"^cannot connect to http://127\.0\.0\.1:\d+: connection refused$"):
        load_backend("openai", "m", base_url=f"http://127.0.0.1:{free_port()}/v1", progress=lambda _: None)


def test_unauthorized_names_the_key_options(server: FakeOpenAIServer) -> None:
    server.route("GET", "/v1/models", lambda h, _: send_json(h, 401, {"error": {"message": "Invalid API key"}}))
    with pytest.raises(RemoteError) as info:
        connect(server, api_key="wrong")
    message = str(info.value)
    assert "401" in message and "Invalid API key" in message and "ASSISTANT_OPENAI_API_KEY" in message
    assert "wrong" not in message
    assert server.requests[0]["headers"]["Authorization"] == "Bearer wrong"


# ---- streaming --------------------------------------------------------------------------
def test_stream_text_usage_and_request(server: FakeOpenAIServer) -> None:
    server.route("POST", "/v1/chat/completions", sse(reply("Hel", "lo", "!", usage={"prompt_tokens": 9, "completion_tokens": 3})))
    backend = connect(server)
    chunks = list(backend.stream(HELLO, GenerationParams(temperature=0.5, top_k=7, seed=11, max_tokens=20)))
    assert "".join(c.text for c in chunks) == "Hello!"
    final = chunks[-1]
    assert final.finish_reason == "stop" and final.usage is not None
    assert final.usage.to_dict() == {"prompt_tokens": 9, "completion_tokens": 3}
    assert final.timings is not None and final.timings.ttft_ms is not None
    (body,) = server.bodies("/v1/chat/completions")
    assert body["messages"] == [{"role": "user", "content": "Say hello"}] and body["stream"] is True
    assert (body["model"], body["top_k"], body["seed"], body["max_tokens"], body["min_p"]) == ("tiny", 7, 11, 20, 0.0)


def test_raw_prompt_uses_text_completions(server: FakeOpenAIServer) -> None:
    server.route("POST", "/v1/completions", sse([text_chunk(" 5,"), text_chunk(" 6", "length"), DONE]))
    completion = connect(server).complete("1, 2, 3, 4,", GREEDY)
    assert (completion.text, completion.finish_reason) == (" 5, 6", "length")
    assert server.bodies("/v1/completions")[0]["prompt"] == "1, 2, 3, 4,"


def test_stop_sequence_applies_client_side_too(server: FakeOpenAIServer) -> None:
    server.route("POST", "/v1/chat/completions", sse(reply("Hello ", "ST", "OP and more")))
    completion = connect(server).complete(HELLO, GREEDY.replace(stop=["STOP"]))
    assert (completion.text, completion.finish_reason) == ("Hello ", "stop")
    assert server.bodies("/v1/chat/completions")[0]["stop"] == ["STOP"]


def test_a_server_that_ignores_stream_still_works(server: FakeOpenAIServer) -> None:
    answer = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "Whole"}, "finish_reason": "stop"}],
              "usage": {"prompt_tokens": 2, "completion_tokens": 1}}
    server.route("POST", "/v1/chat/completions", lambda h, _: send_json(h, 200, answer))
    completion = connect(server).complete(HELLO, GREEDY)
    assert (completion.text, completion.usage.completion_tokens) == ("Whole", 1)


# ---- parameters the server lacks --------------------------------------------------------
def test_explicit_unsupported_param_is_an_error_before_any_request(server: FakeOpenAIServer) -> None:
    server.models("llama3", owned_by="library")  # Ollama
    backend = connect(server, "llama3")
    with pytest.raises(NotSupportedError, match="top_k=5 is not supported by Ollama"):
        backend.stream(HELLO, GenerationParams(top_k=5))
    assert server.bodies("/v1/chat/completions") == []


def test_default_unsupported_param_warns_once_and_is_not_sent(server: FakeOpenAIServer) -> None:
    server.models("llama3", owned_by="library")
    server.route("POST", "/v1/chat/completions", sse(reply("ok")))
    backend = connect(server, "llama3")
    backend.complete(HELLO, GenerationParams())
    backend.complete(HELLO, GenerationParams())
    assert backend.notes == [  # type: ignore[attr-defined]
        "warning: Ollama cannot be sent repeat_penalty; it applies its own (1.1 unless the model's settings say"
        " otherwise) instead of the default 1.0"
    ]
    assert all("top_k" not in body for body in server.bodies("/v1/chat/completions"))
    assert backend.info()["unsupported_params"] == ["logprobs", "repeat_penalty", "top_k"]
    with pytest.raises(NotSupportedError, match="raw-text prompts"):
        backend.stream("raw text", GREEDY)


# ---- faults ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "status, payload, expected",
    [
        (404, {"error": {"message": "The model `x` does not exist."}}, "404 Not Found for /v1/chat/completions: The model `x` does not exist."),
        (422, {"detail": [{"loc": ["body", "max_tokens"], "msg": "must be positive"}]}, "body.max_tokens: must be positive"),
        (500, "Traceback (most recent call last):\n  File x\nValueError: boom", "Traceback (most recent call last): File x ValueError: boom"),
    ],
)
def test_http_errors_carry_the_server_message(server: FakeOpenAIServer, status: int, payload: Any, expected: str) -> None:
    if isinstance(payload, str):
        server.route("POST", "/v1/chat/completions", lambda h, _: send_text(h, status, payload))
    else:
        server.route("POST", "/v1/chat/completions", lambda h, _: send_json(h, status, payload))
    session = ChatSession(connect(server), params=GREEDY)
    with pytest.raises(RemoteError) as info:
        list(session.send("hi"))
    assert expected in str(info.value) and "\n" not in str(info.value)
    assert session.messages == []  # nothing was generated: the turn is not recorded


def test_context_overflow_retries_with_the_room_left(server: FakeOpenAIServer) -> None:
    calls: list[int] = []

    def handler(h: Any, body: Any) -> None:
        calls.append(body["max_tokens"])
        if body["max_tokens"] > 10:
            message = ("This model's maximum context length is 100 tokens. However, you requested 602 tokens "
                       "(90 in the messages, 512 in the completion).")
            send_json(h, 400, {"error": {"message": message, "code": "context_length_exceeded"}})
        else:
            sse(reply("short"))(h, body)

    server.route("POST", "/v1/chat/completions", handler)
    assert connect(server).complete(HELLO, GenerationParams(max_tokens=512)).text == "short"
    assert calls == [512, 10]


def test_prompt_larger_than_context_is_context_overflow(server: FakeOpenAIServer) -> None:
    message = "This model's maximum context length is 2048 tokens, however you requested 2103 tokens (2101 in your prompt; 2 for the completion)."
    server.route("POST", "/v1/chat/completions", lambda h, _: send_json(h, 400, {"error": {"message": message}}))
    with pytest.raises(ContextOverflowError) as info:
        connect(server).complete(HELLO, GREEDY)
    assert (info.value.prompt_tokens, info.value.context_length) == (2101, 2048)


@pytest.mark.parametrize(
    "handler, match",
    [
        (sse([chat_chunk("Once upon"), chat_chunk(" a time")]), "ended the stream before the reply was complete"),
        (sse([chat_chunk("Once upon"), chat_chunk(" a time")], end="cut"), r"lost the connection|ended the stream"),
        (chunked_then_cut([chat_chunk("Once upon"), chat_chunk(" a time")]), "closed the connection in the middle"),
        (sse([chat_chunk("Once upon"), chat_chunk(" a time"), "data: {broken\n\n"]), "malformed stream event"),
        (sse([chat_chunk("Once upon"), chat_chunk(" a time"), 'data: {"error": {"message": "engine died"}}\n\n']),
         "error mid-reply: engine died"),
    ],
    ids=["closed-early", "reset", "chunked-cut", "malformed", "error-event"],
)
def test_stream_faults_keep_the_partial_reply(server: FakeOpenAIServer, handler: Any, match: str) -> None:
    server.route("POST", "/v1/chat/completions", handler)
    session = ChatSession(connect(server), params=GREEDY)
    received = []
    with pytest.raises(RemoteError, match=match) as info:
        for chunk in session.send("Tell me a story"):
            received.append(chunk.text)
    assert "\n" not in str(info.value)
    assert "".join(received) == "Once upon a time"
    assert session.messages[-1] == Message("assistant", "Once upon a time")
    assert session.last is not None and session.last.finish_reason == "error"


def test_held_back_stop_prefix_is_kept_on_failure(server: FakeOpenAIServer) -> None:
    server.route("POST", "/v1/chat/completions", sse([chat_chunk("Answer: EN")]))
    chunks: list[str] = []
    with pytest.raises(RemoteError):
        for chunk in connect(server).stream(HELLO, GREEDY.replace(stop=["END"])):
            chunks.append(chunk.text)
    assert "".join(chunks) == "Answer: EN"


def test_read_timeout_does_not_hang(server: FakeOpenAIServer) -> None:
    server.route("POST", "/v1/chat/completions", stall(5, [chat_chunk("Hi")]))
    backend = connect(server, read_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(RemoteError, match=r"sent nothing for 0\.5s \(raise it with -o read_timeout=SECONDS\)"):
        list(backend.stream(HELLO, GREEDY))
    assert time.monotonic() - started < 4


def test_connect_timeout_message() -> None:
    import httpx

    from assistant.backends.openai.http import RemoteClient

    client = RemoteClient(None, connect_timeout=2.5, read_timeout=60)
    error = client.transport_error(httpx.ConnectTimeout("timed out"), "http://10.0.0.1:8000/v1/models")
    assert str(error) == ("timed out after 2.5s connecting to http://10.0.0.1:8000 "
                          "(raise it with -o connect_timeout=SECONDS)")
    client.close()


# ---- cancel --------------------------------------------------------------------------------
def test_cancel_mid_stream_from_another_thread(server: FakeOpenAIServer) -> None:
    server.route("POST", "/v1/chat/completions", sse(reply(*["tok "] * 50), delay=0.1))
    backend = connect(server)
    chunks = []
    started = threading.Event()

    def consume() -> None:
        for chunk in backend.stream(HELLO, GREEDY):
            chunks.append(chunk)
            started.set()

    worker = threading.Thread(target=consume)
    worker.start()
    assert started.wait(10)
    backend.cancel()
    worker.join(3)
    assert not worker.is_alive()
    assert chunks[-1].finish_reason == "cancelled" and len(chunks) < 20


def test_cancel_while_the_server_is_still_thinking(server: FakeOpenAIServer) -> None:
    """No event has arrived yet: cancel must not wait for the read timeout."""
    server.route("POST", "/v1/chat/completions", stall(30))
    backend = connect(server)
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.extend(backend.stream(HELLO, GREEDY)))
    worker.start()
    time.sleep(0.5)
    started = time.monotonic()
    backend.cancel()
    worker.join(5)
    assert not worker.is_alive() and time.monotonic() - started < 3
    assert [c.finish_reason for c in result] == ["cancelled"]


# ---- tokens, templates, scoring ----------------------------------------------------------------
def test_token_counts_exact_with_tokenizer_else_estimate(server: FakeOpenAIServer) -> None:
    server.route("POST", "/extras/tokenize", lambda h, body: send_json(h, 200, {"tokens": list(range(len(body["input"].split())))}))
    backend = connect(server)
    assert backend.count_tokens("one two three") == 3
    assert backend.prompt_token_ids("a b") == [0, 1]
    assert backend.info()["token_count"].startswith("exact")
    assert server.bodies("/extras/tokenize")[0] == {"input": "one two three", "model": "tiny"}
    # chat messages need the server's template, which llama-cpp-python does not expose
    with pytest.raises(NotSupportedError, match="chat_template"):
        backend.render_prompt(HELLO)
    assert backend.count_tokens(HELLO) > 0
    assert backend.info()["token_count"].startswith("estimate for chat messages")
    with pytest.raises(NotSupportedError):
        backend.prompt_token_ids(HELLO)


def test_missing_tokenize_endpoint_falls_back_to_an_estimate(server: FakeOpenAIServer) -> None:
    backend = connect(server)  # no /extras/tokenize route: 404
    assert backend.count_tokens("x" * 40) == 10
    assert backend.info()["token_count"].startswith("estimate")


def test_chat_template_option_and_llama_server_apply_template(server: FakeOpenAIServer) -> None:
    server.route("POST", "/extras/tokenize", lambda h, body: send_json(h, 200, {"tokens": [1, 2, 3]}))
    backend = connect(server, chat_template="chatml")
    assert backend.render_prompt(HELLO) == "<|im_start|>user\nSay hello<|im_end|>\n<|im_start|>assistant\n"
    assert backend.prompt_token_ids(HELLO) == [1, 2, 3]
    assert server.bodies("/extras/tokenize")[0]["input"] == backend.render_prompt(HELLO)

    server.models("m", owned_by="llamacpp", meta={"n_ctx": 8192})
    server.route("POST", "/apply-template", lambda h, body: send_json(h, 200, {"prompt": "<s>[INST] Say hello [/INST]"}))
    server.route("POST", "/tokenize", lambda h, body: send_json(h, 200, {"tokens": [{"id": 5, "piece": "x"}, {"id": 6, "piece": "y"}]}))
    llama_server = connect(server, "m")
    assert llama_server.render_prompt(HELLO) == "<s>[INST] Say hello [/INST]"
    assert llama_server.prompt_token_ids(HELLO) == [5, 6]
    assert llama_server.context_length == 8192
    assert server.bodies("/tokenize")[0] == {"content": "<s>[INST] Say hello [/INST]", "add_special": True, "parse_special": True}


def _echo_server(server: FakeOpenAIServer, shift: bool) -> None:
    """Plays a server with prompt logprobs; with ``shift`` it has llama-cpp-python's off-by-one bug."""
    def logprob(prefix: str, token: str) -> float:
        return -0.25 if token == " Paris" else -float(len(token) + len(prefix) % 3)

    def handler(h: Any, body: Any) -> None:
        prompt = body["prompt"]
        if not body.get("echo"):
            choice = {"text": " Paris", "logprobs": {"tokens": [" Paris"], "token_logprobs": [logprob(prompt, " Paris")],
                                                     "text_offset": [len(prompt)], "top_logprobs": [{" Paris": -0.25}]}}
            send_json(h, 200, {"choices": [choice]})
            return
        pieces = [p for p in prompt.replace(" ", "\0 ").split("\0") if p] + ["."]
        offsets, values, seen = [], [], ""
        for index, piece in enumerate(pieces):
            offsets.append(len(seen))
            values.append(None if index == 0 else logprob(seen, piece))
            seen += piece
        if shift:
            values = [None] + [v - 5.0 for v in values[1:]]
        choice = {"text": prompt + ".", "logprobs": {"tokens": pieces, "text_offset": offsets, "token_logprobs": values,
                                                     "top_logprobs": [None] * len(pieces)}}
        send_json(h, 200, {"choices": [choice]})

    server.route("POST", "/v1/completions", handler)


def test_score_sums_echoed_logprobs(server: FakeOpenAIServer) -> None:
    _echo_server(server, shift=False)
    backend = connect(server)
    paris, london = backend.score("The capital of France is", [" Paris", " London"])
    assert paris == pytest.approx(-0.25) and london < paris
    assert backend.info()["score"] == "ok"
    echo_body = server.bodies("/v1/completions")[-1]
    assert echo_body["echo"] is True and echo_body["temperature"] == 0.0 and echo_body["repeat_penalty"] == 1.0


def test_misaligned_prompt_logprobs_are_refused_not_returned(server: FakeOpenAIServer) -> None:
    _echo_server(server, shift=True)
    backend = connect(server)
    with pytest.raises(NotSupportedError, match="shifted by one token"):
        backend.score("The capital of France is", [" Paris"])
    requests = len(server.requests)
    with pytest.raises(NotSupportedError, match="shifted by one token"):
        backend.score("Again", [" x"])
    assert len(server.requests) == requests  # checked once per connection
    assert backend.info()["score"] == "unsupported"


def test_score_on_a_server_without_prompt_logprobs(server: FakeOpenAIServer) -> None:
    server.models("mistral", owned_by="library")  # Ollama
    with pytest.raises(NotSupportedError, match="not supported by this backend: Ollama"):
        connect(server, "mistral").score("x", ["y"])
    server.models("gpt", owned_by="openai")  # generic: tried, refused by the server
    server.route("POST", "/v1/completions", lambda h, _: send_json(h, 400, {"error": {"message": "echo is not supported with logprobs"}}))
    with pytest.raises(NotSupportedError, match="refused prompt log-probabilities \\(echo is not supported"):
        connect(server, "gpt").score("x", ["y"])


# ---- the CLI ---------------------------------------------------------------------------------
def test_cli_prints_partial_reply_then_one_error_line(server: FakeOpenAIServer) -> None:
    server.route("POST", "/v1/chat/completions", chunked_then_cut([chat_chunk("Once upon"), chat_chunk(" a time")]))
    result = run_cli("prompt", "-b", "openai", "-m", "tiny", "-o", f"base_url={server.base_url}", "story", timeout=60)
    assert result.returncode == 1
    assert result.stdout.startswith("Once upon a time")
    assert result.stderr.strip().splitlines() == [
        f"error: http://127.0.0.1:{server.port} closed the connection in the middle of a response"
    ]


def test_cli_without_a_server_says_how_to_configure_one() -> None:
    result = run_cli("prompt", "-b", "openai", "hi", env={"ASSISTANT_OPENAI_BASE_URL": ""}, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith("error: no server for -b openai: set ASSISTANT_OPENAI_BASE_URL")
    listing = run_cli("backends", timeout=60)
    assert "openai" in listing.stdout


def test_detection_by_probing_when_owned_by_says_nothing(server: FakeOpenAIServer) -> None:
    server.models("tgi", owned_by="system")
    server.route("GET", "/info", lambda h, _: send_json(h, 200, {"model_id": "Qwen/Qwen2.5-7B", "max_total_tokens": 4096}))
    server.route("POST", "/v1/chat/completions", sse(reply("ok")))
    tgi = connect(server, "tgi")
    assert (tgi.info()["server"], tgi.context_length) == ("tgi", 4096)
    tgi.complete(HELLO, GenerationParams(temperature=0, top_p=1.0))
    assert "top_p" not in server.bodies("/v1/chat/completions")[0]

    del server.routes[("GET", "/info")]
    server.route("GET", "/api/version", lambda h, _: send_json(h, 200, {"version": "0.12.0"}))
    assert connect(server, "tgi").info()["server"] == "ollama"

    server.models("m", owned_by="llamacpp")
    server.route("GET", "/props", lambda h, _: send_json(h, 200, {"default_generation_settings": {"n_ctx": 1024}}))
    assert connect(server, "m").context_length == 1024
    forced = load_backend("openai", "m", base_url=server.base_url, server="vllm", progress=lambda _: None)
    assert forced.info()["server"] == "vllm"
    assert connect(server, "m", n_ctx=777).context_length == 777

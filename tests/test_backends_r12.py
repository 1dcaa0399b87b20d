"""Round 12, backends: GGUF header counts llama.cpp asserts on (aborting the process) refused before it
sees the file."""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from assistant.backends import check_options, load_backend
from assistant.backends.llama_limits import check_llama_limits
from assistant.backends.openai.reply_stream import TOKEN_CHARS, piece_limit
from assistant.errors import ModelLoadError, RemoteError
from assistant.types import GenerationParams, Message

from .gguf_files import STRING, UINT32, gguf_string, write_gguf_header
from .openai_fake_server import (  # noqa: F401 (the server fixture)
    FakeOpenAIServer,
    chat_chunk,
    fake_openai_server,
    sse,
)


def _u32(value: int) -> bytes:
    return struct.pack("<I", value)


def _header(path: Path, **counts: int) -> Path:
    """A llama GGUF header with the keys llama.cpp reads first, plus ``counts`` (``block_count=513``)."""
    pairs = [
        ("general.architecture", STRING, gguf_string("llama")),
        ("llama.context_length", UINT32, _u32(2048)),
        ("llama.embedding_length", UINT32, _u32(64)),
        ("llama.block_count", UINT32, _u32(counts.pop("block_count", 2))),
    ]
    pairs += [(f"llama.{key}", UINT32, _u32(value)) for key, value in counts.items()]
    return write_gguf_header(path, pairs)


ABORTING = {
    "layers": ({"block_count": 513}, "llama.block_count 513 is past llama.cpp's 512 layers"),
    "experts": ({"expert_count": 1025, "expert_used_count": 2}, "llama.expert_count 1025 is past llama.cpp's 1024"),
    "more used than there are": ({"expert_count": 4, "expert_used_count": 8}, "expert_used_count 8 does not fit"),
    "experts, none used": ({"expert_count": 4}, "expert_used_count 0 does not fit llama.expert_count 4"),
    "used without experts": ({"expert_used_count": 2}, "expert_used_count 2 does not fit llama.expert_count 0"),
}


@pytest.mark.parametrize("case", list(ABORTING))
def test_a_header_count_llama_cpp_asserts_on_is_a_one_line_load_error(tmp_path: Path, case: str) -> None:
    """Was: ``assistant prompt -m x.gguf`` (and the chat app) died with status 134 (SIGABRT) and no message:
    llama.cpp checks these counts with GGML_ASSERT. Loaded in a child, so the unfixed abort fails this test
    instead of killing the test run."""
    counts, expected = ABORTING[case]
    path = _header(tmp_path / "x.gguf", **dict(counts))
    code = (
        "import sys\n"
        "from assistant.backends.llama_cpp import LlamaCppBackend\n"
        "from assistant.errors import ModelLoadError\n"
        "try:\n"
        f"    LlamaCppBackend().load({str(path)!r}, progress=lambda _: None)\n"
        "except ModelLoadError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]
    assert expected in done.stdout and "corrupt GGUF header" in done.stdout
    assert done.stdout.count("\n") == 1


def test_counts_llama_cpp_takes_pass_and_the_check_runs_before_anything_loads(tmp_path: Path) -> None:
    for counts in ({"block_count": 512}, {"expert_count": 1024, "expert_used_count": 1024}, {"expert_count": 8,
                   "expert_used_count": 2}, {}):  # fmt: skip
        path = _header(tmp_path / "ok.gguf", **dict(counts))
        from assistant.models.gguf import read_metadata

        check_llama_limits(path, read_metadata(path))  # nothing raised: llama.cpp's to judge
    # compare's early check (check_options with the model) refuses it too, loading nothing
    bad = _header(tmp_path / "bad.gguf", block_count=4294967295)
    with pytest.raises(ModelLoadError, match="block_count 4294967295 is past"):
        check_options("llama-cpp", {}, str(bad))


def test_a_count_of_another_type_is_left_to_llama_cpp(tmp_path: Path) -> None:
    """llama.cpp refuses a wrong type with an error of its own ("wrong type str but expected u32")."""
    path = write_gguf_header(
        tmp_path / "typed.gguf",
        [("general.architecture", STRING, gguf_string("llama")), ("llama.block_count", STRING, gguf_string("999"))],
    )
    from assistant.models.gguf import read_metadata

    check_llama_limits(path, read_metadata(path))


# ---- openai: a malformed HTTP answer is named as such, not retried as a dropped connection ------------------
@pytest.fixture
def remote() -> Iterator[FakeOpenAIServer]:
    server = FakeOpenAIServer()
    server.models("tiny")
    yield server
    server.close()


def _raw_answer(status: int, headers: list[tuple[str, str]], body: bytes = b"") -> Any:
    def handler(h: Any, _: Any) -> None:
        h.send_response(status)
        for name, value in headers:
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(body)

    return handler


@pytest.mark.parametrize(
    "headers, words",
    [
        ([("Location", "http://elsewhere/\x1b[31m")], "invalid URL in location header"),
        ([("Content-Type", "text/event-stream"), ("X-Broken", "a\x00b")], "illegal header line"),
    ],
)
def test_a_malformed_http_answer_is_named_once_not_retried_as_a_dropped_connection(
    remote: FakeOpenAIServer, headers: list[tuple[str, str]], words: str
) -> None:
    """Was: a redirect whose Location held a control byte (or any header h11 refuses) was sent four more
    times, 7.5 s of back-off, then reported as "closed the connection in the middle of a response"."""
    server = remote
    server.route("POST", "/v1/chat/completions", _raw_answer(302 if "Location" in dict(headers) else 200, headers))
    backend = load_backend("openai", "tiny", progress=lambda _: None, base_url=server.base_url)
    with pytest.raises(RemoteError) as caught:
        backend.complete([Message("user", "Hi")], GenerationParams(temperature=0, max_tokens=4))
    message = str(caught.value)
    assert f"http://127.0.0.1:{server.port} sent a malformed HTTP response ({words}" in message
    assert "closed the connection" not in message and "\x1b" not in message and "\x00" not in message
    assert len(server.bodies("/v1/chat/completions")) == 1  # the same broken answer is not asked for again


def test_a_dropped_connection_is_still_retried_and_named_as_one(remote: FakeOpenAIServer) -> None:
    server = remote
    calls: list[int] = []

    def drop_first(h: Any, body: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)  # nothing sent: "Server disconnected"
            return
        sse([chat_chunk("ok"), chat_chunk(None, "stop"), "data: [DONE]\n\n"])(h, body)

    server.route("POST", "/v1/chat/completions", drop_first)
    backend = load_backend("openai", "tiny", progress=lambda _: None, base_url=server.base_url)
    backend._client.backoff = 0.01  # type: ignore[union-attr]
    assert backend.complete([Message("user", "Hi")], GenerationParams(temperature=0, max_tokens=4)).text == "ok"
    assert len(calls) == 2


def test_a_server_that_ignores_max_tokens_is_cut_off(remote: FakeOpenAIServer) -> None:
    """Was: a server streaming without end (or ignoring max_tokens) was read to its end: 20,000 tokens for
    ``-o max_tokens=5``, printed, stored, held in memory; a stream that never ended never stopped."""
    def flood(h: Any, _: Any) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.end_headers()
        try:
            for _ in range(5000):
                h.wfile.write(chat_chunk("w ").encode())
        except (BrokenPipeError, ConnectionResetError):
            return

    remote.route("POST", "/v1/chat/completions", flood)
    backend = load_backend("openai", "tiny", progress=lambda _: None, base_url=remote.base_url)
    reply = backend.complete([Message("user", "Hi")], GenerationParams(temperature=0, max_tokens=5))
    assert reply.finish_reason == "length"
    assert reply.text == "w " * piece_limit(5) and piece_limit(5) < 20
    # a reply within max_tokens, in one piece per token, is read whole
    remote.route("POST", "/v1/chat/completions", sse([chat_chunk("a"), chat_chunk("b", "stop"), "data: [DONE]\n\n"]))
    reply = backend.complete([Message("user", "Hi")], GenerationParams(temperature=0, max_tokens=2))
    assert (reply.text, reply.finish_reason) == ("ab", "stop")


def test_a_reply_of_few_huge_pieces_is_cut_off_too(remote: FakeOpenAIServer) -> None:
    """Counting pieces alone let a server send each of them as a 60 MB event."""
    big = "x" * 100_000

    def flood(h: Any, _: Any) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.end_headers()
        try:
            for _ in range(200):
                h.wfile.write(chat_chunk(big).encode())
        except (BrokenPipeError, ConnectionResetError):
            return

    remote.route("POST", "/v1/chat/completions", flood)
    backend = load_backend("openai", "tiny", progress=lambda _: None, base_url=remote.base_url)
    reply = backend.complete([Message("user", "Hi")], GenerationParams(temperature=0, max_tokens=5))
    assert reply.finish_reason == "length" and reply.text == big  # the piece past the bound ends the reply
    assert piece_limit(5) * TOKEN_CHARS < len(big)

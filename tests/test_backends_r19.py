"""Round 19, backends: stopping a stream mid-prompt in the engine process, empty conversations,
llama.cpp's log lines, and the transformers backend's copy of an oddly named or headless GGUF."""

from __future__ import annotations

import threading
import time
from multiprocessing import Pipe
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from assistant.backends import load_backend
from assistant.backends.base import SampledToken
from assistant.backends.engine import wire
from assistant.backends.engine.host import EngineHost
from assistant.backends.fake import FakeBackend
from assistant.errors import ConfigError
from assistant.types import Chunk, GenerationParams

from .openai_fake_server import DONE, FakeOpenAIServer, chat_chunk, sse, tiny_openai_server  # noqa: F401

# -- known 1. a close reaches the engine while it still reads the prompt ----------------------------------


class SlowPromptBackend(FakeBackend):
    """Reads its prompt for up to ``PROMPT_SECONDS``, checking for a cancel between two steps, as llama.cpp does."""

    PROMPT_SECONDS = 10.0

    def __init__(self) -> None:
        super().__init__(reply="y")
        self.reading = threading.Event()

    def sample_tokens(self, prompt_ids: list[int], params: GenerationParams) -> Iterator[SampledToken]:
        self.reading.set()
        deadline = time.monotonic() + self.PROMPT_SECONDS
        while time.monotonic() < deadline:
            if self.cancelled:
                return  # the prompt's evaluation aborted: no token
            time.sleep(0.005)
        yield from super().sample_tokens(prompt_ids, params)


def test_a_stream_closed_while_its_prompt_is_read_stops_there_not_at_its_first_token() -> None:
    """``close`` was seen only at the stream's next chunk: a long prompt's evaluation ran to its end first,
    and the app's wait for the stream's end (5 s) ran out, so the next request found the model busy."""
    app_end, host_end = Pipe()
    backend = SlowPromptBackend()
    backend.load("m")
    host = EngineHost(host_end, host_end)
    host.backend = backend
    threading.Thread(target=host.serve, daemon=True).start()
    assert app_end.recv()[0] == wire.READY
    app_end.send((wire.STREAM, 1, ("stream", ("a long prompt", GenerationParams(max_tokens=50)), {})))
    backend.reading.wait()
    app_end.send((wire.CLOSE, 1, None))
    chunks: list[Chunk] = []
    while True:
        kind, request_id, payload = app_end.recv()
        assert request_id == 1
        if kind == wire.END:
            break
        assert kind == wire.CHUNKS, payload
        chunks.extend(payload)
    assert "".join(chunk.text for chunk in chunks) == ""  # no token was generated
    assert chunks[-1].finish_reason == "cancelled"
    app_end.send((wire.EXIT, 0, None))


def test_a_stream_closed_before_its_thread_began_does_not_read_its_prompt() -> None:
    """A close that came before the stream's thread started set a cancel the stream then cleared as it began:
    its whole prompt was read (seconds) before the close was seen at the first token."""
    from assistant.backends.engine.host import _StreamState

    app_end, host_end = Pipe()
    backend = SlowPromptBackend()
    backend.load("m")
    host = EngineHost(host_end, host_end)
    host.backend = backend  # not serving: the stream is run here, as the reading thread would start it
    state = _StreamState(closed=True)
    host._stream(7, ("stream", ("a long prompt", GenerationParams(max_tokens=5)), {}), state)
    assert app_end.recv() == (wire.END, 7, None)
    assert not backend.reading.is_set()

def test_a_stream_closed_while_another_streams_does_not_stop_the_other() -> None:
    """The close's cancel is the whole backend's: sent while a reply streams, it stopped the reply too."""
    app_end, host_end = Pipe()
    backend = FakeBackend(reply="z" * 40, token_delay=0.005)
    backend.load("m")
    host = EngineHost(host_end, host_end)
    host.backend = backend
    threading.Thread(target=host.serve, daemon=True).start()
    assert app_end.recv()[0] == wire.READY
    for request_id in (1, 2):
        app_end.send((wire.STREAM, request_id, ("stream", ("go", GenerationParams(max_tokens=50)), {})))
    chunks: dict[int, list[Chunk]] = {1: [], 2: []}
    ended: set[int] = set()
    closed = False
    while ended != {1, 2}:
        kind, request_id, payload = app_end.recv()
        if kind == wire.END:
            ended.add(request_id)
            continue
        assert kind == wire.CHUNKS, payload
        chunks[request_id].extend(payload)
        if request_id == 2 and not closed:
            app_end.send((wire.CLOSE, 2, None))
            closed = True
    assert chunks[1][-1].finish_reason == "stop"
    assert "".join(chunk.text for chunk in chunks[1]) == "z" * 40
    app_end.send((wire.EXIT, 0, None))


# -- known 3. an empty conversation means the same on every backend --------------------------------------

CALLS: dict[str, Callable[[Any], Any]] = {
    "stream": lambda backend: list(backend.stream([], GenerationParams(max_tokens=4))),
    "complete": lambda backend: backend.complete([], GenerationParams(max_tokens=4)),
    "count_tokens": lambda backend: backend.count_tokens([]),
    "render_prompt": lambda backend: backend.render_prompt([]),
}


@pytest.mark.parametrize("call", sorted(CALLS))
def test_an_empty_message_list_is_refused_by_a_local_engine(call: str) -> None:
    """The chat template rendered ``[]`` as a conversation of its own (a default system prompt) and replied."""
    backend = FakeBackend()
    backend.load("m")
    with pytest.raises(ConfigError, match="the conversation is empty"):
        CALLS[call](backend)
    assert backend.calls == []  # nothing was generated


@pytest.mark.parametrize("call", ["stream", "complete", "render_prompt"])
def test_an_empty_message_list_is_refused_by_the_openai_backend_before_the_server_sees_it(
    server: FakeOpenAIServer, call: str
) -> None:
    """``[]`` went to the server as ``"messages": []``: an error from some servers, a made-up reply from others."""
    server.route("POST", "/v1/chat/completions", sse([chat_chunk("Hi", finish="stop"), DONE]))
    backend = load_backend(
        "openai", "tiny", base_url=server.base_url, chat_template="chatml", progress=lambda _: None
    )
    with pytest.raises(ConfigError, match="the conversation is empty"):
        CALLS[call](backend)
    assert server.bodies("/v1/chat/completions") == []


# -- known 4. llama.cpp's log records, shown with --verbose, are one safe line each -------------------------


def test_a_llama_cpp_log_record_quoting_a_gguf_name_with_line_breaks_stays_one_line() -> None:
    """``general.name = "x\\nllama_model_loader: forged"`` printed a second line that read as the loader's own."""
    from assistant.backends.llama_library import _log_text

    record = b"print_info: general.name          = x\nllama_model_loader: \x1b[31mforged\n"
    assert _log_text(record) == "print_info: general.name = x llama_model_loader: \u241b[31mforged\n"
    # the loader's own records keep their alignment, and its progress dots stay fragments
    assert _log_text(b"print_info: n_vocab               = 49152\n") == "print_info: n_vocab               = 49152\n"
    assert [_log_text(b".") for _ in range(3)] + [_log_text(b"\n")] == [".", ".", ".", "\n"]


def test_llama_cpp_pythons_verbose_prints_of_the_chat_template_are_one_bounded_line() -> None:
    """``Using gguf chat template: …`` printed the template's own line breaks (a dozen ragged lines between the
    log's), and the whole of it: a GGUF may hold a 64 MB template, and ``Model metadata: {…}`` repeats it."""
    import io

    from assistant.backends.llama_library import _VisibleStream
    from assistant.terminal_text import MAX_MESSAGE_CELLS

    out = io.StringIO()
    stream = _VisibleStream(out)
    print("Using gguf chat template: {% for m in messages %}\n{{ m.content }}\n{% endfor %}", file=stream)
    print("Model metadata: {'t': '" + "x" * 100_000 + "'}", file=stream)  # one f-string, as llama-cpp-python
    first, second, rest = out.getvalue().split("\n")
    assert first == "Using gguf chat template: {% for m in messages %} {{ m.content }} {% endfor %}"
    assert second.startswith("Model metadata: {'t': 'xxx") and second.endswith("…")
    assert len(second) <= MAX_MESSAGE_CELLS and rest == ""


# -- the transformers backend's copy of a GGUF with a long or odd name ------------------------------------


def test_a_gguf_with_a_long_name_gets_a_cache_directory_the_file_system_takes(tmp_path: Path) -> None:
    """A 250-byte file name (legal) made the converted copy's directory name 267 bytes: "File name too long",
    so the model could not load on transformers at all; a newline or escape in the name went into it too."""
    from assistant.backends.torch.convert import cache_key

    names = ["é" * 120 + ".gguf", "a" * 250 + ".gguf", "e\x1b[31mv\nil.gguf"]
    for name in names:
        gguf = tmp_path / name
        gguf.write_bytes(b"GGUF")
        key = cache_key(gguf)
        (tmp_path / "cache" / key).mkdir(parents=True)
        assert key.isprintable()
    plain = tmp_path / "SmolLM2-135M-Instruct.Q4_1.gguf"
    plain.write_bytes(b"GGUF")
    assert cache_key(plain).startswith("SmolLM2-135M-Instruct.Q4_1-")  # copies made before keep their name


def test_a_gguf_with_no_attention_heads_is_refused_naming_the_key_before_transformers_converts_it(
    tmp_path: Path,
) -> None:
    """``llama.attention.head_count = 0`` ended the transformers load in "ZeroDivisionError: integer modulo by
    zero", naming neither the file's fault nor the key."""
    import struct

    from assistant.backends.torch.convert import ensure_converted
    from assistant.errors import ModelLoadError

    from .gguf_files import STRING, UINT32, gguf_string, write_gguf_header

    for key in ("llama.attention.head_count", "llama.attention.head_count_kv"):
        gguf = write_gguf_header(
            tmp_path / "heads.gguf",
            [("general.architecture", STRING, gguf_string("llama")), (key, UINT32, struct.pack("<I", 0))],
        )
        said: list[str] = []
        with pytest.raises(ModelLoadError, match=f"corrupt GGUF header \\({key} is 0: "):
            ensure_converted(gguf, said.append)
        assert said == []  # refused before "converting …"

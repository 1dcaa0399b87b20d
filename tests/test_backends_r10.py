"""Round 10, backends: openai option values checked before connecting, and a cancel while the
transformers backend reads a long prompt for ``score`` and ``next``."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

from assistant.backends import check_options, load_backend
from assistant.config import paths
from assistant.errors import AssistantError, BackendError
from assistant.types import GenerationParams

from .conftest import run_cli
from .interrupt_support import CancelAfter
from .openai_fake_server import FakeOpenAIServer

LONG_TEXT = " ".join(f"item{i}" for i in range(150))
"""About 450 tokens: many prompt chunks of :data:`CHUNK`."""
CHUNK = 16


def _quiet(_: str) -> None:
    pass


# ---- transformers: a cancel between prompt chunks stops score and next ------------------------------
@pytest.fixture(scope="module")
def torch_backend(smollm2_path: Path) -> Iterator[Any]:
    engine = load_backend("transformers", str(smollm2_path), n_ctx=1024, progress=_quiet)
    engine.prefill_chunk = CHUNK  # many checks for a cancel on a short test prompt
    yield engine
    engine.unload()


@pytest.mark.model
def test_a_cancel_stops_scoring_a_long_prompt_between_chunks(torch_backend: Any) -> None:
    """Was: ``score`` read the whole prompt in one forward with no check (llama.cpp's stopped between chunks)."""
    expected = torch_backend.score(LONG_TEXT, [" yes", " no"])
    torch_backend._truncate(0)  # nothing cached: the next score reads the whole prompt again
    torch_backend._cancel = CancelAfter(3)
    try:
        with pytest.raises(BackendError, match="cancelled"):
            torch_backend.score(LONG_TEXT, [" yes", " no"])
        stopped_at = len(torch_backend._cache.cached)
    finally:
        torch_backend._cancel = threading.Event()
    total = len(torch_backend.prompt_token_ids(LONG_TEXT))
    assert stopped_at <= 4 * CHUNK < total  # a few chunks read, not the whole prompt
    # the cache holds a prefix of what was read: the same numbers when asked again
    assert torch_backend.score(LONG_TEXT, [" yes", " no"]) == pytest.approx(expected, abs=1e-4)


@pytest.mark.model
def test_a_cancel_stops_next_token_on_a_long_prompt_between_chunks(torch_backend: Any) -> None:
    params = GenerationParams(temperature=0)
    expected = torch_backend.next_token(LONG_TEXT, params, top=3)
    torch_backend._truncate(0)
    torch_backend._cancel = CancelAfter(3)
    try:
        with pytest.raises(BackendError, match="cancelled"):
            torch_backend.next_token(LONG_TEXT, params, top=3)
        stopped_at = len(torch_backend._cache.cached)
    finally:
        torch_backend._cancel = threading.Event()
    assert stopped_at <= 4 * CHUNK
    again = torch_backend.next_token(LONG_TEXT, params, top=3)
    assert [c.token_id for c in again.candidates] == [c.token_id for c in expected.candidates]


@pytest.mark.model
def test_a_cancel_left_from_an_earlier_reply_does_not_cancel_a_score(torch_backend: Any) -> None:
    """``cancel()`` after a reply ended stays set; llama.cpp's score cleared it, transformers' did not look."""
    torch_backend.cancel()
    assert len(torch_backend.score("The capital of France is", [" Paris"])) == 1


# ---- openai: option values are checked by check_options, with load's own line --------------------------
def _refusal(call: Any) -> str:
    with pytest.raises(AssistantError) as caught:
        call()
    return str(caught.value)


@pytest.mark.parametrize(
    ("options", "refused"),
    [
        ({"read_timeout": -1}, "option read_timeout must be > 0, got -1"),
        ({"connect_timeout": "soon"}, "option connect_timeout needs a number, got 'soon'"),
        ({"read_timeout": 1e12}, "at most 604800 seconds"),
        ({"read_timeout": True}, "option read_timeout needs a number, got True"),
        ({"server": "vllmm"}, "unknown server 'vllmm' from -o server (known: auto,"),
        ({"base_url": "ftp://host/v1"}, "base_url from -o base_url must look like http://HOST:PORT/v1"),
        ({"base_url": "http://[::1"}, "Invalid IPv6 URL"),
        ({"api_key": "sk-\x1b[2J"}, "holds a control or non-ASCII character"),
        ({"api_key": ["sk"]}, "must be a string, got list"),
        ({"api_key_env": 5}, "api_key_env from -o api_key_env must name an environment variable"),
        ({"chat_template": "chatmll"}, "chat_template must be one of"),
        ({"chat_template": ["chatml"]}, "chat_template from -o chat_template must be a name"),
    ],
)
def test_openai_check_options_refuses_a_value_load_refuses_with_the_same_line(options: dict, refused: str) -> None:
    # Was: check_options looked at the names only, so `compare -o openai:read_timeout=-1` ran the
    # other side's whole reply first; `server=vllmm` was refused only after GET /v1/models answered.
    checked = _refusal(lambda: check_options("openai", options))
    assert refused in checked
    options = {"base_url": "http://127.0.0.1:9/v1", **options}  # nothing listens there: load must not connect
    assert _refusal(lambda: load_backend("openai", "m", progress=_quiet, **options)) == checked


def test_an_unknown_server_is_refused_before_connecting() -> None:
    server = FakeOpenAIServer()
    server.models("tiny")
    try:
        assert "unknown server 'vllmm'" in _refusal(
            lambda: load_backend("openai", "tiny", base_url=server.base_url, server="vllmm", progress=_quiet)
        )
        assert server.requests == []
        # a known one, in capitals and with spaces, is that one
        backend = load_backend("openai", "tiny", base_url=server.base_url, server=" VLLM ", progress=_quiet)
        assert backend.info()["server"] == "vllm"
        backend.unload()
    finally:
        server.close()


@pytest.mark.parametrize("options", [{"server": ""}, {"server": "auto"}, {"chat_template": "chatml"}, {"n_ctx": 4096}])
def test_openai_check_options_takes_good_values(options: dict) -> None:
    check_options("openai", options)


def test_a_bad_config_value_is_refused_but_a_remote_never_reads_the_configs_server_keys() -> None:
    config = paths().config_file
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('[backends.openai]\nbase_url = "ftp://nowhere"\nread_timeout = 0\n')
    assert "option read_timeout must be > 0" in _refusal(lambda: check_options("openai", {}))
    config.write_text('[backends.openai]\nbase_url = "ftp://nowhere"\n')
    check_options("openai", {})  # [remotes.X] models never use it; load refuses it where it is used


def test_compare_refuses_a_bad_openai_value_before_either_side_runs() -> None:
    # the llama-cpp side names no model there is: before, that was the error (options came later, at load)
    result = run_cli(
        "compare", "-b", "llama-cpp", "-b", "openai", "-m", "llama-cpp:no-such-model", "-o", "openai:read_timeout=-1", "hi"
    )
    assert result.returncode != 0
    assert "read_timeout must be > 0" in result.stderr
    assert "Traceback" not in result.stderr


# ---- transformers: an n_ctx the model refuses is refused before a GGUF is converted ----------------------
@pytest.mark.model
def test_an_n_ctx_past_the_trained_context_is_refused_before_converting(
    models_dir: Path, smollm2_path: Path, tmp_path: Path
) -> None:
    """Was: a GGUF not converted yet was converted first (minutes for a large one), then refused."""
    gguf = models_dir / smollm2_path.name
    gguf.symlink_to(smollm2_path)
    with pytest.raises(AssistantError) as caught:
        load_backend("transformers", str(gguf), n_ctx=10**7, progress=_quiet)
    assert "n_ctx" in str(caught.value) and "8192" in str(caught.value)
    converted = tmp_path / "converted"
    assert not converted.exists() or not any(converted.rglob("*.safetensors"))



# ---- openai: a streamed event without end is refused at the size no answer reaches --------------------
def test_an_endless_stream_event_is_refused_without_holding_it_all(monkeypatch: pytest.MonkeyPatch) -> None:
    """Was: 200 MB with no line break were held whole (a gigabyte of memory, twenty seconds), then
    refused as a malformed event; now the stream stops once one event passes the body limit."""
    from assistant.backends.openai import http

    from .openai_fake_server import sse

    monkeypatch.setattr(http, "MAX_BODY_BYTES", 2**20)
    server = FakeOpenAIServer()
    server.models("tiny")
    server.route("POST", "/v1/chat/completions", sse(["data: " + "a" * 2**18] * 12))
    try:
        backend = load_backend("openai", "tiny", base_url=server.base_url, server="openai", progress=_quiet)
        from assistant.types import Message

        with pytest.raises(AssistantError, match="stream event of more than 1 MiB"):
            backend.complete([Message("user", "hi")], GenerationParams(max_tokens=4))
        backend.unload()
    finally:
        server.close()


def test_the_sse_decoder_counts_what_it_holds_for_an_unfinished_event() -> None:
    from assistant.backends.openai.sse import SSEDecoder

    decoder = SSEDecoder()
    decoder.feed(b"data: " + b"x" * 1000)
    assert decoder.pending_size >= 1000
    decoder.feed(b"\ndata: yy\n")
    assert decoder.pending_size >= 1002
    assert [e.data for e in decoder.feed(b"\n")] == ["x" * 1000 + "\nyy"]
    assert decoder.pending_size == 0


# ---- openai: a chat_template Jinja cannot parse is refused before connecting ----------------------------
@pytest.mark.parametrize("text", ["{% for %}", "{{ messages[0].content "])
def test_a_chat_template_with_a_syntax_error_is_refused_before_connecting(tmp_path: Path, text: str) -> None:
    """Was: taken at load, and refused only when the first prompt was rendered ("model chat template failed")."""
    template = tmp_path / "t.jinja"
    template.write_text(text)
    for value, what in ((str(template), f"chat_template file {template}"), (text, "the chat_template text")):
        checked = _refusal(lambda: check_options("openai", {"chat_template": value}))
        assert checked.startswith(f"{what} is no Jinja template: ")
        loaded = _refusal(
            lambda: load_backend("openai", "m", base_url="http://127.0.0.1:9/v1", chat_template=value, progress=_quiet)
        )
        assert loaded == checked


def test_a_chat_template_that_refuses_a_conversation_on_purpose_is_taken() -> None:
    # raise_exception is the template's own rule (alternating roles, a system turn first): its message comes later
    check_options("openai", {"chat_template": "{{ raise_exception('system turn first') }}"})

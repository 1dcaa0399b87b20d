"""Round 9: models and backends as a demanding user (hostile files, a real server killed mid-batch).

Each test pins one bug seen by hand: a model file cut short in its tensor data was listed,
described and accepted as the default like a whole one; a llama-cpp-python server killed in
the middle of a batch was reported as "the prompt does not fit its context window".
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from assistant.backends import load_backend
from assistant.backends.openai.backend import OpenAIBackend
from assistant.cli import main
from assistant.errors import ModelLoadError, RemoteError
from assistant.models.gguf import read_metadata
from assistant.types import GenerationParams, Message

from .gguf_files import ARRAY, STRING, UINT32, gguf_string, write_gguf_header
from .openai_fake_server import (  # noqa: F401 (the server fixture)
    FakeOpenAIServer,
    chat_chunk,
    tiny_openai_server,
)

HELLO = [Message("user", "Say hello")]
GREEDY = GenerationParams(temperature=0, max_tokens=8)


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


# ---- a GGUF cut short in its tensor data ------------------------------------------------------------
F32 = 0


def _one_tensor_gguf(path: Path, data_bytes: int, elements: int = 1000) -> Path:
    """A GGUF whose tensor table names one F32 tensor at offset 0, followed by ``data_bytes`` of data."""
    write_gguf_header(path, [("general.architecture", STRING, gguf_string("llama"))], n_tensors=1)
    with path.open("ab") as handle:
        handle.write(gguf_string("token_embd.weight") + struct.pack("<IQIQ", 1, elements, F32, 0))
        handle.write(b"\0" * (-handle.tell() % 32))  # the default alignment
        handle.write(b"\0" * data_bytes)
    return path


def test_a_file_without_its_tensor_data_is_refused_by_the_header_reader(tmp_path: Path) -> None:
    whole = _one_tensor_gguf(tmp_path / "whole.gguf", 4000)
    assert read_metadata(whole, count_parameters=True)["GGUF.parameter_count"] == 1000
    cut = _one_tensor_gguf(tmp_path / "cut.gguf", 0)
    with pytest.raises(ModelLoadError, match="file is truncated .*an interrupted download or copy"):
        read_metadata(cut, count_parameters=True)
    read_metadata(cut)  # the metadata alone (n_ctx, the template) is still readable


def test_models_list_info_and_default_see_a_truncated_model(models_dir: Path) -> None:
    """Before: half of SmolLM2 (a copy stopped at 50 MB) was listed and described as a 50 MB
    model, and `models default` took it; only loading it failed."""
    _one_tensor_gguf(models_dir / "half.gguf", 0)
    listed = cli("models", "list")
    assert listed.exit_code == 0
    (row,) = [line for line in listed.output.splitlines() if line.startswith("half.gguf")]
    assert "(not a readable GGUF)" in row
    info = cli("models", "info", "half.gguf")
    assert info.exit_code == 1 and "file is truncated" in info.output
    default = cli("models", "default", "half.gguf")
    assert default.exit_code == 1 and "file is truncated" in default.output
    assert "default model:" not in default.output


def test_models_default_refuses_a_header_cut_short(models_dir: Path) -> None:
    """`models default` read only the four magic bytes, so a file cut inside its header was taken."""
    path = write_gguf_header(models_dir / "x.gguf", [("general.name", STRING, gguf_string("x" * 100))])
    path.write_bytes(path.read_bytes()[:-50])
    result = cli("models", "default", "x.gguf")
    assert result.exit_code == 1 and "runs past the end of the file" in result.output


# ---- a server that stopped ---------------------------------------------------------------------------
def _connect(fake: FakeOpenAIServer) -> OpenAIBackend:
    backend = load_backend("openai", "tiny", base_url=fake.base_url, progress=lambda _: None)
    assert isinstance(backend, OpenAIBackend)
    return backend


def _stop_then_answer(fake: FakeOpenAIServer, events: list[str]) -> Any:
    """A handler that stops the whole server (nothing listens any more), then ends its stream early."""

    def handler(h: Any, _: Any) -> None:
        fake._httpd.shutdown()
        fake._httpd.server_close()
        h.send_response(200)
        h.send_header("content-type", "text/event-stream")
        h.end_headers()
        for event in events:
            h.wfile.write(event.encode())
        h.wfile.flush()

    return handler


def test_a_server_killed_before_answering_is_not_blamed_on_the_prompt(server: FakeOpenAIServer) -> None:
    """Before: a llama-cpp-python server killed mid-batch gave every row in flight "llama-cpp-python's
    server does this when the prompt does not fit its context window: shorten the prompt, or start
    the server with a larger --n_ctx"."""
    backend = _connect(server)
    server.route("POST", "/v1/chat/completions", _stop_then_answer(server, []))
    with pytest.raises(RemoteError) as caught:
        backend.complete(HELLO, GREEDY)
    message = str(caught.value)
    assert message == (
        f"http://127.0.0.1:{server.port} ended the stream without sending any reply, "
        "and nothing listens there any more: the server stopped"
    )


def test_a_server_killed_mid_reply_says_so(server: FakeOpenAIServer) -> None:
    backend = _connect(server)
    server.route("POST", "/v1/chat/completions", _stop_then_answer(server, [chat_chunk("Hel")]))
    with pytest.raises(RemoteError, match="before the reply was complete, and nothing listens there any more"):
        backend.complete(HELLO, GREEDY)


# ---- an optional endpoint answered with a page -------------------------------------------------------
def _page(h: Any, _: Any) -> None:
    data = b"<html><body>Not here</body></html>"
    h.send_response(200)
    h.send_header("content-type", "text/html")
    h.send_header("content-length", str(len(data)))
    h.end_headers()
    h.wfile.write(data)


def _plain(h: Any, _: Any) -> None:
    data = b"ok"
    h.send_response(200)
    h.send_header("content-type", "text/plain")
    h.send_header("content-length", str(len(data)))
    h.end_headers()
    h.wfile.write(data)


@pytest.mark.parametrize("answer", [_page, _plain], ids=["html", "plain"])
def test_a_tokenize_path_answered_with_no_json_means_no_tokenizer(server: FakeOpenAIServer, answer: Any) -> None:
    """A proxy in front of llama-cpp-python that answers paths it does not pass on with a page: every
    tool and template failed on "answered /extras/tokenize with non-JSON" (or "is not an
    OpenAI-compatible server"), while JSON of another shape already meant "count by estimate"."""
    server.route("POST", "/extras/tokenize", answer)
    backend = _connect(server)
    assert backend.count_tokens("Say hello to everyone") > 0
    assert backend.info()["token_count"].startswith("estimate")


# ---- -b transformers: attn reads as device and dtype do ----------------------------------------------
def test_attn_is_read_like_device_and_dtype_and_checked_before_the_model(models_dir: Path) -> None:
    """`-o device=CPU` and `-o dtype=Float32` were taken, `-o attn=SDPA` refused; and a wrong attn was
    only found after the model had been looked up (a download, for a catalog model not yet pulled)."""
    from assistant.backends.torch.backend import TransformersBackend
    from assistant.errors import BackendError, ModelNotFoundError

    with pytest.raises(BackendError, match="attn must be sdpa or eager, not 'flash'"):
        TransformersBackend().load("missing.gguf", attn="flash", progress=lambda _: None)
    with pytest.raises(ModelNotFoundError):  # past the option check: SDPA is sdpa
        TransformersBackend().load("missing.gguf", attn=" SDPA", progress=lambda _: None)


def _vocabulary(*tokens: str) -> bytes:
    return struct.pack("<IQ", STRING, len(tokens)) + b"".join(gguf_string(t) for t in tokens)


@pytest.mark.parametrize("key, value", [("eos_token_id", 4_000_000_000), ("bos_token_id", 3), ("padding_token_id", 99)])
def test_a_special_token_outside_the_vocabulary_is_named_not_an_index_error(
    models_dir: Path, key: str, value: int
) -> None:
    """Before: "the transformers backend failed to load eos.gguf: IndexError: list index out of range",
    after a part of the conversion; llama-cpp loads the same file."""
    from assistant.backends.torch.backend import TransformersBackend

    path = write_gguf_header(
        models_dir / "ids.gguf",
        [
            ("general.architecture", STRING, gguf_string("llama")),
            ("tokenizer.ggml.tokens", ARRAY, _vocabulary("a", "b", "c")),
            (f"tokenizer.ggml.{key}", UINT32, struct.pack("<I", value)),
        ],
    )
    with path.open("ab") as handle:  # no tensors; padded to where their data would start
        handle.write(b"\0" * (-handle.tell() % 32))
    with pytest.raises(ModelLoadError, match=f"tokenizer.ggml.{key} is {value}, not a token of its 3-token vocabulary"):
        TransformersBackend().load(str(path), progress=lambda _: None)


def test_a_header_cache_from_before_the_check_does_not_vouch_for_a_truncated_file(models_dir: Path) -> None:
    """The header facts are cached by path, size and time: an entry written before tensor data was
    checked would have kept listing the same truncated file as a model."""
    import json

    from assistant.config import paths

    path = _one_tensor_gguf(models_dir / "half.gguf", 0)
    stat = path.resolve().stat()
    entry = {"architecture": "llama", "parameters": 1000, "quantization": None, "context_length": None,
             "chat_template": False, "name": None}
    old = paths().cache_dir / "gguf-headers.json"
    old.parent.mkdir(parents=True, exist_ok=True)
    old.write_text(json.dumps({f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}": entry}), encoding="utf-8")
    info = cli("models", "info", "half.gguf")
    assert info.exit_code == 1 and "file is truncated" in info.output


# ---- config show: a key in a base_url's query string -------------------------------------------------
def test_config_show_hides_a_base_urls_query_string(assistant_home: Path) -> None:
    """An Azure-style `?api-key=...` in a remote's base_url (refused when used) was printed by
    `config show`, the output people paste into bug reports."""
    from assistant.config import paths

    config = paths().config_file
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        '[remotes.az]\nbase_url = "https://az.example/v1?api-key=sk-live-0123#frag"\nmodel = "m"\n', encoding="utf-8"
    )
    result = cli("config", "show")
    assert result.exit_code == 0
    assert "sk-live" not in result.output and "frag" not in result.output
    assert '"base_url": "https://az.example/v1?***#***"' in result.output

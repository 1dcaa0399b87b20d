"""Round 13, backends and the everyday CLI: defects found using them as a user would."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import pytest
from click.testing import CliRunner

from assistant.backends import load_backend
from assistant.cli import main
from assistant.errors import ModelLoadError

from .openai_fake_server import FakeOpenAIServer, chat_chunk, fake_openai_server, sse  # noqa: F401 (fixture)


def test_llama_cpp_calls_a_truncated_gguf_truncated(tmp_path: Path, smollm2_path: Path) -> None:
    """Was: ``assistant prompt -m cut.gguf`` (a copy interrupted) said llama.cpp's "tensor
    'token_embd.weight' data is not within the file bounds, model is corrupted or incomplete;
    llama_model_load_from_file_impl: failed to load model", while ``models info`` and ``-b transformers``
    said "file is truncated (…): an interrupted download or copy? pull or copy it again"."""
    cut = tmp_path / "cut.gguf"
    with smollm2_path.open("rb") as whole:
        cut.write_bytes(whole.read(5_000_000))
    with pytest.raises(ModelLoadError, match="file is truncated .*pull or copy it again"):
        load_backend("llama-cpp", str(cut))


# -- `-c -m REMOTE`: the remote -m names, not the resumed conversation's backend --------------------


def test_continuing_a_local_conversation_on_a_remote_named_by_m(
    assistant_home: Path, fake_backend: None, server: FakeOpenAIServer
) -> None:
    """Was: ``assistant prompt -c -m lab`` after a conversation on a local backend said "unknown model 'lab'
    …; 'lab' is a remote in the config ([remotes.lab]): add -b openai": the resumed conversation's backend
    counted as ``-b``, where ``prompt -m lab`` alone (docs/backends.md: a remote "needs no -b openai") runs
    on the remote."""
    server.models("served-model")
    server.route(
        "POST", "/v1/chat/completions", sse([chat_chunk("from the remote"), chat_chunk(finish="stop")])
    )
    config = assistant_home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f'[remotes.lab]\nbase_url = "{server.base_url}"\nmodel = "served-model"\n')
    first = CliRunner().invoke(main, ["prompt", "-b", "fake", "-m", "fake-model", "--json", "local first"])
    assert first.exit_code == 0, first.output
    resumed = CliRunner().invoke(main, ["prompt", "-c", "-m", "lab", "--json", "-o", "top_k=0", "then remote"])
    assert resumed.exit_code == 0, resumed.output
    record = json.loads(resumed.stdout)
    assert (record["backend"], record["model"], record["text"]) == ("openai", "lab/served-model", "from the remote")
    assert record["conversation_id"] == json.loads(first.stdout)["conversation_id"]
    sent = server.bodies("/v1/chat/completions")[-1]["messages"]
    assert [m["content"] for m in sent if m["role"] != "system"][0] == "local first"


def test_continuing_without_m_keeps_the_conversations_backend(assistant_home: Path, fake_backend: None) -> None:
    """The other side of the rule: ``-c`` alone still runs on the backend the conversation was on."""
    first = CliRunner().invoke(main, ["prompt", "-b", "fake", "-m", "fake-model", "--json", "one"])
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(main, ["prompt", "-c", "--json", "two"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["backend"] == "fake"


class _Terminal:
    def isatty(self) -> bool:
        return True


def test_the_chat_app_resumed_with_m_remote_opens_on_the_remote(
    assistant_home: Path, fake_backend: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same for ``assistant chat -c -m lab``: it opened on the conversation's local backend, which then
    failed to load model 'lab' in a box over the chat."""
    import types

    import assistant.cli.chat as chat_module
    from assistant.tui import ChatApp

    config = assistant_home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('[remotes.lab]\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "served-model"\n')
    first = CliRunner().invoke(main, ["prompt", "-b", "fake", "-m", "fake-model", "one"])
    assert first.exit_code == 0, first.output
    opened: list[tuple[str, str]] = []

    def run(self: ChatApp) -> None:
        opened.append((self.controller.settings.backend, self.controller.settings.model))

    monkeypatch.setattr(ChatApp, "run", run)
    monkeypatch.setattr(chat_module, "sys", types.SimpleNamespace(stdin=_Terminal(), stdout=_Terminal()))
    result = CliRunner().invoke(main, ["chat", "-c", "-m", "lab"])
    assert result.exit_code == 0, result.output
    assert opened == [("openai", "lab")]


# -- a remote as the default model ------------------------------------------------------------------


def _remote_config(home: Path) -> Path:
    config = home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('[remotes.lab]\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "served-model"\n')
    return config


def test_models_default_takes_a_remotes_name(assistant_home: Path) -> None:
    """Was: ``assistant models default lab`` said "unknown model 'lab' (catalog: …)", while docs/backends.md
    gives ``default_model = "lab"`` as a default and ``models default lab/MODEL`` was taken."""
    from assistant.config import load_config

    config = _remote_config(assistant_home)
    result = CliRunner().invoke(main, ["models", "default", "lab"])
    assert result.exit_code == 0, result.output
    assert load_config()["default_model"] == "lab"
    assert "[remotes.lab]" in config.read_text()
    unknown = CliRunner().invoke(main, ["models", "default", "no-such-remote"])
    assert unknown.exit_code == 1 and "unknown model 'no-such-remote'" in unknown.stderr


def test_models_list_names_a_default_that_is_no_row(assistant_home: Path, tmp_path: Path) -> None:
    """Was: with the default a remote (or a file outside the models directory), ``models list`` starred no
    row under its "* default." legend, and the default looked unset."""
    _remote_config(assistant_home)
    assert CliRunner().invoke(main, ["models", "default", "lab"]).exit_code == 0
    listing = CliRunner().invoke(main, ["models", "list"])
    assert listing.exit_code == 0, listing.output
    assert " * " not in listing.stdout.replace("* default.", "")
    assert listing.stdout.splitlines()[-1] == "default: lab (not a row above)"
    assert CliRunner().invoke(main, ["models", "default", "smollm2"]).exit_code == 0
    listing = CliRunner().invoke(main, ["models", "list"])
    assert "default:" not in listing.stdout and "smollm2-135m-instruct *" in listing.stdout


# -- the hub's address, token and answers ----------------------------------------------------------


def _pull(monkeypatch: pytest.MonkeyPatch, reference: str, **env: str) -> Any:
    """``assistant models pull REFERENCE`` online, with ``env`` set."""
    monkeypatch.delenv("ASSISTANT_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return CliRunner().invoke(main, ["models", "pull", reference])


def _one_error_line(result: Any) -> str:
    assert result.exit_code == 1, result.output
    (line,) = result.stderr.splitlines()[-1:]
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr
    return str(line)


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("hf-mirror.com", "HF_ENDPOINT must look like https://HOST[:PORT][/PATH], not 'hf-mirror.com'"),
        ("ftp://mirror", "HF_ENDPOINT must look like https://HOST[:PORT][/PATH], not 'ftp://mirror'"),
        ("http://[::1", "HF_ENDPOINT must look like https://HOST[:PORT][/PATH]: Invalid IPv6 URL in 'http://[::1'"),
        ("http://mirror/a b", "it holds a space or a control character: 'http://mirror/a b'"),
    ],
)
def test_a_bad_hf_endpoint_is_one_line(monkeypatch: pytest.MonkeyPatch, value: str, said: str) -> None:
    """Was: ``HF_ENDPOINT=hf-mirror.com assistant models pull hf:ORG/REPO`` (no scheme) ended in a traceback,
    "ValueError: unknown url type: 'hf-mirror.com/api/models/…'", and "http://[::1" in "Invalid IPv6 URL";
    ``ftp://`` was tried as a hub. Checked as ``-b openai``'s base_url is (one definition)."""
    line = _one_error_line(_pull(monkeypatch, "hf:org/repo", HF_ENDPOINT=value))
    assert line.startswith("error: ") and said in line


def test_a_hf_token_no_header_can_carry_is_one_line_without_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """Was: ``HF_TOKEN`` pasted with a line break ended in http.client's traceback quoting the header,
    "ValueError: Invalid header value b'Bearer hf_secret\\nrest'": the secret on the screen."""
    with _HttpServer(lambda handler: handler.send_error(404)) as base:
        line = _one_error_line(_pull(monkeypatch, "hf:org/repo", HF_ENDPOINT=base, HF_TOKEN="hf_secret\nrest"))
    assert "HF_TOKEN holds a control or non-ASCII character" in line
    assert "hf_secret" not in line


def test_a_hub_that_does_not_answer_in_http_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """Was: a server (a captive portal, a wrong port) answering ``garbage`` instead of a status line was a
    ``http.client.BadStatusLine`` traceback for the hub's metadata requests (file list, file HEAD)."""
    with _RawServer(b"garbage\r\n\r\n") as base:
        for reference in ("hf:org/repo", "hf:org/repo/x.gguf"):
            line = _one_error_line(_pull(monkeypatch, reference, HF_ENDPOINT=base))
            assert "did not answer in HTTP (BadStatusLine: garbage" in line, line


@pytest.mark.parametrize("target", ["/next page", "/next\x01page", "http://[::1/next"])
def test_a_hub_naming_a_next_page_no_request_can_reach_is_one_line(
    monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    """Was: a file list whose ``Link: <…>; rel="next"`` held a space or control character was an
    ``http.client.InvalidURL`` traceback, and ``http://[::1`` a ValueError one."""

    def answer(handler: BaseHTTPRequestHandler) -> None:
        body = b'[{"type": "file", "path": "x.gguf"}]'
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.send_header("Link", f'<{target}>; rel="next"')
        handler.end_headers()
        handler.wfile.write(body)

    with _HttpServer(answer) as base:
        line = _one_error_line(_pull(monkeypatch, "hf:org/repo", HF_ENDPOINT=base))
    assert "the next page of files is at no http(s)://HOST[:PORT][/PATH] address" in line


class _HttpServer:
    """An HTTP server on 127.0.0.1 answering every GET and HEAD with ``answer``."""

    def __init__(self, answer: Callable[[BaseHTTPRequestHandler], None]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                answer(self)

            do_HEAD = do_GET

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True

    def __enter__(self) -> str:
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _RawServer:
    """A TCP server on 127.0.0.1 that sends ``reply`` (bytes that need not be HTTP) to every connection."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.1)
        self.stop = threading.Event()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                with contextlib.suppress(OSError):
                    conn.recv(65536)
                    conn.sendall(self.reply)

    def __enter__(self) -> str:
        threading.Thread(target=self._serve, daemon=True).start()
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.sock.close()


def test_a_transformers_cache_that_is_a_file_is_named(
    tmp_path: Path, smollm2_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Was: ``ASSISTANT_TRANSFORMERS_CACHE`` naming a file: "the transformers backend failed to load …:
    FileExistsError: [Errno 17] File exists: '…'", naming neither the cache nor the variable (the models
    directory's own variable is named: "the models directory … (set by ASSISTANT_MODELS_DIR) is not a
    directory")."""
    from assistant.errors import ConfigError

    taken = tmp_path / "a-file"
    taken.write_text("not a directory")
    monkeypatch.setenv("ASSISTANT_TRANSFORMERS_CACHE", str(taken))
    with pytest.raises(ConfigError) as caught:
        load_backend("transformers", str(smollm2_path))
    assert str(caught.value) == (
        f"cannot use the transformers cache {taken} (set by ASSISTANT_TRANSFORMERS_CACHE): it is not a directory"
    )
    assert taken.read_text() == "not a directory"


def test_a_remote_model_that_is_no_string_is_refused(assistant_home: Path, server: FakeOpenAIServer) -> None:
    """Was: ``model = 7`` in ``[remotes.lab]`` (an unquoted version) was sent to the server as the model
    "7", with only a warning that the server does not list it; ``default_model = 3`` is refused so."""
    server.models("served-model")
    server.route("POST", "/v1/chat/completions", sse([chat_chunk("hi"), chat_chunk(finish="stop")]))
    config = assistant_home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f'[remotes.lab]\nbase_url = "{server.base_url}"\nmodel = 7\n')
    result = CliRunner().invoke(main, ["prompt", "-m", "lab", "--no-log", "hello"])
    assert result.exit_code == 1, result.output
    assert result.stderr == (
        f"error: model in [remotes.lab] of {config} must be a string (the model's name on the server), not 7\n"
    )
    assert server.bodies("/v1/chat/completions") == []


# -- a server's model named like a local base model ---------------------------------------------------


def test_a_servers_model_named_like_the_catalogs_base_model_is_chat(server: FakeOpenAIServer) -> None:
    """Was: ``assistant prompt -b openai -m gemma3`` (Ollama's instruction-tuned Gemma) ran in completion
    mode, because the local catalog's ``gemma3`` is a base model: the raw text went to /v1/completions
    (Ollama refuses raw prompts), and ``-s`` was refused as if the model had no turns."""
    server.models("gemma3")
    server.route("POST", "/v1/chat/completions", sse([chat_chunk("Hi!"), chat_chunk(finish="stop")]))
    result = CliRunner().invoke(
        main,
        ["prompt", "-b", "openai", "-o", f"base_url={server.base_url}", "-o", "top_k=0", "-m", "gemma3",
         "-s", "Be brief.", "--no-log", "--json", "hello"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["text"] == "Hi!"
    (body,) = server.bodies("/v1/chat/completions")
    assert body["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"}]
    assert server.bodies("/v1/completions") == []


def test_compare_tells_a_local_base_model_from_a_servers_model_of_that_name() -> None:
    """``compare -b llama-cpp -b openai -m gemma3``: the local base Gemma continues text, the server's model
    takes turns; the two sides were keyed by the model's name alone, so one mode was picked for both."""
    import click

    from assistant.cli.compare import side_mode
    from assistant.compare import Side

    with pytest.raises(click.UsageError, match=r"\(gemma3 on llama-cpp: completion, gemma3 on openai: chat\)"):
        side_mode([Side("llama-cpp", "gemma3"), Side("openai", "gemma3")], None)
    assert side_mode([Side("llama-cpp", "smollm2"), Side("openai", "gemma3")], None) == "chat"


def test_models_default_keeps_a_windows_configs_line_ends(assistant_home: Path) -> None:
    """Was: ``models default`` in a config saved with CRLF line ends wrote its line with a bare LF, leaving
    the file's line ends mixed (the rest kept as written, as set_top_level promises)."""
    config = assistant_home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_bytes(b'default_model = "smollm2"\r\n[params]\r\ntemperature = 0.5\r\n')
    assert CliRunner().invoke(main, ["models", "default", "gemma3"]).exit_code == 0
    assert config.read_bytes() == b'default_model = "gemma3-270m"\r\n[params]\r\ntemperature = 0.5\r\n'
    config.write_bytes(b"[params]\r\ntemperature = 0.5\r\n")
    assert CliRunner().invoke(main, ["models", "default", "smollm2"]).exit_code == 0
    assert config.read_bytes() == b'default_model = "smollm2-135m-instruct"\r\n[params]\r\ntemperature = 0.5\r\n'

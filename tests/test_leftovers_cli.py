"""Leftovers from user tests of everyday CLI paths: each test failed before its fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from assistant.cli import main

from .openai_fake_server import FakeOpenAIServer, chat_chunk, fake_openai_server, send_json, sse  # noqa: F401 (the server fixture)


def _chat_server(server: FakeOpenAIServer, *served: str) -> None:
    server.models(*served)
    server.route("POST", "/v1/chat/completions", sse([chat_chunk("hi"), chat_chunk(finish="stop")]))


# ---- 1. -b openai without -m: the server's model, never the catalog's smollm2 -----------


def test_openai_without_model_uses_the_servers_only_model(server: FakeOpenAIServer) -> None:
    _chat_server(server, "served-model")
    result = CliRunner().invoke(
        main, ["prompt", "-b", "openai", "-o", f"base_url={server.base_url}", "--no-log", "--json", "hi"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["model"] == "served-model"
    assert server.bodies("/v1/chat/completions")[0]["model"] == "served-model"
    assert "warning" not in result.stderr  # before: "model 'smollm2' is not among those ... lists"


def test_openai_without_model_on_a_server_with_several_names_them(server: FakeOpenAIServer) -> None:
    _chat_server(server, "a", "b", "c")
    result = CliRunner().invoke(
        main, ["prompt", "-b", "openai", "-o", f"base_url={server.base_url}", "--no-log", "hi"]
    )
    assert result.exit_code == 1 and result.stdout == ""
    line = result.stderr.strip()
    assert "\n" not in line and "serves 3 models" in line and "(served: a, b, c)" in line and "-m MODEL" in line
    assert server.bodies("/v1/chat/completions") == []  # nothing sent under a guessed name


def test_a_remote_without_model_uses_the_servers_only_model(
    server: FakeOpenAIServer, assistant_home: Path
) -> None:
    _chat_server(server, "only-one")
    (assistant_home / "config").mkdir(parents=True, exist_ok=True)
    (assistant_home / "config" / "config.toml").write_text(
        f'default_backend = "openai"\n[remotes.lab]\nbase_url = "{server.base_url}"\n'
    )
    result = CliRunner().invoke(main, ["prompt", "-m", "lab", "--no-log", "--json", "hi"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["model"] == "lab/only-one"  # REMOTE/MODEL: what -c loads again


def test_a_configured_default_model_still_applies_to_openai(
    server: FakeOpenAIServer, assistant_home: Path
) -> None:
    _chat_server(server, "a", "b")
    (assistant_home / "config").mkdir(parents=True, exist_ok=True)
    (assistant_home / "config" / "config.toml").write_text('default_model = "b"\n')
    result = CliRunner().invoke(
        main, ["prompt", "-b", "openai", "-o", f"base_url={server.base_url}", "--no-log", "--json", "hi"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["model"] == "b"


def test_default_model_for_local_backends_is_the_catalog_default(fake_backend: Any) -> None:
    from assistant.backends import default_model_for

    assert default_model_for("fake") == "smollm2"
    assert default_model_for("openai") == ""


# ---- 2. files named by options are read through the one bounded reader --------------------


@pytest.fixture
def small_input_limit(monkeypatch: pytest.MonkeyPatch) -> int:
    from assistant import input_files

    monkeypatch.setattr(input_files, "MAX_INPUT_BYTES", 64)
    return 64


def test_a_schema_file_past_the_input_limit_is_refused(tmp_path: Path, small_input_limit: int) -> None:
    schema = tmp_path / "dog.json"
    schema.write_text('{"type": "object", "properties": {"name": {"type": "string"}}}' + " " * small_input_limit)
    result = CliRunner().invoke(main, ["prompt", "--schema", str(schema), "--no-log", "hi"])
    assert result.exit_code == 1
    assert f"schema file {schema} is larger than" in result.stderr


def test_a_schema_that_is_a_device_is_not_read(tmp_path: Path) -> None:
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero here")
    result = CliRunner().invoke(main, ["prompt", "--schema", "/dev/zero", "--no-log", "hi"])
    assert result.exit_code == 1 and "/dev/zero is not a regular file" in result.stderr


def test_a_schema_file_that_is_not_utf8_is_refused_not_replaced(tmp_path: Path) -> None:
    schema = tmp_path / "dog.json"
    schema.write_bytes(b'{"type": "object", "properties": {"n\xff": {"type": "string"}}}')
    result = CliRunner().invoke(main, ["prompt", "--schema", str(schema), "--no-log", "hi"])
    assert result.exit_code == 1 and "is not UTF-8 text" in result.stderr


def test_a_chat_template_file_past_the_input_limit_is_refused(
    server: FakeOpenAIServer, tmp_path: Path, small_input_limit: int
) -> None:
    _chat_server(server, "tiny")
    template = tmp_path / "t.jinja"
    template.write_text("{% for m in messages %}{{ m.content }}{% endfor %}" + " " * small_input_limit)
    result = CliRunner().invoke(
        main, ["prompt", "-b", "openai", "-o", f"base_url={server.base_url}", "-o", f"chat_template={template}",
               "--no-log", "hi"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert f"chat_template file {template} is larger than" in result.stderr
    assert server.bodies("/v1/chat/completions") == []


# ---- 3. one definition of "effectively greedy", shown as such ------------------------------


@pytest.mark.parametrize("tiny", [1e-300, 5e-324, 9.9e-6, -0.0])
def test_a_temperature_under_the_greedy_bound_is_greedy_and_shown_as_zero(tiny: float) -> None:
    from assistant.types import GREEDY_BELOW, GenerationParams

    params = GenerationParams(temperature=tiny)
    assert params.greedy and params.temperature == 0.0 and str(params.temperature) == "0.0"
    assert params.replace(top_k=3).temperature == 0.0
    assert not GenerationParams(temperature=GREEDY_BELOW).greedy  # the bound itself samples
    assert params.to_dict()["temperature"] == 0.0  # history, --json


def test_tiny_temperature_is_greedy_in_what_the_cli_and_servers_see(server: FakeOpenAIServer) -> None:
    _chat_server(server, "tiny")
    result = CliRunner().invoke(
        main, ["prompt", "-b", "openai", "-o", f"base_url={server.base_url}", "-o", "temperature=1e-300",
               "-o", "top_k=5", "--no-log", "hi"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    body = server.bodies("/v1/chat/completions")[0]
    assert body["temperature"] == 0  # greedy: no 1e-300 for a server to read as sampling


# ---- 4. a plugin failure is shown once, not in the listing and again as a warning ---------


@pytest.fixture
def broken_plugins(assistant_home: Path) -> Path:
    directory = assistant_home / "config" / "plugins"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "broken.py").write_text('raise RuntimeError("boom")\n')
    (directory / "badtool.py").write_text(
        "from assistant.hookspecs import hookimpl\n\n"
        "@hookimpl\ndef register_tools(register):\n    raise ValueError('tool boom')\n"
    )
    return directory


def _mentions(text: str, what: str) -> int:
    return sum(what in line for line in text.splitlines())


def test_assistant_plugins_shows_each_failure_once(broken_plugins: Path) -> None:
    from .conftest import run_cli

    done = run_cli("plugins")
    assert done.returncode == 0
    both = done.stdout + done.stderr
    assert _mentions(both, "RuntimeError: boom") == 1 and _mentions(both, "tool boom") == 1
    assert "FAILED broken (import): RuntimeError: boom" in done.stdout  # the listing keeps them


def test_assistant_tools_shows_each_failure_once(broken_plugins: Path) -> None:
    from .conftest import run_cli

    done = run_cli("tools")
    assert done.returncode == 0 and "summarize" in done.stdout
    assert _mentions(done.stdout + done.stderr, "RuntimeError: boom") == 1
    assert _mentions(done.stdout + done.stderr, "tool boom") == 1
    assert "warning: plugin 'badtool' (register_tools): ValueError: tool boom" in done.stderr.splitlines()


# ---- found while trying everyday paths -----------------------------------------------------


def test_too_many_threads_is_one_line_not_an_engine_abort() -> None:
    # llama.cpp aborted the whole process (std::bad_alloc, a gdb backtrace) for n_threads=99999999999.
    result = CliRunner().invoke(main, ["prompt", "--no-log", "-o", "n_threads=99999999999", "hi"])
    assert result.exit_code == 1
    assert result.stderr == "error: -o n_threads must be at most 512, not 99999999999 (0 picks one per CPU core)\n"


@pytest.mark.parametrize("command", [["info"], ["rm"], ["default"], ["path"], ["pull"]])
def test_an_empty_model_reference_is_not_the_current_directory(command: list[str]) -> None:
    result = CliRunner().invoke(main, ["models", *command, " "])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no model named (an empty reference)")


def test_a_remote_name_given_to_a_local_backend_says_to_add_b_openai(assistant_home: Path) -> None:
    (assistant_home / "config").mkdir(parents=True, exist_ok=True)
    (assistant_home / "config" / "config.toml").write_text('[remotes.lab]\nbase_url = "http://127.0.0.1:9/v1"\n')
    for model in ("lab", "lab/qwen"):
        # -b named: without it, a remote's name picks the server backend by itself (test_round4_remote)
        result = CliRunner().invoke(main, ["prompt", "-b", "llama-cpp", "-m", model, "--no-log", "hi"])
        assert result.exit_code == 1
        assert result.stderr.rstrip().endswith("'lab' is a remote in the config ([remotes.lab]): add -b openai")


def test_no_model_list_at_all_points_at_base_url(server: FakeOpenAIServer, assistant_home: Path) -> None:
    """A 404 for /models (a base_url short of the API root, behind a proxy) said "lists no models"."""
    missing = CliRunner().invoke(main, ["prompt", "-b", "openai", "-o", f"base_url={server.base_url}", "--no-log", "hi"])
    assert missing.exit_code == 1  # no /v1/models route: a 404
    line = missing.stderr.strip()
    assert "gave no model list at /v1/models" in line and "base_url is the API root" in line and "\n" not in line
    server.route("GET", "/v1/models", lambda h, _: send_json(h, 200, {"object": "list", "data": []}))
    empty = CliRunner().invoke(main, ["prompt", "-b", "openai", "-o", f"base_url={server.base_url}", "--no-log", "hi"])
    assert empty.exit_code == 1 and "lists no models (GET /v1/models)" in empty.stderr

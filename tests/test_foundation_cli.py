"""The command line: start-up cost, prompt streaming, JSON, stdin, and one-line errors."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from .conftest import run_cli

FAKE_PLUGIN = """
from assistant import hookimpl
from assistant.backends.fake import FakeBackend

@hookimpl
def register_backends(register):
    register("fake", FakeBackend, description="fake")
"""


@pytest.fixture
def fake_plugin(assistant_home: Path) -> None:
    """Make the fake backend available to CLI subprocesses through a user plugin file."""
    directory = assistant_home / "config" / "plugins"
    directory.mkdir(parents=True)
    (directory / "fakeplugin.py").write_text(textwrap.dedent(FAKE_PLUGIN))


def test_help_does_not_import_engines() -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from assistant.cli import main\n"
        "result = CliRunner().invoke(main, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "heavy = [m for m in ('torch', 'transformers', 'llama_cpp', 'textual', 'numpy', 'sqlite_utils') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0 and "assistant, version" in result.stdout


def test_prompt_streams_with_fake_backend(fake_plugin: None) -> None:
    result = run_cli("prompt", "-b", "fake", "hello there")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Echo: hello there\n"


def test_prompt_reads_piped_stdin_after_text(fake_plugin: None) -> None:
    result = run_cli("prompt", "-b", "fake", "summarize this", input="line one\nline two\n")
    assert result.stdout == "Echo: summarize this\n\nline one\nline two\n"


def test_prompt_dash_reads_only_stdin(fake_plugin: None) -> None:
    result = run_cli("prompt", "-b", "fake", "-", input="from stdin")
    assert result.stdout == "Echo: from stdin\n"


def test_prompt_invalid_utf8_on_stdin_is_replaced(fake_plugin: None) -> None:
    result = run_cli("prompt", "-b", "fake", input=b"ok \xff\xfe end")
    assert result.returncode == 0
    assert result.stdout == "Echo: ok \ufffd\ufffd end\n"


def test_prompt_json_has_the_documented_fields(fake_plugin: None) -> None:
    result = run_cli("prompt", "-b", "fake", "-m", "some-model", "hi", "--json", "-o", "max_tokens=4")
    data = json.loads(result.stdout)
    assert data["text"] == "Echo"
    assert data["model"] == "some-model" and data["backend"] == "fake"
    assert data["finish_reason"] == "length"
    assert data["usage"]["completion_tokens"] == 4 and data["usage"]["prompt_tokens"] > 0
    assert set(data["timings"]) == {"ttft_ms", "tokens_per_second"}


def test_prompt_uses_system_prompt(fake_plugin: None) -> None:
    result = run_cli("prompt", "-b", "fake", "-s", "Be terse.", "q", "--json")
    assert json.loads(result.stdout)["text"] == "Echo: q"


@pytest.mark.parametrize(
    "args, message",
    [
        (["prompt", "-b", "nope", "hi"], "error: unknown backend 'nope'"),
        (["prompt", "-m", "/no/such/model.gguf", "hi"], "error: model file not found: /no/such/model.gguf"),
        (["prompt", "-m", "nonexistent-model", "hi"], "error: unknown model 'nonexistent-model'"),
        (["prompt", "-o", "temperature=hot", "hi"], "error: option temperature needs a number"),
        (["models", "pull", "nope"], "error: unknown model 'nope'"),
    ],
)
def test_errors_are_one_line(args: list[str], message: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(message)
    assert "Traceback" not in result.stderr


def test_not_a_gguf_is_one_line(tmp_path: Path) -> None:
    bogus = tmp_path / "x.gguf"
    bogus.write_text("nope")
    result = run_cli("prompt", "-m", str(bogus), "hi")
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: cannot load model {bogus}: not a GGUF file (bad magic bytes)"


def test_debug_shows_traceback() -> None:
    result = run_cli("--debug", "prompt", "-b", "nope", "hi")
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "BackendNotFoundError" in result.stderr


def test_no_prompt_is_a_usage_error() -> None:
    result = run_cli("prompt")
    assert result.returncode == 2
    assert "no prompt given" in result.stderr


def test_models_list_and_path(assistant_home: Path) -> None:
    result = run_cli("models", "list", "--json")
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == ["smollm2-135m-instruct", "gemma3-270m"]
    assert rows[0]["default"] and rows[0]["installed"]
    path = run_cli("models", "path", "smollm2").stdout.strip()
    assert path == rows[0]["path"]


def test_config_path_and_show(assistant_home: Path) -> None:
    assert run_cli("config", "path").stdout.strip() == str(assistant_home / "config" / "config.toml")
    shown = json.loads(run_cli("config", "show").stdout)
    assert shown["data_dir"] == str(assistant_home / "data")


def test_backends_lists_builtin() -> None:
    result = run_cli("backends", "--json")
    names = [b["name"] for b in json.loads(result.stdout)]
    assert "llama-cpp" in names


@pytest.mark.model
def test_prompt_real_model_france(smollm2_path: Path) -> None:
    result = run_cli("prompt", "What is the capital of France?", "-o", "temperature=0", "-o", "max_tokens=32")
    assert result.returncode == 0, result.stderr
    assert "Paris" in result.stdout
    assert "llama" not in result.stderr.lower(), "C logs must be silenced"


def test_an_unknown_config_key_is_a_warning_naming_the_nearest_key(assistant_home: Path) -> None:
    config = assistant_home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('default_modle = "gemma3"\nflux_capacitor = 1\n')
    proc = run_cli("backends")
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert lines[0] == f"warning: unknown key 'default_modle' in {config} (did you mean 'default_model'?); it is ignored"
    assert lines[1].startswith(f"warning: unknown key 'flux_capacitor' in {config} (known: b")
    assert len(lines) == 2
    config.write_text('default_model = "smollm2"\n')
    assert "warning" not in run_cli("backends").stderr

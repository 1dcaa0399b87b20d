"""Issue #20, items 4 and 11: bad input is one ``error:`` line and exit 1, never a traceback.

Each case is a reproduction from the issue. Batches: the bad row fails, the
others still run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from assistant.backends import load_backend
from assistant.cli import main
from assistant.errors import ConfigError
from assistant.options import build_params, parse_options
from assistant.plugins import reset_plugins
from assistant.types import GenerationParams

from .conftest import run_cli
from .openai_fake_server import FakeOpenAIServer, fake_openai_server, send_json  # noqa: F401 (the server fixture)

pytestmark = pytest.mark.usefixtures("fake_backend")

TOO_BIG = str(2**63)  # one past SQLite's largest integer
FAKE = ["-b", "fake", "-m", "fake-model"]


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def assert_one_line_error(result: Result, *needles: str) -> None:
    assert result.exit_code == 1, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception  # not an uncaught exception
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def write_config(home: Path, text: str) -> Path:
    path = home / "config" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# ---- invalid Unicode (undecodable argv bytes, lone surrogates) ---------------------------------
@pytest.mark.parametrize(
    "args",
    [
        ["prompt", *FAKE, "caf\udce9"],
        ["prompt", *FAKE, "-s", "caf\udce9", "hi"],
        ["history", "search", "caf\udce9"],
        ["sentiment", *FAKE, "caf\udce9"],
        ["prompt", *FAKE, "-o", "stop=caf\udce9", "hi"],
        ["prompt", *FAKE, "-t", "chat", "-v", "x=caf\udce9", "hi"],
    ],
)
def test_undecodable_argv_is_one_line(args: list[str]) -> None:
    assert_one_line_error(cli(*args), "not valid UTF-8", "0xe9")


def test_undecodable_argv_bytes_in_a_real_process(assistant_home: Path) -> None:
    done = run_cli("history", "search", "caf\udce9")  # the OS passes the raw byte 0xe9
    assert done.returncode == 1
    assert done.stderr.startswith("error: QUERY is not valid UTF-8") and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr


def test_a_lone_surrogate_batch_row_fails_alone(tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"input": "first"}\n{"input": "\\ud800 lone"}\n"third"\n', encoding="utf-8")
    result = cli("prompt", *FAKE, "-t", "chat", "--batch", str(rows))
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["row"] for r in records] == [1, 2, 3]
    assert records[0]["error"] is None and records[2]["error"] is None
    assert "not valid Unicode" in records[1]["error"] and "U+D800" in records[1]["error"]
    assert "1 failed" in result.stderr


def test_a_lone_surrogate_tool_batch_line_fails_alone(tmp_path: Path) -> None:
    lines = tmp_path / "in.jsonl"
    lines.write_text('{"text": "good"}\n{"text": "\\udce9 bad"}\n', encoding="utf-8")
    result = cli("tool", "ner", *FAKE, "--batch", str(lines))
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["row"] for r in records] == [1, 2]
    assert records[0]["error"] is None and "not valid Unicode" in records[1]["error"]


# ---- backend options: -o and the config ----------------------------------------------------------
@pytest.mark.parametrize("key", ["n_ctx", "n_threads", "n_batch", "n_gpu_layers"])
def test_integer_backend_options_from_the_command_line(key: str) -> None:
    assert_one_line_error(cli("prompt", "-o", f"{key}=abc", "hi"), f"-o {key}", "whole number", "'abc'")
    assert_one_line_error(cli("prompt", "-o", f"{key}=1.5", "hi"), f"-o {key}")
    assert parse_options([f"{key}=512"])[1] == {key: 512}


@pytest.mark.parametrize("key", ["n_ctx", "n_threads", "n_batch"])
def test_counts_cannot_be_negative(key: str) -> None:
    assert_one_line_error(cli("prompt", "-o", f"{key}=-3", "hi"), f"-o {key}", "0 (the default) or more", "-3")
    assert parse_options([f"{key}=0"])[1] == {key: 0}
    assert parse_options(["n_gpu_layers=-1"])[1] == {"n_gpu_layers": -1}  # every layer


@pytest.mark.parametrize("key", ["n_ctx", "n_threads", "n_batch", "n_gpu_layers"])
def test_integer_backend_options_from_the_config(key: str, assistant_home: Path) -> None:
    path = write_config(assistant_home, f'[backends.llama-cpp]\n{key} = "abc"\n')
    assert_one_line_error(cli("prompt", "hi"), key, "[backends.llama-cpp]", str(path), "whole number")


def test_a_bad_stop_escape_is_one_line() -> None:
    assert_one_line_error(cli("prompt", *FAKE, "-o", "stop=\\x", "hi"), "stop", "escape")


def test_stop_keeps_non_ascii_text_and_decodes_escapes() -> None:
    params, _ = parse_options(["stop=é\\n", "stop=\\u2029", "stop=a\\tb"])
    assert params["stop"] == ["é\n", "\u2029", "a\tb"]


# ---- sampling parameters (item 11) --------------------------------------------------------------
@pytest.mark.parametrize("key", ["temperature", "top_p", "repeat_penalty"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_sampling_values_are_refused(key: str, value: str) -> None:
    assert_one_line_error(cli("prompt", *FAKE, "-o", f"{key}={value}", "hi"), key)
    with pytest.raises(ConfigError, match=key):
        GenerationParams(**{key: float(value)})


def test_a_config_value_of_the_wrong_type_names_the_key_and_file(assistant_home: Path) -> None:
    path = write_config(assistant_home, '[params]\ntemperature = "hot"\n')
    assert_one_line_error(cli("prompt", *FAKE, "hi"), "temperature", str(path), "must be a number", "'hot'")
    write_config(assistant_home, "[params]\nmax_tokens = 1.5\n")
    with pytest.raises(ConfigError, match="max_tokens .* whole number"):
        build_params()
    write_config(assistant_home, '[params]\nstop = ["ok", 3]\n')
    with pytest.raises(ConfigError, match="stop"):
        build_params()
    write_config(assistant_home, '[params]\njson_schema = {type = "object"}\n')
    assert_one_line_error(cli("prompt", *FAKE, "hi"), "json_schema", str(path), "--schema")


@pytest.mark.parametrize(
    ("schema", "named"),
    [("object", "mapping"), ({"type": "object", "pattern": "x"}, "'pattern'"), ({"type": "strng"}, "'strng'")],
)
def test_a_json_schema_outside_the_supported_subset_is_refused_where_params_are_made(schema: object, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        GenerationParams(json_schema=schema)  # type: ignore[arg-type]


# ---- ids and counts ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [
        ["history", "show", TOO_BIG],
        ["history", "export", TOO_BIG],
        ["history", "delete", "-y", TOO_BIG],
        ["history", "rename", TOO_BIG, "title"],
        ["history", "show", "0"],
        ["history", "show", "abc"],
        ["history", "list", "-n", "-5"],
        ["history", "list", "-n", TOO_BIG],
        ["history", "search", "-n", TOO_BIG, "word"],
        ["prompt", *FAKE, "--cid", TOO_BIG, "hi"],
        ["chat", *FAKE, "--cid", TOO_BIG],
    ],
)
def test_ids_and_counts_out_of_range_are_one_line(args: list[str]) -> None:
    ask = cli("prompt", *FAKE, "make a database")
    assert ask.exit_code == 0, ask.output
    assert_one_line_error(cli(*args), "whole number from 1 to 9223372036854775807")


def test_the_largest_id_is_simply_not_found() -> None:
    assert cli("prompt", *FAKE, "make a database").exit_code == 0
    assert_one_line_error(cli("history", "show", str(2**63 - 1)), "no conversation with id")


# ---- remote servers ------------------------------------------------------------------------------
@pytest.mark.parametrize("listing", [{"data": 5}, {"data": "x"}, {"data": None}, [1, 2], "text", {"data": [5, None]}])
def test_a_models_listing_of_the_wrong_shape_is_ignored(server: FakeOpenAIServer, listing: object) -> None:
    server.route("GET", "/v1/models", lambda h, _: send_json(h, 200, listing))
    backend = load_backend("openai", "tiny", base_url=server.base_url, progress=lambda _: None)
    try:
        assert backend.model_name == "tiny"
    finally:
        backend.unload()


# ---- plugins -------------------------------------------------------------------------------------
BROKEN_BACKENDS = """
from assistant import hookimpl
from assistant.backends.fake import FakeBackend


class LoadFails(FakeBackend):
    name = "loadfails"

    def load(self, model, **options):
        raise RuntimeError("cannot\\nload this")


class StreamFails(FakeBackend):
    name = "streamfails"

    def stream(self, prompt, params):
        yield from ()
        raise ZeroDivisionError("division by zero")


@hookimpl
def register_backends(register):
    register("loadfails", LoadFails)
    register("streamfails", StreamFails)
"""


def _plugin_dir(home: Path, files: dict[str, str]) -> None:
    directory = home / "config" / "plugins"
    directory.mkdir(parents=True, exist_ok=True)
    for name, source in files.items():
        (directory / name).write_text(source, encoding="utf-8")
    reset_plugins()  # the fake_backend fixture already loaded the plugins: load them again with these


def test_a_plugin_backend_raising_in_load_or_stream_is_one_line(assistant_home: Path) -> None:
    _plugin_dir(assistant_home, {"broken_backends.py": BROKEN_BACKENDS})
    assert_one_line_error(
        cli("prompt", "-b", "loadfails", "hi"), "loadfails backend failed to load", "RuntimeError: cannot load this"
    )
    for extra in ([], ["-t", "chat"]):
        assert_one_line_error(
            cli("prompt", "-b", "streamfails", *extra, "hi"), "streamfails backend failed to generate", "ZeroDivisionError"
        )
    listed = json.loads(cli("history", "list", "--json").stdout)
    shown = json.loads(cli("history", "show", str(listed[-1]["id"]), "--json").stdout)
    assert shown["messages"][-1]["status"] == "error"  # the failed turn is recorded with its reason
    assert "ZeroDivisionError" in shown["messages"][-1]["error"]


def test_strict_plugins_with_a_broken_plugin_is_one_line_even_for_help(assistant_home: Path) -> None:
    _plugin_dir(assistant_home, {"broken.py": "raise RuntimeError('boom\\nsecond line')\n"})
    done = run_cli("--help", env={"ASSISTANT_STRICT_PLUGINS": "1"})
    assert done.returncode == 1
    assert done.stderr == "error: plugin 'broken' failed: RuntimeError: boom second line\n"
    relaxed = run_cli("--help")
    assert relaxed.returncode == 0 and "Commands:" in relaxed.stdout
    assert relaxed.stderr == "warning: plugin 'broken' skipped (import): RuntimeError: boom second line\n"

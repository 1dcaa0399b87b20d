"""Round 11: the CLI with thousands of plugin tools, and a reader that stops early (``| head``).

Every registered tool is a command, and each listed command used to build its 25
click options: ``assistant --help`` with a plugin registering 5,000 tools took
seconds (15 s on a busy machine); a tool's command now makes its options when it
is run or shows its own help, and one invocation asks the plugins for their
tools once. ``assistant … | head`` exited 1, the status of a failure, without a
word; it now stops quietly with 141, as ``cat`` or ``grep`` killed by SIGPIPE.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from .conftest import FAKE_BACKEND_PLUGIN_SOURCE, REPO_ROOT, run_cli

MANY = """
from assistant import hookimpl
from assistant.tools import Parameter


class Numbered:
    needs_model = False

    def __init__(self, number):
        self.name = f"{prefix}{{number}}"
        self.description = f"Tool number {{number}}."
        self.parameters = (
            Parameter("level", type="int", default=1, help="A level."),
            Parameter("mode", help="Which mode.", required={required}),
        )

    def run(self, text, params, backend):
        return f"{{self.name}} {{text}} level={{params['level']}} mode={{params['mode']}}"


@hookimpl
def register_tools(register):
    {count_calls}
    for number in range({count}):
        register(Numbered(number))
"""


def _plugin(home: Path, name: str, count: int, *, prefix: str = "lazy", required: bool = False,
            calls: Path | None = None) -> None:  # fmt: skip
    directory = home / "config" / "plugins"
    directory.mkdir(parents=True, exist_ok=True)
    count_calls = f"open({str(calls)!r}, 'a').write('x')" if calls else "pass"
    source = MANY.format(prefix=prefix, count=count, required=required, count_calls=count_calls)
    (directory / f"{name}.py").write_text(source, encoding="utf-8")


@pytest.fixture
def counted_options(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Each time a tool command makes its common options (25 click options): appended to."""
    from assistant.cli import tools
    from assistant.tools import Parameter

    made: list[int] = []
    real = tools._common_params
    tools._flags(Parameter("x"))  # the flags the common options take: made once per process, by whichever test

    def counting() -> list[Any]:
        made.append(1)
        return real()

    monkeypatch.setattr(tools, "_common_params", counting)
    return made


def _invoke(*args: str) -> Any:
    from assistant.cli import main

    return CliRunner().invoke(main, list(args))


# ---- many tools ------------------------------------------------------------------------------
def test_help_lists_every_tool_without_making_any_tools_options(assistant_home: Path, counted_options: list[int]) -> None:
    _plugin(assistant_home, "lazytools", 300)
    result = _invoke("--help")
    assert result.exit_code == 0, result.output
    assert "lazy299" in result.output and "Tool number 299." in result.output
    assert counted_options == []  # was 300: one set of options per listed tool


def test_a_tools_own_help_makes_its_options_only(assistant_home: Path, counted_options: list[int]) -> None:
    _plugin(assistant_home, "lazytools", 300)
    result = _invoke("lazy7", "--help")
    assert result.exit_code == 0, result.output
    assert "Tool number 7." in result.output
    assert "--level INTEGER" in result.output and "A level.  [default: 1]" in result.output
    assert "--mode TEXT" in result.output
    assert len(counted_options) == 1
    generic = _invoke("tool", "lazy8", "--help")
    assert generic.exit_code == 0 and "--level INTEGER" in generic.output, generic.output


def test_listing_the_tools_makes_no_tool_command(assistant_home: Path, counted_options: list[int]) -> None:
    _plugin(assistant_home, "lazytools", 300)
    listed = _invoke("tools")
    assert listed.exit_code == 0 and "lazy299" in listed.output, listed.output
    assert "--help" not in listed.output
    helped = _invoke("tools", "--help")
    assert helped.exit_code == 0 and "List the available tools" in helped.output
    assert counted_options == []


def test_running_a_tool_asks_the_plugins_for_their_tools_once(assistant_home: Path) -> None:
    calls = assistant_home / "calls.txt"
    _plugin(assistant_home, "lazytools", 50, calls=calls)
    result = run_cli("lazy7", "hi", "--level", "3")
    assert (result.returncode, result.stdout) == (0, "lazy7 hi level=3 mode=None\n"), result.stderr
    assert calls.read_text() == "x"  # was 3: the command list, the command's options, then its run
    calls.unlink()
    result = run_cli("tool", "lazy8", "-p", "level=4", "hi")
    assert (result.returncode, result.stdout) == (0, "lazy8 hi level=4 mode=None\n"), result.stderr
    assert calls.read_text() == "x"


def test_a_missing_required_parameter_and_a_broken_plugin_are_said_as_before(assistant_home: Path) -> None:
    _plugin(assistant_home, "needy", 3, prefix="needy", required=True)
    broken = assistant_home / "config" / "plugins" / "broken.py"
    broken.write_text("raise RuntimeError('nope')\n", encoding="utf-8")
    result = run_cli("needy1", "hi")
    assert result.returncode == 2
    assert "tool 'needy1' needs the parameter 'mode' (--mode)" in result.stderr
    assert "warning: plugin 'broken' skipped (import): RuntimeError: nope" in result.stderr
    helped = run_cli("--help")
    assert helped.returncode == 0 and "needy2" in helped.stdout
    assert "warning: plugin 'broken' skipped (import)" in helped.stderr


def test_shell_completion_still_offers_tool_names_and_a_tools_options(assistant_home: Path) -> None:
    _plugin(assistant_home, "lazytools", 30)

    def complete(words: str, cword: int) -> list[str]:
        env = {
            **os.environ, "PYTHONPATH": str(REPO_ROOT),
            "_ASSISTANT_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword),
        }  # fmt: skip
        code = "from assistant.cli import main; main(prog_name='assistant')"  # as the installed script is named
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=False
        )
        assert result.returncode == 0, result.stderr
        return [line.split(",", 1)[1] for line in result.stdout.splitlines()]

    assert complete("assistant lazy2", 1) == ["lazy2", *(f"lazy{n}" for n in range(20, 30))]
    assert complete("assistant lazy7 --le", 2) == ["--level"]
    assert complete("assistant tool lazy7 --mo", 3) == ["--mode"]


# ---- a reader that stops early -----------------------------------------------------------------
def _reader_stops(*args: str, stream: str = "stdout", after: int = 10) -> tuple[int, bytes, str]:
    """Run the CLI, read ``after`` bytes of ``stream`` and close it, as ``| head -c`` does.

    Returns the exit status, the bytes read, and the other stream's text.
    """
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    other = subprocess.PIPE
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if stream == "stdout" else other,
        stderr=subprocess.PIPE if stream == "stderr" else other,
        env=env,
    )
    read_from, other_stream = (proc.stdout, proc.stderr) if stream == "stdout" else (proc.stderr, proc.stdout)
    assert read_from is not None and other_stream is not None
    got = os.read(read_from.fileno(), after) if after else b""
    read_from.close()
    said = other_stream.read().decode("utf-8", "replace")
    return proc.wait(timeout=300), got, said


def test_a_listing_cut_short_by_its_reader_stops_quietly_with_status_141(assistant_home: Path) -> None:
    _plugin(assistant_home, "lazytools", 3000)  # a listing longer than a pipe holds
    status, got, said = _reader_stops("tools")
    assert got and (status, said) == (141, "")  # was 1: the status of a failure


def test_a_tool_batch_to_a_reader_that_stops_is_quiet_and_keeps_its_history(
    assistant_home: Path, tmp_path: Path
) -> None:
    _plugin(assistant_home, "lazytools", 2)
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"input": f"row {n} " + "x" * 200}) + "\n" for n in range(2000)))
    status, got, said = _reader_stops("lazy1", "--batch", str(rows))
    assert got.startswith(b'{"row": 1') and (status, said) == (141, "")
    listed = run_cli("history", "list")
    assert "lazy1: batch over rows.jsonl" in listed.stdout, listed.stderr


def test_a_batch_into_a_file_keeps_every_row_when_stderrs_reader_is_gone(
    assistant_home: Path, tmp_path: Path
) -> None:
    _plugin(assistant_home, "lazytools", 2)
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"input": f"row {n}"}) + "\n" for n in range(40)))
    out = tmp_path / "out.jsonl"
    status, got, printed = _reader_stops("lazy1", "--batch", str(rows), "--output", str(out), stream="stderr", after=0)
    assert (status, got, printed) == (141, b"", "")  # only its summary line was left to say
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [line["row"] for line in lines] == list(range(1, 41))
    assert lines[-1]["result"] == {"text": "lazy1 row 39 level=1 mode=None"}


def test_a_streamed_reply_cut_by_its_reader_is_recorded_as_interrupted(
    assistant_home: Path, fake_backend_plugin_file: Path
) -> None:
    assert FAKE_BACKEND_PLUGIN_SOURCE
    status, got, said = _reader_stops("prompt", "-b", "fake", "-o", "token_delay=0.005", "abc " * 150, after=4)
    assert got.startswith(b"E") and (status, said) == (141, "")
    shown = run_cli("history", "show", "1")
    assert "interrupted" in shown.stdout, shown.stdout + shown.stderr


def test_a_broken_pipe_that_is_not_the_readers_is_an_error_said_in_one_line(assistant_home: Path) -> None:
    directory = assistant_home / "config" / "plugins"
    directory.mkdir(parents=True)
    (directory / "piper.py").write_text(
        textwrap.dedent(
            """
            import click
            from assistant import hookimpl

            @hookimpl
            def register_commands(cli):
                @cli.command()
                def piper():
                    raise BrokenPipeError(32, "Broken pipe")
            """
        ),
        encoding="utf-8",
    )
    result = run_cli("piper")
    assert (result.returncode, result.stderr) == (1, "error: Broken pipe\n")  # was silent


# ---- bad input, found by trying ----------------------------------------------------------------
def test_an_empty_tool_name_is_an_unknown_tool_not_an_assertion_error() -> None:
    result = _invoke("tool", "", "hi")
    assert result.exit_code == 1
    assert result.output.startswith("error: unknown tool '' (available: "), result.output
    assert "Traceback" not in result.output and "AssertionError" not in result.output


@pytest.mark.parametrize("item", ["openai:base_url=http://127.0.0.1:1/v1", "\x1b[2Jx:k=v"])
def test_compare_names_a_prefix_that_is_neither_side(item: str) -> None:
    result = _invoke("compare", "hi", "-o", item)
    assert result.exit_code == 2, result.output
    prefix = item.partition(":")[0].replace("\x1b", "␛")
    assert f"{prefix!r} is not one of the backends compared (llama-cpp and transformers)" in result.output
    assert "unknown llama-cpp option" not in result.output  # was: the prefix taken for part of a key
    assert "\x1b" not in result.output


def test_a_tools_progress_to_a_gone_stderr_ends_quietly_as_the_pipe_did(assistant_home: Path) -> None:
    directory = assistant_home / "config" / "plugins"
    directory.mkdir(parents=True)
    (directory / "chatty.py").write_text(
        textwrap.dedent(
            """
            from assistant import hookimpl

            class Chatty:
                name = "chatty"
                description = "Reports its progress a lot."
                needs_model = False

                def run(self, text, params, backend, progress=None):
                    for step in range(5000):
                        progress(step, 5000, "working")
                    return text

            @hookimpl
            def register_tools(register):
                register(Chatty())
            """
        ),
        encoding="utf-8",
    )
    status, got, printed = _reader_stops("chatty", "hi", stream="stderr", after=0)
    assert (status, got, printed) == (141, b"", "")  # was 1: the failed progress line, then its error, unwritable

"""Round 18 hardening: untrusted text shown on a terminal, each case a defect that once got through.

Several fixes lie outside the terminal-text modules (the CLI boundary, the Python API's progress, a tool
result's JSON, the markdown export): each such path now takes the project's one rule.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.terminal_text import NO_MESSAGE, json_text, message_line
from tests.conftest import run_cli

# ---- an error message of only blanks was three lines --------------------------------------------------------


@pytest.mark.parametrize("message", ["", "\n\n", " \r\n\t ", "\u2028\u2029"])
def test_a_blank_error_message_is_one_line(message: str) -> None:
    """``one_line`` leaves nothing of a blank message, and ``message_line`` fell back to the message as it was:
    ``error: \\n\\n`` went out as three lines."""
    assert message_line(message) == NO_MESSAGE


def test_the_cli_says_a_blank_error_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from assistant.cli import fail

    with pytest.raises(SystemExit) as stopped:
        fail("\n\n")
    assert stopped.value.code == 1
    assert capsys.readouterr().err == f"error: {NO_MESSAGE}\n"


PLUGIN_COMMAND = """\
import click

from assistant import hookimpl
from assistant.errors import AssistantError


@hookimpl
def register_commands(cli):
    @cli.command("blank")
    def blank():
        raise AssistantError("\\n\\n")
"""


def test_a_plugin_command_failing_with_a_blank_message_gives_one_error_line(assistant_home: Path) -> None:
    plugins = assistant_home / "config" / "plugins"
    plugins.mkdir(parents=True)
    (plugins / "blank_error.py").write_text(PLUGIN_COMMAND, encoding="utf-8")
    proc = run_cli("blank")
    assert proc.returncode == 1
    assert proc.stderr == f"error: {NO_MESSAGE}\n"


# ---- a plugin that asked for its output's descriptor at import failed to load ----------------------------------


def test_a_plugins_output_while_it_loads_has_the_real_streams_descriptor(tmp_path: Path) -> None:
    """The capture of what a plugin prints had no ``fileno``: ``os.isatty(sys.stdout.fileno())`` (or
    ``faulthandler.enable()``) at a plugin's import raised ``UnsupportedOperation``, and the plugin was skipped."""
    import sys

    from assistant.plugin_output import plugin_output

    with open(tmp_path / "out", "w") as out, open(tmp_path / "err", "w") as err:
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = out, err
        try:
            with plugin_output(set(), "fd"):
                descriptors = sys.stdout.fileno(), sys.stderr.fileno()
                print("caught \x1b[31m")
        finally:
            sys.stdout, sys.stderr = saved
        assert descriptors == (out.fileno(), err.fileno())
    assert (tmp_path / "err").read_text() == "plugin 'fd': caught ␛[31m\n"  # the print is still caught
    assert (tmp_path / "out").read_text() == ""


FAULTHANDLER_PLUGIN = """\
import faulthandler
import os
import sys

faulthandler.enable()
os.isatty(sys.stdout.fileno())
"""


def test_a_plugin_enabling_faulthandler_at_import_loads(assistant_home: Path) -> None:
    plugins = assistant_home / "config" / "plugins"
    plugins.mkdir(parents=True)
    (plugins / "crash_reports.py").write_text(FAULTHANDLER_PLUGIN, encoding="utf-8")
    proc = run_cli("plugins")
    assert proc.returncode == 0, proc.stderr
    assert "crash_reports  (" in proc.stdout and "FAILED" not in proc.stdout + proc.stderr


# ---- what a plugin wrote later through a stream it kept from its import was lost -----------------------------


def test_a_stream_a_plugin_kept_from_its_import_writes_after_it(capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    from assistant.plugin_output import plugin_output

    with plugin_output(set(), "keeper"):
        kept_out, kept_err = sys.stdout, sys.stderr
        print("loading")
    print("later out", file=kept_out)
    print("later err", file=kept_err)
    assert capsys.readouterr() == ("later out\n", "plugin 'keeper': loading\nlater err\n")


LOGGING_PLUGIN = """\
import logging

from assistant import hookimpl
from assistant.tools.base import BaseTool
from assistant.tools.results import TextResult

log = logging.getLogger("logging_tool")
log.addHandler(logging.StreamHandler())  # takes sys.stderr now, at import


class LoggingTool(BaseTool):
    name = "logging-tool"
    description = "Logs a warning while it runs."
    needs_model = False

    def run(self, text, params, backend):
        log.warning("warned while running on %s", text)
        return TextResult("done")


@hookimpl
def register_tools(register):
    register(LoggingTool())
"""


def test_a_plugin_tools_log_warning_is_shown(assistant_home: Path) -> None:
    """A logging handler made at a plugin's import held the capture of its import output: every warning
    the tool logged while it ran went into that finished capture, and no one saw it."""
    plugins = assistant_home / "config" / "plugins"
    plugins.mkdir(parents=True)
    (plugins / "logging_tool.py").write_text(LOGGING_PLUGIN, encoding="utf-8")
    proc = run_cli("tool", "logging-tool", "hello")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "done\n"
    assert "warned while running on hello" in proc.stderr


# ---- found by the audit, outside the hardening area's files -------------------------------------------------


def test_a_usage_error_quoting_an_argument_with_a_line_break_is_one_line() -> None:
    """Click quotes extra arguments as they are: ``Got unexpected extra argument (x⏎y)`` broke the ``Error:`` line
    in two, the second half a line of its own (so did a plugin command's ``ClickException("a\\nb")``)."""
    from assistant.cli import main

    result = CliRunner().invoke(main, ["history", "show", "1", "x\ny\x1b[31m"])
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert errors and errors[0].endswith("y␛[31m)"), result.stderr


def test_the_python_apis_default_progress_lines_show_controls_visibly(capsys: pytest.CaptureFixture[str]) -> None:
    """``open_backend``'s default progress printed its lines raw: they name a hub's file (``…: chose FILE``), a
    GGUF file being converted (``converting NAME``), all chosen by someone else."""
    from assistant.session import stderr_progress

    stderr_progress("hf:org/repo: chose evil\x1b]0;owned\x07\u202egnp.gguf")
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err and "\u202e" not in err
    assert "evil␛]0;owned␇\\u202egnp.gguf" in err


def test_a_tool_results_json_is_the_projects_json() -> None:
    """``ToolResult.to_json`` wrote ``json.dumps``: C1 controls and bidi overrides raw, where every other JSON the
    assistant writes escapes them (:func:`~assistant.terminal_text.json_text`, the one place JSON is written)."""
    from assistant.tools.results import TextResult

    result = TextResult("a\u009b2J\u202eb\U000e0041")
    assert result.to_json() == json_text(result.to_dict())
    assert result.to_json(indent=2) == json_text(result.to_dict(), indent=2)


def test_the_markdown_export_of_a_tool_result_is_json_that_reads_back(tmp_path: Path) -> None:
    """The export's ```json block was ``json.dumps`` made visible as a whole: a C1 control in a tool's result
    became ``\\x9b``, which no JSON reader takes; ``history show`` prints the same result with ``json_text``."""
    import json

    from assistant.cli import main
    from assistant.history import HistoryStore, TurnMeta
    from assistant.types import Completion, Timings, Usage

    db = tmp_path / "history.db"
    result = {"label": "a\u009b2Jb\u202ec"}
    store = HistoryStore.open(db)
    try:
        conversation = store.create_conversation(meta=TurnMeta(model="m", backend="fake"))
        turn = store.start_turn(conversation.id, "classify", TurnMeta(model="m", backend="fake"))
        reply = Completion(
            text="a", model="m", backend="fake", finish_reason="stop", usage=Usage(1, 1), timings=Timings()
        )
        store.finish_turn(turn, reply, tool_name="label", tool_result=result)
    finally:
        store.close()
    exported = CliRunner().invoke(main, ["history", "export", str(conversation.id), "--db", str(db)])
    assert exported.exit_code == 0, exported.output
    block = exported.stdout.split("```json\n", 1)[1].split("\n```", 1)[0]
    assert json.loads(block) == result


RAISING_BACKEND_PLUGIN = """\
from assistant import hookimpl
from assistant.backends.fake import FakeBackend


class Raising(FakeBackend):
    name = "raising"

    def sample_tokens(self, prompt_ids, params):
        raise RuntimeError("server said \\x1b]0;owned\\x07\\x1b[2J\\u202egnp.exe")


@hookimpl
def register_backends(register):
    register("raising", Raising)
"""


def test_a_debug_traceback_shows_the_controls_its_messages_quote(assistant_home: Path) -> None:
    """``--debug`` printed Python's traceback as it is: an exception quoting a server's body or a GGUF's name
    (here a backend's) retitled and cleared the terminal of the one person looking into the failure."""
    plugins = assistant_home / "config" / "plugins"
    plugins.mkdir(parents=True)
    (plugins / "raising_backend.py").write_text(RAISING_BACKEND_PLUGIN, encoding="utf-8")
    proc = run_cli("--debug", "prompt", "-b", "raising", "-m", "x", "hi")
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "server said" in proc.stderr
    assert "\x1b" not in proc.stderr and "\x07" not in proc.stderr and "\u202e" not in proc.stderr

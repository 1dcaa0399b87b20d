"""Issue #20, item 7: plugin typos, ``sys.exit()`` at import, and hook failures are reported by name, one line each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.cli import main
from assistant.errors import PluginError
from assistant.plugins import plugin_failures, report_failures, reset_plugins
from assistant.tools import available_tools

from .conftest import run_cli

TYPO = """
from assistant import hookimpl

@hookimpl
def register_tool(register):
    raise AssertionError("a misspelt hook is never called")

@hookimpl
def register_frobnicators(register):
    pass
"""
EXITS = "import sys\nsys.exit(3)\n"
HOOK_FAILS = """
from assistant import hookimpl

@hookimpl
def register_tools(register):
    raise ValueError("tools\\nbroke \\x1b]0;PWNED\\x07")
"""


@pytest.fixture
def plugins(assistant_home: Path) -> Path:
    directory = assistant_home / "config" / "plugins"
    directory.mkdir(parents=True)
    (directory / "typo.py").write_text(TYPO, encoding="utf-8")
    (directory / "exits.py").write_text(EXITS, encoding="utf-8")
    (directory / "hookfails.py").write_text(HOOK_FAILS, encoding="utf-8")
    reset_plugins()
    return directory


def test_unknown_hook_names_are_reported_with_the_closest_real_one(plugins: Path) -> None:
    failures = {(f.name, f.error) for f in plugin_failures() if f.stage == "hook"}
    assert failures == {
        ("typo", "unknown hook 'register_tool' (did you mean 'register_tools'?)"),
        (
            "typo",
            "unknown hook 'register_frobnicators' (known hooks: register_backends, register_commands, "
            "register_template_dirs, register_tools)",
        ),
    }


def test_sys_exit_at_import_is_caught_and_named(plugins: Path) -> None:
    (failure,) = [f for f in plugin_failures() if f.name == "exits"]
    assert (failure.stage, failure.error) == ("import", "SystemExit: 3")
    assert "summarize" in available_tools()  # every other plugin still loaded


def test_every_warning_is_one_line(plugins: Path) -> None:
    available_tools()
    lines: list[str] = []
    report_failures(lines.append)
    assert len(lines) == 4  # exits, two typos, the failing hook
    assert all("\n" not in line and line.startswith("warning: plugin ") for line in lines)
    assert "warning: plugin 'hookfails' (register_tools): ValueError: tools broke" in "\n".join(lines)


def test_assistant_plugins_lists_hook_failures_too(plugins: Path) -> None:
    result = CliRunner().invoke(main, ["plugins"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "FAILED hookfails (register_tools): ValueError: tools broke ␛]0;PWNED␇" in result.stdout
    assert "FAILED exits (import): SystemExit: 3" in result.stdout
    assert "FAILED typo (hook): unknown hook 'register_tool'" in result.stdout
    assert "\x1b" not in result.output
    data = json.loads(CliRunner().invoke(main, ["plugins", "--json"]).stdout)
    stages = {(f["name"], f["stage"]) for f in data["failures"]}
    assert {("hookfails", "register_tools"), ("exits", "import"), ("typo", "hook")} <= stages
    assert len(data["failures"]) == 4  # each failure once, however often its hook ran


def test_a_real_process_survives_sys_exit_in_a_plugin(plugins: Path) -> None:
    done = run_cli("backends")
    assert done.returncode == 0 and "llama-cpp" in done.stdout
    assert "warning: plugin 'exits' skipped (import): SystemExit: 3" in done.stderr.splitlines()


def test_strict_mode_raises_on_an_unknown_hook(plugins: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (plugins / "exits.py").unlink()
    monkeypatch.setenv("ASSISTANT_STRICT_PLUGINS", "1")
    reset_plugins()
    with pytest.raises(PluginError, match="unknown hook 'register_"):
        available_tools()

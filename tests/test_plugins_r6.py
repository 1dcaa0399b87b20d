"""A third-party author's mistakes, caught where they are made and named.

Registering a tool class instead of an instance, a ``run`` with the wrong
signature, a typo'd hook in a plugin registered from Python, and a config file
with a typo must each be reported by name at once, not turn into a bare
``TypeError`` after a model has loaded, a hook that silently never runs, or a
CLI where even ``--help`` fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from assistant import hookimpl
from assistant.errors import PluginError
from assistant.plugins import list_plugins, plugin_failures, register_plugin
from assistant.tools import BaseTool, Parameter, TextResult, available_tools

from .conftest import run_cli


class Shout(BaseTool):
    name = "shout"
    description = "Upper-case the text."

    def run(self, text: str, params: Any, backend: Any) -> TextResult:
        return TextResult(text.upper())


class TwoArgs(BaseTool):
    name = "two-args"
    description = "run without params"

    def run(self, text: str, backend: Any) -> TextResult:  # type: ignore[override]
        return TextResult(text)


class Registers:
    """A runtime plugin whose register_tools registers ``thing``."""

    def __init__(self, thing: Any) -> None:
        self.thing = thing

    @hookimpl
    def register_tools(self, register: Any) -> None:
        register(self.thing)


def _failure(name: str) -> str:
    (failure,) = [f for f in plugin_failures() if f.name == name]
    assert failure.stage == "register_tools"
    return failure.error


def test_a_tool_class_registered_instead_of_an_instance_is_refused_and_named() -> None:
    register_plugin(Registers(Shout), name="by-class")
    assert "shout" not in available_tools()  # listed, it failed only at run time, after loading a model
    assert _failure("by-class") == "tool 'shout': register an instance (Shout()), not the class"


def test_a_run_without_the_params_argument_is_refused_at_registration() -> None:
    register_plugin(Registers(TwoArgs()), name="two-args")
    assert "two-args" not in available_tools()
    assert _failure("two-args").startswith("tool 'two-args': run must accept (text, params, backend)")


def test_a_run_taking_progress_is_still_a_tool() -> None:
    class WithProgress(Shout):
        name = "with-progress"

        def run(self, text: str, params: Any, backend: Any, progress: Any = None) -> TextResult:
            return TextResult(text)

    register_plugin(Registers(WithProgress()), name="with-progress")
    assert "with-progress" in available_tools()


def test_registering_something_that_is_not_a_tool_says_what_it_was() -> None:
    register_plugin(Registers("shout"), name="a-string")
    available_tools()
    assert _failure("a-string") == (
        "register() takes a tool (name, description, run), got a 'str' object with no tool name"
    )


def test_a_lone_parameter_without_its_comma_is_named_as_such() -> None:
    class Comma(Shout):
        name = "comma"
        parameters = (Parameter("times", "int", default=1))  # the missing comma is the mistake

    register_plugin(Registers(Comma()), name="comma")
    assert "comma" not in available_tools()
    assert _failure("comma") == (
        "tool 'comma': parameters must be a tuple or list, got Parameter; for one, write (Parameter(...),)"
    )


def test_templates_given_as_one_string_are_not_read_letter_by_letter() -> None:
    class OneTemplate(Shout):
        name = "one-template"
        templates = ("shout-prompt")

    register_plugin(Registers(OneTemplate()), name="one-template")
    assert "one-template" not in available_tools()  # was listed with templates ['s', 'h', 'o', ...]
    assert "templates must be a tuple or list, got str; for one, write ('my-prompt',)" in _failure("one-template")
    good = type("Good", (Shout,), {"name": "good", "templates": ["shout-prompt"]})()
    register_plugin(Registers(good), name="good")
    assert available_tools()["good"].templates == ("shout-prompt",)


def test_register_plugin_refuses_a_hook_name_that_no_hook_has() -> None:
    class Typo:
        @hookimpl
        def register_tool(self, register: Any) -> None:
            register(Shout())

    with pytest.raises(PluginError, match=r"unknown hook 'register_tool' \(did you mean 'register_tools'\?\)"):
        register_plugin(Typo(), name="typo")
    assert "typo" not in [p["name"] for p in list_plugins()]  # not half-registered


def test_register_plugin_turns_pluggys_argument_check_into_a_plugin_error() -> None:
    class WrongArgument:
        @hookimpl
        def register_tools(self, reg: Any) -> None:
            reg(Shout())

    with pytest.raises(PluginError, match=r"plugin 'wrong' failed: .*\{'reg'\}"):
        register_plugin(WrongArgument(), name="wrong")
    assert "wrong" not in [p["name"] for p in list_plugins()]


def test_an_optional_hook_is_not_a_typo() -> None:
    class Optional:
        @hookimpl(optionalhook=True)
        def register_someday(self, register: Any) -> None:
            pass

    register_plugin(Optional(), name="optional")
    assert "optional" in [p["name"] for p in list_plugins()]


SHOUT_FILE = """
from assistant import hookimpl
from assistant.tools import BaseTool, TextResult

class Shout(BaseTool):
    name = "shout"
    description = "Upper-case the text."

    def run(self, text, params, backend):
        return TextResult(text.upper())

@hookimpl
def register_tools(register):
    register(Shout())
"""


def test_a_config_file_with_a_typo_does_not_stop_help_or_config_path(assistant_home: Path) -> None:
    config_dir = assistant_home / "config"
    (config_dir / "plugins").mkdir(parents=True)
    (config_dir / "plugins" / "shout.py").write_text(SHOUT_FILE, encoding="utf-8")
    config = config_dir / "config.toml"
    config.write_text('plugin_dirs = ["~/mine"]\ndefault_model = \n', encoding="utf-8")

    warning = "warning: the plugins of plugin_dirs were not loaded: invalid TOML in "
    shown = run_cli("--help")
    assert shown.returncode == 0, shown.stderr
    assert "Commands:" in shown.stdout and "shout" in shown.stdout  # <config dir>/plugins still loads
    assert shown.stderr.startswith(warning) and str(config) in shown.stderr
    where = run_cli("config", "path")
    assert (where.returncode, where.stdout.strip()) == (0, str(config))
    # A command that needs the config still refuses to run on it, saying why.
    used = run_cli("prompt", "hi")
    assert used.returncode == 1 and f"error: invalid TOML in {config}" in used.stderr


def test_a_config_file_with_a_typo_is_an_error_with_strict_plugins(assistant_home: Path) -> None:
    (assistant_home / "config").mkdir(parents=True)
    (assistant_home / "config" / "config.toml").write_text('plugin_dirs = ["~/p"]\ndefault_model = \n', encoding="utf-8")
    proc = run_cli("config", "path", env={"ASSISTANT_STRICT_PLUGINS": "1"})
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: plugin 'plugin_dirs' failed: the plugins of plugin_dirs were not loaded: invalid TOML")

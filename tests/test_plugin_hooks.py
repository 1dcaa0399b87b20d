"""Every hook a plugin can implement, exercised — and the meta-tests that keep it that way.

In the manner of datasette's ``test_plugins.py``: each hookspec in
``assistant/hookspecs.py`` must be documented in ``docs/plugins.md`` and have a
``test_hook_<name>`` test, so a new hook cannot ship undocumented or untested.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pytest

from assistant import hookspecs
from assistant.hookspecs import hookimpl
from assistant.plugins import call_registration_hook, list_plugins, register_plugin
from .conftest import REPO_ROOT, run_cli

PLUGINS_DOC = REPO_ROOT / "docs" / "plugins.md"


def hookspec_names() -> list[str]:
    return sorted(
        name
        for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(function, "assistant_spec")
    )


def test_there_are_hookspecs() -> None:
    assert {"register_backends", "register_tools", "register_template_dirs", "register_commands"} <= set(
        hookspec_names()
    )


@pytest.mark.parametrize("hook", hookspec_names())
def test_every_hookspec_is_documented(hook: str) -> None:
    doc = PLUGINS_DOC.read_text(encoding="utf-8")
    signature = inspect.signature(getattr(hookspecs, hook))
    arguments = ", ".join(signature.parameters)
    assert re.search(rf"^### `{hook}\({arguments}\)`", doc, re.M), f"docs/plugins.md needs a '### `{hook}({arguments})`' section"


@pytest.mark.parametrize("hook", hookspec_names())
def test_every_hookspec_is_exercised_by_a_test(hook: str) -> None:
    sources = "\n".join(p.read_text(encoding="utf-8") for p in Path(__file__).parent.glob("test_*.py"))
    assert f"def test_hook_{hook}(" in sources, f"add a test named test_hook_{hook}"


# ---- the hooks ------------------------------------------------------------------------------
def test_hook_register_backends() -> None:
    from assistant.backends import available_backends, create_backend
    from assistant.backends.fake import FakeBackend

    class Plugin:
        @hookimpl
        def register_backends(self, register: Any) -> None:
            register("echo-engine", FakeBackend, description="an engine from a plugin")

    register_plugin(Plugin(), name="engine-plugin")
    info = available_backends()["echo-engine"]
    assert (info.plugin, info.description) == ("engine-plugin", "an engine from a plugin")
    backend = create_backend("echo-engine")
    backend.load("m")
    assert backend.complete("hi", __import__("assistant").GenerationParams(max_tokens=4)).text == "Echo"


def test_hook_register_tools() -> None:
    from assistant.backends.fake import FakeBackend
    from assistant.tools import BaseTool, Parameter, TextResult, get_tool

    class Shout(BaseTool):
        name = "shout"
        description = "Upper-case the text."
        parameters = (Parameter("times", "int", default=1),)

        def run(self, text: str, params: Any, backend: Any) -> TextResult:
            return TextResult(" ".join([text.upper()] * params["times"]))

    class Plugin:
        @hookimpl
        def register_tools(self, register: Any) -> None:
            register(Shout())

    register_plugin(Plugin(), name="shout-plugin")
    tool = get_tool("shout")
    assert tool.plugin == "shout-plugin"
    assert tool.run("hey", FakeBackend(), times="2").to_text() == "HEY HEY"
    assert "register_tools" in next(p["hooks"] for p in list_plugins() if p["name"] == "shout-plugin")


def test_hook_register_template_dirs(tmp_path: Path) -> None:
    from assistant.default_plugins.template_dirs import builtin_prompts_dir

    class Plugin:
        @hookimpl
        def register_template_dirs(self, register: Any) -> None:
            register(tmp_path)

    register_plugin(Plugin(), name="templates-plugin")
    found: list[Path] = []
    call_registration_hook("register_template_dirs", found.append)
    assert found.index(tmp_path) < found.index(builtin_prompts_dir()), "plugins' templates come before the built-ins"


def test_hook_register_commands(assistant_home: Path) -> None:
    plugin_dir = assistant_home / "config" / "plugins"
    plugin_dir.mkdir(parents=True, exist_ok=True)
    (plugin_dir / "hello_command.py").write_text(
        "import click\n"
        "from assistant import hookimpl\n\n\n"
        "@hookimpl\n"
        "def register_commands(cli):\n"
        "    @cli.command()\n"
        "    @click.argument('name')\n"
        "    def hello(name):\n"
        "        '''Say hello.'''\n"
        "        click.echo(f'hello {name}')\n"
    )
    proc = run_cli("hello", "world")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "hello world"
    assert "hello" in run_cli("--help").stdout


def test_a_plugin_command_named_like_a_core_command_is_refused_and_named(assistant_home: Path) -> None:
    plugin_dir = assistant_home / "config" / "plugins"
    plugin_dir.mkdir(parents=True, exist_ok=True)
    (plugin_dir / "takeover.py").write_text(
        "import click\n"
        "from assistant import hookimpl\n\n\n"
        "@hookimpl\n"
        "def register_commands(cli):\n"
        "    @cli.command()\n"
        "    def models():\n"
        "        click.echo('not the models command')\n"
    )
    proc = run_cli("models", "list")
    assert proc.returncode == 0, proc.stderr
    assert "not the models command" not in proc.stdout and "smollm2" in proc.stdout
    assert "warning: plugin 'takeover' (register_commands): command 'models' is a core command" in proc.stderr


def test_a_tools_words_in_help_cannot_reach_the_terminal_raw(assistant_home: Path) -> None:
    plugin_dir = assistant_home / "config" / "plugins"
    plugin_dir.mkdir(parents=True, exist_ok=True)
    (plugin_dir / "esc.py").write_text(
        "from assistant import hookimpl\n"
        "from assistant.tools import BaseTool, Parameter, TextResult\n\n\n"
        "class Esc(BaseTool):\n"
        "    name = 'esc'\n"
        "    description = 'Rings\\x07 the \\x1b[31mbell'\n"
        "    parameters = (Parameter('n', 'int', help='count\\x07 \\x1b]0;x\\x07', default=1),)\n\n"
        "    def run(self, text, params, backend):\n"
        "        return TextResult(text)\n\n\n"
        "@hookimpl\n"
        "def register_tools(register):\n"
        "    register(Esc())\n"
    )
    for args in (("esc", "--help"), ("tool", "esc", "--help"), ("--help",)):
        proc = run_cli(*args)
        assert proc.returncode == 0, proc.stderr
        assert "\x07" not in proc.stdout and "\x1b" not in proc.stdout, args
    assert "Rings␇ the ␛[31mbell" in run_cli("esc", "--help").stdout


def test_registrations_of_the_wrong_kind_are_reported_by_plugin_and_skipped() -> None:
    from assistant.backends import available_backends
    from assistant.backends.fake import FakeBackend
    from assistant.plugins import plugin_failures
    from assistant.templates.loader import template_dirs

    class Plugin:
        @hookimpl
        def register_backends(self, register: Any) -> None:
            register("bad\x1bname", FakeBackend)

    class Plugin2:
        @hookimpl
        def register_backends(self, register: Any) -> None:
            register("fine-name", FakeBackend, description=5)

    class Plugin3:
        @hookimpl
        def register_template_dirs(self, register: Any) -> None:
            register(None)

    for plugin, name in ((Plugin(), "bad-name"), (Plugin2(), "bad-description"), (Plugin3(), "bad-dir")):
        register_plugin(plugin, name=name)
    backends = available_backends()
    assert "fine-name" not in backends and not any("\x1b" in name for name in backends)
    assert "None" not in [str(d.path) for d in template_dirs()]
    failed = {f.name: f.error for f in plugin_failures()}
    assert "backend name must be" in failed["bad-name"]
    assert "description must be a string" in failed["bad-description"]
    assert "must be a path" in failed["bad-dir"]

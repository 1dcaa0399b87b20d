"""Round 10 (second wave): third-party plugins a plugin author might write, and what they did to the CLI.

A plugin registering many tools made ``assistant --help`` run every
``register_tools`` hook once per listed command (40 s for 300 tools, endless for
5,000); a plugin printing at import wrote ahead of ``assistant tools --json`` on
stdout (no longer JSON) and put its ESC bytes on the terminal raw; a
``register_commands`` hook passing ``cli.add_command`` something that is not a
command ended with an ``AttributeError`` that dropped the plugin's later commands.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from assistant.errors import ConfigError

from .conftest import run_cli


def _write(home: Path, file_name: str, body: str) -> Path:
    directory = home / "config" / "plugins"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / file_name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def test_help_runs_register_tools_once_not_once_per_listed_command(assistant_home: Path) -> None:
    calls = assistant_home / "calls.txt"
    _write(
        assistant_home,
        "many.py",
        f"""
        from assistant import hookimpl
        from assistant.tools import BaseTool, TextResult

        class T(BaseTool):
            description = "one of many"
            needs_model = False

            def __init__(self, i):
                self.name = f"many{{i}}"

            def run(self, text, params, backend):
                return TextResult(self.name)

        @hookimpl
        def register_tools(register):
            with open({str(calls)!r}, "a") as f:
                f.write("x\\n")
            for i in range(40):
                register(T(i))
        """,
    )
    result = run_cli("--help")
    assert result.returncode == 0, result.stderr
    assert "many39" in result.stdout
    # Once per invocation (it ran 2 + 2 x 40 times: once per tool command --help lists, twice over).
    assert calls.read_text().count("x") == 1
    calls.unlink()
    result = run_cli("many7", "hi")
    assert (result.returncode, result.stdout.strip()) == (0, "many7"), result.stderr
    assert calls.read_text().count("x") < 10  # a few registries ask, not one per tool


NOISY = """
import sys
print("\\x1b[2Jloaded \\x1b]0;title\\x07")
print("\\x1b[31mimport warning", file=sys.stderr)
from assistant import hookimpl
from assistant.tools import BaseTool, TextResult

class Noisy(BaseTool):
    name = "noisy"
    description = "prints while it loads"
    needs_model = False

    def run(self, text, params, backend):
        return TextResult("ok")

@hookimpl
def register_tools(register):
    print("registering \\x1b[1mnoisy")
    sys.stdout.buffer.write(b"bytes \\xff\\n")
    register(Noisy())
"""


def test_what_a_plugin_prints_while_loading_goes_to_stderr_visible_and_named(assistant_home: Path) -> None:
    _write(assistant_home, "noisy.py", NOISY)
    result = run_cli("tools", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)  # nothing of the plugin's ahead of the JSON
    assert "noisy" in [tool["name"] for tool in data["tools"]]
    assert "\x1b" not in result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert "plugin 'noisy': ␛[2Jloaded ␛]0;title␇" in lines
    assert "plugin 'noisy': ␛[31mimport warning" in lines
    assert "plugin 'noisy': registering ␛[1mnoisy" in lines
    assert "plugin 'noisy': bytes \ufffd" in lines
    assert len(lines) == len(set(lines))  # once each, however often the registries run the hook
    # the plugin still works, and its tool's own output is the command's
    result = run_cli("noisy", "hi")
    assert result.returncode == 0 and result.stdout == "ok\n", result.stderr


def test_add_command_given_something_not_a_command_is_named_and_the_plugins_next_command_kept(
    assistant_home: Path,
) -> None:
    _write(
        assistant_home,
        "cmds.py",
        """
        import click
        from assistant import hookimpl

        @hookimpl
        def register_commands(cli):
            cli.add_command(5)
            cli.add_command("hello")

            @cli.command()
            def hello():
                click.echo("hello there")
        """,
    )
    result = run_cli("hello")
    assert result.returncode == 0 and result.stdout == "hello there\n", result.stderr
    said = "cli.add_command takes a click command (@click.command()), got"
    warnings = [line for line in result.stderr.splitlines() if "cmds" in line]
    assert warnings == [
        f"warning: plugin 'cmds' (register_commands): {said} int",
        f"warning: plugin 'cmds' (register_commands): {said} str",
    ]
    listed = run_cli("plugins")
    assert f"FAILED cmds (register_commands): {said} int" in listed.stdout


def test_one_command_parses_the_config_file_once_and_again_only_after_an_edit(
    assistant_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tomllib

    from assistant import config

    parsed: list[int] = []
    real_loads = tomllib.loads

    def counting_loads(text: str) -> dict:
        parsed.append(len(text))
        return real_loads(text)

    monkeypatch.setattr(config.tomllib, "loads", counting_loads)
    path = assistant_home / "config" / "config.toml"
    path.parent.mkdir(parents=True)
    text = 'default_backend = "openai"\ndb = "hist.db"\n[params]\ntemperature = 0.5\n'
    path.write_text(text, encoding="utf-8")
    first = config.load_config()
    assert config.default_backend() == "openai"
    assert config.config_warnings() == []
    assert len(parsed) == 1  # three readers, one parse
    first["params"]["temperature"] = 9  # a caller's change to its copy is not the next caller's config
    assert config.load_config()["params"] == {"temperature": 0.5}
    assert config.load_config()["db"] == str(path.parent / "hist.db")
    path.write_text('default_backend = "transformers"\n', encoding="utf-8")  # an edit is seen at once
    assert config.default_backend() == "transformers"
    assert len(parsed) == 2
    path.write_text("default_backend = [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="invalid TOML"):
        config.load_config()


def test_a_plugin_file_name_that_is_not_utf8_is_called_that(assistant_home: Path) -> None:
    import os

    directory = assistant_home / "config" / "plugins"
    directory.mkdir(parents=True)
    (directory / "good.py").write_text("x = 1\n", encoding="utf-8")
    with open(os.path.join(os.fsencode(directory), b"bad\xffname.py"), "w", encoding="utf-8") as f:
        f.write("x = 1\n")
    result = run_cli("plugins")
    assert result.returncode == 0, result.stderr
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED")]
    said = "the name is not valid UTF-8 (byte 0xff at character 4); rename it"
    assert failed == [f"FAILED bad\ufffdname (import): {said}"]
    assert "good  (" in result.stdout


def test_a_plugin_slow_to_import_is_named_on_each_command_and_in_the_listing(assistant_home: Path) -> None:
    _write(assistant_home, "sluggish.py", "import time\ntime.sleep(1.2)\n")
    _write(assistant_home, "quick.py", "x = 1\n")
    result = run_cli("tools")
    assert result.returncode == 0, result.stderr
    slow = [line for line in result.stderr.splitlines() if "to import" in line]
    assert len(slow) == 1 and slow[0].startswith("warning: plugin 'sluggish' took 1."), result.stderr
    assert slow[0].endswith("s to import, and every command waits for it: "
                            "import heavy modules inside the functions that use them (docs/plugins.md)")
    listed = run_cli("plugins", "--json")
    by_name = {plugin["name"]: plugin for plugin in json.loads(listed.stdout)["plugins"]}
    assert by_name["sluggish"]["import_s"] >= 1.2 and "import_s" not in by_name["quick"]
    assert "to import" not in listed.stderr  # the listing says it, once


def test_hooks_run_from_two_threads_at_once_leave_stdout_as_it_was() -> None:
    import sys
    import threading
    import time

    from assistant import hookimpl
    from assistant.plugins import register_plugin
    from assistant.tools import available_tools

    entered = threading.Event()

    class Printing:
        @hookimpl
        def register_tools(self, register):
            print("registering")
            if not entered.is_set():
                entered.set()
                time.sleep(0.3)  # the second thread asks for the tools meanwhile
            else:
                time.sleep(0.6)  # and finishes after the first

    register_plugin(Printing(), name="printing")
    before = sys.stdout, sys.stderr
    first = threading.Thread(target=available_tools)
    first.start()
    assert entered.wait(10)
    second = threading.Thread(target=available_tools)
    second.start()
    first.join(10)
    second.join(10)
    # Each swap restored what it found: unguarded, the second restored the first's buffer for good.
    assert (sys.stdout, sys.stderr) == before

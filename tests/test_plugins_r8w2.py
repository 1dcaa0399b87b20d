"""Round 8 (second wave): third-party plugins that misbehave, and a config file with a typo.

Each was found by writing the plugin a user might write: a hook without
``@hookimpl``, one that returns its tools instead of registering them, an
``async def`` hook, a file named like a built-in, a file name holding a newline,
a folder or FIFO named ``x.py``, one bad registration among good ones, a
backend description over several lines. "A broken plugin is reported by name
and skipped" held for none of them.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from assistant import hookimpl
from assistant.backends import available_backends
from assistant.errors import PluginError
from assistant.plugins import list_plugins, plugin_failures, register_plugin, reset_plugins
from assistant.tools import available_tools

from .conftest import run_cli


def _plugin_dir(home: Path) -> Path:
    directory = home / "config" / "plugins"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _write(home: Path, file_name: str, body: str) -> Path:
    path = _plugin_dir(home) / file_name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def _failures(name: str) -> list[tuple[str, str]]:
    return [(f.stage, f.error) for f in plugin_failures() if f.name == name]


GOOD_TOOL = """
from assistant import hookimpl
from assistant.tools import BaseTool, TextResult

class Good(BaseTool):
    name = "good"
    description = "a good tool"
    needs_model = False

    def run(self, text, params, backend):
        return TextResult("ok")
"""


# ---- a config file with a typo ----------------------------------------------------------


def _config(home: Path, text: str) -> Path:
    path = home / "config" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_a_broken_config_without_plugin_dirs_is_not_also_a_plugin_warning(assistant_home: Path) -> None:
    """Every command printed "warning: the plugins of plugin_dirs were not loaded: <the config error>"
    before the config error itself, though the file named no plugin_dirs: no plugin was skipped."""
    config = _config(assistant_home, "default_model = [\n")
    used = run_cli("history", "list")
    assert used.returncode == 1
    assert used.stderr.splitlines() == [f"error: invalid TOML in {config}: Invalid value (at end of document)"]
    helped = run_cli("--help")
    assert (helped.returncode, helped.stderr) == (0, "")
    assert not _failures("plugin_dirs")


def test_a_broken_config_with_plugin_dirs_still_says_they_were_not_loaded(assistant_home: Path) -> None:
    _config(assistant_home, '"plugin_dirs" = ["~/mine"]\ndefault_model = 1\n')
    ((stage, error),) = _failures("plugin_dirs")
    assert stage == "config"
    assert error.startswith("the plugins of plugin_dirs were not loaded: default_model in ")


def test_a_config_that_is_not_utf8_and_names_plugin_dirs_is_reported(assistant_home: Path) -> None:
    path = assistant_home / "config" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b'plugin_dirs = ["/x"]\ndefault_system = "caf\xe9"\n')
    ((stage, error),) = _failures("plugin_dirs")
    assert stage == "config" and "not UTF-8" in error


# ---- hooks that are never called, or whose work is dropped --------------------------------


def test_a_hook_function_without_hookimpl_is_reported(assistant_home: Path) -> None:
    """pluggy ignores an undecorated ``register_tools``: the plugin loaded, listed, and had no tools."""
    _write(assistant_home, "undecorated.py", GOOD_TOOL + "\ndef register_tools(register):\n    register(Good())\n")
    assert _failures("undecorated") == [
        ("hook", "register_tools is not marked @hookimpl, so it is never called (from assistant import hookimpl)")
    ]


def test_an_undecorated_hook_is_refused_when_registered_from_python() -> None:
    class Forgot:
        def register_tools(self, register):  # type: ignore[no-untyped-def]
            pass

    with pytest.raises(PluginError, match="register_tools is not marked @hookimpl"):
        register_plugin(Forgot(), name="forgot")
    assert "forgot" not in [p["name"] for p in list_plugins()]


def test_a_hook_that_returns_its_tools_instead_of_registering_them_is_reported(assistant_home: Path) -> None:
    _write(assistant_home, "returns.py", GOOD_TOOL + "\n@hookimpl\ndef register_tools(register):\n    return [Good()]\n")
    assert "good" not in available_tools()
    assert _failures("returns") == [
        ("register_tools", "register_tools returned a list, which is ignored: call register(...) for each instead")
    ]


def test_an_async_hook_is_reported_and_never_warns_of_an_unawaited_coroutine(assistant_home: Path) -> None:
    _write(assistant_home, "asyncp.py", GOOD_TOOL + "\n@hookimpl\nasync def register_tools(register):\n    register(Good())\n")
    proc = run_cli("tools", env={"PYTHONWARNINGS": "error::RuntimeWarning"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == (
        "warning: plugin 'asyncp' (register_tools): register_tools must be a plain function (def), "
        "not async def or a generator\n"
    )
    assert "good" not in proc.stdout


def test_a_hook_wrapper_is_reported_instead_of_doing_nothing(assistant_home: Path) -> None:
    _write(
        assistant_home,
        "wrapping.py",
        GOOD_TOOL + "\n@hookimpl(wrapper=True)\ndef register_tools(register):\n    register(Good())\n    return (yield)\n",
    )
    assert "good" not in available_tools()
    assert _failures("wrapping") == [
        ("register_tools", "register_tools cannot be a hook wrapper: call register(...) in a plain function")
    ]


def test_a_command_hook_may_return_the_command_it_added(assistant_home: Path) -> None:
    _write(
        assistant_home,
        "greet.py",
        """
        import click
        from assistant import hookimpl

        @hookimpl
        def register_commands(cli):
            @cli.command()
            def greet():
                click.echo("hi")
            return greet
        """,
    )
    proc = run_cli("greet")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "hi\n", "")


def test_one_refused_registration_does_not_drop_the_plugins_others(assistant_home: Path) -> None:
    """``register(bad)`` raised into the hook and ended it: every tool registered after it went
    missing without a word (and which did depended on their order)."""
    _write(
        assistant_home,
        "mixed.py",
        GOOD_TOOL
        + """
@hookimpl
def register_tools(register):
    register(42)
    register(Good())

@hookimpl
def register_backends(register):
    register("only-a-name")
    register("mixed-engine", lambda: None, description="after the bad one")
""",
    )
    assert available_tools()["good"].plugin == "mixed"
    assert available_backends()["mixed-engine"].plugin == "mixed"
    assert _failures("mixed") == [
        ("register_tools", "register() takes a tool (name, description, run), got a 'int' object with no tool name"),
        ("register_backends", "register(name, factory, description=''): missing a required argument: 'factory'"),
    ]


def test_a_refused_registration_still_stops_the_command_under_strict_plugins(
    assistant_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(assistant_home, "mixed.py", GOOD_TOOL + "\n@hookimpl\ndef register_tools(register):\n    register(42)\n")
    monkeypatch.setenv("ASSISTANT_STRICT_PLUGINS", "1")
    reset_plugins()
    with pytest.raises(PluginError, match="^plugin 'mixed' failed: register\\(\\) takes a tool"):
        available_tools()


# ---- plugin files that cannot stand for a plugin ----------------------------------------------


def test_a_plugin_file_named_like_a_built_in_does_not_replace_it(assistant_home: Path) -> None:
    """``assistant.default_plugins.backends.py`` replaced the built-in plugin: every built-in backend was gone."""
    _write(assistant_home, "assistant.default_plugins.backends.py", "x = 1\n")
    assert {"llama-cpp", "openai", "transformers"} <= set(available_backends())
    assert _failures("assistant.default_plugins.backends") == [
        ("import", "this is the name of a built-in plugin, which cannot be replaced; rename it")
    ]


def test_a_plugin_file_name_with_control_characters_is_refused(assistant_home: Path) -> None:
    """A file ``new<LF>line.py`` split the ``assistant plugins`` listing, and an ESC in a file name
    went into every listing and error that named the plugin (raw, in ``--json`` consumers)."""
    _write(assistant_home, "new\nline.py", GOOD_TOOL + "\n@hookimpl\ndef register_tools(register):\n    register(Good())\n")
    _write(assistant_home, "esc\x1b[31m.py", "x = 1\n")
    proc = run_cli("plugins")
    assert proc.returncode == 0, proc.stderr
    assert "FAILED new line (import): the name holds control characters; rename it" in proc.stdout.splitlines()
    assert "FAILED esc\u241b[31m (import): the name holds control characters; rename it" in proc.stdout
    assert "\x1b" not in proc.stdout + proc.stderr
    assert "good" not in run_cli("tools").stdout


def test_a_folder_named_like_a_plugin_file_is_reported_plainly(assistant_home: Path) -> None:
    (_plugin_dir(assistant_home) / "folder.py").mkdir()
    ((stage, error),) = _failures("folder")
    assert (stage, error) == ("import", f"{_plugin_dir(assistant_home) / 'folder.py'} is not a regular file")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_named_like_a_plugin_file_does_not_hang_start_up(assistant_home: Path) -> None:
    os.mkfifo(_plugin_dir(assistant_home) / "pipe.py")
    proc = run_cli("config", "path", timeout=60)
    assert proc.returncode == 0
    assert "warning: plugin 'pipe' skipped (import): " in proc.stderr and "is not a regular file" in proc.stderr


# ---- listings ----------------------------------------------------------------------------------


def test_a_backend_description_over_several_lines_is_listed_on_one(assistant_home: Path) -> None:
    _write(
        assistant_home,
        "engine.py",
        """
        from assistant import hookimpl

        @hookimpl
        def register_backends(register):
            register("many-lines", lambda: None, description="first line\\x1b[2J\\nsecond line")
        """,
    )
    proc = run_cli("backends")
    assert proc.returncode == 0, proc.stderr
    (line,) = [line for line in proc.stdout.splitlines() if "many-lines" in line]
    assert line == "many-lines: first line\u241b[2J  [engine]"
    assert "second line" not in proc.stdout and "\x1b" not in proc.stdout


def test_a_failure_named_by_a_plugin_dirs_entry_with_a_line_break_stays_one_line(assistant_home: Path) -> None:
    _config(assistant_home, 'plugin_dirs = ["/nowhere\\nFAILED fake (import): spoofed"]\n')
    proc = run_cli("plugins")
    assert proc.returncode == 0, proc.stderr
    assert not any(line.startswith("FAILED fake") for line in proc.stdout.splitlines())
    assert "FAILED /nowhere FAILED fake (import): spoofed (plugin_dirs): does not exist" in proc.stdout


# ---- loading that went wrong in the loader itself -----------------------------------------------


def test_a_plugin_that_uses_the_registries_at_import_is_reported_not_reloaded_89_times(assistant_home: Path) -> None:
    """``get_tool("summarize")`` at a plugin's import built the plugins again from inside their
    loading, which imported that plugin again…: 89 nested loads, seconds, until a RecursionError."""
    imports = assistant_home / "imports.log"
    _write(
        assistant_home,
        "reentrant.py",
        f"""
        with open({str(imports)!r}, "a") as log:
            log.write("imported\\n")
        from assistant.tools import get_tool

        BASE = get_tool("summarize")
        """,
    )
    assert "summarize" in available_tools()
    assert imports.read_text() == "imported\n"
    ((stage, error),) = _failures("reentrant")
    assert stage == "import" and error.startswith("it uses the plugins (get_tool, available_tools, …) while they load")


def _dist(site: Path, entry_points: str) -> None:
    info = site / "evil-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: evil\nVersion: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[assistant]\n{entry_points}", encoding="utf-8")
    (site / "evil_plugin.py").write_text("x = 1\n", encoding="utf-8")


def test_two_entry_points_naming_one_module_are_reported_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pluggy's ValueError listed every loaded plugin (several hundred characters of reprs)."""
    _dist(tmp_path / "site", "first = evil_plugin\nsecond = evil_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    reset_plugins()
    assert "first" in [p["name"] for p in list_plugins()]
    assert _failures("second") == [("import", "the same module or object is already loaded as plugin 'first'")]


def test_an_entry_point_named_like_a_built_in_or_with_an_escape_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _dist(tmp_path / "site", "assistant.default_plugins.template_dirs = evil_plugin\nesc\x1b[2J = evil_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    reset_plugins()
    sources = {p["name"]: p["source"] for p in list_plugins()}
    assert sources["assistant.default_plugins.template_dirs"] == "built-in"
    assert "esc\x1b[2J" not in sources
    assert _failures("esc\x1b[2J") == [("import", "the name holds control characters; rename it")]


def test_registering_one_object_under_a_second_name_is_a_plugin_error() -> None:
    class Tools:
        @hookimpl
        def register_tools(self, register):  # type: ignore[no-untyped-def]
            pass

    plugin = Tools()
    register_plugin(plugin, name="one")
    with pytest.raises(PluginError, match="^plugin 'two' failed: the same module or object is already loaded as plugin 'one'$"):
        register_plugin(plugin, name="two")


def test_assistant_plugins_naming_a_built_in_is_not_called_a_typo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_PLUGINS", "assistant.default_plugins.backends,nope")
    reset_plugins()
    assert {f.name for f in plugin_failures() if f.stage == "ASSISTANT_PLUGINS"} == {"nope"}
    assert "llama-cpp" in available_backends()

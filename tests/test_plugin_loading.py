"""Plugin loading edge cases: name clashes, typos in ASSISTANT_PLUGINS and plugin_dirs, late hook failures."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from assistant.backends import available_backends
from assistant.plugins import (
    first_party_plugin_dir,
    list_plugins,
    plugin_failures,
    register_plugin,
    report_failures,
    reset_plugins,
)
from assistant.tools import available_tools, get_tool

MY_SENTIMENT = """
from assistant import hookimpl
from assistant.tools import BaseTool, TextResult

class Mine(BaseTool):
    name = "sentiment"
    description = "my own sentiment"

    def run(self, text, params, backend):
        return TextResult("mine")

@hookimpl
def register_tools(register):
    register(Mine())
"""


def _plugin_dir(home: Path) -> Path:
    directory = home / "config" / "plugins"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _write(directory: Path, name: str, body: str) -> None:
    (directory / f"{name}.py").write_text(textwrap.dedent(body), encoding="utf-8")


def _failures(stage: str) -> dict[str, str]:
    return {f.name: f.error for f in plugin_failures() if f.stage == stage}


def test_user_plugin_with_a_first_party_name_replaces_it(assistant_home: Path) -> None:
    assert (first_party_plugin_dir() / "sentiment.py").is_file()
    _write(_plugin_dir(assistant_home), "sentiment", MY_SENTIMENT)
    reset_plugins()
    tool = get_tool("sentiment")
    assert tool.description == "my own sentiment"
    assert tool.run("hi", backend=object()).to_text() == "mine"  # type: ignore[arg-type]
    source = next(p["source"] for p in list_plugins() if p["name"] == "sentiment")
    assert source.startswith(str(assistant_home))
    assert plugin_failures() == []


def test_a_broken_replacement_keeps_the_first_party_plugin(assistant_home: Path) -> None:
    _write(_plugin_dir(assistant_home), "sentiment", "import does_not_exist_anywhere\n")
    reset_plugins()
    assert get_tool("sentiment").plugin == "sentiment"
    assert "sentiment" in _failures("import")
    source = next(p["source"] for p in list_plugins() if p["name"] == "sentiment")
    assert source == str(first_party_plugin_dir() / "sentiment.py")


def test_a_plugin_dir_listed_twice_loads_its_files_once(assistant_home: Path) -> None:
    directory = _plugin_dir(assistant_home)
    _write(directory, "counted", "import builtins\nbuiltins._counted_loads = getattr(builtins, '_counted_loads', 0) + 1\n")
    (assistant_home / "config" / "config.toml").write_text(f'plugin_dirs = ["{directory}"]\n', encoding="utf-8")
    import builtins

    builtins._counted_loads = 0  # type: ignore[attr-defined]
    reset_plugins()
    list_plugins()
    assert builtins._counted_loads == 1  # type: ignore[attr-defined]
    del builtins._counted_loads  # type: ignore[attr-defined]


def test_unknown_names_in_assistant_plugins_are_reported(
    assistant_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSISTANT_PLUGINS", "nope, sentiment,,")
    reset_plugins()
    assert list(available_tools()) == ["sentiment"]
    assert set(_failures("ASSISTANT_PLUGINS")) == {"nope"}


@pytest.mark.parametrize("value", ["", ","])
def test_an_empty_assistant_plugins_reports_nothing(
    assistant_home: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("ASSISTANT_PLUGINS", value)
    reset_plugins()
    assert available_tools() == {}
    assert plugin_failures() == []


def test_configured_plugin_dirs_that_are_not_directories_are_reported(assistant_home: Path, tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("", encoding="utf-8")
    missing = tmp_path / "missing"
    (assistant_home / "config").mkdir(parents=True, exist_ok=True)
    (assistant_home / "config" / "config.toml").write_text(
        f'plugin_dirs = ["{missing}", "{a_file}"]\n', encoding="utf-8"
    )
    reset_plugins()
    assert _failures("plugin_dirs") == {str(missing): "does not exist", str(a_file): "is not a directory"}
    assert "sentiment" in available_tools()  # the rest still loads


def test_the_default_user_plugin_dir_may_be_missing(assistant_home: Path) -> None:
    reset_plugins()
    assert plugin_failures() == []


def test_a_hook_failing_after_start_up_is_still_reported_once(assistant_home: Path) -> None:
    class Broken:
        def register_backends(self, register: Any) -> None:
            raise RuntimeError("late\nboom")

    from assistant import hookimpl

    Broken.register_backends = hookimpl(Broken.register_backends)  # type: ignore[method-assign]
    lines: list[str] = []
    report_failures(lines.append)  # CLI start-up: nothing has failed yet
    assert lines == []
    register_plugin(Broken(), name="late-breaker")
    available_backends()
    available_backends()
    assert lines == ["warning: plugin 'late-breaker' (register_backends): RuntimeError: late boom"]


def test_register_plugin_twice_under_one_name_replaces(assistant_home: Path) -> None:
    from assistant import hookimpl

    def plugin(description: str) -> object:
        class Plugin:
            @hookimpl
            def register_backends(self, register: Any) -> None:
                from assistant.backends.fake import FakeBackend

                register("notebook", FakeBackend, description=description)

        return Plugin()

    register_plugin(plugin("first"), name="cell")
    register_plugin(plugin("second"), name="cell")
    assert available_backends()["notebook"].description == "second"

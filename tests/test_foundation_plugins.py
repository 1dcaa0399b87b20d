"""Plugin loading: failures are isolated and reported, restrictions and overrides work."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from assistant.backends import available_backends, create_backend
from assistant.errors import PluginError
from assistant.plugins import list_plugins, plugin_failures, reset_plugins

from .conftest import run_cli


def _write_plugin(home: Path, name: str, body: str) -> Path:
    directory = home / "config" / "plugins"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.py"
    path.write_text(textwrap.dedent(body))
    return path


BROKEN = "import does_not_exist_anywhere\n"

OVERRIDE = """
from assistant import hookimpl
from assistant.backends.fake import FakeBackend

@hookimpl
def register_backends(register):
    register("llama-cpp", FakeBackend, description="user override")
    register("mine", FakeBackend, description="user backend")
"""

RAISES_IN_HOOK = """
from assistant import hookimpl

@hookimpl
def register_backends(register):
    raise RuntimeError("boom in hook")
"""


def test_broken_plugin_is_skipped_and_reported(assistant_home: Path) -> None:
    _write_plugin(assistant_home, "broken", BROKEN)
    _write_plugin(assistant_home, "mine", OVERRIDE)
    failures = plugin_failures()
    assert [(f.name, f.stage) for f in failures] == [("broken", "import")]
    assert "does_not_exist_anywhere" in failures[0].error
    assert "mine" in available_backends()  # the good plugin still loads


def test_plugin_raising_in_hook_keeps_other_registrations(assistant_home: Path) -> None:
    _write_plugin(assistant_home, "raiser", RAISES_IN_HOOK)
    backends = available_backends()
    assert "llama-cpp" in backends
    assert [(f.name, f.stage) for f in plugin_failures()] == [("raiser", "register_backends")]


def test_strict_plugins_reraises(assistant_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_plugin(assistant_home, "broken", BROKEN)
    monkeypatch.setenv("ASSISTANT_STRICT_PLUGINS", "1")
    reset_plugins()
    with pytest.raises(PluginError, match="broken"):
        list_plugins()


def test_user_plugin_overrides_builtin_backend(assistant_home: Path) -> None:
    _write_plugin(assistant_home, "mine", OVERRIDE)
    info = available_backends()["llama-cpp"]
    assert info.description == "user override"
    assert info.plugin == "mine"
    backend = create_backend("llama-cpp")
    assert type(backend).__name__ == "FakeBackend"  # the override's class...
    assert backend.name == "llama-cpp"  # ...under the name it was registered as, which -b and -c load again


def test_assistant_plugins_restricts_loading(assistant_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_plugin(assistant_home, "mine", OVERRIDE)
    _write_plugin(assistant_home, "broken", BROKEN)
    monkeypatch.setenv("ASSISTANT_PLUGINS", "mine")
    reset_plugins()
    names = [p["name"] for p in list_plugins()]
    assert "mine" in names and "broken" not in names
    assert plugin_failures() == []
    monkeypatch.setenv("ASSISTANT_PLUGINS", "")
    reset_plugins()
    assert all(p["source"] == "built-in" for p in list_plugins())


def test_cli_warns_about_broken_plugin_and_still_runs(assistant_home: Path) -> None:
    _write_plugin(assistant_home, "broken", BROKEN)
    result = run_cli("backends")
    assert result.returncode == 0 and "llama-cpp" in result.stdout
    assert "plugin 'broken' skipped" in result.stderr
    result = run_cli("plugins")  # lists the failure itself: not warned about a second time
    assert result.returncode == 0
    assert "broken" not in result.stderr
    assert "FAILED broken (import)" in result.stdout
    assert "assistant.default_plugins.backends" in result.stdout


def test_entry_point_plugins_load(assistant_home: Path, tmp_path: Path) -> None:
    """A pip-installed plugin: a dist-info with an ``assistant`` entry point on sys.path."""
    site = tmp_path / "site"
    (site / "ep_plugin").mkdir(parents=True)
    (site / "ep_plugin" / "__init__.py").write_text(OVERRIDE.replace('"mine"', '"from-entry-point"'))
    dist = site / "ep_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[assistant]\nep = ep_plugin\n")
    result = run_cli("backends", env={"PYTHONPATH": f"{site}:{Path(__file__).resolve().parent.parent}"})
    assert result.returncode == 0, result.stderr
    assert "from-entry-point" in result.stdout

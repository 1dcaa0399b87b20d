"""The example third-party plugin, pip-installed like a user would, then listed and run.

It is installed into a temporary ``--target`` directory that only the CLI
subprocesses see (through PYTHONPATH), so the shared environment is never changed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO_ROOT, run_cli

EXAMPLE = REPO_ROOT / "examples" / "assistant-keywords"
TEXT = "Solar panels on school roofs cut energy bills and teach pupils about renewable energy."


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    target = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "--quiet", "--target", str(target), str(EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (target / "assistant_keywords" / "__init__.py").is_file()
    return {"PYTHONPATH": f"{target}{os.pathsep}{REPO_ROOT}"}


def test_the_example_is_not_installed_in_the_test_environment_itself() -> None:
    assert importlib.util.find_spec("assistant_keywords") is None


def test_installed_plugin_is_listed_with_its_package(installed: dict[str, str]) -> None:
    proc = run_cli("tools", env=installed)
    assert proc.returncode == 0, proc.stderr
    line = next(line for line in proc.stdout.splitlines() if line.startswith("keywords"))
    assert "[plugin: keywords]" in line
    plugins = json.loads(run_cli("plugins", "--json", env=installed).stdout)["plugins"]
    entry = next(p for p in plugins if p["name"] == "keywords")
    assert entry["source"] == "assistant-keywords 0.1.0"
    assert entry["hooks"] == ["register_template_dirs", "register_tools"]
    listed = run_cli("templates", "list", env=installed).stdout
    assert "keywords" in listed


@pytest.mark.usefixtures("fake_backend_plugin_file")
def test_installed_plugin_runs(installed: dict[str, str]) -> None:
    proc = run_cli("tool", "keywords", "-b", "fake", "-m", "fake-model", "-p", "top=3", "--json", TEXT, env=installed)
    assert proc.returncode == 0, proc.stderr
    keywords = json.loads(proc.stdout)["keywords"]
    assert len(keywords) == 3
    assert all(k["phrase"] in TEXT for k in keywords)
    proc = run_cli("tool", "keywords", "-b", "fake", "-m", "fake-model", "-p", "top=0", TEXT, env=installed)
    assert proc.returncode == 1 and "top must be at least 1" in proc.stderr


@pytest.mark.model
def test_installed_plugin_runs_on_smollm2(installed: dict[str, str], smollm2_path: Path) -> None:
    proc = run_cli("tool", "keywords", "-o", "n_ctx=1024", "-p", "top=3", TEXT, env=installed)
    assert proc.returncode == 0, proc.stderr
    phrases = proc.stdout.splitlines()
    assert len(phrases) == 3 and all(p in TEXT for p in phrases)


@pytest.mark.usefixtures("fake_backend_plugin_file")
def test_a_plugin_tool_gets_a_shortcut_command_with_its_parameters(installed: dict[str, str]) -> None:
    listed = run_cli("--help", env=installed).stdout
    assert "keywords" in listed and "sentiment" in listed
    shown = run_cli("keywords", "--help", env=installed)
    assert shown.returncode == 0 and "--top" in shown.stdout and "Rank the key phrases" in shown.stdout
    assert "--top" in run_cli("tool", "keywords", "--help", env=installed).stdout
    proc = run_cli("keywords", "-b", "fake", "-m", "fake-model", "--top", "2", "--json", TEXT, env=installed)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["keywords"]) == 2
    # A disabled plugin takes its command with it; the built-in tools' commands stay.
    off = {**installed, "ASSISTANT_PLUGINS": "sentiment"}
    assert "keywords" not in run_cli("--help", env=off).stdout
    gone = run_cli("keywords", "x", env=off)
    assert gone.returncode == 2 and "No such command 'keywords'" in gone.stderr

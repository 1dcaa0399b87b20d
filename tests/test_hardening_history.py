"""Issue #20, items 5 and 9: bounded search queries, and reading history from a read-only directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from assistant.cli import main
from assistant.errors import HistoryError
from assistant.history.search import MAX_QUERY_CHARS, MAX_QUERY_TERMS, fts_query, parse_terms

from .conftest import REPO_ROOT

# ---- search (item 5) -----------------------------------------------------------------------------
def test_repeated_terms_are_searched_once() -> None:
    assert fts_query("python " * 140) == '"python"'
    assert fts_query("Python python PYTHON pyth* pyth*") == '"Python" "pyth"*'


def test_a_query_too_long_or_with_too_many_terms_is_refused_with_the_limit() -> None:
    with pytest.raises(HistoryError, match=f"at most {MAX_QUERY_CHARS}"):
        fts_query("python " * 1500)
    many = " ".join(f"word{i}" for i in range(MAX_QUERY_TERMS + 1))
    with pytest.raises(HistoryError, match=f"{MAX_QUERY_TERMS + 1} different words .* at most {MAX_QUERY_TERMS}"):
        fts_query(many)
    assert fts_query(" ".join(f"word{i}" for i in range(MAX_QUERY_TERMS))).count('"word') == MAX_QUERY_TERMS


@given(st.text(max_size=200))
def test_any_text_gives_a_bounded_query_or_a_clear_error(query: str) -> None:
    try:
        match = fts_query(query)
    except HistoryError as exc:
        assert "\n" not in str(exc)
        return
    distinct = {(t.text.casefold(), t.prefix) for t in parse_terms(query)}
    assert match and len(query) <= MAX_QUERY_CHARS and len(distinct) >= 1


def test_the_cli_search_of_the_issue_is_one_line(fake_backend: None) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["prompt", "-b", "fake", "-m", "m", "python is nice"]).exit_code == 0
    found = runner.invoke(main, ["history", "search", "python " * 100])
    assert found.exit_code == 0 and "[python]" in found.stdout
    refused = runner.invoke(main, ["history", "search", "python " * 1500])
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: the search is 10500 characters long") and refused.stderr.count("\n") == 1


# ---- read-only directory (item 9) ----------------------------------------------------------------
@pytest.fixture
def writable_again(assistant_home: Path) -> Iterator[Path]:
    """The test home, made writable again afterwards so it can be cleaned up."""
    yield assistant_home
    for path in [assistant_home, *assistant_home.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)


def _as_reader(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI on a data directory that is read-only (mode 555) for the process.

    Root ignores permission bits through its capabilities, so as root (containers)
    the command runs under ``setpriv --bounding-set=-all``: still uid 0, the owner,
    but without CAP_DAC_OVERRIDE, so the owner's r-x is what it gets.
    """
    (home / "data").chmod(0o555)
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: permission bits cannot be enforced")
        prefix = [setpriv, "--bounding-set=-all", "--inh-caps=-all"]
    env = {**os.environ, "ASSISTANT_HOME": str(home), "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [*prefix, sys.executable, "-m", "assistant", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_history_reads_work_in_a_read_only_directory(writable_again: Path, fake_backend: None) -> None:
    shared_home = writable_again
    runner = CliRunner()
    assert runner.invoke(main, ["prompt", "-b", "fake", "-m", "m", "remember the lighthouse"]).exit_code == 0
    before = sorted(p.name for p in (shared_home / "data").iterdir())
    listed = _as_reader(shared_home, "history", "list")
    assert listed.returncode == 0, listed.stderr
    assert "remember the lighthouse" in listed.stdout
    searched = _as_reader(shared_home, "history", "search", "lighthouse")
    assert searched.returncode == 0 and "[lighthouse]" in searched.stdout, searched.stderr
    shown = _as_reader(shared_home, "history", "show", "1")
    assert shown.returncode == 0 and "Echo: remember the lighthouse" in shown.stdout, shown.stderr
    exported = _as_reader(shared_home, "history", "export", "1", "-f", "json")
    assert exported.returncode == 0 and "lighthouse" in exported.stdout, exported.stderr
    renamed = _as_reader(shared_home, "history", "rename", "1", "new title")  # a write: a clear refusal
    assert renamed.returncode == 1 and renamed.stderr.startswith("error: ") and "Traceback" not in renamed.stderr
    assert sorted(p.name for p in (shared_home / "data").iterdir()) == before  # reading left no files behind

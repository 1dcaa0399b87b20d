"""Round 7, lead: one rule for file names that can only be directories; resumed system prompts."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.cli import main
from assistant.history import HistoryStore, TurnMeta
from assistant.history.session_link import link_history
from assistant.paths import names_a_directory
from assistant.structured.output import schema_instruction


@pytest.mark.parametrize("name", ["out/", "a/b/", "./"])
def test_a_name_ending_in_a_separator_names_a_directory(name: str) -> None:
    assert names_a_directory(name)


@pytest.mark.parametrize("name", ["out", "out.jsonl", "a/b", "-"])
def test_a_file_name_does_not(name: str) -> None:
    assert not names_a_directory(name)


@pytest.mark.parametrize(
    "args",
    [
        ["sentiment", "--batch", "in.jsonl", "--out", "results/"],
        ["prompt", "-t", "zero-shot", "--batch", "in.jsonl", "--out", "results/"],
        ["sentiment", "--file", "texts/"],
    ],
)
def test_a_file_option_ending_in_a_separator_is_refused_before_anything_runs(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--out results/`` used to write a results *file* named ``results``."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.jsonl").write_text('{"text": "good", "input": "good"}\n')
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert "names a directory" in result.output
    assert not (tmp_path / "results").exists()
    assert not (tmp_path / "texts").exists()


def test_a_resumed_conversation_stored_with_a_schema_instruction_is_given_back_without_it(
    tmp_path: Path,
) -> None:
    """Older versions stored a --schema turn's instruction as the system prompt; every front end resumes through here."""
    db = tmp_path / "h.db"
    stored = schema_instruction("Be brief.", {"type": "object", "properties": {"a": {"type": "string"}}})
    with HistoryStore.open(db) as store:
        store.create_conversation(system=stored, meta=TurnMeta("m", "fake", None, {}))
    link = link_history(str(db), continue_latest=True)
    try:
        assert link.system(None, "default") == "Be brief."
        assert link.system("explicit", "default") == "explicit"
    finally:
        link.close()


@pytest.mark.parametrize("args", [["-h"], ["history", "-h"], ["sentiment", "-h"], ["templates", "show", "-h"]])
def test_dash_h_is_help_everywhere(args: list[str]) -> None:
    """``-h`` was "No such option: -h" on every command."""
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: ") and "-h, --help" in result.output

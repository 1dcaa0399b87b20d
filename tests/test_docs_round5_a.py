"""Behaviour that README.md, docs/inspect.md and docs/tui.md describe (round 5 check)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.cli import main

pytestmark = pytest.mark.usefixtures("fake_backend")


def test_continue_note_starts_its_own_line(assistant_home: Path) -> None:
    """`assistant prompt -c` ends the reply's line before its context note on stderr."""
    runner = CliRunner()
    first = runner.invoke(main, ["prompt", "-b", "fake", "-m", "fake-model", "one"], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    result = runner.invoke(main, ["prompt", "-c", "and then?"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.stdout == "Echo: and then?\n"
    lines = result.output.splitlines()  # stdout and stderr as a terminal shows them, interleaved
    assert lines[0] == "Echo: and then?"
    assert lines[1].startswith("conversation ")


"""Template runs and batch rows are recorded in the history like any other turn."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from assistant.cli import main

pytestmark = pytest.mark.usefixtures("fake_backend")


def cli(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def history() -> list[dict]:  # type: ignore[type-arg]
    return json.loads(cli("history", "list", "--json").stdout)


def messages(conversation_id: int) -> list[tuple[str, str, str, str | None]]:
    shown = json.loads(cli("history", "show", str(conversation_id), "--json").stdout)
    return [(m["role"], m["content"], m["status"], m["template"]) for m in shown["messages"]]


def test_template_run_is_recorded_with_its_template(assistant_home: Path) -> None:
    result = cli("prompt", "-b", "fake", "-m", "m", "-t", "zero-shot", "-v", "task=Translate to French", "hello")
    assert result.exit_code == 0, result.output
    (conversation,) = history()
    recorded = messages(conversation["id"])
    assert [(r, s, t) for r, _, s, t in recorded] == [
        ("user", "complete", "zero-shot"),
        ("assistant", "complete", "zero-shot"),
    ]
    assert "hello" in recorded[0][1] and recorded[1][1].startswith("Echo: ")


def test_no_log_records_nothing(assistant_home: Path) -> None:
    result = cli("prompt", "-b", "fake", "-m", "m", "-t", "zero-shot", "-v", "task=t", "--no-log", "hi")
    assert result.exit_code == 0, result.output
    assert history() == []


def test_batch_rows_are_turns_of_one_conversation(assistant_home: Path, tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"input": "first", "task": "t"}\n{"input": "second", "task": "t"}\n{"nope": 1}\n')
    out = tmp_path / "out.jsonl"
    result = cli("prompt", "-b", "fake", "-m", "m", "-t", "zero-shot", "--batch", str(rows), "--out", str(out))
    assert result.exit_code == 1  # the third row fails (missing variables), the others run
    (conversation,) = history()
    assert conversation["title"] == "batch: zero-shot over rows.jsonl"
    recorded = messages(conversation["id"])
    statuses = [(role, status) for role, _, status, _ in recorded]
    # The third row never became a prompt: its error is in the results file, not a turn of the history.
    assert statuses == [
        ("user", "complete"), ("assistant", "complete"),
        ("user", "complete"), ("assistant", "complete"),
    ]  # fmt: skip
    assert "row 3 has no" in [json.loads(line) for line in out.read_text().splitlines()][2]["error"]
    assert "first" in recorded[0][1] and "second" in recorded[2][1]

"""Tool runs are recorded in the history: the input, the rendered result, and its JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from assistant.cli import main

pytestmark = pytest.mark.usefixtures("fake_backend")


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_tool_run_is_recorded_with_its_result(assistant_home: Path) -> None:
    result = cli("sentiment", "-b", "fake", "-m", "m", "I love this, it is positive")
    assert result.exit_code == 0, result.output
    (conversation,) = json.loads(cli("history", "list", "--json").stdout)
    shown = json.loads(cli("history", "show", str(conversation["id"]), "--json").stdout)
    user, reply = shown["messages"]
    assert user["content"] == "I love this, it is positive"
    assert reply["tool_name"] == "sentiment" and reply["status"] == "complete"
    assert reply["tool_result"]["label"] == "positive"
    assert reply["content"] == result.stdout.strip()


def test_tool_no_log(assistant_home: Path) -> None:
    assert cli("sentiment", "-b", "fake", "-m", "m", "--no-log", "fine").exit_code == 0
    assert json.loads(cli("history", "list", "--json").stdout) == []


def test_tool_batch_is_one_conversation(assistant_home: Path, tmp_path: Path) -> None:
    batch = tmp_path / "in.jsonl"
    batch.write_text('{"text": "great, positive"}\n{"text": "awful, negative"}\n')
    result = cli("sentiment", "-b", "fake", "-m", "m", "--batch", str(batch))
    assert result.exit_code == 0, result.output
    (conversation,) = json.loads(cli("history", "list", "--json").stdout)
    assert conversation["title"] == "sentiment: batch over in.jsonl"
    shown = json.loads(cli("history", "show", str(conversation["id"]), "--json").stdout)
    assert [m["tool_name"] for m in shown["messages"] if m["role"] == "assistant"] == ["sentiment", "sentiment"]

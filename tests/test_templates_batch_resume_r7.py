"""A resumed template batch is recorded in the conversation its first run began (as a tool batch is)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from assistant.cli import main

pytestmark = pytest.mark.usefixtures("fake_backend")


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_a_resumed_template_batch_continues_its_conversation(tmp_path: Path) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text('{"id": 1, "text": "one"}\n')
    first = cli("prompt", "-t", "zero-shot", "-b", "fake", "-m", "m", "--batch", str(source), "--out", str(out))
    assert first.exit_code == 0, first.output
    (conversation,) = json.loads(cli("history", "list", "--json").stdout)
    source.write_text('{"id": 1, "text": "one"}\n{"id": 2, "text": "two"}\n')
    args = ("prompt", "-t", "zero-shot", "-b", "fake", "-m", "m", "--batch", str(source), "--out", str(out), "--resume")
    second = cli(*args)
    assert second.exit_code == 0, second.output
    assert f"(history: conversation {conversation['id']})" in second.stderr
    assert [c["id"] for c in json.loads(cli("history", "list", "--json").stdout)] == [conversation["id"]]
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["conversation_id"] for line in lines] == [conversation["id"]] * 2

"""attention and compare prompt a base model the way ``prompt`` does: its text continued, not chat turns."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from assistant.cli.common import message_prompt
from assistant.cli.compare import side_mode
from assistant.compare import Side
from assistant.types import Message
from .conftest import run_cli


def test_completion_mode_sends_the_text_itself_and_chat_mode_one_turn() -> None:
    assert message_prompt("Water is", None, "completion") == "Water is"
    assert message_prompt("hi", "be brief", "chat") == [Message("system", "be brief"), Message("user", "hi")]
    with pytest.raises(click.UsageError, match="-s/--system needs chat mode"):
        message_prompt("Water is", "be brief", "completion")
    assert message_prompt("Water is", "", "completion") == "Water is"  # -s '': no system prompt, nothing to drop


def test_compare_prompts_both_sides_in_their_models_mode_or_asks_for_one() -> None:
    base, chat = Side("llama-cpp", "gemma3-270m"), Side("transformers", "smollm2")
    assert side_mode([base, Side("transformers", "gemma3-270m")], None) == "completion"
    assert side_mode([chat, Side("llama-cpp", "smollm2")], None) == "chat"
    with pytest.raises(click.UsageError, match=r"prompted differently \(gemma3-270m: completion, smollm2: chat\)"):
        side_mode([base, chat], None)
    assert side_mode([base, chat], "chat") == "chat"


@pytest.mark.parametrize("command", ["prompt", "attention", "compare"])
def test_a_system_prompt_for_a_base_model_is_refused_not_dropped(assistant_home: Path, command: str) -> None:
    proc = run_cli(command, "-m", "gemma3-270m", "-s", "be brief", "Water is made of")
    assert proc.returncode == 2
    assert "-s/--system needs chat mode" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("command", ["attention", "compare"])
def test_attention_and_compare_take_mode(assistant_home: Path, command: str) -> None:
    assert "--mode [chat|completion]" in run_cli(command, "--help").stdout

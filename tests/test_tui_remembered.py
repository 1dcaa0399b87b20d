"""The chat app remembers settings: per conversation (restored on open) and the last used (a file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


from assistant.history import HistoryStore
from assistant.history.records import TurnMeta
from assistant.tui.remembered import Remembered, load_last_used, of_conversation, save_last_used
from assistant.types import Completion, GenerationParams, Timings, Usage

from .tui_support import make_app, run_pilot, wait_until


def test_last_used_round_trips_and_a_broken_file_is_no_memory(tmp_path: Path) -> None:
    path = tmp_path / "chat_settings.json"
    assert load_last_used(path) is None
    saved = Remembered("gemma3-270m", "transformers", "chain-of-thought", {"temperature": 0.2, "top_k": 5}, "chat")
    save_last_used(saved, path)
    assert load_last_used(path) == saved
    path.write_text("{not json")
    assert load_last_used(path) is None
    path.write_text('{"model": 5, "params": [1]}')
    assert load_last_used(path) == Remembered()


def test_remembered_params_never_make_invalid_settings() -> None:
    base = GenerationParams(temperature=0.7)
    assert Remembered(params={"temperature": 0.1, "nonsense": 1}).params_over(base).temperature == 0.1
    assert Remembered(params={"temperature": -3}).params_over(base) == base  # refused by validation: defaults


def _seed(params: dict[str, Any], template: str | None = None) -> int:
    with HistoryStore.open() as store:
        conversation = store.create_conversation(system="You are a helpful assistant.")
        completion = Completion("An answer.", "fake-model", "fake", "stop", Usage(5, 2), Timings())
        store.record_turn(conversation.id, "A question", completion, TurnMeta("fake-model", "fake", template, params))
        return conversation.id


def test_of_conversation_is_the_newest_replys_settings() -> None:
    conversation_id = _seed({"temperature": 0.25, "max_tokens": 64})
    with HistoryStore.open() as store:
        remembered = of_conversation(store.messages(conversation_id))
    assert remembered is not None and (remembered.model, remembered.backend) == ("fake-model", "fake")
    assert remembered.params["temperature"] == 0.25


def test_opening_a_conversation_brings_its_settings_back() -> None:
    conversation_id = _seed(GenerationParams(temperature=0.25, max_tokens=64).to_dict())
    app = make_app(params=GenerationParams(temperature=0.9))

    async def scenario(pilot: Any) -> None:
        await app.chat_screen.open_conversation(conversation_id)
        await wait_until(pilot, lambda: app.controller.conversation_id == conversation_id)
        params = app.controller.settings.params
        assert (params.temperature, params.max_tokens) == (0.25, 64)

    run_pilot(app, scenario)

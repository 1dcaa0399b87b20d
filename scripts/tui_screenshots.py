"""Regenerate the chat app screenshots in docs/images/ (SVG, via Textual's own screenshot).

    python scripts/tui_screenshots.py

Runs the real app headless on the default model (SmolLM2 on llama-cpp,
greedy), in a throwaway ``ASSISTANT_HOME``, so the screenshots show real
replies and real numbers. Needs the model (``assistant models pull smollm2``).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Awaitable, Callable

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "images"
SIZE = (120, 36)

sys.path.insert(0, str(ROOT))


def seed(store: Any) -> None:
    """A few earlier conversations, so the sidebar is not empty."""
    from assistant.types import Completion, Timings, Usage

    for question, answer in (
        ("Plan a weekend in Lisbon", "Day 1: Alfama and the castle..."),
        ("Explain list comprehensions", "A list comprehension builds a list..."),
    ):
        conversation = store.create_conversation(system="You are a helpful assistant.")
        store.record_turn(
            conversation.id, question, Completion(answer, "smollm2", "llama-cpp", "stop", Usage(), Timings())
        )


async def shoot(name: str, steps: Callable[[Any], Awaitable[None]]) -> None:
    from assistant.config import default_system_prompt
    from assistant.history.session_link import link_history
    from assistant.tui import ChatApp, ChatController, ChatSettings
    from assistant.tui.widgets.prompt_input import PromptInput
    from assistant.types import GenerationParams

    link = link_history()
    settings = ChatSettings(
        model="smollm2",
        backend="llama-cpp",
        system=default_system_prompt(),
        params=GenerationParams(temperature=0, max_tokens=200),
    )
    app = ChatApp(ChatController(settings, history=link))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        while not app.controller.ready or screen.loading:
            await pilot.pause(0.1)
        await steps(pilot)
        app.clear_notifications()
        screen.query_one(PromptInput).cursor_blink = False
        for area in app.screen.query("TextArea"):
            area.cursor_blink = False  # type: ignore[attr-defined]
        await pilot.pause(0.3)
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / f"{name}.svg").write_text(app.export_screenshot(title="assistant chat"))
        print(f"wrote docs/images/{name}.svg")
    link.close()


async def ask(pilot: Any, text: str) -> None:
    from assistant.tui.widgets.prompt_input import PromptInput

    screen = pilot.app.chat_screen
    box = screen.query_one(PromptInput)
    box.load_text(text)
    box.submit()
    await pilot.pause(0.1)
    while screen.generating:
        await pilot.pause(0.1)
    await pilot.pause(0.2)


async def chat_steps(pilot: Any) -> None:
    await ask(pilot, "What is the capital of France?")
    await ask(pilot, "Write a Python function that returns the square of a number.")


async def inspector_steps(pilot: Any) -> None:
    from assistant.tui.widgets.prompt_input import PromptInput

    await ask(pilot, "What is the capital of France?")
    pilot.app.chat_screen.query_one(PromptInput).load_text("And of Italy?")
    await pilot.press("f3")


async def tools_steps(pilot: Any) -> None:
    await ask(pilot, "/ner Ada Lovelace worked with Charles Babbage in London for the Royal Society.")
    await ask(pilot, "/sentiment The food was cold and the waiter was rude.")


def main() -> None:
    from assistant.history import HistoryStore

    for name, steps in (
        ("tui-chat", chat_steps),
        ("tui-inspector", inspector_steps),
        ("tui-tools", tools_steps),
    ):
        with tempfile.TemporaryDirectory(prefix="assistant-shots-") as home:
            os.environ["ASSISTANT_HOME"] = home  # each screenshot starts from the same small history
            with HistoryStore.open() as store:
                seed(store)
            asyncio.run(shoot(name, steps))


if __name__ == "__main__":
    main()

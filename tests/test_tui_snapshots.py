"""Snapshot tests of the chat app's main screens (pytest-textual-snapshot).

Deterministic by construction: fixed terminal size, the fake backend with fixed
timings, no blinking cursor, no toasts. Update after an intended change with
``pytest tests/test_tui_snapshots.py --snapshot-update`` and review the SVGs.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

import pytest

pytest.importorskip("pytest_textual_snapshot")

from .tui_support import make_app, type_and_send, wait_idle, wait_ready  # noqa: E402

SIZE = (110, 32)


@pytest.fixture(autouse=True)
def fixed_dates(monkeypatch: pytest.MonkeyPatch) -> None:
    """Conversation dates in the sidebar would change every run."""
    monkeypatch.setattr("assistant.tui.conversations.format_when", lambda iso: "2025-06-01 12:00")


REPLY = (
    "Here is a function that adds two numbers:\n\n"
    "```python\ndef add(a: int, b: int) -> int:\n    return a + b\n```\n\n"
    "- it is **typed**\n- it has `no side effects`\n"
)


def prepared(
    *messages: str, after: Callable[[Any], Awaitable[None]] | None = None
) -> Callable[[Any], Awaitable[None]]:
    """A ``run_before`` that waits for the model, sends ``messages`` and stills the screen."""

    async def run_before(pilot: Any) -> None:
        from assistant.tui.widgets.prompt_input import PromptInput

        await wait_ready(pilot)
        for text in messages:
            await type_and_send(pilot, text)
            await wait_idle(pilot)
        pilot.app.clear_notifications()
        pilot.app.chat_screen.query_one(PromptInput).cursor_blink = False
        if after is not None:
            await after(pilot)
        await pilot.pause()

    return run_before


def test_chat_screen_after_a_reply(snap_compare: Any) -> None:
    app = make_app(reply=REPLY)
    assert snap_compare(app, terminal_size=SIZE, run_before=prepared("Write an add function in Python"))


def test_chat_screen_light_theme(snap_compare: Any) -> None:
    app = make_app(reply=REPLY)

    async def light(pilot: Any) -> None:
        await pilot.press("ctrl+t")

    assert snap_compare(app, terminal_size=SIZE, run_before=prepared("Write an add function", after=light))


def test_chat_screen_empty(snap_compare: Any) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=prepared())


def test_sidebar_search(snap_compare: Any) -> None:
    from .test_tui_history import seed_history

    seed_history(
        [("Tell me about zebras", "Zebras have stripes.")],
        [("Best pasta shape?", "Rigatoni.")],
        [("Plan a trip to Lisbon", "Day 1: Alfama.")],
    )

    async def search(pilot: Any) -> None:
        from assistant.tui.widgets.sidebar import ConversationList

        from .tui_support import wait_until

        await pilot.press("ctrl+f", *"zebras")
        listing = pilot.app.chat_screen.query_one(ConversationList)
        await wait_until(pilot, lambda: listing.option_count == 1, what="search results")
        pilot.app.chat_screen.query_one("#search").cursor_blink = False

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=prepared(after=search))


def test_help_screen(snap_compare: Any) -> None:
    assert snap_compare(make_app(), terminal_size=(100, 44), run_before=prepared(), press=["f1"])


def test_settings_screen(snap_compare: Any) -> None:
    assert snap_compare(make_app(), terminal_size=(100, 40), run_before=prepared(), press=["f2"])


def test_prompt_inspector(snap_compare: Any) -> None:
    async def open_inspector(pilot: Any) -> None:
        from assistant.tui.screens.inspector import PromptInspector
        from assistant.tui.widgets.prompt_input import PromptInput

        from .tui_support import wait_until

        pilot.app.chat_screen.query_one(PromptInput).load_text("And subtraction?")
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, PromptInspector), what="inspector")
        pilot.app.screen.query_one("TextArea").cursor_blink = False

    app = make_app(reply="Sure.")
    assert snap_compare(
        app, terminal_size=SIZE, run_before=prepared("Write an add function", after=open_inspector)
    )


def test_chain_of_thought_and_scored_choice(snap_compare: Any) -> None:
    from .test_tui_templates import COT_REPLY

    app = make_app(reply=COT_REPLY)

    async def steps(pilot: Any) -> None:
        app.switch_template("chain-of-thought")
        await type_and_send(pilot, "Tom has 3 apples and buys 2 more. How many?")
        await wait_idle(pilot)
        app.switch_template("few-shot-sentiment")
        await type_and_send(pilot, "What a wonderful film, I loved it.")
        await wait_idle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=prepared(after=steps))

"""Turns far from the view are folded out of the layout, and the screen shows exactly what it did before."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

pytest.importorskip("textual")

from textual.app import App, ComposeResult  # noqa: E402

from assistant.history.records import StoredMessage  # noqa: E402
from assistant.tui.widgets import chat_log  # noqa: E402
from assistant.tui.widgets.chat_log import AssistantMessage, ChatLog  # noqa: E402
from assistant.tui.widgets.turn_folding import TurnFolder  # noqa: E402

from .test_tui_reply_stream import screen_lines  # noqa: E402

PARAGRAPH = "A reply that wraps over a few lines of the view, so that turns have different heights. "


def reply(i: int) -> str:
    """Markdown of a different height per turn: paragraphs, a list, a code block."""
    items = "".join(f"- point {k}\n" for k in range(i % 3 + 1))
    return f"Answer {i}. " + PARAGRAPH * (i % 3 + 1) + f"\n\n{items}\n```\ncode {i}\n```\n"


def conversation(turns: int) -> list[StoredMessage]:
    messages = []
    for i in range(turns):
        messages.append(StoredMessage(id=2 * i, conversation_id=1, role="user", content=f"question {i}", created=""))
        messages.append(
            StoredMessage(
                id=2 * i + 1, conversation_id=1, role="assistant", content=reply(i), created=""
            )
        )
    return messages


class LogApp(App[None]):
    CSS = "ChatLog { scrollbar-gutter: stable; }"

    def compose(self) -> ComposeResult:
        yield ChatLog()


async def settle(pilot: Any) -> None:
    for _ in range(2):
        await pilot.pause()


async def tour(fold: bool) -> dict[str, Any]:
    """Screens of a long conversation: at several scroll offsets, after a resize, then with a new reply."""
    app = LogApp()
    seen: dict[str, Any] = {"screens": [], "folded": [], "heights": []}
    async with app.run_test(size=(90, 20)) as pilot:
        log = app.query_one(ChatLog)
        await log.show_stored(conversation(14))
        await settle(pilot)
        for y in (10_000, 130, 60, 0, 95, 10_000):  # rows, not fractions: a wrong height anywhere shows
            log.scroll_to(y=y, animate=False)
            await settle(pilot)
            seen["screens"].append(screen_lines(app))
            seen["folded"].append(len(log.folder.folded()))
            seen["heights"].append(log.virtual_size.height)
        await pilot.resize_terminal(70, 20)  # the text wraps anew: every pinned height is stale
        await settle(pilot)
        for y in (10_000, 70, 0):
            log.scroll_to(y=y, animate=False)
            await settle(pilot)
            seen["screens"].append(screen_lines(app))
        log.scroll_end(animate=False)
        await settle(pilot)
        streamed = await log.add(AssistantMessage(label="model"))
        streamed.start_stream()
        for start in range(0, 150, 50):
            await streamed.write(reply(7)[start : start + 50])
            await pilot.pause()
        await streamed.finish()
        await settle(pilot)
        seen["screens"].append(screen_lines(app))
        seen["folded"].append(len(log.folder.folded()))
    return seen


def test_folding_far_turns_changes_nothing_on_screen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chat_log, "EARLIER_BATCH_CHARS", 1 << 30)  # every turn drawn: all of them can fold
    monkeypatch.setattr(chat_log, "EARLIER_BATCH_MESSAGES", 1 << 30)
    folded = asyncio.run(tour(fold=True))
    monkeypatch.setattr(TurnFolder, "refold", lambda self, scroll_y=None: None)
    reference = asyncio.run(tour(fold=False))
    assert folded["folded"][0] >= 15 and folded["folded"][-1] >= 15  # at the bottom, most turns are folded
    assert max(reference["folded"]) == 0
    assert folded["heights"] == reference["heights"]  # the scroll geometry is unchanged
    for index, (shown, expected) in enumerate(zip(folded["screens"], reference["screens"])):
        assert shown == expected, f"screen {index} differs"

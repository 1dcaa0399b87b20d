"""A streamed reply in sealed segments draws exactly what one Markdown widget draws, and stays cheap.

The reference is a stored reply: the same text in a single Markdown widget.
Streaming in random pieces, sealing often (small ``segment_blocks``) and
folding what scrolls out of sight must not change a single character on
screen, nor lose any of the text.
"""

from __future__ import annotations

import asyncio
import gc
import random
from typing import Any

import pytest

pytest.importorskip("textual")

from textual.app import App, ComposeResult  # noqa: E402
from textual.containers import VerticalScroll  # noqa: E402
from textual.screen import Screen  # noqa: E402

from assistant.tui.heap import NEVER, QuietCollector, settle_after_load  # noqa: E402
from textual.widgets import Markdown  # noqa: E402

from assistant.tui.screens.layout_pass import OneLayoutPass  # noqa: E402
from assistant.tui.widgets.chat_log import AssistantMessage  # noqa: E402
from assistant.tui.widgets.growing_list import GrowingList, ReplySegment  # noqa: E402

PARAGRAPH = "Streaming text should cost the same per token at the end of a long reply as at the start. " * 2
CODE = "```python\ndef fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n```\n"
ITEMS = "".join(f"- item {i}: keep rendering flat\n" for i in range(4))
MIXED = (
    "# Title\n\nSome *text*.\n\n## Sub\n\n1. one\n2. two\n\n3. three\n\n> quote\n> more\n\n"
    "| a | b |\n|---|---|\n| 1 | 2 |\n\n```\ncode\n```\npara right after a fence\n\n---\n\n- x\n  - y\n- z\n\n"
    "[bold]not markup[/bold] and `inline`\n\n"
)
LISTS = (
    "Steps:\n\n" + "".join(f"{i}. step {i} of the recipe\n" for i in range(1, 13)) + "\n"
    "- first\n- second item with a [link](https://example.com) and `code`\n\n  its second paragraph\n"
    "- third, lazily\ncontinued\n- fourth with code:\n\n  ```\n  x = 1\n  ```\n"
    "- nested\n  - deeper\n    - deepest\n  - back\n- last\n* other bullet, a new list\n\n"
    "7. starts at seven\n8. eight\n9. nine\n10. ten\n\nafter the lists\n\n"
)
SAMPLES = {
    "paragraphs, lists and code": (PARAGRAPH + "\n\n" + ITEMS + "\n" + CODE + "\n") * 3,
    "headers, tables, quotes, rules": MIXED * 2,
    "ends inside a code block": (PARAGRAPH + "\n\n" + CODE + "\n") * 3 + "```\nunfinished",
    "lists: numbering, nesting, paragraphs, code": LISTS * 2,
}


class OnePassScreen(OneLayoutPass, Screen[None]):
    """A screen laid out as the chat screen is: one pass per change."""


class Harness(App[None]):
    CSS = "#view { scrollbar-gutter: stable; }"  # the same text width whether or not it scrolls

    def __init__(self, one_pass: bool = False) -> None:
        super().__init__()
        self.one_pass = one_pass

    def get_default_screen(self) -> Screen[None]:
        return OnePassScreen() if self.one_pass else super().get_default_screen()

    def compose(self) -> ComposeResult:
        yield VerticalScroll(id="view")


def screen_lines(app: App[Any]) -> list[str]:
    """The screen's text, without the scrollbar column."""
    update = app.screen._compositor.render_full_update()
    return ["".join(segment.text for segment in strip)[:-2].rstrip() for strip in update.strips]


async def draw(
    text: str,
    *,
    height: int,
    stream: bool,
    segment_blocks: int = 3,
    seed: int = 0,
    pieces: list[str] | None = None,
    one_pass: bool = True,
) -> dict[str, Any]:
    """Show ``text`` as a reply (streamed in random pieces or in ``pieces``, or stored) and read the screen back.

    Streamed on a screen laid out as the chat screen is (``one_pass``); the stored
    reference on Textual's own screen.
    """
    app = Harness(one_pass=stream and one_pass)
    async with app.run_test(size=(90, height)) as pilot:
        view = app.query_one("#view", VerticalScroll)
        view.anchor()
        if not stream:
            # The reference: Textual's own Markdown blocks, not the app's growing lists.
            original, ReplySegment.BLOCKS = ReplySegment.BLOCKS, Markdown.BLOCKS
            try:
                message = AssistantMessage(text, label="model")
                await view.mount(message)
                await pilot.pause()
            finally:
                ReplySegment.BLOCKS = original
            assert not any(isinstance(widget, GrowingList) for widget in message.walk_children())
            return {"lines": screen_lines(app), "shown": message.shown_markdown}
        message = AssistantMessage(label="model")
        await view.mount(message)
        message.start_stream()
        assert message._stream is not None
        message._stream.segment_blocks = segment_blocks
        rng = random.Random(seed)
        if pieces is None:
            pieces, position = [], 0
            while position < len(text):
                size = rng.randint(1, 60)
                pieces.append(text[position : position + size])
                position += size
        most_folded = 0
        for piece in pieces:
            await message.write(piece)
            if rng.random() < 0.4:
                await pilot.pause()
                most_folded = max(most_folded, len(message.body.folded))
        stream = message._stream
        await message.finish()
        await pilot.pause()
        lines_at_end = screen_lines(app)
        view.scroll_home(animate=False)
        await pilot.pause()
        await pilot.pause()
        return {
            "lines": lines_at_end,
            "top": screen_lines(app),
            "shown": message.shown_markdown,
            "sealed": stream.sealed,
            "segments": len(message.body.segments),
            "most_folded": most_folded,
            "folded_at_top": [s.region.y for s in message.body.folded],
            "view": view.region,
        }


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sealed_segments_draw_what_one_markdown_widget_draws(name: str) -> None:
    text = SAMPLES[name]
    reference = asyncio.run(draw(text, height=200, stream=False))
    for seed, segment_blocks, one_pass in ((1, 2, True), (2, 4, True), (3, 3, False)):
        streamed = asyncio.run(
            draw(text, height=200, stream=True, segment_blocks=segment_blocks, seed=seed, one_pass=one_pass)
        )
        assert streamed["shown"] == text
        assert streamed["sealed"] >= 1
        assert streamed["lines"] == reference["lines"], (name, segment_blocks)


@pytest.mark.parametrize(
    "changing",
    [
        ("Title\n", "=====\n\nafter the heading\n"),  # a paragraph becomes a heading (a larger top margin)
        ("| a | b |\n", "|---|---|\n| 1 | 2 |\n\nafter the table\n"),  # a paragraph becomes a table
        ("> quoted\n", "> more\n\n# Heading\n\ntext\n"),
    ],
    ids=["setext heading", "table", "quote"],
)
def test_a_block_that_changes_type_after_its_segment_was_sealed_keeps_the_gap(changing: tuple[str, str]) -> None:
    """The seal moves only the last block, which may still change type: the gap above it follows."""
    start, rest = changing
    head = "First paragraph.\n\n- one\n- two\n\n"
    pieces = [head + start, rest]  # the first write seals (three blocks, two allowed) with ``start`` live
    text = "".join(pieces)
    reference = asyncio.run(draw(text, height=40, stream=False))
    streamed = asyncio.run(draw(text, height=40, stream=True, segment_blocks=2, pieces=pieces))
    assert streamed["shown"] == text
    assert streamed["sealed"] >= 1
    assert streamed["lines"] == reference["lines"]


async def streaming_reply(app: App[Any], segment_blocks: int) -> AssistantMessage:
    """A reply streaming into the harness's anchored view, sealing after ``segment_blocks`` blocks."""
    view = app.query_one("#view", VerticalScroll)
    view.anchor()
    message = AssistantMessage(label="model")
    await view.mount(message)
    message.start_stream()
    assert message._stream is not None
    message._stream.segment_blocks = segment_blocks
    return message


def test_a_streamed_list_keeps_its_rows_and_mounts_only_new_items() -> None:
    """Textual re-mounts a whole list on each append; the app's lists keep every finished row."""
    items = "".join(f"{i}. item number {i}, streamed a few characters at a time\n" for i in range(1, 15))

    async def run() -> tuple[list[int], list[int], list[str], list[str]]:
        app = Harness()
        async with app.run_test(size=(90, 40)) as pilot:
            message = await streaming_reply(app, 100)  # one segment: the list is always the live block
            first_rows: list[int] = []
            for start in range(0, len(items), 7):
                await message.write(items[start : start + 7])
                await pilot.pause()
                listing = message.body.live.query_one("MarkdownOrderedList")
                assert isinstance(listing, GrowingList)
                first_rows.append(id(listing.children[0]))
            rows = [id(row) for row in listing.children]
            await message.finish()
            await pilot.pause()
            streamed = screen_lines(app)
            bullets = [str(bullet.symbol) for bullet in listing.query("MarkdownBullet")]
            return first_rows, rows, streamed, bullets

    first_rows, rows, streamed, bullets = asyncio.run(run())
    assert len(set(first_rows)) == 1  # the first item's row was never re-mounted
    assert len(rows) == 14
    assert bullets[0] == "  1. " and bullets[-1] == " 14. "  # re-aligned when the numbers reached two digits
    reference = asyncio.run(draw(items, height=40, stream=False))
    assert streamed == reference["lines"]


def test_segments_out_of_sight_fold_and_come_back_when_scrolled_to() -> None:
    text = SAMPLES["paragraphs, lists and code"] * 2
    tall = asyncio.run(draw(text, height=600, stream=False))  # all of it on one screen
    short = asyncio.run(draw(text, height=24, stream=True, segment_blocks=3))
    assert short["shown"] == text
    assert short["most_folded"] >= 2  # while following the reply, what scrolled far above left the layout
    # The bottom of the screen is what a tall screen shows at the same place...
    bottom = [line for line in short["lines"] if line.strip()]
    tall_lines = [line for line in tall["lines"] if line.strip()]
    assert bottom[-10:] == tall_lines[-10:]
    # ...and scrolling back to the top unfolds what comes into view, drawn as it always was.
    top = [line for line in short["top"] if line.strip()]
    assert top[:20] == tall_lines[:20]
    assert all(y > short["view"].bottom for y in short["folded_at_top"])


def test_quiet_collector_holds_back_full_collections_then_runs_one() -> None:
    saved = gc.get_threshold()
    quiet = QuietCollector()
    collections: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "stop":
            collections.append(info["generation"])

    quiet.begin()
    try:
        assert gc.get_threshold()[2] == NEVER and gc.get_threshold()[:2] == saved[:2]
        quiet.begin()  # nested begin: still one saved state
        gc.callbacks.append(count)
        junk = []
        for _ in range(200_000):  # plenty of young collections, no automatic full one
            cycle: list[Any] = []
            cycle.append(cycle)
            junk.append(cycle) if len(junk) < 10 else None
        assert collections and 2 not in collections
        quiet.end()
        assert collections[-1] == 2  # the held-back full collection ran at end()
        assert gc.get_threshold() == saved
        quiet.end()  # idempotent
        assert gc.get_threshold() == saved
    finally:
        if count in gc.callbacks:
            gc.callbacks.remove(count)
        gc.set_threshold(*saved)


def test_settle_after_load_freezes_survivors_and_can_be_repeated() -> None:
    try:
        settle_after_load()
        frozen = gc.get_freeze_count()
        assert frozen > 0
        settle_after_load()  # a model switch: unfreeze, collect, freeze again
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_a_pinned_height_is_measured_again_after_the_next_refresh() -> None:
    """A sealed segment measured short (rows without their styles yet, on a loaded machine) is corrected."""
    from textual.geometry import Size

    from assistant.tui.widgets.reply_stream import ReplyBody

    async def run() -> tuple[int, int, int]:
        app = Harness()
        async with app.run_test(size=(80, 30)) as pilot:
            body = ReplyBody("First paragraph.\n\nSecond paragraph.\n")
            await app.query_one("#view", VerticalScroll).mount(body)
            await pilot.pause()
            segment = body.segments[0]
            body._pin(segment)  # the first measure (what sealing does once the screen is laid out)
            first = int(segment.styles.height.value)
            # What a style applied late (after the first measure, before the next refresh) adds:
            segment.children[-1].styles.height = 6
            await pilot.pause()
            await pilot.pause()
            needed = segment.arrange(Size(body.size.width, 0)).total_region.height
            return first, needed, segment.outer_size.height

    first, needed, shown = asyncio.run(run())
    assert needed > first
    assert shown == needed  # the box on screen takes the corrected height


def test_a_streamed_draw_is_laid_out_once_on_the_chat_screens_kind_of_screen() -> None:
    """Textual lays the screen out again for the sizes its own pass found; the chat screen does not."""

    async def passes(one_pass: bool) -> tuple[list[int], list[str]]:
        app = Harness(one_pass=one_pass)
        async with app.run_test(size=(80, 20)) as pilot:
            message = await streaming_reply(app, 100)  # no sealing (its pinned height is a change of its own)
            await pilot.pause()
            screen = app.screen
            count = [0]
            layout = screen._refresh_layout

            def counted(*args: Any, **kwargs: Any) -> None:
                count[0] += 1
                layout(*args, **kwargs)

            screen._refresh_layout = counted  # type: ignore[method-assign]
            counts = []
            for index in range(6):  # each write grows the reply by a line or two: every size changes
                count[0] = 0
                await message.write(f"Line {index} of a reply that keeps growing while it streams.\n\n")
                await asyncio.sleep(0.3)  # (Pilot.pause would lay the screen out itself)
                counts.append(count[0])
            await message.finish()
            await pilot.pause()
            return counts, screen_lines(app)

    plain, plain_lines = asyncio.run(passes(one_pass=False))
    once, once_lines = asyncio.run(passes(one_pass=True))
    assert all(count >= 2 for count in plain)  # Textual's own screen: a second pass per draw
    assert all(count == 1 for count in once)
    assert once_lines == plain_lines  # and the screen shows the same

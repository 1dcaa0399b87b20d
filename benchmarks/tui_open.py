"""Long conversations in the chat app: opening one, and streaming a reply at the end of one.

Opening: drawn from its end vs all at once.
Textual mounts and lays out a Markdown reply slowly (~0.4 s for 2000
characters on 2 cores), so drawing every turn of a long conversation when it
opens freezes the app for seconds. The chat log draws the last
``EARLIER_BATCH_CHARS`` characters and the rest as scrolling up reaches them
(`assistant/tui/widgets/chat_log.py`). The baseline, in the same run, is the
same chat log drawing everything at once (the batch made unlimited).

Measured: the UI thread's time from "show these stored messages" to the first
screen painted with them (headless Textual, 120x40), and the time to draw one
more batch when scrolling reaches the top.

Streaming: Textual lays out every widget of the screen on each refresh, so a
reply streamed below 20 long turns paid for all of them on every draw. Turns
far from the view are folded out of the layout
(`assistant/tui/widgets/turn_folding.py`); the baseline, in the same run, is
the same log with folding turned off, and an empty conversation for scale.

``python -m benchmarks.tui_open`` writes the "## TUI: long conversations"
section of docs/performance.md.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import contextmanager
from typing import Any, Iterator

from ._report import machine, median, write_section
from .tui_stream import make_reply

TURNS = (5, 20, 50)
REPEATS = 3
REPLY_CHARS = 2000


def stored_conversation(turns: int) -> list[Any]:
    from assistant.history.records import StoredMessage

    reply = make_reply(REPLY_CHARS)
    messages = []
    for i in range(turns):
        messages.append(StoredMessage(id=2 * i, conversation_id=1, role="user", content=f"question {i}", created=""))
        messages.append(
            StoredMessage(id=2 * i + 1, conversation_id=1, role="assistant", content=reply, created="", model="m")
        )
    return messages


@contextmanager
def everything_at_once() -> Iterator[None]:
    """The baseline: no batch limit, every stored message drawn when the conversation opens."""
    from assistant.tui.widgets import chat_log

    saved = chat_log.EARLIER_BATCH_CHARS, chat_log.EARLIER_BATCH_MESSAGES
    chat_log.EARLIER_BATCH_CHARS = chat_log.EARLIER_BATCH_MESSAGES = 1 << 30
    try:
        yield
    finally:
        chat_log.EARLIER_BATCH_CHARS, chat_log.EARLIER_BATCH_MESSAGES = saved


async def open_seconds(turns: int) -> tuple[float, float | None]:
    """(open → first paint, one batch more when scrolled to the top, or None when all was drawn)."""
    from textual.app import App, ComposeResult

    from assistant.tui.widgets.chat_log import ChatLog

    class View(App[None]):
        def compose(self) -> ComposeResult:
            yield ChatLog()

    stored = stored_conversation(turns)
    app = View()
    async with app.run_test(size=(120, 40)) as pilot:
        log = app.query_one(ChatLog)
        start = time.perf_counter()
        await log.show_stored(stored)
        await pilot.pause()
        opened = time.perf_counter() - start
        assert log.turns()[-1].text == stored[-1].content
        if not log.earlier_count:
            return opened, None
        drawn = len(log.turns())
        start = time.perf_counter()
        log.scroll_home(animate=False)
        while len(log.turns()) == drawn:
            await pilot.pause()
        await pilot.pause()
        return opened, time.perf_counter() - start


def measure(turns: int) -> dict[str, float]:
    import gc

    baseline, lazy, more = [], [], []
    for _ in range(REPEATS):
        with everything_at_once():
            baseline.append(asyncio.run(open_seconds(turns))[0])
        gc.collect()
        opened, batch = asyncio.run(open_seconds(turns))
        lazy.append(opened)
        if batch is not None:
            more.append(batch)
        gc.collect()
    result = {
        "all_at_once": median(baseline),
        "from_the_end": median(lazy),
        "next_batch": median(more) if more else float("nan"),
    }
    print(turns, {k: round(v, 3) for k, v in result.items()}, flush=True)
    return result


STREAM_TURNS = 20
STREAM_CHARS = 4000
STREAM_PIECE = 40


@contextmanager
def folding(enabled: bool) -> Iterator[None]:
    from assistant.tui.widgets.turn_folding import TurnFolder

    saved = TurnFolder.refold
    if not enabled:
        TurnFolder.refold = lambda self, scroll_y=None: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        TurnFolder.refold = saved  # type: ignore[method-assign]


async def draw_cpu_ms(turns: int) -> float:
    """UI thread CPU per draw of a reply streamed (``STREAM_PIECE`` characters a draw) below ``turns`` drawn turns."""
    from textual.app import App, ComposeResult

    from assistant.tui.heap import QuietCollector
    from assistant.tui.widgets.chat_log import AssistantMessage, ChatLog

    class View(App[None]):
        def compose(self) -> ComposeResult:
            yield ChatLog()

    app = View()
    quiet = QuietCollector()
    async with app.run_test(size=(120, 40)) as pilot:
        log = app.query_one(ChatLog)
        if turns:
            with everything_at_once():  # as in a live session: every turn is drawn
                await log.show_stored(stored_conversation(turns))
        for _ in range(3):
            await pilot.pause()
        reply = await log.add(AssistantMessage(label="m"))
        reply.start_stream()
        text = make_reply(STREAM_CHARS)
        await asyncio.sleep(0.2)
        quiet.begin()
        try:
            cpu = time.thread_time()
            draws = 0
            for start in range(0, len(text), STREAM_PIECE):
                await reply.write(text[start : start + STREAM_PIECE])
                await asyncio.sleep(0.03)  # the screen refreshes meanwhile, as between two draws in the app
                draws += 1
            await reply.finish()
            cpu = time.thread_time() - cpu
        finally:
            quiet.end()
    return cpu / draws * 1000


def measure_streaming() -> dict[str, float]:
    import gc

    empty, unfolded, folded = [], [], []
    for _ in range(REPEATS):
        empty.append(asyncio.run(draw_cpu_ms(0)))
        with folding(False):
            unfolded.append(asyncio.run(draw_cpu_ms(STREAM_TURNS)))
        gc.collect()
        folded.append(asyncio.run(draw_cpu_ms(STREAM_TURNS)))
        gc.collect()
    result = {"empty": median(empty), "unfolded": median(unfolded), "folded": median(folded)}
    print("streaming", {k: round(v, 1) for k, v in result.items()}, flush=True)
    return result


def main() -> None:
    from assistant.tui.widgets.chat_log import EARLIER_BATCH_CHARS

    streaming = measure_streaming()
    results = [(turns, measure(turns)) for turns in TURNS]
    rows = [
        f"| {turns} | {r['all_at_once'] * 1000:,.0f} | {r['from_the_end'] * 1000:,.0f} | "
        f"**{r['all_at_once'] / r['from_the_end']:.1f}x** | {r['next_batch'] * 1000:,.0f} |"
        for turns, r in results
    ]
    longest = results[-1][1]
    body = f"""
A stored conversation of N turns (a short question, then a {REPLY_CHARS}-character Markdown reply:
paragraphs, a list, a code block) opened in the chat log (headless Textual, 120x40); median of
{REPEATS} runs (`python -m benchmarks.tui_open`). Machine: {machine()}.

| turns | all drawn at once (ms) | drawn from its end (ms) | faster | next batch, scrolled to the top (ms) |
| --- | --- | --- | --- | --- |
{chr(10).join(rows)}

- *all drawn at once*: the baseline, the same chat log with no batch limit (as before). *drawn from
  its end*: the last {EARLIER_BATCH_CHARS:,} characters (at least one exchange), then one batch more each
  time scrolling reaches the top, the view kept still (`assistant/tui/widgets/chat_log.py`). Both: from
  the call that shows the stored messages to the first screen painted with them, on the UI thread,
  which handles no key or mouse event meanwhile.
- Opening no longer grows with the conversation: {longest['from_the_end'] * 1000:,.0f} ms for {TURNS[-1]}
  turns, where drawing everything took {longest['all_at_once']:.1f} s. Each batch costs about what
  opening does, paid only by scrolling that far up.

A {STREAM_CHARS:,}-character reply streamed {STREAM_PIECE} characters a draw below {STREAM_TURNS} drawn turns
(as in a live session, or a stored one scrolled through): UI thread CPU per draw (append, layout,
paint), median of {REPEATS} runs.

| conversation above the reply | UI CPU per draw (ms) |
| --- | --- |
| none (a new conversation) | {streaming['empty']:.0f} |
| {STREAM_TURNS} turns, all in the layout (folding off: the baseline) | {streaming['unfolded']:.0f} |
| {STREAM_TURNS} turns, those far from the view folded | {streaming['folded']:.0f} (**{streaming['unfolded'] / streaming['folded']:.1f}x** less) |

- A folded turn keeps its height, so nothing on screen moves, and its children leave the layout; it
  unfolds before scrolling brings it within a screen of the view (`tests/test_tui_turn_folding.py`
  compares every screen with folding off).
"""
    write_section("TUI: long conversations", body)


if __name__ == "__main__":
    main()

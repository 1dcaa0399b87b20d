"""The chat app's token view: opening it on a long reply, and moving its cursor.

Target (issue #17): the token view of a 2,000-token reply draws in < 200 ms on
this machine. The view lays the reply's tokens out once per width (no
rendering) and draws only the page holding the cursor
(`assistant/inspect/token_view.py`, `assistant/tui/widgets/token_strip.py`),
so opening should not grow with the reply: the ratio against a 20-token reply
in the same run says whether it does. The baseline for paging, in the same run,
is the same view drawing every line of the reply (the page made unlimited).

Measured: the UI thread's wall time from pushing the view to the first screen
painted with it (headless Textual, 120x40), and from a → key press (the cursor
moves, the page and the panel are redrawn) to the next paint.

``python -m benchmarks.tui_token_view`` writes the "## TUI: token view" section
of docs/performance.md.
"""

from __future__ import annotations

import asyncio
import gc
import math
import os
import time
from contextlib import contextmanager
from typing import Any, Iterator

from ._report import machine, median, write_section
from .tui_stream import make_reply

SIZES = (20, 2000, 8000)
REPEATS = 5
STEPS = 20
TOP = 5
TARGET_MS = 200


def reply_tokens(count: int) -> Any:
    """A reply of ``count`` tokens (~4 characters each, with newlines) and ``TOP`` alternatives per step."""
    from assistant.inspect.token_view import ReplyTokens
    from assistant.types import GenerationParams, TokenLogprob, TopAlternative

    text = make_reply(count * 4)
    tokens = []
    for index in range(count):
        piece = text[index * 4 : index * 4 + 4]
        p = (0.02, 0.3, 0.7, 0.95, 0.99)[index % 5]
        top = [TopAlternative(piece, index, math.log(p), p)] + [
            TopAlternative(f"alt{j}", 10_000 + j, math.log((1 - p) / (j + 2)), None) for j in range(TOP - 1)
        ]
        tokens.append(TokenLogprob(piece, index, math.log(p), top, p))
    params = GenerationParams(temperature=0.7, top_k=40, top_p=0.95, logprobs=TOP)
    return ReplyTokens([t.token_id for t in tokens], params, tokens, prompt=(), model="bench")


@contextmanager
def unpaged() -> Iterator[None]:
    """The baseline: every line of the reply drawn, as a view without paging would."""
    from assistant.tui.widgets.token_strip import TokenStrip

    saved = TokenStrip.lines_per_page
    TokenStrip.lines_per_page = property(lambda self: 1 << 30)  # type: ignore[assignment]
    try:
        yield
    finally:
        TokenStrip.lines_per_page = saved  # type: ignore[method-assign]


def host() -> Any:
    """A bare app with the controller the view asks (no model: nothing is computed)."""
    from textual.app import App

    from assistant.tui.controller import ChatController, ChatSettings

    class Host(App[None]):
        def __init__(self) -> None:
            super().__init__()
            self.controller = ChatController(ChatSettings(model="bench", backend="none"))

    return Host()


async def open_empty_modal() -> float:
    """For scale: push → first paint of a modal screen holding one line and a footer."""
    from textual.screen import ModalScreen
    from textual.widgets import Footer, Static

    class Empty(ModalScreen[None]):
        def compose(self) -> Any:
            yield Static("x")
            yield Footer()

    app = host()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        start = time.perf_counter()
        await app.push_screen(Empty())
        await pilot.pause()
        return time.perf_counter() - start


async def open_and_step(count: int) -> dict[str, float]:
    """Push → first paint, one cursor step → next paint: wall and UI-thread CPU seconds, ``count`` tokens."""
    from assistant.tui.screens.token_view import TokenViewScreen

    reply = reply_tokens(count)
    app = host()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await app.push_screen(TokenViewScreen(reply_tokens(20)))  # the first view imports numpy: not counted
        await pilot.pause()
        app.pop_screen()
        await pilot.pause()
        gc.collect()  # the reply's objects were made just now: their collection is not the view's cost
        start, cpu = time.perf_counter(), time.thread_time()
        await app.push_screen(TokenViewScreen(reply))
        await pilot.pause()
        opened, opened_cpu = time.perf_counter() - start, time.thread_time() - cpu
        screen = app.screen
        assert isinstance(screen, TokenViewScreen) and len(screen.state.tokens) == count
        steps, steps_cpu = [], []
        for _ in range(STEPS):
            start, cpu = time.perf_counter(), time.thread_time()
            await pilot.press("right")
            await pilot.pause()
            steps.append(time.perf_counter() - start)
            steps_cpu.append(time.thread_time() - cpu)
        return {"open": opened, "open_cpu": opened_cpu, "step": median(steps), "step_cpu": median(steps_cpu)}


def measure(count: int, paged: bool = True) -> dict[str, float]:
    runs = []
    for _ in range(REPEATS):
        if paged:
            runs.append(asyncio.run(open_and_step(count)))
        else:
            with unpaged():
                runs.append(asyncio.run(open_and_step(count)))
        gc.collect()
    result = {key: median([run[key] for run in runs]) for key in runs[0]}
    print(
        count, "paged" if paged else "unpaged", {k: round(v * 1000, 1) for k, v in result.items()}, flush=True
    )
    return result


def main() -> None:
    empty = median([asyncio.run(open_empty_modal()) for _ in range(REPEATS)])
    print("empty modal", round(empty * 1000, 1), flush=True)
    results = {count: measure(count) for count in SIZES}
    baseline = measure(2000, paged=False)
    small, big = results[SIZES[0]], results[2000]

    def row(label: str, r: dict[str, float]) -> str:
        ms = {key: value * 1000 for key, value in r.items()}
        return (
            f"| {label} | {ms['open']:.0f} | {ms['open_cpu']:.0f} | {ms['step']:.0f} | {ms['step_cpu']:.0f} |"
        )

    rows = [row(f"{count:,}", r) for count, r in results.items()]
    rows.append(row("2,000, every line drawn (no paging: the baseline)", baseline))
    verdict = "met" if big["open"] * 1000 < TARGET_MS else "**missed**"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    body = f"""
The token view opened on a reply of N tokens (~4 characters each, {TOP} alternatives per step; headless
Textual, 120x40), median of {REPEATS} runs (`python -m benchmarks.tui_token_view`): wall time and the UI
thread's CPU time, from pushing the view to the first paint, and from a → key to the next paint.
Machine: {machine()}; load average {load:.1f} when it ran.

| reply tokens | open, wall (ms) | open, CPU (ms) | → key, wall (ms) | → key, CPU (ms) |
| --- | --- | --- | --- | --- |
{chr(10).join(rows)}
| for scale: an empty modal screen with a footer | {empty * 1000:.0f} | | | |

- Target: a 2,000-token reply draws in < {TARGET_MS} ms: {verdict} ({big["open"] * 1000:.0f} ms wall,
  {big["open_cpu"] * 1000:.0f} ms of UI CPU). Opening it costs **{big["open"] / small["open"]:.2f}x** a
  20-token reply's, and paging makes it **{baseline["open"] / big["open"]:.1f}x** faster than drawing every
  line: the reply is laid out once per width (no rendering) and only the page holding the cursor is
  drawn (`assistant/inspect/token_view.py`, `assistant/tui/widgets/token_strip.py`).
- The panel's numbers need numpy (~0.2 s to import, not counted above): the chat app imports it in
  the background when a reply is focused (`prefetch_inspect` in `assistant/tui/widgets/chat_log.py`),
  so `t` does not wait for it; only a first view opened from the palette without focusing a reply does.
- Streaming does not pay for the view while it is closed: logprobs are not requested by default, and a
  reply's token ids (and numbers, when asked for) are kept by extending two lists per chunk
  (`assistant/session.py`); the panel's
  numbers are computed only for the step under the cursor.
"""
    write_section("TUI: token view", body)


if __name__ == "__main__":
    main()

"""The chat app streaming into a real terminal vs the same app headless.

:mod:`.tui_stream` measures the app under Textual's headless driver, which
lays out and paints every frame but writes nothing. Here the same runs
(:func:`.tui_stream.app_runs`: the same reply, fake backend, engine process
and clock) are made once with Textual's Linux driver writing escape sequences
to a 120x40 pseudo-terminal, drained by this process as a terminal emulator
would read it, and once headless, each in a fresh child process, alternating.

* **terminal ÷ headless** — rendered tok/s (send → the whole reply in the
  Markdown widget) with a real terminal over the same without one: what
  writing the frames to a terminal costs the stream.
* **bytes per token** — what the app wrote to the terminal while the replies
  streamed, per token of reply.

Run ``python -m benchmarks.tui_terminal``; it rewrites its section of
``docs/performance.md``.
"""

from __future__ import annotations

import fcntl
import json
import os
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time

from ._report import machine, median, write_section
from .tui_stream import FAST_REPEATS, PACES, TOKENS

PAIRS = 3
"""Child processes of each kind per speed, alternating (each makes FAST_REPEATS runs)."""

CHILD = r"""
import asyncio, json, sys
from benchmarks.tui_stream import app_runs, make_reply

delay, repeats, headless, out = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "headless", sys.argv[4]
reply = make_reply()
runs = asyncio.run(app_runs(delay, reply, repeats, headless=headless))
with open(out, "w") as results:
    json.dump([len(reply) / (run.done_at - run.sent_at) for run in runs], results)
"""


def _child_env(home: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPATH=os.getcwd(), ASSISTANT_HOME=home, TERM="xterm-256color", COLUMNS="120", LINES="40")
    return env


def run_child(delay: float, in_terminal: bool) -> tuple[list[float], int]:
    """One child's rendered tok/s per run, and the bytes it wrote to the terminal (0 headless)."""
    with tempfile.TemporaryDirectory(prefix="tui-terminal-") as home:
        out = os.path.join(home, "rates.json")
        argv = [sys.executable, "-c", CHILD, str(delay), str(FAST_REPEATS), "terminal" if in_terminal else "headless", out]
        if not in_terminal:
            subprocess.run(argv, env=_child_env(home), stdin=subprocess.DEVNULL, check=True, capture_output=True)
            with open(out) as results:
                return json.load(results), 0
        controller, terminal = os.openpty()
        fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        child = subprocess.Popen(argv, env=_child_env(home), stdin=terminal, stdout=terminal, stderr=terminal)
        os.close(terminal)
        written = 0
        chunks: list[bytes] = []

        def drain() -> None:  # read as a terminal emulator would, so the child never blocks writing
            nonlocal written
            while True:
                try:
                    data = os.read(controller, 65536)
                except OSError:  # EIO: the child closed the terminal
                    return
                if not data:
                    return
                written += len(data)
                if len(chunks) < 64:
                    chunks.append(data)

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        code = child.wait(timeout=600)
        reader.join(timeout=5)
        os.close(controller)
        if code != 0:
            tail = b"".join(chunks)[-2000:].decode(errors="replace")
            raise RuntimeError(f"the terminal run failed with status {code}: {tail}")
        with open(out) as results:
            return json.load(results), written


def measure(delay: float) -> dict[str, float]:
    terminal_rates: list[float] = []
    headless_rates: list[float] = []
    written: list[int] = []
    for pair in range(PAIRS):
        order = (False, True) if pair % 2 == 0 else (True, False)
        for in_terminal in order:
            rates, count = run_child(delay, in_terminal)
            if in_terminal:
                terminal_rates += rates
                written.append(count)
            else:
                headless_rates += rates
    result = {
        "headless": median(headless_rates),
        "terminal": median(terminal_rates),
        "bytes_per_token": median(written) / (FAST_REPEATS * TOKENS),
    }
    print(delay, result, flush=True)
    return result


def main() -> None:
    speeds = [("unthrottled (as fast as it can)", 0.0), PACES[0]]
    results = [(label, measure(delay)) for label, delay in speeds]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    rows = [
        f"| {label} | {r['headless']:,.0f} | {r['terminal']:,.0f} | **{r['terminal'] / r['headless']:.3f}** | "
        f"{r['bytes_per_token']:.0f} |"
        for label, r in results
    ]
    verdicts = ", ".join(
        f"{label} {r['terminal'] / r['headless']:.3f} ({'≥' if r['terminal'] / r['headless'] >= 0.95 else '<'} 0.95)"
        for label, r in results
    )
    body = f"""
The {TOKENS}-token reply of the TUI section, streamed by the chat app into a real terminal (Textual's
Linux driver writing to a 120x40 pseudo-terminal that this process drains) vs the same app with
Textual's headless driver, which lays out and paints every frame but writes none; each in a fresh
child process, {PAIRS} of each kind alternating, {FAST_REPEATS} runs each, medians
(`python -m benchmarks.tui_terminal`). Machine: {machine()}; load average after the run: {load}.

| backend speed | headless app tok/s | app in a terminal tok/s | terminal ÷ headless | bytes to the terminal per token |
| --- | --- | --- | --- | --- |
{chr(10).join(rows)}

- Both columns are *rendered tok/s* as in the TUI section: tokens ÷ (send → the whole reply is in the
  Markdown widget), with the model in its engine process.
- Terminal ÷ headless: {verdicts}. Writing the frames costs little next to laying them out and
  painting them, which both columns pay.
- This is the other possible reading of #7's "rendered tok/s in the app ÷ the same backend
  headless" (headless: Textual's headless mode, not the backend without the app). The TUI section
  keeps the stricter one, the backend consumed in a plain loop.
"""
    write_section("TUI: a real terminal", body)


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"{time.perf_counter() - start:.0f} s", file=sys.stderr)

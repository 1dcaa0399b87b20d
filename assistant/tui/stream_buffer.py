"""Hand-off of streamed text from the generation thread to the UI thread.

The generation thread must never wait for the screen: posting one Textual
message per token would queue thousands of messages at fast token rates, and
``call_from_thread`` would block the model on every token. Instead the thread
appends to this buffer and wakes the UI only when the buffer goes from empty to
non-empty; the UI drains everything that arrived since. Under load the UI
therefore does one Markdown append per frame, whatever the token rate.
"""

from __future__ import annotations

import threading
import time
from typing import Callable


class ReplyBuffer:
    """A lock-protected list of text pieces with "was it empty?" signalling."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._lock = threading.Lock()
        self.pieces_in = 0

    def push(self, text: str) -> bool:
        """Add ``text``; True when the consumer should be woken (the buffer was empty)."""
        with self._lock:
            was_empty = not self._parts
            self._parts.append(text)
            self.pieces_in += 1
            return was_empty

    def drain(self) -> str:
        """Everything pushed since the last drain, in order."""
        with self._lock:
            text = "".join(self._parts)
            self._parts.clear()
            return text


SPARE_CORE = 0.8
"""Cores other processes leave this one (its own use included) for the UI to draw at its full share."""


class DrawPacer:
    """When the next draw of a streaming reply may happen.

    A draw (Markdown append, layout, repaint) is Python on the UI thread,
    holding the interpreter lock the generation thread needs for every token.
    After each draw the next one waits until the UI thread's CPU time since
    the previous draw is at most ``cpu_share`` of the wall time, and at least
    ``1 / max_fps``: smooth frame-rate streaming on a fast machine, fewer and
    bigger appends on a slow or loaded one (or late in a long reply, when
    layout costs more), and the model keeps most of its speed either way. The
    screen is still redrawn at least every ``max_interval`` seconds, so text
    keeps visibly flowing even when draws are expensive.

    The UI's CPU also competes for *cores*: the model's engine runs in its own
    process, and a local engine that decodes on every core loses about as much
    speed as the UI draws (its threads wait for the one that lost its core at
    every step). So while the machine has no core to spare (``free_cores``,
    looked at every ``max_interval``: what other processes leave this one)
    the share drops to ``crowded_share``: fewer, bigger appends, and the model
    at full speed.
    """

    def __init__(
        self,
        max_fps: float = 30.0,
        cpu_share: float = 0.2,
        max_interval: float = 0.5,
        clock: Callable[[], float] = time.perf_counter,
        cpu_clock: Callable[[], float] = time.thread_time,
        crowded_share: float | None = None,
        free_cores: Callable[[], float | None] | None = None,
        first_look: float = 0.2,
    ) -> None:
        self.min_interval = 1 / max_fps
        self.first_look = first_look
        self.roomy_share = cpu_share
        self.crowded_share = cpu_share if crowded_share is None else crowded_share
        self.max_interval = max_interval
        self._clock = clock
        self._cpu_clock = cpu_clock
        self._free_cores = free_cores or (lambda: None)
        self._measures_cores = free_cores is not None
        self._looked_at: float | None  # None: the measure starts at the next draw
        self._last: tuple[float, float] | None  # (wall, cpu) when the last draw started
        self.reset()  # the rest of the state: as at the start of a reply

    def reset(self) -> None:
        """A new reply: draw its first text at once, at the crowded share until the cores are seen free.

        The free cores are measured over this reply's decoding alone: from its
        first draw (the first text is there, so the model is decoding) to a
        look ``first_look`` seconds later, when the second draw comes, then
        every ``max_interval``. Measured since the last look, they counted the idle time between
        replies as free; measured from the request, the model's start (one
        thread tokenizing) and the UI's own work mounting the messages. Either
        way a reply on a local engine busy on every core began with a dozen
        draws at the roomy share, each taking a core from it. Until the first
        look the share is the crowded one: a remote model's reply draws its
        first text, then the rest from a fifth of a second on; a local one loses nothing.
        """
        self._next = 0.0
        self._last = None
        self._looked_at = None
        self._first_look_due = False
        self.cpu_share = self.crowded_share

    def wait(self) -> float:
        """Seconds until a draw may start (0: now)."""
        return max(0.0, self._next - self._clock())

    def drew(self) -> None:
        """Call as a draw starts (on the UI thread); sets when the next may start."""
        now, cpu = self._clock(), self._cpu_clock()
        if self._looked_at is None:
            self._free_cores()  # the measure starts here (what it held before is not this reply's)
            self._looked_at = now - self.max_interval + self.first_look
            self._first_look_due = self._measures_cores
        elif now - self._looked_at >= self.max_interval:
            self._looked_at = now
            self._first_look_due = False
            free = self._free_cores()
            if free is not None:
                self.cpu_share = self.roomy_share if free >= SPARE_CORE else self.crowded_share
        spacing = self.min_interval
        if self._last is not None:
            # UI CPU since the last draw started: that draw's layout and repaint, and anything else.
            spacing = min(max(spacing, (cpu - self._last[1]) / self.cpu_share), self.max_interval)
        if self._first_look_due:
            # The next draw is at the first look: the measure then holds the model's decoding
            # and this reply's first draw, not a burst of them (the UI's own CPU counts as free).
            spacing = max(self.min_interval, self._looked_at + self.max_interval - now)
        self._next = now + spacing
        self._last = (now, cpu)

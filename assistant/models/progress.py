"""How far a download is: the callback type and the display (a redrawn line on a terminal, a quiet
line every 10% on a pipe). Kept apart from :mod:`.download`, which moves the bytes."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Protocol


class TransferProgress(Protocol):
    """Told how far a download is: bytes done (including a resumed prefix) and the total if known."""

    def __call__(self, done: int, total: int | None) -> None: ...


def human_bytes(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(size) < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


@dataclass
class ProgressLine:
    """A progress display for a terminal (one redrawn line) or a pipe (a quiet line every 10%).

    Shows bytes, speed and time left; speed counts only this run's bytes, so a
    resumed download does not claim the resumed prefix arrived instantly.
    """

    label: str
    stream: object = None
    interval_s: float = 0.2
    _start: float = 0.0
    _first: int | None = None
    _last_draw: float = 0.0
    _last_decile: int = -1

    def __post_init__(self) -> None:
        from ..terminal_text import visible_text

        self.label = visible_text(self.label)  # a file name from a server: data, never terminal controls
        self.stream = self.stream or sys.stderr
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if self._first is None:
            self._first, self._start = done, now
        finished = total is not None and done >= total
        if self._tty:
            if not finished and now - self._last_draw < self.interval_s:
                return
            self._write("\r\x1b[2K" + self.describe(done, total, now) + ("\n" if finished else ""))
            self._last_draw = 0.0 if finished else now
            return
        decile = (done * 10 // total) if total else -1
        if total and decile > self._last_decile:
            self._last_decile = decile
            self._write(self.describe(done, total, now) + "\n")

    def end_line(self) -> None:
        """Move off a half-drawn line (before an error message, on a terminal)."""
        if self._tty and self._last_draw:
            self._write("\n")
            self._last_draw = 0.0

    def describe(self, done: int, total: int | None, now: float) -> str:
        elapsed = max(now - self._start, 1e-6)
        speed = (done - (self._first or 0)) / elapsed
        text = f"{self.label}: {human_bytes(done)}"
        if total:
            text += f" / {human_bytes(total)} ({100 * done / total:.0f}%)"
        if done > (self._first or 0):
            text += f"  {human_bytes(speed)}/s"
        if total and speed > 0 and done < total:
            left = int((total - done) / speed)
            text += f"  ETA {left // 60}:{left % 60:02d}"
        return text

    def _write(self, text: str) -> None:
        self.stream.write(text)  # type: ignore[attr-defined]
        self.stream.flush()  # type: ignore[attr-defined]

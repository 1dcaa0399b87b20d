"""The batch progress bar: ``[#####.....] 45/100 45% 2.3 rows/s ETA 0:24`` on a terminal, quiet elsewhere.

Split from :mod:`.runner` (which draws it while rows run); its names are still importable from there.
"""

from __future__ import annotations

import sys
import time
from typing import IO


class ProgressBar:
    """``[#####.....] 45/100 45% 2.3 rows/s ETA 0:24 (1 failed)`` redrawn on a terminal.

    On a non-terminal stream it stays quiet, so logs hold the one summary line
    instead of hundreds of carriage returns.
    """

    def __init__(self, total: int, stream: IO[str] | None = None, width: int = 24) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.width = width
        self.count = 0
        self.failed = 0
        self.start = time.perf_counter()
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())

    def advance(self, ok: bool = True) -> None:
        self.count += 1
        self.failed += 0 if ok else 1
        if self.live:
            self.stream.write("\r" + self.line())
            self.stream.flush()

    def line(self, now: float | None = None) -> str:
        elapsed = (now if now is not None else time.perf_counter()) - self.start
        fraction = self.count / self.total if self.total else 1.0
        filled = int(self.width * fraction)
        rate = self.count / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.count) / rate if rate > 0 else None
        parts = [
            f"[{'#' * filled}{'.' * (self.width - filled)}]",
            f"{self.count}/{self.total}",
            f"{fraction:4.0%}",
            f"{rate:.2f} rows/s",
            f"ETA {format_duration(eta)}" if eta is not None else "ETA --:--",
        ]
        if self.failed:
            parts.append(f"({self.failed} failed)")
        return " ".join(parts)

    def close(self) -> None:
        if self.live:
            self.stream.write("\n")
            self.stream.flush()


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"

"""Writing benchmark results into docs/performance.md, one ``## section`` per benchmark."""

from __future__ import annotations

import os
import platform
import re
import statistics
from pathlib import Path
from typing import Sequence

DOC = Path(__file__).resolve().parent.parent / "docs" / "performance.md"
HEADER = (
    "# Performance\n\n"
    "Every number here is written by a script in `benchmarks/` (`make bench`, or\n"
    "`python -m benchmarks.<name>`). Targets are ratios against a baseline measured in\n"
    "the same run, so they hold across machines; absolute numbers are for this machine.\n"
)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def write_section(title: str, body: str) -> None:
    """Replace (or append) ``## title`` in docs/performance.md with ``body``."""
    text = DOC.read_text() if DOC.exists() else HEADER
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text)
    else:
        text = text.rstrip() + "\n\n" + section
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text.rstrip() + "\n")
    print(section)

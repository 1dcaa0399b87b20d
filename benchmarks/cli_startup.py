"""``assistant --help`` wall time: the CLI must start fast (target < 0.25 s).

Baseline in the same run: ``python -c pass`` (the interpreter's own start-up).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from ._report import machine, median, write_section

RUNS = 15


def _time(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    exe = shutil.which("assistant", path=str(Path(sys.executable).parent)) or "assistant"
    _time([exe, "--help"])
    help_times = [_time([exe, "--help"]) for _ in range(RUNS)]
    base_times = [_time([sys.executable, "-c", "pass"]) for _ in range(RUNS)]
    help_s, base_s = median(help_times), median(base_times)
    verdict = "meets" if help_s < 0.25 else "MISSES"
    write_section(
        "CLI start-up",
        f"""
`assistant --help`, median of {RUNS} runs (`python -m benchmarks.cli_startup`). Machine: {machine()}.

| command | median wall time |
| --- | --- |
| `python -c pass` (baseline) | {base_s * 1000:.0f} ms |
| `assistant --help` | {help_s * 1000:.0f} ms |

Target < 250 ms: {verdict} ({help_s / base_s:.1f}x the bare interpreter).
""",
    )


if __name__ == "__main__":
    main()

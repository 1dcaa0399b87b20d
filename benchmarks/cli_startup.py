"""``assistant --help`` wall time: the CLI must start fast (target < 0.25 s).

Baseline in the same run: ``python -c pass`` (the interpreter's own start-up).

Also with a plugin registering 5,000 tools (written to a temporary directory):
every tool is a command, and ``assistant --help`` lists them all. Their commands
are made without their options (:class:`assistant.cli.tools.ToolCommand`), so
what is left is asking the plugin for its tools once; target: at most
``MANY_TOOLS_RATIO`` times the plain ``assistant --help`` of the same run (it was
19x, 3.8 s, when each listed tool built its 25 click options).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ._report import machine, median, write_section

RUNS = 15
MANY_RUNS = 5
MANY_TOOLS = 5000
MANY_TOOLS_RATIO = 6.0

_PLUGIN = '''
"""Benchmark plugin: {count} tools, each with one parameter."""
from assistant import hookimpl
from assistant.tools import Parameter


class Numbered:
    needs_model = False

    def __init__(self, number):
        self.name = f"t{{number:04d}}"
        self.description = f"Tool number {{number}}."
        self.parameters = (Parameter("level", type="int", default=1, help="A level."),)

    def run(self, text, params, backend):
        return text


@hookimpl
def register_tools(register):
    for number in range({count}):
        register(Numbered(number))
'''


def _time(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def many_tools_env(root: Path, count: int = MANY_TOOLS) -> dict[str, str]:
    """An environment whose ``ASSISTANT_HOME`` (under ``root``) loads a plugin registering ``count`` tools."""
    plugins = root / "plugins"
    plugins.mkdir(parents=True)
    (plugins / "numbered_tools.py").write_text(_PLUGIN.format(count=count))
    (root / "home" / "config").mkdir(parents=True)
    (root / "home" / "config" / "config.toml").write_text(f"plugin_dirs = [{json.dumps(str(plugins))}]\n")
    env = {**os.environ, "ASSISTANT_HOME": str(root / "home")}
    env.pop("ASSISTANT_PLUGINS", None)  # a restriction would leave the plugin out
    return env


def main() -> None:
    exe = shutil.which("assistant", path=str(Path(sys.executable).parent)) or "assistant"
    _time([exe, "--help"])
    help_times = [_time([exe, "--help"]) for _ in range(RUNS)]
    base_times = [_time([sys.executable, "-c", "pass"]) for _ in range(RUNS)]
    help_s, base_s = median(help_times), median(base_times)
    verdict = "meets" if help_s < 0.25 else "MISSES"
    with tempfile.TemporaryDirectory() as tmp:
        env = many_tools_env(Path(tmp))
        listed = subprocess.run([exe, "--help"], check=True, capture_output=True, text=True, env=env).stdout
        if f"t{MANY_TOOLS - 1:04d}" not in listed:  # the plugin did not load: the timing would mean nothing
            raise SystemExit(f"the benchmark plugin's tools are not listed by `assistant --help`:\n{listed[:2000]}")
        many_times, plain_times, one_times = [], [], []
        for _ in range(MANY_RUNS):  # interleaved: the ratio compares like with like on a busy machine
            many_times.append(_time([exe, "--help"], env))
            plain_times.append(_time([exe, "--help"]))
            one_times.append(_time([exe, "t0001", "--help"], env))
    many_s, plain_s, one_s = median(many_times), median(plain_times), median(one_times)
    ratio = many_s / plain_s
    many_verdict = "meets" if ratio <= MANY_TOOLS_RATIO else "MISSES"
    write_section(
        "CLI start-up",
        f"""
`assistant --help`, median of {RUNS} runs (`python -m benchmarks.cli_startup`). Machine: {machine()}.

| command | median wall time |
| --- | --- |
| `python -c pass` (baseline) | {base_s * 1000:.0f} ms |
| `assistant --help` | {help_s * 1000:.0f} ms |

Target < 250 ms: {verdict} ({help_s / base_s:.1f}x the bare interpreter).

With a plugin registering {MANY_TOOLS:,} tools (each one a command), median of {MANY_RUNS} interleaved runs:

| command | median wall time |
| --- | --- |
| `assistant --help`, no such plugin (baseline) | {plain_s * 1000:.0f} ms |
| `assistant --help`, {MANY_TOOLS:,} tools | {many_s * 1000:.0f} ms |
| `assistant t0001 --help`, {MANY_TOOLS:,} tools | {one_s * 1000:.0f} ms |

Target <= {MANY_TOOLS_RATIO:g}x the baseline: {many_verdict} ({ratio:.1f}x).
""",
    )


if __name__ == "__main__":
    main()

"""How many CPU threads a local engine decodes with: measured token by token, not guessed.

Why: llama.cpp (and torch) split every matrix product across their threads
and wait for the slowest at each of a few hundred barriers per token. On an
idle 2-core machine two threads decode SmolLM2 at ~1.5x the speed of one; but
when anything else wants a core — the chat app's UI drawing a reply, another
job — the thread that loses its core holds up the other, and two threads can
run far slower than one (docs/performance.md, "TUI: the real model"). Which
count is faster depends on what else runs *now*, so a fixed choice is wrong
one way or the other: every core loses under load, one core fewer gives up a
third of the speed on an idle machine.

So a local CPU backend's thread count is chosen while it decodes
(:class:`ThreadGovernor`). Each request starts on no more threads than other
processes leave cores free (:class:`AvailableCores`, from ``/proc/stat``: a
job from another terminal is invisible to timings until our threads collide
with it, and a single token on two threads beside such a job took 3.5 s here),
and its prompt is evaluated on that many. Then every token is timed, and now
and then one thread fewer or one more is tried for a few tokens: fewer are
kept unless clearly slower (at the same speed they leave cores to the UI and
to other work), more only when clearly faster and when a core is idle to put
them on. A probe that goes badly ends after one token, and lost probes are
paid from a budget of 2% of the decoding time, so a direction that keeps
losing is tried less and less often. llama.cpp takes a new thread count
between any two tokens (``llama_set_n_threads``), and so does torch
(``torch.set_num_threads``). Measured in docs/performance.md, "TUI: the real
model".

An explicit ``-o n_threads=N`` fixes the count (no governor), as does a GPU.
"""

from __future__ import annotations

import os
import time
from typing import Callable

LADDER = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)
"""Thread counts the governor moves between (below the machine's core count), besides every core and one fewer."""


def typical(seconds: list[float]) -> float:
    """How long a decode step takes at one thread count, from a few of them: their lower quartile.

    Not the mean or the median: a step's time only ever grows by what else
    happened meanwhile, and in the chat app that comes in bursts — the UI
    mounting a reply's first messages, then a draw every fraction of a second,
    each holding a core for 20-35 ms — which stretch one to three tokens at a
    time. Three such tokens among six at the start of a reply made one thread
    look as fast as two (it was at 0.65x) and kept the engine there. Sustained
    load slows every step and still shows.
    """
    ordered = sorted(seconds)
    return ordered[len(ordered) // 4]


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity (``taskset``, a container's cpuset, a
    cluster job's allocation), not every core of the machine.

    ``os.cpu_count()`` counts the machine: under ``taskset -c 0`` on a 16-core
    host the engine started on 16 threads sharing one core, and 8 threads on one
    core decode SmolLM2 at 6 tokens/s against 36 on one thread.
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def compute_threads(requested: int = 0) -> tuple[int, int]:
    """``(decode threads to start with, prompt threads)``; ``requested`` (> 0) is the user's fixed choice."""
    if requested > 0:
        return requested, requested
    cores = usable_cores()
    return cores, cores


class ThreadGovernor:
    """Chooses the decode thread count from how long each token takes with it.

    Call :meth:`start_request` before a reply, then :meth:`observe` with the
    seconds each decode step took; it returns the count to use for the next
    step when that changes (the caller applies it). Pure bookkeeping: no clock,
    no threads, so it is tested with made-up timings.

    Probing is paid for out of a budget: a probe that lost cost its extra
    seconds, and that direction is not tried again before the decoding since
    has been ``1 / EXPLORE_SHARE`` times as long. Measured here, a token on two
    spinning threads while another session's job held a core took 3.5 s
    against 11 ms on one: one such probe, then none for minutes of decoding,
    instead of one every few dozen tokens — unless a whole core turns idle
    (the job ended), which is worth a look at once.
    """

    WINDOW = 6
    """Recent tokens at the current count whose :func:`typical` time is its speed."""
    PROBE = 4
    """Tokens a probe of a neighbouring count measures."""
    SETTLE = 1
    """Tokens not counted after settling on a count (its threads may have been asleep)."""
    FIRST_INTERVAL = 16
    """Fewest tokens between probes in one direction."""
    MARGIN = 0.04
    """How much faster more threads must be to be adopted."""
    FEWER_TOLERANCE = 0.02
    """How much slower fewer threads may be and still be adopted."""
    ABORT = 4.0
    """A probe token this many times slower than the current count's typical token ends the probe at once.

    Not less: a token the chat app's UI happened to draw over takes 2-3x its time (a 25 ms draw over a
    10 ms token), while a ruinous count (two spinning threads beside another session's job) took 300x."""
    EXPLORE_SHARE = 0.02
    """Most of the decoding time lost probes may cost."""
    DRIFT = 1.3
    """A change of the current count's speed by this factor (load came or went) makes probing that way due."""

    UP_SPARE = 0.3
    """Cores beyond the current count that other processes must leave free before a probe adds threads.

    Another job holds a whole core; the chat app's UI, drawing at its full share, 0.4 of one."""
    FREE_CORE = 0.9
    """...and with this many, a probe adds threads without waiting for the cost budget."""

    def __init__(self, cores: int, available_cores: Callable[[], float | None] | None = None) -> None:
        self._available_cores = available_cores or (lambda: None)
        self.counts: tuple[int, ...] = tuple(sorted({c for c in LADDER if c < cores} | {max(1, cores - 1), max(1, cores)}))
        self._index = len(self.counts) - 1  # each request starts at most on the cores left free
        self._window: list[float] = []
        self._reference: float | None = None
        self._interval = {-1: self.FIRST_INTERVAL, 1: self.FIRST_INTERVAL}
        self._not_before = {-1: 0.0, 1: 0.0}
        """Decoding seconds (:attr:`decoded`) before which a direction that lost is not tried again."""
        self._since_probe = 0
        self._probe: tuple[int, list[float]] | None = None
        self._settle = 0
        self.decoded = 0.0
        """Seconds of decoding observed so far."""
        self.switches = 0
        """Times the count changed (probes included), for benchmarks and tests."""
        self.prompt_threads = self.counts[-1]
        """Threads for the current request's prompt: every core left free (a batch of tokens keeps them
        busy between barriers, so it gains from cores a one-token step saturates without)."""
        self.use: dict[int, int] = {}
        """Decode steps run at each count since the model loaded (``backend info`` shows them)."""

    @property
    def current(self) -> int:
        """The count the governor settled on (not a probe's)."""
        return self.counts[self._index]

    @property
    def threads(self) -> int:
        """The count the next decode step should use."""
        if self._probe is not None:
            return self.counts[self._index + self._probe[0]]
        return self.current

    def start_request(self) -> int:
        """A new request: the count to start decoding with (and :attr:`prompt_threads` for its prompt).

        The current count is measured afresh; what was learnt about probes stays.
        """
        self._probe = None
        self._window.clear()
        self._reference = None
        self._since_probe = max(self._interval.values())  # the first verdict as soon as the window allows
        self._settle = self.SETTLE
        # What other processes left free since the last reply (or the load): never start on more
        # threads than that, so neither the prompt nor the first tokens fight another job for a core.
        available = self._available_cores()
        if available is not None:
            fitting = [i for i, count in enumerate(self.counts) if count <= available + self.UP_SPARE]
            self.prompt_threads = self.counts[fitting[-1] if fitting else 0]
            self._index = min(self._index, fitting[-1] if fitting else 0)
        else:
            self.prompt_threads = self.counts[-1]
        return self.current

    def observe(self, seconds: float) -> int | None:
        """Record one decode step's time; the count for the next step if it changes, else None."""
        before = self.threads
        self.decoded += seconds
        self.use[before] = self.use.get(before, 0) + 1
        if self._probe is not None:
            self._probe_step(seconds)  # from its first token: a bad probe must end at once
        elif self._settle:
            self._settle -= 1
        else:
            self._home_step(seconds)
        after = self.threads
        if after == before:
            return None
        self.switches += 1
        if self._probe is None:
            self._settle = self.SETTLE
        return after

    def _home_step(self, seconds: float) -> None:
        self._window.append(seconds)
        del self._window[: -self.WINDOW]
        self._since_probe += 1
        if len(self._window) < self.WINDOW:
            return
        step = typical(self._window)
        if self._reference is None:
            self._reference = step
        elif step > self.DRIFT * self._reference or step * self.DRIFT < self._reference:
            # Load came (slower: fewer threads may win now) or went (faster: more may): try that
            # way soon. The cost budget still applies — a UI's bursts of drawing look like load
            # for a few tokens — but it runs out fast when tokens are truly slow.
            direction = -1 if step > self._reference else 1
            self._reference = step
            self._interval[direction] = self.FIRST_INTERVAL
            self._since_probe = max(self._since_probe, self.FIRST_INTERVAL)
        due = [direction for direction in (-1, 1) if self._due(direction)]
        if due:
            direction = min(due, key=lambda d: self._interval[d])
            self._probe = (direction, [])

    def _due(self, direction: int) -> bool:
        """Whether to try one step ``direction`` now."""
        if not 0 <= self._index + direction < len(self.counts) or self._since_probe < self._interval[direction]:
            return False
        if direction > 0:
            available = self._available_cores()
            if available is not None and available < self.current + self.UP_SPARE:
                # Nothing idle to add threads on: one more would fight another job for a core,
                # which can cost seconds for a single token. Look again after another interval.
                self._since_probe = 0
                return False
            if available is not None and available >= self.current + self.FREE_CORE:
                return True  # a whole core sits idle: whatever held it has gone, try it now
        return self.decoded >= self._not_before[direction]

    def _probe_step(self, seconds: float) -> None:
        assert self._probe is not None
        direction, times = self._probe
        times.append(seconds)
        home = typical(self._window)
        if seconds > self.ABORT * home:
            self._end_probe(direction, home, won=False)
        elif len(times) >= self.PROBE:
            # Fewer threads win unless clearly slower, more only when clearly faster: at the same
            # speed fewer leave cores to the UI and other work (a memory-bound decode on many
            # cores stops gaining well before the last one).
            limit = home * (1 + self.FEWER_TOLERANCE) if direction < 0 else home * (1 - self.MARGIN)
            self._end_probe(direction, home, won=typical(times) < limit)

    def _end_probe(self, direction: int, home: float, won: bool) -> None:
        assert self._probe is not None
        times = self._probe[1]
        self._probe = None
        self._since_probe = 0
        if won:
            self._index += direction
            self._window = list(times)
            self._reference = None
            # Keep going the same way soon; going back is what just lost.
            self._interval = {direction: self.FIRST_INTERVAL, -direction: 2 * self.FIRST_INTERVAL}
            self._not_before = {-1: 0.0, 1: 0.0}
        else:
            self._interval[direction] *= 2
            lost = max(0.0, sum(times) - home * len(times))
            self._not_before[direction] = self.decoded + lost / self.EXPLORE_SHARE


class AvailableCores:
    """How many of the machine's cores other processes left free since the last call.

    Idle time plus this process's own CPU time, per second of wall time, from
    Linux's ``/proc/stat`` (None elsewhere, or over too short a time to tell):
    a core another job keeps busy is not available, one our own threads keep
    busy (spinning included) is.
    """

    SHORTEST = 0.05
    """Seconds of wall time a measure needs (``/proc/stat`` counts in hundredths of a second)."""

    def __init__(self, path: str = "/proc/stat") -> None:
        self._path = path
        self._last = self._read()
        self._value: float | None = None

    def _read(self) -> tuple[float, float] | None:
        try:
            with open(self._path, "rb") as stat:
                fields = stat.readline().split()
        except OSError:
            return None
        if len(fields) < 6 or fields[0] != b"cpu":
            return None
        idle = (int(fields[4]) + int(fields[5])) / os.sysconf("SC_CLK_TCK")  # idle + iowait
        return time.monotonic(), idle + time.process_time()

    def __call__(self) -> float | None:
        if self._last is not None and time.monotonic() - self._last[0] < self.SHORTEST:
            return self._value  # too soon to tell (and not worth reading the file): the last verdict
        now, last = self._read(), self._last
        if now is None or last is None:
            self._last = now
            return None
        self._last = now
        self._value = (now[1] - last[1]) / (now[0] - last[0])
        return self._value

"""How many CPU threads a local engine computes with, and how its idle threads wait.

Why: llama.cpp (and torch) split every matrix product across their threads
and wait for the slowest at each step. When another thread of the machine
needs a core — the chat app's UI drawing a reply, another job — one of them
runs late and the others wait, spinning: on this project's 2-core machine the
chat app decoded at 0.73x of ``assistant prompt`` with 2 threads and 0.84x with
1 (issue #23), and under background load 2 spinning threads fell to a tenth of
1 thread's speed (docs/performance.md, "TUI: the real model").

So the chat app's engine process (:func:`share_cores_with_ui`, called by the
engine host before any backend loads):

* decodes with one core fewer than the machine has (at least 1), leaving one
  for the UI; on llama-cpp the prompt, evaluated before the reply streams,
  still uses all (torch has one thread count for both: the decode one);
* makes OpenMP's idle threads sleep instead of spin (``OMP_WAIT_POLICY=passive``,
  unless the environment sets it): a thread that waits for a late one then
  gives its core to whoever needs it. Measured here under load (load average
  4-8 on 2 cores): llama.cpp with 2 threads went from 4-11 tok/s spinning to
  39-48 passive (1 thread: 24-51); torch (SmolLM2, native decoder) from 4-5 to
  25-26 (1 thread: 28).

Headless commands (``assistant prompt``, batches) keep every core. An explicit
``-o n_threads=N`` always wins.
"""

from __future__ import annotations

import os

_sharing = False


def share_cores_with_ui() -> None:
    """This process serves an interactive UI: leave it a core, and let waiting threads sleep.

    Must run before the engine's native libraries load: OpenMP reads its
    environment once, when it starts.
    """
    global _sharing
    _sharing = True
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")


def compute_threads(requested: int = 0) -> tuple[int, int]:
    """``(decode threads, prompt threads)`` for a local engine; ``requested`` (> 0) is the user's choice."""
    if requested > 0:
        return requested, requested
    cores = os.cpu_count() or 1
    if _sharing:
        return max(1, cores - 1), cores
    return cores, cores

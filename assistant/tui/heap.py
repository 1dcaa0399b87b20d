"""Keeping Python's cyclic garbage collector out of a streaming reply.

A full (oldest-generation) collection walks every tracked object of the
process while holding the interpreter lock: with Textual, a loaded model's
Python objects and a long conversation that is easily 100 ms or more, during
which neither the screen nor the model's thread moves. Measured on the
streaming benchmark (docs/performance.md, section TUI), these pauses came a few
times per reply and grew with it.

Two measures, both process-wide (the collector is):

* after a model has loaded, collect once and *freeze* what is left
  (:func:`gc.freeze`): libraries, the engine and the app's own widgets are
  long-lived, and later collections skip them;
* while a reply streams (:class:`QuietCollector`), the oldest generation is not
  collected automatically; the young generations still are, so short-lived
  garbage is freed as usual. When the reply has been drawn, one full
  collection runs, while the reader reads.
"""

from __future__ import annotations

import gc
import threading

_lock = threading.Lock()

NEVER = 1 << 30
"""A third-generation threshold that is never reached."""


def settle_after_load() -> None:
    """Collect, then freeze the survivors: call once a model has loaded.

    Objects frozen earlier (a previous engine, now unloaded) are unfrozen
    first, so garbage they left behind is collected now rather than kept.
    """
    with _lock:
        gc.unfreeze()
        gc.collect()
        gc.freeze()


class QuietCollector:
    """No automatic full collection between :meth:`begin` and :meth:`end`."""

    def __init__(self) -> None:
        self._saved: tuple[int, int, int] | None = None

    def begin(self) -> None:
        with _lock:
            if self._saved is None:
                self._saved = gc.get_threshold()
                first, second, _ = self._saved
                gc.set_threshold(first, second, NEVER)

    def end(self) -> None:
        """Run the full collection that was held back, then restore the thresholds.

        Call it once the reply has been drawn (``call_after_refresh``): the
        pause (tens of milliseconds, docs/performance.md) then falls while the
        reader reads, and no automatic full collection is left due.
        """
        with _lock:
            if self._saved is None:
                return
            if gc.isenabled():
                gc.collect()
            gc.set_threshold(*self._saved)
            self._saved = None

"""What plugins print while they load, and how long their import takes: both told to the user by name.

Split from :mod:`assistant.plugins` (which calls these around every import and
registration hook) so that module keeps to loading and registering.
"""

from __future__ import annotations

import contextlib
import io
import sys
import threading
from typing import Any, Iterator


@contextlib.contextmanager
def plugin_output(printed: set[str], name: str) -> Iterator[None]:
    """What a plugin prints while it imports or registers: to stderr, made visible, each line naming it.

    Each line once per process: the registries run a hook again on every use, and a
    hook's one message came out as many times.

    Left alone, a ``print`` at a plugin's import went to stdout ahead of every
    command's output (``assistant tools --json`` was no longer JSON) and an ESC in it
    reached the terminal raw. Plugins are trusted code, but what they print is data;
    writes to the file descriptors themselves (C code) are not caught. A stream the plugin
    keeps from then on (a logging handler's) writes where it would have, once this ends.
    """
    from .terminal_text import LINE_END, visible_text

    captured = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace", write_through=True)
    # Held throughout: two threads swapping the streams at once (a --parallel batch asking for a
    # tool) could each restore the other's buffer, and every later line of output went into it.
    with _output_lock:
        saved = sys.stdout, sys.stderr
        me = threading.get_ident()
        # Only this thread's writes are the plugin's: another thread's progress line printed
        # meanwhile goes where it always goes, not out as "plugin 'x': …".
        routed = _ThreadRouted(saved[0], captured, me), _ThreadRouted(saved[1], captured, me)
        sys.stdout, sys.stderr = routed  # type: ignore[assignment]
        try:
            yield
        finally:
            sys.stdout, sys.stderr = saved
            for stream in routed:  # one a plugin kept (a logging handler made at import) writes on, uncaught
                stream.release()
            text = captured.buffer.getvalue().decode("utf-8", errors="replace")  # type: ignore[attr-defined]
            # A CRLF is a line end (docs/security.md, LINE_END), not a "␍" at the end of each line a plugin wrote
            # with one; nor is the CR CR LF of a plugin that writes "\r\n" through a stream that adds a CR.
            text = LINE_END.sub("\n", text)
            for line in text.rstrip("\n").split("\n") if text else ():
                shown = f"plugin {name!r}: {visible_text(line)}"
                if shown not in printed:
                    printed.add(shown)
                    print(shown, file=sys.stderr)


_output_lock = threading.RLock()


class _ThreadRouted:
    """A stream that sends one thread's writes to ``captured`` and every other thread's to ``original``,
    until :meth:`release`."""

    def __init__(self, original: Any, captured: Any, thread: int) -> None:
        self._original, self._captured = original, captured
        self._thread: int | None = thread

    def release(self) -> None:
        """Send every later write to ``original``: the capture is over.

        A plugin can keep the stream it found at import (``logging.StreamHandler()`` takes
        ``sys.stderr`` then, as does ``print(..., file=OUT)`` with ``OUT = sys.stdout``); still
        routed, everything it wrote through it later (a tool's log warning while it ran) went into
        the finished capture, which no one reads: lost without a word.
        """
        self._thread = None

    def _target(self) -> Any:
        mine = self._thread is not None and threading.get_ident() == self._thread
        return self._captured if mine else self._original

    def write(self, text: str) -> int:
        return self._target().write(text)

    def writelines(self, lines: Any) -> None:
        self._target().writelines(lines)

    def flush(self) -> None:
        self._target().flush()

    def fileno(self) -> int:
        """The real stream's descriptor, whichever thread asks.

        The capture has none (``io.BytesIO``), so a plugin calling ``faulthandler.enable()`` or
        ``os.isatty(sys.stdout.fileno())`` at import failed to load ("UnsupportedOperation: fileno")
        only because its output was being caught. Writes to a descriptor are not caught anyway (see
        :func:`plugin_output`): this one goes where it would have gone without the capture.
        """
        return int(self._original.fileno())

    def __getattr__(self, name: str) -> Any:  # encoding, isatty, buffer…: the thread's own stream's
        return getattr(self._target(), name)


SLOW_IMPORT_S = 1.0
"""A plugin whose import takes this long is named on every command: each one waits for it, and
without the name a slow ``assistant --help`` gave no clue which plugin to fix."""


@contextlib.contextmanager
def timed_import(slow: dict[str, float], name: str, *, first_party: bool = False) -> Iterator[None]:
    """Note ``name`` in ``slow`` when importing it takes :data:`SLOW_IMPORT_S` or more.

    The first-party plugins are not timed: their import time is the start-up
    benchmark's business (benchmarks/), and a loaded machine must not add a warning
    to every command.
    """
    import time

    if first_party:
        slow.pop(name, None)
        yield
        return
    start = time.monotonic()
    yield
    elapsed = time.monotonic() - start
    if elapsed >= SLOW_IMPORT_S:
        slow[name] = elapsed
    else:
        slow.pop(name, None)  # a slow plugin replaced by a quick one of the same name


def slow_import_note(seconds: float) -> str:
    """What is said of a plugin that is slow to import (on stderr, and in ``assistant plugins``)."""
    return (
        f"took {seconds:.1f} s to import, and every command waits for it: "
        "import heavy modules inside the functions that use them (docs/plugins.md)"
    )

"""The signals the chat app quits on as Ctrl+Q does, and the exit status a quit by one of them gives.

Textual-free. SIGHUP (the terminal closed, an ssh link dropped, ``tmux
kill-session``), SIGTERM (``kill``, a shutdown) and SIGINT (``kill -INT``; Ctrl+C
sends none, the terminal is in raw mode) ended the process on the spot: the message
being written was lost, and the settings the next chat starts with too. The app
quits the way Ctrl+Q does instead (see ``ChatApp``), and then exits as a program
ended by that signal does, ``128 + N`` (143 for SIGTERM, 129 for SIGHUP), so a
shell, a service manager or a script can tell a kill from a quit.

Three stages, because the event loop that reads the app's signals only runs while the
app does: :meth:`QuitSignals.catch` records a signal that arrives before (while
Textual starts, the screen is built and the kept draft is put back),
:meth:`QuitSignals.hand_to` lets the loop handle the rest, so the quit runs on the
UI thread with the message box still there to read, and :meth:`QuitSignals.hold`
records them again once the app has closed, until :meth:`QuitSignals.release` after
the shutdown: a second ``kill`` (or the terminal closing after one) while the model
was unloaded and the settings saved ended the process the default way, before the
save, and with the second signal's status.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any, Callable

QUIT_SIGNALS = ("SIGHUP", "SIGTERM", "SIGINT")
"""The signals the app quits on (Windows has no SIGHUP)."""


def _numbers() -> list[int]:
    return [number for name in QUIT_SIGNALS if (number := getattr(signal, name, None)) is not None]


class QuitSignals:
    """The quit signals' handlers while the app runs, the handlers they had before, and the first one received."""

    def __init__(self) -> None:
        self.received: int | None = None
        """The first quit signal that arrived (None: none did)."""
        self._previous: dict[int, Any] = {}
        """The handlers the signals had before they were caught (given back by :meth:`release`)."""
        self._loop: Any = None
        """The event loop handling them (see :meth:`hand_to`), or None."""

    @property
    def exit_status(self) -> int | None:
        """``128 + N`` after signal N made the app quit, as the shell reports a program killed by it; else None."""
        return None if self.received is None else 128 + self.received

    def _record(self, number: int, frame: FrameType | None = None) -> None:
        if self.received is None:
            self.received = number

    def catch(self) -> None:
        """Record the quit signals from now on, before the app's event loop runs (main thread only).

        A signal then is kept, not acted on: nothing typed exists yet, and the app quits
        as soon as its screen is up (with the draft it put back in the box kept again).
        """
        if threading.current_thread() is not threading.main_thread():
            return
        for number in _numbers():
            if number in self._previous:
                continue
            try:
                self._previous[number] = signal.signal(number, self._record)
            except (OSError, ValueError):  # a signal this platform does not let a program catch
                continue

    def hand_to(self, loop: Any, quit_app: Callable[[], object]) -> None:
        """The running event loop handles the quit signals from now on: each records itself and calls ``quit_app``.

        Only where asyncio can (a Unix event loop, the main thread); elsewhere the handlers
        of :meth:`catch`, if any, stay and the signal is only recorded.
        """

        def on_signal(number: int) -> None:
            self._record(number)
            quit_app()

        for number in _numbers():
            current = signal.getsignal(number)
            try:
                loop.add_signal_handler(number, on_signal, number)
            except (NotImplementedError, RuntimeError, ValueError):  # no Unix loop, or not the main thread
                continue
            self._loop = loop
            if number not in self._previous or current != self._record:
                # Not caught before (catch), or its handler replaced since: the one found is given back.
                self._previous[number] = current

    def hold(self) -> None:
        """Record the quit signals only, from now until :meth:`release`: the app has closed, the process shuts down.

        The loop's handlers are taken back first (asyncio puts the default one back as it
        does, and so does closing the loop), under a blocked signal mask, so no signal in
        between is fatal: one that comes then waits and is recorded. Nothing quits on a
        signal any more; the first one decides the exit status (:attr:`exit_status`).
        """
        if threading.current_thread() is not threading.main_thread():
            return
        numbers = list(self._previous) or _numbers()
        block = getattr(signal, "pthread_sigmask", None)
        mask = block(signal.SIG_BLOCK, numbers) if block is not None else None
        try:
            if self._loop is not None:
                for number in numbers:
                    try:
                        self._loop.remove_signal_handler(number)
                    except (RuntimeError, ValueError):  # the loop is closed: its handler went with it
                        pass
                self._loop = None
            for number in numbers:
                try:
                    current = signal.signal(number, self._record)
                except (OSError, ValueError):  # a signal this platform does not let a program catch
                    continue
                self._previous.setdefault(number, current)
        finally:
            if block is not None and mask is not None:
                block(signal.SIG_SETMASK, mask)  # a signal held back meanwhile is recorded now

    def release(self) -> None:
        """Give every quit signal back the handler it had before it was caught (idempotent)."""
        for number, previous in self._previous.items():
            if self._loop is not None:
                try:
                    self._loop.remove_signal_handler(number)
                except (RuntimeError, ValueError):  # the loop is closed: its handler went with it
                    pass
            try:
                signal.signal(number, previous if previous is not None else signal.SIG_DFL)
            except (OSError, ValueError):  # not the main thread: nothing of ours can be left there either
                pass
        self._previous.clear()
        self._loop = None

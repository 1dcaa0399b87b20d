"""Bracketed paste that stays whole: the terminal input parser of the chat app.

A terminal in bracketed-paste mode sends a paste as ``ESC[200~`` text
``ESC[201~``. Textual's ``XTermParser`` collects that text one character at a
time, but an escape sequence *inside* the paste (pasted terminal output,
``line1 \\e[31mERR\\e[0m``) sends it into its escape-sequence matcher, which
swallows the following characters and re-issues them as key presses — so a
newline after it becomes Enter (the message is sent half-written), and the
rest arrives reordered or lost (issue #20).

:class:`PasteSafeParser` cuts bracketed pastes out of the byte stream *before*
the key parser sees them and emits each as one ``events.Paste`` with the exact
text; everything outside a paste goes to Textual's parser unchanged. A marker
split across two reads is held back until the rest arrives (at most one tick
of the input loop, so a lone Esc key press is not delayed noticeably).
:class:`PasteSafeLinuxDriver` runs the chat app's input through it.
"""

from __future__ import annotations

import codecs
import time
from functools import partial
from typing import Callable, Iterable

from textual import constants, events
from textual._xterm_parser import XTermParser  # textual has no public parser API
from textual.drivers.linux_driver import LinuxDriver
from textual.message import Message

PASTE_START = "\x1b[200~"
PASTE_END = "\x1b[201~"


def _partial_marker(text: str, marker: str) -> int:
    """Length of the longest proper prefix of ``marker`` that ``text`` ends with (0 if none)."""
    for size in range(min(len(marker) - 1, len(text)), 0, -1):
        if text.endswith(marker[:size]):
            return size
    return 0


class PasteSafeParser(XTermParser):
    """``XTermParser`` that handles bracketed pastes itself, as whole ``Paste`` events."""

    def __init__(self, debug: bool = False) -> None:
        super().__init__(debug)
        self._paste: list[str] | None = None  # the paste being received, between its markers
        self._held = ""  # a possibly split marker, waiting for the next read
        self._held_since = 0.0

    def feed(self, data: str) -> Iterable[Message]:
        if not data:  # end of input: whatever was held back is input too
            held, self._held = self._held, ""
            if self._paste is not None:
                yield events.Paste("".join(self._paste) + held)
                self._paste = None
            elif held:
                yield from super().feed(held)
            yield from super().feed("")
            return
        text, self._held = self._held + data, ""
        while text:
            if self._paste is None:
                start = text.find(PASTE_START)
                if start == -1:
                    keep = _partial_marker(text, PASTE_START)
                    before, self._held = text[: len(text) - keep], text[len(text) - keep :]
                    if self._held:
                        self._held_since = time.monotonic()
                    if before:
                        yield from super().feed(before)
                    return
                if start:
                    yield from super().feed(text[:start])
                self._paste = []
                text = text[start + len(PASTE_START) :]
            else:
                end = text.find(PASTE_END)
                if end == -1:
                    keep = _partial_marker(text, PASTE_END)
                    self._paste.append(text[: len(text) - keep])
                    self._held = text[len(text) - keep :]
                    return
                self._paste.append(text[:end])
                # NUL ends strings in some terminals' clipboards; Textual drops it too.
                yield events.Paste("".join(self._paste).replace("\x00", ""))
                self._paste = None
                text = text[end + len(PASTE_END) :]

    def tick(self) -> Iterable[Message]:
        """Release a held-back start marker prefix that no more input completed (a lone Esc key)."""
        if self._held and self._paste is None and time.monotonic() - self._held_since >= constants.ESCAPE_DELAY / 2:
            held, self._held = self._held, ""
            yield from super().feed(held)
        yield from super().tick()


def lenient_decoder(encoding: str) -> Callable[[], codecs.IncrementalDecoder]:
    """The terminal input's incremental decoder, reading a byte that is not ``encoding`` as U+FFFD.

    Textual decodes its input strictly: a paste of binary data, or an 8-bit Alt key (``\\xe9``
    from a terminal in Latin-1), raised UnicodeDecodeError in the input thread, and the app
    ended with a traceback, the message being written lost.
    """
    return partial(codecs.getincrementaldecoder(encoding), errors="replace")


class PasteSafeLinuxDriver(LinuxDriver):
    """Textual's Linux/macOS driver, reading input through :class:`PasteSafeParser`.

    ``LinuxDriver.run_input_thread`` builds its parser from the module-level name
    ``XTermParser`` (and its decoder from ``getincrementaldecoder``); pointing those
    names at this module's is the one hook Textual offers. Only the chat app's
    process runs a Textual driver, so this is safe.
    """

    def run_input_thread(self) -> None:
        from textual.drivers import linux_driver

        linux_driver.XTermParser = PasteSafeParser  # type: ignore[misc]
        linux_driver.getincrementaldecoder = lenient_decoder  # type: ignore[attr-defined]
        super().run_input_thread()

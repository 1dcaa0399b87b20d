"""Hand-off of streamed text from the generation thread to the UI thread.

The generation thread must never wait for the screen: posting one Textual
message per token would queue thousands of messages at fast token rates, and
``call_from_thread`` would block the model on every token. Instead the thread
appends to this buffer and wakes the UI only when the buffer goes from empty to
non-empty; the UI drains everything that arrived since. Under load the UI
therefore does one Markdown append per frame, whatever the token rate.
"""

from __future__ import annotations

import threading


class ReplyBuffer:
    """A lock-protected list of text pieces with "was it empty?" signalling."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._lock = threading.Lock()
        self.pieces_in = 0

    def push(self, text: str) -> bool:
        """Add ``text``; True when the consumer should be woken (the buffer was empty)."""
        with self._lock:
            was_empty = not self._parts
            self._parts.append(text)
            self.pieces_in += 1
            return was_empty

    def drain(self) -> str:
        """Everything pushed since the last drain, in order."""
        with self._lock:
            text = "".join(self._parts)
            self._parts.clear()
            return text

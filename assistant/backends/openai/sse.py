"""A small incremental decoder for Server-Sent Events (the WHATWG event-stream format).

OpenAI-compatible servers stream replies as SSE. Parsing it ourselves keeps the
remote backend free of an SSE dependency and lets us be strict where it matters:
bytes arrive in arbitrary pieces (a UTF-8 character or a ``\\r\\n`` pair can be
split between two network reads), so the decoder buffers until a line is
complete and only emits an event at the blank line that ends it. An event cut
off by the end of the stream is never emitted; the caller sees that the stream
ended early and reports it instead of acting on half a message.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass


@dataclass(frozen=True)
class SSEEvent:
    """One dispatched event: its type (``message`` unless the server said otherwise) and data."""

    data: str
    event: str = "message"
    id: str | None = None


class SSEDecoder:
    """Feed raw bytes, get complete events. One decoder per response stream."""

    def __init__(self) -> None:
        self._text = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._unended: list[str] = []
        """Pieces after ``_buffer`` that hold no line end: a long line (a 20 MB event) arrives in
        thousands of reads, and adding each one to ``_buffer`` and searching it again took time
        growing with the square of the line's length."""
        self._unended_size = 0
        self._data: list[str] = []
        self._data_size = 0
        self._event = ""
        self._id: str | None = None
        self._started = False
        self._pending_cr = False
        self.foreign: str | None = None
        """The first line that is neither an SSE field nor a comment ("Internal Server Error"):
        a body that holds one and no event was never an event stream."""

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Decode ``chunk`` and return every event it completes (possibly none)."""
        return self._consume(self._text.decode(chunk))

    def close(self) -> None:
        """End of stream: an event without its closing blank line is dropped, per the spec."""
        self._consume(self._text.decode(b"", final=True))
        self._join()
        if self._buffer.strip():
            self._note_foreign(self._buffer)  # a last line without its line break

    @property
    def has_partial_event(self) -> bool:
        """True when the stream stopped inside an event (data received, no blank line yet)."""
        self._join()
        return bool(self._data or self._buffer.strip())

    @property
    def pending_size(self) -> int:
        """Characters held for an event not complete yet: what a caller bounds, since a server that
        sends one endless line (no line break, ever) would otherwise be held in memory whole."""
        return self._unended_size + len(self._buffer) + self._data_size

    def _join(self) -> None:
        if self._unended:
            self._buffer += "".join(self._unended)
            self._unended = []
            self._unended_size = 0

    def _consume(self, text: str) -> list[SSEEvent]:
        if not self._started and text:
            self._started = True
            text = text.removeprefix("\ufeff")
        if self._pending_cr and text.startswith("\n"):
            text = text[1:]  # the \n of a \r\n pair split across two reads
        self._pending_cr = False
        if "\n" not in text and "\r" not in text:
            if text:
                self._unended.append(text)
                self._unended_size += len(text)
            return []
        self._join()
        buffer = self._buffer + text
        events: list[SSEEvent] = []
        start = 0  # lines are read by position: cutting each off the buffer copied the rest every time
        while True:
            cut = _line_end(buffer, start)
            if cut is None:
                break
            index, width = cut
            line = buffer[start:index]
            if width == 1 and buffer[index] == "\r" and index + 1 == len(buffer):
                self._pending_cr = True  # maybe the first half of \r\n
            start = index + width
            event = self._line(line)
            if event is not None:
                events.append(event)
        self._buffer = buffer[start:]
        return events

    def _line(self, line: str) -> SSEEvent | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None  # comment (servers send ": ping" keep-alives)
        field, colon, value = line.partition(":")
        self._note_foreign(line)
        if colon and value.startswith(" "):
            value = value[1:]
        if field == "data":
            self._data.append(value)
            self._data_size += len(value)
        elif field == "error":
            # Outside the spec: llama.cpp's server streams a failure as "error: {json}" (then
            # "data: [DONE]"); ignored like any unknown field, its message was lost.
            self._event = "error"
            self._data.append(value)
            self._data_size += len(value)
        elif field == "event":
            self._event = value
        elif field == "id" and "\0" not in value:
            self._id = value
        # "retry" and unknown fields are ignored, as the spec says.
        return None

    def _note_foreign(self, line: str) -> None:
        if self.foreign is None and line.partition(":")[0] not in _FIELDS and not line.startswith(":"):
            self.foreign = line

    def _dispatch(self) -> SSEEvent | None:
        data = "\n".join(self._data)
        event_type = self._event or "message"
        self._data = []
        self._data_size = 0
        self._event = ""
        if not data:  # the spec dispatches nothing for an empty data buffer
            return None
        return SSEEvent(data=data, event=event_type, id=self._id)


_FIELDS = frozenset({"data", "event", "id", "retry", "error"})


def _line_end(buffer: str, start: int = 0) -> tuple[int, int] | None:
    """Position and width of the first line terminator (\\r\\n, \\n or \\r) in ``buffer`` from ``start``."""
    newline = buffer.find("\n", start)
    carriage = buffer.find("\r", start, newline if newline != -1 else len(buffer))
    if carriage != -1:
        return carriage, 2 if carriage + 1 == newline else 1
    if newline != -1:
        return newline, 1
    return None

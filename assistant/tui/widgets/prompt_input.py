"""The message box: multi-line, Enter sends, with shell-like history on Up/Down."""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import TextArea

from ..text import as_typed


class InputHistory:
    """Previously sent entries, browsed like a shell's history.

    Browsing starts below the newest entry; the text being written when
    browsing started is kept as the "draft" and comes back after the newest.
    """

    def __init__(self, entries: list[str] | None = None, limit: int = 500) -> None:
        self.entries: list[str] = list(entries or [])[-limit:]
        self.limit = limit
        self._index: int | None = None
        self._draft = ""

    def add(self, entry: str) -> None:
        if entry.strip() and (not self.entries or self.entries[-1] != entry):
            self.entries.append(entry)
            del self.entries[: -self.limit]
        self._index = None

    def previous(self, current: str) -> str | None:
        """The entry before the one shown, or None at the oldest."""
        if not self.entries:
            return None
        if self._index is None:
            self._draft = current
            self._index = len(self.entries)
        if self._index == 0:
            return None
        self._index -= 1
        return self.entries[self._index]

    def next(self) -> str | None:
        """The entry after the one shown (the draft after the newest), or None when not browsing."""
        if self._index is None:
            return None
        self._index += 1
        if self._index >= len(self.entries):
            self._index = None
            return self._draft
        return self.entries[self._index]

    @property
    def browsing(self) -> bool:
        return self._index is not None


class PromptInput(TextArea):
    """Enter sends; Shift+Enter or Ctrl+J inserts a newline; Up/Down at the edges browse history.

    PageUp / PageDown scroll the conversation rather than move the cursor by
    a page of a box that is at most ten lines high.
    """

    BINDINGS = [
        Binding("pageup", "screen.scroll_conversation(-1)", "Scroll up", show=False),
        Binding("pagedown", "screen.scroll_conversation(1)", "Scroll down", show=False),
    ]

    DEFAULT_CSS = """
    PromptInput { height: auto; max-height: 10; min-height: 3; border: round $primary 60%; padding: 0 1; }
    PromptInput:focus { border: round $primary; }
    """

    @dataclass
    class Submitted(Message):
        """The user pressed Enter with this text in the box."""

        input: "PromptInput"
        text: str

        @property
        def control(self) -> "PromptInput":
            return self.input

    PLACEHOLDERS = (
        "Message (Enter to send, Shift+Enter/Ctrl+J for a newline, / for tools)",
        "Message (Enter sends, Ctrl+J newline, / tools)",
        "Message (Enter sends)",
        "Message",
    )
    """From the longest: the first that fits the box is shown (a placeholder is cut, never wrapped)."""

    def __init__(self, history: InputHistory | None = None, **kwargs: object) -> None:
        self._fitted_placeholder = "placeholder" not in kwargs
        kwargs.setdefault("placeholder", self.PLACEHOLDERS[0])
        kwargs.setdefault("soft_wrap", True)
        kwargs.setdefault("show_line_numbers", False)
        kwargs.setdefault("highlight_cursor_line", False)
        kwargs.setdefault("compact", False)
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.sent_history = history or InputHistory()

    def on_resize(self) -> None:
        """On a narrow screen the hint is said shorter: cut, "… Shift+Enter/Ctrl+J for a" hid how to add a line."""
        if self._fitted_placeholder:
            width = self.content_size.width - 1  # the cursor's cell
            self.placeholder = next(
                (text for text in self.PLACEHOLDERS if len(text) <= width), self.PLACEHOLDERS[-1]
            )

    def show_message(self, text: str) -> None:
        """Put a message sent before (recalled with Up, or to edit) in the box, cursor at its end.

        A message from the history (another program's, an ``assistant prompt`` run) may hold an
        ESC: drawn as is, it restyled the terminal and left garbage on the screen. It is shown
        as a paste would be (:func:`~assistant.tui.text.as_typed`), and sent as shown.
        """
        self.load_text(as_typed(text))
        self.move_cursor(self.document.end)

    @property
    def cursor_on_first_row(self) -> bool:
        """The cursor is on the box's first row as drawn, not just its first line.

        A long message is one line wrapped over several rows: Up on its third row replaced the
        box with the previous message instead of moving the cursor up a row.
        """
        return self.navigator.is_first_wrapped_line(self.selection.end)

    @property
    def cursor_on_last_row(self) -> bool:
        """The cursor is on the box's last row as drawn (see :attr:`cursor_on_first_row`)."""
        return self.navigator.is_last_wrapped_line(self.selection.end)

    async def _on_key(self, event: events.Key) -> None:
        key = event.key
        if key == "enter":
            event.stop()
            event.prevent_default()
            self.submit()
            return
        if key in ("shift+enter", "ctrl+j", "newline"):
            event.stop()
            event.prevent_default()
            start, end = self.selection
            self._replace_via_keyboard("\n", start, end)
            return
        if key == "ctrl+d" and not self.text:
            # Ctrl+D on an empty box quits, as in a shell; with text it deletes to the right as usual.
            event.stop()
            event.prevent_default()
            self.app.exit()
            return
        if key == "up" and self.cursor_on_first_row:
            entry = self.sent_history.previous(self.text)
            if entry is not None:
                event.stop()
                event.prevent_default()
                self.show_message(entry)
                return
        if key == "down" and self.cursor_on_last_row and self.sent_history.browsing:
            entry = self.sent_history.next()
            if entry is not None:
                event.stop()
                event.prevent_default()
                self.show_message(entry)
                return
        await super()._on_key(event)

    async def _on_paste(self, event: events.Paste) -> None:
        """Insert a paste whole, at the cursor, and never send it.

        Pasted text is data: it is made what a box may hold (:func:`~assistant.tui.text.as_typed`:
        line ends normalised, ESC shown as ``␛``, bidi marks dropped), so pasted terminal
        output cannot smuggle escape sequences into the message or the screen.
        """
        event.stop()
        event.prevent_default()
        if self.read_only:
            return
        if result := self._replace_via_keyboard(as_typed(event.text), *self.selection):
            self.move_cursor(result.end_location)
        self.focus()

    def put_aside_draft(self) -> None:
        """Empty the box, keeping what was typed in the input history (Up brings it back)."""
        if self.text.strip():
            self.sent_history.add(self.text)
        self.clear()

    def submit(self) -> None:
        text = self.text
        if not text.strip():
            return
        self.sent_history.add(text)
        self.clear()
        self.post_message(self.Submitted(self, text))

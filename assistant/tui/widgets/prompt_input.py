"""The message box: multi-line, Enter sends, with shell-like history on Up/Down."""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import TextArea

from ..text import as_typed
from .key_order import OwnBindingsFirst


class InputHistory:
    """Previously sent entries, browsed like a shell's history, and the texts put aside unsent.

    Browsing starts below the newest entry; the text being written when
    browsing started is kept as the "draft" and comes back after the newest.
    An entry changed in the box and left (Up, Down) comes back changed, as in
    readline. Nothing written is lost here: a draft or a changed entry left
    behind when a message is sent is put aside (:meth:`park`), and
    :meth:`unsent` is what quitting keeps as the conversation's draft (a draft
    parked by Up was lost on quit, the recalled message kept in its place).
    """

    def __init__(self, entries: list[str] | None = None, limit: int = 500) -> None:
        self.entries: list[str] = list(entries or [])[-limit:]
        self.limit = limit
        self.parked: list[str] = []
        """Texts put aside unsent, oldest first (also in ``entries``: Up brings them back)."""
        self._sent: set[str] = {*self.entries, *map(as_typed, self.entries)}
        """The texts sent: an entry may be a parked one, or one parked and brought back into the box."""
        self._index: int | None = None
        self._draft = ""
        self._changed: dict[int, str] = {}
        """Entries changed in the box and left, by index: shown changed until browsing settles."""

    def add(self, entry: str) -> None:
        """``entry`` was sent (or was sent before this session): the newest entry, no longer unsent."""
        self._settle(keep=entry)
        if entry in self.parked:
            self.parked.remove(entry)
        if entry.strip():
            self._sent.update((entry, as_typed(entry)))  # the box shows a recalled one as typed (ESC as ␛)
        self._append(entry)

    def take_back(self, text: str) -> None:
        """``text``, parked, is in the message box again: the box's text now, counted there once."""
        if text in self.parked:
            self.parked.remove(text)

    def refuse(self, text: str) -> None:
        """``text``, taken by Enter and so recorded as sent, was not sent after all (it is unsent)."""
        self._sent.discard(text)
        self._sent.discard(as_typed(text))

    def park(self, text: str) -> None:
        """Put ``text`` aside unsent: Up brings it back, and :meth:`unsent` keeps it."""
        if not text.strip():
            return
        self._settle(keep=text)
        self._park_one(text)

    def _park_one(self, text: str) -> None:
        if text in self.parked:
            self.parked.remove(text)  # once, where it was parked last
        self.parked.append(text)
        self._append(text)

    def _append(self, entry: str) -> None:
        if entry.strip() and (not self.entries or self.entries[-1] != entry):
            self.entries.append(entry)
            del self.entries[: -self.limit]

    def _settle(self, keep: str) -> None:
        """Browsing ends (a text sent or parked): the draft and changed entries left behind are parked.

        Indices change from here on, so a change cannot stay on its entry; ``keep`` (the text
        being sent or parked now) is not parked twice.
        """
        leftovers = ([self._draft] if self._index is not None else []) + self._changes_left()
        self._index, self._draft, self._changed = None, "", {}
        for text in leftovers:
            if text.strip() and text != keep and not self.was_sent(text):
                self._park_one(text)

    def was_sent(self, text: str) -> bool:
        """``text`` is a message sent (here or, recalled from the history, before): nothing of it is lost."""
        return text in self._sent

    def _changes_left(self) -> list[str]:
        """The changed entries, but the one shown: the box holds it, as changed since."""
        return [text for index, text in self._changed.items() if index != self._index]

    def _shown(self, index: int) -> str:
        return self._changed.get(index, self.entries[index])

    def leave(self, current: str) -> None:
        """The box holds ``current`` as Up or Down leaves the entry shown: a change made to it is kept
        with it (see :meth:`unsent`). Nothing when no entry is shown."""
        index = self._index
        if index is None or index >= len(self.entries):
            return
        if current not in (self.entries[index], as_typed(self.entries[index])):
            self._changed[index] = current
        else:
            self._changed.pop(index, None)

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
        return self._shown(self._index)

    def next(self) -> str | None:
        """The entry after the one shown (the draft after the newest), or None when not browsing."""
        if self._index is None:
            return None
        self._index += 1
        if self._index >= len(self.entries):
            self._index = None
            return self._draft
        return self._shown(self._index)

    @property
    def browsing(self) -> bool:
        return self._index is not None

    def unsent(self, current: str) -> list[str]:
        """Every text written and not sent, each once, oldest first; ``current`` is the box's text.

        The texts parked, the draft set aside by browsing, entries changed and left, and the
        box's text, unless it is a message sent (one recalled with Up, unchanged).
        """
        texts = [*self.parked, *([self._draft] if self._index is not None else []),
                 *self._changes_left(), current]  # fmt: skip
        return [
            text for text in dict.fromkeys(texts)
            if text.strip() and (text in self.parked or not self.was_sent(text))
        ]


class PromptInput(OwnBindingsFirst, TextArea):
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
            self.sent_history.leave(self.text)
            entry = self.sent_history.previous(self.text)
            if entry is not None:
                event.stop()
                event.prevent_default()
                self.show_message(entry)
                return
        if key == "down" and self.cursor_on_last_row and self.sent_history.browsing:
            self.sent_history.leave(self.text)
            entry = self.sent_history.next()
            if entry is not None:
                event.stop()
                event.prevent_default()
                self.show_message(entry)
                return
        await super()._on_key(event)  # the box's own bindings first: see OwnBindingsFirst

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
        """Empty the box, keeping what was typed in the input history (Up brings it back).

        Parked, not recorded as sent: quitting keeps it (see :meth:`unsent`). A message recalled
        with Up and left unchanged is no draft, and the draft browsing set aside is parked too.
        """
        for text in self.unsent():
            self.sent_history.park(text)
        self.clear()

    def unsent(self) -> list[str]:
        """What was written here and not sent (the box's text included): see :meth:`InputHistory.unsent`."""
        return self.sent_history.unsent(self.text)

    def bring_back(self, text: str) -> None:
        """Put ``text`` (parked, refused) back in the box, cursor at its end: it is the box's now."""
        self.sent_history.take_back(text)
        self.load_text(text)
        self.move_cursor(self.document.end)

    def submit(self) -> None:
        text = self.text
        if not text.strip():
            return
        self.sent_history.add(text)
        self.clear()
        self.post_message(self.Submitted(self, text))

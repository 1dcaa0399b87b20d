"""The conversations sidebar: a search box over the history and the list of conversations.

It owns listing, searching (as you type) and renaming; opening and deleting
change what the chat screen shows, so it asks the screen with a message.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from ...errors import AssistantError
from ..conversations import ConversationLibrary, ConversationRow
from ..text import as_typed, shorten, visible_text
from .key_order import LineInput

ROW_WIDTH = 27
"""Characters of a title or detail line that fit beside the marker in the sidebar."""
SEARCH_DELAY = 0.25
"""Seconds of no typing before the search runs."""


MATCH_STYLE = "bold reverse"
"""How a search's matches stand out in a hit's snippet (brackets could be the text's own)."""


def marked_line(detail: str, found: tuple[tuple[int, int], ...], width: int) -> Text:
    """``detail`` as one dim line of at most ``width`` cells, the ``found`` spans in :data:`MATCH_STYLE`.

    Each part made visible on its own (control characters as symbols), so the spans stay on
    their words; cut as :func:`shorten` cuts the whole line. A first match past the row's end
    brings the line's start forward to a few words before it (after a ``…``): the snippet holds
    a dozen words and the row shows four or five, so the match it was found by was often cut off.
    """
    line = Text(style="dim")
    last = 0
    first: tuple[int, int] | None = None
    for start, end in found:
        line.append(visible_text(detail[last:start]))
        begin = len(line.plain)
        line.append(visible_text(detail[start:end]), style=MATCH_STYLE)
        first = first or (begin, len(line.plain))
        last = end
    line.append(visible_text(detail[last:]))
    if first is not None and cell_len(line.plain[: first[1]]) > width - 1:
        space = line.plain.rfind(" ", 0, max(first[0] - 1, 0))
        lead = max(line.plain.rfind(" ", 0, space), 0) + 1 if space > 0 else first[0]  # a word or two before
        if cell_len(line.plain[lead : first[1]]) > width - 2:  # long words before it: the match first
            lead = first[0]
        line = Text("…", style="dim") + line[lead:]
    short = shorten(line.plain, width)
    if short == line.plain:
        return line
    if not (short.endswith("…") and line.plain.startswith(short[:-1])):  # not only cut: no styles to keep
        return Text(short, style="dim")
    cut = line[: len(short) - 1]
    cut.append("…")
    return cut


def back_to_message_box(widget: Widget) -> None:
    """Esc in the sidebar: focus goes back to where the user types (Tab would walk every message first)."""
    box = getattr(widget.screen, "prompt_input", None)
    if isinstance(box, Widget):
        box.focus()


def esc_leaves(widget: Widget) -> bool:
    """Whether Esc in the sidebar goes back to the message box: not while a reply is written.

    Then Esc stops the reply, as everywhere else on the chat screen (the footer says so);
    the sidebar's own Esc took it first, and a user searching while the model wrote had to
    press it twice, the first press seeming to do nothing.
    """
    return not getattr(widget.screen, "generating", False)


class ConversationList(OptionList):
    """Enter opens, r renames, Delete deletes, Esc goes back to the message box."""

    BINDINGS = [
        Binding("r", "rename", "Rename"),
        Binding("delete,d", "delete", "Delete"),
        Binding("escape", "leave", "Back", show=False),
    ]

    def action_leave(self) -> None:
        back_to_message_box(self)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return esc_leaves(self) if action == "leave" else super().check_action(action, parameters)

    def selected_id(self) -> int | None:
        if self.highlighted is None:
            return None
        option_id = self.get_option_at_index(self.highlighted).id
        return int(option_id) if option_id is not None else None

    def action_rename(self) -> None:
        conversation_id = self.selected_id()
        if conversation_id is not None:
            self.post_message(Sidebar.RenameRequested(conversation_id))

    def action_delete(self) -> None:
        conversation_id = self.selected_id()
        if conversation_id is not None:
            self.post_message(Sidebar.DeleteRequested(conversation_id))


class SearchBox(LineInput):
    """The search input; Down moves to the results (where r, Delete and Enter act), as Enter does; Esc leaves."""

    BINDINGS = [
        Binding("down", "to_results", "Results", show=False),
        Binding("escape", "leave", "Back", show=False),
    ]

    def action_leave(self) -> None:
        back_to_message_box(self)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return esc_leaves(self) if action == "leave" else super().check_action(action, parameters)

    @staticmethod
    def as_pasted(text: str) -> str:
        """A paste into the search, as the app takes it in (:meth:`..app.ChatApp.on_event`): its words,
        escape sequences dropped as the history's search reads a query
        (:func:`~assistant.history.stored_text.search_words`), not shown as ``␛[31m``: a coloured word
        pasted found nothing, where ``history search`` found it."""
        from ...history.stored_text import search_words

        return as_typed(search_words(text))

    def action_to_results(self) -> None:
        sidebar = self.parent
        if isinstance(sidebar, Sidebar):
            sidebar.go_to_results()


class Sidebar(Vertical):
    """Search box + conversations, newest first (or best search hits first)."""

    DEFAULT_CSS = """
    Sidebar { width: 34; height: 1fr; border-right: vkey $panel-lighten-2; padding: 0 0 0 1; }
    Sidebar.-hidden { display: none; }
    Sidebar > Input { margin: 0 1 1 0; }
    Sidebar > ConversationList { height: 1fr; border: none; padding: 0; background: transparent; }
    Sidebar > .note { color: $text-muted; height: auto; padding: 0 1 0 0; }
    """

    @dataclass
    class Opened(Message):
        conversation_id: int

    @dataclass
    class RenameRequested(Message):
        conversation_id: int

    @dataclass
    class DeleteRequested(Message):
        conversation_id: int

    def __init__(self, library: ConversationLibrary, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.library = library
        self.current_id: int | None = None
        self._search_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield SearchBox(placeholder="Search conversations", id="search", compact=True)
        if not self.library.available:
            yield Static(Text("History is off for this session (--no-log)."), classes="note")
        yield ConversationList(id="conversations")

    @property
    def search_box(self) -> Input:
        return self.query_one("#search", Input)

    @property
    def list_view(self) -> ConversationList:
        return self.query_one(ConversationList)

    # ---- contents -----------------------------------------------------------------
    def refresh_rows(self) -> None:
        """Re-read the list (or the search results) from the history."""
        self._search_timer = None  # this is the search it was waiting to run, if any
        query = self.search_box.value
        try:
            rows = self.library.search(query) if query.strip() else self.library.recent()
        except AssistantError as exc:
            self.notify(str(exc), title="History", severity="error")
            # Not the last search's rows under a query they do not match (Enter opened one of them).
            self.show_rows([], query, failed=True)
            return
        self.show_rows(rows, query)

    def show_rows(self, rows: list[ConversationRow], query: str = "", failed: bool = False) -> None:
        """Replace the list, keeping the open conversation marked and highlighted.

        A search that found nothing says so: an empty list looked like a search still running,
        or one that had not understood the words. ``failed``: the search could not run (the
        notification says why).
        """
        listing = self.list_view
        options = []
        if not rows and query.strip() and self.library.available:  # history off: its own note says so
            note = Text(no_wrap=True, overflow="ellipsis", style="dim italic")
            what = "The search could not run" if failed else "No conversation matches"
            note.append(f"  {what}\n  {shorten(visible_text(query), ROW_WIDTH)}")
            options.append(Option(note, disabled=True))
        highlight = None
        for index, row in enumerate(rows):
            is_current = row.id == self.current_id
            prompt = Text(no_wrap=True, overflow="ellipsis")
            prompt.append("▶ " if is_current else "  ", style="bold")
            prompt.append(shorten(visible_text(row.title), ROW_WIDTH), style="bold" if is_current else "")
            prompt.append("\n  ")
            prompt.append_text(marked_line(row.detail, row.found, ROW_WIDTH))
            options.append(Option(prompt, id=str(row.id)))
            if is_current:
                highlight = index
        listing.set_options(options)
        if rows:
            listing.highlighted = highlight if highlight is not None else 0

    # ---- events -------------------------------------------------------------------
    @on(Input.Changed, "#search")
    def _search_changed(self, event: Input.Changed) -> None:
        event.stop()
        if self._search_timer is not None:
            self._search_timer.stop()
        self._search_timer = self.set_timer(SEARCH_DELAY, self.refresh_rows)

    @on(Input.Submitted, "#search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.go_to_results()

    def go_to_results(self) -> None:
        """Run a search still waiting for the typing to pause, then focus its results."""
        if self._search_timer is not None:
            self._search_timer.stop()
            self.refresh_rows()
        self.list_view.focus()

    @on(OptionList.OptionSelected, "#conversations")
    def _open(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self.post_message(self.Opened(int(event.option.id)))

    @on(RenameRequested)
    def _rename(self, event: RenameRequested) -> None:
        from ..screens.dialogs import AskText

        event.stop()
        conversation_id = event.conversation_id
        try:
            current = self.library.title(conversation_id)
        except AssistantError as exc:
            self.notify(str(exc), severity="error")
            return

        def done(title: str | None) -> None:
            if title is None:
                return
            try:
                self.library.rename(conversation_id, title)
            except AssistantError as exc:
                self.notify(str(exc), title="Rename", severity="error")
                return
            self.refresh_rows()

        self.app.push_screen(AskText("Rename conversation", current), done)

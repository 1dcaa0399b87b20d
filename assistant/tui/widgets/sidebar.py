"""The conversations sidebar: a search box over the history and the list of conversations."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from ..conversations import ConversationRow
from ..text import shorten, visible_text

ROW_WIDTH = 27
"""Characters of a title or detail line that fit beside the marker in the sidebar."""


class ConversationList(OptionList):
    """Enter opens, r renames, Delete deletes (the screen does the work)."""

    BINDINGS = [
        Binding("r", "rename", "Rename"),
        Binding("delete,d", "delete", "Delete"),
    ]

    @dataclass
    class Action(Message):
        action: str  # "rename" | "delete"
        conversation_id: int

    def selected_id(self) -> int | None:
        if self.highlighted is None:
            return None
        option_id = self.get_option_at_index(self.highlighted).id
        return int(option_id) if option_id is not None else None

    def action_rename(self) -> None:
        conversation_id = self.selected_id()
        if conversation_id is not None:
            self.post_message(self.Action("rename", conversation_id))

    def action_delete(self) -> None:
        conversation_id = self.selected_id()
        if conversation_id is not None:
            self.post_message(self.Action("delete", conversation_id))


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

    def __init__(self, available: bool, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.available = available
        self.current_id: int | None = None

    def compose(self) -> ComposeResult:
        yield Input(placeholder="Search conversations", id="search", compact=True)
        if not self.available:
            yield Static(Text("History is off for this session (--no-log)."), classes="note")
        yield ConversationList(id="conversations")

    @property
    def search_box(self) -> Input:
        return self.query_one("#search", Input)

    @property
    def list_view(self) -> ConversationList:
        return self.query_one(ConversationList)

    def show_rows(self, rows: list[ConversationRow], current_id: int | None) -> None:
        """Replace the list, keeping the open conversation highlighted."""
        self.current_id = current_id
        listing = self.list_view
        options = []
        highlight = None
        for index, row in enumerate(rows):
            prompt = Text(no_wrap=True, overflow="ellipsis")
            marker = "▶ " if row.id == current_id else "  "
            prompt.append(marker, style="bold")
            prompt.append(shorten(visible_text(row.title), ROW_WIDTH), style="bold" if row.id == current_id else "")
            prompt.append("\n  ")
            prompt.append(shorten(visible_text(row.detail), ROW_WIDTH), style="dim")
            options.append(Option(prompt, id=str(row.id)))
            if row.id == current_id:
                highlight = index
        listing.set_options(options)
        if options:
            listing.highlighted = highlight if highlight is not None else 0

    @on(OptionList.OptionSelected, "#conversations")
    def _open(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self.post_message(self.Opened(int(event.option.id)))

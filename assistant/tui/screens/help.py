"""F1: every key binding (:mod:`assistant.tui.keys`) and slash command, installed tools included."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ..keys import KEY_HELP
from ..widgets.tool_results import slash_help_renderable


def _table(key_width: int = 0) -> Table:
    table = Table(box=None, show_header=False, pad_edge=False, expand=False, padding=(0, 2, 0, 0))
    table.add_column("keys", style="bold", no_wrap=True, min_width=key_width)
    table.add_column("action")
    return table


def help_renderable() -> Group:
    parts: list[Text | Table | Group] = []
    section = None
    width = max(len(entry.keys) for entry in KEY_HELP)
    table = _table(width)
    for entry in KEY_HELP:
        if entry.section != section:
            if section is not None:
                parts.append(table)
                table = _table(width)
            section = entry.section
            parts.append(Text(f"\n{section}", style="bold underline"))
        table.add_row(Text(entry.keys), Text(entry.description))
    parts.append(table)
    parts.append(Text("\nSlash commands (type in the message box)", style="bold underline"))
    parts.append(slash_help_renderable())
    return Group(*parts)


class HelpScreen(ModalScreen[None]):
    """Key bindings; any of Esc, F1 or q closes it."""

    BINDINGS = [
        Binding("escape,f1,q", "dismiss", "Close"),
    ]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90%; max-width: 100; height: 90%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = "Help — Esc to close"
            yield Static(help_renderable())

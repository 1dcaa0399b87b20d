"""F1: every key binding and slash command, drawn from :mod:`assistant.tui.keys`."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ..keys import KEY_HELP, SLASH_HELP


def help_table() -> Table:
    table = Table(box=None, show_header=False, pad_edge=False, expand=True)
    table.add_column("keys", style="bold", no_wrap=True)
    table.add_column("action", ratio=1)
    section = None
    for entry in KEY_HELP:
        if entry.section != section:
            if section is not None:
                table.add_row("", "")
            section = entry.section
            table.add_row(Text(section, style="underline"), "")
        table.add_row(Text(entry.keys), Text(entry.description))
    table.add_row("", "")
    table.add_row(Text("Slash commands", style="underline"), "")
    for command, description in SLASH_HELP:
        table.add_row(Text(command), Text(description))
    return table


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
    HelpScreen .title { text-style: bold; width: 100%; text-align: center; }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = "Help — Esc to close"
            yield Static(help_table())

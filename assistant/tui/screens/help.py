"""F1: every key binding (:mod:`assistant.tui.keys`) and slash command, installed tools included."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from ..keys import KEY_HELP
from ..widgets.tool_results import slash_help_renderable

HELP_BINDING = Binding("f1", "help", "Help")
"""F1 on the app's modal screens (views, inspector, settings, dialogs): see :class:`ViewHelp`."""


def _table(key_width: int = 0) -> Table:
    table = Table(box=None, show_header=False, pad_edge=False, expand=False, padding=(0, 2, 0, 0))
    table.add_column("keys", style="bold", no_wrap=True, min_width=key_width)
    table.add_column("action")
    return table


def help_renderable(first: str | None = None) -> Group:
    """Every key, by section; ``first``'s section on top (the keys of the view F1 was pressed in)."""
    parts: list[Text | Table | Group] = []
    section = None
    width = max(len(entry.keys) for entry in KEY_HELP)
    table = _table(width)
    for entry in sorted(KEY_HELP, key=lambda entry: entry.section != first):  # stable: else in table order
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
    """Key bindings; any of Esc, F1 or q closes it. ``first``: the section to show on top."""

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

    def __init__(self, first: str | None = None) -> None:
        super().__init__()
        self.first = first

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = "Help — Esc to close"
            yield Static(help_renderable(self.first))
        yield Footer()  # its own keys, not the chat's (F2, Ctrl+N do nothing over the help)


class ViewHelp:
    """Mixed into the app's modal screens: F1 opens the help with the screen's own keys on top.

    The app binds F1 too, but a modal screen hides the app's bindings (Textual
    stops the binding chain at the modal), so without this F1 was dead exactly
    where a view's keys need explaining. Add :data:`HELP_BINDING` to ``BINDINGS``.
    """

    HELP_SECTION: str | None = None
    """The section of :data:`~assistant.tui.keys.KEY_HELP` listing the view's keys."""

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.HELP_SECTION))  # type: ignore[attr-defined]

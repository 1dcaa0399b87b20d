"""F1: every key binding (:mod:`assistant.tui.keys`) and slash command, installed tools included."""

from __future__ import annotations

from rich.cells import cell_len
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


MIN_ACTION_WIDTH = 36
"""The action column's least width before the keys column gives up its full width (and wraps)."""


def _table(key_width: int = 0, wrap_keys: bool = False) -> Table:
    table = Table(box=None, show_header=False, pad_edge=False, expand=False, padding=(0, 2, 0, 0))
    table.add_column("keys", style="bold", no_wrap=not wrap_keys, min_width=key_width, max_width=key_width or None)
    table.add_column("action")
    return table


def help_renderable(first: str | None = None, width: int | None = None) -> Group:
    """Every key, by section; ``first``'s section on top (the keys of the view F1 was pressed in).

    ``width`` (the help's, when known): on a narrow screen the keys column is narrower than its
    longest entry (31 cells) and wraps, instead of leaving the actions 16 cells to wrap every
    few words into a column five lines a key.
    """
    parts: list[Text | Table | Group] = []
    section = None
    widest = max(cell_len(entry.keys) for entry in KEY_HELP)
    key_width = widest
    if width is not None and widest + 2 + MIN_ACTION_WIDTH > width:
        key_width = max(min(widest, width - 2 - MIN_ACTION_WIDTH), 12)
    wrap = key_width < widest
    table = _table(key_width, wrap)
    for entry in sorted(KEY_HELP, key=lambda entry: entry.section != first):  # stable: else in table order
        if entry.section != section:
            if section is not None:
                parts.append(table)
                table = _table(key_width, wrap)
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

    def on_resize(self) -> None:
        """Drawn again for the width it has: a narrow screen wraps the keys column, not every action."""
        width = self.query_one(VerticalScroll).scrollable_content_region.width
        if width:
            self.query_one(VerticalScroll).query_one(Static).update(help_renderable(self.first, width - 1))


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

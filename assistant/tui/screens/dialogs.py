"""Small modal dialogs: ask for a line of text, or confirm a destructive action.

70 columns wide, or the terminal's width where it is narrower: at 60 columns the dialog ran off
the right edge, its question cut mid-sentence and the button that answers it ("Delete", "Quit")
cut to "Dele".
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Static

from ..text import visible_line, visible_text
from ..widgets.key_order import LineInput
from .help import HELP_BINDING, ViewHelp

_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{
    width: 70; max-width: 100%; height: auto; border: round $accent; background: $surface; padding: 1 2;
}}
{name} #buttons {{ height: auto; align-horizontal: right; margin-top: 1; }}
{name} #buttons Button {{ margin-left: 1; }}
"""


class AskText(ViewHelp, ModalScreen[str | None]):
    """One line of text (Enter accepts, Esc cancels)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), HELP_BINDING]
    HELP_SECTION = "Dialogs"
    DEFAULT_CSS = _CSS.format(name="AskText")

    def __init__(self, title: str, value: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.value = value

    @property
    def shown_value(self) -> str:
        """The value as the field shows it: a text field draws its characters as they are, so a
        stored title's right-to-left override (``\u202e``, kept by the history) reordered the
        dialog's line on the terminal. Control and bidi characters show as :func:`visible_text`
        writes them, as the sidebar shows the same title."""
        return visible_text(self.value)

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = Text(visible_line(self.title_text))  # a Text: a str is markup; one line
            yield LineInput(self.shown_value, id="answer")
            with Horizontal(id="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("OK", variant="primary", id="ok")
        yield Footer()  # its own keys: the chat's footer below offered keys that do nothing here

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def accept(self) -> None:
        answer = self.query_one("#answer", Input).value
        # Untouched: the value as it was, not as the field shows it (OK changes nothing).
        self.dismiss(self.value if answer == self.shown_value else answer)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class Confirm(ViewHelp, ModalScreen[bool]):
    """A yes/no question; y/Enter on "Yes", n/Esc for no."""

    BINDINGS = [
        Binding("escape,n", "answer(False)", "No"),
        Binding("y", "answer(True)", "Yes"),
        HELP_BINDING,
    ]
    HELP_SECTION = "Dialogs"
    DEFAULT_CSS = _CSS.format(name="Confirm")

    def __init__(self, question: str, yes: str = "Delete") -> None:
        super().__init__()
        self.question = question
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.question), markup=False)
            with Horizontal(id="buttons"):
                yield Button("Cancel", id="no")
                yield Button(self.yes, variant="error", id="yes")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

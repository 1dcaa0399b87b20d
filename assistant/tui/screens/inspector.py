"""F3: the exact text the model will see for the next turn, and its token count."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Static, TextArea

from ...inspect.shade import share_text
from ..controller import PromptPreview
from ..text import visible_text
from ..widgets.border_text import longest_fitting
from .help import HELP_BINDING, ViewHelp

SHORT_HEIGHT = 20
"""Rows under which the inspector takes the whole screen: at 40x12 it showed one line of the prompt."""
TITLES = ("Prompt inspector — Esc to close, c to copy", "Prompt inspector")
"""The box's title, the longest that fits (the footer says the keys too): at 40 columns the first was cut."""


def title_for(width: int) -> str:
    """The longest of :data:`TITLES` that fits a border ``width`` cells wide."""
    return longest_fitting(TITLES, width, TITLES[-1])


class PromptInspector(ViewHelp, ModalScreen[None]):
    """Read-only view of the rendered prompt (template, history, chat template applied)."""

    BINDINGS = [
        Binding("escape,f3", "dismiss", "Close"),
        Binding("c", "copy", "Copy prompt"),
        HELP_BINDING,
    ]

    HELP_SECTION = "Prompt inspector"

    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-short"), (SHORT_HEIGHT, "-tall")]
    """Under :data:`SHORT_HEIGHT` rows the prompt gets the rows the rim, the blank line and its frame took."""

    DEFAULT_CSS = """
    PromptInspector { align: center middle; }
    PromptInspector > Vertical {
        width: 95%; height: 90%; border: round $accent; background: $surface; padding: 0 1;
    }
    PromptInspector .summary { height: auto; margin-bottom: 1; }
    PromptInspector TextArea { height: 1fr; }
    PromptInspector.-short > Vertical { width: 100%; height: 100%; }
    PromptInspector.-short .summary { margin-bottom: 0; }
    PromptInspector.-short TextArea { border: none; padding: 0; }
    """

    def __init__(self, preview: PromptPreview) -> None:
        super().__init__()
        self.preview = preview

    def summary(self) -> Text:
        preview = self.preview
        text = Text()
        text.append(f"{'≈' if preview.approximate else ''}{preview.tokens}", style="bold")
        if preview.context_length:
            share = share_text(preview.tokens, preview.context_length)  # 0.4% read "0%"
            text.append(f" tokens of {preview.context_length} context ({share})")
        else:
            text.append(" tokens (the server does not report its context length)")
        count = len(preview.messages)
        text.append(f" · {count} message{'' if count == 1 else 's'}")
        if preview.dropped:
            text.append(f" ({preview.dropped} older left out to fit)", style="yellow")
        if self.completion:  # no turns, no template: the text the model continues
            text.append(
                " · completion mode: one text the model continues, the message box's text at its end",
                style="italic",
            )
        else:
            text.append(" · the last user turn is the text in the message box", style="italic")
        return text

    @property
    def completion(self) -> bool:
        """Whether the prompt is one text (a base model), not chat turns: the summary must not speak of turns."""
        controller = getattr(self.app, "controller", None)
        return controller is not None and controller.prompt_mode() == "completion"

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = TITLES[0]  # fitted to the box's width once laid out (on_resize)
            yield Static(self.summary(), classes="summary", markup=False)
            yield TextArea(
                visible_text(self.preview.text), read_only=True, soft_wrap=True, show_line_numbers=True
            )
        yield Footer()  # its own keys: without it the chat's footer below offered t, a, r and c of a reply

    def on_resize(self) -> None:
        box = self.query_one(Vertical)
        self.call_after_refresh(lambda: setattr(box, "border_title", title_for(box.outer_size.width)))

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.preview.text)
        self.notify("Copied the prompt")

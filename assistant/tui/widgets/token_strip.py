"""The token view's reply: one page of tokens, each shaded by its probability, and a cursor.

Each line of tokens is drawn over a second line of glyphs (``░ ▒ ▓ █``, the
scale of :mod:`assistant.inspect.shade`), so the level reads without colour
(16-colour terminals, colour blindness, a monochrome screenshot). Only the
page holding the cursor is drawn, whatever the reply's length: the layout is
:func:`assistant.inspect.token_view.layout_tokens`, computed once per width.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual import events
from textual.message import Message
from textual.widget import Widget

from ...inspect.shade import SHADES, Shade, shade_for
from ...inspect.token_view import TokenViewState

UNKNOWN_GLYPH = "·"
"""Under a token whose probability is not known."""

CURSOR = Style(reverse=True, bold=True, underline=True)


def _styles(p: float | None) -> tuple[Style, str, Style]:
    """(token style, glyph, glyph style) of probability ``p``'s level (unknown: unshaded, ``·``)."""
    return _LEVEL_STYLES[shade_for(p)]


def _level_styles() -> dict[Shade | None, tuple[Style, str, Style]]:
    styles: dict[Shade | None, tuple[Style, str, Style]] = {
        shade: (Style(color="#000000", bgcolor=shade.color), shade.glyph, Style(color=shade.color))
        for shade in SHADES
    }
    styles[None] = (Style.null(), UNKNOWN_GLYPH, Style(dim=True))
    return styles


_LEVEL_STYLES = _level_styles()
"""Built once: a page draws hundreds of tokens, each with one of these five looks."""


def page_text(state: TokenViewState, width: int, lines: int) -> Text:
    """The page of ``lines`` token lines (each with its glyph line) that holds the cursor.

    Neighbouring tokens of the same level are appended as one run: a page holds hundreds of
    tokens, and every style change is a segment Textual has to carry through to the screen.
    """
    layout = state.layout(width)
    start, end = state.page(width, lines)
    tokens = state.tokens
    out = Text(no_wrap=True, overflow="crop", end="")
    for number in range(start, end):
        text_runs: list[tuple[str, Style]] = []
        glyph_runs: list[tuple[str, Style]] = []
        for cell in layout.lines[number]:
            style, glyph, gstyle = _styles(state.shade_probability(tokens[cell.index]))
            if cell.index == state.cursor:
                style, gstyle = style + CURSOR, gstyle + CURSOR
            _extend(text_runs, cell.label, style)
            _extend(glyph_runs, glyph * cell.width, gstyle)
        for piece, style in text_runs:
            out.append(piece, style)
        out.append("\n")
        for piece, style in glyph_runs:
            out.append(piece, style)
        if number < end - 1:
            out.append("\n")
    return out


def _extend(runs: list[tuple[str, Style]], piece: str, style: Style) -> None:
    if runs and runs[-1][1] is style:
        runs[-1] = (runs[-1][0] + piece, style)
    else:
        runs.append((piece, style))


class TokenStrip(Widget):
    """Draws :class:`TokenViewState`'s page; a click moves the cursor to the token under the mouse.

    It takes the height its siblings leave (``1fr``), so the screen is laid out in one pass
    when it opens, and shows as many lines a page as fit.
    """

    DEFAULT_CSS = """
    TokenStrip { height: 1fr; min-height: 2; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    @dataclass
    class Picked(Message):
        """The user clicked on token ``index``."""

        index: int

    class Resized(Message):
        """The strip's size changed: its lines per page (and so the page count) may have too."""

    def __init__(self, state: TokenViewState, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.state = state

    @property
    def lines_per_page(self) -> int:
        """Token lines a page holds (each takes two rows: text and glyphs)."""
        return max(1, self.content_size.height // 2)

    @property
    def line_width(self) -> int:
        return max(1, self.content_size.width)

    def render(self) -> Text:
        if not self.state.tokens:
            return Text()
        return page_text(self.state, self.line_width, self.lines_per_page)

    def on_resize(self) -> None:
        self.post_message(self.Resized())

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or not self.state.tokens:
            return
        start, _ = self.state.page(self.line_width, self.lines_per_page)
        cell = self.state.layout(self.line_width).cell_at(start + offset.y // 2, offset.x)
        if cell is not None:
            self.post_message(self.Picked(cell.index))

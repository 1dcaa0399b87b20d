"""The attention heatmap: one row per token, one cell per earlier token, a cursor on one cell.

Drawing is :func:`assistant.inspect.attention.heatmap_text` (the same text the
CLI prints); the state — layer, head, cursor — is
:class:`~assistant.inspect.attention.AttentionViewState`, Textual-free. This
widget only scrolls the text and keeps the cursor's row in view.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.containers import ScrollableContainer
from textual.widgets import Static

from ...inspect.attention import (
    NEGLIGIBLE,
    AttentionViewState,
    fit_labels,
    heatmap_text,
    legend_text,
    shade_rgb,
)

SCROLLBAR = 1
"""The vertical scrollbar's width (``scrollbar-size-vertical``), kept whether it shows or not."""

LEGEND_WEIGHTS = (0.0, NEGLIGIBLE, 0.1, 0.5, 0.9, 1.0)
"""The weights the colour legend shows a swatch of."""


def map_legend(colour: bool) -> Text:
    """What the map's cells mean, as they are drawn: colour swatches, or the glyphs without colour.

    The app drew the map in colour under the glyph legend (``· <1%  ░ <10% …``), a key to
    glyphs that appeared nowhere on the screen; ``assistant attention`` prints the glyph legend
    only when it draws glyphs too.
    """
    if not colour:
        return Text(legend_text())
    text = Text("colour = attention weight:")
    for weight in LEGEND_WEIGHTS:
        red, green, blue = shade_rgb(weight)
        text.append(" ")
        text.append("  ", style=Style(bgcolor=f"rgb({red},{green},{blue})"))
        text.append(f" {weight:.0%}")
    text.append("  (dark 0 → bright 1, ∝ √weight)")
    return text


class AttentionMap(ScrollableContainer, can_focus=False):
    """A scrollable heatmap of :class:`AttentionViewState` (the screen owns the keys)."""

    DEFAULT_CSS = """
    AttentionMap { height: 1fr; min-height: 4; scrollbar-size-vertical: 1; scrollbar-size-horizontal: 1; }
    AttentionMap > Static { width: auto; height: auto; }
    """

    def __init__(self, state: AttentionViewState, *, colour: bool = True, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.state = state
        self.colour = colour
        """Cells as colours, or as the shade glyphs (``·░▒▓█``) when colour is off."""

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static(self._render_text(), markup=False)

    def _render_text(self) -> Text:
        state = self.state
        view = state.view()
        if self.size.width:  # laid out: labels as narrow as it takes for every column to show
            view = fit_labels(view, self.size.width - SCROLLBAR)
        text = heatmap_text(view, colour=self.colour, cursor=(state.row, state.column))
        self._cursor_x = _cursor_cell(text, state.row + 1)
        return text

    _cursor_x: int | None = None
    """The cursor cell's column in the drawn map (None when it is not drawn)."""

    def on_resize(self) -> None:
        """Labels fitted to the new width, and the cursor brought back into sight: a shorter or
        narrower screen left the map scrolled where it was, the cursor's cell out of view."""
        self.redraw()

    def redraw(self) -> None:
        """Draw the state again (after a key changed it) and keep the cursor in view."""
        self.query_one(Static).update(self._render_text())
        self.call_after_refresh(self._follow_cursor)

    def _follow_cursor(self) -> None:
        """Scroll so the cursor's cell shows: its row, and its column too.

        Only the row was followed: 64 tokens' cells and their labels are wider than a
        narrow terminal (60 columns), so the arrows moved a cursor that stayed out of
        sight on the right while the weight under the map changed.
        """
        row = self.state.row + 1  # the header line comes first
        region = self.scrollable_content_region
        top, height = int(self.scroll_y), region.height
        if self.state.row == 0 and top:
            # The first row brings the header (column numbers, the │ where the reply starts) back too:
            # scrolled to the row alone, a map taller than the view never showed its header again.
            self.scroll_to(y=0, animate=False)
        elif row < top:
            self.scroll_to(y=row, animate=False)
        elif row >= top + height:
            self.scroll_to(y=row - height + 1, animate=False)
        column = self._cursor_x
        if column is None:
            return
        left, width = int(self.scroll_x), region.width
        if column < left:
            self.scroll_to(x=column, animate=False)
        elif column >= left + width:
            self.scroll_to(x=column - width + 1, animate=False)


def _cursor_cell(text: Text, line: int) -> int | None:
    """The cell column of the cursor (``◆``, the last one: a label left of it may hold one) on ``line``."""
    from rich.cells import cell_len

    lines = text.plain.split("\n")
    if line >= len(lines) or "◆" not in lines[line]:
        return None
    drawn = lines[line]
    return cell_len(drawn[: drawn.rindex("◆")])

"""The attention heatmap: one row per token, one cell per earlier token, a cursor on one cell.

Drawing is :func:`assistant.inspect.attention.heatmap_text` (the same text the
CLI prints); the state — layer, head, cursor — is
:class:`~assistant.inspect.attention.AttentionViewState`, Textual-free. This
widget only scrolls the text and keeps the cursor's cell in view.

It scrolls like a spreadsheet with a frozen first row and column: the row
labels (number, ``▸``, token) stay on the left while the cells scroll
sideways, and the header line (column numbers, the ``│`` where the reply
starts) stays on top while the rows scroll, moving sideways with the cells.
Scrolled as one block, a map wider than the screen lost its labels as soon as
it scrolled right, and no cell could be matched to its token any more.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ...inspect.attention import (
    NEGLIGIBLE,
    AttentionViewState,
    fit_labels,
    heatmap_margin,
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


class AttentionMap(ScrollView, can_focus=False):
    """A scrollable heatmap of :class:`AttentionViewState` (the screen owns the keys), labels and header frozen."""

    DEFAULT_CSS = """
    AttentionMap { height: 1fr; min-height: 4; scrollbar-size-vertical: 1; scrollbar-size-horizontal: 1; }
    """

    HEADER_LINES = 1
    """Lines on top that never scroll up: the column header of :func:`heatmap_text`."""

    def __init__(self, state: AttentionViewState, *, colour: bool = True, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.state = state
        self.colour = colour
        """Cells as colours, or as the shade glyphs (``·░▒▓█``) when colour is off."""
        self._lines: list[Strip] = []
        self._margin = 0
        """Cells of each line that stay in place (:func:`heatmap_margin`)."""
        self._text = Text()

    def on_mount(self) -> None:
        self.redraw()

    def _render_text(self) -> Text:
        state = self.state
        view = state.view()
        if self.size.width:  # laid out: labels as narrow as it takes for every column to show
            fitted = fit_labels(view, self.size.width - SCROLLBAR)
            # Where even that does not fit, the map scrolls with its labels frozen, and they keep
            # their width: cut to three cells, every row of a 60-column map read "␣w…".
            if heatmap_margin(fitted) + len(fitted.labels) <= self.size.width - SCROLLBAR:
                view = fitted
        self._margin = heatmap_margin(view)
        return heatmap_text(view, colour=self.colour, cursor=(state.row, state.column))

    def on_resize(self) -> None:
        """Labels fitted to the new width, and the cursor brought back into sight: a shorter or
        narrower screen left the map scrolled where it was, the cursor's cell out of view."""
        self.redraw()

    def redraw(self) -> None:
        """Draw the state again (after a key changed it) and keep the cursor in view."""
        self._text = self._render_text()
        console = self.app.console
        self._lines = [Strip(list(line.render(console, end=""))) for line in self._text.split("\n")]
        width = max((strip.cell_length for strip in self._lines), default=0)
        self.virtual_size = Size(width, len(self._lines))
        self.refresh()
        self.call_after_refresh(self._follow_cursor)

    @property
    def _cells_width(self) -> int:
        """Cells of the visible region that show the map's cells (right of the frozen labels)."""
        return max(self.scrollable_content_region.width - self._margin, 1)

    @property
    def _rows_height(self) -> int:
        """Lines of the visible region that show the map's rows (under the frozen header)."""
        return max(self.scrollable_content_region.height - self.HEADER_LINES, 1)

    def render_line(self, y: int) -> Strip:
        """Line ``y`` of the visible region: the header or a row, its label fixed, its cells scrolled.

        ``virtual_size`` is the whole map's, so the scroll ranges are exactly what is
        hidden: ``scroll_x`` is the number of cells off on the left, ``scroll_y`` of rows
        off above.
        """
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        index = y if y < self.HEADER_LINES else y + scroll_y
        if index >= len(self._lines):
            return Strip.blank(width, self.rich_style)
        line = self._lines[index]
        margin = min(self._margin, width)
        start = self._margin + scroll_x
        if index < self.HEADER_LINES:
            body = self._header_strip(start, start + width - margin)
        else:
            body = line.crop(start, start + width - margin)
        joined = Strip.join([line.crop(0, margin), body])
        return joined.extend_cell_length(width, self.rich_style).apply_style(self.rich_style)

    def _header_strip(self, start: int, end: int) -> Strip:
        """The header's cells ``start`` to ``end``, a column number cut by either edge left out.

        Scrolled to column 101, the header read ``0 … 110``: the last digit of 100 looked
        like a column numbered 0. The header is all one-cell characters (digits, ``│``,
        spaces), so its characters are its cells.
        """
        header = self._text.plain.split("\n", 1)[0]
        shown = list(header[start:end].ljust(end - start))
        if 0 < start < len(header) and header[start - 1].isdigit():
            for position, char in enumerate(shown):
                if not char.isdigit():
                    break
                shown[position] = " "
        if end < len(header) and header[end].isdigit():
            for position in range(len(shown) - 1, -1, -1):
                if not shown[position].isdigit():
                    break
                shown[position] = " "
        return Strip(list(Text("".join(shown), style="dim").render(self.app.console, end="")))

    def _follow_cursor(self) -> None:
        """Scroll so the cursor's cell shows: its row, and its column too.

        Only the row was followed: 64 tokens' cells and their labels are wider than a
        narrow terminal (60 columns), so the arrows moved a cursor that stayed out of
        sight on the right while the weight under the map changed. Row and column
        are the cursor's own indices: the frozen label and header are not scrolled.
        """
        row, column = self.state.row, self.state.column
        top, height = int(self.scroll_y), self._rows_height
        if row < top:
            self.scroll_to(y=row, animate=False)
        elif row >= top + height:
            self.scroll_to(y=row - height + 1, animate=False)
        left, width = int(self.scroll_x), self._cells_width
        if column < left:
            self.scroll_to(x=column, animate=False)
        elif column >= left + width:
            self.scroll_to(x=column - width + 1, animate=False)

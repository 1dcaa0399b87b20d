"""The attention heatmap: one row per token, one cell per earlier token, a cursor on one cell.

Drawing is :func:`assistant.inspect.attention.heatmap_text` (the same text the
CLI prints); the state — layer, head, cursor — is
:class:`~assistant.inspect.attention.AttentionViewState`, Textual-free. This
widget only scrolls the text and keeps the cursor's row in view.
"""

from __future__ import annotations

from textual.containers import ScrollableContainer
from textual.widgets import Static

from ...inspect.attention import AttentionViewState, heatmap_text


class AttentionMap(ScrollableContainer, can_focus=False):
    """A scrollable heatmap of :class:`AttentionViewState` (the screen owns the keys)."""

    DEFAULT_CSS = """
    AttentionMap { height: 1fr; scrollbar-size-vertical: 1; scrollbar-size-horizontal: 1; }
    AttentionMap > Static { width: auto; height: auto; }
    """

    def __init__(self, state: AttentionViewState, *, colour: bool = True, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.state = state
        self.colour = colour
        """Cells as colours, or as the shade glyphs (``·░▒▓█``) when colour is off."""

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static(self._render_text(), markup=False)

    def _render_text(self):  # type: ignore[no-untyped-def]
        state = self.state
        return heatmap_text(state.view(), colour=self.colour, cursor=(state.row, state.column))

    def redraw(self) -> None:
        """Draw the state again (after a key changed it) and keep the cursor's row in view."""
        self.query_one(Static).update(self._render_text())
        self.call_after_refresh(self._follow_cursor)

    def _follow_cursor(self) -> None:
        row = self.state.row + 1  # the header line comes first
        top, height = int(self.scroll_y), self.scrollable_content_region.height
        if row < top:
            self.scroll_to(y=row, animate=False)
        elif row >= top + height:
            self.scroll_to(y=row - height + 1, animate=False)

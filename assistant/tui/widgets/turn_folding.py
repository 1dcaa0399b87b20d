"""Keeping the turns of a long conversation that are far from the view out of Textual's layout.

Textual lays out every widget of the screen on each refresh, off-screen ones
included: in a conversation of 20 long replies a page of scrolling took
0.3-0.9 s, and every draw of a streaming reply paid for all the turns above
it. A turn more than a screen away from the view is *folded*: its height is
pinned to what it has, and its children leave the layout, so the scroll
geometry is unchanged and nothing on screen moves. It unfolds before a
scroll brings it within a screen of the view (the scroll offset's watcher
runs before the next layout), and every turn unfolds when the width changes,
since the text then wraps anew.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Sequence

if TYPE_CHECKING:
    from textual.widget import Widget

FOLDED = "-folded"
FOLD_CSS = "ChatMessage.-folded > * { display: none; }"
KEEP_LAST = 2
"""The last turns are never folded: the exchange in progress (a reply may be streaming into them)."""


class TurnFolder:
    """Folds and unfolds the turns of one scrolling chat log."""

    def __init__(self, log: Widget, turns: Callable[[], Sequence[Widget]]) -> None:
        """``turns`` lists the log's turn widgets, oldest first (the log knows what a turn is; this module does not)."""
        self.log = log
        self._turns = turns
        self._width: int | None = None

    def turns(self) -> list[Widget]:
        return list(self._turns())

    def folded(self) -> list[Widget]:
        return [turn for turn in self.turns() if turn.has_class(FOLDED)]

    def refold(self, scroll_y: float | None = None) -> None:
        """Fold the turns far from the view at ``scroll_y`` (default: the current offset); unfold the near ones.

        Regions are those of the last layout, in the log's virtual space, so
        they do not depend on the offset being moved to.
        """
        log = self.log
        height, width = log.size.height, log.size.width
        if not height:
            return
        if width != self._width:
            self.unfold_all()
            self._width = width
            log.call_after_refresh(self.refold)  # the pinned heights were for the old width
            return
        top = log.scroll_y if scroll_y is None else scroll_y
        near_top, near_bottom = top - height, top + 2 * height
        turns = self.turns()
        kept = max(len(turns) - KEEP_LAST, 0)
        for index, turn in enumerate(turns):
            region = turn.virtual_region
            # The last turns count as near wherever they are: folded while others came after them
            # (a message that failed and was taken back out of the log), they unfold again.
            near = index >= kept or (region.bottom > near_top and region.y < near_bottom)
            if turn.has_class(FOLDED):
                if near:
                    turn.remove_class(FOLDED)
                    turn.styles.height = "auto"
            elif not near and region.height and not turn.has_focus_within:
                turn.styles.height = turn.outer_size.height
                turn.add_class(FOLDED)

    def unfold_all(self) -> None:
        for turn in self.folded():
            turn.remove_class(FOLDED)
            turn.styles.height = "auto"

"""One layout per change on a screen that streams: no second pass for sizes the first just found.

Textual's layout pass (``Screen._refresh_layout``) arranges every widget and
then hands each its new size. The *virtual* size is a reactive declared with
``layout=True``, so every widget whose content grew asks, from inside the pass,
for another full layout of the screen — which finds nothing to change, and
repaints anyway. While a reply streams that is every draw: the paragraph, its
segment, the reply, the message and the log all grow, and the screen is laid
out and repainted twice per draw (two passes of 4–15 ms on a 2-core machine,
CPU the local model's threads then wait for; docs/tui.md).

The sizes a pass hands out are the ones it has just arranged with, so a
request for layout *because of them* is redundant. Requests that do change
the arrangement still get their pass: a scroll view whose scrollbar appears or
goes (its content narrows) asks through its scrollbar reactives, and every
other change (new content, styles, mounts) asks outside the pass.

This reaches into Textual's internals (the reactive's ``_layout`` flag and the
screen's layout method); Textual is pinned below 8.3 (pyproject), and
``tests/test_tui_reply_stream.py`` fails if a streamed draw goes back to two passes.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from textual.geometry import Size
from textual.screen import Screen
from textual.widget import Widget


@contextmanager
def sizes_without_relayout() -> Iterator[None]:
    """While inside, setting a widget's virtual size requests no layout and no repaint of it.

    (The pass repaints what it moved or resized; the repaint request would be
    one more update of the screen, after the pass.)
    """
    reactive = Widget.virtual_size
    before = reactive._layout, reactive._repaint
    reactive._layout = reactive._repaint = False
    try:
        yield
    finally:
        reactive._layout, reactive._repaint = before


class OneLayoutPass(Screen):  # type: ignore[type-arg]
    """A screen mixin (put it before ``Screen``): the sizes found by a layout pass do not ask for another."""

    def _refresh_layout(self, size: Size | None = None, scroll: bool = False) -> None:
        with sizes_without_relayout():
            super()._refresh_layout(size, scroll)

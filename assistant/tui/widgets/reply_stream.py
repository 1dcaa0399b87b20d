"""Streaming a reply's Markdown so that a token costs the same at the end of a long reply as at the start.

Textual's :class:`~textual.widgets.markdown.MarkdownStream` re-parses only
the last block on each append, but the Markdown widget is one container: when
its last block grows, Textual re-arranges every block of the reply (box model,
height) on the next layout, so late in a long reply every draw costs more, and
the UI thread holds the interpreter lock the model's thread needs for longer.

Here a reply is a column of Markdown *segments* (:class:`ReplyBody`). Only the
last one, the live tail, is appended to. When the tail holds more than
``segment_blocks`` blocks, its finished blocks are sealed where they are: the
last block moves to a fresh tail segment, and the sealed segment gets a fixed
height and never changes again. The split is made at the start of the last
top-level block, exactly where Textual's own append starts re-parsing, so the
blocks are the ones a single Markdown widget would show; the gap between the
two segments is kept at what Textual's margin collapsing would give inside
one widget, even when the moved block later changes type. Textual still lays out every widget of the screen on each
draw, off-screen ones included, so sealed segments scrolled out of the view
are *folded*: their blocks leave the layout, their fixed height keeps the
scroll geometry, and they unfold before scrolling brings them back.

Segments are :class:`~.growing_list.ReplySegment` widgets, whose lists grow
in place instead of being replaced on each append.
"""

from __future__ import annotations

from textual.containers import ScrollableContainer, Vertical
from textual.css.query import NoMatches
from textual.geometry import Size
from textual.widget import Widget
from textual.widgets import Markdown
from textual.widgets.markdown import MarkdownBlock, MarkdownStream

from .growing_list import ReplySegment

SEGMENT_BLOCKS = 4
"""Blocks the live tail of a streaming reply holds before its finished ones are sealed."""
PIN_CHECKS = 2
"""Times a sealed segment's fixed height is measured again, after later refreshes, while it still changes."""


class ReplyBody(Vertical):
    """A reply's Markdown as sealed segments plus one live tail; reads like a single Markdown widget."""

    DEFAULT_CSS = """
    ReplyBody { height: auto; }
    ReplyBody > Markdown { height: auto; margin: 0; padding: 0; }
    ReplyBody > Markdown.-folded > * { display: none; }
    """

    def __init__(self, markdown: str = "", classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self._initial = markdown
        self._sealed: list[Markdown] = []
        self._pinned: dict[Markdown, int] = {}
        """Sealed segments with a fixed height, and that height."""
        self._pinned_width: int | None = None
        self._watching: Widget | None = None

    def compose(self):  # type: ignore[no-untyped-def]
        yield ReplySegment(self._initial)

    @property
    def segments(self) -> list[Markdown]:
        return [child for child in self.children if isinstance(child, Markdown)]

    @property
    def live(self) -> Markdown:
        """The segment that receives appended text (the last one)."""
        return self.segments[-1]

    @property
    def source(self) -> str:
        """The whole Markdown shown, across segments."""
        return "".join(segment.source for segment in self.segments)

    @property
    def folded(self) -> list[Markdown]:
        """Sealed segments out of sight whose blocks are out of the layout for now."""
        return [segment for segment in self._sealed if segment.has_class("-folded")]

    # ---- sealing: a fixed height for what no longer changes ------------------------
    def seal(self, segment: Markdown) -> None:
        """``segment`` will not change again: fix its height.

        Textual caches a container's arrangement per size, and arranges
        containers of auto-height children at the size of their parent, which
        grows with every draw of a streaming reply; so without a fixed height
        every sealed segment would be arranged again on each draw. With one,
        its box is known without looking inside, and it can be folded.
        """
        self._sealed.append(segment)
        # Measured once the screen has been laid out with it: rows a list mounted in the
        # append just made have no styles yet, and arranging them now can come out short
        # (a segment 2 lines too short hid the end of a list).
        self.call_after_refresh(self._pin, segment)

    def _pin(self, segment: Markdown) -> None:
        """Fix ``segment``'s height to what its blocks take at the current width (later, if not laid out yet)."""
        width = self.size.width
        if not width:
            self.call_after_refresh(self._pin, segment)
            return
        if segment.parent is self and segment not in self._pinned:
            self._fix_height(segment, width, PIN_CHECKS)

    def _check_pin(self, segment: Markdown, checks: int) -> None:
        """Measure a pinned segment again after a refresh, and correct its height if it changed.

        On a loaded machine a list's rows mounted by the last append could
        still lack their styles when the segment was first measured, and a
        pinned height a line or two short hides the end of the list for good.
        """
        if (
            segment.parent is not self
            or segment not in self._pinned
            or segment.has_class("-folded")  # its blocks are out of the layout (it was measured before)
            or self.size.width != self._pinned_width  # re-wrapped: pinned anew
        ):
            return
        self._fix_height(segment, self.size.width, checks)

    def _fix_height(self, segment: Markdown, width: int, checks: int) -> None:
        """Set the height ``segment``'s blocks take; check it again after the next refresh if it changed."""
        height = segment.arrange(Size(width, 0)).total_region.height
        if self._pinned.get(segment) == height:
            return
        segment.styles.height = height
        self._pinned[segment] = height
        self._pinned_width = width
        if checks:
            self.call_after_refresh(self._check_pin, segment, checks - 1)

    def on_resize(self) -> None:
        """A new width re-wraps the text: unfold, let sealed segments size themselves, then pin them anew."""
        width = self.size.width
        if self._pinned_width is None or width == self._pinned_width:
            return
        self._pinned_width = None
        self.unfold()
        for segment in self._sealed:
            self._pinned.pop(segment, None)
            segment.styles.height = "auto"
            self.call_after_refresh(self._pin, segment)

    # ---- folding: out of sight, out of the layout ------------------------------------
    def fold_out_of_sight(self, view: Widget) -> None:
        """While ``view`` follows the end of the reply, fold sealed segments scrolled out of it.

        Textual lays out every widget of the screen on each draw, off-screen
        ones included, so without this a draw late in a long reply costs more
        than an early one. A folded segment keeps its pinned height (the
        scroll geometry does not change) but its blocks leave the layout; they
        come back as soon as scrolling brings the segment within a screen of
        the view (:meth:`_view_scrolled`), or the width changes.
        """
        if self._watching is not view:
            self.watch(view, "scroll_y", self._view_scrolled, init=False)
            self._watching = view
        if view.max_scroll_y - view.scroll_y > 1:
            return  # the reader has scrolled up
        horizon = view.region.y
        for segment in self._sealed:
            if segment in self._pinned and not segment.has_class("-folded") and segment.region.bottom <= horizon:
                segment.add_class("-folded")

    def _view_scrolled(self, old: float, new: float) -> None:
        """Unfold the segments that this scroll brings within a screen of the view, before it is drawn."""
        view = self._watching
        if view is None or not self.folded:
            return
        shift = round(old - new)  # screen regions are from the last layout, at the old offset
        near = view.region.grow((view.size.height, 0, view.size.height, 0))
        for segment in self.folded:
            if segment.region.translate((0, shift)).overlaps(near):
                segment.remove_class("-folded")

    def unfold(self) -> None:
        """Put every folded segment's blocks back."""
        for segment in self.folded:
            segment.remove_class("-folded")


def _drop_requests_made_before_mount(segment: Widget, shown: set[Widget]) -> None:
    """Forget the layout requests of ``segment``'s widgets that were not among those ``shown`` before an append.

    Textual's Markdown fills each block it parses (``set_content``, a request
    for layout) before mounting it. Mounting already asks for the parent's
    layout, and that pass lays the new block out from scratch; but the block's
    own request is sent only once it is mounted and idle, often just after the
    pass, and the whole screen is laid out and repainted a second time for
    nothing.
    """
    for widget in segment.walk_children(Widget):
        if widget not in shown and widget._layout_required:
            widget._layout_required = False


def _blocks(markdown: Markdown) -> list[MarkdownBlock]:
    return [child for child in markdown.children if isinstance(child, MarkdownBlock)]


class ReplyStream(MarkdownStream):
    """Textual's MarkdownStream over a :class:`ReplyBody`, sealing finished segments as it goes.

    Like its parent it coalesces everything written while an append is running
    into the next single ``Markdown.append``. Its ``stop()`` finishes instead of
    cancelling: the parent's cancels the updater task, which can leave an
    append running in the background after ``stop()`` returned. Here ``stop()``
    asks the updater to render what is queued and waits for it, so when it
    returns the body holds the whole reply.
    """

    def __init__(self, body: ReplyBody, segment_blocks: int = SEGMENT_BLOCKS) -> None:
        super().__init__(body.live)
        self.body = body
        self.segment_blocks = max(segment_blocks, 2)
        self._closing = False
        self.sealed = 0
        """Segments sealed so far (for tests and benchmarks)."""
        self._scroll_view: Widget | None = None
        self._gap_above: int | None = None
        """Bottom margin the last sealed block gave up (None until the first seal)."""

    async def _run(self) -> None:
        while True:
            await self._new_markup.wait()
            self._new_markup.clear()
            text = "".join(self._pending)
            self._pending.clear()
            if text:
                # One draw, one layout of the screen: none until the append's mounts are
                # done (the paragraph's update alone would make one), and none for the
                # requests new blocks made before they were mounted.
                with self.body.app.batch_update():
                    shown = set(self.markdown_widget.walk_children(Widget))
                    await self.markdown_widget.append(text)
                    self._fit_gap()
                    await self._seal_if_long()
                    _drop_requests_made_before_mount(self.markdown_widget, shown)
                    view = self._view()
                    if view is not None:
                        self.body.fold_out_of_sight(view)
                if self.body.is_attached:  # (not if the conversation was closed meanwhile)
                    self.body.screen.check_idle()  # the batch's end wakes only the app
            if self._closing and not self._pending:
                return

    async def stop(self) -> None:
        self._closing = True
        self._new_markup.set()
        if self._task is not None:
            await self._task
            self._task = None
        self._stopped = True

    def cancel(self) -> None:
        """Drop the updater without rendering what is queued: the reply left the screen unfinished.

        A reply that failed before its first token is removed unstopped; its updater waited for
        text forever (one task per failed reply), and quitting printed "Task was destroyed but it
        is pending!" over the shell.
        """
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._stopped = True

    def _view(self) -> Widget | None:
        """The scrolling container the reply is shown in, if any (looked up once)."""
        if self._scroll_view is None:
            try:
                self._scroll_view = self.body.query_ancestor(ScrollableContainer)
            except NoMatches:
                return None
        return self._scroll_view

    async def _seal_if_long(self) -> None:
        """Seal the live segment's finished blocks once it holds more than ``segment_blocks``.

        Only the last block moves to the new segment (it is re-parsed there):
        it may still grow or change type, while every block before it is final
        (Textual's own append re-parses from the start of the last block). It
        was started by the append just made, so it is short and cheap to mount
        again, whereas the block before it may be a long list or code block.
        """
        live = self.markdown_widget
        blocks = _blocks(live)
        if len(blocks) <= self.segment_blocks:
            return
        moving, last_sealed = blocks[-1], blocks[-2]
        if moving.source_range is None:
            return
        start = moving.source_range[0]
        lines = live.source.splitlines(keepends=True)
        head, tail = "".join(lines[:start]), "".join(lines[start:])
        successor = ReplySegment()
        # The gap between the segments is the new segment's own top margin (see _fit_gap).
        margin = last_sealed.styles.margin
        self._gap_above = margin.bottom
        with live.app.batch_update():
            last_sealed.styles.margin = (margin.top, margin.right, 0, margin.left)
            await moving.remove()
            # What the sealed segment shows (MarkdownBlock.source slices it by line range).
            live._markdown = head
            await self.body.mount(successor)
            await successor.append(tail)
            self.markdown_widget = successor
            self._fit_gap()
        self.body.seal(live)
        self.sealed += 1

    def _fit_gap(self) -> None:
        """Give the live segment the gap one widget's collapsed margins would leave above its first block.

        Inside one container Textual collapses adjacent vertical margins to
        the larger of the two; across two containers they add up. The sealed
        block above gave up its bottom margin (``_gap_above``), and the live
        segment's top margin makes up the difference to its first block's own
        top margin. That block may still change type (a paragraph becomes a
        table or a heading), so this runs after every append.
        """
        if self._gap_above is None:
            return
        live = self.markdown_widget
        first = next(iter(_blocks(live)), None)
        own = first.styles.margin.top if first is not None else 0
        gap = max(self._gap_above, own) - own
        if live.styles.margin.top != gap:
            live.styles.margin = (gap, 0, 0, 0)

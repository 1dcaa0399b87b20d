"""Markdown lists that grow in place while a reply streams, instead of being replaced.

Textual's Markdown updates a streamed paragraph or code block in place, but
replaces a whole list on every append: every item is re-mounted (style
resolution, layout) and the old widgets are left as cyclic garbage, most of
what the full garbage collection after a reply has to go through. In a
:class:`ReplySegment` lists are :class:`GrowingList` widgets: the items whose
source did not change stay, the last one is updated, new ones are mounted
after it. The screen is what Textual's own list draws (the reply-stream tests
compare them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Sequence

from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Markdown
from textual.widgets._markdown import (  # not re-exported; Textual is pinned <8.3 (see pyproject)
    MarkdownBullet,
    MarkdownBulletList,
    MarkdownListItem,
    MarkdownOrderedList,
    MarkdownParagraph,
)
from textual.widgets.markdown import MarkdownBlock

if TYPE_CHECKING:
    _ListBase = MarkdownBlock
else:
    _ListBase = object  # a mixin: Textual takes CSS and type names from a widget's first *widget* base


class GrowingList(_ListBase):
    """Mixed into a Markdown list: when a streaming append re-parses it, the items that did not change stay.

    Textual's list composes each item as ``Horizontal(MarkdownBullet,
    Vertical(*item blocks))``; the rows built here are the same. An item is
    unchanged when its source lines are (streamed text only ever grows at the
    end, so that is every item but the last); anything else — fewer items, a
    different list, an unusual row — falls back to Textual's replacement.
    Put it first among the bases, before the Textual list class.
    """

    _item_sources: list[str] | None = None

    def compose(self):  # type: ignore[no-untyped-def]
        self._item_sources = self._sources_of(self._blocks, self)
        yield from super().compose()  # type: ignore[misc]

    def _bullet_symbols(self, items: Sequence[MarkdownListItem]) -> list[str]:
        """The bullet text of each item, as Textual's list draws it."""
        return [item.bullet for item in items]

    def _sources_of(self, items: Iterable[MarkdownBlock], listing: MarkdownBlock) -> list[str] | None:
        """Each item's source text, or None if they are not all list items with known lines."""
        token_map = listing._token.map
        if token_map is None:
            return None
        offset = listing.source_range[0] - token_map[0]  # item lines are relative to the parsed chunk
        lines = self._markdown.source.splitlines(keepends=True)
        sources = []
        for item in items:
            if not isinstance(item, MarkdownListItem) or item._token.map is None:
                return None
            start, end = item._token.map
            sources.append("".join(lines[start + offset : end + offset]))
        return sources

    async def _update_from_block(self, block: MarkdownBlock) -> None:
        if type(block) is type(self) and await self._grow(block):
            return
        await super()._update_from_block(block)

    async def _grow(self, new: MarkdownBlock) -> bool:
        """Turn this list into ``new`` by updating its last item and mounting new ones; False if it cannot."""
        items = [block for block in new._blocks if isinstance(block, MarkdownListItem)]
        sources = self._sources_of(new._blocks, new)
        old = self._item_sources
        rows = list(self.children)
        if sources is None or old is None or len(rows) != len(old) or not rows or len(items) < len(rows):
            return False
        parts = [_row_parts(row) for row in rows]
        if sources[: len(old) - 1] != old[:-1] or not all(parts):
            return False
        symbols = self._bullet_symbols(items)
        last = len(old) - 1
        if sources[last] != old[last] and not _update_row(parts[last], items[last]):  # type: ignore[arg-type]
            await rows[last].remove()
            row = _row(items[last], symbols[last])
            await (self.mount(row, after=rows[last - 1]) if last else self.mount(row, before=0))
            rows[last], parts[last] = row, _row_parts(row)
        for row_parts, symbol in zip(parts, symbols):
            bullet, _ = row_parts  # type: ignore[misc]
            if bullet.symbol != symbol:
                bullet.symbol = symbol
                bullet.refresh(layout=True)  # its width is its text's ("9. " → "10. ")
        added = [_row(item, symbol) for item, symbol in zip(items[len(rows) :], symbols[len(rows) :])]
        if added:
            await self.mount_all(added)
        self._copy_context(new)
        self._item_sources = sources
        return True


class GrowingBulletList(GrowingList, MarkdownBulletList):
    """A bullet list whose rows survive streaming appends."""


class GrowingOrderedList(GrowingList, MarkdownOrderedList):
    """A numbered list whose rows survive streaming appends (numbers re-aligned as Textual does)."""

    def _bullet_symbols(self, items: Sequence[MarkdownListItem]) -> list[str]:
        suffix, start = ". ", 1
        if items:
            try:
                start = int(items[0].bullet)
            except ValueError:
                pass
        numbers = range(start, start + len(items))
        size = max((len(f"{number}{suffix}") for number in numbers), default=0)
        return [f"{number}{suffix}".rjust(size + 1) for number in numbers]


def _row(item: MarkdownListItem, symbol: str) -> Horizontal:
    """An item's row, built as Textual's list composes it."""
    bullet = MarkdownBullet()
    bullet.symbol = symbol
    return Horizontal(bullet, Vertical(*item._blocks))


def _row_parts(row: Widget) -> tuple[MarkdownBullet, Vertical] | None:
    children = list(row.children)
    if (
        isinstance(row, Horizontal)
        and len(children) == 2
        and isinstance(children[0], MarkdownBullet)
        and isinstance(children[1], Vertical)
    ):
        return children[0], children[1]
    return None


def _update_row(parts: tuple[MarkdownBullet, Vertical], item: MarkdownListItem) -> bool:
    """Update a row whose item is one paragraph to ``item``'s paragraph, in place; False if not that shape."""
    blocks = list(parts[1].children)
    if (
        len(blocks) == 1
        and len(item._blocks) == 1
        and isinstance(blocks[0], MarkdownParagraph)
        and isinstance(item._blocks[0], MarkdownParagraph)
    ):
        blocks[0].set_content(item._blocks[0]._content)
        blocks[0]._copy_context(item._blocks[0])
        return True
    return False


class ReplySegment(Markdown):
    """One segment of a reply: a Markdown widget whose top-level lists grow in place while streaming."""

    BLOCKS = {
        **Markdown.BLOCKS,
        "bullet_list_open": GrowingBulletList,
        "ordered_list_open": GrowingOrderedList,
    }

    def __init__(self, markdown: str | None = None, classes: str | None = None) -> None:
        from .line_breaks import reply_parser

        # A model's single newlines are line breaks (see .line_breaks), live and reopened alike.
        super().__init__(markdown, classes=classes, parser_factory=reply_parser)

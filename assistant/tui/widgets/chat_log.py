"""The conversation: its turns (:mod:`.chat_messages`) in a scroll view that follows the reply.

A stored conversation opens at its end (:data:`EARLIER_BATCH_CHARS` at a time,
the earlier turns drawn as you scroll up), and turns far from the view leave the
layout (:mod:`.turn_folding`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Static

from ..reply_status import failed_tool_status, noted_status, stored_reply_status
from .chat_messages import (  # noqa: F401 - the turn widgets were defined here (before the split): importable still
    AssistantMessage,
    ChatMessage,
    ToolMessage,
    UserMessage,
    code_blocks,
    json_markdown,
    prefetch_inspect,
    prefetch_markdown,
    reasoning_widgets,
)
from .turn_folding import FOLD_CSS, TurnFolder

if TYPE_CHECKING:
    from ...history import StoredMessage


EARLIER_BATCH_CHARS = 4000
"""Stored text drawn at a time: when a conversation opens (its end), then per step as you scroll up.

Textual takes ~0.4 s to mount and lay out a 2000-character Markdown reply on
a 2-core machine, so a stored conversation of 20 such turns drawn at once
froze the app for ~9 s; drawn from its end it opens in ~1 s, however long it
is (``benchmarks/tui_open.py``).
"""

EARLIER_BATCH_MESSAGES = 30
"""At most this many stored messages per step (short ones are cheap, but not free)."""


def stored_widgets(stored: Sequence[StoredMessage], before: Sequence[str] = ()) -> list[ChatMessage]:
    """Stored messages as the turns the log draws: statuses, tool and template results, versions.

    ``before``: the contents of the stored messages above these (a slash
    command may have run on the last of them).
    """
    from ..templating import answer_view, stored_extraction
    from .tool_results import result_view, stored_source_text, stored_tool_label

    widgets: list[ChatMessage] = []
    templates: dict = {}  # the templates the replies were written with, each read once
    previous: list[str] = list(before)  # contents so far: a slash command may have run on the last message
    for message in stored:
        drawn = len(widgets)
        if message.role == "user":
            widgets.append(UserMessage(message.content))
        elif message.role == "assistant" and message.tool_result is not None:
            body, plain = result_view(
                message.tool_result, stored_source_text(previous), plain=message.content
            )
            label = (
                stored_tool_label(previous, message.tool_name)
                if message.tool_name
                else (message.template or "result")
            )
            widgets.append(ToolMessage(label, body, plain))
        elif message.role == "assistant" and message.tool_name and message.status != "complete":
            # A tool run that failed: drawn as live, its slash line marked failed with the reason (live, a
            # notification said it; reopened, nothing did), or stopped.
            if widgets and isinstance(widgets[-1], UserMessage):
                widgets[-1].set_status(*failed_tool_status(message))
        elif message.role == "assistant":
            status = stored_reply_status(message)
            folded = None
            if message.status == "complete" and message.content:  # as the live reply ends (chat_replies.py)
                folded, note = answer_view(stored_extraction(message.template, message.content, templates))
                status = noted_status(status, note)
            widgets.append(
                AssistantMessage(
                    message.content,
                    label=message.model or "Assistant",
                    status=status,
                    message_id=message.id,
                    folded=folded,
                )
            )
        previous.append(message.content)
        if len(widgets) > drawn:
            widgets[-1].message_id = message.id
            widgets[-1].versions = (message.alternative, message.alternatives)
    return widgets


class EarlierMessages(Static):
    """The top of a stored conversation whose first messages are not drawn yet; click or scroll up."""

    DEFAULT_CSS = """
    EarlierMessages { color: $text-muted; text-align: center; width: 100%; margin-bottom: 1; }
    EarlierMessages:hover { color: $text; }
    """

    def show_count(self, count: int) -> None:
        noun = "message" if count == 1 else "messages"
        self.update(Text(f"↑ {count} earlier {noun}: scroll up or click to show them"))

    async def on_click(self) -> None:
        log = self.parent
        if isinstance(log, ChatLog):
            await log.show_earlier()


class ChatLog(VerticalScroll):
    """The scrolling list of turns; stays pinned to the bottom while a reply streams."""

    DEFAULT_CSS = """
    ChatLog { height: 1fr; padding: 1 1 0 1; scrollbar-size-vertical: 1; }
    ChatLog > .empty { color: $text-muted; text-align: center; width: 100%; margin-top: 2; }
    """ + FOLD_CSS

    def __init__(self, *children: Widget, **kwargs: object) -> None:
        super().__init__(*children, **kwargs)  # type: ignore[arg-type]
        self.folder = TurnFolder(self, self._child_turns)
        """Keeps turns far from the view out of the layout (see :mod:`.turn_folding`)."""
        self._earlier: list[ChatMessage] = []
        """Stored messages not mounted yet, oldest first (see :meth:`show_earlier`)."""
        self._showing_earlier = False

    @property
    def earlier_count(self) -> int:
        """Stored messages above the first one drawn."""
        return len(self._earlier)

    async def add(self, message: ChatMessage) -> ChatMessage:
        await self.remove_children(".empty")
        await self.mount(message)
        self.anchor()
        self.call_after_refresh(self.folder.refold)
        return message

    async def clear(self, hint: str = "") -> None:
        self._earlier = []
        await self.remove_children()
        if hint:
            await self.mount(Static(Text(hint), classes="empty", markup=False))

    async def show_stored(self, stored: Sequence[StoredMessage]) -> None:
        """Replace the view by stored messages, drawn as they were: statuses, tool and template results.

        Only the end is drawn at first (:data:`EARLIER_BATCH_CHARS`); earlier
        messages are drawn as scrolling up reaches them.
        """
        await self.clear()
        self._earlier = stored_widgets(stored)
        recent: list[Widget] = list(self._take_earlier())
        if self._earlier:
            marker = EarlierMessages(markup=False)
            marker.show_count(len(self._earlier))
            recent.insert(0, marker)
        if recent:
            await self.mount_all(recent)
            self.anchor()
            self.call_after_refresh(self.folder.refold)

    async def replace_from(
        self, first: ChatMessage, stored: Sequence[StoredMessage], before: Sequence[str]
    ) -> None:
        """Replace ``first`` and every turn after it by ``stored`` (another branch of the conversation).

        ``before``: the contents of the stored messages above (a slash command
        may have run on the last of them). The view stays where it is.
        """
        children = list(self.children)
        await self.remove_children(children[children.index(first) :])
        widgets = stored_widgets(stored, before)
        if widgets:
            await self.mount_all(widgets)
        self.call_after_refresh(self.folder.refold)

    def _take_earlier(self) -> list[ChatMessage]:
        """The last not-yet-drawn stored messages, up to one batch (at least two: an exchange)."""
        count, chars = 0, 0
        for message in reversed(self._earlier):
            if count >= 2 and (chars >= EARLIER_BATCH_CHARS or count >= EARLIER_BATCH_MESSAGES):
                break
            count += 1
            chars += len(message.text)
        batch = self._earlier[len(self._earlier) - count :]
        del self._earlier[len(self._earlier) - count :]
        return batch

    async def show_earlier(self) -> None:
        """Draw the next batch of earlier stored messages above the first one shown, keeping the view still.

        The new messages' height is known only once they are laid out, so the
        scroll offset is corrected after that refresh (by how far the message
        that was first has moved).
        """
        if not self._earlier or self._showing_earlier:
            return
        self._showing_earlier = True
        try:
            first = next((child for child in self.children if isinstance(child, ChatMessage)), None)
            offset = first.virtual_region.y - self.scroll_y if first is not None else 0.0
            batch = self._take_earlier()
            marker = next(iter(self.query(EarlierMessages)), None)
            if first is not None:
                await self.mount_all(batch, before=first)
            else:
                await self.mount_all(batch)
            if marker is not None:
                if self._earlier:
                    marker.show_count(len(self._earlier))
                else:
                    await marker.remove()
            if first is not None:
                self.call_after_refresh(self._keep_in_view, first, offset)
        finally:
            self._showing_earlier = False

    def _keep_in_view(self, message: ChatMessage, offset: float) -> None:
        self.scroll_to(y=message.virtual_region.y - offset, animate=False, immediate=True)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self.folder.refold(new_value)
        if self._earlier and new_value < 1 <= old_value:
            self.call_later(self.show_earlier)

    def on_resize(self) -> None:
        self.call_after_refresh(self.folder.refold)

    def scroll_up_past_top(self) -> None:
        """A scroll up asked for at the top (where ``scroll_y`` cannot change) shows earlier messages too."""
        if self._earlier and self.scroll_y < 1:
            self.call_later(self.show_earlier)

    def on_mouse_scroll_up(self) -> None:
        self.scroll_up_past_top()

    def turns(self) -> list[ChatMessage]:
        return list(self.query(ChatMessage))

    def _child_turns(self) -> list[ChatMessage]:
        """The turns directly in the log (no tree walk: folding asks on every scroll)."""
        return [child for child in self.children if isinstance(child, ChatMessage)]

    def last_assistant(self) -> AssistantMessage | None:
        replies = list(self.query(AssistantMessage))
        return replies[-1] if replies else None

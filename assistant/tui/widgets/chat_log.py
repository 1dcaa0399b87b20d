"""The conversation: one widget per turn, in a scroll view that follows the reply.

User turns are drawn as plain text (exactly what was sent); model replies as
Markdown (a reply that is exactly one JSON document, as a schema makes them,
as a highlighted ``json`` code block once complete), streamed through
:class:`textual.widgets.MarkdownStream` into
sealed segments and a live tail (:mod:`.reply_stream`), so each token costs
the same however long the reply grows. Nothing a user or model
wrote is ever parsed as Rich/Textual markup (see :mod:`assistant.tui.text`).

Textual's Markdown widgets (with markdown-it and Pygments, ~60 ms) are
imported when the first reply is drawn, or in the background after the first
frame (:func:`prefetch_markdown`), not before the empty chat can show.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from rich.text import Text
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Collapsible, Static

from ...terminal_text import StreamedLineEnds
from ..reply_status import ended_status, failed_tool_status, noted_status, stored_reply_status
from ..text import visible_text
from .turn_folding import FOLD_CSS, TurnFolder

if TYPE_CHECKING:
    from ...history import StoredMessage
    from ...inspect.token_view import ReplyTokens
    from .reply_stream import ReplyBody, ReplyStream

_FENCE = re.compile(r"^(```+|~~~+)[^\n]*\n(.*?)^\1[ \t]*$", re.MULTILINE | re.DOTALL)


def prefetch_markdown() -> None:
    """Import the Markdown widgets now (run it in a thread once the first frame is up)."""
    from . import reply_stream  # noqa: F401


def prefetch_inspect() -> None:
    """Import the inspect views' math (numpy: ~0.2 s) while a reply is focused, before t / a open a view."""
    from ...inspect import distribution  # noqa: F401


def json_markdown(text: str) -> str | None:
    """A reply that is exactly one JSON object or array, as a fenced ``json`` block (indented); else None.

    Only whole documents: a reply that merely contains JSON keeps its Markdown.
    The copy actions still copy the reply as the model wrote it.
    """
    stripped = text.strip()
    if not stripped or stripped[0] not in "{[":
        return None
    try:
        value = json.loads(stripped)
    except (ValueError, RecursionError):  # a small model's "[[[[…]]]]" nested past the parser's stack: Markdown
        return None
    body = json.dumps(value, indent=2, ensure_ascii=False)
    fence = "```"
    while fence in body:
        fence += "`"
    return f"{fence}json\n{body}\n{fence}\n"


def code_blocks(markdown: str) -> list[str]:
    """The contents of the fenced code blocks in ``markdown``, in order."""
    return [match.group(2) for match in _FENCE.finditer(markdown)]


class ChatMessage(Vertical, can_focus=True):
    """One turn. Focus it (click or Tab) to copy it, or its code blocks."""

    BINDINGS = [
        Binding("c", "copy_message", "Copy message"),
        Binding("b", "copy_code", "Copy code"),
        # Versions (regenerated replies, edited messages): only on a turn that has some. One footer
        # entry for both: two long ones pushed a reply's t (tokens) and a (attention) off an 80-column footer.
        Binding("left", "previous_version", "version", key_display="←/→"),
        Binding("right", "next_version", "Next version", show=False),
    ]

    @dataclass
    class BranchRequested(Message):
        """Regenerate this reply, edit this message, or show its ``previous`` / ``next`` version (the screen does)."""

        message: ChatMessage
        request: str

    DEFAULT_CSS = """
    ChatMessage {
        height: auto;
        margin: 0 1 1 0;
        padding: 0 1;
        border-left: outer $panel-lighten-2;
    }
    ChatMessage:focus { border-left: outer $accent; background: $boost; }
    /* auto: a long header (a stored turn's "[error: why]") wraps instead of losing its end at the edge */
    ChatMessage > .header { color: $text-muted; text-style: bold; height: auto; }
    ChatMessage.user { border-left: outer $primary; }
    ChatMessage.assistant { border-left: outer $success; }
    ChatMessage.assistant.interrupted { border-left: outer $warning; }
    ChatMessage.error { border-left: outer $error; }
    ChatMessage.tool { border-left: outer $secondary; }
    ChatMessage Markdown { padding: 0; margin: 0; }
    ChatMessage > .body { height: auto; }
    """

    role = "message"

    def __init__(self, text: str = "", label: str = "", status: str = "") -> None:
        super().__init__(classes=self.role)
        self.text = text
        self.label = label or self.role.title()
        self.status = status
        self.why = ""
        """What ``status`` is about (a failed tool run's error): the header says ``[failed: why]``."""
        self._status_classes()  # a stored turn is drawn with its status from the start
        self._code_index = 0
        self.message_id: int | None = None
        """The stored message, when the turn is in the history."""
        self.versions = (1, 1)
        """Which of the versions at its place this is, of how many (regenerated replies, edited messages)."""

    def header_text(self) -> Text:
        text = Text(visible_text(self.label))
        if self.versions[1] > 1:
            text.append(f"  ‹ {self.versions[0]}/{self.versions[1]} ›", style="bold")
        if self.status:
            shown = f"{self.status}: {self.why}" if self.why else self.status
            text.append(f"  [{visible_text(shown)}]", style="italic")  # an error's text is data
        return text

    def compose_header(self) -> Static:
        return Static(self.header_text(), classes="header", markup=False)

    def set_status(self, status: str, why: str = "") -> None:
        self.status, self.why = status, why
        self._status_classes()
        self._redraw_header()

    def _status_classes(self) -> None:
        """Its border's colour says how it ended: interrupted, or failed (``error: why`` too)."""
        self.set_class(self.status == "interrupted", "interrupted")
        self.set_class(self.status == "error" or self.status.startswith("error:"), "error")

    def set_versions(self, which: int, count: int) -> None:
        self.versions = (which, count)
        self._redraw_header()
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("previous_version", "next_version"):
            return self.versions[1] > 1  # else the key scrolls, as it does elsewhere in the log
        return True

    def action_previous_version(self) -> None:
        self.post_message(self.BranchRequested(self, "previous"))

    def action_next_version(self) -> None:
        self.post_message(self.BranchRequested(self, "next"))

    def _redraw_header(self) -> None:
        if self.is_mounted:
            self.query_one(".header", Static).update(self.header_text())

    def copy_text(self) -> str:
        return self.text

    def action_copy_message(self) -> None:
        self.app.copy_to_clipboard(self.copy_text())
        self.notify(f"Copied the message ({len(self.copy_text())} characters)")

    def action_copy_code(self) -> None:
        blocks = code_blocks(self.text)
        if not blocks:
            self.notify("This message has no code block", severity="warning")
            return
        index = self._code_index % len(blocks)
        self._code_index += 1
        self.app.copy_to_clipboard(blocks[index])
        self.notify(f"Copied code block {index + 1} of {len(blocks)}")


class UserMessage(ChatMessage):
    role = "user"
    BINDINGS = [Binding("e", "edit", "Edit")]

    def action_edit(self) -> None:
        self.post_message(self.BranchRequested(self, "edit"))

    def __init__(self, text: str, status: str = "", message_id: int | None = None) -> None:
        super().__init__(text, "You", status)
        self.message_id = message_id

    def compose(self):  # type: ignore[no-untyped-def]
        yield self.compose_header()
        yield Static(Text(visible_text(self.text)), classes="body", markup=False)


class AssistantMessage(ChatMessage):
    """A model reply; streams while it is generated, then may fold its reasoning."""

    role = "assistant"
    BINDINGS = [
        Binding("t", "token_view", "Tokens"),
        Binding("a", "attention_view", "Attention"),
        Binding("r", "regenerate", "Regenerate"),
    ]

    @dataclass
    class TokenViewRequested(Message):
        """Open the token view of ``reply`` (the chat screen knows where its numbers are)."""

        reply: AssistantMessage

    @dataclass
    class AttentionViewRequested(Message):
        """Open the attention view of ``reply`` (it needs the same prompt and tokens as the token view)."""

        reply: AssistantMessage

    def __init__(
        self,
        text: str = "",
        label: str = "Assistant",
        status: str = "",
        message_id: int | None = None,
        folded: tuple[str, str] | None = None,
    ) -> None:
        super().__init__(text, label, status)
        self._stream: ReplyStream | None = None
        self._line_ends = StreamedLineEnds()
        """Holds a piece's end that a joiner in the next piece could attach to (👩 and its ZWJ arrive
        apart): shown piece by piece, the ZWJ was an escape live and not when the reply was reopened."""
        self.message_id = message_id
        self._folded = folded
        """(reasoning, answer): a stored chain-of-thought reply, drawn folded as it was live."""
        self.reply_tokens: ReplyTokens | None = None
        """Its tokens and their numbers, once known (a live reply's, or loaded for the token view)."""

    def on_focus(self) -> None:
        if "assistant.inspect.distribution" not in sys.modules:
            self.run_worker(prefetch_inspect, thread=True, group="prefetch-inspect", exit_on_error=False)

    def action_token_view(self) -> None:
        self.post_message(self.TokenViewRequested(self))

    def action_attention_view(self) -> None:
        self.post_message(self.AttentionViewRequested(self))

    def action_regenerate(self) -> None:
        self.post_message(self.BranchRequested(self, "regenerate"))

    def compose(self):  # type: ignore[no-untyped-def]
        from .reply_stream import ReplyBody

        yield self.compose_header()
        if self._folded is not None:
            yield from reasoning_widgets(*self._folded)
        else:
            yield ReplyBody(visible_text(json_markdown(self.text) or self.text), classes="body")

    @property
    def body(self) -> ReplyBody:
        from .reply_stream import ReplyBody

        return self.query_one(ReplyBody)

    @property
    def shown_markdown(self) -> str:
        """The Markdown on screen (what has been drawn of the reply so far)."""
        return self.body.source

    def start_stream(self) -> None:
        from .reply_stream import ReplyStream

        self._stream = ReplyStream(self.body)
        self._line_ends = StreamedLineEnds()
        self._stream.start()

    def on_unmount(self) -> None:
        """Taken off the screen while streaming (a reply that failed before any text, the app quitting
        mid-reply): its stream's updater goes with it (see :meth:`ReplyStream.cancel`)."""
        if self._stream is not None:
            self._stream.cancel()
            self._stream = None

    async def write(self, text: str) -> None:
        """Append streamed text (call from the UI thread, in order)."""
        if not text:
            return
        self.text += text
        if self._stream is None:
            self.start_stream()
        assert self._stream is not None
        shown = self._line_ends.feed(text)
        if shown:
            await self._stream.write(visible_text(shown))

    async def finish(self, status: str = "") -> None:
        """End the stream (rendering whatever is still queued) and show the outcome."""
        if self._stream is not None:
            if rest := self._line_ends.flush():
                await self._stream.write(visible_text(rest))
            await self._stream.stop()
            self._stream = None
        shown = json_markdown(self.text)
        if shown is not None and self.is_mounted:
            from .reply_stream import ReplyBody

            await self.body.remove()
            await self.mount(ReplyBody(visible_text(shown), classes="body"))
        self.set_status(ended_status(status, self.text))

    async def show_reasoning(self, reasoning: str, answer: str) -> None:
        """Replace the body by a collapsed "Reasoning" section and the extracted answer."""
        await self.body.remove()
        await self.mount(*reasoning_widgets(reasoning, answer))


def reasoning_widgets(reasoning: str, answer: str) -> list[Widget]:
    """A chain-of-thought reply's body: its reasoning collapsed, then the extracted answer."""
    from textual.widgets import Markdown

    from .line_breaks import reply_parser

    return [
        Collapsible(
            Markdown(visible_text(reasoning), parser_factory=reply_parser),
            title="Reasoning",
            collapsed=True,
            classes="reasoning",
        ),
        Static(Text("Answer", style="bold"), classes="answer-label"),
        Markdown(visible_text(answer), classes="body answer", parser_factory=reply_parser),
    ]


class ToolMessage(ChatMessage):
    """The structured result of a slash command."""

    role = "tool"

    def __init__(self, label: str, body: Widget, plain_text: str) -> None:
        super().__init__(plain_text, label)
        self._body = body

    def compose(self):  # type: ignore[no-untyped-def]
        yield self.compose_header()
        yield self._body


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
            if message.status == "complete" and message.content:  # as the live reply ends (chat.py)
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

"""The turns of the conversation: one widget per message (yours, a model's reply, a tool's result).

User turns are drawn as plain text (exactly what was sent); model replies as
Markdown (a reply that is exactly one JSON document, as a schema makes them,
as a highlighted ``json`` code block once complete), streamed through
:class:`textual.widgets.MarkdownStream` into
sealed segments and a live tail (:mod:`.reply_stream`), so each token costs
the same however long the reply grows. Nothing a user or model
wrote is ever parsed as Rich/Textual markup (see :mod:`assistant.tui.text`).
The scroll view that holds them is :mod:`.chat_log`'s.

Textual's Markdown widgets (with markdown-it and Pygments, ~60 ms) are
imported when the first reply is drawn, or in the background after the first
frame (:func:`prefetch_markdown`), not before the empty chat can show.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Collapsible, Static

from ...terminal_text import StreamedLineEnds
from ..reply_status import ended_status
from ..text import visible_line, visible_text

if TYPE_CHECKING:
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
        text = Text(visible_line(self.label))
        if self.versions[1] > 1:
            text.append(f"  ‹ {self.versions[0]}/{self.versions[1]} ›", style="bold")
        if self.status:
            shown = f"{self.status}: {self.why}" if self.why else self.status
            text.append(f"  [{visible_line(shown)}]", style="italic")  # an error's text is data
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

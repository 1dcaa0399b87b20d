"""Messages the worker threads post to the chat screen.

Workers never touch widgets: they post one of these (``post_message`` is
thread-safe and never blocks) and the screen updates itself on the UI thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message

from ..types import Completion


@dataclass
class ModelLoadProgress(Message):
    """A line of progress while a model loads (or downloads)."""

    text: str


@dataclass
class ModelLoaded(Message):
    model: str
    backend: str


@dataclass
class ModelLoadFailed(Message):
    model: str
    backend: str
    error: str


@dataclass
class EngineStatusReady(Message):
    """Status-line facts computed off the UI thread (token counts may need the engine or a server)."""

    sequence: int
    status: Any = None  # EngineStatus | None
    error: str | None = None


@dataclass
class PreviewReady(Message):
    """The prompt inspector's text, rendered and counted off the UI thread."""

    preview: Any = None  # PromptPreview | None
    error: str | None = None


@dataclass
class ReplyProgress(Message):
    """New reply text is waiting in the screen's :class:`~assistant.tui.stream_buffer.ReplyBuffer`."""


@dataclass
class ReplyFinished(Message):
    """The reply ended: ``completion`` when it produced one, ``error`` when it failed."""

    completion: Completion | None
    error: str | None = None
    user_text: str = ""


@dataclass
class TaskFinished(Message):
    """A non-streamed turn (a slash-command tool, a scored template) returned ``result`` or failed."""

    label: str
    user_text: str
    result: Any = None
    error: str | None = None
    source_text: str = ""
    """The text the tool ran on (entity offsets point into it)."""
    stopped: bool = False
    """The user stopped it (Esc): no failure, and ``error`` says only that."""


@dataclass
class TaskProgress(Message):
    """A long tool (map-reduce summary) reporting how far it got."""

    text: str

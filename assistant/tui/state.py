"""The chat app's state that is not widgets: the user's settings and what the controller reports.

Plain dataclasses, Textual-free: :class:`~assistant.tui.controller.ChatController`
fills them in, the screens draw them, and tests read them without a terminal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..types import Completion, GenerationParams, Message


@dataclass
class ChatSettings:
    """The user's choices, all changeable while the app runs."""

    model: str
    backend: str
    params: GenerationParams = field(default_factory=GenerationParams)
    system: str | None = None
    backend_options: dict[str, Any] = field(default_factory=dict)
    template: str | None = None
    template_variables: dict[str, str] = field(default_factory=dict)
    mode: str | None = None
    """``chat``/``completion``, or None: the model's default (base models complete text)."""


@dataclass(frozen=True)
class PromptPreview:
    """The exact text the model will see next, for the prompt inspector."""

    text: str
    tokens: int
    context_length: int
    messages: tuple[Message, ...]
    approximate: bool = False
    dropped: int = 0
    """Older messages left out to fit the context window."""


@dataclass(frozen=True)
class Exchange:
    """What a non-streamed turn produced: the reply to keep, and the structured result to draw."""

    completion: Completion
    result: Any
    tool_name: str | None = None
    tool_result: Any = None


@dataclass(frozen=True)
class EngineStatus:
    """What the status bar shows about the loaded model."""

    model: str
    backend: str
    device: str
    context_length: int
    """0 when the backend does not know its window (some remote servers)."""
    approximate_counts: bool = False
    """Token counts are estimates (a remote server without a tokenize endpoint)."""
    context_used: int | None = None
    dropped: int = 0
    """Older messages the model does not get, to fit the window."""


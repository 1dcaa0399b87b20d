"""Slash commands → tool calls: which tool, which parameters, which text.

``/translate fr Bonjour`` becomes the ``translate`` tool with ``to=fr`` on
"Bonjour"; ``/summarize`` alone runs on the last message of the conversation —
the last *model* reply (or the user's last message before any), never an earlier
tool's output, so ``/sentiment`` after ``/summarize`` judges the conversation.
Required parameters may be given as leading bare words (in declaration order);
any parameter as ``name=value``. Everything is checked here, before a model
runs, so a typo is a notification and the line goes back into the box.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from ..errors import ToolError
from ..types import Message
from .slash import is_slash_command, parse_slash_command


@dataclass(frozen=True)
class ToolCall:
    name: str
    tool: Any  # assistant.tools.RegisteredTool
    params: dict[str, Any]
    """Every declared parameter, typed, defaults filled in."""
    given: dict[str, str]
    """The parameters the user typed (shown in the result's header)."""
    text: str
    on_last_message: bool

    @property
    def label(self) -> str:
        extra = " ".join(f"{key}={value}" for key, value in self.given.items())
        return (
            f"/{self.name}"
            + (f" {extra}" if extra else "")
            + (" (on the last message)" if self.on_last_message else "")
        )


def prepare_tool_call(line: str, messages: Sequence[Message]) -> ToolCall:
    """Resolve a slash line against the registered tools (ToolError / ConfigError when it cannot run)."""
    from ..tools import get_tool

    name = parse_slash_command(line).name
    tool = get_tool(name)
    positional = tuple(p.name for p in tool.parameters if p.required)
    known = frozenset(n for p in tool.parameters for n in p.names)
    command = parse_slash_command(line, positional=positional, known=known)
    params = tool.resolve_params(command.params)
    text = command.text
    on_last = not text
    if on_last:
        last = last_conversation_message(messages)
        if last is None:
            raise ToolError(f"/{name} needs text: type it after the command, or use it after a message")
        text = last.content
    return ToolCall(name, tool, params, dict(command.params), text, on_last)


def last_conversation_message(messages: Sequence[Message]) -> Message | None:
    """The newest message that is part of the conversation: tool turns (a slash line and its result) are skipped."""
    index = len(messages) - 1
    while index >= 0:
        message = messages[index]
        if message.role == "assistant" and index > 0 and is_slash_command(messages[index - 1].content):
            index -= 2  # a tool's result and the slash line that asked for it
            continue
        if message.role == "user" and is_slash_command(message.content):
            index -= 1
            continue
        if message.role in ("user", "assistant"):
            return message
        index -= 1
    return None


def tool_names() -> list[tuple[str, str]]:
    """(name, description) of every registered tool, for /help."""
    from ..tools import available_tools

    return [(name, registered.description) for name, registered in available_tools().items()]


def usage(tool: Any) -> str:
    """``/translate TO [source=...]``: how to call a tool from the chat."""
    parts = [f"/{tool.name}"]
    for parameter in tool.parameters:
        if parameter.required:
            parts.append(parameter.name.upper())
        else:
            parts.append(f"[{parameter.name}=…]")
    parts.append("[TEXT]")
    return " ".join(parts)

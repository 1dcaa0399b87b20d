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
from typing import Any, Callable, Sequence

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


def slash_spelling(command: str, positional: Sequence[str]) -> Callable[[Any], str]:
    """How a parameter is typed after ``/command`` (:func:`parse_slash_command`): a leading word, when it is one
    of the required ones (``/translate fr …``), and ``name=…`` under each of its names (``to=…``, ``target=…``).

    The chat app's :data:`~assistant.tools.base.Spelling` for the missing-parameter message, which said
    "needs the parameter 'to/target'" there: a name nobody can type.
    """

    def spell(parameter: Any) -> str:
        keys = " or ".join(f"{name}=…" for name in parameter.names)
        if parameter.name in positional:
            ahead = positional[: positional.index(parameter.name)]
            words = " ".join(name.upper() for name in (*ahead, parameter.name))
            return f"/{command} {words} …, or {keys}"
        return keys

    return spell


def prepare_tool_call(line: str, messages: Sequence[Message]) -> ToolCall:
    """Resolve a slash line against the registered tools (ToolError / ConfigError when it cannot run)."""
    from ..tools import get_tool
    from ..tools.base import ParameterSet

    name = parse_slash_command(line).name
    tool = get_tool(name)
    positional = tuple(p.name for p in tool.parameters if p.required)
    aliases = {n: p.name for p in tool.parameters for n in p.names}
    command = parse_slash_command(line, positional=positional, known=frozenset(aliases), aliases=aliases)
    params = ParameterSet(tool.name, tool.parameters, slash_spelling(name, positional)).resolve(command.params)
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


def usage(tool: Any) -> str:
    """``/translate TO [source=…] [TEXT]``: how to call a tool from the chat (a choice lists its values)."""
    parts = [f"/{tool.name}"]
    for parameter in tool.parameters:
        if parameter.required:
            parts.append(parameter.name.upper())
        elif parameter.choices:
            parts.append(f"[{parameter.name}={'|'.join(parameter.choices)}]")
        else:
            parts.append(f"[{parameter.name}=…]")
    parts.append("[TEXT]")
    return " ".join(parts)


def parameter_help(parameter: Any) -> str:
    """One parameter in words: its help, then how it is given (required, default, other names)."""
    notes = []
    if parameter.required:
        notes.append("required: a leading word or name=value")
    elif parameter.default not in (None, "") and "default" not in parameter.help.lower():
        default = parameter.default
        if isinstance(default, bool):
            shown = "on" if default else "off"
        elif isinstance(default, (list, tuple)):
            shown = ",".join(map(str, default))
        else:
            shown = str(default)
        notes.append(f"default {shown}")
    if parameter.aliases:
        notes.append("also " + ", ".join(f"{alias}=" for alias in parameter.aliases))
    text = parameter.help or parameter.type
    return f"{text} ({'; '.join(notes)})" if notes else text


@dataclass(frozen=True)
class SlashHelp:
    """One slash command as ``/help`` and F1 list it: how to call it, what it does, its parameters."""

    command: str
    description: str
    parameters: tuple[tuple[str, str], ...] = ()
    """(name, what it takes) for each declared parameter (:func:`parameter_help`)."""

    def lines(self) -> list[str]:
        """As plain text (what copying the help gives)."""
        width = max((len(name) for name, _ in self.parameters), default=0)
        return [
            self.command,
            f"    {self.description}",
            *(f"    {name:<{width}}  {text}" for name, text in self.parameters),
        ]


def slash_help() -> list[SlashHelp]:
    """Every installed tool, with its parameters, then the commands that are not tools (``/help``, ``//``).

    Built from the tool registry (plugins' tools and a replaced tool's own
    parameters included), so the help says what the commands take here. A
    plugin that breaks the listing leaves one entry saying so.
    """
    from .keys import SLASH_HELP

    entries: list[SlashHelp] = []
    try:
        from ..tools import available_tools

        for name, registered in sorted(available_tools().items()):
            source = f" (plugin {registered.plugin})" if registered.plugin not in ("", name) else ""
            entries.append(
                SlashHelp(
                    usage(registered),
                    f"{registered.description}{source}",
                    tuple((parameter.name, parameter_help(parameter)) for parameter in registered.parameters),
                )
            )
    except Exception as exc:  # noqa: BLE001 - a broken plugin must not hide the help
        entries.append(SlashHelp("(tools)", f"could not list the tools: {exc}"))
    return [*entries, *(SlashHelp(command, description) for command, description in SLASH_HELP)]


def help_entries(topic: str = "") -> list[SlashHelp]:
    """What ``/help`` lists: every command, or with a name (``/help translate``) that one alone.

    ``/help translate`` listed every command, and ``/help nosuch`` too, as if the name were not
    there: a name that is no command is refused as any slash command naming no tool is.
    """
    entries = slash_help()
    words = topic.split()
    if not words:
        return entries
    if len(words) > 1:
        raise ToolError(f"/help takes one command's name (/help translate), not {topic.strip()!r}")
    name = words[0].lstrip("/").lower()
    found = [entry for entry in entries if entry.command.split()[0].lower() == f"/{name}"]
    if found:
        return found
    from ..tools import get_tool

    get_tool(name)  # no such tool: the error names the ones there are
    return entries  # a tool the listing could not describe (a plugin that broke it): the whole help

"""Parsing slash commands typed in the chat input (``/translate fr some text``).

Pure functions, so the rules are tested without a screen. A command applies to
the text after it, or, when there is none, to the last message of the
conversation (so ``/summarize`` right after a long reply summarises the reply).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import ToolError


@dataclass(frozen=True)
class SlashCommand:
    """``name`` without the slash, ``params`` from ``key=value`` words, and the text."""

    name: str
    params: dict[str, str] = field(default_factory=dict)
    text: str = ""


def is_slash_command(line: str) -> bool:
    """A line starting with ``/word``, or a lone ``/`` (the help); ``//`` escapes a literal leading slash.

    The message box says "/ for tools": a lone ``/`` sent was a message to the model, and the
    model's answer to it a turn of the conversation. It lists the tools, as ``/help`` does.
    """
    stripped = line.lstrip()
    return stripped.rstrip() == "/" or (
        stripped.startswith("/")
        and not stripped.startswith("//")
        and len(stripped) > 1
        and not stripped[1].isspace()
    )


def unescape_slash(line: str) -> str:
    """``//etc`` sends the message ``/etc``."""
    stripped = line.lstrip()
    return stripped[1:] if stripped.startswith("//") else line


def parse_slash_command(
    line: str,
    positional: tuple[str, ...] = (),
    known: frozenset[str] | None = None,
    aliases: Mapping[str, str] | None = None,
) -> SlashCommand:
    """Split ``/name [positional...] [key=value...] text``.

    ``positional`` names parameters that may be given as leading bare words
    (``/translate fr`` fills ``to``). Leading ``key=value`` words set parameters
    (only keys in ``known``, when given, so "x=1 is an equation" stays text).
    The first other word starts the text, which keeps its own spacing and lines.
    Against a tool's parameters (``known`` given), one given twice (``to=fr to=de``,
    or a leading word and then ``to=de``) is refused, as the ``tool`` command
    refuses it, instead of the last one silently winning. ``aliases`` maps another
    name of a parameter to it (``target`` -> ``to``): ``/translate target=fr Hello``
    has given ``to``, so "Hello" is text, not the leading word for ``to``.
    """
    stripped = line.strip()
    if stripped == "/":
        return SlashCommand("help")
    match = _NAME.match(stripped)
    if match is None:
        raise ToolError(f"not a slash command: {line!r}")
    rest = stripped[match.end() :]
    params: dict[str, str] = {}
    given: set[str] = set()  # parameters given so far, by their own names
    wanted = list(positional)
    while (word_match := _WORD.match(rest)) is not None:
        word = word_match.group(1)
        key, eq, value = word.partition("=")
        if known is not None and key.startswith("--") and key[2:].replace("-", "_") in known:
            # `/ner --types PERSON text` analysed "--types PERSON" as part of the text, silently
            flag = key[2:].replace("-", "_")
            raise ToolError(f"/{match.group(1).lower()}: write {flag}=VALUE here, not {key} (the CLI's spelling)")
        key = key.replace("-", "_")
        if eq and key.isidentifier() and (known is None or key in known):
            parameter = (aliases or {}).get(key, key)
            if known is not None and parameter in given:
                name = match.group(1).lower()
                raise ToolError(f"/{name}: parameter {parameter!r} given twice; give it once")
            params[key] = value
            given.add(parameter)
            if parameter in wanted:
                wanted.remove(parameter)
        elif wanted:
            given.add(wanted[0])
            params[wanted.pop(0)] = word
        else:
            break
        rest = rest[word_match.end() :]
    return SlashCommand(name=match.group(1).lower(), params=params, text=rest.strip())


_NAME = re.compile(r"/(\S+)")
_WORD = re.compile(r"\s*(\S+)")

"""Exporting conversations as Markdown, JSON or JSON Lines.

* ``json``: one object per conversation (``--all``: an array), every stored field;
* ``jsonl``: one conversation per line in the chat fine-tuning shape and nothing
  else: ``{"messages": [{"role": ..., "content": ...}, ...]}``, the system prompt
  as the first message; replies that did not complete (interrupted, cut at max
  tokens, failed) are left out, since training on them teaches cut-offs;
* ``markdown``: for reading; a reply that was cut short says so. Control
  characters are made visible (``ESC`` as ``␛``), as everywhere text is shown.

JSON text is written as stored: control characters (and DEL, C1) become
``\\u`` escapes, nothing is dropped or re-encoded, so a JSON export round-trips
byte for byte and is still safe to ``cat`` to a terminal.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator, TextIO

from ..errors import HistoryError
from ..terminal_text import json_text, visible_text
from .records import Conversation, StoredMessage

FORMATS = ("markdown", "json", "jsonl")

Exported = Iterable[tuple[Conversation, list[StoredMessage]]]


def conversation_dict(conversation: Conversation, messages: list[StoredMessage]) -> dict[str, Any]:
    data = conversation.to_dict()
    data["message_count"] = len(messages)
    data["messages"] = [m.to_dict() for m in messages]
    return data


def fine_tuning_dict(conversation: Conversation, messages: list[StoredMessage]) -> dict[str, Any]:
    """``{"messages": [{role, content}, ...]}``: what chat fine-tuning tools read, one conversation a line."""
    turns = [{"role": "system", "content": conversation.system}] if conversation.system else []
    for message in messages:
        if message.role == "assistant" and message.status != "complete":
            continue
        turns.append({"role": message.role, "content": message.content})
    return {"messages": turns}


def markdown(conversation: Conversation, messages: list[StoredMessage]) -> str:
    title = conversation.title or f"Conversation {conversation.id}"
    details = [f"conversation {conversation.id}", conversation.created]
    details += [v for v in (conversation.model, conversation.backend, conversation.template) if v]
    lines = [f"# {title}", "", "*" + " · ".join(details) + "*", ""]
    if conversation.system:
        lines += ["## System", "", conversation.system, ""]
    for message in messages:
        lines += [f"## {message.role.capitalize()}", "", message.content, ""]
        if message.tool_name:
            result = json.dumps(message.tool_result, ensure_ascii=False, indent=2)
            lines += [f"Tool `{message.tool_name}` result:", "", "```json", result, "```", ""]
        if message.status != "complete":
            reason = f": {message.error}" if message.error else ""
            lines += [f"*({message.status}{reason})*", ""]
    return "\n".join(lines)


def iter_export(conversations: Exported, fmt: str, *, many: bool) -> Iterator[str]:
    """Yield the export in pieces, so ``--all`` streams instead of building one string."""
    if fmt not in FORMATS:
        raise HistoryError(f"unknown export format {fmt!r} (choose from {', '.join(FORMATS)})")
    if fmt == "jsonl":
        for conversation, messages in conversations:
            yield json_text(fine_tuning_dict(conversation, messages)) + "\n"
    elif fmt == "json":
        if not many:
            for conversation, messages in conversations:
                yield json_text(conversation_dict(conversation, messages), indent=2) + "\n"
            return
        yield "["
        for index, (conversation, messages) in enumerate(conversations):
            body = json_text(conversation_dict(conversation, messages), indent=2)
            yield ("," if index else "") + "\n" + body
        yield "\n]\n"
    else:
        for index, (conversation, messages) in enumerate(conversations):
            yield ("\n---\n\n" if index else "") + visible_text(markdown(conversation, messages))


def write_export(out: TextIO, conversations: Exported, fmt: str, *, many: bool) -> None:
    for piece in iter_export(conversations, fmt, many=many):
        out.write(piece)

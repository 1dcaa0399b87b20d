"""Exporting conversations as Markdown, JSON or JSON Lines.

* ``json``: one object per conversation (``--all``: an array), every stored field;
* ``jsonl``: one conversation object per line — the shape fine-tuning tools read
  (``{"messages": [{"role": ..., "content": ...}, ...], ...}``);
* ``markdown``: for reading; a reply that was cut short says so.

Text is written as stored: JSON escapes what it must (``\\u0000``), nothing is
dropped or re-encoded, so a JSON export round-trips byte for byte.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator, TextIO

from ..errors import HistoryError
from .records import Conversation, StoredMessage

FORMATS = ("markdown", "json", "jsonl")

Exported = Iterable[tuple[Conversation, list[StoredMessage]]]


def conversation_dict(conversation: Conversation, messages: list[StoredMessage]) -> dict[str, Any]:
    data = conversation.to_dict()
    data["message_count"] = len(messages)
    data["messages"] = [m.to_dict() for m in messages]
    return data


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
            yield json.dumps(conversation_dict(conversation, messages), ensure_ascii=False) + "\n"
    elif fmt == "json":
        if not many:
            for conversation, messages in conversations:
                yield json.dumps(conversation_dict(conversation, messages), ensure_ascii=False, indent=2) + "\n"
            return
        yield "["
        for index, (conversation, messages) in enumerate(conversations):
            body = json.dumps(conversation_dict(conversation, messages), ensure_ascii=False, indent=2)
            yield ("," if index else "") + "\n" + body
        yield "\n]\n"
    else:
        for index, (conversation, messages) in enumerate(conversations):
            yield ("\n---\n\n" if index else "") + markdown(conversation, messages)


def write_export(out: TextIO, conversations: Exported, fmt: str, *, many: bool) -> None:
    for piece in iter_export(conversations, fmt, many=many):
        out.write(piece)

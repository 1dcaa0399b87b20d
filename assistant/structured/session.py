"""A chat session whose replies are held to a JSON schema (``assistant prompt --schema``, ``-c --schema``).

The schema is a choice made for one reply, not a property of the conversation:
it is shown to the model in that reply's prompt (appended to the system prompt,
:func:`~assistant.structured.output.schema_instruction`) and held by the decoder
for that reply. The conversation keeps its own system prompt, so ``prompt -c``
without ``--schema`` continues as plain chat, neither told to write JSON nor held
to it, and ``prompt -c --schema S`` holds the next reply to S (docs/structured.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..session import ChatSession
from ..types import Message
from .output import schema_instruction


@dataclass
class SchemaSession(ChatSession):
    """:class:`ChatSession` plus ``schema``: every prompt it sends shows the model the schema.

    ``system`` stays the conversation's own system prompt, which is what the
    recorder stores; only the messages sent carry the instruction. In completion
    mode there is no system turn to carry it, as before (the decoder still holds
    the reply where the backend can).
    """

    schema: dict[str, Any] | None = None

    def prompt_messages(self, user_text: str | None = None) -> list[Message]:
        messages = super().prompt_messages(user_text)
        if self.schema is None or self.mode != "chat":
            return messages
        own_system = 1 if self.system else 0  # ChatSession puts the system prompt first when there is one
        return [Message("system", schema_instruction(self.system, self.schema)), *messages[own_system:]]

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

    def _check_fields(self) -> None:
        """The schema too, by the one check every schema gets (:func:`~.constraint.check_constrainable`).

        It is shown to the model even where the backend cannot hold the reply to it
        (``params.json_schema`` is then None), so nothing else checked it: from Python,
        ``SchemaSession(backend, schema="x")`` or an unsupported keyword was taken and sent.
        """
        super()._check_fields()
        if self.schema is not None:
            from ..errors import AssistantError, ConfigError
            from .constraint import check_constrainable

            try:
                check_constrainable("SchemaSession's schema", self.schema)
            except AssistantError as exc:
                raise ConfigError(str(exc)) from None

    def prompt_messages(self, user_text: str | None = None) -> list[Message]:
        messages = super().prompt_messages(user_text)
        if self.schema is None or self.mode != "chat":
            return messages
        own_system = 1 if self.system else 0  # ChatSession puts the system prompt first when there is one
        return [Message("system", schema_instruction(self.system, self.schema)), *messages[own_system:]]

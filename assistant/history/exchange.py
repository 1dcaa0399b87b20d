"""One-shot exchanges on the command line — template runs, tool runs, batch rows — recorded by the one recorder.

They are turns like any other (the user's text is stored before the model runs,
a run cut short is kept as ``interrupted`` or ``error``), written by
:class:`~assistant.history.recorder.ConversationRecorder`, the same recorder the
chat session and the chat app use. Each command makes one conversation (a batch:
one conversation, a turn per row)::

    link = link_history(db, no_log)
    recorder = ExchangeRecorder(link, system=system, kind="tool")
    with recorder.turn(user_text, meta) as turn:
        result = run(...)                 # may raise: stored as error / interrupted
        turn.complete(completion, tool_name="ner", tool_result=result.to_dict())
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Sequence

from ..types import Message
from .model_refs import model_ref_of
from .recorder import ConversationRecorder, ExchangeTurn, unrecorded_turn
from .records import Kind, TurnMeta
from .session_link import HistoryLink

__all__ = ["ExchangeRecorder", "ExchangeTurn", "turn_meta"]


def turn_meta(backend: Any, params: Any, template: str | None = None) -> TurnMeta:
    """What produced a one-shot turn: the loaded backend, its params (GenerationParams or a dict)."""
    params_dict = params.to_dict() if hasattr(params, "to_dict") else dict(params or {})
    return TurnMeta(
        model=backend.model_name, backend=backend.name, template=template, params=params_dict,
        model_ref=model_ref_of(backend),
    )


class ExchangeRecorder:
    """A command's recorder: the conversation recorder of ``link``, or nothing with ``--no-log``."""

    def __init__(
        self, link: HistoryLink, *, system: str | None = None, title: str | None = None, kind: Kind = "chat"
    ) -> None:
        self.system = system
        self.recorder = (
            ConversationRecorder(link.store, title=title, kind=kind)
            if link.log and link.store is not None
            else None
        )

    @property
    def enabled(self) -> bool:
        return self.recorder is not None

    @property
    def conversation_id(self) -> int | None:
        return self.recorder.conversation_id if self.recorder is not None else None

    def turn(
        self, user_text: str, meta: TurnMeta, rendered: Sequence[Message] | None = None
    ) -> AbstractContextManager[ExchangeTurn]:
        """``user_text``: what the user gave; ``rendered``: what a template made of it and sent instead."""
        if self.recorder is None:
            return unrecorded_turn()
        return self.recorder.turn(user_text, meta, self.system, rendered)

"""Recording one-shot exchanges that do not go through a ChatSession: template runs,
batch rows and tool runs.

They are turns like any other — the user's text is stored before the model runs,
and a run cut short is kept as ``interrupted`` or ``error`` — but each command
makes one conversation (a batch: one conversation, a turn per row)::

    link = link_history(db, no_log)
    recorder = ExchangeRecorder(link, system=system, template="sentiment")
    with recorder.turn(user_text, meta) as turn:
        result = run(...)                 # may raise: stored as error / interrupted
        turn.complete(completion, tool_name="ner", tool_result=result.to_dict())
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

from ..types import Completion
from .records import Kind, Status, TurnMeta
from .session_link import HistoryLink
from .store import title_from


@dataclass
class ExchangeTurn:
    """What the run reports back: a completion, or a failure with the text so far."""

    partial: list[str] = field(default_factory=list)
    completion: Completion | None = None
    tool_name: str | None = None
    tool_result: Any = None
    status: Status | None = None
    error: str | None = None

    def add_text(self, piece: str) -> None:
        self.partial.append(piece)

    def complete(self, completion: Completion, *, tool_name: str | None = None, tool_result: Any = None) -> None:
        self.completion, self.tool_name, self.tool_result = completion, tool_name, tool_result

    def fail(self, error: str, text: str | None = None) -> None:
        """The run finished but produced no valid result (e.g. no answer line)."""
        self.status, self.error = "error", error
        if text is not None:
            self.partial = [text]


def turn_meta(backend: Any, params: Any, template: str | None = None) -> TurnMeta:
    """What produced a one-shot turn: the loaded backend, its params (GenerationParams or a dict)."""
    params_dict = params.to_dict() if hasattr(params, "to_dict") else dict(params or {})
    return TurnMeta(model=backend.model_name, backend=backend.name, template=template, params=params_dict)


class ExchangeRecorder:
    """Creates the conversation on the first turn; a no-op with ``--no-log``."""

    def __init__(
        self, link: HistoryLink, *, system: str | None = None, title: str | None = None, kind: Kind = "chat"
    ) -> None:
        self.link = link
        self.system = system
        self.title = title
        self.kind = kind
        self.conversation_id: int | None = None

    @property
    def enabled(self) -> bool:
        return self.link.log and self.link.store is not None

    @contextmanager
    def turn(self, user_text: str, meta: TurnMeta) -> Iterator[ExchangeTurn]:
        report = ExchangeTurn()
        store = self.link.store
        if not self.enabled or store is None:
            yield report
            return
        if self.conversation_id is None:
            conversation = store.create_conversation(
                title=self.title or title_from(user_text), system=self.system, meta=meta, kind=self.kind
            )
            self.conversation_id = conversation.id
        turn = store.start_turn(self.conversation_id, user_text, meta)
        try:
            yield report
        except KeyboardInterrupt:
            store.fail_turn(turn, "".join(report.partial), status="interrupted", error="interrupted by the user")
            raise
        except Exception as exc:
            store.fail_turn(turn, "".join(report.partial), status="error", error=str(exc) or type(exc).__name__)
            raise
        if report.completion is not None and report.status is None:
            store.finish_turn(turn, report.completion, tool_name=report.tool_name, tool_result=report.tool_result)
        else:
            store.fail_turn(
                turn, "".join(report.partial), status=report.status or "error", error=report.error or "no result"
            )

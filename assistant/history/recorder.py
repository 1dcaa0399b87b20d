"""``ConversationRecorder``: the bridge between a ChatSession and the history store.

:class:`~assistant.session.ChatSession` calls it around every ``send``; front
ends only construct it::

    store = HistoryStore.open(db_path)                # --db / config / default
    session.recorder = ConversationRecorder(store)    # new conversation on first turn
    session.recorder = ConversationRecorder(store, conversation_id=12)  # resume

The conversation row is created lazily on the first turn, so opening the chat
and quitting leaves no empty conversation behind.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ..errors import HistoryError
from ..types import Completion
from .records import Status, Turn, TurnMeta
from .store import HistoryStore, title_from

if TYPE_CHECKING:
    from ..session import ChatSession

CHECKPOINT_INTERVAL_S = 1.0


class ConversationRecorder:
    """Records one conversation's turns. ``template`` tags turns made from a template."""

    def __init__(
        self,
        store: HistoryStore,
        conversation_id: int | None = None,
        *,
        template: str | None = None,
        checkpoint_interval: float = CHECKPOINT_INTERVAL_S,
    ) -> None:
        self.store = store
        self.conversation_id = conversation_id
        self.template = template
        self.checkpoint_interval = checkpoint_interval
        self._system: str | None = None
        self._system_known = False
        if conversation_id is not None:
            self._system = store.get_conversation(conversation_id).system
            self._system_known = True
        self._last_checkpoint = 0.0
        self._checkpoint_failed = False

    def _meta(self, session: ChatSession) -> TurnMeta:
        return TurnMeta(
            model=session.backend.model_name or None,
            backend=session.backend.name,
            template=self.template,
            params=session.params.to_dict(),
        )

    def start(self, session: ChatSession, user_text: str) -> Turn:
        """Store the user's message (creating the conversation if needed) before generation."""
        meta = self._meta(session)
        if self.conversation_id is None:
            conversation = self.store.create_conversation(
                title=title_from(user_text), system=session.system, meta=meta
            )
            self.conversation_id = conversation.id
            self._system, self._system_known = session.system, True
        elif self._system_known and session.system != self._system:
            self.store.set_system(self.conversation_id, session.system)
            self._system = session.system
        self._last_checkpoint = time.monotonic()
        self._checkpoint_failed = False
        return self.store.start_turn(self.conversation_id, user_text, meta)

    def progress(self, turn: Turn, parts: list[str]) -> None:
        """Checkpoint the partial reply at most every ``checkpoint_interval`` seconds.

        Best effort: if the database is briefly unavailable the generation goes
        on; :meth:`finish` reports the error if it persists.
        """
        if self._checkpoint_failed:
            return
        now = time.monotonic()
        if now - self._last_checkpoint < self.checkpoint_interval:
            return
        self._last_checkpoint = now
        try:
            self.store.checkpoint(turn, "".join(parts))
        except HistoryError:
            self._checkpoint_failed = True

    def finish(self, turn: Turn, completion: Completion) -> None:
        self.store.finish_turn(turn, completion)

    def fail(self, turn: Turn, partial_text: str, status: Status, error: str | None = None) -> None:
        self.store.fail_turn(turn, partial_text, status=status, error=error)

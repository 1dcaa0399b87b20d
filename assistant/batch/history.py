"""The history conversation of a batch: one per batch, continued by ``--resume``.

A batch is recorded as one conversation with a turn per row (docs/templates.md,
"Batch runs"). A batch stopped half way and resumed is still one batch, so the
resumed rows belong in the conversation the first run began, not in a new one
that leaves the batch's turns split over two. Every result line names that
conversation (``conversation_id``, written by :func:`~assistant.batch.run_rows`),
so the results file itself says where to continue: nothing is guessed from
titles, which a user may rename, or from the newest batch, which may be another.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import HistoryError
from ..history.exchange import ExchangeRecorder
from ..history.recorder import ConversationRecorder
from ..history.session_link import HistoryLink
from .runner import recorded_conversation


class BatchRecorder(ExchangeRecorder):
    """A batch's recorder: a new ``batch`` conversation, or with ``resume`` the one ``out`` names.

    When the conversation the results file names cannot be continued (another
    ``--db``, deleted since, not a batch), the resumed rows start a new one and
    :attr:`note` says so: the summary line then names the new conversation.
    """

    def __init__(self, link: HistoryLink, *, title: str, out: Path | None, resume: bool) -> None:
        super().__init__(link, title=title, kind="batch")
        self.note: str | None = None
        """One line for stderr when a resumed batch could not continue its conversation."""
        self.continued: int | None = None
        """The conversation a resumed batch continues (None: a new one, or not recorded)."""
        if self.recorder is None or link.store is None or not resume or out is None:
            return
        earlier = recorded_conversation(out)
        if earlier is None:
            return  # the earlier run was not recorded (--no-log) or predates conversation_id
        try:
            conversation = link.store.get_conversation(earlier)
        except HistoryError:
            conversation = None
        if conversation is None or conversation.kind != "batch":
            what = "is not in this history" if conversation is None else "is not a batch"
            self.note = (
                f"note: conversation {earlier}, where {out.name} was recorded, {what}; "
                "the resumed rows are recorded in a new conversation"
            )
            return
        self.recorder = ConversationRecorder(link.store, earlier, title=title, kind="batch")
        self.continued = earlier

    def conversation(self) -> int | None:
        """The conversation the rows are recorded in (None before the first turn of a new one)."""
        return self.conversation_id

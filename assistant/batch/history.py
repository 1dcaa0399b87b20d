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
from .provenance import line_input
from .rows import Row
from .runner import BatchSummary, already_done, iter_results, recorded_conversation, unrecorded_lines

CHECKED_INPUTS = 200
"""Inputs of the results file looked for among the conversation's messages: enough to find one, bounded."""
CONTAINED_INPUTS = 20
"""Of those, the ones also looked for inside a message (a template's rendered prompt), which costs more."""


def finished_already(rows: list[Row], out: Path | None, resume: bool, link: HistoryLink) -> BatchSummary | None:
    """The summary of a ``--resume`` that finds every row done (else None), naming the batch's conversation.

    The line is the one the batch's last run ended with, conversation included: the user who
    resumed to find where the batch was recorded is told, for tool and template batches alike,
    and only where the conversation is this history's (:func:`continued_conversation`). Not finished
    while a row's line says its turn is not in the history this run records (:func:`unrecorded_lines`):
    the run records it.
    """
    finished = already_done(rows, out, resume)
    if finished is not None and link.log and link.store is not None and unrecorded_lines(rows, out):
        return None
    if finished is not None and out is not None:
        finished.conversation_id = continued_conversation(link, out)[0]
    return finished


class BatchRecorder(ExchangeRecorder):
    """A batch's recorder: a new ``batch`` conversation, or with ``resume`` the one ``out`` names.

    When the conversation the results file names cannot be continued (another
    ``--db``, deleted since, not a batch, another batch's), the resumed rows start a new one and
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
        earlier, self.note = continued_conversation(link, out)
        if earlier is None:
            return
        self.recorder = ConversationRecorder(link.store, earlier, title=title, kind="batch")
        self.continued = earlier

    def conversation(self) -> int | None:
        """The conversation the rows are recorded in (None before the first turn of a new one)."""
        return self.conversation_id


def continued_conversation(link: HistoryLink, out: Path) -> tuple[int | None, str | None]:
    """The conversation of ``link``'s history where the batch behind ``out`` was recorded, and a note
    when ``out`` names one that is not that batch's.

    ``(None, None)``: nothing to continue (no history, or the earlier runs were not recorded).
    The id on the lines is only a number: with another ``--db`` (or the default database after a
    run with ``--db``) the same number is some other conversation, often another batch, and the
    resumed rows went into it. So the conversation must also hold the batch's rows: one of the
    inputs the results file recorded in it is among its messages (:func:`_holds_rows`).
    """
    if link.store is None:
        return None, None
    earlier = recorded_conversation(out)
    if earlier is None:
        return None, None  # the earlier run was not recorded (--no-log) or predates conversation_id
    try:
        conversation = link.store.get_conversation(earlier)
    except HistoryError:
        conversation = None
    if conversation is None:
        what = "is not in this history"
    elif conversation.kind != "batch":
        what = "is not a batch"
    elif not _holds_rows(link, earlier, out):
        what = "in this history holds another batch"
    else:
        return earlier, None
    return None, (
        f"note: conversation {earlier}, where {out.name} was recorded, {what}; "
        "the resumed rows are recorded in a new conversation"
    )


def _holds_rows(link: HistoryLink, conversation_id: int, out: Path) -> bool:
    """Whether the conversation holds a row that ``out`` says was recorded in it.

    A tool batch's turn is the row's input itself; a template batch's is the rendered user message,
    which contains its ``input`` variable. A results file whose lines carry no input to look for
    (a template without one) cannot be checked, and is trusted as before.
    """
    assert link.store is not None
    wanted = [
        text
        for record in iter_results(out)
        if record.get("conversation_id") == conversation_id and (text := line_input(record)) is not None
    ][:CHECKED_INPUTS]
    if not wanted:
        return True
    try:
        said = [m.content for m in link.store.messages(conversation_id, "all") if m.role == "user"]
    except HistoryError:
        return False
    exact = set(said)
    if any(text in exact for text in wanted):
        return True
    return any(text in message for text in wanted[:CONTAINED_INPUTS] for message in said)

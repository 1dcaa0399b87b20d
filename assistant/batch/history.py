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

import os
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..errors import HistoryError
from ..history.batch_turns import BatchRow
from ..history.exchange import ExchangeRecorder, ExchangeTurn
from ..history.recorder import ConversationRecorder
from ..history.records import StoredMessage, TurnMeta
from ..history.session_link import HistoryLink
from ..types import Message
from .provenance import line_input, line_maker
from .rows import Row
from .runner import (
    BatchSummary,
    already_done,
    done_rows,
    iter_results,
    matching_row,
    recorded_conversation,
    run_rows,
    unrecorded_lines,
    whole_lines_size,
    written_turn,
)

CHECKED_INPUTS = 200
"""Inputs of the results file looked for among the conversation's messages: enough to find one, bounded."""
CONTAINED_INPUTS = 20
"""Of those, the ones also looked for inside a message (a template's rendered prompt), which costs more."""


@dataclass(frozen=True)
class Unwritten:
    """A turn an earlier run recorded and was killed before writing its row's line (:func:`unwritten_turn`)."""

    message: StoredMessage
    """The turn's user message: the row's turn in this run is another reply to it, not a second turn."""
    row: BatchRow | None
    """The row it was recorded for (None: a turn recorded by an older version, known by its text alone)."""


def results_key(out: Path) -> str:
    """How the history names a results file (:class:`~assistant.history.batch_turns.BatchRow`): its absolute
    path, links resolved, so ``out.jsonl`` and ``./dir/../out.jsonl`` are one file."""
    return os.path.realpath(out)


LineRecorder = Callable[["BatchRecorder"], Callable[[dict[str, Any]], None]]
"""Given the batch's recorder, what records one result line as its turn without the model (a template's
rendering, a tool's result): :func:`finished_already` records the lines an earlier run could not."""


def finished_already(
    rows: list[Row], out: Path | None, resume: bool, link: HistoryLink, *, title: str = "",
    record_line: LineRecorder | None = None,
) -> BatchSummary | None:
    """The summary of a ``--resume`` that finds every row done (else None), naming the batch's conversation.

    The line is the one the batch's last run ended with, conversation included: the user who
    resumed to find where the batch was recorded is told, for tool and template batches alike,
    and only where the conversation is this history's (:func:`continued_conversation`). Rows whose
    line says their turn is not in the history (:func:`unrecorded_lines`) are recorded here from their
    lines, as the run would, without the model: loading it (seconds, or a server's first request) ran
    nothing. ``record_line`` records a line; left out, a tool batch's lines are recorded as they say
    (:func:`~assistant.tools.batch.record_line`). None (the run records them) where the conversation the
    lines name cannot be continued (the run starts a new one, titled ``title``, and says so).
    """
    finished = already_done(rows, out, resume)
    if finished is None or out is None:
        return finished
    if link.log and link.store is not None and (unrecorded := unrecorded_lines(rows, out)):
        if record_line is None and any(line_maker(line) != ("tool", line.get("tool")) for line in unrecorded.values()):
            return None  # a template's line: only its template renders its turn again
        return _record_lines(rows, out, link, title, record_line)
    finished.conversation_id = continued_conversation(link, out)[0]
    return finished


def _record_lines(
    rows: list[Row], out: Path, link: HistoryLink, title: str, record_line: LineRecorder | None
) -> BatchSummary | None:
    """Record the turns of the finished lines of ``out`` that say they are not in the history, through the
    runner (which writes each line again unmarked and counts them), with no row run."""
    recorder = BatchRecorder(link, title=title, out=out, resume=True)
    if recorder.continued is None and (recorder.note is not None or not title):
        return None  # the run says why the conversation named cannot be continued, and titles a new one
    if record_line is None:
        from ..tools.batch import record_line as record_tool_line

        def on_record(record: dict[str, Any]) -> None:
            record_tool_line(recorder, record)
    else:
        on_record = record_line(recorder)

    def not_run(row: Row) -> dict[str, Any]:
        raise AssertionError(f"row {row.number} is done: only its line is recorded")

    return run_rows(
        recorder.first_rows(rows, out), not_run, out=out, resume=True, on_record=on_record,
        conversation=recorder.conversation,
        turn=recorder.turn_id,
    )  # fmt: skip


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
        self.unwritten: Unwritten | None = None
        """A turn an earlier run recorded and was killed before writing its row's line (:func:`unwritten_turn`)."""
        self.out = out
        self._given: object = None
        """The turn :meth:`turn_id` last gave."""
        self._first: int | None = None
        """The number of the row :meth:`first_rows` put first for :attr:`unwritten` (None: none)."""
        self._named = True
        """Whether a line of ``out`` names :attr:`continued` (False: only the turn a kill left unwritten does)."""
        self._link, self._title = link, title
        if self.recorder is None or link.store is None or not resume or out is None:
            return
        earlier, self.note = continued_conversation(link, out)
        if earlier is None:
            return
        self.recorder = ConversationRecorder(link.store, earlier, title=title, kind="batch")
        self.continued = earlier
        self.unwritten = unwritten_turn(link, earlier, out)
        self._named = recorded_conversation(out) == earlier

    def conversation(self) -> int | None:
        """The conversation the rows are recorded in (None before the first turn of a new one)."""
        return self.conversation_id

    def turn_id(self) -> int | None:
        """The history message holding the reply of the turn recorded since the last call (None: none was):
        each line names its row's (``message_id``, :func:`~assistant.batch.run_rows`)."""
        last = self.recorder.last_turn if self.recorder is not None else None
        if last is None or last is self._given:
            return None
        self._given = last
        return last.reply_message_id

    def turn(
        self, user_text: str, meta: TurnMeta, rendered: Sequence[Message] | None = None, *,
        line: Mapping[str, Any] | None = None,
    ) -> AbstractContextManager[ExchangeTurn]:
        """The turn of the row whose result ``line`` is (its ``row`` and ``id``, kept with the turn with where
        the results file stands: :mod:`~assistant.history.batch_turns`, which a ``--resume`` reads).

        The first of a resumed run, for the row of :attr:`unwritten` (:meth:`first_rows` runs it first), is
        another reply to that stored user message (its version 2: both answers kept, the line's shown). Only
        the first: a turn recorded before it would follow the unwritten turn's reply, and a new reply beside
        that one would leave it on a branch no longer shown.
        """
        unwritten, self.unwritten = self.unwritten, None
        if (
            unwritten is not None and self.recorder is not None and unwritten.message.content == user_text
            and (unwritten.row is None or (line is not None and line.get("row") == self._first))
        ):  # fmt: skip
            self.recorder.regenerate(unwritten.message.id)
        if self.recorder is not None and line is not None and self.out is not None and self.out.is_file():
            self.recorder.batch_row = BatchRow(
                results_key(self.out), os.stat(self.out).st_size, int(line["row"]), line.get("id")
            )  # the file holds the lines written so far, each flushed whole: the next line will make it longer
        return super().turn(user_text, meta, rendered)

    def first_rows(self, rows: list[Row], out: Path | None, input_field: str | None = None) -> list[Row]:
        """``rows`` with the one whose turn :attr:`unwritten` is first (the first this run records, not done or
        done but not recorded: the row the turn was recorded for, or for a turn of an older version the one
        whose input is that turn's text), so that its turn is the first this run records; else ``rows`` as
        they are.

        Where no line of ``out`` names the conversation (the run was killed before its first line) and the
        turn's row is not one of ``rows`` (no row of its number and ``id`` whose input the turn holds),
        these rows are another ``--batch`` file's: they begin a new conversation, as into any empty results
        file, and the killed run's is left as it was (they went on in it, after that run's own row)."""
        if self.unwritten is None or out is None:
            return rows
        waiting = {row.number for row in rows} - done_rows(rows, out) | set(unrecorded_lines(rows, out))
        recorded = self.unwritten.row
        if recorded is not None:
            found = matching_row(rows, recorded.row, recorded.row_id)
            if not self._named and not _may_have_said(found, self.unwritten.message.content, input_field):
                # Another --batch file resumed into the results file of a run killed before its first line:
                # that run's conversation is not this batch's, which begins its own (as into any empty file).
                assert self._link.store is not None  # it found the turn
                self.recorder = ConversationRecorder(self._link.store, title=self._title, kind="batch")
                self.continued = self.unwritten = None
                return rows
            row = found if found is not None and found.number in waiting else None
        else:
            text = self.unwritten.message.content
            row = next((row for row in rows if row.number in waiting and row.input_text(input_field) == text), None)
        if row is None:
            self.unwritten = None  # no row of this run says it: its turn stays as the earlier run left it
            return rows
        self._first = row.number
        return [row, *(other for other in rows if other is not row)]


def _may_have_said(row: Row | None, said: str, input_field: str | None) -> bool:
    """Whether ``row`` may be the row whose turn stored the user message ``said``: its input is that message
    (a tool batch) or in it (a template batch's rendered prompt), or it has no input to tell by."""
    if row is None:
        return False  # no row of this run is the one the turn was recorded for (number, id)
    text = row.input_text(input_field)
    return text is None or not text.strip() or text in said


def unwritten_turn(link: HistoryLink, conversation_id: int, out: Path) -> Unwritten | None:
    """The turn at the head of ``conversation_id`` when no line of ``out`` names it: the run that recorded it
    was killed before writing that row's line (a kill -9, a power cut), so the row is not done and a
    ``--resume`` ran it and recorded its turn a second time.

    Found by what the batch kept with the turn (:mod:`~assistant.history.batch_turns`): recorded for ``out``
    when it held the whole lines it holds now, so no line was written after it; the row it was recorded
    for comes with it. For a turn of an older version, by the ids the lines name (``message_id``,
    :func:`~assistant.batch.runner.written_turn`): the head turn follows the newest reply a line names, as
    the one turn a kill can leave unwritten does. Either way also the newest line's own turn, which the
    history took only half (the line is marked :data:`~assistant.batch.runner.HISTORY_ERROR` and its reply
    is the empty one the failure left). Not a reply regenerated in the chat app to an older row, nor the
    last of several turns without lines (a file cut by hand): those are left as they are.
    """
    assert link.store is not None
    try:
        turn = link.store.head_turn(conversation_id)
        kept = link.store.batch_turn(conversation_id)
    except HistoryError:
        return None
    if turn is None:
        return None
    user, reply = turn
    row = kept[1] if kept is not None and kept[0] == user.id else None
    if row is not None and out.is_file() and row.results == results_key(out) and row.written == whole_lines_size(out):
        return Unwritten(user, row)
    if (written := written_turn(out, conversation_id)) is None:
        return None
    newest, refused = written
    if row is None and user.parent_id == newest:
        return Unwritten(user, None)
    # the newest line's own turn, begun and its reply refused (a locked database): that line's row is recorded
    # again, and its reply is the one that turn was missing, not a second turn
    return Unwritten(user, row) if refused and reply.id == newest else None


def _last_recorded(link: HistoryLink, out: Path) -> int | None:
    """The batch conversation whose newest turn was recorded for ``out`` after its last line was written
    (:func:`unwritten_turn`), where the lines name no conversation or another one: the run that began it was
    killed before writing its first line."""
    assert link.store is not None
    if not out.is_file():
        return None
    try:
        found = link.store.batch_conversation(results_key(out), whole_lines_size(out))
        if found is None or link.store.get_conversation(found).kind != "batch":
            return None
    except HistoryError:
        return None
    unwritten = unwritten_turn(link, found, out)
    return found if unwritten is not None and unwritten.row is not None else None


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
    if (began := _last_recorded(link, out)) is not None:
        return began, None  # its turn was recorded after every line: the conversation the batch went on in
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

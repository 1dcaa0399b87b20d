"""Recording turns in :class:`~assistant.history.store.HistoryStore`: nothing the user typed is ever lost.

Recording a turn is two steps:

1. :meth:`TurnWriter.start_turn` commits the user's message *before*
   generation starts, together with an empty reply row marked ``interrupted``;
2. :meth:`TurnWriter.finish_turn` (or :meth:`TurnWriter.fail_turn`) fills in
   the reply, its status, usage and timings. :meth:`TurnWriter.checkpoint`
   saves partial text while streaming.

A process killed in between leaves the user's message and the partial reply
(as of the last checkpoint) marked ``interrupted``. Each write is one transaction.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..errors import HistoryError
from ..types import Completion, Message
from . import arguments, batch_turns, completion_prompts, tree
from .access import StoreAccess, guarded, now_iso
from .db import write_transaction
from .records import STATUSES, Status, Turn, TurnMeta, rendered_json
from .stored_text import searchable_text, storable_text, title_from

AT_HEAD: Any = object()
"""``start_turn(parent_id=AT_HEAD)``: the new message follows the conversation's head (the default)."""

KEEP: Any = object()
"""``start_turn(system=KEEP)``: the turn does not change the conversation's system prompt."""

_FINISH_TO_STATUS: dict[str, Status] = {
    "stop": "complete",
    "length": "complete",
    "cancelled": "interrupted",
    "error": "error",
}


class TurnWriter(StoreAccess):
    """The store's methods that record turns."""

    def _change_system(self, conversation_id: int, current: str | None, system: Any) -> None:
        """Make ``system`` the conversation's system prompt (``KEEP``: leave it), inside a write transaction:
        what later turns are resumed with.

        A message stores NULL while it was written under the conversation's
        prompt; before that changes, those messages are given the old one
        ('' for none), so no message ever shows a prompt it did not have.
        Decided on the stored prompt, under the write lock: two processes on
        one conversation with different prompts each keep their own turns'.
        """
        if system is KEEP:
            return
        new = storable_text(system, "the system prompt") if system is not None else None
        if (new or None) == (current or None):  # "" and None both mean no system prompt
            return
        self.db.execute(
            "UPDATE messages SET system = ? WHERE conversation_id = ? AND system IS NULL",
            [current or "", conversation_id],
        )
        self.db.execute("UPDATE conversations SET system = ? WHERE id = ?", [new, conversation_id])

    @guarded
    def start_turn(
        self,
        conversation_id: int,
        user_text: str,
        meta: TurnMeta = TurnMeta(),
        *,
        parent_id: Any = AT_HEAD,
        system: Any = KEEP,
        rendered: Sequence[Message] | None = None,
        completion_prompt: str | None = None,
        batch_row: batch_turns.BatchRow | None = None,
    ) -> Turn:
        """Commit the user's message (and an empty ``interrupted`` reply) before generating.

        The message follows the conversation's head (the branch shown), or
        ``parent_id``: a message of the conversation, or None for a new first
        message — an edited message starts a branch there. The new reply
        becomes the head. ``system``: the system prompt the turn is generated
        under, when it may differ from the conversation's (see :meth:`_change_system`).
        ``rendered``: what a prompt template made of ``user_text``, sent in its place
        (:attr:`StoredMessage.rendered`); ``user_text`` is what the user typed.
        ``completion_prompt``: in completion mode, the text the model is sent (kept with the reply,
        :attr:`StoredMessage.completion_prompt`).
        ``batch_row``: a batch row's turn, where its results file stands (:mod:`.batch_turns`), kept with it.
        """
        conversation_id = arguments.row_id(conversation_id)
        meta = arguments.turn_meta(meta)
        if parent_id is not AT_HEAD and parent_id is not None:
            parent_id = arguments.row_id(parent_id, "parent_id")
        now = now_iso()
        user_text = storable_text(user_text)
        rendered = arguments.rendered(rendered)
        sent = rendered_json([Message(m.role, storable_text(m.content)) for m in rendered] if rendered else None)
        prompt = arguments.completion_prompt(completion_prompt)
        batch_row = batch_turns.checked(batch_row)
        with write_transaction(self.db):
            row = self.db.execute(
                "SELECT id, head_id, system FROM conversations WHERE id = ?", [conversation_id]
            ).fetchone()
            if row is None:  # most often deleted by another process (`history delete`) while a chat had it open
                raise HistoryError(f"no conversation with id {conversation_id} (deleted?); start a new conversation")
            head = row[1] if row[1] is not None else tree.chain_in_order(self.db, conversation_id)
            if parent_id is AT_HEAD:
                parent_id = head
            elif parent_id is not None:
                tree.member_role(self.db, conversation_id, parent_id)
            self._change_system(conversation_id, row[2], system)
            self.db.execute(
                "UPDATE conversations SET updated = ?, title = coalesce(title, ?) WHERE id = ?",
                [now, title_from(user_text), conversation_id],
            )
            user_id = self._insert(conversation_id, "user", user_text, now, meta, "complete", parent_id, sent)
            reply_id = self._insert(conversation_id, "assistant", "", now, meta, "interrupted", user_id)
            completion_prompts.store(self.db, reply_id, prompt)  # what it adds to the reply's before
            tree.set_head(self.db, conversation_id, reply_id)
            if batch_row is not None:
                batch_turns.store(self.db, conversation_id, user_id, batch_row)
        return Turn(conversation_id, user_id, reply_id)

    @guarded
    def start_reply(
        self, conversation_id: int, user_message_id: int, meta: TurnMeta = TurnMeta(), *, system: Any = KEEP,
        completion_prompt: str | None = None, batch_row: batch_turns.BatchRow | None = None,
    ) -> Turn:
        """Another reply to a stored user message (regenerate): an empty ``interrupted`` one, made the head.

        The replies before it stay as alternatives (:meth:`siblings`). ``system``, ``completion_prompt``,
        ``batch_row``: as for :meth:`start_turn`.
        """
        conversation_id = arguments.row_id(conversation_id)
        user_message_id = arguments.row_id(user_message_id, "user_message_id")
        meta = arguments.turn_meta(meta)
        prompt = arguments.completion_prompt(completion_prompt)
        batch_row = batch_turns.checked(batch_row)
        now = now_iso()
        with write_transaction(self.db):
            if tree.member_role(self.db, conversation_id, user_message_id) != "user":
                raise HistoryError(f"message {user_message_id} is not a user message: only those get replies")
            current = self.db.execute("SELECT system FROM conversations WHERE id = ?", [conversation_id]).fetchone()
            self._change_system(conversation_id, current[0], system)
            self.db.execute("UPDATE conversations SET updated = ? WHERE id = ?", [now, conversation_id])
            reply_id = self._insert(conversation_id, "assistant", "", now, meta, "interrupted", user_message_id)
            completion_prompts.store(self.db, reply_id, prompt)
            tree.set_head(self.db, conversation_id, reply_id)
            if batch_row is not None:
                batch_turns.store(self.db, conversation_id, user_message_id, batch_row)
        return Turn(conversation_id, user_message_id, reply_id)

    def _insert(
        self, conversation_id: int, role: str, content: str, now: str, meta: TurnMeta, status: str,
        parent_id: int | None, rendered: str | None = None,
    ) -> int:
        cursor = self.db.execute(
            "INSERT INTO messages (conversation_id, role, content, searchable, created, model, model_ref, backend,"
            " template, params, status, parent_id, rendered) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [conversation_id, role, content, searchable_text(content), now, meta.model, meta.model_ref, meta.backend,
             meta.template, arguments.json_text(meta.params, "params"), status, parent_id, rendered],
        )
        return int(cursor.lastrowid or 0)

    @guarded
    def checkpoint(self, turn: Turn, partial_text: str) -> None:
        """Save the reply so far; a process killed later keeps at least this much."""
        if turn.finished:
            return
        text = storable_text(partial_text)
        with write_transaction(self.db):
            self.db.execute(
                "UPDATE messages SET content = ?, searchable = ? WHERE id = ? AND status = 'interrupted'",
                [text, searchable_text(text), turn.reply_message_id],
            )

    @guarded
    def finish_turn(
        self,
        turn: Turn,
        completion: Completion,
        *,
        tool_name: str | None = None,
        tool_result: Any = None,
    ) -> None:
        """Store the finished reply; its status follows ``completion.finish_reason``."""
        completion = arguments.completion(completion)
        tool_name = arguments.optional_text(tool_name, "tool_name")
        status = _FINISH_TO_STATUS.get(completion.finish_reason, "complete")
        self._write_reply(
            turn,
            {
                "content": storable_text(completion.text),
                "status": status,
                "finish_reason": completion.finish_reason,
                "error": None,
                "model": completion.model or None,
                "backend": completion.backend or None,
                "prompt_tokens": completion.usage.prompt_tokens,
                "completion_tokens": completion.usage.completion_tokens,
                "ttft_ms": completion.timings.ttft_ms,
                "tokens_per_second": completion.timings.tokens_per_second,
                "duration_ms": completion.timings.duration_ms,
                "tool_name": tool_name,
                "tool_result": arguments.json_text(tool_result, "tool result"),
                "tokens": arguments.json_text([e.to_dict() for e in completion.logprobs] or None, "tokens"),
                # without logprobs the ids alone: the exact tokens sampled, for the token view
                "token_ids": None if completion.logprobs else arguments.json_text(list(completion.token_ids) or None, "token ids"),
            },
        )

    @guarded
    def fail_turn(
        self,
        turn: Turn,
        partial_text: str,
        *,
        status: Status = "error",
        error: str | None = None,
        tool_name: str | None = None,
    ) -> None:
        """Keep a reply cut short by cancel (``interrupted``) or a failure (``error``).

        ``tool_name``: the tool that failed (a slash command stopped with Esc), so the turn is
        drawn again as the failed tool run it was, not as a model reply that failed.
        """
        if status not in STATUSES or status == "complete":
            raise HistoryError(f"fail_turn status must be 'interrupted' or 'error', not {status!r}")
        error = arguments.optional_text(error, "error")
        tool_name = arguments.optional_text(tool_name, "tool_name")
        values: dict[str, Any] = {"content": storable_text(partial_text), "status": status, "error": error}
        if tool_name is not None:
            values["tool_name"] = tool_name
        self._write_reply(turn, values)

    def _write_reply(self, turn: Turn, values: dict[str, Any]) -> None:
        if turn.finished:
            raise HistoryError(f"turn {turn.reply_message_id} was already finished")
        values = {**values, "searchable": searchable_text(values["content"])}  # what search finds (see migration 0011)
        assignments = ", ".join(f"{column} = :{column}" for column in values)
        with write_transaction(self.db):
            self.db.execute(
                f"UPDATE messages SET {assignments} WHERE id = :reply_id",
                {**values, "reply_id": turn.reply_message_id},
            )
            self.db.execute(
                "UPDATE conversations SET updated = ? WHERE id = ?", [now_iso(), turn.conversation_id]
            )
        turn.finished = True

    def record_turn(
        self,
        conversation_id: int,
        user_text: str,
        completion: Completion,
        meta: TurnMeta = TurnMeta(),
        *,
        tool_name: str | None = None,
        tool_result: Any = None,
    ) -> Turn:
        """Store a finished, non-streamed exchange (batch runs, tools) in one call."""
        turn = self.start_turn(conversation_id, user_text, meta)
        self.finish_turn(turn, completion, tool_name=tool_name, tool_result=tool_result)
        return turn

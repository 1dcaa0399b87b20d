"""Conversation history: every turn in one SQLite file, durable, searchable, resumable.

The API front ends use (TUI, ``assistant prompt``, templates, tools)::

    from assistant.history import HistoryStore, ConversationRecorder, TurnMeta

    store = HistoryStore.open(db)          # db: --db PATH or None (config `db`, else <data>/history.db)

    # Through a ChatSession (streaming chat, prompt): set a recorder, then send as usual.
    session.recorder = ConversationRecorder(store)                  # new conversation
    session.recorder = ConversationRecorder(store, conversation_id=12, template="summarize")

    # Without a ChatSession (tools, batch runs): record the two halves yourself.
    conversation = store.create_conversation(system=system, meta=TurnMeta(model, backend, template, params))
    turn = store.start_turn(conversation.id, user_text, meta)   # committed before generating
    store.checkpoint(turn, partial_text)                        # optional, while streaming
    store.finish_turn(turn, completion, tool_name="extract", tool_result={"name": "Ada"})
    store.fail_turn(turn, partial_text, status="interrupted" | "error", error="...")
    store.record_turn(conversation.id, user_text, completion, meta)   # both at once

    # Branches: a conversation is a tree; the active branch is what is read and continued.
    recorder.regenerate(user_message_id)   # the next turn is another reply to that message
    recorder.branch_after(parent_id)       # the next turn's message follows parent_id (an edit)
    recorder.activate(message_id)          # show / continue the branch through that version
    store.siblings(conversation_id, message_id)   # the versions at a message's place
    store.head_through(conversation_id, message_id)   # the head of the branch through a message (read only)

    # Reading
    store.list_conversations(limit=50); store.get_conversation(id); store.latest_conversation()
    store.messages(id)            # StoredMessage rows of the active branch, any status (branch="all": every one)
                                  # each with the system prompt it was written under (.system) and .token_ids
    store.context_messages(id)    # list[Message] to resume with (see assistant.context to fit them)
    store.search("any text the user typed")
    store.rename(id, title); store.delete(id)
    store.repair()                # rebuild the search index after a "malformed" error

Every failure is a :class:`~assistant.errors.HistoryError` with a one-line message, a wrong
argument's too (:mod:`.arguments`).
Modules: :mod:`.db` (opening, pragmas, errors), :mod:`.migrations` (schema),
:mod:`.store`, :mod:`.tree` (branches), :mod:`.completion_prompts` (a completion-mode reply's prompt, stored as a delta), :mod:`.resume` (what a resumed conversation gives the model),
:mod:`.recorder`, :mod:`.search` (query quoting, the search itself), :mod:`.repair` (the search index
rebuilt), :mod:`.export`, :mod:`.session_link` (what ``prompt``/``chat`` options resolve to, and the model a
resumed conversation continues with), :mod:`.model_refs` (what a turn keeps to load its model again).
"""

from __future__ import annotations

from ._sqlite_utils_import import import_sqlite_utils

import_sqlite_utils()  # before the modules below import it, so it skips numpy (see that module)

from .db import default_db_path, resolve_db_path  # noqa: E402
from .recorder import ConversationRecorder  # noqa: E402
from .records import Conversation, SearchHit, Status, StoredMessage, Turn, TurnMeta  # noqa: E402
from .store import HistoryStore  # noqa: E402

__all__ = [
    "Conversation",
    "ConversationRecorder",
    "HistoryStore",
    "SearchHit",
    "Status",
    "StoredMessage",
    "Turn",
    "TurnMeta",
    "default_db_path",
    "resolve_db_path",
]

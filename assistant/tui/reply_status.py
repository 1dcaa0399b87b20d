"""What a turn's header says about how it ended: live, and reopened from the history.

One vocabulary for both, so a conversation reopened says what the live chat said
(as far as the stored turn can tell). Textual-free: the chat log draws these
strings in a turn's header (``[stopped at max tokens]``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..tools.generate import TOOL_STOPPED
from ..types import LENGTH_LIMIT_WORDS, length_limit
from .text import shorten

if TYPE_CHECKING:
    from ..history import StoredMessage
    from ..types import Completion

STORED_STATUS = {"complete": "", "interrupted": "interrupted", "error": "error"}
"""How a stored reply's status shows in its header."""
FINISH_STATUS = {"cancelled": "interrupted", "error": "error", "stop": ""}
"""A live reply's header status by finish reason ("length": :func:`length_status`)."""
STOPPED_AT_MAX_TOKENS = LENGTH_LIMIT_WORDS["max_tokens"]
"""The header of a reply cut at max tokens, live and reopened."""
STOPPED_AT_CONTEXT_END = LENGTH_LIMIT_WORDS["context_window"]
"""The header of a reply cut because prompt and reply filled the context window (raising max tokens won't help)."""
STOPPED_AT_A_LIMIT = LENGTH_LIMIT_WORDS["unknown"]
"""A reply cut at one of the two without the counts to tell which (a server that reports no usage)."""
LENGTH_STATUSES = (STOPPED_AT_MAX_TOKENS, STOPPED_AT_CONTEXT_END, STOPPED_AT_A_LIMIT)
EMPTY_REPLY = "empty reply"
TOOL_STOPPED_STATUS = "stopped"
"""A slash command's line whose tool the user stopped (Esc), live and reopened: no failure."""
ERROR_WIDTH = 160
"""Characters of an error quoted in a header."""


def length_status(
    prompt_tokens: int | None, completion_tokens: int | None, context_length: int | None, max_tokens: int | None
) -> str:
    """The header of a reply that ended with ``finish_reason == "length"``: which limit cut it.

    Both limits end a reply as "length", and a user told "max tokens" when the window was
    full raises the wrong setting: :func:`~assistant.types.length_limit` decides, as for the CLI.
    """
    return LENGTH_LIMIT_WORDS[length_limit(prompt_tokens, completion_tokens, context_length, max_tokens)]


def finished_status(completion: Completion | None, context_length: int | None, max_tokens: int | None) -> str:
    """A live reply's header status once it ended (``completion`` None: it failed).

    ``context_length``: the engine's that wrote it; ``max_tokens``: what it was sent with.
    """
    reason = completion.finish_reason if completion is not None else "error"
    if completion is not None and reason == "length":
        usage = completion.usage
        return length_status(usage.prompt_tokens, usage.completion_tokens, context_length, max_tokens)
    return FINISH_STATUS.get(reason, reason)


def ended_status(status: str, text: str) -> str:
    """The header status of a reply that ended (``""``: it stopped, or ``stopped at max tokens``).

    A reply the model ended at once, or wrote only spaces and newlines, drew its
    header over nothing: the same as a reply still waiting for its first token.
    It says so, live and reopened.
    """
    if text.strip() or status not in ("", *LENGTH_STATUSES):
        return status
    return f"{status}, {EMPTY_REPLY}" if status else EMPTY_REPLY


def noted_status(status: str, note: str) -> str:
    """A finished reply's status with its template's note (``no answer: …``) when there is one.

    The note replaced the status: a chain-of-thought reply cut at max tokens said only
    "no answer: …", not that raising max tokens would let it write one.
    """
    if not note:
        return status
    return f"{status}; {note}" if status.startswith(LENGTH_STATUSES) else note


def stored_reply_status(message: StoredMessage) -> str:
    """A stored model reply's header status (before its template's note), as the live reply said."""
    status = STORED_STATUS.get(message.status, message.status)
    if message.status == "complete" and message.finish_reason == "length":
        status = LENGTH_LIMIT_WORDS[message.length_limit]  # as far as the stored turn can tell
    if message.status == "complete":
        status = ended_status(status, message.content)
    if message.status == "interrupted" and not message.content:
        status = "no reply"
    elif message.status == "error" and not message.content and message.error:
        status = f"error: {shorten(message.error, ERROR_WIDTH)}"  # nothing else says why it failed
    return status


def failed_tool_status(message: StoredMessage) -> tuple[str, str]:
    """(status, why) of the slash line of a stored tool run that did not complete.

    One the user stopped (Esc) is no failure: stored interrupted, or, before round 14,
    as an error whose text is the tool's "stopped".
    """
    if message.status == "interrupted" or message.error == TOOL_STOPPED:
        return TOOL_STOPPED_STATUS, ""
    return "failed", shorten(message.error or "", ERROR_WIDTH)

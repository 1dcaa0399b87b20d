"""The model's view of a stored conversation: what ``-c``, ``--cid`` and the chat app resume with.

Kept apart from :mod:`.store` (the database access): it is a pure function of
the stored messages, also applied to part of a branch (the chat app's token
view rebuilds the prompt a reply was written after).
"""

from __future__ import annotations

from typing import Sequence

from ..types import Message
from .records import StoredMessage


def context_of(stored: Sequence[StoredMessage]) -> list[Message]:
    """The model's view of stored messages (see :meth:`HistoryStore.context_messages`).

    Also applied to the messages before one reply, to rebuild the prompt it
    was written after (the chat app's token view). A user message a prompt
    template rendered (``prompt -t``) is given as it was sent — the template's
    example turns and filled-in body (:attr:`StoredMessage.rendered`) — not as
    the text it shows: the model is to see what it answered.
    """
    out: list[Message] = []
    waiting: StoredMessage | None = None
    for message in stored:
        if message.role == "user":
            waiting = message
        elif message.role == "assistant":
            if message.content:
                if waiting is not None:  # as it was sent: a template's rendering of what was typed
                    out.extend(waiting.rendered or [Message("user", waiting.content)])
                out.append(Message("assistant", message.content))
            waiting = None
        else:
            out.append(Message("system", message.content))
    return out

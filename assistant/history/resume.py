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
    the text it shows: the model is to see what it answered. So too in completion mode: the
    messages up to the newest reply with a recorded prompt (:attr:`StoredMessage.completion_prompt`)
    continue as exactly that prompt and the reply (:func:`_as_sent`), not as the turns joined again.
    """
    out: list[Message] = []
    waiting: StoredMessage | None = None
    recorded: list[tuple[int, str]] = []  # the replies kept that have a completion prompt: (index, prompt)
    for message in stored:
        if message.role == "user":
            waiting = message
        elif message.role == "assistant":
            if message.content:
                if waiting is not None:  # as it was sent: a template's rendering of what was typed
                    out.extend(waiting.rendered or [Message("user", waiting.content)])
                if message.completion_prompt is not None:
                    recorded.append((len(out), message.completion_prompt))
                out.append(Message("assistant", message.content))
            waiting = None
        else:
            out.append(Message("system", message.content))
    # the newest reply whose prompt ends with the message it answers (one the chat app sent through a
    # template ends with the template's text, which the live conversation did not keep either)
    for reply, prompt in reversed(recorded):
        if _as_sent(out, reply, prompt):
            break
    return out


def _as_sent(out: list[Message], reply: int, prompt: str) -> bool:
    """Make ``out[:reply + 1]`` continue as ``prompt`` + the reply: the text a completion-mode model
    was sent and wrote (:attr:`StoredMessage.completion_prompt`), not a rebuild by today's rule.

    The prompt is cut back into the messages it was made of, newest first: each
    one's text ends where the next one's starts, or before it by whitespace (what
    joined them then). Each becomes a :class:`~assistant.session.SentText` with the
    joint before it. Messages before the one it starts with were left out of it
    (fitted to the context window): they stay as they are.

    False, changing nothing, where the prompt is not made of these messages: text
    they do not have — a template's, which the chat app sends in place of what was
    typed and does not keep for the turns after it; rows another program wrote —
    would make the resumed conversation another one than the live chat went on with.
    """
    from ..session import SentText

    sent: dict[int, str] = {reply: out[reply].content}
    first, end = reply, len(prompt)  # the earliest message matched so far, and where its text starts
    earlier = False  # messages before ``first`` that the prompt left out
    for index in range(reply - 1, -1, -1):
        message = out[index]
        if message.role == "system":  # never part of the text
            continue
        start = _start_of(prompt, message.content, end)
        if start is None:
            earlier = True
            break
        sent[first] = prompt[start + len(message.content) : end] + sent[first]
        sent[index] = message.content
        first, end = index, start
    if end or first == reply:  # text no message has, or no message it answers
        return False
    if earlier:
        del sent[first]  # the prompt started with it: joined to the turns left out by today's rule
    for index, text in sent.items():
        out[index] = SentText(out[index].role, out[index].content, text)
    return True


LONGEST_JOINT = 16
"""The most whitespace looked through between two turns: a joint is a separator, and a long run of
blanks that matches nothing must not cost a comparison per blank."""


def _start_of(prompt: str, text: str, end: int) -> int | None:
    """Where ``text`` starts in ``prompt`` if it ends at ``end``, or before it by whitespace alone."""
    for joint_end in range(end, max(end - LONGEST_JOINT, 0) - 1, -1):
        if joint_end < end and not prompt[joint_end].isspace():
            return None
        if joint_end >= len(text) and prompt.endswith(text, 0, joint_end):
            return joint_end - len(text)
    return None

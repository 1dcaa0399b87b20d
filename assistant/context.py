"""Fitting a conversation into the model's context window.

Shared by :class:`~assistant.session.ChatSession` (every ``send``), the TUI and
resumed conversations (``assistant prompt -c``), so they all drop the same turns
and report the same token count::

    fitted = fit_to_context(backend, messages, reserve=reply_reserve(params, backend.context_length))
    backend.stream(fitted.messages, params)
    status_bar(f"{fitted.prompt_tokens}/{backend.context_length} tokens, {fitted.dropped} dropped")

Rules: leading system messages are always kept; the newest message (the turn
being sent) is always kept; whole turns (a user message and the replies after
it) are dropped oldest first until the rendered prompt leaves ``reserve`` tokens
for the reply.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Sequence

from .errors import ContextOverflowError, NotSupportedError
from .types import GenerationParams, Message

if TYPE_CHECKING:
    from .backends import Backend


@dataclass
class FittedPrompt:
    """The messages to send and what fitting them cost."""

    messages: list[Message]
    prompt_tokens: int | None
    """Tokens of the rendered prompt; None when the backend cannot count tokens."""
    dropped: int = 0
    """How many messages (oldest first) were left out."""
    dropped_messages: list[Message] = field(default_factory=list)


def reply_reserve(params: GenerationParams, context_length: int) -> int:
    """Room kept for the reply: ``max_tokens``, but never more than half the window.

    A long ``max_tokens`` must not evict the whole conversation; the backend still
    stops at the window's end (finish reason ``length``).
    """
    return max(0, min(params.max_tokens, context_length // 2))


def _turn_starts(body: Sequence[Message]) -> list[int]:
    """Indices where a turn may begin: every user message but the newest message."""
    return [i for i, m in enumerate(body) if i > 0 and m.role == "user" and i < len(body) - 1]


PROBE_CHARS_PER_TOKEN = 16
"""Characters of a huge newest message counted first: far more per token than any tokenizer averages on text."""


def _refuse_a_newest_message_far_past(backend: Backend, head: list[Message], body: list[Message]) -> None:
    """Raise :class:`ContextOverflowError` when the newest message's first part alone overflows the window.

    The newest message is always kept, so if its beginning already needs more
    tokens than the window holds nothing can fit. Counting only that beginning
    turns a pasted 20 MB file from seconds of tokenizing and a gigabyte of
    token ids into an answer at once; a message that might fit is counted in
    full as before. (A prefix tokenizes to at most a token or two more than the
    same text inside the whole, hence the margin.) A beginning that fits is not the
    end of it: text a tokenizer packs tightly (SmolLM2 takes about 64 spaces a
    token) passed the first probe, and 8 MB of spaces were then counted whole (70 s,
    1.3 GB); the prefix doubles until it overflows or is the whole message, so the
    characters counted stay within twice what decides.
    """
    window = backend.context_length
    if not body or window <= 0:
        return
    newest = body[-1]
    limit = window * PROBE_CHARS_PER_TOKEN
    while len(newest.content) > limit:
        tokens = backend.count_tokens([*head, replace(newest, content=newest.content[:limit])])
        if tokens > window + 16:
            raise ContextOverflowError(tokens, window, at_least=True)
        limit *= 2


def fit_to_context(backend: Backend, messages: Sequence[Message], reserve: int = 0) -> FittedPrompt:
    """Drop the oldest turns of ``messages`` until the prompt fits ``context_length - reserve``.

    Returns a :class:`FittedPrompt` with the kept messages and their token count.
    If even the system prompt plus the newest message do not fit the whole
    window, raises :class:`~assistant.errors.ContextOverflowError`; if they fit
    the window but not the budget, they are returned (the reply gets less room).
    Backends that cannot count tokens get the messages back untouched.

    Token counts of a prefix-trimmed prompt shrink as more turns are dropped, so
    the cut point is found by binary search: O(log turns) renders, not O(turns).
    """
    messages = list(messages)
    head_len = 0
    while head_len < len(messages) and messages[head_len].role == "system":
        head_len += 1
    head, body = messages[:head_len], messages[head_len:]
    try:
        _refuse_a_newest_message_far_past(backend, head, body)
        total = backend.count_tokens(messages)
    except NotSupportedError:
        return FittedPrompt(messages, None)
    window = backend.context_length
    if window <= 0:  # unknown (some remote servers): nothing to fit against
        return FittedPrompt(messages, total)
    budget = window - reserve
    if total <= budget or len(body) <= 1:
        if total >= window:
            raise ContextOverflowError(total, window)
        return FittedPrompt(messages, total)

    # Candidate cut points: drop body[:cut]. 0 = keep all; last = only the newest message.
    cuts = [0, *_turn_starts(body), len(body) - 1]
    counts: dict[int, int] = {0: total}

    def tokens_after(cut: int) -> int:
        if cut not in counts:
            counts[cut] = backend.count_tokens(head + body[cut:])
        return counts[cut]

    lo, hi = 0, len(cuts) - 1  # the answer is the smallest cut index that fits
    if tokens_after(cuts[hi]) > budget:
        lo = hi
    else:
        while lo < hi:
            mid = (lo + hi) // 2
            if tokens_after(cuts[mid]) <= budget:
                hi = mid
            else:
                lo = mid + 1
    cut = cuts[lo]
    kept_tokens = tokens_after(cut)
    if kept_tokens >= window:
        raise ContextOverflowError(kept_tokens, window)
    return FittedPrompt(head + body[cut:], kept_tokens, dropped=cut, dropped_messages=body[:cut])

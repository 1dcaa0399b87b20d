"""Rows of the history database as typed, JSON-ready dataclasses."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import ConfigError
from ..types import LengthLimit, Message, TokenLogprob, length_limit

Status = Literal["complete", "interrupted", "error"]
STATUSES: tuple[Status, ...] = ("complete", "interrupted", "error")
INTERRUPTED_BY_USER = "interrupted by the user"
"""The error stored with a turn Ctrl-C stopped (status ``interrupted``); ``--json`` records say it too."""
Kind = Literal["chat", "tool", "batch"]
KINDS: tuple[Kind, ...] = ("chat", "tool", "batch")
"""A conversation's kind: chat (the chat app, ``prompt``, one template run), a tool run, a batch."""


def _json_or_none(raw: str | None) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return raw  # written by something else: show it rather than fail


def _number(value: Any) -> Any:
    """A numeric column's value, or None where another program stored something else there
    (SQLite keeps text that does not look like a number as text): shown as "1.5 tok/s", it failed."""
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _ids_or_none(raw: str | None) -> list[int] | None:
    """Stored token ids; something unreadable is dropped, as :func:`_tokens_or_none` does."""
    data = _json_or_none(raw)
    if not isinstance(data, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in data):
        return None
    return data


def _tokens_or_none(raw: str | None) -> list[TokenLogprob] | None:
    """Stored token numbers; something unreadable is dropped (the text is what matters)."""
    data = _json_or_none(raw)
    if not isinstance(data, list):
        return None
    try:
        return [TokenLogprob.from_dict(entry) for entry in data]
    except (TypeError, ValueError, KeyError, AttributeError):
        return None


def _messages_or_none(raw: str | None) -> list[Message] | None:
    """A stored rendering (:attr:`StoredMessage.rendered`); something unreadable is dropped:
    the message is then sent as the text it shows, as a row written before migration 0008 is."""
    data = _json_or_none(raw)
    if not isinstance(data, list) or not data:
        return None
    try:
        return [Message(entry["role"], entry["content"]) for entry in data]
    except (TypeError, KeyError, ConfigError):
        return None


def _text_or_none(raw: Any) -> str | None:
    """A stored text column; something else another program put there (a number, a blob) is dropped."""
    return raw if isinstance(raw, str) else None


def rendered_json(messages: list[Message] | None) -> str | None:
    """What :func:`_messages_or_none` reads back (None: nothing rendered, the text was sent as it is)."""
    if not messages:
        return None
    return json.dumps([m.to_dict() for m in messages], ensure_ascii=False)


@dataclass(frozen=True)
class TurnMeta:
    """What produced a turn: stored on the messages (and on a new conversation)."""

    model: str | None = None
    backend: str | None = None
    template: str | None = None
    params: dict[str, Any] | None = None
    model_ref: str | None = None
    """What loads the model again where ``model`` (its display name) does not: see :func:`.model_refs.model_ref_of`."""


@dataclass
class Conversation:
    id: int
    title: str | None
    created: str
    updated: str
    model: str | None = None
    backend: str | None = None
    template: str | None = None
    system: str | None = None
    params: dict[str, Any] | None = None
    message_count: int | None = None
    kind: Kind = "chat"
    head_id: int | None = None
    """The newest message of the branch shown and continued (None: no messages yet, or an old file)."""

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Conversation:
        return cls(
            id=row["id"],
            title=row["title"],
            created=row["created"],
            updated=row["updated"],
            model=row["model"],
            backend=row["backend"],
            template=row["template"],
            system=row["system"],
            params=_json_or_none(row["params"]),
            message_count=row.get("message_count"),
            kind=row.get("kind") or "chat",  # absent: an old file opened read-only
            head_id=row.get("head_id"),
        )

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        if data["message_count"] is None:
            del data["message_count"]
        return data


@dataclass
class StoredMessage:
    id: int
    conversation_id: int
    role: str
    content: str
    created: str
    status: Status = "complete"
    model: str | None = None
    backend: str | None = None
    template: str | None = None
    params: dict[str, Any] | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    ttft_ms: float | None = None
    tokens_per_second: float | None = None
    duration_ms: float | None = None
    error: str | None = None
    tool_name: str | None = None
    tool_result: Any = None
    finish_reason: str | None = None
    """Why the reply ended (``length``: cut at max tokens); None for user turns and old rows."""
    tokens: list[TokenLogprob] | None = None
    """A reply's per-token numbers when it was generated with logprobs (the token view reopens from them)."""
    parent_id: int | None = None
    """The message this one follows (None: a first message); a conversation is a tree of them."""
    system: str | None = None
    """The system prompt this message was written under (None: none). A conversation's can change
    (``prompt -c -s``, the chat app's settings); each message keeps the one it had."""
    token_ids: list[int] | None = None
    """A reply's token ids as the model sampled them (from :attr:`tokens` when those were stored)."""
    rendered: list[Message] | None = None
    """A user message run through a prompt template (``prompt -t``): what the model was sent in its
    place — the template's example turns and its filled-in body — while :attr:`content` is what the
    user typed. None: :attr:`content` itself was sent. :func:`~assistant.history.store.context_of`
    resumes with these, so ``-c`` gives the model what it saw."""
    completion_prompt: str | None = None
    """A completion-mode reply's prompt: the exact text the model continued (a base model is sent the
    conversation as one text, see :func:`~assistant.session.completion_text`). Resuming continues from
    it and the reply (:func:`~assistant.history.resume.context_of`). None: a chat-mode reply, a user
    message, or a reply stored before migration 0009 (its text is then rebuilt from the turns)."""
    model_ref: str | None = None
    """The reference that loads :attr:`model` again where that name does not (a model given by path:
    ``model`` is its file name, this its absolute path); None: the name does. Read it through
    :attr:`model_to_load`."""
    alternative: int = 1
    """Which of the versions written at this point it is (1-based, oldest first): see ``alternatives``."""
    alternatives: int = 1
    """How many versions there are at this point: regenerated replies, edited messages (1: no other)."""

    @property
    def model_to_load(self) -> str | None:
        """What ``-m`` takes to load this message's model again: every reader that reloads one from the
        history (``-c``, ``--cid``, the chat app reopening a conversation) goes through this, while
        lists and headers show :attr:`model`, the short name."""
        return self.model_ref or self.model

    @property
    def tool_result_apart(self) -> bool:
        """Whether this turn has a tool result its text does not already say, for readers to show with it.

        A single tool run's text is the tool's reading of its result (``positive  (positive 0.94, …)``),
        so ``history show`` and the markdown export give the JSON under it; a ``--batch`` row's text is that
        JSON itself, which they printed twice.
        """
        if self.tool_result is None:
            return False
        try:
            return bool(json.loads(self.content) != self.tool_result)
        except (ValueError, RecursionError):
            return True

    @property
    def cut_short(self) -> bool:
        """Whether the text stopped before the model ended it: interrupted, failed, or cut at max tokens.

        A reply cut at max tokens is stored ``complete`` (nothing went wrong) with
        ``finish_reason == "length"``, so the status alone does not say it; exports
        that mark or leave out cut replies ask this.
        """
        return self.status != "complete" or self.finish_reason == "length"

    @property
    def length_limit(self) -> LengthLimit:
        """Which limit cut a reply that ended as "length", as far as the stored turn can tell
        (:func:`~assistant.types.length_limit`: the window it was written with is not stored, so
        its own ``max_tokens`` decides: a reply shorter than that was cut by the window)."""
        max_tokens = (self.params or {}).get("max_tokens")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
            max_tokens = None
        return length_limit(self.prompt_tokens, self.completion_tokens, None, max_tokens)

    @classmethod
    def from_row(cls, row: dict[str, Any], conversation_system: str | None = None) -> StoredMessage:
        """``conversation_system``: the conversation's system prompt now, which a message
        written since its last change holds (stored as NULL: see migration 0006)."""
        tokens = _tokens_or_none(row.get("tokens"))  # absent: an old file opened read-only
        system = row.get("system")
        return cls(
            id=row["id"],
            conversation_id=row["conversation_id"],
            role=row["role"],
            content=row["content"],
            created=row["created"],
            status=row["status"],
            model=row["model"],
            backend=row["backend"],
            template=row["template"],
            params=_json_or_none(row["params"]),
            prompt_tokens=_number(row["prompt_tokens"]),
            completion_tokens=_number(row["completion_tokens"]),
            ttft_ms=_number(row["ttft_ms"]),
            tokens_per_second=_number(row["tokens_per_second"]),
            duration_ms=_number(row["duration_ms"]),
            error=row["error"],
            tool_name=row["tool_name"],
            tool_result=_json_or_none(row["tool_result"]),
            finish_reason=row.get("finish_reason"),
            tokens=tokens,
            parent_id=row.get("parent_id"),
            system=(conversation_system if system is None else system) or None,  # "": none
            token_ids=[t.token_id for t in tokens] if tokens else _ids_or_none(row.get("token_ids")),
            rendered=_messages_or_none(row.get("rendered")),  # absent: an old file opened read-only
            completion_prompt=_text_or_none(row.get("completion_prompt")),  # absent: as rendered
            model_ref=_text_or_none(row.get("model_ref")),  # absent: a file before 0014 read as it is
        )

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        if self.alternatives == 1:  # the common case: no branch here, nothing to say
            del data["alternative"], data["alternatives"]
        if self.tokens is None:
            del data["tokens"]
        else:
            data["tokens"] = [t.to_dict() for t in self.tokens]
        if self.token_ids is None or self.tokens is not None:  # the tokens hold their ids
            del data["token_ids"]
        if self.completion_prompt is None:  # chat mode: the turns are what was sent
            del data["completion_prompt"]
        if self.model_ref is None:  # the common case: the model's name loads it
            del data["model_ref"]
        if self.rendered is None:  # the common case: the text shown is the text sent
            del data["rendered"]
        else:
            data["rendered"] = [m.to_dict() for m in self.rendered]
        return data


@dataclass
class SearchHit:
    message_id: int
    conversation_id: int
    conversation_title: str | None
    role: str
    created: str
    snippet: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Turn:
    """Handle for a turn in progress, returned by ``HistoryStore.start_turn``."""

    conversation_id: int
    user_message_id: int
    reply_message_id: int
    finished: bool = False

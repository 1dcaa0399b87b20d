"""Reading OpenAI-style payloads: one streamed event, and echoed prompt log-probabilities.

Kept apart from the backend so the parsing rules (which shapes are accepted,
what counts as malformed) are plain functions with plain tests.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from ...errors import NotSupportedError, RemoteError
from ...types import TokenLogprob, TopAlternative, Usage
from .http import _message_from_json, one_line


@dataclass
class EventUpdate:
    """What one SSE event adds to the reply."""

    text: str = ""
    logprobs: list[TokenLogprob] = field(default_factory=list)
    finish_reason: str | None = None
    usage: Usage | None = None
    tokens_per_second: float | None = None
    answered: bool = False
    """The event held the reply's choice (index 0): a reply whose events never do is no answer at all."""


def _malformed(where: str, data: str) -> RemoteError:
    return RemoteError(f"{where} sent a malformed stream event: {one_line(data, 80)!r}")


def parse_event(data: str, where: str, want_logprobs: int = 0, event: str = "message") -> EventUpdate:
    """Parse one ``data:`` payload of a chat or text completion stream.

    Accepts chat deltas (``choices[].delta.content``), text completions
    (``choices[].text``) and a whole non-streamed answer (``choices[].message``).
    An ``error`` object mid-stream, an event of type ``error`` (``event: error``,
    or llama.cpp's ``error: {...}`` line), non-JSON data or a wrongly typed field
    is a RemoteError; fields we do not use are ignored.
    """
    try:
        payload = json.loads(data)
    except (ValueError, RecursionError):  # "[[[…" nested past the parser's stack: malformed, not a traceback
        if event == "error":
            raise RemoteError(f"{where} reported an error mid-reply: {one_line(data)}") from None
        raise _malformed(where, data) from None
    if event == "error":
        message, _ = _message_from_json(payload)
        raise RemoteError(f"{where} reported an error mid-reply: {message}")
    if not isinstance(payload, dict):
        raise _malformed(where, data)
    if payload.get("error") or payload.get("object") == "error":  # the latter: vLLM's own error shape
        message, _ = _message_from_json(payload)
        raise RemoteError(f"{where} reported an error mid-reply: {message}")
    update = EventUpdate()
    usage = payload.get("usage")
    if isinstance(usage, dict) and (completion_tokens := _count(usage.get("completion_tokens"))) is not None:
        update.usage = Usage(prompt_tokens=_count(usage.get("prompt_tokens")) or 0, completion_tokens=completion_tokens)
    timings = payload.get("timings")  # llama-server adds its own measurements
    speed = finite_number(timings.get("predicted_per_second")) if isinstance(timings, dict) else None
    if speed is not None and speed > 0:
        update.tokens_per_second = speed
    choices = payload.get("choices")
    if choices is None:
        return update
    if not isinstance(choices, list):
        raise _malformed(where, data)
    for choice in choices:
        if not isinstance(choice, dict):
            raise _malformed(where, data)
        if choice.get("index") not in (0, None):
            continue  # we always ask for one choice (n=1); "index": null is that one too
        update.answered = True
        text = _choice_text(choice)
        if not isinstance(text, str):
            raise _malformed(where, data)
        update.text += text
        update.logprobs.extend(_logprobs(choice.get("logprobs"), want_logprobs))
        if choice.get("finish_reason"):
            update.finish_reason = str(choice["finish_reason"])
    return update


def _count(value: Any) -> int | None:
    """A token count from ``usage``: a non-negative int (not a bool), else None.

    ``-5`` or ``true`` from a server made negative counts and a negative speed in ``--json``.
    """
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _choice_text(choice: dict[str, Any]) -> Any:
    """The choice's text; a ``delta`` or ``message`` that is there but no object gives None (malformed).

    ``"delta": "Hello"`` was read as no text at all: a reply whose every event had that shape
    ended as an empty, successful reply instead of the malformed stream it is.
    """
    for key in ("delta", "message"):
        part = choice.get(key)
        if isinstance(part, dict):
            return part.get("content") or ""
        if part is not None:
            return None
    return choice.get("text") or ""


def finite_number(value: Any) -> float | None:
    """``value`` as a float when it is a finite JSON number, else None (a log-probability, a speed).

    A bool, a string, NaN or an infinity from a server is no number to show or
    store: ``--json`` wrote ``NaN`` (not JSON at all) and ``True`` became 1.0.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _server_bytes(value: Any) -> bytes | None:
    """The token's bytes as a chat-format server lists them (``"bytes": [240, 159, …]``), or None.

    A character split over two tokens arrives as "\ufffd" text on both halves;
    the bytes rebuild it, as the local engines' pieces do.
    """
    if isinstance(value, list) and all(isinstance(b, int) and not isinstance(b, bool) and 0 <= b < 256 for b in value):
        return bytes(value)
    return None


def _alternative(token: Any, value: Any, piece: Any = None) -> TopAlternative | None:
    logprob = finite_number(value)
    if logprob is None:
        return None
    return TopAlternative(token=str(token), token_id=-1, logprob=logprob, piece=_server_bytes(piece))


def _top(alternatives: list[TopAlternative | None], want: int) -> list[TopAlternative]:
    found = [alt for alt in alternatives if alt is not None]
    return sorted(found, key=lambda alt: -alt.logprob)[:want]


def _listed(value: Any) -> list[Any]:
    """A JSON array's items; anything else (a string, a number, an object) holds none."""
    return value if isinstance(value, list) else []


def _logprobs(data: Any, want: int) -> list[TokenLogprob]:
    """Chat (``content: [{token, logprob, bytes, top_logprobs}]``) or text (parallel lists) logprobs.

    Servers report token strings, not ids: ``token_id`` is -1. The bytes a chat-format
    server lists for a token, and for each alternative, are kept (``piece``). An entry
    of the wrong shape, or whose log-probability is no finite number, is left out.
    """
    if not want or not isinstance(data, dict):
        return []
    out: list[TokenLogprob] = []
    content = data.get("content")
    if isinstance(content, list):
        for item in content:
            if not isinstance(item, dict) or (logprob := finite_number(item.get("logprob"))) is None:
                continue
            alternatives = [
                _alternative(t.get("token", ""), t.get("logprob"), t.get("bytes"))
                for t in _listed(item.get("top_logprobs"))
                if isinstance(t, dict)
            ]
            out.append(TokenLogprob(
                str(item.get("token", "")), -1, logprob, _top(alternatives, want),
                piece=_server_bytes(item.get("bytes")),
            ))  # fmt: skip
        return out
    tokens = _listed(data.get("tokens"))
    values = _listed(data.get("token_logprobs"))
    tops = _listed(data.get("top_logprobs"))
    tops = tops + [None] * (len(tokens) - len(tops))  # a short list of alternatives drops no token
    for token, value, top in zip(tokens, values, tops):
        logprob = finite_number(value)
        if logprob is None:
            continue
        pairs = top.items() if isinstance(top, dict) else ()
        out.append(TokenLogprob(str(token), -1, logprob, _top([_alternative(t, v) for t, v in pairs], want)))
    return out


def score_span(
    tokens: list[str], offsets: list[int], values: list[float | None], start: int, end: int, label: str
) -> float:
    """Sum the logprobs of the echoed tokens that cover characters ``start..end``.

    A token straddling the prompt/candidate boundary (BPE merged the prompt's last
    characters with the candidate's first) is counted, as the local backends do.
    Zero-width entries (bytes of a character split across tokens) count when they
    sit inside the span. Tokens at or past ``end`` were generated, not echoed.
    """
    total = 0.0
    used = 0
    for index, (offset, value) in enumerate(zip(offsets, values)):
        if offset >= end:
            break
        token_end = offsets[index + 1] if index + 1 < len(offsets) else offset + len(tokens[index])
        inside = token_end > start if token_end > offset else offset >= start
        if not inside:
            continue
        if value is None:
            raise NotSupportedError(
                f"score is not supported here: {label} gives no log-probability for the first token of the "
                "text, so a candidate cannot start at the very beginning (give a non-empty prompt)"
            )
        total += value
        used += 1
    if not used:
        raise RemoteError(f"{label} echoed log-probabilities that do not cover the candidate text")
    return total

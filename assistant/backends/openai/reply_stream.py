"""Reading one streamed reply: a server's SSE events turned into :class:`~assistant.types.Chunk` s.

Apart from :mod:`.backend` because it is the one place that decides what a
stream *means*: which finish reasons are which, where a stop sequence cuts the
text (servers' own ``stop`` handling is not trusted to hold text back), when a
stream that ends without a finish reason is a dropped request rather than a
reply, and how a request too long for the window is retried with the room that
is left. Text received before a fault is yielded before the
:class:`~assistant.errors.RemoteError`, so the caller keeps the partial reply.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Iterator

from ...errors import ContextOverflowError, RemoteError
from ...types import Chunk, FinishReason, GenerationParams, Usage
from ..streaming import StopMatcher, make_timings
from .http import HTTPStatusError, RemoteClient, disconnected, origin
from .request_helpers import _context_overflow, _Entered
from .servers import ServerProfile
from .stream import parse_event

FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "eos": "stop",
    "eos_token": "stop",
    "stop_sequence": "stop",
    "tool_calls": "stop",
    "function_call": "stop",
    "content_filter": "stop",
    "length": "length",
    "max_tokens": "length",
}
"""Servers' finish reasons, in our four words (an unknown one counts as ``stop``)."""


def piece_limit(max_tokens: int) -> int:
    """Most text pieces (events with text or log-probabilities) a reply of ``max_tokens`` is read for.

    Servers send at most one piece per token (vLLM, TGI, llama.cpp's servers, Ollama; several tokens
    may share one), so past this the server is ignoring ``max_tokens``: one that did streamed 20,000
    tokens for ``-o max_tokens=5``, all printed, stored and held in memory, where a reply that never
    ended would never stop. The margin leaves room for a proxy that splits tokens into smaller pieces.
    """
    return 2 * max_tokens + 8


TOKEN_CHARS = 1024
"""Characters counted per token of ``max_tokens`` before a reply is cut: no vocabulary has a token this long
(their longest are runs of spaces, a few hundred at most), and without a bound on the text a server could
send each of its pieces as a 60 MB event."""


PromptSize = Callable[[], "tuple[int, bool]"]
"""The prompt's size in tokens, and whether that is exact (the server's tokenizer) or an estimate."""


def open_stream(client: RemoteClient, url: str, body: dict[str, Any], prompt_size: PromptSize) -> Any:
    """Open the SSE stream; a reply that cannot fit is retried once with a max_tokens that fits.

    Local backends stop at the end of the context window; servers instead refuse
    a request whose prompt + max_tokens exceeds it. Their 400 names the context
    length and, in most wordings, how long the prompt is, so the request is
    repeated with the room that is left. Recent vLLM only says the prompt has
    "at least" so many tokens (it stops counting past the room it has): then the
    size comes from ``prompt_size`` (the server's tokenizer where it has one).
    """
    try:
        return _Entered(client.stream_events(url, body))
    except HTTPStatusError as exc:
        sizes = _context_overflow(exc)
        if sizes is None:
            raise
        context, prompt_tokens = sizes.context, sizes.prompt_tokens
        if prompt_tokens is None and sizes.at_least >= context:
            prompt_tokens = sizes.at_least
        if prompt_tokens is None:
            counted, exact = prompt_size()
            prompt_tokens = counted if exact else max(counted, sizes.at_least)
            if not exact and prompt_tokens >= context:
                raise  # an estimate says it cannot fit: the server's own words are the error
        if prompt_tokens >= context:
            raise ContextOverflowError(prompt_tokens, context) from exc
        retry = {**body, "max_tokens": context - prompt_tokens}
        return _Entered(client.stream_events(url, retry))


def stream_reply(
    client: RemoteClient,
    url: str,
    body: dict[str, Any],
    params: GenerationParams,
    cancelled: threading.Event,
    profile: ServerProfile,
    prompt_size: PromptSize,
) -> Iterator[Chunk]:
    """The reply's chunks, then one final chunk with finish reason, usage and timings.

    ``cancelled`` ends it with ``cancelled`` (the backend's ``cancel`` sets it and shuts the
    socket); ``prompt_size`` is asked only when the server sent no usage, or refused a
    request too long for its window without saying how long the prompt is.
    """
    start = time.perf_counter()
    stopper = StopMatcher(params.stop)
    finish: FinishReason | None = None
    usage: Usage | None = None
    server_tps: float | None = None
    pieces = 0
    limit = piece_limit(params.max_tokens)
    received = 0
    first_at: float | None = None
    last_at = start
    done = stopped = answered = heard = opened = False
    try:
        with open_stream(client, url, body, prompt_size) as events:
            opened = True
            for event in events:
                heard = True
                if cancelled.is_set():
                    break
                if event.data.strip() == "[DONE]":
                    done = True
                    break
                data = client.redact(event.data)  # a key the server quotes back never goes further
                update = parse_event(data, origin(url), params.logprobs, event.event)
                answered = answered or update.answered
                usage = update.usage or usage
                server_tps = update.tokens_per_second or server_tps
                if update.text or update.logprobs:
                    now = time.perf_counter()
                    first_at = first_at or now
                    last_at = now
                    pieces += 1
                    out, stopped = stopper.push(update.text)
                    if out or update.logprobs:
                        yield Chunk(text=out, logprobs=update.logprobs)
                    if stopped:
                        finish = "stop"
                        break
                    received += len(update.text)
                    if pieces >= limit or received > limit * TOKEN_CHARS:  # the server ignores max_tokens
                        finish = "length"
                        break
                if update.finish_reason:
                    finish = FINISH_REASONS.get(update.finish_reason, "stop")
    except RemoteError as exc:
        if not cancelled.is_set():
            tail = stopper.flush()
            if tail:
                yield Chunk(text=tail)  # keep every received character before failing
            if opened and not heard and profile.name == "llama-cpp-python" and _connection_dropped(exc):
                # llama-cpp-python refusing a prompt longer than its window: an empty stream, or (when
                # its close beats the stream's end) a connection closed before any event. Same words for both.
                raise RemoteError(f"{origin(url)} {cut_short(profile, False, False, url, prompt_size)}") from exc
            raise
    if cancelled.is_set():
        finish = "cancelled"
    elif done and not answered:
        # A 200 with JSON of another shape ({"data": …}, "choices": null): not a reply, never an empty one.
        raise RemoteError(f"{origin(url)} answered without a reply (no choices); is it an OpenAI-compatible server?")
    elif not (finish or stopped):
        # Every complete OpenAI reply names its finish_reason. "[DONE]" without one is a reply
        # the server dropped: llama-cpp-python's server ends a running request that way when
        # another arrives (its --interrupt_requests, on by default), which under --parallel
        # turned rows into empty "successful" results.
        tail = stopper.flush()
        if tail:
            yield Chunk(text=tail)
        raise RemoteError(f"{origin(url)} {cut_short(profile, done, heard, url, prompt_size)}")
    tail = "" if stopped else stopper.flush()
    end = time.perf_counter()
    if usage is None:
        usage = Usage(prompt_tokens=prompt_size()[0], completion_tokens=pieces)
    timings = make_timings(start, first_at, last_at, end, usage.completion_tokens or pieces)
    if server_tps:
        timings.tokens_per_second = server_tps
    yield Chunk(text=tail, finish_reason=finish or "stop", usage=usage, timings=timings)


def cut_short(
    profile: ServerProfile, done: bool, heard: bool, url: str | None = None, prompt_size: PromptSize | None = None
) -> str:
    """Why a stream without a finish reason is no reply: the words after the server's name.

    ``heard``: whether any event came at all. llama-cpp-python's server answers a prompt
    longer than its context window with a 200 and an empty stream (its error goes to its
    own log only), which read as a reply cut short with nothing to go on. A server that
    was stopped or killed ends its streams the same way, so before that hint is given the
    server's address (``url``) is tried once: when nothing listens there any more, that is
    the reason (a batch whose server died said "shorten the prompt, or start the server
    with a larger --n_ctx"). It does the same with a prompt of no tokens (an empty text
    for a model that starts one with no token of its own): where ``prompt_size`` counts
    none, that is said instead, in the words the local backends use.
    """
    if not done and url is not None and not _listening(url):
        said = "without sending any reply" if not heard else "before the reply was complete"
        return f"ended the stream {said}, and nothing listens there any more: the server stopped"
    if not done and not heard:
        hint = ""
        if profile.name == "llama-cpp-python":
            if prompt_size is not None and prompt_size() == (0, True):
                from ..base import NOTHING_TO_PREDICT_FROM

                return f"ended the stream without sending any reply: {NOTHING_TO_PREDICT_FROM}"
            hint = (
                "; llama-cpp-python's server does this when the prompt does not fit its context window: "
                "shorten the prompt, or start the server with a larger --n_ctx"
            )
        return f"ended the stream without sending any reply{hint}"
    if not done:
        return "ended the stream before the reply was complete"
    hint = ""
    if profile.name == "llama-cpp-python":
        hint = (
            "; llama-cpp-python's server drops a request when another arrives: start it with "
            "--interrupt_requests False, or send one request at a time (--parallel 1)"
        )
    return f"ended the reply without a finish reason (the server dropped the request{hint})"


def _listening(url: str, timeout: float = 2.0) -> bool:
    """Whether something still accepts connections at ``url``'s host and port (False only when refused).

    Asked only after a stream ended early; a timeout or any other failure counts as listening, so
    only a server that is certainly gone changes the message.
    """
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return True
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=timeout):
            return True
    except ConnectionRefusedError:
        return False
    except OSError:
        return True


def _connection_dropped(exc: RemoteError) -> bool:
    """Whether ``exc`` is the server closing or resetting the connection (not a timeout, not a status)."""
    import httpx

    cause = exc.__cause__
    if isinstance(cause, httpx.RemoteProtocolError):
        return disconnected(cause)  # not a malformed answer
    return isinstance(cause, httpx.ReadError)

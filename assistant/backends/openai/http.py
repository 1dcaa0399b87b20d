"""HTTP plumbing for the remote backend: one httpx client, one-line typed errors, SSE streams.

Every network failure becomes a :class:`~assistant.errors.RemoteError` whose
message names the server and says what to change (a timeout option, the API
key), because the CLI prints exactly that one line. Streams can be aborted from
another thread: :meth:`RemoteClient.abort` shuts the socket down, which wakes a
reader blocked in ``recv`` at once instead of after the read timeout.

Timing: httpx's read timeout restarts with every byte, so a server (or proxy)
trickling keep-alive bytes would hold a request forever. Plain requests
therefore also have a total deadline (the read timeout, for the whole body), and
streams a progress deadline: no SSE *event* for the read timeout fails the
stream, whatever bytes (``: ping`` comments) arrived meanwhile. Each timeout
message names the number that expired and the option that sets it.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
import weakref
from typing import Any, Iterator
from urllib.parse import urlsplit

from ...errors import RemoteError
from .sse import SSEDecoder, SSEEvent

MAX_MESSAGE = 300
RETRIES = 4
"""Transient failures retried per request (429, 502/503/504, a connection reset before the answer)."""
RETRY_STATUSES = frozenset({429, 502, 503, 504})
RETRY_BACKOFF_S = 0.5
"""First wait when the server gives no ``Retry-After``; it doubles with each attempt."""
MAX_BODY_BYTES = 64 * 2**20
"""Largest plain (not streamed) answer read: a model list, a tokenization or an echo is far smaller,
and a server (or whatever answers at base_url) sending without end was read until memory ran out.
Also the most one streamed event may hold (an event has no natural size limit but this)."""
MAX_RETRY_AFTER_S = 60.0
"""A longer ``Retry-After`` fails the request with the server's message instead of waiting."""


class NotOpenAIServerError(RemoteError):
    """The server answered 200 with something that is not the OpenAI API (an HTML page: a web UI, a proxy's login)."""


def _is_html(content_type: str) -> bool:
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind in ("text/html", "application/xhtml+xml")


class HTTPStatusError(RemoteError):
    """The server answered with a 4xx/5xx status; keeps the status and the server's own words."""

    def __init__(self, message: str, status: int, server_message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.server_message = server_message
        self.code = code


def origin(url: str) -> str:
    """``scheme://host:port`` of a URL: what error messages name (never the path, a key or ``user:password@``)."""
    try:
        parts = urlsplit(url)
    except ValueError:  # "http://[::1": no origin to name, only the text to show
        return redact_url(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}" if parts.netloc else redact_url(url)


def redact_url(url: str) -> str:
    """``url`` with a ``user:password@`` part (HTTP basic auth, which httpx honours) shown as ``***@``.

    A base URL may carry credentials (a lone user name is often a token);
    anything shown to the user (messages, ``info()``, ``--json``, the history)
    gets this form instead.
    """
    try:
        parts = urlsplit(url)
    except ValueError:  # unsplittable ("http://u:pw@[::1"): hide whatever stands before an "@" in the host part
        return re.sub(r"(?<=://)[^/?#]*@", "***@", re.sub(r"([?#]).*", r"\1***", url))
    _, at, host = parts.netloc.rpartition("@")
    if at:
        parts = parts._replace(netloc=f"***@{host}")
    # A query string or fragment is refused as a base_url (API paths are appended), but one written
    # in the config (an Azure-style "?api-key=...") was printed as it is by `config show`.
    if parts.query:
        parts = parts._replace(query="***")
    if parts.fragment:
        parts = parts._replace(fragment="***")
    return parts.geturl() if (at or parts.query or parts.fragment) else url


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """Collapse line ends (server messages often carry tracebacks) and cap the length.

    Other controls stay (:func:`~assistant.terminal_text.one_line`), for the printed line to show visibly.
    """
    from ...terminal_text import one_line as flattened

    flat = flattened(text)
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def server_message(body: bytes | str) -> tuple[str, str | None]:
    """The human part of an error body (OpenAI, FastAPI, TGI and Ollama shapes) and its code."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # a body nested past the parser's stack is no message either
        return html_summary(text) or one_line(text) or "(empty response)", None
    return _message_from_json(data)


_HTML_START = re.compile(r"\s*<(?:!doctype\s+html|html|head|body|title)\b", re.I)
_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.I | re.S)
_HTML_HEADING = re.compile(r"<h1[^>]*>(.*?)</h1\s*>", re.I | re.S)
_HTML_CODE = re.compile(r"<script\b.*?</script\s*>|<style\b.*?</style\s*>", re.I | re.S)


def html_summary(text: str) -> str | None:
    """``HTML page "502 Bad Gateway"`` for a proxy's or web server's error page, None for anything else.

    Reverse proxies (nginx, Cloudflare, a load balancer) answer 502/413/401 with an
    HTML page; quoting its markup made a one-line error of a hundred tags.
    The page's title (else its first heading, else its text) says what happened.
    """
    if not _HTML_START.match(text):
        return None
    from html import unescape

    found = _HTML_TITLE.search(text) or _HTML_HEADING.search(text)
    inner = found.group(1) if found else _HTML_CODE.sub(" ", text)
    words = one_line(unescape(re.sub(r"<[^>]*>", " ", inner)), 120)
    return f"HTML page {words!r}" if words else "an HTML page"


def _message_from_json(data: Any) -> tuple[str, str | None]:
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            code = error.get("code")
            return one_line(str(error.get("message") or error)), str(code) if code else None
        if isinstance(error, str):
            return one_line(error), None
        detail = data.get("detail")
        if isinstance(detail, list):  # FastAPI validation errors
            parts = [f"{'.'.join(map(str, d.get('loc', [])))}: {d.get('msg')}" for d in detail if isinstance(d, dict)]
            return one_line("; ".join(parts) or str(detail)), None
        if detail:
            return one_line(str(detail)), None
        if data.get("message"):
            return one_line(str(data["message"])), None
    return one_line(json.dumps(data)), None


def _reason(exc: BaseException) -> str:
    """``[Errno 111] Connection refused`` -> ``connection refused``."""
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", str(exc).strip()) or type(exc).__name__
    return text[:1].lower() + text[1:]


def disconnected(exc: BaseException) -> bool:
    """Whether an ``httpx.RemoteProtocolError`` is the server closing the connection, not a malformed answer.

    httpx raises that one class for both: "Server disconnected without sending a response", "peer closed
    connection without sending complete message body" (h11's and httpcore's words for a dropped
    connection), and h11's verdicts on bytes that are no HTTP ("illegal header line", "illegal status
    line"). Only a dropped connection is worth retrying or resuming; the same broken answer comes back.
    """
    text = str(exc).lower()
    return not text or "disconnect" in text or "closed connection" in text or "connection closed" in text


def retry_after(value: str | None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (a number or an HTTP date), None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


class RemoteClient:
    """A thin wrapper over ``httpx.Client`` that speaks in RemoteErrors."""

    def __init__(
        self,
        api_key: str | None,
        connect_timeout: float,
        read_timeout: float,
        user_agent: str = "assistant",
        retries: int = RETRIES,
    ) -> None:
        import httpx

        headers = {"User-Agent": user_agent, "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._api_key = api_key
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            follow_redirects=False,
        )
        self._active: set[Any] = set()
        """Every open stream (several at once with ``--parallel``): :meth:`abort` breaks them all."""
        self._connections: weakref.WeakSet[Any] = weakref.WeakSet()
        """Every TCP connection this client opened and still holds: a request waiting for its
        response headers (a server still reading a long prompt) has no response in ``_active``
        yet, so :meth:`abort` shuts these down too. An idle pooled one that gets shut is
        seen as closed and replaced on next use."""
        self._lock = threading.Lock()
        self._woken = threading.Condition(self._lock)
        self._aborts = 0
        """Counts :meth:`abort` calls: a request waiting to retry gives up when it changes."""
        self.retries = retries
        self.backoff = RETRY_BACKOFF_S

    # ---- errors -------------------------------------------------------------------
    def transport_error(self, exc: BaseException, url: str, read_timeout: float | None = None) -> RemoteError:
        """``exc`` as a one-line RemoteError; ``read_timeout`` is the one the request used (default: configured)."""
        import httpx

        where = origin(url)
        read_timeout = self.read_timeout if read_timeout is None else read_timeout
        if isinstance(exc, httpx.ConnectTimeout):
            return RemoteError(
                f"timed out after {self.connect_timeout:g}s connecting to {where} "
                "(raise it with -o connect_timeout=SECONDS)"
            )
        if isinstance(exc, httpx.ConnectError):
            return RemoteError(f"cannot connect to {where}: {_reason(exc)}")
        if isinstance(exc, httpx.ReadTimeout):
            return RemoteError(f"{where} sent nothing for {read_timeout:g}s{self._timeout_hint(read_timeout)}")
        if isinstance(exc, httpx.TimeoutException):
            return RemoteError(f"timed out talking to {where}: {_reason(exc)}")
        if isinstance(exc, httpx.RemoteProtocolError):
            if disconnected(exc):
                return RemoteError(f"{where} closed the connection in the middle of a response")
            # A malformed answer (a header with a control byte, a bad status line, a Location no URL can
            # hold): read as "closed the connection" after four retries of the same broken answer.
            reason = self.redact(one_line(_reason(exc), 160))
            return RemoteError(f"{where} sent a malformed HTTP response ({reason}); is base_url an OpenAI API server?")
        if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
            return RemoteError(f"bad server URL {redact_url(url)!r}: {_reason(exc).replace(url, redact_url(url))}")
        return RemoteError(f"lost the connection to {where}: {self.redact(_reason(exc))}")

    def _timeout_hint(self, used: float) -> str:
        """Name the option only when the timeout that expired is the configured one (probes use shorter ones)."""
        return " (raise it with -o read_timeout=SECONDS)" if used == self.read_timeout else ""

    def not_openai_error(self, content_type: str, url: str) -> NotOpenAIServerError:
        kind = content_type.split(";", 1)[0].strip() or "no content type"
        return NotOpenAIServerError(
            f"{origin(url)} is not an OpenAI-compatible server (got {kind} for {urlsplit(url).path or '/'}); "
            "check base_url: it usually ends in /v1"
        )

    def redact(self, text: str) -> str:
        """``text`` with the API key shown as ``***``: anything quoted from the server goes through this.

        Some servers and proxies quote the key they refused ("Invalid API key: sk-..."),
        in a 4xx body, a 200 error body or an error event mid-stream; what they
        say reaches messages, ``--json`` and the history, which must never hold the key.
        """
        if self._api_key and len(self._api_key) >= 4:
            return text.replace(self._api_key, "***")
        return text

    def status_error(self, status: int, reason: str, body: bytes, url: str, wait: str | None = None) -> HTTPStatusError:
        """The one-line error for a 4xx/5xx answer; ``wait``: its ``Retry-After`` header, if any."""
        message, code = server_message(body)
        message = self.redact(message)
        hint = ""
        if status in (401, 403):
            hint = " (check the API key: -o api_key=..., api_key_env in [remotes.NAME], or ASSISTANT_OPENAI_API_KEY)"
        delay = retry_after(wait) if status in RETRY_STATUSES else None
        if delay is not None and delay > MAX_RETRY_AFTER_S:
            # Not waited for (over MAX_RETRY_AFTER_S): say when the server will take requests again.
            hint = f" (the server asks to wait {delay:.0f}s before retrying)"
        path = urlsplit(url).path or "/"
        text = f"{origin(url)} answered {status} {reason} for {path}: {message}{hint}"
        return HTTPStatusError(text, status, message, code)

    def redirect_error(self, status: int, reason: str, location: str | None, url: str) -> HTTPStatusError:
        """The one-line error for a 3xx answer: redirects are not followed, so the API key never travels on.

        Without this a redirected stream read as "ended the stream without sending any
        reply" and a redirected ``/v1/models`` as "gave no model list". The new address
        comes from the server: quoted on one line, any key or password in it hidden.
        """
        target = self.redact(redact_url(one_line(location or "", 120))) or "nowhere (no Location header)"
        path = urlsplit(url).path or "/"
        text = (
            f"{origin(url)} answered {status} {reason} for {path}, redirecting to {target!r}; redirects are not "
            "followed (the API key would go along): set base_url to the address that answers"
        )
        return HTTPStatusError(text, status, f"redirect to {target}")

    # ---- plain requests -------------------------------------------------------------
    def request_json(self, method: str, url: str, body: Any = None, timeout: float | None = None) -> Any:
        """One request, JSON in and out; any failure is a RemoteError (HTTPStatusError for 4xx/5xx).

        ``timeout`` (default: the configured read timeout) bounds each read *and*
        the whole answer, so a trickling server cannot hold the request open.
        An HTML answer is a :class:`NotOpenAIServerError`.
        """
        import httpx

        limit = self.read_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        kwargs: dict[str, Any] = {"timeout": httpx.Timeout(limit, connect=self.connect_timeout)}
        if body is not None:
            kwargs["json"] = body
        try:
            request = self._client.build_request(method, url, extensions={"trace": self._trace}, **kwargs)
            response = self._send(request, url)
        except httpx.HTTPError as exc:
            raise self.transport_error(exc, url, limit) from exc
        try:
            content = self._read_body(response, url, deadline, limit)
        finally:
            response.close()
        if response.status_code >= 400:
            raise self.status_error(
                response.status_code, response.reason_phrase, content, url, response.headers.get("retry-after")
            )
        if 300 <= response.status_code < 400:
            location = response.headers.get("location")
            raise self.redirect_error(response.status_code, response.reason_phrase, location, url)
        content_type = response.headers.get("content-type", "")
        if _is_html(content_type):
            raise self.not_openai_error(content_type, url)
        try:
            # Decoded here, not by json.loads: one byte that is not UTF-8 (a Latin-1 model name)
            # made the whole answer "non-JSON", and /v1/models then read as no model list.
            return json.loads(content.decode("utf-8", "replace").removeprefix("\ufeff"))
        except (ValueError, RecursionError):
            snippet = self.redact(one_line(content.decode("utf-8", "replace"), 120))
            raise RemoteError(f"{origin(url)} answered {urlsplit(url).path} with non-JSON: {snippet!r}") from None

    def _read_body(self, response: Any, url: str, deadline: float, limit: float) -> bytes:
        """The whole body, or a RemoteError once ``deadline`` passes (bytes trickling in do not extend it)."""
        import httpx

        parts: list[bytes] = []
        size = 0
        try:
            for piece in response.iter_bytes():
                parts.append(piece)
                size += len(piece)
                if size > MAX_BODY_BYTES:
                    raise RemoteError(
                        f"{origin(url)} answered {urlsplit(url).path or '/'} with more than "
                        f"{MAX_BODY_BYTES // 2**20} MiB; that is no API answer (check base_url)"
                    )
                if time.monotonic() > deadline:
                    raise RemoteError(
                        f"{origin(url)} did not finish answering {urlsplit(url).path or '/'} within {limit:g}s"
                        f"{self._timeout_hint(limit)}"
                    )
        except httpx.HTTPError as exc:
            raise self.transport_error(exc, url, limit) from exc
        return b"".join(parts)

    # ---- streams ----------------------------------------------------------------------
    @contextlib.contextmanager
    def stream_events(self, url: str, body: Any) -> Iterator[Iterator[SSEEvent]]:
        """POST ``body`` and iterate the SSE events of the reply; closing the context closes the stream.

        A server that ignores ``stream: true`` and answers with one JSON object is
        handled as a stream of that single event followed by ``[DONE]``.
        """
        import httpx

        request = self._client.build_request(
            "POST", url, json=body, headers={"Accept": "text/event-stream"}, extensions={"trace": self._trace}
        )
        try:
            response = self._send(request, url)
        except httpx.HTTPError as exc:
            raise self.transport_error(exc, url) from exc
        try:
            if response.status_code >= 400:
                try:  # bounded like any plain answer: an error page can trickle, or never end
                    content = self._read_body(response, url, time.monotonic() + self.read_timeout, self.read_timeout)
                except RemoteError:
                    content = b""
                raise self.status_error(
                    response.status_code, response.reason_phrase, content, url, response.headers.get("retry-after")
                )
            if 300 <= response.status_code < 400:
                location = response.headers.get("location")
                raise self.redirect_error(response.status_code, response.reason_phrase, location, url)
            with self._lock:
                self._active.add(response)
            content_type = response.headers.get("content-type", "")
            if _is_html(content_type):
                raise self.not_openai_error(content_type, url)
            if "json" in content_type and "event-stream" not in content_type:
                yield self._single_json_event(response, url)
            else:
                yield self._events(response, url)
        finally:
            with self._lock:
                self._active.discard(response)
            response.close()

    def _events(self, response: Any, url: str) -> Iterator[SSEEvent]:
        import httpx

        decoder = SSEDecoder()
        last_event = time.monotonic()
        any_event = False
        try:
            for piece in response.iter_bytes():
                events = decoder.feed(piece)
                if decoder.pending_size > MAX_BODY_BYTES:
                    # One event past what any whole answer may be: 200 MB with no line break took
                    # a gigabyte of memory and twenty seconds before it was refused as malformed.
                    raise RemoteError(
                        f"{origin(url)} sent a stream event of more than {MAX_BODY_BYTES // 2**20} MiB "
                        f"for {urlsplit(url).path or '/'}; that is no reply (check base_url)"
                    )
                now = time.monotonic()
                if events:
                    last_event = now
                    any_event = True
                elif now - last_event > self.read_timeout:  # only keep-alive bytes: no progress
                    raise RemoteError(
                        f"{origin(url)} sent no data for {self.read_timeout:g}s, only keep-alive bytes "
                        "(raise it with -o read_timeout=SECONDS)"
                    )
                yield from events
        except httpx.HTTPError as exc:
            raise self.transport_error(exc, url) from exc
        decoder.close()
        if not any_event and decoder.foreign is not None:
            # A 200 with plain text ("Internal Server Error") used to read as a stream cut short.
            kind = response.headers.get("content-type", "").split(";", 1)[0].strip() or "no content type"
            snippet = self.redact(one_line(decoder.foreign, 120))
            # a body labelled as a stream holding no event was "with text/event-stream, not an event stream"
            what = f"with {kind}, not an event stream"
            if kind == "text/event-stream":
                what = "with text/event-stream but no event in it (no 'data:' line)"
            raise RemoteError(f"{origin(url)} answered {urlsplit(url).path or '/'} {what}: {snippet!r}")

    def _single_json_event(self, response: Any, url: str) -> Iterator[SSEEvent]:
        content = self._read_body(response, url, time.monotonic() + self.read_timeout, self.read_timeout)
        yield SSEEvent(data=content.decode("utf-8", "replace"))
        yield SSEEvent(data="[DONE]")

    def _trace(self, event: str, info: dict[str, Any]) -> None:
        """httpx's ``trace`` extension: remember each new connection, so :meth:`abort` can reach it."""
        if event == "connection.connect_tcp.complete" and info.get("return_value") is not None:
            with self._lock:
                self._connections.add(info["return_value"])

    def abort(self) -> None:
        """Break every active request from any thread: blocked readers wake with an error now.

        That covers streams already answering, requests still waiting for the
        server's first byte, and a request waiting to retry (it stops waiting).
        """
        with self._lock:
            streams = [response.extensions.get("network_stream") for response in self._active]
            streams += list(self._connections)
            self._aborts += 1
            self._woken.notify_all()
        for stream in streams:
            sock = stream.get_extra_info("socket") if stream is not None else None
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    # ---- retries ----------------------------------------------------------------------
    def _send(self, request: Any, url: str) -> Any:
        """Send ``request`` (streamed), retrying transient failures before any byte of a reply was used.

        Retried: 429 and 502/503/504 (rate limits, a server starting or
        overloaded, a proxy whose upstream is busy) and a connection reset or
        closed before the answer began. The wait honours ``Retry-After``
        (seconds or an HTTP date, up to :data:`MAX_RETRY_AFTER_S`), else it
        doubles from :attr:`backoff`. A 500 is not retried: it is usually this
        request's fault, and the same request would fail the same way.
        """
        import httpx

        with self._lock:
            aborts = self._aborts
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = self._client.send(request, stream=True)
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                if last or (isinstance(exc, httpx.RemoteProtocolError) and not disconnected(exc)):
                    raise
                delay = self.backoff * 2**attempt
                reason = self.transport_error(exc, url)
            else:
                if response.status_code not in RETRY_STATUSES or last:
                    return response
                delay = retry_after(response.headers.get("retry-after"))
                if delay is None:
                    delay = self.backoff * 2**attempt
                elif delay > MAX_RETRY_AFTER_S:
                    return response  # the server wants a long pause: say so instead of hanging
                response.close()
                reason = RemoteError(f"{origin(url)} answered {response.status_code} {response.reason_phrase}")
            with self._lock:
                if self._woken.wait_for(lambda: self._aborts != aborts, timeout=delay):
                    raise RemoteError(f"cancelled while waiting to retry ({reason})")
        raise AssertionError("unreachable: the last attempt returns or raises")

    def close(self) -> None:
        self._client.close()

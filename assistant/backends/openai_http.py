"""HTTP plumbing for the remote backend: one httpx client, one-line typed errors, SSE streams.

Every network failure becomes a :class:`~assistant.errors.RemoteError` whose
message names the server and says what to change (a timeout option, the API
key), because the CLI prints exactly that one line. Streams can be aborted from
another thread: :meth:`RemoteClient.abort` shuts the socket down, which wakes a
reader blocked in ``recv`` at once instead of after the read timeout.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
from typing import Any, Iterator
from urllib.parse import urlsplit

from ..errors import RemoteError
from .sse import SSEDecoder, SSEEvent

MAX_MESSAGE = 300


class HTTPStatusError(RemoteError):
    """The server answered with a 4xx/5xx status; keeps the status and the server's own words."""

    def __init__(self, message: str, status: int, server_message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.server_message = server_message
        self.code = code


def origin(url: str) -> str:
    """``scheme://host:port`` of a URL: what error messages name (never the path or a key)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else url


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """Collapse whitespace (server messages often carry tracebacks) and cap the length."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def server_message(body: bytes | str) -> tuple[str, str | None]:
    """The human part of an error body (OpenAI, FastAPI, TGI and Ollama shapes) and its code."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
    except ValueError:
        return one_line(text) or "(empty response)", None
    return _message_from_json(data)


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


class RemoteClient:
    """A thin wrapper over ``httpx.Client`` that speaks in RemoteErrors."""

    def __init__(
        self, api_key: str | None, connect_timeout: float, read_timeout: float, user_agent: str = "assistant"
    ) -> None:
        import httpx

        headers = {"User-Agent": user_agent, "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            follow_redirects=False,
        )
        self._active: Any = None
        self._lock = threading.Lock()

    # ---- errors -------------------------------------------------------------------
    def transport_error(self, exc: BaseException, url: str) -> RemoteError:
        import httpx

        where = origin(url)
        if isinstance(exc, httpx.ConnectTimeout):
            return RemoteError(
                f"timed out after {self.connect_timeout:g}s connecting to {where} "
                "(raise it with -o connect_timeout=SECONDS)"
            )
        if isinstance(exc, httpx.ConnectError):
            return RemoteError(f"cannot connect to {where}: {_reason(exc)}")
        if isinstance(exc, httpx.ReadTimeout):
            return RemoteError(
                f"{where} sent nothing for {self.read_timeout:g}s (raise it with -o read_timeout=SECONDS)"
            )
        if isinstance(exc, httpx.TimeoutException):
            return RemoteError(f"timed out talking to {where}: {_reason(exc)}")
        if isinstance(exc, httpx.RemoteProtocolError):
            return RemoteError(f"{where} closed the connection in the middle of a response")
        if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
            return RemoteError(f"bad server URL {url!r}: {_reason(exc)}")
        return RemoteError(f"lost the connection to {where}: {_reason(exc)}")

    @staticmethod
    def status_error(status: int, reason: str, body: bytes, url: str) -> HTTPStatusError:
        message, code = server_message(body)
        hint = ""
        if status in (401, 403):
            hint = " (check the API key: -o api_key=..., api_key_env in [remotes.NAME], or ASSISTANT_OPENAI_API_KEY)"
        path = urlsplit(url).path or "/"
        text = f"{origin(url)} answered {status} {reason} for {path}: {message}{hint}"
        return HTTPStatusError(text, status, message, code)

    # ---- plain requests -------------------------------------------------------------
    def request_json(self, method: str, url: str, body: Any = None, timeout: float | None = None) -> Any:
        """One request, JSON in and out; any failure is a RemoteError (HTTPStatusError for 4xx/5xx)."""
        import httpx

        kwargs: dict[str, Any] = {}
        if body is not None:
            kwargs["json"] = body
        if timeout is not None:
            kwargs["timeout"] = httpx.Timeout(timeout, connect=self.connect_timeout)
        try:
            response = self._client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise self.transport_error(exc, url) from exc
        if response.status_code >= 400:
            raise self.status_error(response.status_code, response.reason_phrase, response.content, url)
        try:
            return response.json()
        except ValueError:
            snippet = one_line(response.text, 120)
            raise RemoteError(f"{origin(url)} answered {urlsplit(url).path} with non-JSON: {snippet!r}") from None

    # ---- streams ----------------------------------------------------------------------
    @contextlib.contextmanager
    def stream_events(self, url: str, body: Any) -> Iterator[Iterator[SSEEvent]]:
        """POST ``body`` and iterate the SSE events of the reply; closing the context closes the stream.

        A server that ignores ``stream: true`` and answers with one JSON object is
        handled as a stream of that single event followed by ``[DONE]``.
        """
        import httpx

        request = self._client.build_request("POST", url, json=body, headers={"Accept": "text/event-stream"})
        try:
            response = self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise self.transport_error(exc, url) from exc
        try:
            if response.status_code >= 400:
                try:
                    content = response.read()
                except httpx.HTTPError:
                    content = b""
                raise self.status_error(response.status_code, response.reason_phrase, content, url)
            with self._lock:
                self._active = response
            content_type = response.headers.get("content-type", "")
            if "json" in content_type and "event-stream" not in content_type:
                yield self._single_json_event(response, url)
            else:
                yield self._events(response, url)
        finally:
            with self._lock:
                self._active = None
            response.close()

    def _events(self, response: Any, url: str) -> Iterator[SSEEvent]:
        import httpx

        decoder = SSEDecoder()
        try:
            for piece in response.iter_bytes():
                yield from decoder.feed(piece)
        except httpx.HTTPError as exc:
            raise self.transport_error(exc, url) from exc
        decoder.close()

    def _single_json_event(self, response: Any, url: str) -> Iterator[SSEEvent]:
        import httpx

        try:
            content = response.read()
        except httpx.HTTPError as exc:
            raise self.transport_error(exc, url) from exc
        yield SSEEvent(data=content.decode("utf-8", "replace"))
        yield SSEEvent(data="[DONE]")

    def abort(self) -> None:
        """Break the active stream from any thread: the blocked reader wakes with an error now."""
        with self._lock:
            response = self._active
        if response is None:
            return
        stream = response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._client.close()

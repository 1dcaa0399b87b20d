"""The engine process: one backend, driven by the chat app over two pipes.

``python -m assistant.backends.engine.host`` is started by
:mod:`assistant.backends.engine.process`. It reads requests on stdin and
answers on stdout; its own stdout and stderr (Python prints, llama.cpp's C
logs) go to the log file the app opened for it, so nothing an engine prints
can corrupt the message stream or the app's screen.

Each request runs in its own thread, as the app's worker threads would call an
in-process backend, so a token count asked for while a reply streams is not
queued behind it. ``cancel`` is applied by the reading thread itself, at once.
Stream chunks are handed to one sending thread, which batches whatever has
piled up: the generating thread never waits for the pipe or for pickling a
message per token.
"""

from __future__ import annotations

import os
import pkgutil
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ..base import Backend, stop_this_request_on
from . import wire

COALESCE_SECONDS = 0.02
"""Least time between two sends while a stream flows (the app draws at most 30 times a second)."""


@dataclass
class _StreamState:
    cancelled: bool = False
    closed: bool = False
    stop: threading.Event = field(default_factory=threading.Event)
    """Set by a close: the stream's own thread stops on it (:func:`~..base.stop_this_request_on`), so a
    close stops its prompt's evaluation even while another request runs, and stops nothing else."""


class Outbox:
    """Sends the engine's messages from one thread, merging consecutive chunks of a stream."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self._items: list[wire.Message] = []
        self._lock = threading.Lock()  # guards the list only: adding never waits for a send
        self._wake = threading.Event()
        threading.Thread(target=self._run, name="engine-outbox", daemon=True).start()

    def put(self, message: wire.Message) -> None:
        with self._lock:
            self._items.append(message)
        if not self._wake.is_set():
            self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            with self._lock:
                items, self._items = self._items, []
            for message in merged(items):
                self._send(message)
            if any(kind == wire.CHUNKS for kind, _, _ in items):
                # A stream is flowing: let its next chunks pile up for a moment. Each send wakes
                # this thread and the app's reader, and on a machine whose cores all decode a
                # wake-up takes a core from a compute thread the others then wait for.
                time.sleep(COALESCE_SECONDS)

    def _send(self, message: wire.Message) -> None:
        try:
            self._connection.send(message)
        except (BrokenPipeError, ConnectionError, EOFError, OSError):
            os._exit(0)  # the app is gone: nobody is left to answer
        except Exception as exc:  # a result that cannot be pickled: the caller gets an error instead
            kind, request_id, _ = message
            self._connection.send((wire.ERROR, request_id, wire.encode_exception(exc)))


def merged(items: list[wire.Message]) -> list[wire.Message]:
    """Consecutive single chunks of one stream become one ``chunks`` message."""
    out: list[wire.Message] = []
    for kind, request_id, payload in items:
        if kind == wire.CHUNKS and out and out[-1][0] == wire.CHUNKS and out[-1][1] == request_id:
            out[-1][2].extend(payload)
        else:
            out.append((kind, request_id, list(payload) if kind == wire.CHUNKS else payload))
    return out


class EngineHost:
    """Serves one backend's methods to the app until the app closes the pipe or says ``exit``."""

    def __init__(self, inbound: Any, outbound: Any) -> None:
        self._inbound = inbound
        self.outbox = Outbox(outbound)
        self.backend: Backend | None = None
        self._streams: dict[int, _StreamState] = {}
        self._calls = 0
        """Calls running now (a ``close`` cancels the backend only when its stream runs alone)."""
        self._calls_lock = threading.Lock()

    def serve(self) -> None:
        self.outbox.put((wire.READY, 0, os.getpid()))
        while True:
            try:
                kind, request_id, payload = self._inbound.recv()
            except (EOFError, OSError):
                return
            if kind == wire.EXIT:
                return
            if kind == wire.CANCEL:
                self._cancel()
            elif kind == wire.CLOSE:
                self._close(request_id)
            elif kind == wire.STREAM:
                state = _StreamState()
                self._streams[request_id] = state  # before the thread starts: a cancel sent next finds it
                self._start(self._stream, request_id, payload, state)
            elif kind == wire.LOAD:
                self._start(self._load, request_id, payload)
            elif kind == wire.CALL:
                with self._calls_lock:
                    self._calls += 1  # here, not in the thread: a close read next must see it
                self._start(self._call, request_id, payload)

    def _start(self, target: Callable[..., None], *args: Any) -> None:
        threading.Thread(target=target, args=args, name=f"engine-{args[0]}", daemon=True).start()

    def _cancel(self) -> None:
        for state in list(self._streams.values()):
            state.cancelled = True
        if self.backend is not None:
            self.backend.cancel()

    def _close(self, request_id: int) -> None:
        """Stop one stream now, not at its next chunk: a long prompt yields none for seconds.

        The stream breaks at its next chunk (``closed``); its own stop event reaches it sooner,
        between two steps of the prompt's evaluation, as Esc does in the app's own process, and
        stops no other request (a token view's stream closed while a reply streams must not stop
        the reply). The backend's cancel is sent too while this stream is the one request running:
        a backend of a plugin may check only that.
        """
        state = self._streams.get(request_id)
        if state is None:
            return  # already ended: its ``end`` is on the way
        state.closed = True
        state.stop.set()
        with self._calls_lock:
            alone = self._calls == 0 and len(self._streams) == 1
        if alone and self.backend is not None:
            self.backend.cancel()

    def _progress(self, request_id: int, text: str) -> None:
        self.outbox.put((wire.PROGRESS, request_id, text))

    def _fail(self, request_id: int, exc: BaseException) -> None:
        self.outbox.put((wire.ERROR, request_id, wire.encode_exception(exc)))

    def _load(self, request_id: int, payload: tuple[str, str, str, dict[str, Any], bool]) -> None:
        """``name``: from the plugin registry; ``factory``: ``module:callable``; ``same``: this backend."""
        kind, target, model, options, wants_progress = payload
        try:
            if wants_progress:
                options = {**options, "progress": lambda text: self._progress(request_id, text)}
            backend = self._loaded(kind, target, model, options)
            facts = {
                "name": backend.name,
                "model_name": backend.model_name,
                "context_length": backend.context_length,
                "info": backend.info(),
                "capabilities": backend.capabilities,
            }
        except BaseException as exc:
            self._fail(request_id, exc)
            return
        self.backend = backend
        self.outbox.put((wire.RESULT, request_id, facts))

    def _loaded(self, kind: str, target: str, model: str, options: dict[str, Any]) -> Backend:
        from ...config import backend_options
        from ...errors import BackendError
        from .. import load_backend

        if kind == "name":
            return load_backend(target, model, **options)
        if kind == "same":
            if self.backend is None:
                raise BackendError("no backend to load another model into")
            backend = self.backend
        else:
            backend = pkgutil.resolve_name(target)()  # "module:callable"
        backend.load(model, **{**backend_options(backend.name), **options})
        return backend

    def _call(self, request_id: int, payload: tuple[str, tuple[Any, ...], dict[str, Any]]) -> None:
        try:
            self._answer_call(request_id, payload)
        finally:
            with self._calls_lock:
                self._calls -= 1

    def _answer_call(self, request_id: int, payload: tuple[str, tuple[Any, ...], dict[str, Any]]) -> None:
        method, args, kwargs = payload
        try:
            if self.backend is None:
                from ...errors import BackendError

                raise BackendError("no model is loaded in the engine process")
            result = getattr(self.backend, method)(*args, **kwargs)
        except BaseException as exc:
            self._fail(request_id, exc)
            return
        self.outbox.put((wire.RESULT, request_id, result))

    def _stream(
        self, request_id: int, payload: tuple[str, tuple[Any, ...], dict[str, Any]], state: _StreamState
    ) -> None:
        method, args, kwargs = payload
        stop_this_request_on(state.stop)
        try:
            backend = self.backend
            if backend is None:
                from ...errors import BackendError

                raise BackendError("no model is loaded in the engine process")
            if state.closed:  # closed before it began: a cancel sent then was cleared as it started
                chunks: Any = iter(())
            else:
                chunks = getattr(backend, method)(*args, **kwargs)
            try:
                for chunk in chunks:
                    self.outbox.put((wire.CHUNKS, request_id, (chunk,)))
                    if state.closed:
                        break
                    if state.cancelled:
                        backend.cancel()  # again: a stream clears the flag when it starts
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
        except BaseException as exc:
            self._fail(request_id, exc)
        else:
            self.outbox.put((wire.END, request_id, None))
        finally:
            self._streams.pop(request_id, None)
            stop_this_request_on(None)


def main() -> None:
    """Take the pipes from fds 0 and 1, then point 0 at /dev/null and 1 at the log (fd 2)."""
    inbound = wire.reader(os.dup(0))
    outbound = wire.writer(os.dup(1))
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115 - lives as long as the process
    EngineHost(inbound, outbound).serve()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # daemon threads may still be inside the engine: do not run its finalizers under them


if __name__ == "__main__":
    main()

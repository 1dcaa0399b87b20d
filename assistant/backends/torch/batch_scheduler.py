"""Concurrent generation requests gathered into batches for one local engine (``--parallel`` on transformers).

Callers do not change: a batch runs rows in threads, each thread calls
``stream`` as usual, and the engine's ``sample_tokens`` hands the request to
this scheduler. Requests that arrive together run as one batch in a worker
thread (N rows per forward); each caller reads its own tokens from a queue.

A request that finds the engine idle and nobody else waiting waits
:data:`GATHER_S` for company; if none comes it runs alone on the engine's
ordinary single-sequence path (prompt-prefix reuse, CUDA graphs), in the
caller's own thread, exactly as without the scheduler. So a lone prompt costs
those milliseconds and nothing else, and a batch of rows is never split into
"one alone, then the rest".

Batches are static: requests arriving while a batch runs wait for the next
one. Within a batch, rows that finish (end of generation, their budget, or a
caller that stopped reading — a stop sequence, a cancel) leave it.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from ...errors import BackendError
from ...types import GenerationParams

GATHER_S = 0.01
"""How long a request that finds the engine idle waits for others to batch with."""
_END = object()


@dataclass
class Request:
    """One generation in a batch: its prompt, sampling settings and token budget, and its output queue."""

    prompt_ids: list[int]
    params: GenerationParams
    budget: int
    """Tokens to produce at most (the end-of-generation token included)."""
    out: queue.SimpleQueue[Any] = field(default_factory=queue.SimpleQueue)
    closed: threading.Event = field(default_factory=threading.Event)
    """Set when the caller stopped reading: the row leaves the batch at the next step."""

    def put(self, item: Any) -> None:
        self.out.put(item)

    def finish(self) -> None:
        self.out.put(_END)

    def fail(self, exc: BaseException) -> None:
        self.out.put(exc)

    def drain(self) -> Iterator[Any]:
        try:
            while True:
                item = self.out.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.closed.set()


STOP_WAIT_S = 10.0
"""How long :meth:`BatchScheduler.stop` waits for the batch in flight to end."""


class BatchScheduler:
    """Runs lone requests inline and concurrent ones as batches of at most ``max_batch``."""

    def __init__(self, run_batch: Callable[[list[Request]], None], max_batch: int, gather_s: float = GATHER_S) -> None:
        self._run_batch = run_batch
        self.max_batch = max_batch
        self.gather_s = gather_s
        self._cv = threading.Condition()
        self._waiting: list[Request] = []
        self._busy = False  # a batch or a lone request is on the engine
        self._alone_in: int | None = None  # the thread whose lone request is on the engine
        self._gathering = 0  # lone requests still deciding whether company came
        self._worker: threading.Thread | None = None
        self._stopped = False

    def generate(self, request: Request, alone: Callable[[], Iterator[Any]]) -> Iterator[Any]:
        """The request's tokens: from ``alone()`` if it runs by itself, else from its batch."""
        me = threading.get_ident()
        with self._cv:
            if self._busy and self._alone_in == me:
                # Its lone request is paused in this very thread (a stream not read to its end): this one
                # would wait for it, and it can only go on once this thread returns to it.
                raise BackendError(
                    "the transformers backend is already generating in this thread (a reply not read to its "
                    "end); read or close it first"
                )
            solo = not self._busy and not self._waiting and not self._gathering
            if solo:
                self._gathering += 1
                self._cv.wait_for(lambda: bool(self._waiting), timeout=self.gather_s)
                self._gathering -= 1
                solo = not self._waiting and not self._busy
            if solo:
                self._busy, self._alone_in = True, me
            else:
                self._waiting.append(request)
                self._start_worker()
                self._cv.notify_all()
        if not solo:
            yield from request.drain()
            return
        try:
            yield from alone()
        finally:
            with self._cv:
                self._busy, self._alone_in = False, None
                self._cv.notify_all()

    def stop(self) -> None:
        """End the worker (the engine is unloading); requests still waiting fail."""
        with self._cv:
            self._stopped = True
            waiting, self._waiting = self._waiting, []
            self._cv.notify_all()
        for request in waiting:
            request.fail(RuntimeError("the model was unloaded"))
        worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            # The batch in flight ends once its callers stop reading (a cancel, Ctrl-C): wait for it, or a
            # process exiting on Ctrl-C tore torch down under the thread ("terminate called without an
            # active exception", exit 134 instead of 130).
            worker.join(timeout=STOP_WAIT_S)

    def _start_worker(self) -> None:
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._work, name="batch-decode", daemon=True)
            self._worker.start()

    def _work(self) -> None:
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._stopped or (self._waiting and not self._busy and not self._gathering))
                if self._stopped:
                    return
                while len(self._waiting) < self.max_batch and self._cv.wait(timeout=self.gather_s):
                    pass  # more keep arriving: let them join
                batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
                self._busy = True
            try:
                self._run_batch(batch)
            except BaseException as exc:  # noqa: BLE001 - every caller gets the engine's error
                for request in batch:
                    request.fail(exc)
            finally:
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()

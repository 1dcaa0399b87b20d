"""Rows in flight at once (``--parallel N``): a bounded thread pool whose results come back in input order.

Why threads: a row's work is a template run or a tool run, which may make
several model calls (tools score, then generate); a server answers many
requests at once and batches them itself. Each worker runs whole rows, so
every kind of row gains without the row code knowing about parallelism.

Why input order: the results file is written in row order, so what a kill
leaves behind is always "every row before K, none after", plus nothing half
written, and ``--resume`` stays exact. At most ``2 × N`` rows are
submitted ahead of the oldest unwritten one, so a slow row holds back only a
bounded number of finished ones.

How many may run is the backend's typed capability
(:attr:`~assistant.backends.base.Capabilities.max_parallel`): an engine that
decodes one sequence at a time caps N at 1 with a one-line note.
"""

from __future__ import annotations

import collections
import itertools
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

if TYPE_CHECKING:
    from ..backends.base import Backend
    from .rows import Row

WINDOW_PER_WORKER = 2
"""Rows submitted per worker ahead of the oldest unwritten row."""
CANCEL_POLL_S = 0.1
"""How often an interrupted batch re-sends its cancel while in-flight rows wind down."""


def parallel_for(backend: Backend, requested: int) -> tuple[int, str | None]:
    """The number of rows to run at once on ``backend``, and a one-line note when it is fewer than asked."""
    if requested <= 1:
        return 1, None
    limit = max(1, backend.capabilities.max_parallel)
    if requested <= limit:
        return requested, None
    if limit == 1:
        return 1, f"note: the {backend.name} backend runs one request at a time; --parallel {requested} runs as 1"
    return limit, f"note: the {backend.name} backend takes at most {limit} requests at once; --parallel {requested} runs as {limit}"


def in_order(
    rows: Iterable[Row],
    work: Callable[[Row], dict[str, Any]],
    parallel: int,
    cancel: Callable[[], None] | None = None,
) -> Iterator[tuple[Row, dict[str, Any]]]:
    """``(row, work(row))`` for every row in input order, with up to ``parallel`` rows running at once.

    If the consumer stops early (an exception, Ctrl-C in the main thread while
    it waits), queued rows are dropped and ``cancel`` is called every
    :data:`CANCEL_POLL_S` until the running ones have returned, so a row that
    starts another model call after the first cancel is stopped as well.
    """
    if parallel <= 1:
        for row in rows:
            yield row, work(row)
        return
    pending = iter(rows)
    executor = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="batch-row")
    queue: collections.deque[tuple[Row, Future[dict[str, Any]]]] = collections.deque()
    finished = False
    try:
        for row in itertools.islice(pending, parallel * WINDOW_PER_WORKER):
            queue.append((row, executor.submit(work, row)))
        while queue:
            row, future = queue[0]
            record = future.result()
            queue.popleft()
            following = next(pending, None)
            if following is not None:
                queue.append((following, executor.submit(work, following)))
            yield row, record
        finished = True
    finally:
        if not finished:
            _wind_down([future for _, future in queue], cancel)
        executor.shutdown(wait=True, cancel_futures=True)


def _wind_down(futures: list[Future[Any]], cancel: Callable[[], None] | None) -> None:
    """Drop the queued rows and cancel the running ones until every worker has returned."""
    running = [future for future in futures if not future.cancel()]
    while running:
        if cancel is not None:
            cancel()
        _, not_done = wait(running, timeout=CANCEL_POLL_S, return_when=FIRST_COMPLETED)
        running = list(not_done)

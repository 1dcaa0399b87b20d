"""What every part of :class:`~assistant.history.store.HistoryStore` shares: the connection, its lock, the clock.

The store is split by job — :mod:`.conversations` (rows of ``conversations``),
:mod:`.turns` (recording a turn), :mod:`.store` (opening and reading) — and each
part is a class over :class:`StoreAccess`, so that every public method is
serialised by the same lock and reports SQLite errors the same way (:func:`guarded`).
"""

from __future__ import annotations

import functools
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, TypeVar

import sqlite_utils

from .db import translate_errors

T = TypeVar("T")


def now_iso() -> str:
    """UTC, microseconds (so "latest" is unambiguous); ISO 8601 strings sort chronologically."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def guarded(method: Callable[..., T]) -> Callable[..., T]:
    """Serialise access to the connection and turn SQLite errors into HistoryError."""

    @functools.wraps(method)
    def wrapper(self: StoreAccess, *args: Any, **kwargs: Any) -> T:
        with self._lock, translate_errors(self.path):
            return method(self, *args, **kwargs)

    return wrapper


class StoreAccess:
    """The connection a store part works on (one connection, one lock: every public method is thread-safe)."""

    def __init__(self, db: sqlite_utils.Database, path: Path) -> None:
        self.db = db
        self.path = path
        self._lock = threading.RLock()

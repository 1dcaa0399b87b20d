"""Checks on what a script passes to the history API, each a one-line :class:`HistoryError`.

The CLI's own parameter types (``ROW_ID``, ``COUNT``) already refuse bad
numbers before they get here; a Python caller has no such layer, and a wrong
type used to surface as whatever the first line to touch it raised — an
``AttributeError`` from deep inside :meth:`HistoryStore.finish_turn`, an
``OverflowError`` from SQLite's parameter binding, a ``TypeError`` from the
search parser — instead of the ``HistoryError`` the API promises.
"""

from __future__ import annotations

import json
import numbers
import os
from typing import Any, Sequence

from ..errors import HistoryError
from ..types import Completion, Message
from .records import KINDS, Kind, TurnMeta
from .stored_text import storable_text

SQLITE_MAX_INTEGER = 2**63 - 1
"""The largest id SQLite can store (and bind: a larger Python int is an OverflowError there)."""


def row_id(value: Any, what: str = "conversation id") -> int:
    """``value`` as a row id (a whole number SQLite can hold), worded as the CLI's ``ROW_ID`` words it."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and 1 <= int(value) <= SQLITE_MAX_INTEGER:
        return int(value)
    hint = " (int() makes one from text)" if isinstance(value, str) and value.strip().isdigit() else ""
    raise HistoryError(f"{what} must be a whole number from 1 to {SQLITE_MAX_INTEGER}, not {value!r}{hint}")


def count(value: Any, what: str) -> int:
    """``value`` as a non-negative whole number SQLite can bind (a ``limit``, an ``offset``)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and 0 <= int(value) <= SQLITE_MAX_INTEGER:
        return int(value)
    raise HistoryError(f"{what} must be a whole number from 0 to {SQLITE_MAX_INTEGER}, not {value!r}")


def text(value: Any, what: str) -> str:
    """``value`` if it is a ``str`` (a search query): bytes or a number is a caller's mistake, said so."""
    if not isinstance(value, str):
        raise HistoryError(f"{what} must be text, not {type(value).__name__}")
    return value


def kind(value: Any, *, none_ok: bool = False) -> Kind | None:
    """``value`` if it is one of :data:`~.records.KINDS` (or None where ``none_ok``).

    Why: a kind is compared with the stored column, so a misspelt one
    (``"chats"``) matched no conversation and read as an empty history
    (the chat app's Up history came back empty) instead of saying so.
    """
    if (value is None and none_ok) or (isinstance(value, str) and value in KINDS):
        return value  # type: ignore[no-any-return]
    named = ", ".join(KINDS) + (" or None" if none_ok else "")
    raise HistoryError(f"conversation kind must be one of {named}, not {value!r}")


def optional_text(value: Any, what: str) -> str | None:
    """``value`` if it is a ``str`` or None (a model name, an error text)."""
    return None if value is None else text(value, what)


def json_text(value: Any, what: str) -> str | None:
    """``value`` as the JSON a column stores (None stays NULL); a value JSON cannot hold is refused."""
    if value is None:
        return None
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError) as exc:  # a set, an object of no JSON type, a list that holds itself
        raise HistoryError(f"{what} must be JSON-serialisable: {exc}") from exc


def turn_meta(value: Any) -> TurnMeta:
    """``value`` if it is a :class:`TurnMeta` whose names are text (the columns they go into are)."""
    if not isinstance(value, TurnMeta):
        raise HistoryError(f"meta must be a TurnMeta, not {type(value).__name__}")
    for name in ("model", "backend", "template", "model_ref"):
        optional_text(getattr(value, name), f"meta.{name}")
    if value.params is not None and not isinstance(value.params, dict):
        raise HistoryError(f"meta.params must be a dict, not {type(value.params).__name__}")
    if value.params:
        try:  # NaN or an infinity was stored as ``NaN``: `history export --format json` then wrote no JSON at all
            json.dumps(value.params, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise HistoryError(f"meta.params must be JSON of finite numbers and text: {exc}") from exc
    return value


def completion(value: Any) -> Completion:
    """``value`` if it is a :class:`Completion` (what a backend's ``complete`` returns)."""
    if not isinstance(value, Completion):
        raise HistoryError(f"completion must be an assistant.types.Completion, not {type(value).__name__}")
    return value


def rendered(value: Any) -> Sequence[Message] | None:
    """``value`` if it is None or a list or tuple of :class:`Message` (what a template sent instead)."""
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or not all(isinstance(m, Message) for m in value):
        raise HistoryError("rendered must be a list of assistant.types.Message (what the model was sent)")
    return value


def completion_prompt(value: Any) -> str | None:
    """``value`` as a reply's completion prompt is stored (None: a chat-mode reply; see :func:`storable_text`)."""
    return None if value is None else storable_text(value, "the completion prompt")


def db_path(value: Any) -> Any:
    """``value`` if it can name a database file: None, a ``str`` or an ``os.PathLike`` without NUL."""
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise HistoryError(f"the history database path must be a str or a path, not {type(value).__name__}")
    name = os.fspath(value)
    if not isinstance(name, str):
        raise HistoryError(f"the history database path must be a str or a path, not {type(name).__name__}")
    if "\0" in name:
        raise HistoryError("the history database path contains a NUL character")
    return value

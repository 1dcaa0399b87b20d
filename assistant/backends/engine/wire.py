"""What the chat app and its engine process say to each other over their pipes.

Both ends import this module, so the message kinds and the way an exception
crosses the process boundary are defined once. Every message is a pickled
tuple ``(kind, request_id, payload)`` framed by :mod:`multiprocessing.connection`.

App → engine: ``load``, ``call`` and ``stream`` start a request; ``close`` stops
one stream early (at once, as ``cancel`` does, even while the prompt is read); ``cancel`` stops every running stream within one token (it
is handled at once, not queued behind a running request); ``exit`` ends the
process. Engine → app: ``ready`` once after start, ``progress`` while loading,
``result`` or ``error`` for a call, ``chunks`` (a batch of stream chunks) then
``end`` or ``error`` for a stream.
"""

from __future__ import annotations

import pickle
import pkgutil
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from ...errors import BackendError

LOAD, CALL, STREAM, CLOSE, CANCEL, EXIT = "load", "call", "stream", "close", "cancel", "exit"
READY, PROGRESS, RESULT, ERROR, CHUNKS, END = "ready", "progress", "result", "error", "chunks", "end"

Message = tuple[str, int, Any]


def reader(fd: int) -> Connection:
    """A receiving end over a pipe's file descriptor (owned by the connection from now on)."""
    return Connection(fd, writable=False)


def writer(fd: int) -> Connection:
    """A sending end over a pipe's file descriptor (owned by the connection from now on)."""
    return Connection(fd, readable=False)


@dataclass(frozen=True)
class RemoteException:
    """An exception raised in the engine process, in a form that always unpickles.

    Exceptions with their own ``__init__`` signature (``ContextOverflowError``,
    ``ModelLoadError``) do not survive a plain pickle round trip, because
    unpickling calls the class with ``self.args`` only. This keeps the class's
    import path, ``args`` and attributes, and rebuilds the instance without
    calling ``__init__``, so the app catches the same type with the same message
    and fields as if the engine ran in its own process.
    """

    module: str
    qualname: str
    args: tuple[Any, ...]
    state: dict[str, Any]
    message: str
    traceback: str


def encode_exception(exc: BaseException) -> RemoteException:
    cls = type(exc)
    state = {}
    for key, value in vars(exc).items():
        try:
            pickle.dumps(value)
        except Exception:
            continue  # an attribute that cannot travel (a live handle) is left behind
        state[key] = value
    try:
        pickle.dumps(exc.args)
        args = exc.args
    except Exception:
        args = (str(exc),)
    text = "".join(traceback.format_exception(cls, exc, exc.__traceback__))
    return RemoteException(cls.__module__, cls.__qualname__, args, state, str(exc), text)


def decode_exception(remote: RemoteException) -> BaseException:
    """The engine's exception as its own class when that can be imported here, else a BackendError."""
    try:
        cls: Any = pkgutil.resolve_name(f"{remote.module}:{remote.qualname}")
    except Exception:  # not importable here (a class local to a function, a module the app lacks)
        cls = None
    if isinstance(cls, type) and issubclass(cls, BaseException):
        try:
            exc = cls.__new__(cls)
            BaseException.__init__(exc, *remote.args)
            exc.__dict__.update(remote.state)
            exc.add_note(f"raised in the engine process:\n{remote.traceback.rstrip()}")
            return exc
        except Exception:
            pass
    message = remote.message or remote.qualname
    return BackendError(f"{remote.qualname} in the engine process: {message}")

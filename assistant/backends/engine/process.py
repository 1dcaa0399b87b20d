"""Run a backend in its own process, behind the same :class:`Backend` protocol.

Why: Python threads share one interpreter lock. In the chat app the model's
thread and the UI thread take turns, so every draw delays the next token
(measured: at 1000 tok/s the model ran at 0.83 of its headless speed, whatever
the draw budget). In a separate process the engine has an interpreter of its
own: the UI can take as long as it likes to draw, and the model is not slowed.
It also keeps an engine's crash (a segfault inside llama.cpp) and its C logs
out of the app: the app reports that the engine stopped and keeps running.

:func:`load_chat_backend` is the chat app's loader: it uses a process when
:func:`assistant.config.engine_process_enabled` says so and the backend's
plugin can be found by a fresh interpreter (built in, ``plugins/``, a user
plugin directory or an entry point). A plugin registered at run time with
:func:`assistant.plugins.register_plugin` exists only in this process, so its
backend is loaded here as before.

The process is ``python -m assistant.backends.engine.host`` with the app's
environment. Its output goes to ``<cache dir>/logs/engine.log``.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from ...errors import BackendError, EngineStartError
from ...types import AttentionMaps, Chunk, Completion, GenerationParams, Message, TokenLogprob
from ..base import Backend, Capabilities, Prompt, checked_candidates, checked_params, checked_prompt
from . import wire

if TYPE_CHECKING:
    from ...inspect.distribution import NextToken
    from ...inspect.pieces import TokenPiece

START_TIMEOUT_S = 60.0
"""A fresh interpreter importing the assistant takes well under a second; a loaded machine, longer."""
EXIT_TIMEOUT_S = 5.0
CLOSE_WAIT_S = 5.0
"""Longest a closed stream waits for the engine to end it (one token, normally: milliseconds)."""
LOG_LIMIT_BYTES = 1 << 20


def engine_log_path() -> Path:
    from ...config import paths

    return paths().cache_dir / "logs" / "engine.log"


def _open_log(label: str) -> Any:
    """The engine's stderr: the log file, or /dev/null where the cache cannot be written."""
    path = engine_log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and path.stat().st_size > LOG_LIMIT_BYTES:
            path.unlink()  # keep one bounded file rather than a growing one
        log = open(path, "ab")  # noqa: SIM115 - handed to the child, closed here right after
        log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} engine process for {label}\n".encode())
        log.flush()
    except OSError:
        return open(os.devnull, "wb")  # noqa: SIM115
    return log


def _log_tail(lines: int = 3) -> str:
    try:
        text = engine_log_path().read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    tail = [line for line in text.splitlines() if line.strip()][-lines:]
    return " | ".join(line.strip() for line in tail)


def _child_env() -> dict[str, str]:
    """The app's environment, with the directory holding this package first on the path."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[3])
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    return env


def _describe_exit(code: int | None) -> str:
    if code is None:
        return ""
    if code < 0:
        try:
            return f" (killed by {signal.Signals(-code).name})"
        except ValueError:
            return f" (killed by signal {-code})"
    return f" (exit status {code})"


class EngineProcess:
    """The child process, and the thread that routes its answers to the waiting requests."""

    def __init__(self, label: str) -> None:
        self.label = label
        log = _open_log(label)
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "assistant.backends.engine.host"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=_child_env(),
                close_fds=True,
                start_new_session=True,  # Ctrl+C and Ctrl+Z in the terminal are the app's to handle
            )
        except OSError as exc:
            raise EngineStartError(f"cannot start the engine process for {label}: {exc}") from exc
        finally:
            log.close()
        assert self._process.stdin is not None and self._process.stdout is not None
        self._out = wire.writer(os.dup(self._process.stdin.fileno()))
        self._in = wire.reader(os.dup(self._process.stdout.fileno()))
        self._process.stdin.close()
        self._process.stdout.close()
        self._ids = itertools.count(1)
        self._pending: dict[int, queue.SimpleQueue[wire.Message]] = {}
        self._lock = threading.Lock()  # one message on the pipe at a time; the pending table
        self._stopped: BackendError | None = None
        self._closing = False
        self.reloads_on_crash = False
        """Set once a model has loaded: a crash from then on is followed by a reload (the error says so)."""
        self._await_ready()
        self.pid = self._process.pid
        threading.Thread(target=self._route, name=f"engine-reader-{self.pid}", daemon=True).start()

    def _await_ready(self) -> None:
        try:
            ready = self._in.poll(START_TIMEOUT_S) and self._in.recv()[0] == wire.READY
        except (EOFError, OSError):
            ready = False
        if not ready:
            self._process.kill()
            code = self._process.wait()
            self._in.close()
            self._out.close()
            detail = _log_tail() or "no output"
            raise EngineStartError(
                f"the engine process for {self.label} did not start{_describe_exit(code)}: {detail} "
                f"(log: {engine_log_path()})"
            )

    # ---- requests -----------------------------------------------------------------
    def open(self, kind: str, payload: Any) -> tuple[int, queue.SimpleQueue[wire.Message]]:
        """Send a request; its answers arrive on the returned queue."""
        answers: queue.SimpleQueue[wire.Message] = queue.SimpleQueue()
        with self._lock:
            if self._stopped is not None:
                raise self._stopped
            request_id = next(self._ids)
            self._pending[request_id] = answers
            try:
                self._out.send((kind, request_id, payload))
            except (OSError, EOFError):
                del self._pending[request_id]
                raise self._stopped_error() from None
        return request_id, answers

    def forget(self, request_id: int) -> None:
        with self._lock:
            self._pending.pop(request_id, None)

    def notify(self, kind: str, request_id: int = 0) -> None:
        """A message with no answer (``cancel``, ``close``); dropped if the process is gone."""
        with self._lock:
            if self._stopped is None:
                try:
                    self._out.send((kind, request_id, None))
                except (OSError, EOFError):
                    pass

    def answer(
        self, kind: str, payload: Any, progress: Callable[[str], None] | None = None
    ) -> Any:
        """Send one request and wait for its result (progress messages go to ``progress``)."""
        request_id, answers = self.open(kind, payload)
        try:
            while True:
                what, _, value = answers.get()
                if what == wire.PROGRESS:
                    if progress is not None:
                        progress(value)
                elif what == wire.RESULT:
                    return value
                elif what == wire.ERROR:
                    raise self.error_from(value)
        finally:
            self.forget(request_id)

    def error_from(self, value: wire.RemoteException | None) -> BaseException:
        """An ``error`` answer's exception (None: the process stopped before it could answer)."""
        return self._stopped_error() if value is None else wire.decode_exception(value)

    def _route(self) -> None:
        while True:
            try:
                message = self._in.recv()
            except (EOFError, OSError):
                break
            with self._lock:
                answers = self._pending.get(message[1])
            if answers is not None:
                answers.put(message)
        stopped = self._stopped_error()  # may wait a moment for the exit status: not under the lock
        with self._lock:
            if self._stopped is None:
                self._stopped = stopped
            waiting, self._pending = list(self._pending.values()), {}
        for answers in waiting:
            answers.put((wire.ERROR, 0, None))
        self._in.close()

    def _stopped_error(self) -> BackendError:
        if self._closing:
            return BackendError(f"the model {self.label} was unloaded")
        try:
            code = self._process.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            code = None
        then = "; the next request loads the model again" if self.reloads_on_crash else ""
        return BackendError(
            f"the engine process for {self.label} stopped{_describe_exit(code)}{then} (log: {engine_log_path()})"
        )

    @property
    def crashed(self) -> bool:
        """The process ended without being asked to."""
        return self._stopped is not None and not self._closing

    def abort(self) -> None:
        """End the process at once, whatever it is doing (a load that would take a minute):
        waiting requests fail as "unloaded", as after :meth:`close`."""
        self._closing = True
        try:
            self._process.kill()
        except OSError:  # already gone
            pass

    def close(self) -> None:
        """Ask the process to exit, then make sure it has."""
        self._closing = True
        self.notify(wire.EXIT)
        with self._lock:
            if self._stopped is None:
                self._stopped = self._stopped_error()  # "unloaded": closing was asked for
        try:
            self._process.wait(timeout=EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._out.close()

    @property
    def returncode(self) -> int | None:
        return self._process.poll()


_STARTING: set[EngineProcess] = set()
"""Engine processes loading their first model: what :func:`abort_loads` ends."""
_STARTING_LOCK = threading.Lock()


def abort_loads() -> int:
    """End every engine process of this program that is still loading its model; how many there were.

    For quitting while a model loads: a load (a first transformers import, a large
    file) can take a minute, and the program would wait for it to finish only to
    unload it. The thread waiting for each load gets a :class:`BackendError`.
    """
    with _STARTING_LOCK:
        starting = list(_STARTING)
    for engine in starting:
        engine.abort()
    return len(starting)


LoadSpec = tuple[str, str, str, dict[str, Any]]
"""(``"name"`` or ``"factory"``, the backend's name or factory, model, load options)."""


class ProcessBackend:
    """A :class:`Backend` whose engine runs in an :class:`EngineProcess`.

    If the process dies (a crash inside the engine), the request in progress
    fails with a :class:`BackendError` and the next request starts a new
    process and loads the same model again, so the app recovers without the
    user re-choosing the model. The load's progress callback hears about the
    reload too. That is tried once per crash: if loading again fails as
    well (a model that crashes as it loads), later requests fail at once
    with that reason instead of reloading it on every request; loading a
    model anew is the way out.
    """

    def __init__(self, label: str, spec: LoadSpec, progress: Callable[[str], None] | None = None) -> None:
        self._label = label
        self._spec = spec
        self._progress = progress
        self._restarting = threading.Lock()
        self._reload_failed: Exception | None = None
        self.engine, facts = self._start(progress)
        self._take(facts)

    def _start(
        self, progress: Callable[[str], None] | None, spec: LoadSpec | None = None
    ) -> tuple[EngineProcess, dict[str, Any]]:
        spec = spec or self._spec
        engine = EngineProcess(f"{self._label} {spec[2]}")
        with _STARTING_LOCK:
            _STARTING.add(engine)
        try:
            facts = engine.answer(wire.LOAD, (*spec, progress is not None), progress)
        except BaseException:
            engine.close()
            raise
        finally:
            with _STARTING_LOCK:
                _STARTING.discard(engine)
        engine.reloads_on_crash = True
        return engine, facts

    def _live(self) -> EngineProcess:
        """The engine process, started again (model reloaded) if it crashed and that has not failed yet."""
        with self._restarting:
            if not self.engine.crashed:
                return self.engine
            model = self._spec[2]
            if self._reload_failed is not None:
                raise BackendError(
                    f"loading {model} again after its engine stopped failed ({self._reload_failed}); "
                    "load a model to try again"
                ) from self._reload_failed
            if self._progress is not None:
                self._progress(f"the engine stopped: loading {model} again")
            try:
                self.engine, facts = self._start(self._progress)
            except Exception as exc:
                self._reload_failed = exc
                raise
            self._take(facts)
            if self._progress is not None:  # the last word: a status line must not keep saying "loading"
                self._progress(f"{model} is loaded again")
            return self.engine

    def _take(self, facts: dict[str, Any]) -> None:
        self.name: str = facts["name"]
        self._model_name: str = facts["model_name"]
        self._context_length: int = facts["context_length"]
        self._info: dict[str, Any] = dict(facts["info"])
        # one request at a time over the pipes, whatever the engine could batch
        self._capabilities: Capabilities = dataclasses.replace(
            facts["capabilities"], engine_process=True, max_parallel=1
        )

    @property
    def model_name(self) -> str:
        return self._model_name

    @property
    def context_length(self) -> int:
        return self._context_length

    def load(self, model: str, **options: Any) -> None:
        """Load another model into the same engine process (a new one if it has stopped)."""
        progress = options.pop("progress", None)
        spec: LoadSpec = (self._spec[0], self._spec[1], model, options)
        if self.engine.crashed:  # nothing to keep: no reload of the old model first
            engine, facts = self._start(progress, spec)
            with self._restarting:
                self.engine, self._reload_failed = engine, None
        else:
            facts = self.engine.answer(wire.LOAD, ("same", "", model, options, progress is not None), progress)
        self._take(facts)
        self._spec = spec
        self._progress = progress or self._progress

    @property
    def capabilities(self) -> Capabilities:
        """The engine's, as it reported them when it loaded, with ``engine_process`` set."""
        return self._capabilities

    def info(self) -> dict[str, Any]:
        """What the engine reported when it loaded (asked once: the status bar reads it often)."""
        return {**self._info, "engine_process": self.engine.pid}

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._live().answer(wire.CALL, (method, args, kwargs))

    def render_prompt(self, messages: Sequence[Message]) -> str:
        return self._call("render_prompt", list(messages))

    def prompt_token_ids(self, prompt: Prompt) -> list[int]:
        return self._call("prompt_token_ids", _portable(prompt))

    def count_tokens(self, prompt: Prompt) -> int:
        return self._call("count_tokens", _portable(prompt))

    def complete(self, prompt: Prompt, params: GenerationParams) -> Completion:
        return self._call("complete", _portable(prompt), checked_params(params))

    def score(self, prompt: Prompt, candidates: Sequence[str]) -> list[float]:
        return self._call("score", _portable(prompt), checked_candidates(candidates))

    def attention_shape(self) -> tuple[int, int]:
        return self._call("attention_shape")

    def attention(self, prompt: Prompt, params: GenerationParams, **options: Any) -> AttentionMaps:
        """Computed in the engine (``cancel`` reaches it at once and stops it between two layers)."""
        return self._call("attention", _portable(prompt), checked_params(params), **options)

    def next_token(self, prompt: Prompt, params: GenerationParams, top: int = 10) -> NextToken:
        return self._call("next_token", _portable(prompt), checked_params(params), top)

    def token_pieces(self, token_ids: Sequence[int]) -> list[TokenPiece]:
        return self._call("token_pieces", list(token_ids))

    def token_logprobs(
        self, prompt: Prompt, token_ids: Sequence[int], params: GenerationParams, top: int = 5
    ) -> Iterator[TokenLogprob]:
        """Streamed from the engine like a reply: stopping early (or ``cancel``) stops it there."""
        return self._stream("token_logprobs", (_portable(prompt), list(token_ids), params, top))

    def stream(self, prompt: Prompt, params: GenerationParams) -> Iterator[Chunk]:
        return self._stream("stream", (_portable(prompt), checked_params(params)))

    def _stream(self, method: str, args: tuple[Any, ...]) -> Iterator[Any]:
        engine = self._live()
        request_id, answers = engine.open(wire.STREAM, (method, args, {}))
        finished = False
        try:
            while True:
                what, _, value = answers.get()
                if what == wire.CHUNKS:
                    yield from value
                elif what == wire.END:
                    finished = True
                    return
                elif what == wire.ERROR:
                    finished = True
                    raise engine.error_from(value)
        finally:
            try:
                if not finished:  # the caller stopped reading: stop generating too
                    engine.notify(wire.CLOSE, request_id)
                    _await_end(answers)
            finally:
                engine.forget(request_id)

    def cancel(self) -> None:
        self.engine.notify(wire.CANCEL)

    def unload(self) -> None:
        try:
            self.engine.answer(wire.CALL, ("unload", (), {}))
        except BackendError:
            pass  # already gone: closing is all that is left
        finally:
            self.engine.close()

    def __repr__(self) -> str:
        return f"<ProcessBackend {self.name} {self.model_name!r} pid={self.engine.pid}>"


def _await_end(answers: queue.SimpleQueue[wire.Message]) -> None:
    """Wait until the engine has ended a stream it was told to close (its ``end`` or ``error``).

    As an in-process backend's generator does when closed, the model is free again when ``close()``
    returns: without the wait the next request reached the engine while it still held the model, and
    failed with "already generating or scoring (… a reply not read to its end)". The engine cancels a
    closed stream at once, mid-prompt too (else it ends at its next chunk: one token); a process that
    stops answers ``error`` here too.
    No wait while the interpreter exits (a stream left open is closed then, and the thread that routes
    the answers runs no more: the exit waited out the bound), and the wait is bounded (:data:`CLOSE_WAIT_S`).
    """
    if sys.is_finalizing():
        return
    deadline = time.monotonic() + CLOSE_WAIT_S
    while (left := deadline - time.monotonic()) > 0:
        try:
            what, _, _ = answers.get(timeout=left)
        except queue.Empty:
            return
        if what in (wire.END, wire.ERROR):
            return


def _portable(prompt: Prompt) -> Prompt:
    """The prompt as it crosses to the engine process, checked here so a wrong type is named at once."""
    checked_prompt(prompt)
    return prompt if isinstance(prompt, str) else list(prompt)


def load_in_engine_process(
    name: str, model: str, *, factory: str | None = None, **options: Any
) -> ProcessBackend:
    """Start an engine process and load ``model`` on backend ``name`` there.

    ``factory`` (``"module:callable"``, importable by a fresh interpreter)
    builds the backend instead of the registry: benchmarks and embedding apps
    use it for a backend that no plugin registers.
    """
    progress = options.pop("progress", None)
    spec: LoadSpec = ("factory", factory, model, options) if factory else ("name", name, model, options)
    return ProcessBackend(name, spec, progress)


def runs_in_engine_process(name: str) -> bool:
    """Whether the chat app loads backend ``name`` in a process of its own."""
    from ...config import engine_process_enabled
    from ...plugins import plugin_source
    from .. import available_backends

    if not engine_process_enabled():
        return False
    registered = available_backends().get(name)
    if registered is None:
        return False  # loading here raises the usual "unknown backend" error at once
    return plugin_source(registered.plugin) not in (None, "runtime")


def load_chat_backend(name: str, model: str, **options: Any) -> Backend:
    """The chat app's loader: in an engine process when it can be, else in this process.

    If the process cannot start at all (an executable that cannot run ``-m``,
    as in a frozen app), the model is loaded here instead and the progress
    callback says so: the chat still works, only without the isolation.
    """
    from .. import load_backend

    if runs_in_engine_process(name):
        try:
            return load_in_engine_process(name, model, **options)
        except EngineStartError as exc:
            progress = options.get("progress")
            if progress is not None:
                progress(f"{exc}; loading the model in the app's process")
    return load_backend(name, model, **options)

"""llama-cpp-python as a library: imported quietly, its logs captured, its chat handlers not compiled.

Kept apart from the backend (:mod:`.llama_cpp`) because it is process-wide state,
not one model's: llama.cpp's C log callback is set once per process and its
lines go into one ring buffer (quoted in load errors, printed with
``verbose=True`` one record a line through :func:`log_record`, since they
quote a GGUF's own strings); C code that prints straight to fd 2 is silenced
while it runs; and while ``Llama()`` loads, llama-cpp-python's own chat
formatter is replaced, one load at a time. The options the backend hands
``Llama()`` are checked here too (:func:`read_load_options`), before any load.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import threading
from collections import deque
from typing import Any, Callable, Iterator

from ..errors import BackendError
from ..models.context_size import OVERRIDE_OPTION, override_requested
from ..option_values import check_backend_options, switch_option, unknown_options_error
from ..terminal_text import log_record, visible_text  # log_record: kept importable from here too

OPTIONS = ("n_ctx", "n_threads", "n_gpu_layers", "n_batch", "flash_attn", OVERRIDE_OPTION)
"""The backend options llama-cpp reads: what an unknown option's error lists and suggests from."""
DEVICE_OPTION = "device"
"""Taken too, for the one value llama-cpp can honour of the transformers option (:func:`_device_layers`):
a script that gives ``device=cpu`` to both engines (``compare``) runs. Not listed as known: its GPU
offload is ``n_gpu_layers``, which the list names."""
OTHER_ENGINE_OPTIONS = {
    "dtype": "a transformers option; llama-cpp computes in the GGUF file's own quantization "
    "(another one is another file: -m hf:ORG/REPO:Q8_0)",
    "attn": "a transformers option; llama-cpp's attention kernel is flash_attn=true|false",
    "native": "a transformers option (its decoder); llama-cpp has one decoder",
    "cuda_graphs": "a transformers option; llama-cpp offloads to a GPU with n_gpu_layers",
    "max_batch": "a transformers option (rows decoded together); llama-cpp decodes one reply at a time",
}
"""The transformers options llama-cpp cannot honour, each refused with why (they were once taken and
ignored: ``-o dtype=float16`` ran in the GGUF's quantization with no word)."""


def _device_layers(options: dict[str, Any]) -> int | None:
    """``n_gpu_layers`` as ``device`` asks it (``cpu``: 0), or None where ``device`` leaves it be.

    ``-o device=cuda`` was taken and ignored, as any transformers option was: the model ran where
    llama.cpp's build put it. ``cpu`` keeps every layer off the GPU; a GPU is ``n_gpu_layers``' business
    (-1, every layer, is the default where the build has one), so any other device is refused, naming that.
    """
    raw = options.get(DEVICE_OPTION)
    name = "" if raw is None else str(raw).strip().lower()
    if name in ("", "auto"):
        return None
    if name != "cpu":
        raise BackendError(
            f"llama-cpp takes device=cpu or auto, not {visible_text(str(raw))!r}: it offloads to a GPU with "
            "n_gpu_layers (-1: every layer, the default where this llama.cpp build has GPU support); "
            "-b transformers takes device=cuda, cuda:N or mps"
        )
    layers = options.get("n_gpu_layers")
    if layers not in (None, 0):
        raise BackendError(f"device=cpu and n_gpu_layers={layers} contradict each other: give one of them")
    return 0


def read_load_options(options: dict[str, Any]) -> dict[str, Any]:
    """Every load option checked, names and values, with no model touched: the one check ``load`` and
    ``check_options`` make.

    Returns the options with the integer ones made ints and the switches (``verbose``,
    ``flash_attn``, ``n_ctx_override``) read as booleans. ``assistant compare`` calls it
    (through ``check_options``) before either side loads: ``-o llama-cpp:flash_attn=maybe``
    was refused only when its side's turn came, after the other side had run.
    """
    # checked: bool("no") was True, so `verbose = "no"` in the config printed every llama.cpp log line
    verbose = switch_option(options, "verbose", False)
    rest = {k: v for k, v in options.items() if k not in ("verbose", "progress")}
    unknown = set(rest) - set(OPTIONS) - {DEVICE_OPTION}
    if unknown:
        raise unknown_options_error("llama-cpp", unknown, OPTIONS, OTHER_ENGINE_OPTIONS)
    # The CLI and the config check these already; the Python API passes what it is given
    # (n_ctx="abc" was a ValueError from int(), blamed on the backend).
    rest = check_backend_options(rest, "the llama-cpp backend's options")
    layers = _device_layers(rest)
    rest.pop(DEVICE_OPTION, None)
    if layers is not None:
        rest["n_gpu_layers"] = layers
    return {
        **rest,
        "verbose": verbose,
        "flash_attn": switch_option(rest, "flash_attn", False),
        OVERRIDE_OPTION: override_requested(rest),
    }


class CallbackInterrupts:
    """Ctrl-C pressed while llama.cpp called back into Python: noted there, raised once the C call returns.

    Python runs a SIGINT handler between two bytecodes, which is often inside a
    callback llama.cpp is running (its log lines while a model loads, the abort
    check between two graph nodes while a prompt is read, a logits mask while a
    token is drawn). ctypes drops an exception raised there and prints
    "Exception ignored on calling ctypes callback function": a plain script
    that pressed Ctrl-C got that traceback, then a "llama_decode returned 2"
    BackendError or a reply that went on. Each callback is wrapped
    (:meth:`guard`): the press is noted, the abort check answers "abort", and
    the backend calls :meth:`raise_pending` after each llama.cpp call. Noted per
    thread: a backend in another thread never takes the main thread's press.
    """

    def __init__(self) -> None:
        self._threads: set[int] = set()

    def note(self) -> None:
        self._threads.add(threading.get_ident())

    def pending(self) -> bool:
        return threading.get_ident() in self._threads

    def raise_pending(self) -> None:
        """Raise the KeyboardInterrupt a callback caught in this thread, if any (once)."""
        ident = threading.get_ident()
        if ident in self._threads:
            self._threads.discard(ident)
            raise KeyboardInterrupt from None  # not "during handling of" llama.cpp's aborted decode

    def guard(self, callback: Callable[..., Any], answer: Callable[..., Any]) -> Callable[..., Any]:
        """``callback`` for C to call: a KeyboardInterrupt raised in it is noted, ``answer(*args)`` returned.

        Catches a press that lands in the callback's body (a logits mask's numpy work); one
        pending as the call starts is raised at the wrapper's first instruction, outside any
        ``try``: :meth:`guard_one` is for the callbacks that small.
        """

        def guarded(*args: Any) -> Any:
            try:
                return callback(*args)
            except KeyboardInterrupt:
                self.note()
                return answer(*args)

        return guarded

    def guard_one(self, callback: Callable[[Any], Any], answer: Any) -> Callable[[Any], Any]:
        """A one-argument ``callback`` for C to call, which notes a press even one pending as it is called.

        Python runs a pending signal handler at a function's first instruction, before
        any ``try`` in it: llama.cpp's abort check, called between two graph nodes, is
        where a press made during a decode is nearly always raised. So C calls the
        ``send`` of a generator (a method written in C, which runs no Python instruction
        of its own), and the generator resumes *inside* its ``try``.
        """

        def resumed() -> Iterator[Any]:
            result = None
            while True:
                try:
                    data = yield result
                    result = callback(data)
                except KeyboardInterrupt:
                    self.note()
                    result = answer

        steps = resumed()
        next(steps)
        return steps.send


callback_interrupts = CallbackInterrupts()
"""The process's one record: signal handlers run in the main thread; llama.cpp's log callback is global."""

_log_lines: deque[str] = deque(maxlen=200)
_load_lock = threading.Lock()
_log_state: dict[str, Any] = {"verbose": False, "callback": None}


class _VisibleStream:
    """A text stream that passes each write through :func:`log_record` to ``stream``.

    llama-cpp-python's own ``verbose`` prints (``Using gguf chat template: …``,
    the chat template's names and end tokens, ``Model metadata: {…}``) go to
    ``sys.stderr`` as they are. ``print`` writes its text and its line end apart.
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(log_record(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _log_text(text: bytes) -> str:
    """One llama.cpp log call's text as a record safe to print (:func:`log_record`)."""
    return log_record(text.decode("utf-8", errors="replace"))


@contextlib.contextmanager
def _stderr_silenced(enabled: bool) -> Iterator[None]:
    """Point fd 2 at /dev/null while C code that prints directly runs (import, model load)."""
    if not enabled:
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _import_llama_cpp(verbose: bool) -> Any:
    """Import llama_cpp lazily and route its C log output through our callback."""
    _log_state["verbose"] = verbose
    with _stderr_silenced(not verbose):
        import llama_cpp

    if _log_state["callback"] is None:

        def _log(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
            line = _log_text(text)  # a GGUF's name or template, quoted: untrusted text
            _log_lines.append(line)
            if _log_state["verbose"]:
                print(line, end="", file=sys.stderr, flush=True)

        # Ctrl-C while a model loads mostly lands here (the loader logs hundreds of lines).
        _log_state["guarded"] = callback_interrupts.guard(_log, lambda *_: None)
        _callback = llama_cpp.llama_log_callback(_log_state["guarded"])
        _log_state["callback"] = _callback  # keep a reference: C holds a raw pointer
        llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))
    return llama_cpp


@contextlib.contextmanager
def log_presses_noted() -> Iterator[None]:
    """While a model loads: a Ctrl-C raised as the log callback starts is noted, not printed and lost.

    A press pending when llama.cpp calls the log callback is raised at the callback's
    first instruction, before its ``try`` (:meth:`CallbackInterrupts.guard`), and
    ctypes hands it to ``sys.unraisablehook`` (which printed it into the silenced fd 2:
    the load went on as if nothing was pressed). The log callback takes three
    arguments, so :meth:`CallbackInterrupts.guard_one` cannot stand in for it; this
    hook, for the load only (loads take turns), notes exactly that exception and
    passes anything else on.
    """
    previous = sys.unraisablehook

    def hook(info: Any) -> None:
        if isinstance(info.exc_value, KeyboardInterrupt) and info.object is _log_state.get("guarded"):
            callback_interrupts.note()
        else:
            previous(info)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        if sys.unraisablehook is hook:  # unless someone put their own in since
            sys.unraisablehook = previous


def _uncompiled_chat_formatter(*args: Any, **kwargs: Any) -> Any:
    """Stands in for llama-cpp-python's ``Jinja2ChatFormatter`` while ``Llama()`` loads a model.

    ``Llama()`` compiles every chat template of the GGUF's header for its own
    ``create_chat_completion``, which this backend never calls (prompts render in
    :mod:`.chat_format`'s bounded sandbox): a template Jinja cannot compile
    (``{% for %}``) made the model fail to load, even in completion mode.
    """

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise BackendError("llama-cpp-python's own chat handler is not used by this backend")

    return type("UncompiledChatFormatter", (), {"to_chat_handler": staticmethod(lambda: refuse)})()


@contextlib.contextmanager
def _chat_handlers_not_compiled(lib: Any) -> Iterator[None]:
    """While ``Llama()`` runs: its chat formatter does not compile the GGUF's templates (see above)."""
    module = getattr(lib, "llama_chat_format", None)
    original = getattr(module, "Jinja2ChatFormatter", None)
    if original is None:
        yield
        return
    with _load_lock:  # one load at a time puts the stand-in in place and takes it away
        module.Jinja2ChatFormatter = _uncompiled_chat_formatter
        try:
            yield
        finally:
            module.Jinja2ChatFormatter = original


def _recent_errors() -> str:
    """The last log lines worth quoting in a load error (the loader's progress dots are not)."""
    lines = [ln.strip() for ln in _log_lines if ln.strip().strip(".")]
    interesting = [ln for ln in lines if "error" in ln.lower() or "fail" in ln.lower()]
    return "; ".join((interesting or lines)[-2:])

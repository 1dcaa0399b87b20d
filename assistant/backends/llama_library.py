"""llama-cpp-python as a library: imported quietly, its logs captured, its chat handlers not compiled.

Kept apart from the backend (:mod:`.llama_cpp`) because it is process-wide state,
not one model's: llama.cpp's C log callback is set once per process and its
lines go into one ring buffer (quoted in load errors, printed with
``verbose=True`` through :func:`~assistant.terminal_text.visible_text`, since they
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
from typing import Any, Iterator

from ..errors import BackendError
from ..models.context_size import OVERRIDE_OPTION, override_requested
from ..option_values import check_backend_options, switch_option, unknown_options_error
from ..terminal_text import visible_text

OPTIONS = ("n_ctx", "n_threads", "n_gpu_layers", "n_batch", "flash_attn", OVERRIDE_OPTION)
"""The backend options llama-cpp reads: what an unknown option's error lists and suggests from."""
IGNORED_OPTIONS = ("device", "dtype")
"""Transformers options llama-cpp accepts and ignores (it always has); never suggested: they change nothing here."""


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
    unknown = set(rest) - set(OPTIONS) - set(IGNORED_OPTIONS)
    if unknown:
        raise unknown_options_error("llama-cpp", unknown, OPTIONS)
    # The CLI and the config check these already; the Python API passes what it is given
    # (n_ctx="abc" was a ValueError from int(), blamed on the backend).
    rest = check_backend_options(rest, "the llama-cpp backend's options")
    return {
        **rest,
        "verbose": verbose,
        "flash_attn": switch_option(rest, "flash_attn", False),
        OVERRIDE_OPTION: override_requested(rest),
    }


_log_lines: deque[str] = deque(maxlen=200)
_load_lock = threading.Lock()
_log_state: dict[str, Any] = {"verbose": False, "callback": None}


class _VisibleStream:
    """A text stream that passes what is written through :func:`visible_text` to ``stream``.

    llama-cpp-python's own ``verbose`` prints (``Using gguf chat template: …``,
    the chat template's names and end tokens) go to ``sys.stderr`` as they are.
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(visible_text(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _log_text(text: bytes) -> str:
    """One llama.cpp log fragment as text safe to print (newlines kept, ESC and bidi controls visible)."""
    return visible_text(text.decode("utf-8", errors="replace"))


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

        @llama_cpp.llama_log_callback
        def _callback(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
            line = _log_text(text)  # a GGUF's name or template, quoted: untrusted text
            _log_lines.append(line)
            if _log_state["verbose"]:
                print(line, end="", file=sys.stderr, flush=True)

        _log_state["callback"] = _callback  # keep a reference: C holds a raw pointer
        llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))
    return llama_cpp


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

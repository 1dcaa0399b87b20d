"""Backend registry: names -> factories, filled by the ``register_backends`` hook.

Nothing here imports an engine; a factory runs only when its backend is used.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import AssistantError, BackendError, BackendNotFoundError, ConfigError, ModelNotFoundError
from .base import Backend, Prompt, TokenLoopBackend
from .protocol import checked_model
from .streaming import collect

__all__ = [
    "Backend",
    "BackendInfo",
    "Prompt",
    "TokenLoopBackend",
    "available_backends",
    "backend_failure",
    "check_options",
    "collect",
    "create_backend",
    "default_model_for",
    "load_backend",
]


@dataclass(frozen=True)
class BackendInfo:
    name: str
    factory: Callable[[], Backend]
    description: str
    plugin: str


_BACKEND_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}\Z")


def available_backends() -> dict[str, BackendInfo]:
    """Every registered backend; of two registrations of one name the first seen is kept.

    pluggy calls the later-loaded plugin first, so that is the later-loaded plugin's
    (later wins, as for tools and commands; docs/plugins.md).
    """
    from ..plugins import call_registration_hook, current_plugin_name

    found: dict[str, BackendInfo] = {}

    def register(name: str, factory: Callable[[], Backend], description: str = "") -> None:
        # Checked here, so a plugin that passes something else is reported by name and skipped,
        # instead of failing later in `-b NAME` or printing a name no one can type.
        if not isinstance(name, str) or not _BACKEND_NAME.match(name):
            raise ConfigError(f"backend name must be lower-case letters, digits, '.', '-' or '_', got {name!r}")
        if not callable(factory):
            raise ConfigError(f"backend {name!r}: the factory must be callable (a class or function), got {factory!r}")
        if not isinstance(description, str):
            raise ConfigError(f"backend {name!r}: the description must be a string, got {description!r}")
        if name not in found:
            found[name] = BackendInfo(name, factory, description, current_plugin_name())

    call_registration_hook("register_backends", register)
    return found


def create_backend(name: str) -> Backend:
    """An unloaded backend instance by name."""
    if not isinstance(name, str):  # load_backend(None, ...) was "unknown backend None", as if a name were missing
        raise TypeError(f"a backend's name must be a str (such as 'llama-cpp'), not {type(name).__name__}")
    backends = available_backends()
    if name not in backends:
        known = ", ".join(sorted(backends)) or "none"
        raise BackendNotFoundError(f"unknown backend {name!r} (available: {known})")
    try:
        backend = backends[name].factory()
    except (AssistantError, KeyboardInterrupt):
        raise
    except BaseException as exc:  # a plugin's factory: its bug (a SystemExit too) is reported by name
        raise backend_failure(name, "start", exc) from exc
    if not all(callable(getattr(backend, method, None)) for method in ("load", "stream", "complete")):
        # register("x", lambda: 42): an AttributeError traceback at the first use otherwise
        made = TypeError(f"the factory returned {type(backend).__name__}, not a backend (no load/stream/complete)")
        raise backend_failure(name, "start", made)
    if getattr(backend, "name", None) != name:
        # The registered name is the one ``-b`` (and ``-c``, from the history) can load again; a
        # plugin backend that inherits ``name`` ("base", "fake") or registers a class under a
        # second name would otherwise be recorded under a name that loads something else or nothing.
        try:
            backend.name = name
        except AttributeError:  # a read-only property: the backend answers for its own name
            pass
    return backend


def default_model_for(name: str) -> str:
    """The model backend ``name`` loads when none is named (no ``-m``).

    The user's ``default_model`` when set; else the catalog default for a backend
    that loads catalog models, and ``""`` for one whose models live on a server
    (``Capabilities.catalog_models`` is False): ``""`` asks it for the server's own
    model, instead of sending the catalog's ``smollm2`` to a server that has no such model.
    """
    from ..config import configured_model, default_model

    chosen = configured_model()
    if chosen:
        return chosen
    return "" if models_on_a_server(name) else default_model()


def models_on_a_server(name: str) -> bool:
    """Whether backend ``name`` names its models on a server (``Capabilities.catalog_models`` is False).

    Then ``-m`` is a server's model, and the local catalog and files say nothing about it: not which
    model is the default (:func:`default_model_for`), nor whether it is a base model
    (:func:`assistant.models.mode.choose_mode`; Ollama's ``gemma3`` is instruction-tuned).
    """
    return not create_backend(name).capabilities.catalog_models


def load_backend(name: str, model: str | os.PathLike[str], **options: Any) -> Backend:
    """Create a backend and load a model into it, options from config then arguments.

    ``model`` is what ``-m`` takes (a catalog name, a path, ``hf:ORG/REPO`` …); a
    :class:`~pathlib.Path` is its path. ``options`` are checked as ``-o`` and the
    config's ``[backends.NAME]`` are: ``n_ctx="abc"`` is a :class:`ConfigError` naming
    it, not an engine's ``ValueError``, and ``n_threads`` past what llama.cpp survives is refused.
    """
    model = _model_reference(model)
    progress = options.get("progress")
    if progress is not None and not callable(progress):
        raise TypeError(f"load_backend's progress must be a function of one message (str), not {type(progress).__name__}")
    backend = create_backend(name)
    merged = _load_options(name, options, backend)
    try:
        backend.load(model, **merged)
    except ModelNotFoundError as exc:
        hint = _remote_hint(backend, model) or _default_hint(model)
        if hint:
            raise ModelNotFoundError(f"{exc}; {hint}") from exc
        raise
    except AssistantError:
        raise
    except Exception as exc:
        raise backend_failure(name, f"load {model}", exc) from exc
    return backend


def _load_options(name: str, options: dict[str, Any], backend: Backend) -> dict[str, Any]:
    """What :func:`load_backend` passes to ``load``: the config's ``[backends.NAME]``, then ``options``.

    An option of the config's that the backend refuses is named with the file: ``n_gpu_layers = 5``
    under ``[backends.transformers]`` was "unknown transformers option(s): n_gpu_layers", and the user
    looked for it among the ``-o`` options they typed.
    """
    from ..config import backend_options, paths
    from ..option_values import check_backend_options

    configured = backend_options(name)
    merged = {**configured, **check_backend_options(options, "load_backend()")}
    check = getattr(backend, "check_options", None)
    if configured and check is not None:
        try:
            check(dict(configured))
        except AssistantError as exc:
            try:  # what the config sets alone may be fine with what options adds or overrides
                check(dict(merged))
            except AssistantError as with_options:
                table = f"[backends.{name}]"
                if str(with_options) == str(exc) and table not in str(exc):  # the config's own error
                    # of its own class (a BackendError for an unknown option, as from -o)
                    kind = type(exc) if type(exc) in (ConfigError, BackendError) else ConfigError
                    raise kind(f"{exc} (in {table} of {paths().config_file})") from None
                raise
    return merged


def check_options(name: str, options: dict[str, Any], model: str | os.PathLike[str] | None = None) -> None:
    """Refuse now, with the line ``load`` would give, an option backend ``name`` does not take; nothing loads.

    For a command that loads one backend after another (``assistant compare``): an
    option the second one refuses was found only after the first had run, minutes later.
    The options are merged with the config's as :func:`load_backend` merges them, and
    checked by the backend's :meth:`~assistant.backends.base.Backend.check_options`
    (a plugin backend written before that member is left to refuse them at ``load``).
    With ``model`` (as :func:`load_backend` takes it), what ``load`` would refuse about
    that model is refused too where its files tell (``-o n_ctx=100000`` for a model
    trained on 8192 tokens), still loading and downloading nothing.
    """
    backend = create_backend(name)
    check = getattr(backend, "check_options", None)
    if check is None:
        return
    merged = _load_options(name, options, backend)
    if model is None or not _takes_model(check):  # a plugin backend written before ``model``
        check(merged)
    else:
        check(merged, model=_model_reference(model))


def _takes_model(check: Callable[..., Any]) -> bool:
    """Whether a backend's ``check_options`` takes the ``model`` argument the protocol added."""
    import inspect

    try:
        parameters = inspect.signature(check).parameters
    except (TypeError, ValueError):
        return False
    return "model" in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def _model_reference(model: object) -> str:
    """``model`` as the text ``-m`` takes (:func:`.protocol.checked_model`), named as load_backend's.

    ``load_backend("llama-cpp", None)`` was "failed to load None: AttributeError: 'NoneType'
    object has no attribute 'strip'", blamed on the backend; a ``Path`` was refused the same way.
    """
    return checked_model(model, "load_backend's model")


def _remote_hint(backend: Backend, model: str) -> str | None:
    """When ``-m lab`` or ``-m lab/MODEL`` names a configured remote but a local backend was asked to load it."""
    if not backend.capabilities.catalog_models:
        return None
    from ..config import remote_table_names, remotes

    prefix = model.partition("/")[0]
    try:
        named = remotes()
    except AssistantError as exc:  # a malformed [remotes] table: named where -m names one of its remotes
        try:
            listed = prefix in remote_table_names()
        except AssistantError:  # the config itself unreadable: reported where it is read
            return None
        return f"{prefix!r} is a remote in the config, but [remotes] cannot be used: {exc}" if listed else None
    if prefix not in named:
        return None
    from .openai.settings import BACKEND_NAME

    return f"{prefix!r} is a remote in the config ([remotes.{prefix}]): add -b {BACKEND_NAME}"


def _default_hint(model: str) -> str | None:
    """Where the default model is set, when the model not found is that default.

    ``ASSISTANT_MODEL=smolm2`` in a shell profile was "unknown model 'smolm2'" for a command
    with no ``-m`` at all, which left the user looking for a typo they never typed (the
    backend's default is named so: ``unknown backend 'lama-cpp', set by ASSISTANT_BACKEND``).
    """
    from ..config import configured_model, default_model_source

    try:
        if model != configured_model():
            return None
        source = default_model_source()
    except AssistantError:  # the config unreadable: reported where it is read
        return None
    return f"it is the default model, set by {source}" if source else None


def backend_failure(name: str, doing: str, exc: BaseException) -> BackendError:
    """An unexpected exception from a backend as a one-line :class:`BackendError` naming it.

    Backends are meant to raise :mod:`assistant.errors` types; anything else (a
    plugin backend's bug, an engine's ``RuntimeError``) is wrapped here where it
    leaves the backend — at ``load`` and while streaming — so front ends print one
    line instead of a traceback (``--debug`` still shows the original).
    """
    from ..terminal_text import one_line

    message = one_line(str(exc)) or "(no message)"
    return BackendError(f"the {name} backend failed to {doing}: {type(exc).__name__}: {message}")

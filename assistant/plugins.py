"""Plugin loading and the registries built from plugin hooks.

Load order (when two plugins register the same backend or tool name the one
loaded *later* wins: pluggy calls later-registered and ``tryfirst``
implementations first, the registries keep the first registration they see, and
the built-ins are ``trylast``; likewise a plugin file or entry point with the
same name as an earlier plugin replaces it, so ``plugins/sentiment.py`` in the
user's config directory replaces the first-party ``sentiment``):

1. built-in plugins in :mod:`assistant.default_plugins` (always loaded);
2. first-party ``.py`` plugins in the shipped ``plugins/`` directory;
3. ``.py`` files in the user's plugin directories (config ``plugin_dirs`` and
   ``<config dir>/plugins``);
4. packages installed with pip that declare an ``assistant`` entry point.

``ASSISTANT_PLUGINS`` (comma-separated names) restricts which of 2–4 load; set
it to an empty string to load none. A name there that no plugin has, and a
configured ``plugin_dirs`` entry that is not a directory, are reported as
failures (a typo would otherwise silently load nothing). A plugin that fails to import or register is
recorded in :func:`plugin_failures`, reported once on stderr, and skipped; with
``ASSISTANT_STRICT_PLUGINS=1`` the error is raised instead. A config file that
cannot be read and sets ``plugin_dirs`` is recorded the same way (those are
skipped), so a typo in it does not stop commands that never read it
(``assistant --help``); one without ``plugin_dirs`` skipped no plugin, and is left
to the commands that read it to report.

Plugins are trusted code (they run with the user's rights), so this isolates
their *failures*, not their intent: any exception at import — ``sys.exit()``
included — is caught and reported by name, and a hook implementation whose
name matches no hook spec (``register_tool`` for ``register_tools``), a hook
function without ``@hookimpl``, a hook that returns what it should register and
one plugin registering a tool or backend name twice are reported instead of being
silently never called or dropped.

Finding and importing plugins is :mod:`assistant.plugin_discovery`, the loaded
state and its failures :mod:`assistant.plugin_state`; the names they define
(``PluginFailure``, ``strict_plugins``, ``first_party_plugin_dir``, ``DEFAULT_PLUGINS``)
are still importable from here, where callers have always imported them.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterator

import pluggy

from .errors import ConfigError, PluginError
from .plugin_checks import (
    LoadProblem,
    check_returned,
    plugin_line,
    registered_name,
    unknown_hooks_of,
    unmarked_hooks_of,
)
from .plugin_discovery import (  # noqa: F401
    DEFAULT_PLUGINS,
    ENTRY_POINT_GROUP,
    add_plugin,
    build_state,
    first_party_plugin_dir,
)
from .plugin_output import plugin_output, slow_import_note
from .plugin_state import PluginFailure, PluginState, record_failure, strict_plugins

_state: PluginState | None = None
_lock = threading.RLock()


_building = False


class LoadingReentered(LoadProblem):
    """A plugin used the plugin registries while plugins were still loading (at its import)."""


def _get_state() -> PluginState:
    global _state, _building
    with _lock:
        if _state is None:
            if _building:
                # A plugin calling get_tool() (or any registry) at import: building again from here
                # imported that plugin again, which built again… 89 levels deep, seconds, until a
                # RecursionError. Refused instead, so that plugin is reported by name.
                raise LoadingReentered(
                    "it uses the plugins (get_tool, available_tools, …) while they load: "
                    "call them inside a function (a hook, or run), not at import"
                )
            _building = True
            try:
                _state = build_state()
            finally:
                _building = False
        return _state


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, loading plugins on first use."""
    return _get_state().pm


def register_plugin(plugin: object, name: str | None = None, source: str = "runtime") -> None:
    """Register a plugin object or module at run time (tests, notebooks, embedding apps).

    A plugin already registered under ``name`` is replaced (later wins, as at load
    time), so re-running a notebook cell does not fail with pluggy's ValueError.
    """
    state = _get_state()
    name = name or getattr(plugin, "__name__", None) or repr(plugin)
    # Raised, not recorded: the caller is right here, and a hook that is never called (a
    # typo) or pluggy's refusal of a wrong argument name would otherwise pass unnoticed.
    unknown = [*unknown_hooks_of(state.pm, plugin), *unmarked_hooks_of(state.pm, plugin)]
    if unknown:
        raise PluginError(name, "; ".join(str(problem) for problem in unknown))
    try:
        add_plugin(state, plugin, name, source)
    except (pluggy.PluginValidationError, LoadProblem) as exc:
        raise PluginError(name, plugin_line(str(exc))) from exc


def unregister_plugin(name: str) -> None:
    state = _get_state()
    plugin = state.pm.get_plugin(name)
    if plugin is not None:
        state.pm.unregister(plugin, name=name)
    state.sources.pop(name, None)


def reset_plugins() -> None:
    """Forget every loaded plugin; the next use reloads them (tests change env vars)."""
    global _state
    with _lock:
        _state = None


def plugin_source(name: str) -> str | None:
    """Where plugin ``name`` came from: "built-in", a file path, "dist version", "runtime" or None."""
    return _get_state().sources.get(name)


def plugin_failures() -> list[PluginFailure]:
    return list(_get_state().failures)


def report_failures(echo: Callable[[str], None]) -> None:
    """Print each failure once per process, naming the plugin (CLI start-up calls this).

    ``echo`` is kept: a ``register_tools`` or ``register_backends`` hook runs only
    when its registry is first used, after start-up, and its failure must still
    be printed, or the plugin's backend or tool just goes missing without a word.
    """
    state = _get_state()
    state.echo = echo
    _echo_new_failures(state)


def _echo_new_failures(state: PluginState) -> None:
    if state.echo is None:
        return
    for name, seconds in state.slow.items():
        if f"slow:{name}" not in state.reported and state.pm.get_plugin(name) is not None:
            state.reported.add(f"slow:{name}")
            state.echo(f"warning: plugin {name!r} {slow_import_note(seconds)}")
    for failure in state.failures:
        key = f"{failure.name}:{failure.stage}:{failure.error}"
        if key in state.reported:
            continue
        state.reported.add(key)
        if failure.stage == "config":  # no plugin failed: the config that names plugin directories did
            state.echo(f"warning: {failure.error}")
            continue
        what = "skipped (import)" if failure.stage == "import" else f"({failure.stage})"
        state.echo(f"warning: plugin {failure.name!r} {what}: {failure.error}")


def call_registration_hook(hook_name: str, register: Any, arg_name: str = "register") -> None:
    """Call one ``register_*`` hook on every plugin, isolating each plugin's errors.

    pluggy would abort the whole hook call at the first plugin that raises; calling
    the implementations one by one keeps every other plugin's registrations.
    """
    state = _get_state()
    hook = getattr(state.pm.hook, hook_name)
    for impl in _call_order(hook.get_hookimpls()):
        _current.name, _current.hook = impl.plugin_name, hook_name
        given = _guarded(state, impl.plugin_name, hook_name, register) if arg_name == "register" else register
        try:
            if impl.hookwrapper or impl.wrapper:
                raise LoadProblem(f"{hook_name} cannot be a hook wrapper: call register(...) in a plain function")
            with plugin_output(state.printed, impl.plugin_name):
                returned = impl.function(**{name: given for name in impl.argnames if name == arg_name})
            check_returned(hook_name, arg_name, returned)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # SystemExit in a hook must not end the command either
            record_failure(state, impl.plugin_name, hook_name, exc)
        finally:
            _current.name = _current.hook = ""
    _echo_new_failures(state)


def _guarded(state: PluginState, plugin: str, hook_name: str, register: Callable[..., Any]) -> Callable[..., Any]:
    """``register`` recording a refused registration as the plugin's failure instead of raising into its hook.

    Raised, the refusal ended the hook: whatever the plugin registered after the
    bad one went missing without a word, and which did depended on their order.
    """
    import inspect

    signature = inspect.signature(register)
    signature = signature.replace(  # shown as (name, factory, description=''): no type hints
        parameters=[p.replace(annotation=p.empty) for p in signature.parameters.values()],
        return_annotation=signature.empty,
    )

    registered: set[str] = set()  # the names this plugin registered in this call of the hook

    def guarded(*args: Any, **kwargs: Any) -> None:
        try:
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError as exc:  # named as the plugin wrote it, not as our inner function is called
                raise LoadProblem(f"register{signature}: {exc}") from None
            name = registered_name(hook_name, bound.arguments)
            if name is not None and name in registered:
                # Kept, the second silently replaced or lost to the first depending on the registry;
                # a copy-pasted register(...) that forgot to rename is this plugin's bug, named.
                what = hook_name.removeprefix("register_").removesuffix("s")
                raise LoadProblem(f"registers {what} {name!r} twice: the first is kept, the second ignored")
            register(*args, **kwargs)
            if name is not None:
                registered.add(name)
        except Exception as exc:  # a refusal (ConfigError) or a call that does not fit
            if strict_plugins():
                raise
            record_failure(state, plugin, hook_name, exc)

    return guarded


_current = threading.local()


def current_plugin_name() -> str:
    """Inside a ``register`` callback: the name of the plugin registering."""
    return getattr(_current, "name", "")


def refuse_registration(problem: str) -> None:
    """Inside a registration hook: record ``problem`` as the registering plugin's failure, without raising.

    For registries a plugin reaches other than through ``register`` (``register_commands``
    gets the click group itself): raised, the refusal ended the plugin's hook and
    every command it added after the refused one went missing without a word. The
    caller then skips that one registration. With ``ASSISTANT_STRICT_PLUGINS=1`` it
    raises :class:`~assistant.errors.PluginError`, as every plugin failure does.
    Outside a hook (no plugin is registering) it raises :class:`ConfigError`.
    """
    name, hook = current_plugin_name(), getattr(_current, "hook", "")
    if not name:
        raise ConfigError(problem)
    state = _get_state()
    record_failure(state, name, hook, LoadProblem(problem))


def _call_order(impls: list[Any]) -> Iterator[Any]:
    """pluggy's own call order: reverse registration, tryfirst before normal before trylast.

    ``get_hookimpls()`` lists trylast first and tryfirst last, the reverse of calling.
    """
    return iter(reversed(impls))


def list_plugins() -> list[dict[str, Any]]:
    """Loaded plugins with the hooks each implements, for ``assistant plugins``."""
    state = _get_state()
    result = []
    for name, plugin in state.pm.list_name_plugin():
        hooks = sorted(impl_hook.name for impl_hook in state.pm.get_hookcallers(plugin) or [])
        entry: dict[str, Any] = {"name": name, "source": state.sources.get(name, "?"), "hooks": hooks}
        if name in state.slow:
            entry["import_s"] = round(state.slow[name], 2)
        result.append(entry)
    return sorted(result, key=lambda p: (p["source"] != "built-in", p["name"]))

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
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import re
import sys
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator

import pluggy

from . import hookspecs
from .errors import AssistantError, ConfigError, PluginError, exception_text
from .plugin_checks import (
    LoadProblem,
    check_returned,
    plugin_line,
    registered_name,
    unknown_hook,
    unknown_hooks_of,
    unmarked_hooks_of,
)
from .plugin_output import plugin_output, slow_import_note, timed_import

DEFAULT_PLUGINS = (
    "assistant.default_plugins.backends",
    "assistant.default_plugins.template_dirs",
)
ENTRY_POINT_GROUP = "assistant"


@dataclass
class PluginFailure:
    """A plugin that could not be loaded or whose hook raised while registering."""

    name: str
    error: str
    stage: str  # "import" or the hook name
    traceback: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "stage": self.stage, "error": self.error}


@dataclass
class _State:
    pm: pluggy.PluginManager
    failures: list[PluginFailure] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # plugin name -> where it came from
    reported: set[str] = field(default_factory=set)
    # Set by report_failures: failures recorded later (a register_* hook raising when
    # its registry is first used, after start-up) are printed through it too.
    echo: Callable[[str], None] | None = None
    slow: dict[str, float] = field(default_factory=dict)  # plugin name -> seconds its import took, when slow
    printed: set[str] = field(default_factory=set)  # lines plugins printed, shown once (see _plugin_output)


_state: _State | None = None
_lock = threading.RLock()


def strict_plugins() -> bool:
    """``ASSISTANT_STRICT_PLUGINS``, read as every on/off variable is (``=off`` was strict)."""
    from .option_values import env_switch

    return env_switch("ASSISTANT_STRICT_PLUGINS")


def _allowed_names() -> set[str] | None:
    raw = os.environ.get("ASSISTANT_PLUGINS")
    if raw is None:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def first_party_plugin_dir() -> Path:
    """The shipped ``plugins/`` directory: in the wheel, or at the repo root in a checkout."""
    here = Path(__file__).resolve().parent
    packaged = here / "_plugins"
    return packaged if packaged.is_dir() else here.parent / "plugins"


def _user_plugin_dirs(state: _State) -> list[tuple[Path, bool]]:
    """The user's plugin directories, each with whether it was configured explicitly.

    ``<config dir>/plugins`` is optional (most users have none); a ``plugin_dirs``
    entry is something the user asked for, so one that is missing is reported.
    A config file that cannot be read is reported the same way, not raised: plugins
    load for every command, and a typo in the config must not stop ``assistant --help``
    or ``assistant config path`` (a command that reads the config still says why it cannot).
    """
    from .config import load_config, paths

    dirs = [(paths().config_dir / "plugins", False)]
    try:
        configured = load_config().get("plugin_dirs", []) or []
    except ConfigError as exc:
        # Only when the file names plugin_dirs: without them no plugin was skipped, and
        # every command repeated the config error as a plugin warning before its own.
        if _may_name_plugin_dirs(paths().config_file):
            _record_failure(
                state, "plugin_dirs", "config", LoadProblem(f"the plugins of plugin_dirs were not loaded: {exc}")
            )
        return dirs
    for entry in configured:
        dirs.append((Path(os.path.expanduser(str(entry))), True))
    return dirs


_PLUGIN_DIRS_KEY = re.compile(rb"""^[ \t]*["']?plugin_dirs["']?[ \t]*=""", re.MULTILINE)


def _may_name_plugin_dirs(config_file: Path) -> bool:
    """Whether a config file that cannot be parsed sets ``plugin_dirs`` (True when that cannot be told).

    Looked for in the raw bytes: the file is invalid TOML, not UTF-8, or has a
    wrong type somewhere, so there is nothing parsed to ask.
    """
    try:
        if not config_file.is_file():  # a FIFO would block the read; a folder cannot be read
            return True
        return _PLUGIN_DIRS_KEY.search(config_file.read_bytes()) is not None
    except OSError:  # unreadable: its plugin_dirs, if any, were not loaded either
        return True


def _record_failure(state: _State, name: str, stage: str, exc: BaseException) -> None:
    # Our own errors say what went wrong in words; a plugin's bug keeps its exception's name.
    said = isinstance(exc, (LoadProblem, AssistantError)) and exception_text(exc)
    error = plugin_line(said or f"{type(exc).__name__}: {exception_text(exc)}")
    if strict_plugins():
        raise PluginError(name, error) from exc
    if any(f.name == name and f.stage == stage and f.error == error for f in state.failures):
        return  # the same hook called again (each registry call runs it)
    state.failures.append(
        PluginFailure(name=name, stage=stage, error=error, traceback="".join(traceback.format_exception(exc)))
    )


def _check_unknown_hooks(state: _State) -> None:
    """pluggy's ``check_pending``, reporting every unknown hook instead of raising at the first.

    Each is recorded as a failure of its plugin (stage ``"hook"``) with the
    closest real hook name; the plugin's other hooks keep working. So is a
    ``register_tools`` function without ``@hookimpl``: pluggy ignores it, and the
    plugin's tools would go missing without a word.
    """
    for name, plugin in state.pm.list_name_plugin():
        for problem in unmarked_hooks_of(state.pm, plugin):
            _record_failure(state, name, "hook", problem)
    for name in list(vars(state.pm.hook)):
        if name.startswith("_"):
            continue
        caller = getattr(state.pm.hook, name)
        if caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            if not impl.optionalhook:
                _record_failure(state, impl.plugin_name, "hook", unknown_hook(name))


_SHOWN_AS_IS = frozenset("\t\n")  # kept by visible_text, yet no name holds them


def _check_plugin_name(name: str) -> None:
    """Refuse a file or entry point name that cannot stand for a plugin.

    A built-in's name would replace it (every built-in backend gone from a file
    named ``assistant.default_plugins.backends.py``); a name with control
    characters (a newline, ESC) would be printed in every listing and error that
    names the plugin.
    """
    from .terminal_text import visible_text
    from .text_checks import invalid_unicode

    if name in DEFAULT_PLUGINS:
        raise LoadProblem("this is the name of a built-in plugin, which cannot be replaced; rename it")
    problem = invalid_unicode(name)
    if problem:  # an undecodable file name: once called "holds control characters", which it may not
        raise LoadProblem(f"the name is not valid UTF-8 ({problem}); rename it")
    if visible_text(name) != name or any(ch in _SHOWN_AS_IS for ch in name):
        raise LoadProblem("the name holds control characters; rename it")


def _load_module_from_file(path: Path) -> ModuleType:
    module_name = f"assistant_plugin_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    previous = sys.modules.get(module_name)  # a plugin of the same stem from an earlier directory
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        # A broken file must not unhook the earlier plugin of that name, which stays registered
        # (its classes are pickled by module name for the chat app's engine process).
        if previous is not None:
            sys.modules[module_name] = previous
        else:
            sys.modules.pop(module_name, None)
        raise
    return module


def _register(state: _State, plugin: object, name: str, source: str) -> None:
    """Register ``plugin`` as ``name``; a later plugin of the same name replaces the earlier one.

    Later wins, as for backend and tool names: a user's ``sentiment.py`` is meant
    to replace the first-party ``sentiment``, not to be dropped without a word.
    """
    previous = state.pm.get_plugin(name)
    if previous is plugin:
        return
    other = state.pm.get_name(plugin)
    if other is not None:  # pluggy's own error lists every plugin loaded
        raise LoadProblem(f"the same module or object is already loaded as plugin {other!r}")
    if previous is not None:
        state.pm.unregister(previous, name=name)
    try:
        state.pm.register(plugin, name=name)
    except BaseException:
        if previous is not None:  # the replacement is broken: keep the plugin that worked
            state.pm.register(previous, name=name)
        raise
    state.sources[name] = source


def _load_directory_plugins(
    state: _State, directory: Path, allowed: set[str] | None, seen: set[str], *, configured: bool = False
) -> None:
    if not directory.is_dir():
        if configured:
            what = "is not a directory" if directory.exists() else "does not exist"
            if directory.suffix == ".py" and directory.is_file():  # the plugin itself, named instead of its folder
                what = f"is a plugin file, not a directory: plugin_dirs lists folders ({directory.parent})"
            _record_failure(state, str(directory), "plugin_dirs", LoadProblem(what))
        return
    for path in sorted(directory.glob("*.py")):
        if path.name.startswith("_"):
            continue
        name = path.stem
        seen.add(name)
        if allowed is not None and name not in allowed:
            continue
        try:
            _check_plugin_name(name)
            if not path.is_file():  # a folder named x.py, a FIFO (reading it would hang), /dev/zero
                if path.is_symlink() and not path.exists():
                    raise LoadProblem(f"{path} is a symbolic link to {os.readlink(path)}, {_why_unresolved(path)}")
                raise LoadProblem(f"{path} is not a regular file")
            first_party = directory == first_party_plugin_dir()
            with plugin_output(state.printed, name), timed_import(state.slow, name, first_party=first_party):
                module = _load_module_from_file(path)
            _register(state, module, name, str(path))
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a plugin's bug (even sys.exit()) must not stop the app
            _record_failure(state, name, "import", exc)


def _why_unresolved(link: Path) -> str:
    """Why a symbolic link leads nowhere: its target is missing, or the links go round in a loop.

    A link to itself ("loop.py -> loop.py") was said to point at "loop.py, which does not exist",
    a file the user could see right there.
    """
    import errno

    try:
        os.stat(link)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a loop of symbolic links that never reaches a file"
    return "which does not exist"


def _load_entry_point_plugins(state: _State, allowed: set[str] | None, seen: set[str]) -> None:
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        seen.add(ep.name)
        if allowed is not None and ep.name not in allowed:
            continue
        try:
            _check_plugin_name(ep.name)
            with plugin_output(state.printed, ep.name), timed_import(state.slow, ep.name):
                plugin = ep.load()
            dist = getattr(ep, "dist", None)
            source = f"{dist.name} {dist.version}" if dist else ep.value
            _register(state, plugin, ep.name, source)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # as for file plugins: SystemExit included
            _record_failure(state, ep.name, "import", exc)


def _build_state() -> _State:
    pm = pluggy.PluginManager("assistant")
    pm.add_hookspecs(hookspecs)
    state = _State(pm=pm)
    for module_name in DEFAULT_PLUGINS:
        module = importlib.import_module(module_name)
        _register(state, module, module_name, "built-in")
    allowed = _allowed_names()
    seen: set[str] = set(DEFAULT_PLUGINS)  # every plugin name found, allowed or not (built-ins always load)
    loaded_dirs: set[str] = set()
    for directory, configured in [(first_party_plugin_dir(), False), *_user_plugin_dirs(state)]:
        key = os.path.realpath(directory)
        if key in loaded_dirs:
            continue  # listed twice (plugin_dirs naming <config dir>/plugins): load its files once
        loaded_dirs.add(key)
        _load_directory_plugins(state, directory, allowed, seen, configured=configured)
    _load_entry_point_plugins(state, allowed, seen)
    for name in sorted((allowed or set()) - seen):
        _record_failure(
            state, name, "ASSISTANT_PLUGINS", LoadProblem("no plugin file or entry point has this name")
        )
    _check_unknown_hooks(state)
    return state


_building = False


class LoadingReentered(LoadProblem):
    """A plugin used the plugin registries while plugins were still loading (at its import)."""


def _get_state() -> _State:
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
                _state = _build_state()
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
        _register(state, plugin, name, source)
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


def _echo_new_failures(state: _State) -> None:
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
            _record_failure(state, impl.plugin_name, hook_name, exc)
        finally:
            _current.name = _current.hook = ""
    _echo_new_failures(state)


def _guarded(state: _State, plugin: str, hook_name: str, register: Callable[..., Any]) -> Callable[..., Any]:
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
            _record_failure(state, plugin, hook_name, exc)

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
    _record_failure(state, name, hook, LoadProblem(problem))


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

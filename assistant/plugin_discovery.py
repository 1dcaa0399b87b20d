"""Finding and importing plugins: the built-ins, plugin directories and entry points, in load order.

Split from :mod:`assistant.plugins` (whose docstring gives the load order and the
rules); this module only builds the loaded state, which :mod:`assistant.plugins`
holds and serves.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import re
import sys
from pathlib import Path
from types import ModuleType

import pluggy

from . import hookspecs
from .errors import ConfigError
from .plugin_checks import LoadProblem, unknown_hook, unmarked_hooks_of
from .plugin_output import plugin_output, timed_import
from .plugin_state import PluginState, record_failure

DEFAULT_PLUGINS = (
    "assistant.default_plugins.backends",
    "assistant.default_plugins.template_dirs",
)
ENTRY_POINT_GROUP = "assistant"


def allowed_names() -> set[str] | None:
    """The plugin names ``ASSISTANT_PLUGINS`` allows (None: unset, all load; empty: none but the built-ins)."""
    raw = os.environ.get("ASSISTANT_PLUGINS")
    if raw is None:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def first_party_plugin_dir() -> Path:
    """The shipped ``plugins/`` directory: in the wheel, or at the repo root in a checkout."""
    here = Path(__file__).resolve().parent
    packaged = here / "_plugins"
    return packaged if packaged.is_dir() else here.parent / "plugins"


def _user_plugin_dirs(state: PluginState) -> list[tuple[Path, bool]]:
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
            record_failure(
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


def _check_unknown_hooks(state: PluginState) -> None:
    """pluggy's ``check_pending``, reporting every unknown hook instead of raising at the first.

    Each is recorded as a failure of its plugin (stage ``"hook"``) with the
    closest real hook name; the plugin's other hooks keep working. So is a
    ``register_tools`` function without ``@hookimpl``: pluggy ignores it, and the
    plugin's tools would go missing without a word.
    """
    for name, plugin in state.pm.list_name_plugin():
        for problem in unmarked_hooks_of(state.pm, plugin):
            record_failure(state, name, "hook", problem)
    for name in list(vars(state.pm.hook)):
        if name.startswith("_"):
            continue
        caller = getattr(state.pm.hook, name)
        if caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            if not impl.optionalhook:
                record_failure(state, impl.plugin_name, "hook", unknown_hook(name))


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


def add_plugin(state: PluginState, plugin: object, name: str, source: str) -> None:
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
    state: PluginState, directory: Path, allowed: set[str] | None, seen: set[str], *, configured: bool = False
) -> None:
    if not directory.is_dir():
        if configured:
            what = "is not a directory" if directory.exists() else "does not exist"
            if directory.suffix == ".py" and directory.is_file():  # the plugin itself, named instead of its folder
                what = f"is a plugin file, not a directory: plugin_dirs lists folders ({directory.parent})"
            record_failure(state, str(directory), "plugin_dirs", LoadProblem(what))
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
            add_plugin(state, module, name, str(path))
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a plugin's bug (even sys.exit()) must not stop the app
            record_failure(state, name, "import", exc)


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


def _load_entry_point_plugins(state: PluginState, allowed: set[str] | None, seen: set[str]) -> None:
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
            add_plugin(state, plugin, ep.name, source)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # as for file plugins: SystemExit included
            record_failure(state, ep.name, "import", exc)


def build_state() -> PluginState:
    pm = pluggy.PluginManager("assistant")
    pm.add_hookspecs(hookspecs)
    state = PluginState(pm=pm)
    for module_name in DEFAULT_PLUGINS:
        module = importlib.import_module(module_name)
        add_plugin(state, module, module_name, "built-in")
    allowed = allowed_names()
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
        import difflib

        # `ASSISTANT_PLUGINS=Translate` loaded nothing, saying only that no plugin has the name:
        # names are matched exactly, so the one meant is pointed to.
        close = difflib.get_close_matches(name.lower(), sorted(seen), n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        record_failure(
            state, name, "ASSISTANT_PLUGINS", LoadProblem(f"no plugin file or entry point has this name{hint}")
        )
    _check_unknown_hooks(state)
    return state

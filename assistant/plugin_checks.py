"""What the plugin loader refuses in a plugin, found by looking at it rather than by running it.

Hook names no spec declares (a typo: never called), hook functions not marked
``@hookimpl``, and what a registration hook returns instead of registering. Apart
from :mod:`assistant.plugins`, which loads plugins and calls their hooks.
"""

from __future__ import annotations

import difflib
from typing import Any

import pluggy

from . import hookspecs


def plugin_line(text: str, limit: int = 300) -> str:
    """A plugin's message as one line (tracebacks and multi-line messages are common), capped."""
    from .terminal_text import one_line

    flat = one_line(text)  # other controls stay, for the printed line to show visibly
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class LoadProblem(Exception):
    """A problem the loader itself finds (not a plugin's exception): its message is shown as is."""


class UnknownHookError(LoadProblem):
    """A plugin implements a hook name no spec declares (a typo: it would never be called)."""


def known_hooks() -> list[str]:
    return [name for name in dir(hookspecs) if name.startswith("register_")]


def unknown_hook(name: str) -> UnknownHookError:
    """The error for hook implementation ``name`` that no spec declares, with the closest real name."""
    known = known_hooks()
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
    hint = f" (did you mean {close[0]!r}?)" if close else f" (known hooks: {', '.join(known)})"
    return UnknownHookError(f"unknown hook {name!r}{hint}")


def unknown_hooks_of(pm: pluggy.PluginManager, plugin: object) -> list[UnknownHookError]:
    """The hook implementations of ``plugin`` (not yet registered) that match no hook spec, as pluggy finds them."""
    known = set(known_hooks())
    found = []
    for attr in dir(plugin):
        opts = pm.parse_hookimpl_opts(plugin, attr)
        if opts is None or opts.get("optionalhook"):
            continue
        hook_name = opts.get("specname") or attr
        if hook_name not in known:
            found.append(unknown_hook(hook_name))
    return found


def unmarked_hooks_of(pm: pluggy.PluginManager, plugin: object) -> list[LoadProblem]:
    """The functions of ``plugin`` named like a hook but not marked ``@hookimpl`` (never called)."""
    found = []
    for hook_name in known_hooks():
        attr = getattr(plugin, hook_name, None)
        if callable(attr) and pm.parse_hookimpl_opts(plugin, hook_name) is None:
            found.append(
                LoadProblem(
                    f"{hook_name} is not marked @hookimpl, so it is never called (from assistant import hookimpl)"
                )
            )
    return found


def registered_name(hook_name: str, arguments: dict[str, Any]) -> str | None:
    """The name a ``register(...)`` call of ``hook_name`` claims; None where registrations have no name.

    ``register_backends`` takes the name first, ``register_tools`` a tool with a
    ``name`` (the registry itself refuses a tool without one). A directory given
    twice to ``register_template_dirs`` is searched once and loses nothing, so it
    has no name here.
    """
    first = next(iter(arguments.values()), None)
    if hook_name == "register_tools":
        try:
            first = getattr(first, "name", None)
        except Exception:  # noqa: BLE001 - a broken property: the registry's own check reports it
            return None
    elif hook_name != "register_backends":
        return None
    return first if isinstance(first, str) else None


def check_returned(hook_name: str, arg_name: str, returned: Any) -> None:
    """Refuse what a hook returns in place of registering: it would be dropped without a word.

    ``return [MyTool()]`` (the style of other plugin systems) registers nothing;
    an ``async def`` or generator hook never even runs its body.
    (``register_commands`` may return what it added to ``cli``: that is harmless.)
    """
    import inspect

    if inspect.iscoroutine(returned) or inspect.isgenerator(returned) or inspect.isasyncgen(returned):
        if not inspect.isasyncgen(returned):  # (an async generator never started warns of nothing)
            returned.close()  # never run: no "coroutine was never awaited" warning on stderr
        raise LoadProblem(f"{hook_name} must be a plain function (def), not async def or a generator")
    if returned is not None and arg_name == "register":
        what = type(returned).__name__
        raise LoadProblem(f"{hook_name} returned a {what}, which is ignored: call register(...) for each instead")

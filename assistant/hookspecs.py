"""The plugin contract: every hook a plugin may implement.

Hooks use the registration-callback style of simonw/llm: the assistant calls the
hook with a ``register`` function and the plugin calls it once per thing it
provides. That keeps plugins free of return-value conventions and lets one hook
register several things. (A hook that returns something, an ``async def`` or
generator hook, and a ``register_*`` function without ``@hookimpl`` are
reported as the plugin's failure: each would otherwise register nothing, silently.)

A plugin is any module or object with functions decorated by ``@hookimpl``::

    from assistant import hookimpl

    @hookimpl
    def register_tools(register):
        register(MyTool())

Built-in backends use these same hooks, marked ``trylast=True``; the first-party
tools are ordinary plugin files in ``plugins/``, loaded before the user's plugins and
entry points. When two plugins register the same name, the later-loaded one wins;
one plugin registering a name twice is reported as its failure, and its first
registration is kept.
"""

from __future__ import annotations

from typing import Any, Callable

import pluggy

hookspec = pluggy.HookspecMarker("assistant")
hookimpl = pluggy.HookimplMarker("assistant")


@hookspec
def register_backends(register: Callable[..., None]) -> None:
    """Register inference backends.

    Call ``register(name, factory, description="")`` for each backend. ``factory``
    is a zero-argument callable (usually the class) returning an object that
    implements :class:`assistant.backends.base.Backend`, whose ``name`` should be
    the registered name: the history records it, and ``prompt -c`` reopens a
    conversation's backend by it. Factories are only called when the backend is
    used, so heavy imports (torch, llama_cpp) belong inside the backend's ``load``,
    never at module level.
    """


@hookspec
def register_tools(register: Callable[[Any], None]) -> None:
    """Register tools (summarize, translate, NER, ...).

    Call ``register(tool)`` with an object (an instance, not the class) implementing
    :class:`assistant.tools.Tool`: a ``name``, a one-line ``description``, typed
    ``parameters`` and a ``run(text, params, backend)`` method returning a result
    that serialises to JSON and renders as text. A tool whose ``run`` never uses
    the model declares ``needs_model = False``: no front end loads a model for it,
    and ``run`` gets ``backend=None``. A tool that settles some inputs without a
    model (summarize's too-short input) says so in an optional
    ``answer_without_model(text, params)``, asked before any model is loaded.
    """


@hookspec
def register_template_dirs(register: Callable[[Any], None]) -> None:
    """Register directories holding prompt templates.

    Call ``register(path)`` for each directory. Templates found there are
    searched after the user's own template directory and before the built-in
    ``prompts/``, so users can override a plugin's template by name.
    """


@hookspec
def register_commands(cli: Any) -> None:
    """Add commands to the command-line interface.

    ``cli`` is the top-level :class:`click.Group`; decorate new commands with
    ``@cli.command()`` or add groups with ``cli.add_command``. Keep imports inside
    the command functions so ``assistant --help`` stays fast.
    """

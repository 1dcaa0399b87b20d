"""assistant: a local-first, plugin-based terminal chat assistant with prompt tooling.

The public Python API is re-exported here lazily, so ``import assistant`` stays
cheap (no engine is imported until a model is loaded).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from .hookspecs import hookimpl  # noqa: E402  (light: only pluggy)

if TYPE_CHECKING:
    # What type checkers and editors see for ``from assistant import ChatSession``: the real
    # classes and functions. Without these the lazy names were typed ``Any`` (what ``__getattr__``
    # returns), so a script's ``session.sned(...)`` or ``run_template(..., params=[1])`` passed mypy
    # and completion offered nothing. Never run, so ``import assistant`` stays light; one entry per
    # ``_LAZY`` name, from the module ``_LAZY`` names (tests/test_api_r12.py holds them together).
    # ``X as X``: an explicit re-export (``__all__`` below is built from ``_LAZY``, which checkers cannot read)
    from .backends import available_backends as available_backends
    from .backends import load_backend as load_backend
    from .session import ChatSession as ChatSession
    from .templates import load_template as load_template
    from .templates import render_template as render_template
    from .templates import run_template as run_template
    from .tools import available_tools as available_tools
    from .tools import get_tool as get_tool
    from .types import Chunk as Chunk
    from .types import Completion as Completion
    from .types import GenerationParams as GenerationParams
    from .types import Message as Message

_LAZY = {
    "GenerationParams": "assistant.types",
    "Message": "assistant.types",
    "Completion": "assistant.types",
    "Chunk": "assistant.types",
    "load_backend": "assistant.backends",
    "available_backends": "assistant.backends",
    "ChatSession": "assistant.session",
    "load_template": "assistant.templates",
    "render_template": "assistant.templates",
    "run_template": "assistant.templates",
    "get_tool": "assistant.tools",
    "available_tools": "assistant.tools",
}

__all__ = ["__version__", "hookimpl", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'assistant' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    """The public API (lazy names included), its submodules and dunders, so ``dir(assistant)``
    and tab completion offer what a script may use, not this file's own imports (``Any``)."""
    from types import ModuleType

    own = {name for name, value in globals().items() if name.startswith("__") or isinstance(value, ModuleType)}
    return sorted(own | set(__all__))

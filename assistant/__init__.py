"""assistant: a local-first, plugin-based terminal chat assistant with prompt tooling.

The public Python API is re-exported here lazily, so ``import assistant`` stays
cheap (no engine is imported until a model is loaded).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

from .hookspecs import hookimpl  # noqa: E402  (light: only pluggy)

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

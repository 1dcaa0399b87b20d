"""Tools: named operations on text (summarize, translate, NER, sentiment, and plugins' own).

The contract a plugin implements is in :mod:`assistant.tools.base` (``Tool``,
``Parameter``) and :mod:`assistant.tools.results`; the registry that collects
tools from the ``register_tools`` hook is :mod:`assistant.tools.registry`.
Helpers a tool author can reuse — label scoring, token-bounded chunking,
checked generation — live in the sibling modules. Importing this package is
cheap: no engine, no numpy.

    from assistant import get_tool
    result = get_tool("sentiment").run("I loved it", backend)
    result.label, result.probabilities, result.to_dict(), result.to_text()
"""

from __future__ import annotations

from .base import BaseTool, Parameter, Progress, Tool
from .registry import RegisteredTool, available_tools, get_tool, tool_failures
from .results import (
    EntitiesResult,
    Entity,
    LabelResult,
    SentimentResult,
    SummaryResult,
    TextResult,
    ToolResult,
    TranslationResult,
)

__all__ = [
    "BaseTool",
    "EntitiesResult",
    "Entity",
    "LabelResult",
    "Parameter",
    "Progress",
    "RegisteredTool",
    "SentimentResult",
    "SummaryResult",
    "TextResult",
    "Tool",
    "ToolResult",
    "TranslationResult",
    "available_tools",
    "get_tool",
    "tool_failures",
]

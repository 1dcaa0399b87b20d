"""Fitting prompts into a model's context window, measured with the model's own tokenizer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Sequence

from ..errors import ToolError
from ..types import Message

if TYPE_CHECKING:
    from ..backends.base import Backend, Prompt

ASSUMED_CONTEXT = 4096
"""Window assumed for a backend that does not report one (some remote servers); ``-o n_ctx=N`` tells it."""

SAFETY_MARGIN = 8
"""Tokens kept free beyond the computed need: templates may tokenize slightly differently around the input."""


def context_window(backend: Backend) -> int:
    """The backend's context length, or :data:`ASSUMED_CONTEXT` when it is unknown (reported as 0)."""
    length = backend.context_length
    return length if length and length > 0 else ASSUMED_CONTEXT


def input_budget(backend: Backend, build: Callable[[str], Prompt], reserve: int) -> int:
    """How many tokens of input text fit in ``build(text)`` while leaving ``reserve`` tokens for the reply."""
    overhead = backend.count_tokens(build(""))
    window = context_window(backend)
    budget = window - overhead - reserve - SAFETY_MARGIN
    if budget < 16:
        raise ToolError(
            f"the context window ({window} tokens) is too small for this tool's prompt "
            f"({overhead} tokens) and reply ({reserve} tokens); raise n_ctx"
        )
    return budget


def token_counter(backend: Backend) -> Callable[[str], int]:
    """Count tokens of plain text as the backend would (BOS included, consistently)."""
    return lambda text: backend.count_tokens(text)


def fits(backend: Backend, prompt: Sequence[Message] | str, reserve: int) -> bool:
    return backend.count_tokens(prompt) + reserve + SAFETY_MARGIN <= context_window(backend)

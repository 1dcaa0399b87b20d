"""Generating text that must pass a check: validate, retry once, then a clear ToolError.

Greedy decoding is deterministic, so retrying the same request would repeat
the same bad answer; the retry samples instead (fixed seed, so a run is still
reproducible).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Sequence

from ..errors import ToolError
from ..types import GenerationParams, Message

if TYPE_CHECKING:
    from ..backends.base import Backend

Validator = Callable[[str], "str | None"]
"""Returns the cleaned output, or None when the output is unusable."""


def generate_checked(
    backend: Backend,
    messages: Sequence[Message],
    params: GenerationParams,
    validate: Validator,
    what: str,
) -> str:
    """The validated output of the first attempt that passes; ToolError after two failures."""
    attempts = [params, params.replace(temperature=max(params.temperature, 0.7), seed=params.seed or 1)]
    last = ""
    for attempt in attempts:
        completion = backend.complete(list(messages), attempt)
        last = completion.text
        cleaned = validate(last)
        if cleaned is not None:
            return cleaned
    shown = " ".join(last.split())[:80]
    raise ToolError(f"the model did not produce a usable {what} (twice; last output: {shown!r})")


def nonempty(text: str) -> str | None:
    """The simplest validator: any non-blank output, stripped."""
    stripped = text.strip()
    return stripped or None

"""Small formatting helpers for the chat app.

Text from a model or a user is data, never markup: it is shown through
Markdown (which does not interpret Rich/Textual markup) or through
``rich.text.Text`` / ``Content`` objects built without markup, and control
characters are made visible by :func:`assistant.terminal_text.visible_text`
(re-exported here), the one definition the CLI uses too.
"""

from __future__ import annotations

from ..terminal_text import visible_text

__all__ = ["visible_text", "format_rate", "format_ms", "shorten"]

def format_rate(tokens_per_second: float | None) -> str:
    return "–" if tokens_per_second is None else f"{tokens_per_second:.1f} tok/s"


def format_ms(ms: float | None) -> str:
    if ms is None:
        return "–"
    return f"{ms:.0f} ms" if ms < 10_000 else f"{ms / 1000:.1f} s"


def shorten(text: str, width: int) -> str:
    """One line of at most ``width`` characters, for titles and list rows."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: max(width - 1, 0)] + "…"

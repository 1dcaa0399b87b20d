"""Making model and user text safe to draw, and small formatting helpers.

Text from a model or a user is data, never markup: it is shown through
Markdown (which does not interpret Rich/Textual markup) or through
``rich.text.Text`` / ``Content`` objects built without markup. Control
characters are the remaining hazard: an ESC byte reaching the terminal would be
*executed* (colours, cursor moves, even clipboard writes), so every C0/C1
control except newline and tab is replaced by its visible Unicode "control
picture" (ESC shows as ``␛``). The mapping is per character, so it can be
applied to each streamed chunk independently.
"""

from __future__ import annotations

# C0 controls -> U+2400.. pictures, DEL -> U+2421, C1 controls (U+0080-U+009F) -> "\x9b"-style escapes.
_VISIBLE = {code: chr(0x2400 + code) for code in range(0x20) if code not in (0x09, 0x0A)}
_VISIBLE[0x7F] = "\u2421"
_VISIBLE.update({code: f"\\x{code:02x}" for code in range(0x80, 0xA0)})
_TRANSLATION = str.maketrans(_VISIBLE)


def visible_text(text: str) -> str:
    """``text`` with terminal control characters replaced by visible stand-ins."""
    return text.translate(_TRANSLATION)


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

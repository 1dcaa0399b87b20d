"""The one colour scale for probabilities: terminal (16 colours and up), the chat app and pictures.

Four levels, as in the design notes (``░ <10%  ▒ <50%  ▓ <90%  █ ≥90%``). Each
level has a glyph (so colour is never the only carrier), a background from
the 16 standard ANSI colours with a black foreground (readable on light and
dark themes alike, and on terminals without 256 colours), and a hex colour of
the same hue for Textual styles and matplotlib. A probability that is not
known (``None``) is drawn unshaded. The numbers beside the shades are printed here
too, one format each: a probability (:func:`probability_text`) and a share (:func:`share_text`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..types import TokenLogprob

THRESHOLDS = (0.10, 0.50, 0.90)
"""Upper bounds of the first three levels; the last is ``>= 0.90``."""


@dataclass(frozen=True)
class Shade:
    """One level of the scale."""

    label: str
    """The legend's words for it, e.g. ``<10%``."""
    glyph: str
    ansi_bg: int
    """SGR code of the background (one of the 16 standard colours)."""
    color: str
    """The same hue as ``#rrggbb`` (Textual styles, pictures)."""

    def sgr(self) -> str:
        """The escape sequence that starts this shade (black text on its background)."""
        return f"\x1b[30;{self.ansi_bg}m"


SHADES: tuple[Shade, ...] = (
    Shade("<10%", "░", 41, "#d9534f"),  # red: the model found it unlikely
    Shade("<50%", "▒", 43, "#f0ad4e"),  # yellow
    Shade("<90%", "▓", 46, "#5bc0de"),  # cyan
    Shade("≥90%", "█", 42, "#5cb85c"),  # green: near certain
)
RESET = "\x1b[0m"


def shade_for(p: float | None) -> Shade | None:
    """The level of probability ``p`` (``None`` when it is unknown)."""
    if p is None:
        return None
    for shade, bound in zip(SHADES, THRESHOLDS):
        if p < bound:
            return shade
    return SHADES[-1]


def shaded(text: str, p: float | None) -> str:
    """``text`` on its level's background, for a terminal. ``text`` must already be safe to print."""
    shade = shade_for(p)
    if shade is None or not text:
        return text
    # Keep newlines outside the coloured run: a background spilling to the line's end looks like a bug.
    return "\n".join(f"{shade.sgr()}{line}{RESET}" if line else "" for line in text.split("\n"))


def legend(ansi: bool = True, what: str = "sampled probability", width: int | None = None) -> str:
    """The line naming the levels, coloured like the text when ``ansi``.

    ``width`` (the terminal's): folded onto more lines between its entries where one line
    would pass it (one spare column), so that the terminal never wraps one in two: at 40
    columns ``▓`` ended a line and ``<90%`` began the next. None: one line.
    """
    from rich.cells import cell_len

    head = f"shade = {what}:"
    entries = [(f"{s.glyph} {s.label}", s) for s in SHADES]
    lines = [head]
    used = cell_len(head)
    for number, (entry, shade) in enumerate(entries):
        drawn = f"{shade.sgr()} {entry} {RESET}" if ansi else entry
        cells = cell_len(entry) + (2 if ansi else 0)  # the colour codes take no cells, the padding does
        separator = " " if number == 0 else "  "
        if width is not None and used + len(separator) + cells > width - 1:
            lines.append(drawn)
            used = cells
        else:
            lines[-1] += separator + drawn
            used += len(separator) + cells
    return "\n".join(lines)


def shown_probability(entries: Sequence[TokenLogprob], sampled: bool = True) -> float | None:
    """The probability a run of text is shaded by: the least likely of the tokens that produced it.

    ``sampled`` False (a backend without sampled probabilities, e.g. a remote
    server) shades by the *model* probability instead — say so in the legend.
    """
    values = [e.p_sampled if sampled else math.exp(e.logprob) for e in entries]
    known = [v for v in values if v is not None]
    return min(known) if known else None


def probability_text(p: float, width: int = 7) -> str:
    """``p`` in ``width`` cells: three decimals, or, for a chance too small for them, two significant digits.

    A token the settings keep is never printed as ``0.000``, the number of a
    token they cut: at a high temperature every kept token's chance is about
    1/vocabulary (``2.0e-05``), which is the lesson, not zero. The one format of
    a probability in ``assistant next`` and the chat app's token panel.
    """
    return f"{p:{width}.1e}" if 0 < p < 0.0005 else f"{p:{width}.3f}"


def share_text(part: float, whole: float) -> str:
    """``part`` of ``whole`` as a percentage with one decimal, never rounded onto a bound it is not at.

    ``<0.1%`` for a part above nothing, ``>99.9%`` for one short of the whole: 30 tokens of an
    8192-token context window printed ``0%``, and 8191 of them ``100%`` (a window the engines
    call full only past 8191). ``?`` when the whole is not known (0).
    """
    if whole <= 0:
        return "?"
    share = part / whole
    if 0 < share < 0.0005:
        return "<0.1%"
    if 0.9995 <= share < 1:
        return ">99.9%"
    return f"{share:.1%}"


_EIGHTHS = " ▏▎▍▌▋▊▉"


def bar(fraction: float, width: int = 20) -> str:
    """A horizontal bar of ``fraction`` (0..1) of ``width`` cells, in eighths of a cell (padded to ``width``).

    The one bar of the inspect views: ``assistant next`` and the chat app's token panel.
    """
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, rest = divmod(eighths, 8)
    return ("█" * full + (_EIGHTHS[rest] if rest else "")).ljust(width)

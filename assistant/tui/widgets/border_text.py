"""Words on a box's border, fitted to its width: the longest of a few phrasings that fits whole.

Textual crops a border title or subtitle that is too long (``Esc c…``, ``Esc …``), which
cuts exactly the key the words were there to name. The views say their keys in a long and a
short form and take the longest that fits; the footer and F1 list every key anyway.
"""

from __future__ import annotations

from collections.abc import Sequence

BORDER_MARGIN = 6
"""The cells a border title leaves: the corners, the rules beside it and their spaces."""


def fits_border(text: str, width: int) -> bool:
    """Whether ``text`` shows whole on the border of a box ``width`` cells wide."""
    from rich.cells import cell_len

    return cell_len(text) + BORDER_MARGIN <= width


def longest_fitting(choices: Sequence[str], width: int, fallback: str = "") -> str:
    """The first of ``choices`` (longest first) that fits a border ``width`` cells wide, else ``fallback``."""
    return next((choice for choice in choices if fits_border(choice, width)), fallback)

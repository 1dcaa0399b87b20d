"""Report lines folded to a terminal's width between their parts, never inside one.

The inspect commands print lines of parts: ``a · b · c`` summaries, a legend of
``░ <10%`` entries, a row of ``[piece]`` tokens. Longer than the terminal, they
were wrapped by the terminal (or Rich) at any cell or space, which splits an
entry from its meaning (``█`` at a line's end, ``≥90%`` under it; ``[␣Par`` and
``is]``). Folding between parts keeps each whole.
"""

from __future__ import annotations

from collections.abc import Iterable


def fold(parts: Iterable[str], separator: str, width: int) -> list[str]:
    """``parts`` joined by ``separator`` into lines of at most ``width`` cells; a break takes the separator's place.

    A part wider than ``width`` on its own gets a line of its own, whole (the
    terminal wraps it); no parts give one empty line, as the joined text would.
    """
    from rich.cells import cell_len

    lines: list[str] = []
    for part in parts:
        if lines and cell_len(lines[-1] + separator + part) <= width:
            lines[-1] += separator + part
        else:
            lines.append(part)
    return lines or [""]


def fold_line(text: str, separator: str, width: int) -> list[str]:
    """``text``, whose parts ``separator`` joins, as :func:`fold` lines of at most ``width`` cells."""
    return fold(text.split(separator), separator, width)


def fold_words(parts: Iterable[str], separator: str, width: int) -> list[str]:
    """:func:`fold`, with a part wider than ``width`` on its own folded between its words, and a word
    wider than ``width`` cut (:func:`chop`).

    For parts that are sentences (``0.4% of the 8192-token context window (8157 to
    spare)``): the terminal wrapped them inside a word at 40 columns. Parts that must stay
    whole (a ``[piece]``, a legend's ``█ ≥90%``) go through :func:`fold`.
    """
    from rich.cells import cell_len

    lines: list[str] = []
    for line in fold(parts, separator, width):
        lines += fold(chop(line.split(" "), width), " ", width) if cell_len(line) > width else [line]
    return lines


def chop(parts: Iterable[str], width: int) -> list[str]:
    """``parts``, each one wider than ``width`` cells cut into pieces of ``width`` (the last one shorter).

    For a part no line can hold whole: left to the terminal, it was cut at the terminal's last
    column, which some terminals follow with a blank line (SmolLM2's token of 64 spaces as
    ``next``'s greedy pick, ``[␣<0xF0><0x9F><0x98>]`` in ``tokenize``'s row at 20 columns).
    """
    from rich.cells import cell_len, chop_cells

    return [cut for part in parts for cut in (chop_cells(part, width) if cell_len(part) > width else [part])]

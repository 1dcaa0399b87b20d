"""Where a search hit's snippet matched, as the sidebar shows it: on one line, each match whole characters.

Textual-free. The history says exactly where a snippet matched
(:class:`~assistant.history.search.MarkedSnippet`: it marks matches with characters the
message does not hold, never guessed back from the ``[word]`` that ``history search``
prints, which a message's own ``a[i]`` or ``[note]`` could not be told from). The sidebar
shows a snippet on one line and styles its matches; a match is widened to whole graphemes
here, because FTS5's tokenizer ends a word before a variation selector or joiner
(``葛\\U000E0100``, the keycap ``1\\ufe0f\\u20e3``): a style cut between a character and its
selector drew the selector alone, as an escape (``\\U000e0100``), since
:func:`~assistant.terminal_text.visible_text` keeps a selector only after the character it belongs to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..history.search import MarkedSnippet

Span = tuple[int, int]


def single_spaced(snippet: MarkedSnippet) -> MarkedSnippet:
    """``snippet`` with each run of whitespace as one space (none at the ends), its spans on the same words.

    Blanks are those :func:`~assistant.terminal_text.one_line` flattens, one rule: ``str.isspace`` also took a
    lone CR, VT, FF and NEL, which every other view shows (``␍``: a CR that would redraw the line)."""
    from ..history.search import MarkedSnippet
    from ..terminal_text import blank_characters

    text = snippet.text
    blank = blank_characters(text)
    where: list[int] = []  # each character's index on the line (a collapsed space: the next character's)
    kept: list[str] = []
    space = False
    for index, ch in enumerate(text):
        if blank[index]:
            space = bool(kept)
            where.append(len(kept) + space)
            continue
        if space:
            kept.append(" ")
            space = False
        where.append(len(kept))
        kept.append(ch)
    where.append(len(kept))  # the end
    line = "".join(kept)
    found = []
    for start, end in snippet.found:
        first = min(where[start], len(line))
        last = where[end - 1] + 1 if end > start and not blank[end - 1] else where[end]
        found.append((first, max(first, min(last, len(line)))))
    return MarkedSnippet(line, tuple(found))


def whole_graphemes(snippet: MarkedSnippet) -> MarkedSnippet:
    """``snippet`` with each match widened to the graphemes it touches (its selectors, joiners, marks)."""
    from rich.cells import split_graphemes

    from ..history.search import MarkedSnippet

    graphemes, _ = split_graphemes(snippet.text)
    found: list[Span] = []
    for start, end in snippet.found:
        first = max([begin for begin, _, _ in graphemes if begin <= start] or [start])
        last = min([stop for _, stop, _ in graphemes if stop >= end] or [end])
        first = max(first, found[-1][1] if found else 0)  # never over the match before
        if last > first:
            found.append((first, last))
    return MarkedSnippet(snippet.text, tuple(found))


def sidebar_snippet(snippet: MarkedSnippet) -> MarkedSnippet:
    """The snippet as a sidebar row shows it: :func:`single_spaced`, then :func:`whole_graphemes`."""
    return whole_graphemes(single_spaced(snippet))

"""Small formatting helpers for the chat app.

Text from a model or a user is data, never markup: it is shown through
Markdown (which does not interpret Rich/Textual markup) or through
``rich.text.Text`` / ``Content`` objects built without markup, and control
characters are made visible by :func:`assistant.terminal_text.visible_text`
(re-exported here), the one definition the CLI uses too; a place that holds one line (a reply's
header, the status line, a list entry, a palette entry) shows :func:`~assistant.terminal_text.visible_line`:
a model named ``m\nINJECTED`` drew a second header line that read as the reply's first.
"""

from __future__ import annotations

from ..terminal_text import LINE_END, visible_line, visible_text, without_invisible_controls

__all__ = ["visible_text", "visible_line", "as_markup", "as_typed", "format_rate", "format_ms", "shorten"]


def as_typed(text: str) -> str:
    """``text`` as it may stand in a text box the user edits: a paste, a recalled or edited message.

    A text box draws its characters as they are, so an ESC in it reached the
    terminal (pasted terminal output turned the screen red, an OSC set the window
    title). Line ends are normalised (``\\r\\n``, CR CR LF and ``\\r`` become ``\\n``),
    every other control character is made visible (ESC as ``␛``, see
    :func:`visible_text`), and the invisible bidi marks a right-to-left sentence is
    often copied with are dropped instead
    (:func:`~assistant.terminal_text.without_invisible_controls`): the user's own words
    reach the model as they read. What the box shows is what is sent.
    """
    return visible_text(without_invisible_controls(LINE_END.sub("\n", text).replace("\r", "\n")))


def as_markup(text: str) -> str:
    """``text`` made visible, for the places Textual reads a string as markup (palette entries).

    A model named ``m[Q4_K_M].gguf`` lost its bracket (read as a style), ``[@click=…]`` is an
    action, and a closing tag with nothing open (``[/b]``) raised and closed the app. Every
    ``[`` is escaped: Textual's own ``escape`` leaves ``[Q4_K_M]`` alone (it only escapes tags
    starting with a lowercase letter, ``#``, ``/`` or ``@``) while its parser reads any word.
    Where a widget takes a ``Text``, pass that instead: it is never parsed.
    """
    return visible_line(text).replace("[", "\\[")


def format_rate(tokens_per_second: float | None) -> str:
    return "–" if tokens_per_second is None else f"{tokens_per_second:.1f} tok/s"


def format_ms(ms: float | None) -> str:
    if ms is None:
        return "–"
    return f"{ms:.0f} ms" if ms < 10_000 else f"{ms / 1000:.1f} s"


def shorten(text: str, width: int) -> str:
    """One line of at most ``width`` terminal cells, for titles and list rows.

    Cells, not characters: a CJK character takes two, so a Japanese title cut at the row's
    number of characters was twice as wide as the sidebar and wrapped onto a second line.
    """
    from rich.cells import split_graphemes

    line = " ".join(text.split())
    spans, cells = split_graphemes(line)
    if cells <= width:
        return line
    end, used = 0, 0
    for start, stop, size in spans:  # whole graphemes only: an emoji sequence is not split
        if used + size > width - 1:
            break
        end, used = stop, used + size
    return line[:end] + "…"

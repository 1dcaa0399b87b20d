"""Text as the history stores and titles it: storable strings, one-line titles.

Kept apart from :mod:`.store` (the database access) because the same rules
apply wherever a title or a stored string is made: a conversation's first
message, a rename, a batch's file name.
"""

from __future__ import annotations

import re
import unicodedata

from ..errors import HistoryError
from ..terminal_text import LINE_END, one_line, without_escape_sequences

_SURROGATE = re.compile("[\ud800-\udfff]")
TITLE_LENGTH = 60
"""Longest title made from a message (characters); longer ones end in "…"."""
UNTITLED = "(untitled)"
"""How a conversation without a title (nothing typed yet, or only blank lines) is named where it is listed."""


def storable_text(text: str, what: str = "message content") -> str:
    """``text`` as SQLite can store it: lone surrogates become U+FFFD, all else unchanged.

    Python strings may hold lone surrogates (``surrogateescape`` input); they have
    no UTF-8 encoding, so they get the same defined replacement as invalid UTF-8
    read from stdin. Everything else — NUL, emoji, CJK, megabytes — is kept as is.
    ``what`` names the value in the error for one that is not a ``str`` (a title, a system prompt).
    """
    if not isinstance(text, str):
        raise HistoryError(f"{what} must be text, not {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


def search_words(text: str) -> str:
    """The text the search index holds for ``text`` (and a query is read as): without terminal escape sequences.

    Why: indexed as stored, a coloured ``\\x1b[31mred`` was the word ``31mred``, which a search
    for ``red`` never found; the message itself is kept as it came.
    """
    return without_escape_sequences(text)


def searchable_text(text: str) -> str | None:
    """:func:`search_words` of a message where they are not its text itself (``messages.searchable``), else None."""
    words = search_words(text)
    return words if words != text else None


_LINE_BREAKS = re.compile("[\n\u2028\u2029]")
"""Where a message's lines end for its title: the line ends :func:`~assistant.terminal_text.one_line`
flattens (a :data:`~assistant.terminal_text.LINE_END` made LF first). Not ``str.splitlines``, which
also ends a line at a lone CR, VT, FF, FS…RS and NEL: ``ok\\rFAILED`` was titled ``ok``."""


def given_title(title: str) -> str:
    """A title given outright (a rename, a batch's file name) as one made from a message is (:func:`title_from`):
    one line, without terminal escape sequences — ``[31mred`` was left where a coloured title had been.
    Empty where it has no word (:func:`_worded`): the caller refuses it or leaves the conversation untitled."""
    return _worded(one_line(without_escape_sequences(storable_text(title, "a conversation title"))))


def _worded(line: str) -> str:
    """``line``, or "" where it holds nothing but blanks and control characters (``\\x1b\\x07``): no
    title. Kept, such a line listed as ``␛␇``, and a message whose first line it was got that title."""
    return line if any(not ch.isspace() and unicodedata.category(ch) != "Cc" for ch in line) else ""


def title_from(text: str) -> str | None:
    """The first non-blank line without terminal escape sequences, on one line, cut at TITLE_LENGTH
    (the message itself is stored as it came).

    One line by :func:`~assistant.terminal_text.one_line`, the rule of every listing and error
    line: blanks and line ends are flattened, other controls are kept for the listing to show
    (``␇``) as it shows a reply's. A title had its own rule (every control a space), so one
    message read ``a b`` in ``history list`` and ``a␇b`` in its ``show``. Titles stored under
    that rule hold no controls and one space between words: they show as they did.
    """
    head = text[:4096]  # a title never needs more; 1 MB messages stay fast
    for line in _LINE_BREAKS.split(LINE_END.sub("\n", head) if "\r\n" in head else head):
        words = _worded(one_line(without_escape_sequences(line.strip(" \t")[: TITLE_LENGTH * 4])))
        if words:
            return words if len(words) <= TITLE_LENGTH else words[: TITLE_LENGTH - 1] + "…"
    return None

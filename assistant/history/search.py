"""Turning whatever the user typed into a safe FTS5 query.

FTS5 has its own query language (``AND``/``OR``/``NOT``/``NEAR``, ``"phrases"``,
``col:`` filters, ``*`` and ``^``); raw user text such as ``it's "quoted`` or
``C++ AND`` is a syntax error there. We never pass user text through: every word
becomes a quoted FTS5 string, so the query means "messages containing all of
these words":

* ``"several words"`` in balanced double quotes stays a phrase;
* an unbalanced ``"`` opens a phrase that runs to the end of the query;
* a trailing ``*`` on a bare word keeps its prefix meaning (``pyth*``);
* ``AND``, ``OR``, ``NOT``, ``NEAR`` are ordinary words;
* NUL and other control characters are word separators (FTS5 stops at NUL).

A query with no letters or digits at all raises :class:`HistoryError` with a
friendly message instead of silently matching nothing.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from ..errors import HistoryError


@dataclass(frozen=True)
class Term:
    text: str
    prefix: bool = False

    def to_fts(self) -> str:
        quoted = '"' + self.text.replace('"', '""') + '"'
        return quoted + "*" if self.prefix else quoted


def _clean(text: str) -> str:
    """Control characters (NUL included) become spaces: FTS5 treats them as separators anyway."""
    return "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)


def has_word_characters(text: str) -> bool:
    """Whether FTS5's unicode61 tokenizer could find a word here (letters, digits, private use)."""
    return any(unicodedata.category(ch)[0] in "LN" or unicodedata.category(ch) == "Co" for ch in text)


def parse_terms(query: str) -> list[Term]:
    """Split user text into words and quoted phrases (see the module docstring)."""
    text = _clean(query)
    terms: list[Term] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch == '"':
            end = text.find('"', i + 1)
            if end == -1:
                end = n
            phrase = " ".join(text[i + 1 : end].split())
            if phrase:
                terms.append(Term(phrase))
            i = end + 1
            continue
        j = i
        while j < n and not text[j].isspace() and text[j] != '"':
            j += 1
        word = text[i:j]
        if word.endswith("*") and has_word_characters(word.rstrip("*")):
            terms.append(Term(word.rstrip("*"), prefix=True))
        else:
            terms.append(Term(word))
        i = j
    return terms


def fts_query(query: str) -> str:
    """The FTS5 MATCH expression for ``query``; raises HistoryError if nothing is searchable."""
    terms = [t for t in parse_terms(query) if has_word_characters(t.text)]
    if not terms:
        shown = query if len(query) <= 40 else query[:40] + "…"
        raise HistoryError(f"nothing to search for in {shown!r}: include at least one word or number")
    return " ".join(term.to_fts() for term in terms)

"""Where a search hit's snippet matched, without the brackets the history marks it with.

Textual-free. The history's snippets mark each match as ``[word]``
(:data:`assistant.history.search.SNIPPET_ARGS`, as ``history search`` prints
them). Shown as they are in the sidebar, a message that holds brackets itself
(``a[i]``, ``[citation needed]``, a Markdown link) could not be told from a
match, and the marks took room in a 27-cell row. The sidebar shows matches as
a style instead (:func:`matched_parts` gives where they are).

A mark is told from a bracket of the text by FTS5 itself: its ``[`` is followed
by a word character and its ``]`` preceded by one (brackets separate words, so
the marks sit right on the matched words), and what it holds matches the query
under the history's own tokenizer (:data:`~assistant.history.migrations.FTS_TOKENIZER`)
and terms (:func:`~assistant.history.search.parse_terms`), from its first word
on (a ``[`` is tried with the nearest ``]`` first). A ``[word]`` of the text
that is no match stays as it is; one that is a match comes marked as ``[[word]]``,
and only the inner pair is taken away.
"""

from __future__ import annotations

import sqlite3

Span = tuple[int, int]
OPEN, CLOSE = "[", "]"


CLOSINGS_TRIED = 4
"""The ``]`` looked at for each ``[`` (a phrase's mark can hold a bracket of the text: ``[and [zebra]]``)."""


def _candidates(snippet: str) -> list[Span]:
    """``(open, close)`` indexes of bracket pairs that could be marks (see the module docstring), in order."""
    from ..history.search import has_word_characters

    def word_at(index: int) -> bool:
        return 0 <= index < len(snippet) and has_word_characters(snippet[index])

    closings = [i for i, ch in enumerate(snippet) if ch == CLOSE and word_at(i - 1)]
    found: list[Span] = []
    for opening, ch in enumerate(snippet):
        if ch == OPEN and word_at(opening + 1):
            found.extend((opening, closing) for closing in [c for c in closings if c > opening][:CLOSINGS_TRIED])
    return found


def _matching(texts: list[str], query: str) -> set[int]:
    """The indexes of ``texts`` that start with a word (or phrase) of ``query``, as the history's search reads it."""
    from ..history.migrations import FTS_TOKENIZER
    from ..history.search import has_word_characters, parse_terms, unique_terms

    terms = unique_terms([term for term in parse_terms(query) if has_word_characters(term.text)])
    if not terms:  # nothing searchable: no snippet marks anything either
        return set()
    # Each term where the text starts (FTS5's "^"): "[note] on a [zebra" holds a match, but is no mark.
    match = " OR ".join("^" + term.to_fts() for term in terms)
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        conn.execute(f"CREATE VIRTUAL TABLE marked USING fts5(content, tokenize = '{FTS_TOKENIZER}')")
        conn.executemany("INSERT INTO marked (rowid, content) VALUES (?, ?)", enumerate(texts, start=1))
        rows = conn.execute("SELECT rowid FROM marked WHERE marked MATCH ?", [match]).fetchall()
    except sqlite3.Error:  # no FTS5 in this SQLite: the history could not have searched either
        return set()
    finally:
        conn.close()
    return {rowid - 1 for (rowid,) in rows}


def matched_parts(snippets: list[str], query: str) -> list[tuple[str, tuple[Span, ...]]]:
    """Each snippet's text without its match marks, and the ``(start, end)`` character spans that matched.

    All of one search's snippets at once: one in-memory index tells every candidate's fate.
    """
    candidates = [_candidates(snippet) for snippet in snippets]
    inner = [snippet[a + 1 : b] for snippet, pairs in zip(snippets, candidates) for a, b in pairs]
    matched = _matching(inner, query) if inner else set()
    results: list[tuple[str, tuple[Span, ...]]] = []
    index = 0
    for snippet, pairs in zip(snippets, candidates):
        parts: list[str] = []
        spans: list[Span] = []
        length, last = 0, 0
        for opening, closing in pairs:  # left to right; each "[" takes its nearest "]" that makes a match
            if index in matched and opening >= last:
                parts.append(snippet[last:opening])
                length += opening - last
                word = snippet[opening + 1 : closing]
                parts.append(word)
                spans.append((length, length + len(word)))
                length += len(word)
                last = closing + 1
            index += 1
        parts.append(snippet[last:])
        results.append(("".join(parts), tuple(spans)))
    return results

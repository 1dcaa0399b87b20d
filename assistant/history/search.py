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
* NUL and other control characters are word separators (FTS5 stops at NUL);
* terminal escape sequences are dropped, in the query as in the index (migration
  ``0011_search_words_without_escapes``): ``\\x1b[31mred`` is the word ``red``.

A query with no letters or digits at all raises :class:`HistoryError` with a
friendly message instead of silently matching nothing.

Each term costs FTS5 a pass over its posting list, so a pasted page (or
``"python " * 1500``) took tens of seconds: repeated terms are dropped (they
change nothing: every term must match anyway), and a query longer than
:data:`MAX_QUERY_CHARS` or with more than :data:`MAX_QUERY_TERMS` distinct terms
is refused with a message saying so.

:func:`snippet` shows where a long message matched. FTS5's own ``snippet()``
scores every window against every hit, so its cost grows with the square of
the hits in one message: a 15 MB reply with a word 400,000 times kept
``history search`` busy for hours. A long message is looked at a piece at a
time instead, through a small index of one piece, so the cost stays about one
piece's.

A snippet is made with marks the text does not hold (:func:`_free_marks`), so
where it matched is known exactly (:class:`MarkedSnippet`): ``history search``
prints the matches in brackets (:meth:`MarkedSnippet.bracketed`, FTS5's own
form), and the chat app's sidebar styles them (a search with ``marked=True``
gives :class:`MarkedHit`: the same snippet, made once): a message's own
``[word]`` could not be told from a bracket the history added.
"""

from __future__ import annotations

import itertools
import re
import sqlite3
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import HistoryError
from .migrations import FTS_TOKENIZER
from .records import SearchHit
from .stored_text import search_words

if TYPE_CHECKING:
    import sqlite_utils

MAX_QUERY_CHARS = 1000
MAX_QUERY_TERMS = 32
SNIPPET_PIECE_CHARS = 4096
"""A message longer than this gets its snippet from the first piece of this size that matches."""
SNIPPET_ARGS = "0, ?, ?, '…', 12"
"""``snippet()``'s arguments: the column, the marks around a matched word (:func:`_free_marks`), the ellipsis,
the words shown."""

Span = tuple[int, int]


@dataclass(frozen=True)
class MarkedSnippet:
    """A snippet's text and the ``(start, end)`` character spans of it that matched, in order."""

    text: str
    found: tuple[Span, ...] = ()

    def bracketed(self) -> str:
        """The matches in ``[brackets]``: what ``history search`` prints (FTS5's snippet with those marks)."""
        parts, last = [], 0
        for start, end in self.found:
            parts += [self.text[last:start], "[", self.text[start:end], "]"]
            last = end
        parts.append(self.text[last:])
        return "".join(parts)


@dataclass
class MarkedHit(SearchHit):
    """A search hit whose ``snippet`` is the snippet's text, and ``found`` where in it the search matched.

    For a display that shows a match some other way than in brackets (the chat app's sidebar styles it):
    the search makes each hit's snippet once, in the form asked for (``marked=True``), rather than the
    bracketed one and then again marked.
    """

    found: tuple[Span, ...] = ()

    @property
    def marked(self) -> MarkedSnippet:
        return MarkedSnippet(self.snippet, self.found)


_MARK_CANDIDATES = (range(0xFDD0, 0xFDF0), range(0xF0000, 0xFFFFE))
"""Noncharacters, then private use: what a message rarely holds (and one of a piece's size never all of)."""


def _free_marks(text: str) -> tuple[str, str]:
    """Two characters ``text`` does not hold, to mark matches with: then every one in a snippet is a mark.

    With ``[`` and ``]`` (what is printed), a message's own ``[zebra]`` or ``a[i]`` could not be told from
    a match afterwards. ``text`` is at most a piece (:data:`SNIPPET_PIECE_CHARS`) or a short message,
    far fewer characters than there are candidates.
    """
    first, second = (chr(code) for code in _MARK_CANDIDATES[0][:2])
    if first not in text and second not in text:  # nearly always: no set of the text built
        return first, second
    present = set(text)
    free = (chr(code) for code in itertools.chain(*_MARK_CANDIDATES) if chr(code) not in present)
    return next(free), next(free)


def _unmarked(marked: str, marks: tuple[str, str]) -> MarkedSnippet:
    """``marked`` (a snippet FTS5 wrote with ``marks``) as its text and the spans the marks were around."""
    pieces = re.split(f"[{re.escape(''.join(marks))}]", marked)  # [text, match, text, match, …, text]
    found, length = [], 0
    for index, piece in enumerate(pieces):
        if index % 2:
            found.append((length, length + len(piece)))
        length += len(piece)
    return MarkedSnippet("".join(pieces), tuple(found))


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
    """Split user text into words and quoted phrases (see the module docstring).

    Read as the index reads a message (:func:`.stored_text.search_words`): a query pasted
    from a coloured terminal is its words, without the escape sequences the index never holds.
    """
    text = _clean(search_words(query))
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


def unique_terms(terms: list[Term]) -> list[Term]:
    """``terms`` without repeats (case-insensitive, as FTS5's tokenizer folds case), first ones kept."""
    seen: set[tuple[str, bool]] = set()
    unique = []
    for term in terms:
        key = (term.text.casefold(), term.prefix)
        if key not in seen:
            seen.add(key)
            unique.append(term)
    return unique


def fts_query(query: str, *, any_term: bool = False) -> str:
    """The FTS5 MATCH expression for ``query``; raises HistoryError if nothing is searchable or it is too big.

    ``any_term``: a piece matches when it has any of the words (:func:`snippet`), not all of them.
    """
    if len(query) > MAX_QUERY_CHARS:
        raise HistoryError(
            f"the search is {len(query)} characters long; search for at most {MAX_QUERY_CHARS} "
            "(a few distinctive words find a message faster)"
        )
    terms = unique_terms([t for t in parse_terms(query) if has_word_characters(t.text)])
    if not terms:
        shown = query if len(query) <= 40 else query[:40] + "…"
        raise HistoryError(f"nothing to search for in {shown!r}: include at least one word or number")
    if len(terms) > MAX_QUERY_TERMS:
        raise HistoryError(
            f"the search has {len(terms)} different words or phrases; use at most {MAX_QUERY_TERMS} "
            "(every one must match, so a few distinctive words are enough)"
        )
    return (" OR " if any_term else " ").join(term.to_fts() for term in terms)


def snippet(text: str, any_term_query: str, tokenizer: str) -> MarkedSnippet:
    """A snippet of a long ``text`` (the words around the first match, and where they matched).

    Pieces of :data:`SNIPPET_PIECE_CHARS` go one at a time into an in-memory FTS5
    table with the history's ``tokenizer``, so matching and marking are FTS5's
    own, and a piece matching ``any_term_query`` (:func:`fts_query` with
    ``any_term=True``) gives the snippet; a word cut by a piece's edge may go
    unmarked. Without a match: the start of the text.
    """
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        conn.execute(f"CREATE VIRTUAL TABLE piece USING fts5(content, tokenize = '{tokenizer}')")
        for start in range(0, len(text), SNIPPET_PIECE_CHARS):
            piece = text[start : start + SNIPPET_PIECE_CHARS]
            marks = _free_marks(piece)
            conn.execute("DELETE FROM piece")
            conn.execute("INSERT INTO piece (rowid, content) VALUES (1, ?)", [piece])
            row = conn.execute(
                f"SELECT snippet(piece, {SNIPPET_ARGS}) FROM piece WHERE piece MATCH ?",
                [*marks, any_term_query],
            ).fetchone()
            if row is not None:
                found = str(row[0])
                return _unmarked(found if start == 0 or found.startswith("…") else "…" + found, marks)
    finally:
        conn.close()
    return MarkedSnippet(" ".join(text[:200].split()) + "…")


def search_messages(
    db: sqlite_utils.Database, query: str, limit: int, order: str, window: int, marked: bool = False,
    per_conversation: bool = False,
) -> list[SearchHit] | list[MarkedHit]:
    """Messages containing every word of ``query`` (:meth:`HistoryStore.search <.store.HistoryStore.search>`).

    ``order="relevance"`` ranks by BM25 among the ``window`` most
    recent matching messages (all of them when there are fewer) — ranking every
    match of a very common word costs ~3 µs a row, 300 ms at 100k messages.
    ``order="recent"`` is newest first. Each hit's snippet has its matches in ``[brackets]``,
    or, ``marked``, is a :class:`MarkedHit` (the text, and where it matched). ``per_conversation``: of the
    ``limit`` hits, only each conversation's best, the one a list of conversations shows (the chat app's
    sidebar): the others' snippets, a query of the index each, were made to be dropped.
    """
    match = fts_query(query)
    floor = 0
    if order == "relevance":
        row = db.execute(
            "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? ORDER BY rowid DESC LIMIT 1 OFFSET ?",
            [match, window - 1],
        ).fetchone()
        floor = row[0] if row else 0
    order_by = "messages_fts.rank, m.id DESC" if order == "relevance" else "messages_fts.rowid DESC"
    # No snippet() here: SQLite would make one for every match it sorts, not only the `limit` shown.
    rows = db.execute(
        f"""
        SELECT m.id, m.conversation_id, c.title, m.role, m.created
        FROM messages_fts
        JOIN messages m ON m.id = messages_fts.rowid
        JOIN conversations c ON c.id = m.conversation_id
        WHERE messages_fts MATCH ? AND messages_fts.rowid >= ?
        ORDER BY {order_by}
        LIMIT ?
        """,
        [match, floor, limit],
    ).fetchall()
    if per_conversation:
        best: dict[int, Any] = {}
        for row in rows:
            best.setdefault(row[1], row)  # rows come best first: each conversation's first is its best
        rows = list(best.values())
    snippets = [marked_snippet(db, row[0], match, query) for row in rows]  # each made once, in one form
    if marked:
        return [MarkedHit(*row, shown.text, shown.found) for row, shown in zip(rows, snippets)]
    return [SearchHit(*row, shown.bracketed()) for row, shown in zip(rows, snippets)]


def message_snippet(db: sqlite_utils.Database, message_id: int, match: str, query: str) -> str:
    """FTS5's snippet of a message, matches in ``[brackets]`` (:func:`marked_snippet`)."""
    return marked_snippet(db, message_id, match, query).bracketed()


def marked_snippet(db: sqlite_utils.Database, message_id: int, match: str, query: str) -> MarkedSnippet:
    """FTS5's snippet of a message and where it matched; a long one's from :func:`snippet` (bounded cost)."""
    found = db.execute("SELECT content FROM messages WHERE id = ?", [message_id]).fetchone()
    if found is None:  # deleted by another process since the search found it
        return MarkedSnippet("")
    content = found[0] if isinstance(found[0], str) else str(found[0])  # another program's number: as text
    if len(content) > SNIPPET_PIECE_CHARS:
        content = search_words(content)  # the words the index holds (FTS5's snippet reads them too)
        return snippet(content, fts_query(query, any_term=True), FTS_TOKENIZER)
    marks = _free_marks(content)  # the index holds its search_words: the same characters, or fewer
    row = db.execute(
        f"SELECT snippet(messages_fts, {SNIPPET_ARGS}) FROM messages_fts WHERE messages_fts MATCH ? AND rowid = ?",
        [*marks, match, message_id],
    ).fetchone()
    return _unmarked(str(row[0]), marks) if row else MarkedSnippet("")

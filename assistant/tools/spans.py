"""Candidate entity spans found by code, so the model only has to *type* them.

Small models cannot be trusted to copy spans out of a text (they paraphrase,
misspell and invent offsets), but they are decent at judging what a given span
is. So spans come from the text itself — runs of capitalised words, with the
connectors names use ("Bank *of* England", "Leonardo *da* Vinci") — and dates
from patterns. Every span is a slice of the input by construction, which is
what lets the NER tool promise that ``text[start:end] == entity.text``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORD = re.compile(r"[^\W_](?:[\w'’\-.]*[^\W_])?\.?")
"""A word: letters/digits, inner apostrophes, hyphens and dots ("Al-Sayed", "U.S."), optional final dot."""

CONNECTORS = frozenset(
    "of de da del della di du des van von der den la le al bin ibn for y".split()
)
"""Lower-case words allowed *inside* a name when a capitalised word follows."""

HEAD_NOUNS = frozenset(
    """university institute college school academy museum bank ministry department council board
    society church cathedral republic kingdom state states city county province district gulf bay
    isle isles island islands lake cape mount river sea duke earl house court chamber league union
    federation association foundation centre center office bureau agency commission order army""".split()
)
"""Heads of names that take "of" ("Bank of England"); with any other left part of two or more words,
"of" separates two names instead ("Ahmed Khan of Stanford University")."""

TITLES = frozenset(
    """dr mr mrs ms mx prof professor president chef coach sir dame king queen prince princess pope
    general captain senator minister mayor judge lord lady uncle aunt doctor nurse officer
    chancellor governor sheikh rabbi""".split()
)
"""Honorifics stripped from the front of a candidate ("Dr. Priya Raman" -> "Priya Raman")."""

STOPWORDS = frozenset(
    """a an the this that these those my your his her its our their some any every each no all both
    i you he she it we they me him us them who whom whose which what where when why how
    and or but nor so yet if then than because although though while whereas unless until since
    as at by in on to from with without into onto upon over under after before during despite
    about above below between among through across against around near beyond within along
    is are was were be been am do does did has have had will would can could shall should may might must
    not yes also just only even still already again never always often sometimes soon now here there
    today tonight yesterday tomorrow however meanwhile moreover furthermore therefore instead
    otherwise perhaps maybe indeed finally first second third next last once later earlier
    please thanks thank hello hi dear oh well like""".split()
)
"""Common words that are capitalised only because they start a sentence or a heading."""

WEEKDAYS = frozenset("monday tuesday wednesday thursday friday saturday sunday".split())
MONTHS = frozenset(
    "january february march april may june july august september october november december".split()
)

_DATE_PATTERNS = [
    # 12 March 2024, 12 Mar 2024, March 12, 2024, March 2024
    re.compile(
        r"\b(?:\d{1,2}\s+)?(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
        r"(?:\s+\d{1,2}(?:st|nd|rd|th)?,?)?(?:\s+\d{4})?\b"
    ),
    re.compile(r"\b\d{4}-\d{2}-\d{2}\b"),  # ISO dates
    re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b"),
    re.compile(r"\b(?:1[5-9]|20)\d{2}s?\b"),  # years 1500-2099, decades "1990s"
    re.compile(r"\b(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b"),
]


@dataclass(frozen=True)
class Span:
    """A slice of the input: ``text == source[start:end]``."""

    start: int
    end: int
    text: str
    kind: str = "name"  # "name" (capitalised run) or "date" (matched a date pattern)


def _is_capitalised(word: str) -> bool:
    if word[0].isupper():
        return True
    # iPhone, eBay: a lower-case letter then an upper-case one
    return len(word) > 1 and word[0].islower() and word[1].isupper()


def _bare(word: str) -> str:
    return word.rstrip(".").lower()


def _is_stopword(word: str) -> bool:
    """A common word, unless written in capitals as an acronym ("US", "IT")."""
    core = word.rstrip(".")
    return core.lower() in STOPWORDS and not (len(core) > 1 and core.isupper())


def _words(text: str) -> list[tuple[int, int, str]]:
    words = []
    for match in _WORD.finditer(text):
        start, end = match.span()
        word = match.group()
        for suffix in ("'s", "’s"):  # possessive: "Murakami's" -> "Murakami"
            if word.endswith(suffix) and len(word) > len(suffix):
                end -= len(suffix)
                word = word[: -len(suffix)]
                break
        words.append((start, end, word))
    return words


def _only_spaces_between(text: str, end: int, start: int) -> bool:
    gap = text[end:start]
    return 0 < len(gap) <= 2 and gap.strip(" \t") == ""


def _joins(words: list[tuple[int, int, str]], run: list[int]) -> bool:
    """Whether a connector after ``run`` continues one name rather than starting another."""
    named = [words[i][2] for i in run if not (_is_stopword(words[i][2]) or _bare(words[i][2]) in TITLES)]
    return len(named) <= 1 or _bare(named[-1]) in HEAD_NOUNS


def _ends_sentence(word: str) -> bool:
    """A trailing dot ends the run unless the word is a title or an initial ("Dr.", "J.")."""
    return word.endswith(".") and _bare(word) not in TITLES and len(word.rstrip(".")) > 1 and "." not in word[:-1]


def name_spans(text: str) -> list[Span]:
    """Runs of capitalised words (with inner connectors), minus leading stop words and titles."""
    words = _words(text)
    spans: list[Span] = []
    i = 0
    while i < len(words):
        if not _is_capitalised(words[i][2]):
            i += 1
            continue
        run = [i]
        j = i
        while not _ends_sentence(words[j][2]) and j + 1 < len(words):
            nxt = j + 1
            if not _only_spaces_between(text, words[j][1], words[nxt][0]):
                break
            if _is_capitalised(words[nxt][2]):
                run.append(nxt)
                j = nxt
                continue
            # a connector continues the run only if a capitalised word follows it
            k = nxt
            while k < len(words) and words[k][2] in CONNECTORS and k + 1 < len(words):
                if not _only_spaces_between(text, words[k][1], words[k + 1][0]):
                    break
                k += 1
            if k > nxt and _is_capitalised(words[k][2]) and words[k - 1][2] in CONNECTORS and _joins(words, run):
                run.extend(range(nxt, k + 1))
                j = k
                continue
            break
        i = j + 1
        # strip leading stop words and titles (keep a title only if nothing follows it)
        while run and (_is_stopword(words[run[0]][2]) or _bare(words[run[0]][2]) in TITLES) and len(run) > 1:
            run.pop(0)
        while run and words[run[0]][2] in CONNECTORS:
            run.pop(0)
        while run and words[run[-1]][2] in CONNECTORS:
            run.pop()
        if not run:
            continue
        first, last = words[run[0]], words[run[-1]]
        if len(run) == 1 and (_is_stopword(first[2]) or _bare(first[2]) in TITLES):
            continue
        start, end = first[0], last[1]
        if text[end - 1] == "." and not _keeps_dot(text[start:end]):
            end -= 1
        spans.append(Span(start, end, text[start:end]))
    return spans


def _keeps_dot(span_text: str) -> bool:
    """Abbreviations keep their final dot ("U.S.", "Inc."); a sentence's full stop does not."""
    last = span_text.split()[-1]
    return last.count(".") > 1 or last.rstrip(".").lower() in {"inc", "ltd", "co", "corp", "jr", "sr", "st"}


def date_spans(text: str) -> list[Span]:
    """Dates by pattern (weekdays, months with day/year, years, ISO and slash dates), longest first."""
    found: list[Span] = []
    for pattern in _DATE_PATTERNS:
        for match in pattern.finditer(text):
            start, end = match.span()
            value = match.group().strip()
            if not value:
                continue
            lowered = value.lower()
            if lowered in MONTHS - {"march", "may"} or lowered in WEEKDAYS or any(c.isdigit() for c in value) or " " in value:
                found.append(Span(start, start + len(value), value, kind="date"))
    return _without_overlaps(found)


def _without_overlaps(spans: list[Span]) -> list[Span]:
    """Keep the longest spans; drop any span overlapping one already kept."""
    kept: list[Span] = []
    for span in sorted(spans, key=lambda s: (-(s.end - s.start), s.start)):
        if all(span.end <= k.start or span.start >= k.end for k in kept):
            kept.append(span)
    return sorted(kept, key=lambda s: s.start)


def candidate_spans(text: str, dates: bool = True) -> list[Span]:
    """Name runs and (optionally) dates, non-overlapping, in text order.

    A name run that is only a weekday or a month ("Tuesday") is a date, never a name.
    """
    date_list = date_spans(text) if dates else []
    names = [
        s
        for s in name_spans(text)
        if not (len(s.text.split()) == 1 and _bare(s.text) in WEEKDAYS | MONTHS and s.text != "May")
    ]
    names = [s for s in names if all(s.end <= d.start or s.start >= d.end for d in date_list)]
    return sorted([*names, *date_list], key=lambda s: s.start)

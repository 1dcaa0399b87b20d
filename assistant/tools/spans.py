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
    federation association foundation centre center office bureau agency commission order army
    organisation organization""".split()
)
"""Heads of names that take "of" ("Bank of England"); after any other word "of" separates two
names ("Ahmed Khan of Stanford University", "Porto of Portugal")."""

TITLES = frozenset(
    """dr mr mrs ms mx prof professor president chef coach sir dame king queen prince princess pope
    general captain senator minister mayor judge lord lady uncle aunt doctor nurse officer
    chancellor governor sheikh rabbi prime premier director chairman chairwoman secretary
    ambassador speaker spokesman spokeswoman colonel lieutenant major commander sergeant admiral
    deputy vice chief""".split()
)
"""Honorifics and offices, stripped from the front of a candidate ("Dr. Priya Raman" -> "Priya
Raman") and splitting a run where they occur inside it ("Security Council President Tono Eitel"
-> "Security Council", "Tono Eitel"): a title is followed by a name, it is not part of it."""

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
    please thanks thank hello hi dear oh well like former ex one two three four five six seven
    eight nine ten""".split()
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
    # Arabic names: "al-Aqsa", "Zine al-Abidine" (a lower-case particle, a hyphen, a capital)
    particle, hyphen, rest = word.partition("-")
    if hyphen and particle in CONNECTORS | {"el"} and rest[:1].isupper():
        return True
    # iPhone, eBay: a lower-case letter then an upper-case one
    return len(word) > 1 and word[0].islower() and word[1].isupper()


def _bare(word: str) -> str:
    return word.rstrip(".").lower()


def _is_title(word: str) -> bool:
    """An honorific or office, also hyphenated ("Lieutenant-Colonel", "Vice-President")."""
    return all(part in TITLES for part in _bare(word).split("-"))


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


_LINE_BREAK = re.compile(r"[ \t]*\r?\n[ \t]*")
"""One line break and the indentation around it: where a hard-wrapped line goes on ("Richard" / "Stallman")."""


def _only_spaces_between(text: str, end: int, start: int) -> bool:
    """Whether two words are adjacent within a name: spaces only, an ampersand ("Marks & Spencer"), or
    one line break (a name wrapped onto the next line; the NER tool hands over a multi-line sentence
    only for a hard-wrapped paragraph, :func:`assistant.tools.text.sentence_spans`)."""
    gap = text[end:start]
    if (0 < len(gap) <= 2 and gap.strip(" \t") == "") or gap.strip(" \t") == "&" and len(gap) <= 3:
        return True
    return _LINE_BREAK.fullmatch(gap) is not None


def one_line(sentence: str, spans: list[Span]) -> tuple[str, list[Span]]:
    """``sentence`` with each line break (and the indentation around it) one space, and ``spans``
    moved to match: how a hard-wrapped sentence and its names are shown to a model."""
    breaks = list(_LINE_BREAK.finditer(sentence))
    if not breaks:
        return sentence, spans
    shown = _LINE_BREAK.sub(" ", sentence)

    def moved(position: int) -> int:
        return position - sum(len(m.group()) - 1 for m in breaks if m.end() <= position)

    result = []
    for span in spans:
        start, end = moved(span.start), moved(span.end)
        result.append(Span(start, end, shown[start:end], span.kind))
    return shown, result


def _joins(words: list[tuple[int, int, str]], run: list[int], connectors: list[str]) -> bool:
    """Whether ``connectors`` after ``run`` continue one name rather than start another.

    "of"/"for" join only after a head noun ("Bank of England", not "Porto of
    Portugal"); the particles of personal names ("da", "van") join after one word.
    """
    named = [words[i][2] for i in run if not (_is_stopword(words[i][2]) or _is_title(words[i][2]))]
    if not named:
        return False
    if _bare(named[-1]) in HEAD_NOUNS:
        return True
    return len(named) <= 1 and not {"of", "for"} & set(connectors)


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
            joined = [w[2] for w in words[nxt:k]]
            if k > nxt and _is_capitalised(words[k][2]) and words[k - 1][2] in CONNECTORS and _joins(words, run, joined):
                run.extend(range(nxt, k + 1))
                j = k
                continue
            break
        i = j + 1
        for part in _split_at_titles(words, run):
            span = _span_of(text, words, part)
            if span is not None:
                spans.append(span)
    return spans


def _split_at_titles(words: list[tuple[int, int, str]], run: list[int]) -> list[list[int]]:
    """The run's parts between title words ("U.S. President Bill Clinton" -> "U.S.", "Bill Clinton")."""
    parts: list[list[int]] = [[]]
    for index in run:
        if _is_title(words[index][2]) and index != run[-1]:
            if parts[-1]:
                parts.append([])
        else:
            parts[-1].append(index)
    return [part for part in parts if part]


def _span_of(text: str, words: list[tuple[int, int, str]], run: list[int]) -> Span | None:
    """The candidate for a run: without leading stop words, weekdays and titles, or connectors at its ends."""
    while len(run) > 1 and (
        _is_stopword(words[run[0]][2]) or _is_title(words[run[0]][2]) or _bare(words[run[0]][2]) in WEEKDAYS
    ):
        run = run[1:]
    while run and words[run[0]][2] in CONNECTORS:
        run = run[1:]
    while run and words[run[-1]][2] in CONNECTORS:
        run = run[:-1]
    if not run:
        return None
    first, last = words[run[0]], words[run[-1]]
    if len(run) == 1 and (_is_stopword(first[2]) or _is_title(first[2])):
        return None
    start, end = first[0], last[1]
    if text[end - 1] == "." and not _keeps_dot(text[start:end]):
        end -= 1
    return Span(start, end, text[start:end])


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

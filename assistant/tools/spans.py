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
import unicodedata
from dataclasses import dataclass
from typing import Callable

from .text import ABBREVIATED_TITLES


def _mark_class() -> str:
    """The combining marks (categories Mn, Mc, Me) of the scripts written with them, as a regex class body.

    Python's ``\\w`` has no combining marks, so a name in decomposed form ("Zu\\u0308rich", NFD, as
    macOS writes file names) or in an Indic script would end at its first accent or vowel sign.
    Latin, Greek, Cyrillic, Hebrew, Arabic, the Indic scripts, Thai and the combining blocks
    lie below U+2000, plus the combining marks for symbols and half marks.
    """
    ranges: list[tuple[int, int]] = []
    for code in [*range(0x300, 0x2000), *range(0x20D0, 0x2100), *range(0xFE20, 0xFE30)]:
        if unicodedata.category(chr(code)).startswith("M"):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    return "".join(f"\\u{a:04x}-\\u{b:04x}" if a != b else f"\\u{a:04x}" for a, b in ranges)


_MARK = _mark_class()
_WORD = re.compile(rf"[^\W_][{_MARK}]*(?:[\w'’\-.{_MARK}]*[^\W_][{_MARK}]*)?\.?")
"""A word: letters/digits with their combining marks, inner apostrophes, hyphens and dots ("Al-Sayed",
"U.S."), optional final dot."""

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

TITLES = ABBREVIATED_TITLES | frozenset(
    """professor president chef coach sir dame king queen prince princess pope
    general captain senator minister mayor judge lord lady uncle aunt doctor nurse officer
    chancellor governor sheikh rabbi prime premier director chairman chairwoman secretary
    ambassador speaker spokesman spokeswoman colonel lieutenant major commander sergeant admiral
    deputy vice chief""".split()
)
"""Honorifics and offices, stripped from the front of a candidate ("Dr. Priya Raman" -> "Priya
Raman") and splitting a run where they occur inside it ("Security Council President Tono Eitel"
-> "Security Council", "Tono Eitel"): a title is followed by a name, it is not part of it.
Abbreviated ones too ("Gen. Patton", "Sen. Warren", "Rev. Jackson"): their dot ends no sentence."""

LONGEST_NAME_WORD = 64
"""Characters in the longest word a name may hold (Welsh place names reach 58). A longer "word" is a
base64 blob, a hash or a long identifier: never a candidate, whatever its first letter."""

NAME_PREFIXES = frozenset("st mt ft".split())
"""Abbreviations that begin a name ("St. Louis", "Mt. Everest", "Ft. Worth"): the dot after one that
starts a run ends neither the run nor the sentence; after a name ("Main St.") it may end both."""

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


def _cased(names: str) -> str:
    """A regex of names as written in a sentence ("March") or in a text all in capitals ("MARCH"), never
    in lower case: "may" and "march" are words."""
    return f"(?:{names}|{names.upper()})"


_MONTH_NAME = _cased(
    r"Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?"
    r"|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?"
)
"""A month's name or its abbreviation, whole: not the "Mar" of "Market 2024" nor the "Jan" of "Janesville"."""

_DATE_PATTERNS = [
    # 12 March 2024, 12 Mar 2024, March 12, 2024, March 2024
    re.compile(
        rf"\b(?:\d{{1,2}}\s+)?{_MONTH_NAME}\b\.?"
        r"(?:\s+\d{1,2}(?:st|nd|rd|th)?,?)?(?:\s+\d{4})?\b"
    ),
    # the 3rd of May, 12 of March 2024
    re.compile(
        r"\b\d{1,2}(?:st|nd|rd|th)?\s+of\s+(?:January|February|March|April|May|June|July|August|September"
        r"|October|November|December)\b(?:,?\s+\d{4}\b)?"
    ),
    re.compile(r"\b\d{4}-\d{2}-\d{2}\b"),  # ISO dates
    re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b"),
    re.compile(r"\b(?:1[5-9]|20)\d{2}s?\b"),  # years 1500-2099, decades "1990s"
    re.compile(rf"\b{_cased('Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday')}\b"),
]


@dataclass(frozen=True)
class Span:
    """A slice of the input: ``text == source[start:end]``."""

    start: int
    end: int
    text: str
    kind: str = "name"
    """"name" (a capitalised run), "date" (matched a date pattern) or "time" (a time of day)."""


def _is_capitalised(word: str) -> bool:
    """Whether ``word`` starts a name or goes on with one (a capital, "al-" + capital, "iPhone")."""
    if len(word) > LONGEST_NAME_WORD:
        return False
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


_SPACE = r"(?:[^\S\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]|\u200b)"
"""One horizontal space of any kind: a no-break space ("New\u00a0York", common in text copied from web
pages and in French), a narrow or thin space, or a zero-width space, as well as a plain space or tab."""
_GAP = re.compile(rf"{_SPACE}{{1,2}}|{_SPACE}?&{_SPACE}?")
"""What may stand between two words of one name on a line: a space or two, or an ampersand ("Marks & Spencer")."""
_LINE_BREAK = re.compile(rf"{_SPACE}*\r?\n{_SPACE}*")
"""One line break and the indentation around it: where a hard-wrapped line goes on ("Richard" / "Stallman")."""


def _only_spaces_between(text: str, end: int, start: int) -> bool:
    """Whether two words are adjacent within a name: spaces only, an ampersand ("Marks & Spencer"), or
    one line break (a name wrapped onto the next line; the NER tool hands over a multi-line sentence
    only for a hard-wrapped paragraph, :func:`assistant.tools.text.sentence_spans`)."""
    gap = text[end:start]
    return _GAP.fullmatch(gap) is not None or _LINE_BREAK.fullmatch(gap) is not None


_ODD_SPACE = re.compile(r"(?![ \t])" + _SPACE)
"""A horizontal space other than a plain space or tab (no-break, thin, zero-width)."""


def one_line(sentence: str, spans: list[Span]) -> tuple[str, list[Span]]:
    """``sentence`` with each line break (and the indentation around it) one space, and ``spans``
    moved to match: how a hard-wrapped sentence and its names are shown to a model.

    A no-break, thin or zero-width space is shown as a plain one (one character for one, so no
    offset moves): the model reads "New York" as it reads it elsewhere, whatever the input's spaces."""
    shown = _ODD_SPACE.sub(" ", sentence)
    breaks = list(_LINE_BREAK.finditer(shown))
    if not breaks:
        if shown == sentence:
            return sentence, spans
        return shown, [Span(s.start, s.end, shown[s.start : s.end], s.kind) for s in spans]
    shown = _LINE_BREAK.sub(" ", shown)

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


def _headline_stopword(words: list[tuple[int, int, str]]) -> Callable[[str], bool] | None:
    """For text whose every word starts with a capital (a headline: "Obama Visits Paris With Merkel",
    or all in capitals), the test for a stop word there; None for ordinary text.

    There capitals say nothing, so a stop word is the common word and ends a run instead of joining
    it. In text all in capitals even "IT" is the pronoun ("US" stays a candidate); in title case a
    word in capitals is still an acronym (:func:`_is_stopword`).
    """
    cased = [word for _, _, word in words if any(c.isupper() or c.islower() for c in word)]
    if len(cased) < 2 or any(word[0].islower() for word in cased):
        return None
    if any(c.islower() for word in cased for c in word):
        return _is_stopword
    return lambda word: _bare(word) in STOPWORDS and _bare(word) != "us"


def _starts_name(words: list[tuple[int, int, str]], run: list[int]) -> bool:
    """Whether the run's last word is a name prefix ("St.") with only stop words or titles before it."""
    *before, last = run
    return _bare(words[last][2]) in NAME_PREFIXES and all(
        _is_stopword(words[k][2]) or _is_title(words[k][2]) for k in before
    )


def name_spans(text: str) -> list[Span]:
    """Runs of capitalised words (with inner connectors), minus leading stop words and titles.

    In a headline every word is capitalised, so there a stop word ends a run instead of joining
    it: "BARACK OBAMA VISITED PARIS WITH ANGELA MERKEL" is two runs, not one sentence-long name.
    """
    words = _words(text)
    common = _headline_stopword(words)
    spans: list[Span] = []
    i = 0
    while i < len(words):
        if not _is_capitalised(words[i][2]) or (common is not None and common(words[i][2])):
            i += 1
            continue
        run = [i]
        j = i
        while j + 1 < len(words) and not (_ends_sentence(words[j][2]) and not _starts_name(words, run)):
            nxt = j + 1
            if not _only_spaces_between(text, words[j][1], words[nxt][0]):
                break
            if common is not None and common(words[nxt][2]):
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
    for position, index in enumerate(run):
        # "Martin Luther King Jr.": a title word between a name and its suffix is that name's
        suffixed = bool(parts[-1]) and position + 1 < len(run) and _bare(words[run[position + 1]][2]) in {"jr", "sr"}
        if _is_title(words[index][2]) and index != run[-1] and not suffixed:
            if parts[-1]:
                parts.append([])
        else:
            parts[-1].append(index)
    return [part for part in parts if part]


def _span_of(text: str, words: list[tuple[int, int, str]], run: list[int]) -> Span | None:
    """The candidate for a run: without leading stop words, titles and weekdays that are dates there, or
    connectors at its ends."""
    while len(run) > 1 and (
        _is_stopword(words[run[0]][2]) or _is_title(words[run[0]][2]) or _leads_a_date(text, words[run[0]])
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


def _leads_a_date(text: str, word: tuple[int, int, str]) -> bool:
    """Whether a run's first word is a weekday that is a date there, so not part of the name after it
    ("On Tuesday Obama said" -> "Obama"; "Tuesday Weld starred" is one name: :func:`_month_or_day_is_date`)."""
    start, _, value = word
    bare = value.rstrip(".")
    return bare.lower() in WEEKDAYS and _month_or_day_is_date(text, start, start + len(bare))


def _keeps_dot(span_text: str) -> bool:
    """Abbreviations keep their final dot ("U.S.", "Inc."); a sentence's full stop does not."""
    last = span_text.split()[-1]
    return last.count(".") > 1 or last.rstrip(".").lower() in {"inc", "ltd", "co", "corp", "jr", "sr", "st"}


DATE_CONTEXT = frozenset(
    """in since until till by early late mid during throughout last next this every each before""".split()
)
"""Words that make the month name or number after them a date ("in March", "since May", "mid-April",
"in 2001"): with a day or a year beside it a month name is a date anyway ("3 May 2024", "March 2023")."""

OF_A_MONTH = frozenset("end beginning start middle rest half ides".split())
"""Words before "of" that make the month after it a date ("the end of May"; "the 3rd of May" is a pattern)."""

_BEFORE_MONTH = re.compile(r"(?:(\w+)\s+of|(\w+))(?:\s+|-)\Z")
"""The word before a month name or a year (as in "in March", "mid-March"), or the word before its "of"."""


WEEKDAY_CONTEXT = DATE_CONTEXT | {"on"}
"""Words that make the weekday after them a date even before a name ("On Tuesday Obama said", "Last
Friday Mitchell won"): the preposition of days, and the words that say date before a month."""


def _month_or_day_is_date(text: str, start: int, end: int) -> bool:
    """Whether the weekday or bare month name at ``text[start:end]`` (no day or year with it) is a date.

    Not when a capitalised word follows it on the line: "April Ryan", "June Carter", "Tuesday
    Weld" and "The August Review" are names, and "in April Smith's book" is more likely one
    than not. A weekday is rarely a first name, so for one a word before that says date
    (:data:`WEEKDAY_CONTEXT`) outweighs the name after it ("On Tuesday Obama said"); a month
    often is one ("Until May Ann stayed"). Otherwise "March" and "May" (a verb, a modal, a
    name: "Theresa May") are dates only after a word that says so ("in March", "since May",
    "the end of May"), the other months and the weekdays always ("April showers", "See you Friday").
    """
    word = text[start:end].lower()
    before = _BEFORE_MONTH.search(text, max(0, start - 40), start)  # the word is near: a bounded look back
    said = False
    if before is not None:
        if before.group(1) is not None:  # "… of March"
            said = before.group(1).lower() in OF_A_MONTH
        else:
            said = before.group(2).lower() in (WEEKDAY_CONTEXT if word in WEEKDAYS else DATE_CONTEXT)
    if said and word in WEEKDAYS:
        return True
    following = _WORD.match(text, end + 1) if text[end : end + 1] in (" ", "\u00a0") else None
    if following is not None:
        after = following.group()
        # "In June President Obama", "in May I", "June July August": no name goes on after these
        if _is_capitalised(after) and not (
            _is_stopword(after) or _is_title(after) or _bare(after) in MONTHS | WEEKDAYS
        ):
            return False
    return said or word not in ("march", "may")


STREET_WORDS = frozenset(
    "street st avenue ave road rd boulevard blvd lane ln drive dr way place square terrace parkway highway".split()
)
"""Last words of a street's name: the number before "Pennsylvania Avenue" is a house number, not a year."""

COUNTED = frozenset(
    """people persons men women children soldiers troops workers employees members students residents
    visitors fans voters votes points goals runs yards metres meters km kilometres kilometers miles feet
    acres hectares tonnes tons kg kilograms pounds dollars euros yen rupees pesos calories words pages
    copies units cars homes houses jobs cases deaths years days hours minutes seconds""".split()
)
"""Things counted: a number before one is a quantity ("2000 points", "1500 years ago"), not a year."""


def _year_is_date(text: str, start: int, end: int) -> bool:
    """Whether the four digits of a year pattern at ``text[start:end]`` are a year.

    Not a house number ("1600 Pennsylvania Avenue") nor a count ("2000 points"), unless
    a word before says date ("in 2001 Ford Street closed").
    """
    before = _BEFORE_MONTH.search(text, max(0, start - 40), start)
    if before is not None and before.group(2) is not None and before.group(2).lower() in DATE_CONTEXT:
        return True
    after = _words(text[end : end + 120])  # a street name is a few words: a bounded look ahead
    if not after or not _only_spaces_between(text, end, end + after[0][0]):
        return True
    first = after[0][2]
    if _bare(first) in COUNTED:
        return False
    names = []
    for _, _, word in after:
        if not _is_capitalised(word):
            break
        names.append(word)
    return not (names and len(names) <= 4 and any(_bare(word) in STREET_WORDS for word in names[1:]))


def date_spans(text: str) -> list[Span]:
    """Dates by pattern (weekdays, months with day/year, years, ISO and slash dates), longest first.

    A weekday or a month name alone is a date only where the words around it say so
    (:func:`_month_or_day_is_date`): "Tuesday Weld" and "April Ryan" are names.
    """
    found: list[Span] = []
    for pattern in _DATE_PATTERNS:
        for match in pattern.finditer(text):
            start, end = match.span()
            value = match.group().strip()
            if not value:
                continue
            lowered = value.lower()
            if lowered in MONTHS | WEEKDAYS:
                if not _month_or_day_is_date(text, start, start + len(value)):
                    continue
            elif not (any(c.isdigit() for c in value) or " " in value):
                continue
            elif value.isdigit() and not _year_is_date(text, start, start + len(value)):
                continue
            found.append(Span(start, start + len(value), value, kind="date"))
    return _without_overlaps(found)


def _without_overlaps(spans: list[Span]) -> list[Span]:
    """Keep the longest spans; drop any span overlapping one already kept."""
    kept: list[Span] = []
    for span in sorted(spans, key=lambda s: (-(s.end - s.start), s.start)):
        if all(span.end <= k.start or span.start >= k.end for k in kept):
            kept.append(span)
    return sorted(kept, key=lambda s: s.start)


_HOUR_12 = r"(?:1[0-2]|0?[1-9])"
_HOUR_24 = r"(?:[01]?\d|2[0-3])"
_AM_PM = r"\s?(?:[ap]\.m\.|[ap]m\b)"
_TIME_PATTERN = re.compile(
    rf"(?<![\w.:,])(?:{_HOUR_12}[:.][0-5]\d{_AM_PM}|{_HOUR_24}(?::[0-5]\d){{1,2}}\b|{_HOUR_12}{_AM_PM})",
    re.IGNORECASE,
)
"""Times of day: "10:30", "09:15:00", "10:30 pm", "10.30 am", "3pm", "10 a.m.". Whole numbers only:
not the "30 am" of "10.30 am" nor of "1.30 am", and no hour a clock lacks ("25 am", "24:10")."""


def time_spans(text: str) -> list[Span]:
    """Times of day by pattern, of kind "time": the pattern knows a time from a date, so the NER tool
    types a time only as a time (or none), never leaving SmolLM2 to guess between "date" and "time"."""
    return [Span(m.start(), m.end(), m.group(), kind="time") for m in _TIME_PATTERN.finditer(text)]


CASELESS_SAMPLE = 100_000
"""Characters of a text looked at by :func:`caseless_script`: enough to know its script, bounded."""


def caseless_script(text: str) -> str | None:
    """The script most of ``text``'s letters are in when it has no capital letters (Han, Arabic,
    Devanagari, Thai, ...), else None.

    Names are found by their capitals (:func:`name_spans`), so a text in such a script yields no
    candidate, and "no entities" would read as a finding about the text rather than a limit of
    the method: the NER tool says which it is. Decided by the letters of the first
    :data:`CASELESS_SAMPLE` characters: more letters without case than with.
    """
    cased = 0
    scripts: dict[str, int] = {}
    for char in text[:CASELESS_SAMPLE]:
        if not char.isalpha():
            continue
        if char.lower() != char.upper():
            cased += 1
            continue
        name = unicodedata.name(char, "")
        script = name.split(" ", 1)[0] if name else "unnamed"
        scripts[script] = scripts.get(script, 0) + 1
    if sum(scripts.values()) <= cased:
        return None
    script = max(scripts, key=lambda key: scripts[key])
    return {"CJK": "Han"}.get(script, script.title())


def candidate_spans(text: str, dates: bool = True, times: bool = False) -> list[Span]:
    """Name runs and (optionally) dates and times of day, non-overlapping, in text order.

    A name run that is only a weekday or a month ("Tuesday") is a date, never a name. Dates and
    times are candidates only when asked for (the NER tool asks for each when a requested type
    means it, DATE or TIME): without them ``--types TIME`` could never find "10:30", and with them
    always a DATE-only request would be offered times. Each keeps its kind ("date", "time"), which
    decides the only type it can have.
    """
    date_list = date_spans(text) if dates else []
    if times:
        date_list = _without_overlaps([*date_list, *time_spans(text)])
    names = [
        s
        for s in name_spans(text)
        if not (len(s.text.split()) == 1 and _bare(s.text) in WEEKDAYS | MONTHS and s.text != "May")
    ]
    names = [s for s in names if all(s.end <= d.start or s.start >= d.end for d in date_list)]
    return sorted([*names, *date_list], key=lambda s: s.start)

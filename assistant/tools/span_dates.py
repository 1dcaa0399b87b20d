"""Dates and times of day among the NER tool's candidate spans, by pattern (:mod:`assistant.tools.spans`).

A weekday or a month name alone is a date only where the words around it say so ("Tuesday Weld",
"April Ryan" and "Black Friday" are names), four digits a year only where they are no house number
or count, and a time of day no chapter and verse ("John 3:16").
"""

from __future__ import annotations

import bisect
import re
from typing import Callable

from .span_words import (
    _SPACE,
    _WORD,
    LONGEST_NAME_WORD,
    MONTH_NAMES,
    MONTHS,
    WEEKDAY_IN_ENGLISH,
    WEEKDAY_NAMES,
    WEEKDAYS,
    Span,
    _bare,
    _ends_sentence,
    _headline_stopword,
    _is_capitalised,
    _is_stopword,
    _is_title,
    _only_spaces_between,
    _words,
)
from .text import CHAPTER_AND_VERSE, SHORTENED_BOOK, shortened_book


def _cased(names: str) -> str:
    """A regex of names as written in a sentence ("March") or in a text all in capitals ("MARCH"), never
    in lower case: "may" and "march" are words."""
    return f"(?:{names}|{names.upper()})"


_MONTH_NAME = _cased(
    r"Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?"
    r"|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?"
)
"""A month's name or its abbreviation, whole: not the "Mar" of "Market 2024" nor the "Jan" of "Janesville"."""


def _names(capitalised: bool) -> str:
    """The months of :data:`~assistant.tools.span_words.MONTH_NAMES` written with a capital (German's) or without."""
    names = {name for names in MONTH_NAMES.values() for name in names.split() if name[0].isupper() == capitalised}
    return "|".join(sorted(names, key=len, reverse=True))


_OTHER_MONTH = _names(False)
"""A month's name as French, Spanish, Italian, Portuguese or Dutch write it, in lower case: a date with a day or a year."""
_CAPITAL_MONTH = _names(True)
"""A month's name as German writes it, capitalised: a date with a year, or after a day written "3." as German
writes it; "3 Mai Tais" in an English text is no date."""


def _other_dates(lower: str, capital: str, of: str, first: str) -> re.Pattern[str]:
    """The other languages' dates of months ``lower`` (written so after a day) and ``capital`` (German's, after
    "3." or before a year), with their glue word ``of`` ("de", "del") and French's "1``first``" ("1er");
    Spanish writes its first "1.º"."""
    return re.compile(
        rf"\b\d{{1,2}}(?:\.[º°ª]?|{first}|º|°|ª)?\s+(?:{of}\s+)?(?:{lower})\b(?:\s+(?:{of}l?\s+)?\d{{4}}\b)?"
        rf"|\b\d{{1,2}}\.\s+(?:{capital})\b(?:\s+\d{{4}}\b)?"
        rf"|\b(?:\d{{1,2}}\s+)?(?:{lower}|{capital})\s+(?:{of}l?\s+)?\d{{4}}\b"
    )


_OTHER_DATES = _other_dates(_OTHER_MONTH, _CAPITAL_MONTH, "de", "er")
_OTHER_DATES_IN_CAPITALS = _other_dates(_OTHER_MONTH.upper(), _CAPITAL_MONTH.upper(), "DE", "ER")
"""The other languages' dates in a text all in capitals ("LUNDI 3 MARS 2024"): read only in a text in one of those
languages, since "2 MARS ROVERS" in an English one is none."""

OTHER_WEEKDAYS = WEEKDAY_IN_ENGLISH
"""The weekdays of the other languages (:data:`~assistant.tools.span_words.WEEKDAY_NAMES`), in lower case, each with
the English day it is."""
_WEEKDAY_LANGUAGES = {
    word: {language for language, names in WEEKDAY_NAMES.items() if word in names.lower().replace("/", " ").split()}
    for word in OTHER_WEEKDAYS
}
"""Each of :data:`OTHER_WEEKDAYS` and the languages that write it (Spanish's and Portuguese's "sábado" is one word)."""

_OTHER_WEEKDAY = "|".join(
    sorted({form for name in OTHER_WEEKDAYS for form in (name, name[0].upper() + name[1:], name.upper())},
           key=len, reverse=True)
)
"""Another language's weekday in lower case ("lundi", "el lunes"), capitalised (German's "Montag", any at a
sentence's start: "Lundi 3 mars") or in capitals: whether it is a date there is :func:`_other_weekday_is_date`'s."""

_FIRST_LETTERS = "".join(sorted({form[0] for form in _OTHER_WEEKDAY.split("|")}))

WEEKDAY_GLUE = {
    "French": "le dès depuis chaque ce prochain dernier",
    "German": "am seit bis ab jeden diesen nächsten letzten kommenden vergangenen",
    "Spanish": "el los desde hasta cada este próximo pasado",
    "Italian": "il di da fino ogni questo prossimo scorso",
    "Portuguese": "na no nas nos às aos desde até cada neste nesta próximo próxima",
    "Dutch": "op sinds tot vanaf elke deze volgende vorige afgelopen",
}
"""The words before a weekday that make it a date in the languages of :data:`WEEKDAY_NAMES` (as "on", "since" and
"every" do in English, :data:`WEEKDAY_CONTEXT`): "am Montag Hans …" is a date, "Herr Freitag" a name."""

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
    # other languages: 3 mars 2024, 1er mars, 3. März 2024, 3 de marzo de 2024, 1º de março, marzo de 2024
    _OTHER_DATES,
    re.compile(r"\b\d{4}-\d{2}-\d{2}\b"),  # ISO dates
    re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b"),
    re.compile(r"\b(?:1[5-9]|20)\d{2}s?\b"),  # years 1500-2099, decades "1990s"
    re.compile(rf"\b{_cased('Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday')}\b"),
    # lundi, am Montag, el lunes, sexta-feira: a word's first letter first, as a long text's words mostly are none
    re.compile(rf"(?<![\w-])(?=[{_FIRST_LETTERS}])(?:{_OTHER_WEEKDAY})(?![\w-])"),
    _OTHER_DATES_IN_CAPITALS,
]


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


ORDINALS = frozenset(
    """first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth last next""".split()
)
"""Spelled ordinals: "Fourth Thursday" and "Next Friday" say which day, they name none."""

_ONE_SPACE = re.compile(_SPACE)


def _name_word_before(
    text: str, start: int, common: Callable[[str], bool] | None, first: bool = True, abbreviated: bool = False
) -> bool:
    """Whether the word one space before ``text[start]`` is a word of a name: capitalised, not ending a
    sentence, and no common word (``common``, else :func:`_is_stopword`), title, month, weekday, ordinal
    or word that says date ("early", "mid"); unless ``first``, not the first word of its sentence either.

    After such a word a chapter and verse is a reference, not a time ("John 3:16", :data:`_REFERENCE`),
    and, where it does not begin its sentence, a weekday or a month is the end of a name, not a date
    ("on Black Friday", "since Good Friday", "Cyber Monday deals", "by Black September"): a sentence's
    first word is capitalised whatever it is ("Starting Monday", "Effective Friday", "Happy Friday").
    In a headline, or text all in capitals, ``common`` is the headline's test
    (:func:`_headline_stopword`): there "ON" is the preposition, not an acronym. With ``abbreviated``
    the word may be written short, with a full stop (:func:`_abbreviated`), a title's abbreviation too:
    before a chapter and verse that is a book's name ("Rom. 8:28", "Matt. 5:3", "Gen. 1:1"), since no
    title stands before a number.
    """
    if start < 2 or _ONE_SPACE.fullmatch(text, start - 1, start) is None:
        return False
    low = max(0, start - 1 - LONGEST_NAME_WORD - 1)
    words = _words(text[low : start - 1])
    if not words or words[-1][1] != start - 1 - low or (words[-1][0] == 0 and low > 0):
        return False
    word = words[-1][2]
    if abbreviated and _abbreviated(word) and not (common or _is_stopword)(word):
        return _bare(word) not in MONTHS | WEEKDAYS | ORDINALS | WEEKDAY_CONTEXT
    if not _is_capitalised(word) or _ends_sentence(word) or (common or _is_stopword)(word) or _is_title(word):
        return False
    if not first and _SENTENCE_START.search(text, max(0, low + words[-1][0] - 40), low + words[-1][0]):
        return False
    return _bare(word) not in MONTHS | WEEKDAYS | ORDINALS | WEEKDAY_CONTEXT


SHORTENED = SHORTENED_BOOK


def _abbreviated(word: str) -> bool:
    """A capitalised word of a few letters shortened with a full stop ("Rom.", "Matt.", "Gen.")."""
    return shortened_book(word) and _is_capitalised(word[:-1])


_SENTENCE_START = re.compile(r"(?:\A|[.!?…:;\n])[\s\"'“‘(\[«¿¡*•-]*\Z")
"""What comes before a sentence's first word (quotes, brackets, a bullet): its start, or a sentence's end."""


_REFERENCE = CHAPTER_AND_VERSE
"""A chapter and verse after a name word cites a book ("John 3:16", "Genesis 1:1"); a time of day
(:data:`_TIME_PATTERN`) it could look like is one only where no name word stands before it."""
_REFERENCE_AFTER = re.compile(_SPACE + f"(?:{_REFERENCE.pattern})", re.IGNORECASE)


def _reference_at(text: str, start: int, common: Callable[[str], bool] | None) -> int | None:
    """The end of the chapter-and-verse reference at ``text[start]`` after a name word, or None; the word
    may be an abbreviation with its full stop ("Rom. 8:28")."""
    match = _REFERENCE.match(text, start)
    if match is None or not _name_word_before(text, start, common, abbreviated=True):
        return None
    return match.end()


def _month_or_day_is_date(text: str, start: int, end: int, common: Callable[[str], bool] | None = None) -> bool:
    """Whether the weekday or bare month name at ``text[start:end]`` (no day or year with it) is a date.

    Not when a capitalised word follows it on the line: "April Ryan", "June Carter", "Tuesday
    Weld" and "The August Review" are names, and "in April Smith's book" is more likely one
    than not. A weekday is rarely a first name, so for one a word before that says date
    (:data:`WEEKDAY_CONTEXT`) outweighs the name after it ("On Tuesday Obama said"); a month
    often is one ("Until May Ann stayed"). Otherwise "March" and "May" (a verb, a modal, a
    name: "Theresa May") are dates only after a word that says so ("in March", "since May",
    "the end of May"), the other months and the weekdays always ("April showers", "See you Friday").
    Nor after a name's word ("Black Friday", "Good Friday", "Black September"; :func:`_name_word_before`).
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
    if not said and _name_word_before(text, start, common, first=False):  # "on Black Friday"
        return False
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


_OTHER_DATE_AFTER = re.compile(rf",?[ \u00a0]+(?:{_OTHER_DATES.pattern})")
"""Another language's date right after a weekday: "Giovedì| 5 giugno 2025", "Samstag|, 3. März"."""

_GLUE_WORDS = {language: frozenset(words.split()) for language, words in WEEKDAY_GLUE.items()}
OTHER_DATE_WORDS = frozenset(OTHER_WEEKDAYS).union(*_GLUE_WORDS.values())
"""The other languages' weekdays and words that say date before one ("Jeden" Montag, "Letzten" Freitag)."""


def _other_weekday_is_date(
    text: str, start: int, end: int, common: Callable[[str], bool] | None, language: str | None
) -> bool:
    """Whether another language's weekday at ``text[start:end]`` (:data:`OTHER_WEEKDAYS`) is a date.

    Written in lower case it is ("lundi", "el lunes": no name is). Capitalised, never in an English text
    ("Placido Domingo", "Mardi Gras"); elsewhere it is after a word that says date in the text's language
    ("am Montag", :data:`WEEKDAY_GLUE`), never after a name's word ("Herr Freitag", "Santo Domingo"), and it
    is before a date of theirs ("Giovedì 5 giugno 2025", "Samstag, 3. März": a short text's language is often
    not sure). Else a text of no sure language is read as before (no date), and in one of the six languages it
    is a date in a text in its own ("Samstag kam Hans"; "Jeden Montag", a word that says date begins the
    sentence) and, in a text in another of them, as an English weekday is: not before a name's word ("Sabato
    Maria" may be a name) but before anything else.
    """
    word = text[start:end]
    if word.islower():
        return True
    if language == "English":
        return False
    languages = _WEEKDAY_LANGUAGES[word.lower()]
    before = _BEFORE_MONTH.search(text, max(0, start - 40), start)
    if language in WEEKDAY_NAMES and before is not None and before.group(2) is not None:
        if any(before.group(2).lower() in _GLUE_WORDS[own] for own in languages):
            return True
    if _name_word_before(text, start, common):  # a sentence's first word too: "Herr Freitag kam", "Plácido Domingo"
        return False
    if _OTHER_DATE_AFTER.match(text, end):  # "Giovedì 5 giugno", "Samstag, 3. März"
        return True
    if language not in WEEKDAY_NAMES:  # no sure language: read as before
        return False
    if language in languages:
        return True
    following = _WORD.match(text, end + 1) if text[end : end + 1] in (" ", "\u00a0") else None
    return following is None or not _is_capitalised(following.group()) or _is_stopword(following.group())


def date_spans(text: str, language: str | None = None) -> list[Span]:
    """Dates by pattern (weekdays, months with day/year, years, ISO and slash dates), longest first.

    A weekday or a month name alone is a date only where the words around it say so
    (:func:`_month_or_day_is_date`, :func:`_other_weekday_is_date`): "Tuesday Weld" and "April Ryan" are
    names. ``language`` is the whole text's (:func:`~assistant.tools.language_words.text_language`), or None.
    """
    headline: list[Callable[[str], bool] | None] = []  # worked out at the first bare month or weekday
    found: list[Span] = []
    for pattern in _DATE_PATTERNS:
        if pattern is _OTHER_DATES_IN_CAPITALS and language not in MONTH_NAMES:
            continue
        for match in pattern.finditer(text):
            start, end = match.span()
            value = match.group().strip()
            if not value:
                continue
            lowered = value.lower()
            if lowered in MONTHS | WEEKDAYS:
                if not headline:
                    headline.append(_headline_stopword(_words(text)))
                if not _month_or_day_is_date(text, start, start + len(value), headline[0]):
                    continue
            elif lowered in OTHER_WEEKDAYS:
                if not headline:
                    headline.append(_headline_stopword(_words(text)))
                if not _other_weekday_is_date(text, start, start + len(value), headline[0], language):
                    continue
            elif not (any(c.isdigit() for c in value) or " " in value):
                continue
            elif value.isdigit() and not _year_is_date(text, start, start + len(value)):
                continue
            found.append(Span(start, start + len(value), value, kind="date"))
    return _without_overlaps(found)


def _without_overlaps(spans: list[Span]) -> list[Span]:
    """Keep the longest spans; drop any span overlapping one already kept."""
    kept: list[Span] = []  # in text order, so only a new span's neighbours can overlap it
    starts: list[int] = []
    for span in sorted(spans, key=lambda s: (-(s.end - s.start), s.start)):
        index = bisect.bisect_left(starts, span.start)
        if (index > 0 and kept[index - 1].end > span.start) or (index < len(kept) and kept[index].start < span.end):
            continue
        kept.insert(index, span)
        starts.insert(index, span.start)
    return kept


_HOUR_12 = r"(?:1[0-2]|0?[1-9])"
_HOUR_24 = r"(?:[01]?\d|2[0-3])"
_AM_PM = r"\s?(?:[ap]\.m\.|[ap]m\b)"
_HOUR_WORD = rf"(?:{_HOUR_24}(?:[:.][0-5]\d)?\s?Uhr|{_HOUR_24}[:.][0-5]\d\s?uur)\b"
"""German's "Uhr" (o'clock only: "15 Uhr"), Dutch's "uur" with minutes ("14.30 uur"; "3 uur" is also three hours)."""
_TIME_PATTERN = re.compile(
    rf"(?<![\w.:,])(?:{_HOUR_WORD}|{_HOUR_24}h[0-5]\d\b"
    rf"|{_HOUR_12}[:.][0-5]\d{_AM_PM}|{_HOUR_24}(?::[0-5]\d){{1,2}}\b(?![.,]\d)"
    rf"|{_HOUR_12}{_AM_PM})",
    re.IGNORECASE,
)
"""Times of day: "10:30", "09:15:00", "10:30 pm", "10.30 am", "3pm", "10 a.m.", and as other languages write them
with their word for o'clock ("14:30 Uhr", "14.30 uur", "15 Uhr"; :data:`_HOUR_WORD`) or an "h" ("10h30"; "14h"
alone could be hours, as "a 2h drive"). Whole numbers only:
not the "30 am" of "10.30 am" nor of "1.30 am", nor the "3:31" of a race's "3:31.18", and no hour a
clock lacks ("25 am", "24:10")."""


def time_spans(text: str) -> list[Span]:
    """Times of day by pattern, of kind "time": the pattern knows a time from a date, so the NER tool
    types a time only as a time (or none), never leaving SmolLM2 to guess between "date" and "time".

    Not a chapter and verse after a name ("John 3:16", :func:`_reference_at`): that is part of the
    name (:func:`name_spans`). "at 3:16", "3:16 pm" and "Friday 3:16" are times."""
    found: list[Span] = []
    headline: list[Callable[[str], bool] | None] = []  # worked out at the first time that could be a verse
    for match in _TIME_PATTERN.finditer(text):
        if _REFERENCE.match(text, match.start()) is not None:
            if not headline:
                headline.append(_headline_stopword(_words(text)))
            if (_reference_at(text, match.start(), headline[0]) or 0) >= match.end():
                continue
        found.append(Span(match.start(), match.end(), match.group(), kind="time"))
    return found


def _leads_a_date(text: str, word: tuple[int, int, str]) -> bool:
    """Whether a run's first word is a weekday that is a date there, so not part of the name after it
    ("On Tuesday Obama said" -> "Obama"; "Tuesday Weld starred" is one name: :func:`_month_or_day_is_date`)."""
    start, _, value = word
    bare = value.rstrip(".")
    return bare.lower() in WEEKDAYS and _month_or_day_is_date(text, start, start + len(bare))

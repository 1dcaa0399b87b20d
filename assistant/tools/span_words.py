"""The words of a text as the NER candidate finder sees them (:mod:`assistant.tools.spans`).

What a word is (letters with their combining marks, inner apostrophes, hyphens and dots), which are
capitalised, common or titles, and which spaces join the words of one name: shared by the name runs
(:mod:`assistant.tools.spans`) and the dates and times (:mod:`assistant.tools.span_dates`).
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

TITLES = ABBREVIATED_TITLES | frozenset(
    """professor president chef coach sir dame king queen prince princess pope
    general captain senator minister mayor judge lord lady uncle aunt doctor nurse officer
    chancellor governor sheikh rabbi prime premier director chairman chairwoman secretary
    ambassador speaker spokesman spokeswoman colonel lieutenant major commander sergeant admiral
    deputy vice chief pastor reverend bishop archbishop cardinal imam emir sultan emperor empress
    duke duchess baron baroness detective inspector sheriff councillor councilman councilwoman
    congressman congresswoman madam mister""".split()
)
"""Honorifics and offices, stripped from the front of a candidate ("Dr. Priya Raman" -> "Priya
Raman") and splitting a run where they occur inside it ("Security Council President Tono Eitel"
-> "Security Council", "Tono Eitel"): a title is followed by a name, it is not part of it.
Abbreviated ones too ("Gen. Patton", "Sen. Warren", "Rev. Jackson"): their dot ends no sentence."""

OFFICE_WORDS = frozenset(
    """executive justice constable financial operating technology information marketing medical
    investment economist editor engineer scientist whip""".split()
)
"""Words that make an office only after a title ("Chief Executive", "Chief Justice", "Chief Financial
Officer"): there they are the title's, so "Chief Executive Tim Cook" is "Tim Cook", not "Executive Tim
Cook". Elsewhere they are ordinary words ("Executive Office", "Justice Department"), not titles."""

LONGEST_NAME_WORD = 64
"""Characters in the longest word a name may hold (Welsh place names reach 58). A longer "word" is a
base64 blob, a hash or a long identifier: never a candidate, whatever its first letter."""

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

MONTH_NAMES = {
    "French": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
    "German": "Januar Februar März April Mai Juni Juli August September Oktober November Dezember",
    "Spanish": "enero febrero marzo abril mayo junio julio agosto septiembre setiembre octubre noviembre diciembre",
    "Italian": "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre dicembre",
    "Portuguese": "janeiro fevereiro março abril maio junho julho agosto setembro outubro novembro dezembro",
    "Dutch": "januari februari maart april mei juni juli augustus september oktober november december",
}
"""The months of the languages other than English that :func:`~assistant.tools.language_words.text_language` tells,
as each writes them inside a sentence (German capitalised, the others in lower case): the one table the
dates in them are found by ("3 mars 2024", "3. März 2024", "3 de marzo de 2024":
:mod:`assistant.tools.span_dates`), and German's are no names (:data:`CAPITALISED_DATE_WORDS`). Written so, and
only with a day or a year, none is read in an English text: "Mars" and "Mai Tai" are no dates."""

WEEKDAY_NAMES = {
    "French": "lundi mardi mercredi jeudi vendredi samedi dimanche",
    "German": "Montag Dienstag Mittwoch Donnerstag Freitag Samstag/Sonnabend Sonntag",
    "Spanish": "lunes martes miércoles jueves viernes sábado domingo",
    "Italian": "lunedì martedì mercoledì giovedì venerdì sabato domenica",
    "Portuguese": "segunda-feira terça-feira quarta-feira quinta-feira sexta-feira sábado domingo",
    "Dutch": "maandag dinsdag woensdag donderdag vrijdag zaterdag zondag",
}
"""The weekdays of the languages of :data:`MONTH_NAMES`, written as each writes them inside a sentence: the one
table their dates are found by ("lundi", "am Montag", "el lunes": :mod:`assistant.tools.span_dates`), and
German's are no names (:data:`CAPITALISED_DATE_WORDS`). Monday to Sunday, a day's other names after a "/".
Portuguese's short forms ("segunda", "terça") are left out: "segunda" is also "second"."""

WEEKDAY_IN_ENGLISH = {
    name.lower(): english
    for names in WEEKDAY_NAMES.values()
    for english, day in zip("Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split(), names.split())
    for name in day.split("/")
}
"""Each weekday of :data:`WEEKDAY_NAMES`, in lower case, and the English day it is ("sonnabend": "Saturday"): SmolLM2
knows "Montag" for no date (0.03) but "Montag (Monday)" for one (1.00; :mod:`plugins.ner`)."""

CAPITALISED_DATE_WORDS = {
    "German": frozenset(
        WEEKDAY_NAMES["German"].lower().replace("/", " ").split() + MONTH_NAMES["German"].lower().split()
    ),
}
"""Weekdays and months that a language other than English capitalises inside a sentence: alone, a date
word and no name in a text in that language ("Am Montag fährt Herr Schmidt …" typed "Montag" an
organization). The other languages :func:`~assistant.tools.language_words.text_language` tells write them
in lower case."""

ARTICLES = {
    "French": frozenset("le la les l".split()), "Spanish": frozenset("el la los las".split()),
    "Italian": frozenset("il lo la i gli le l".split()), "Portuguese": frozenset("o a os as".split()),
    "German": frozenset("der die das den dem des".split()), "Dutch": frozenset("de het".split()),
}
"""The articles of the languages other than English whose function words the span finder knows: an article
that begins a run is part of many names in them ("Le Monde", "Los Angeles", "Der Spiegel", "De Telegraaf"),
so it stays, while another function word that begins one ("En France", "À Paris") is left out, as "The" is
in English."""

WEEKDAYS = frozenset("monday tuesday wednesday thursday friday saturday sunday".split())
MONTHS = frozenset(
    "january february march april may june july august september october november december".split()
)


@dataclass(frozen=True)
class Span:
    """A slice of the input: ``text == source[start:end]``."""

    start: int
    end: int
    text: str
    kind: str = "name"
    """"name" (a capitalised run), "date" (matched a date pattern) or "time" (a time of day)."""


def _moved(span: Span, start: int, end: int, source: str) -> Span:
    return Span(start, end, source[start:end], span.kind)


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


def _completes_title(word: str, after_title: bool) -> bool:
    """Whether ``word`` is part of the office that the title word before it began (:data:`OFFICE_WORDS`)."""
    return after_title and _bare(word) in OFFICE_WORDS


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



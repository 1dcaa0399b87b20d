"""Candidate entity spans found by code, so the model only has to *type* them.

Small models cannot be trusted to copy spans out of a text (they paraphrase,
misspell and invent offsets), but they are decent at judging what a given span
is. So spans come from the text itself — runs of capitalised words, with the
connectors names use ("Bank *of* England", "Leonardo *da* Vinci") — and dates
from patterns. Every span is a slice of the input by construction, which is
what lets the NER tool promise that ``text[start:end] == entity.text``.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from typing import Callable

from ..terminal_text import BIDI_CONTROLS, ESCAPE_SEQUENCE, HIDDEN_FORMAT
from .span_case import Opening, in_capitals
from .span_dates import (
    _REFERENCE_AFTER,
    _SENTENCE_START,
    ORDINALS,
    OTHER_DATE_WORDS,
    WEEKDAY_CONTEXT,
    _leads_a_date,
    _reference_at,
    _without_overlaps,
    date_spans,
    time_spans,
)
from .span_words import (  # noqa: F401 (TITLES, STOPWORDS, Span: this module's names, as before the split)
    _LINE_BREAK,
    _SPACE,
    ARTICLES,
    CAPITALISED_DATE_WORDS,
    CONNECTORS,
    LONGEST_NAME_WORD,
    MONTHS,
    STOPWORDS,
    TITLES,
    WEEKDAYS,
    Span,
    _bare,
    _completes_title,
    _ends_sentence,
    _headline_stopword,
    _is_capitalised,
    _is_stopword,
    _is_title,
    _moved,
    _only_spaces_between,
    _words,
)

HEAD_NOUNS = frozenset(
    """university institute college school academy museum bank ministry department council board
    society church cathedral republic kingdom state states city county province district gulf bay
    isle isles island islands lake cape mount river sea duke earl house court chamber league union
    federation association foundation centre center office bureau agency commission order army
    organisation organization""".split()
)
"""Heads of names that take "of" ("Bank of England"); after any other word "of" separates two
names ("Ahmed Khan of Stanford University", "Porto of Portugal")."""

NAME_PREFIXES = frozenset("st mt ft".split())
"""Abbreviations that begin a name ("St. Louis", "Mt. Everest", "Ft. Worth"): the dot after one that
starts a run ends neither the run nor the sentence; after a name ("Main St.") it may end both."""



_ODD_SPACE = re.compile(r"(?![ \t])" + _SPACE)
"""A horizontal space other than a plain space or tab (no-break, thin, zero-width)."""


def _class_of(codes: set[int]) -> str:
    """A regex class body for a set of code points, in ranges."""
    ranges: list[list[int]] = []
    for code in sorted(codes):
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "".join(f"\\U{a:08x}-\\U{b:08x}" if a != b else f"\\U{a:08x}" for a, b in ranges)


_INVISIBLE_CODES = (BIDI_CONTROLS | HIDDEN_FORMAT) - {0x200B, 0x2028, 0x2029}
"""The invisible controls of :mod:`assistant.terminal_text` that draw nothing inside a word: a soft hyphen
("Ba<SHY>rack", common in text from web pages), a word joiner, a right-to-left mark, tag characters. Not
the zero-width space, which parts words (:data:`_SPACE`), nor the line and paragraph separators."""
_UNSHOWN = re.compile(f"{ESCAPE_SEQUENCE}|[{_class_of(set(_INVISIBLE_CODES))}]+")
_UNSHOWN_START = re.compile(f"[\\x1b\\x90\\x98\\x9b\\x9d-\\x9f{_class_of(set(_INVISIBLE_CODES))}]")


def shown_text(text: str) -> tuple[str, list[int] | None]:
    """``text`` as it is seen, without terminal control sequences and invisible controls, and the index
    in ``text`` of each of its characters then of its end (None where nothing was left out).

    Spans are found in what the text says: "ESC [1mObama" is "Obama" (the "[1m" would glue a digit
    to the name, which is then no capitalised word), "Barack ESC [31mObama" one name, and
    "Ba<soft hyphen>rack" one word. Their offsets still index ``text`` (:func:`candidate_spans`), and
    the model is shown the sentence without them (:func:`one_line`); printing them safely is
    :mod:`assistant.terminal_text`'s work.
    """
    if _UNSHOWN_START.search(text) is None:
        return text, None
    pieces: list[str] = []
    where: list[int] = []
    last = 0
    for match in _UNSHOWN.finditer(text):
        pieces.append(text[last : match.start()])
        where.extend(range(last, match.start()))
        last = match.end()
    if last == 0:
        return text, None
    pieces.append(text[last:])
    where.extend(range(last, len(text) + 1))
    return "".join(pieces), where


def one_line(sentence: str, spans: list[Span]) -> tuple[str, list[Span]]:
    """``sentence`` with each line break (and the indentation around it) one space, and ``spans``
    moved to match: how a hard-wrapped sentence and its names are shown to a model.

    A no-break, thin or zero-width space is shown as a plain one (one character for one, so no
    offset moves): the model reads "New York" as it reads it elsewhere, whatever the input's spaces.
    Terminal control sequences and invisible controls are left out (:func:`shown_text`)."""
    visible, where = shown_text(sentence)
    if where is not None:
        spans = [_moved(span, bisect.bisect_left(where, span.start), bisect.bisect_left(where, span.end), visible)
                 for span in spans]
        sentence = visible
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
        _cite(text, words, run, spans, common)
    return spans


def _cite(
    text: str, words: list[tuple[int, int, str]], run: list[int], spans: list[Span], common: Callable[[str], bool] | None
) -> None:
    """A chapter and verse after a run is part of its last name: "John 3:16" cites a book, not a person.

    The book may be written short, with its full stop ("Rom. 8:28", "Matt. 5:3"), a title's abbreviation
    too ("Gen. 1:1", "Rev. 3:20"), which alone is no candidate: the citation is one all the same."""
    first, last = words[run[0]][0], words[run[-1]][1]
    after = _REFERENCE_AFTER.match(text, last)
    if after is None or (end := _reference_at(text, after.start() + 1, common)) is None:
        return
    if spans and spans[-1].start >= first and spans[-1].end in (last, last - 1):  # "Rom" lost its dot
        spans[-1] = Span(spans[-1].start, end, text[spans[-1].start : end])
    elif not spans or spans[-1].end <= words[run[-1]][0]:
        start = words[run[-1]][0]
        spans.append(Span(start, end, text[start:end]))


def _split_at_titles(words: list[tuple[int, int, str]], run: list[int]) -> list[list[int]]:
    """The run's parts between title words ("U.S. President Bill Clinton" -> "U.S.", "Bill Clinton")."""
    parts: list[list[int]] = [[]]
    after_title = False
    for position, index in enumerate(run):
        word = words[index][2]
        # "Martin Luther King Jr.": a title word between a name and its suffix is that name's
        suffixed = bool(parts[-1]) and position + 1 < len(run) and _bare(words[run[position + 1]][2]) in {"jr", "sr"}
        # "Chief Executive (Officer) Tim Cook": the office's words after its title are the title's too
        office = _completes_title(word, after_title)
        if (office or (_is_title(word) and index != run[-1])) and not suffixed:
            if parts[-1]:
                parts.append([])
        else:
            parts[-1].append(index)
        after_title = office or _is_title(word)
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


def _keeps_dot(span_text: str) -> bool:
    """Abbreviations keep their final dot ("U.S.", "Inc."); a sentence's full stop does not."""
    last = span_text.split()[-1]
    return last.count(".") > 1 or last.rstrip(".").lower() in {"inc", "ltd", "co", "corp", "jr", "sr", "st"}


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


def common_words(language: str | None) -> frozenset[str]:
    """Lower-case words of ``language`` that are no name by themselves: its function words
    (:data:`~assistant.tools.language_words.FUNCTION_WORDS`) and the weekdays and months it capitalises
    (:data:`CAPITALISED_DATE_WORDS`); none for English (:data:`STOPWORDS` is its list) or no language.

    Why: :data:`STOPWORDS` is English, so in a French or Spanish text every sentence's first word
    was a candidate, and SmolLM2 typed "Le", "Il", "Les" and "El" persons. ``language`` is the whole
    text's (:func:`~assistant.tools.language_words.text_language`): one sentence is too short to tell.
    """
    from .language_words import FUNCTION_WORDS

    if language is None or language == "English" or language not in FUNCTION_WORDS:
        return frozenset()
    return frozenset(FUNCTION_WORDS[language].split()) | CAPITALISED_DATE_WORDS.get(language, frozenset())


def _without_common_words(span: Span, language: str, common: frozenset[str]) -> Span | None:
    """``span`` without the common words of ``language`` (:func:`common_words`) that begin it, or None when it is
    one of them alone ("Le", "Il", "El", "Montag").

    A run of several words keeps an article (:data:`ARTICLES`: "Le Monde", "Los Angeles") or a name connector
    ("De Gaulle", "Van Gogh") that begins it, and loses another function word ("En France": "France"), as
    "The" is left out in English. A word in capitals is an acronym ("IL"), as for English stop words.
    """
    kept = ARTICLES.get(language, frozenset()) | CONNECTORS
    words = list(re.finditer(r"\S+", span.text))
    first = 0
    while first < len(words):
        core = words[first].group().rstrip(".")
        if not _common_word(core, common) or (len(core) > 1 and core.isupper()):
            break  # a name's word, or an acronym
        if first == len(words) - 1:
            return None  # common words only
        if core.lower() in kept:
            break  # an article or connector that begins a longer run: the name's own
        first += 1
    return span if first == 0 else _from_word(span, words, first)


_WORD_PARTS = re.compile(r"['’\-]")
"""What joins the parts of one word: an elision's apostrophe ("C'est", "Aujourd'hui") or a hyphen ("Peut-être")."""


def _common_word(word: str, common: frozenset[str]) -> bool:
    """Whether ``word`` is one of ``common`` (:func:`common_words`), or every part of it is ("C'est": "c", "est";
    "Aujourd'hui": "aujourd", "hui"), as :func:`~assistant.tools.language_words.text_language` reads a text's words.

    A word elided onto a name is no common word: "L'Oréal" and "D'Artagnan" stay names, while "C'est Paul"
    was one candidate, and "Aujourd'hui" another, though the language's lists hold both halves."""
    parts = [part for part in _WORD_PARTS.split(word.lower()) if part]
    return word.lower() in common or (len(parts) > 1 and all(part in common for part in parts))


def _from_word(span: Span, words: list[re.Match[str]], first: int) -> Span:
    """``span`` from its word number ``first`` on (a slice of it, so of the text it came from)."""
    start = span.start + words[first].start()
    return Span(start, span.end, span.text[words[first].start() :], span.kind)


def candidate_spans(
    text: str,
    dates: bool = True,
    times: bool = False,
    recase: Callable[[str], str] | None = None,
    opening: Callable[[str, str, str], Opening] | None = None,
    language: str | None = None,
) -> list[Span]:
    """Name runs and (optionally) dates and times of day, non-overlapping, in text order.

    A name run that is only a weekday or a month ("Tuesday") is a date, never a name. Dates and
    times are candidates only when asked for (the NER tool asks for each when a requested type
    means it, DATE or TIME): without them ``--types TIME`` could never find "10:30", and with them
    always a DATE-only request would be offered times. Each keeps its kind ("date", "time"), which
    decides the only type it can have.

    Found in the text as it is seen (:func:`shown_text`); the offsets index ``text`` itself, so a
    span may hold a control sequence or soft hyphen it spans ("Ob<ESC>[1mama").

    Text all in capitals has no capitals that mark names: given ``recase`` (the NER tool's model,
    :func:`assistant.tools.span_case.recased`), names are found in the text as it recases it ("JOHN
    SMITH VISITED PARIS": "John Smith visited Paris", so "JOHN SMITH" and "PARIS"), dates and times
    in the text as it is; without, a stop word ends a run there and other words join it.

    A sentence's capitalised first word before a weekday or month that is a date ("Black Friday sales
    rose", "Happy Friday everyone") is, given ``opening`` (the NER tool's model,
    :func:`assistant.tools.span_case.opening_case`), a common word and no candidate, one name with the
    date ("Black Friday"), or a name of its own before a date ("Smith Monday said no"); without, the last.
    A sentence's capitalised first word before a comma is, given ``opening`` (asked with no date), a common
    word and no candidate where the model writes it in lower case inside a sentence ("Honestly, the food
    was great"); without, a candidate.

    ``language``, the text's when it is not English (:func:`common_words`): a name span that is one
    of its common words alone is none ("Le", "El", "Montag"), and one that begins a run is left out unless
    it is an article ("En France": "France"; "Le Monde", "Los Angeles", "Der Spiegel" stay whole)
    (:func:`_without_common_words`). English text, or text of no known language, is read as before. Dates
    are found in the six languages' ways too ("3 de marzo del 2024", "lundi", "am Montag", "14:30 Uhr"), and
    ``language`` says where a capitalised weekday of theirs is a date ("Samstag kam Hans") and where none
    ("Placido Domingo" in an English text), and whether a date in capitals is theirs ("3 MARS 2024";
    :func:`~assistant.tools.span_dates.date_spans`).
    """
    visible, where = shown_text(text)
    found = _candidates(visible, dates, times, recase, opening, language)
    common = common_words(language)
    if common and language is not None:
        trimmed = (span if span.kind != "name" else _without_common_words(span, language, common) for span in found)
        found = [span for span in trimmed if span is not None]
    if where is None:
        return found
    return [_moved(span, where[span.start], where[span.end - 1] + 1, text) for span in found]


def _candidates(
    text: str,
    dates: bool,
    times: bool,
    recase: Callable[[str], str] | None,
    opening: Callable[[str, str, str], Opening] | None,
    language: str | None = None,
) -> list[Span]:
    date_list = date_spans(text, language) if dates else []
    if times:
        date_list = _without_overlaps([*date_list, *time_spans(text)])
    cased = text
    if recase is not None and in_capitals(text):
        cased = recase(text)
        if len(cased) != len(text) or cased.lower() != text.lower():  # only the case may change
            cased = text
    elif opening is not None:
        if date_list:
            cased, date_list = _openings(text, date_list, opening)
        cased = _comma_openings(cased, opening)
    names = [
        s
        for s in name_spans(cased)
        if not (len(s.text.split()) == 1 and _bare(s.text) in WEEKDAYS | MONTHS and s.text != "May")
    ]
    if not (dates and times):  # a date or time not asked for is still no name ("Am Montag, 3. März … 14:30 Uhr")
        unasked = _unasked(text, dates, times, language)
        names = [s for s in names if not any(d.start <= s.start and s.end <= d.end for d in unasked)]
    starts = [d.start for d in date_list]  # in text order, none overlapping another
    names = [piece for s in names for piece in _clear_of(cased, s, date_list, starts)]
    if cased is not text:
        names = [_moved(s, s.start, s.end, text) for s in names]
    return sorted([*names, *date_list], key=lambda s: s.start)


def _unasked(text: str, dates: bool, times: bool, language: str | None) -> list[Span]:
    """The dates (``dates`` off) and times (``times`` off) of ``text`` that were not asked for: a name wholly
    inside one is none.

    English weekdays and months alone are no names by the word lists of :func:`_candidates`; another
    language's are by its date patterns only, so with DATE not asked ``ner``'s default types made "Montag",
    "März" and "Uhr" places.
    """
    return [*([] if dates else date_spans(text, language)), *([] if times else time_spans(text))]


DATE_WORDS = WEEKDAY_CONTEXT | ORDINALS | WEEKDAYS | MONTHS | OTHER_DATE_WORDS
"""Words that, left alone beside a date, are part of what it says ("Early" Friday, "Fourth" Thursday, "Jeden"
Montag)."""

_OPENING_REST = 3
"""Words after the date shown with a sentence's opening word (:func:`_openings`): what the two say together."""


def _openings(
    text: str, dates: list[Span], opening: Callable[[str, str, str], Opening]
) -> tuple[str, list[Span]]:
    """``text`` with each sentence's first word that ``opening`` calls common in lower case (so no name run
    takes it), and ``dates`` without the weekday or month it calls one name with ("Black Friday").

    Only a capitalised first word right before a date that is a bare weekday or month is asked about: a
    stop word, title or word that says date ("On", "Dr.", "Last") is none of a name, and elsewhere a word
    before a date is a name's word (:func:`~assistant.tools.span_dates._name_word_before`)."""
    cased = text
    kept = []
    for date in dates:
        word = _opening_before(text, date)
        if word is None:
            kept.append(date)
            continue
        start, end, value = word
        following = _words(text[date.end : date.end + 200])[:_OPENING_REST]
        rest = text[date.end : date.end + following[-1][1]] if following else ""
        decided = opening(value, date.text, rest)
        if decided == "common":
            lower = value.lower()
            if len(lower) == len(value):
                cased = cased[:start] + lower + cased[end:]
        if decided != "joined":
            kept.append(date)
    return cased, kept


def _comma_openings(text: str, opening: Callable[[str, str, str], Opening]) -> str:
    """``text`` with each sentence's capitalised first word that stands before a comma in lower case where
    ``opening`` (asked with no date) calls it common: "Honestly, the food was great." has no name
    "Honestly"; "John, come here." keeps "John".

    Only a word in lower case but its first letter is asked ("NATO, the alliance" is no adverb), and only
    one that would be a candidate (no stop word or title: "However," and "Dr.," are none already)."""
    words = _words(text)
    for index, (start, end, value) in enumerate(words):
        if text[end : end + 1] != "," or not value[:1].isupper() or not value[1:].islower():
            continue
        if _is_stopword(value) or _is_title(value) or not _SENTENCE_START.search(text, max(0, start - 40), start):
            continue
        following = words[index + 1 : index + 1 + _OPENING_REST]
        rest = text[end : following[-1][1]] if following else text[end : end + 1]
        if opening(value, "", rest) == "common":
            lower = value.lower()
            if len(lower) == len(value):
                text = text[:start] + lower + text[end:]
    return text


def _opening_before(text: str, date: Span) -> tuple[int, int, str] | None:
    """The sentence's capitalised first word one space before ``date``, a bare weekday or month; else None."""
    if date.kind != "date" or _bare(date.text) not in WEEKDAYS | MONTHS or date.start < 2:
        return None
    if text[date.start - 1] not in " \u00a0":
        return None
    low = max(0, date.start - 1 - LONGEST_NAME_WORD - 1)
    words = _words(text[low : date.start - 1])
    if not words or low + words[-1][1] != date.start - 1 or (words[-1][0] == 0 and low > 0):
        return None
    start, end, value = low + words[-1][0], low + words[-1][1], words[-1][2]
    if not _is_capitalised(value) or _is_stopword(value) or _is_title(value) or _bare(value) in DATE_WORDS:
        return None
    if _ends_sentence(value) or not _SENTENCE_START.search(text, max(0, start - 40), start):
        return None
    return start, end, value


def _clear_of(text: str, name: Span, dates: list[Span], starts: list[int]) -> list[Span]:
    """The name run without the dates in it: a date ends a name, or begins one ("Paris" of "visited Paris
    March 5", "Smith" of "Smith Monday said no", "PARIS" of "PARIS FRIDAY"), and a run that is all date
    is none ("March" of "March 5"). What is left is a candidate as any run's words are (:func:`_span_of`),
    but for a lone word that says which date it is ("Early Friday", "Fourth Thursday").

    ``dates`` are in text order and ``starts`` their starts: only those near the name are looked at,
    so that a long line's thousands of names and dates take linear time, not quadratic (a line of a
    megabyte took five minutes before its first prompt)."""
    index = bisect.bisect_left(starts, name.start)
    if index > 0 and dates[index - 1].end > name.start:
        index -= 1
    inside = []
    while index < len(dates) and dates[index].start < name.end:
        inside.append(dates[index])
        index += 1
    if not inside:
        return [name]
    pieces = []
    low = name.start
    for date in [*inside, Span(name.end, name.end, "")]:
        words = [(low + a, low + b, word) for a, b, word in _words(text[low : date.start])]
        span = _span_of(text, words, list(range(len(words)))) if words else None
        if span is not None and not (len(words) == 1 and _bare(span.text) in DATE_WORDS):
            pieces.append(span)
        low = max(low, date.end)
    return pieces

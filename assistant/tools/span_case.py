"""Text all in capitals, recased by a language model, so names can be found by their capitals again.

In "JOHN SMITH VISITED PARIS" every word is capitalised: the NER candidate finder
(:mod:`assistant.tools.spans`) sees one run, verbs and all. A language model knows which words of a
sentence are written with a capital ("John Smith visited Paris"): after the sentence so far, recased,
it scores each word's lower-case and capitalised spelling, and the likelier one is kept. This is
model-agnostic (any backend that scores continuations) and language-general (any cased script); it
needs no list of words. Only the case of letters changes, never the length of the text, so offsets
found in the recased text index the original.
"""

from __future__ import annotations

from typing import Callable, Literal

from .span_words import CONNECTORS, MONTHS, STOPWORDS, _headline_stopword, _words

Scorer = Callable[[str, list[str]], list[float]]
"""The log-likelihood of each candidate continuation after a prompt (a backend's ``score``)."""

RECASE_CONTEXT = 300
"""Characters of the recased sentence so far shown before each word, at least: enough for a sentence's
sense. The shown part starts at the same place until it is twice as long, then moves on, so a backend
that keeps the last prompt's KV cache (llama.cpp, torch) evaluates only each new word; each score costs
about the same however long the text in capitals is."""


def in_capitals(text: str) -> bool:
    """Whether ``text`` is written all in capitals (two cased words at least): "JOHN SMITH VISITED PARIS"."""
    return _headline_stopword(_words(text)) is not None and not any(c.islower() for c in text)


def recased(text: str, score: Scorer) -> str:
    """``text`` (all in capitals) with each word lower-case or capitalised, whichever ``score`` finds likelier
    after the words before it recased; the first word is capitalised, as a sentence's first word is.

    The words before a word cannot tell that a common noun begins a name: after "THE" SmolLM2 writes
    "bank", and "THE BANK OF ENGLAND" lost "Bank" ("The bank of England"). So a second pass asks again
    about each word the first wrote in lower case that a name could go on from: one followed by a
    capitalised word, directly or through a name's connectors ("of", "de": :data:`CONNECTORS`), and
    itself no function word ("in London" begins no name). It is asked with the words up to that
    capitalised one after it, as the first pass cased them: "The Bank of England" is likelier than
    "The bank of England", while "the bank in London" is not asked again. Only those words are asked
    again, so the cost stays about one score per word.

    The result has ``text``'s length and characters but for their case: a word whose lower case has
    another length ("İ") stays as it is, and so do words without letters ("8:28"). Words come from
    the candidate finder's own tokenizer, so a name's word is recased whole ("AL-SAYED")."""
    words = _words(text)
    lettered = next((index for index, (_, _, word) in enumerate(words) if any(c.isalpha() for c in word)), 0)

    def unasked(index: int) -> bool:
        start, _, word = words[index]
        return is_function_word(word) and index > lettered and not _opens_sentence(text, start)

    first = _recase_pass(text, words, score, lambda index: not unasked(index), lambda index: "")
    if len(first) != len(text):
        return text

    def ahead(index: int) -> int | None:
        """The end of the capitalised word after ``words[index]`` and the connectors after it, if any.

        Walked by position, not over a slice ``words[index + 1 :]``: the slice copied the rest of
        the words for every word asked, and a 40,000-word text in capitals spent seconds on it."""
        for position in range(index + 1, len(words)):
            start, end, word = words[position]
            if first[start : start + 1].isupper():
                return end
            if word.lower() not in CONNECTORS:
                return None
        return None

    def again(index: int) -> bool:
        start, end, word = words[index]
        lower = word.lower()
        if index == 0 or first[start:end] != lower or lower.rstrip(".") in STOPWORDS | CONNECTORS:
            return False  # a function word begins no name ("visited Paris", "in London")
        return ahead(index) is not None

    def following(index: int) -> str:
        return first[words[index][1] : ahead(index)]

    if not any(again(index) for index in range(len(words))):
        return first
    result = _recase_pass(text, words, score, again, following, first)
    return result if len(result) == len(text) else text


def is_function_word(word: str) -> bool:
    """A word :func:`recased` writes in lower case without asking, inside a sentence: a stop word
    (:data:`STOPWORDS`), but a month, "I" or a number a name may hold (:data:`NAMING_NUMBERS`).

    Why: a third of a sentence's words are such words, and each cost a score (about 28 ms with SmolLM2
    on one thread); their case makes no candidate, since a name run sheds a leading stop word and a stop
    word inside a text in lower case ends a run. "May" is a month or a name ("THERESA MAY"), and "I" is
    written with its capital: a text recased "when i 've" reads to the model as one in lower case."""
    bare = word.lower().rstrip(".")
    return bare in STOPWORDS and bare not in MONTHS | NAMING_NUMBERS and bare != "i"


NAMING_NUMBERS = frozenset("one two three four five six seven eight nine ten first second third".split())
"""Stop words that a name may hold ("World War Two", "Formula One", "Second World War"): always asked."""


_OPENERS = frozenset(".!?…:;\"'“‘”’«»([-–—")
"""What a word that begins a sentence or a quotation comes after (its spaces aside)."""


def _opens_sentence(text: str, start: int) -> bool:
    """Whether the word at ``start`` comes after punctuation that ends a sentence or opens a quotation
    (': " YOU CHEAT'); :func:`recased` asks the text's first word with letters too ("1940 - IN WORLD WAR").

    There a stop word is asked like any word: written "in" unasked, the model read "1940 - in world war
    two the german" as a text in lower case and went on so, "London" too. Only the characters just before
    are looked at, so a long text costs no more per word."""
    before = text[max(0, start - 40) : start].rstrip()
    return not before or before[-1] in _OPENERS


def _recase_pass(
    text: str,
    words: list[tuple[int, int, str]],
    score: Scorer,
    ask: Callable[[int], bool],
    following: Callable[[int], str],
    known: str | None = None,
) -> str:
    """One pass of :func:`recased`: each word for which ``ask`` holds is scored lower-case and capitalised,
    followed by ``following`` its index, after the text recased so far; any other word is as in ``known``
    (the first pass), else in lower case (a function word); a sentence's first word is capitalised, and a
    word whose case cannot change length-safely stays as it is."""
    pieces: list[str] = []
    done = 0
    # The recased text from where its shown part starts: only that part is joined for a prompt. Joining
    # all the pieces for every word asked made a 40,000-word text in capitals take 15 s before any score.
    shown = ""
    for index, (start, end, word) in enumerate(words):
        lower, capital = word.lower(), word[:1] + word[1:].lower()
        between = text[done:start]
        done = end
        if len(lower) != len(word) or len(capital) != len(word) or lower == word:
            cased = word
        elif index == 0:
            cased = capital
        elif not ask(index):
            cased = known[start:end] if known is not None else lower
        else:
            shown += between
            before = shown.rstrip()
            gap = shown[len(before) :]
            if len(before) > 2 * RECASE_CONTEXT:  # the shown part moves on, and stays put again a while
                before = before[len(before) - RECASE_CONTEXT :]
                shown = before + gap
            rest = following(index)
            lower_score, capital_score = score(before, [gap + lower + rest, gap + capital + rest])
            cased = capital if capital_score > lower_score else lower
            pieces.append(between)
            pieces.append(cased)
            shown += cased
            continue
        pieces.append(between)
        pieces.append(cased)
        shown += between + cased
    pieces.append(text[done:])
    return "".join(pieces)


OPENING_LEAD = "They said that"
"""Words put before a sentence's opening so that it stands inside a sentence (:func:`opening_case`), where
its case says what it is: "that Black Friday sales" but "that starting Monday"."""

Opening = Literal["common", "joined", "apart"]


def opening_case(word: str, date: str, rest: str, score: Scorer) -> Opening:
    """What a sentence's capitalised first ``word`` is before the weekday or month ``date`` (``rest``: a few
    words after that), as the model writes it inside a sentence (after :data:`OPENING_LEAD`); with no
    ``date`` (""), what it is before ``rest`` alone: "common" or "apart".

    A sentence's first word has a capital whatever it is, so "Black Friday sales rose." and "Happy
    Friday everyone." look alike to code, which found the name "Black" and the date "Friday". Written
    in lower case there, the word is a common one, no name ("common": "Happy", "Starting"); capitalised
    before the date but not alone, it is a name only with the date ("joined": "Black Friday", "Good
    Friday", "Super Tuesday"); capitalised alone too, it is a name of its own, and the date a date
    ("apart": "Smith Monday said no").

    Without a date it says whether an opening word before a comma is a common word: "Honestly, the
    food was great." and "Actually, Maria said no." open with an adverb, which code took for a name
    (no list of such words can be complete), while "John, come here." and "Germany, France and Italy
    agreed." open with names, which the model writes capitalised there.
    """
    lower, capital = word.lower(), word[:1] + word[1:].lower()
    after = f" {date}{rest}" if date else rest
    with_date = score(OPENING_LEAD, [f" {lower}{after}", f" {capital}{after}"])
    if with_date[1] <= with_date[0]:
        return "common"
    if not date:
        return "apart"
    alone = score(OPENING_LEAD, [f" {lower}", f" {capital}"])
    return "apart" if alone[1] > alone[0] else "joined"

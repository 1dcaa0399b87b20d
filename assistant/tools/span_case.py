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

from typing import Callable

from .span_words import _headline_stopword, _words

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

    The result has ``text``'s length and characters but for their case: a word whose lower case has
    another length ("İ") stays as it is, and so do words without letters ("8:28"). Words come from
    the candidate finder's own tokenizer, so a name's word is recased whole ("AL-SAYED")."""
    pieces: list[str] = []
    done = 0
    anchor = 0  # where the shown part of the recased text starts
    for index, (start, end, word) in enumerate(_words(text)):
        lower, capital = word.lower(), word[:1] + word[1:].lower()
        pieces.append(text[done:start])
        done = end
        if len(lower) != len(word) or len(capital) != len(word) or lower == word:
            pieces.append(word)
            continue
        if index == 0:
            pieces.append(capital)
            continue
        before = "".join(pieces)
        gap, before = before[len(before.rstrip()) :], before.rstrip()
        if len(before) - anchor > 2 * RECASE_CONTEXT:
            anchor = len(before) - RECASE_CONTEXT
        prompt = before[anchor:]
        lower_score, capital_score = score(prompt, [gap + lower, gap + capital])
        pieces.append(capital if capital_score > lower_score else lower)
    pieces.append(text[done:])
    result = "".join(pieces)
    return result if len(result) == len(text) else text

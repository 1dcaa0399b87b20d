"""First-party tool ``ner``: named entities with exact offsets and types from the requested set.

Free-form generation is unusable for NER with small models (spans that are not
in the text, invented types, broken JSON). So the work is split: code finds
the candidate spans — runs of capitalised words and date patterns, see
:mod:`assistant.tools.spans` — and the model only *types* each one, by the
likelihood of each type word (or "none") after a few-shot prompt that first
describes every type ("organization: a company, sports team, …"). Every
returned span is a slice of the input at its offsets and every type is one
that was asked for, by construction; the sentence's prompt is evaluated once
and its KV cache reused for each of its candidate spans. Unless the sentence
leaves the model sure, a name's distribution there is then averaged
(:func:`mix_views`) with what the model says the name is by itself — "<name> is
a" continued by nouns such as country, company or nationality, summed per type
(:func:`kind_distribution`) — and a last pass makes the types of one text
consistent (:func:`consistent_types`).
"""

from __future__ import annotations

import re
import time
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from assistant import hookimpl
from assistant.errors import ConfigError, NotSupportedError, ToolError
from assistant.tools import BaseTool, EntitiesResult, Entity, Parameter, Progress
from assistant.tools.classify import (
    CONTENT_FREE_INPUTS,
    content_free_baseline,
    generate_label,
    label_scores,
    softmax,
)
from assistant.tools.context import context_window, fits
from assistant.tools.language_words import text_language
from assistant.tools.prompts import completion_text, render
from assistant.tools.span_case import Opening, opening_case, recased
from assistant.tools.span_dates import OTHER_WEEKDAYS
from assistant.tools.spans import Span, candidate_spans, caseless_script, one_line
from assistant.tools.text import sentence_spans

TYPE_WORDS = {
    "PERSON": "person", "PER": "person",
    "LOCATION": "place", "LOC": "place", "GPE": "place",
    "ORGANIZATION": "organization", "ORGANISATION": "organization", "ORG": "organization",
    "DATE": "date", "TIME": "time",
    "MISC": "other", "EVENT": "event", "PRODUCT": "product", "WORK_OF_ART": "work of art",
    "NORP": "nationality", "FACILITY": "building", "FAC": "building", "LANGUAGE": "language", "LAW": "law",
}
"""The word the model sees for each type; other types are shown lower-cased ("ANIMAL" -> "animal")."""

NONE_WORD = "none"
TYPE_DESCRIPTIONS = {
    "person": "the name of a person: a full name, a first name or a surname",
    "place": "a country, city, region, continent, mountain, river or other location",
    "organization": "a company, sports team or club, political party, government body, newspaper or other group",
    "other": "any other kind of name",
    "date": "a date, a day of the week, a month or a year",
    "time": "a time of day",
    "nationality": "a nationality, religious or political group",
    NONE_WORD: "a capitalised word that is not a name",
}
"""What each type word means, shown to the model above the examples; types not listed are shown bare.
"other" is followed by the kinds in :data:`OTHER_KINDS` that no requested type claims (:func:`type_descriptions`)."""
OTHER_KINDS = ("nationality", "religion", "language", "event", "product", "title")
"""The kinds of name the catch-all "other" (MISC) stands for, as its description lists them."""

KIND_NOUNS = {
    "person": ("person", "man", "woman"),
    "place": (
        "place", "country", "city", "town", "region", "state", "continent", "island", "mountain", "river", "lake",
    ),
    "organization": (
        "organization", "company", "firm", "bank", "team", "club", "party", "government", "agency", "newspaper",
        "university", "group",
    ),
    "other": ("nationality", "language", "religion", "event", "product", "title", "holiday", "day"),
}
"""The nouns that say what a name is ("France is a country"), for each type word: the kinds its
description names, plus a few everyday synonyms. A type word not listed is its own noun ("event").
The kind view scores every noun after "<name> is a" and sums each type's share: a small model
names a thing's kind far better than it picks an abstract label for it ("Russian" is a
nationality, though in a sentence it is typed organization; docs/tools.md). A named day is "other"
by its nouns "holiday" and "day": SmolLM2 says "Black Friday is a holiday" (0.95 with "day"), while in a
sentence it called it a place."""

CORE_TYPES = ("PERSON", "LOCATION", "ORGANIZATION", "MISC")
"""Always offered to the model, asked for or not: with only PERSON offered, SmolLM2 calls
organizations and places persons or misses persons (F1 0.08 for PERSON alone); offered
all and filtered afterwards, each subset scores like the full set (docs/tools.md). MISC
("other") gives nationalities and events somewhere to go other than a core type."""
PATTERN_KINDS = ("date", "time")
"""The kinds of candidate span found by pattern (:func:`assistant.tools.spans.candidate_spans`), each also
the type word of the one type it can be: a "date" span is typed only among the types whose word is "date"
(or none), a "time" span among those whose word is "time". The pattern knows a time of day from a date
far better than SmolLM2, which, shown both words, called "3pm" and "10 a.m." dates and, shown "time"
alone, "Friday" and "March 2024" times."""
NOUNS_CAPITALISED = frozenset({"German"})
"""Languages (as :func:`~assistant.tools.language_words.text_language` names them) that capitalise every noun:
there a capital marks no name, and SmolLM2 typed "Hund", "Mutter" and "Gesetz" persons and organizations
in 6 German sentences of 6, so the result says so (a note), as for a script without capitals."""
_TYPE_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_WINDOWS = (300, 150, 60, 20)
"""Characters of context kept each side of a span, tried in turn, when a sentence is too long."""


def check_types(types: Sequence[str]) -> dict[str, str]:
    """Requested types (upper-cased) -> the word used for each in the prompt."""
    words: dict[str, str] = {}
    for raw in types:
        name = raw.strip().upper().replace(" ", "_").replace("-", "_")
        if not _TYPE_NAME.match(name):
            raise ConfigError(f"entity type {raw!r} must be a name like PERSON or DATE")
        word = TYPE_WORDS.get(name, name.lower().replace("_", " "))
        if word == NONE_WORD:
            raise ConfigError(f"entity type {raw!r} is reserved")
        clash = [t for t, w in words.items() if w == word and t != name]
        if clash:
            raise ConfigError(f"entity types {clash[0]} and {name} mean the same thing; pass one of them")
        words[name] = word
    if not words:
        raise ConfigError("ner needs at least one entity type")
    return words


def offered_types(requested: dict[str, str]) -> dict[str, str]:
    """The types the model chooses among: the core ones (as spelled in the request, if
    requested) in their usual order, then the other requested types."""
    offered: dict[str, str] = {}
    for core in CORE_TYPES:
        word = TYPE_WORDS[core]
        spelled = next((name for name, w in requested.items() if w == word), core)
        offered[spelled] = word
    offered.update(requested)
    return offered


@dataclass
class TypedSpan:
    """A candidate span of the input (``offset`` + ``span``) and the model's probability for each kind."""

    offset: int
    span: Span
    kinds: list[str]
    """The types chosen among, "" meaning none."""
    probabilities: list[float]

    @property
    def best(self) -> int:
        return max(range(len(self.kinds)), key=lambda i: self.probabilities[i])

    @property
    def kind(self) -> str:
        return self.kinds[self.best]


def mix_views(in_context: Sequence[float], by_itself: Sequence[float]) -> list[float]:
    """The average of a span's type distribution in its sentence and of the name by itself.

    Two views of one name: what the sentence says it is, and what the name itself
    usually is (its kind, :func:`kind_distribution`, or its type as a bare name). A
    135M model reads a sentence's topic too strongly (in a sports report it calls
    the countries organizations, in a business one the people), and the name by
    itself corrects that; where the name is ambiguous ("Jordan", "Lincoln") that
    distribution is flat and the sentence decides. An average rather than a product,
    so that one view sure of a wrong type cannot veto the other; no weight to tune
    (docs/tools.md has the measurements).
    """
    if len(in_context) != len(by_itself):
        raise ValueError("the two distributions must be over the same types")
    return [(a + b) / 2 for a, b in zip(in_context, by_itself)]


def in_english(span: Span) -> Span:
    """``span`` as the model is asked about it: another language's weekday with the English day it is ("Montag
    (Monday)"; :data:`~assistant.tools.span_dates.OTHER_WEEKDAYS`), since SmolLM2 called "Montag", "Samstag" and
    "domingo" no date (0.03, 0.03, 0.14) and each with its English day one (1.00, 0.79, 0.99); any other as it is."""
    english = OTHER_WEEKDAYS.get(span.text.lower()) if span.kind == "date" else None
    return span if english is None else Span(span.start, span.end, f"{span.text} ({english})", span.kind)


def kind_nouns(type_words: Sequence[str]) -> list[list[str]]:
    """The nouns scored for each type word (:data:`KIND_NOUNS`); each noun counts for one type only.

    A type asked for by name keeps its own noun ("event" for EVENT), so the
    catch-all "other" gives up the nouns that such a type claims; a type left with
    no noun is its own.
    """
    claimed: set[str] = set()
    nouns: dict[str, list[str]] = {}
    for word in sorted(type_words, key=lambda w: w == TYPE_WORDS["MISC"]):  # "other" last
        own = [n for n in KIND_NOUNS.get(word, (word,)) if n not in claimed and (n == word or n not in type_words)]
        nouns[word] = own or [word]
        claimed.update(nouns[word])
    return [nouns[word] for word in type_words]


def type_descriptions(type_words: Sequence[str]) -> dict[str, str]:
    """The descriptions (:data:`TYPE_DESCRIPTIONS`) of the type words that have one.

    A kind of "other" that a requested type claims ("product" for PRODUCT) is left out of
    the description of "other", by the rule that gives the kind view's nouns to the type
    (:func:`kind_nouns`): otherwise the prompt would tell the model such names are "other".
    """
    descriptions = {w: TYPE_DESCRIPTIONS[w] for w in type_words if w in TYPE_DESCRIPTIONS}
    other = TYPE_WORDS["MISC"]
    if other in descriptions:
        words = [w for w in type_words if w != NONE_WORD]
        nouns = kind_nouns(words)[words.index(other)]
        kinds = [kind for kind in OTHER_KINDS if kind in nouns]
        if kinds:
            descriptions[other] += ": a " + ", ".join(kinds)
    return descriptions


def kind_distribution(scores: Sequence[float], sizes: Sequence[int]) -> list[float]:
    """Each type's probability from its nouns' scores: the softmax over all nouns, summed per type.

    ``scores`` are the nouns' log-likelihoods after "<name> is a", type by type, and
    ``sizes`` how many nouns each type has. A type with more nouns is not favoured
    for that alone: a noun the model finds unlikely adds almost nothing.
    """
    if sum(sizes) != len(scores) or any(size < 1 for size in sizes):
        raise ValueError("every type needs at least one noun, and every score a type")
    probabilities = softmax(scores)
    result, start = [], 0
    for size in sizes:
        result.append(sum(probabilities[start : start + size]))
        start += size
    return result


def consistent_types(typed: list[TypedSpan], person: str) -> list[TypedSpan]:
    """One text, one type per name: the same spelling gets the same type, and a single word that
    ends a name typed ``person`` in the same text ("Ardern" after "Jacinda Ardern") is that person.

    A name's mentions pool their evidence (probabilities summed): a text usually
    introduces a name in a clearer context than it repeats it. A lone surname takes
    the full name's distribution outright: a small model types a bare surname far
    worse than the full name it repeats (it calls many of them organizations).
    """
    groups: dict[tuple[str, tuple[str, ...]], list[float]] = {}
    for item in typed:
        key = (item.span.text, tuple(item.kinds))
        pooled = groups.setdefault(key, [0.0] * len(item.kinds))
        groups[key] = [a + b for a, b in zip(pooled, item.probabilities)]
    surnames: dict[tuple[str, tuple[str, ...]], list[float]] = {}
    for (text, kinds), pooled in groups.items():
        words = text.split()
        if len(words) > 1 and person in kinds and kinds[max(range(len(kinds)), key=lambda i: pooled[i])] == person:
            surnames[(words[-1], kinds)] = pooled
    result = []
    for item in typed:
        key = (item.span.text, tuple(item.kinds))
        pooled = groups[key]
        if key in surnames:
            pooled = surnames[key]
        total = sum(pooled)
        result.append(TypedSpan(item.offset, item.span, item.kinds, [p / total for p in pooled]))
    return result


class NamedEntities(BaseTool):
    name = "ner"
    description = "Find named entities (people, places, organizations, dates, ...) with exact character offsets."
    parameters = (
        Parameter(
            "types",
            "list",
            help="comma-separated entity types, e.g. PERSON,LOCATION,ORGANIZATION,DATE,MISC",
            default=("PERSON", "LOCATION", "ORGANIZATION"),
        ),
        Parameter(
            "calibrate",
            "bool",
            help="divide out each type's prior, measured on content-free inputs (docs/tools.md)",
            default=False,
        ),
        Parameter(
            "view",
            "choice",
            help="the second view of each name, averaged with its sentence's: kind ('<name> is a' country, "
            "company, ...), bare (typed as a sentence of its own, where the sentence leaves the model unsure; "
            "the method before), or none",
            default="kind",
            choices=("kind", "bare", "none"),
        ),
    )
    templates = ("ner", "ner-question")

    describe_types = True
    """Describe each type above the examples (``TYPE_DESCRIPTIONS``); a switch for the benchmark's comparison."""
    harmonise = True
    """Run :func:`consistent_types` over each text; a switch for the benchmark's comparison."""
    bare_name_below = 0.7
    """With ``view=bare``, the bare name is consulted only for a span whose best type in its sentence has a
    lower probability: on the CoNLL development halves any limit from 0.7 to 1 (always) gave the same F1
    (docs/tools.md), and 0.7 scores fewer than half of the spans a second time."""
    kind_below = 0.9
    """With ``view=kind``, the kind is asked for every span whose best type in its sentence is under this:
    about 4 in 5 spans on CoNLL-2003. Asking for all of them gave the same F1 (+0.002) for a quarter more
    kind evaluations; a limit of 0.7, as for the bare name, lost 0.05 (the sentence is often sure and wrong)."""
    _BARE_CACHE = 4096
    """Second-view distributions kept per backend: a batch of news repeats its names, and each is scored once."""

    def __init__(self) -> None:
        self._baselines: dict[tuple[str, str, tuple[str, ...], tuple[str, ...]], list[float]] = {}
        # Per backend object (weakly held): a distribution belongs to the model that scored it.
        self._bare: weakref.WeakKeyDictionary[Any, dict[tuple[str, tuple[Any, ...], bool, str], list[float] | None]]
        self._bare = weakref.WeakKeyDictionary()

    progress_seconds = 5.0
    """How often a long text reports which sentence it has reached (a 50-page file takes many minutes)."""

    def run(
        self, text: str, params: Mapping[str, Any], backend: Any, progress: Progress | None = None
    ) -> EntitiesResult:
        requested = check_types(params["types"])
        types = list(requested)
        if not text.strip():  # a bare "(no entities)" would read as a finding about a text
            return EntitiesResult(entities=[], types=types, note="the input is empty")
        offered = offered_types(requested)
        # Name spans are never dates and date or time spans (found by pattern) are only ever the
        # type their pattern says, so each is typed among its own labels: adding "date" to every
        # choice cost names 0.07 F1 on SmolLM2 (docs/tools.md).
        name_types = {t: w for t, w in offered.items() if w not in PATTERN_KINDS}
        pattern_types = {kind: {t: w for t, w in offered.items() if w == kind} for kind in PATTERN_KINDS}
        person = next(name for name, word in offered.items() if word == TYPE_WORDS["PERSON"])
        # A name span only ever comes out as a name type: with dates alone asked for, typing the
        # names (and asking each one's kind) would take most of the time for nothing.
        names_wanted = any(w not in PATTERN_KINDS for w in requested.values())
        typed: list[TypedSpan] = []
        # In a sentence all in capitals names are found in the text as the model recases it ("JOHN SMITH
        # VISITED PARIS": "JOHN SMITH", "PARIS"), not in one run of capitals (assistant/tools/span_case.py).
        recase = self._recaser(backend) if names_wanted else None
        # A sentence's first word before a date ("Black Friday sales", "Happy Friday everyone") or a comma
        # ("Honestly, the food was great") is asked what it is, as the model writes it inside a sentence
        # (assistant/tools/span_case.py).
        opening = self._opening(backend) if names_wanted else None
        # Told once for the whole text (one sentence is too short to tell): its own function words are no
        # names ("Le", "El"), where the span finder's lists are English, and its capitalised weekdays dates
        # ("Samstag kam Hans"), where in an English text "Domingo" is a name (assistant/tools/spans.py).
        language = text_language(text)
        sentences = sentence_spans(text)
        reported = time.monotonic()
        for index, (start, end) in enumerate(sentences):
            if progress is not None and time.monotonic() - reported >= self.progress_seconds:
                reported = time.monotonic()
                progress(index, len(sentences), f"typing the names of sentence {index + 1} of {len(sentences)}")
            sentence = text[start:end]
            found = [
                s
                for s in candidate_spans(
                    sentence, bool(pattern_types["date"]), bool(pattern_types["time"]), recase, opening, language
                )
                if names_wanted or s.kind != "name"
            ]
            # A hard-wrapped sentence is shown on one line, a name wrapped in it as one name
            # ("Richard Stallman"); its offsets and text stay the input's.
            sentence, spans = one_line(sentence, found)
            # Counted once per sentence: a sentence longer than the whole context is shown in a window
            # around each span, and trying it whole for each of its spans first made one 40,000-word
            # sentence (a text in capitals without a full stop) cost quadratic time before any score.
            whole = bool(spans) and backend.count_tokens(sentence) <= context_window(backend)
            in_sentence = []
            for raw, span in zip(found, spans):  # a sentence's spans first: they share its prompt in the KV cache
                if span.kind == "name":
                    shown, choices = name_types, name_types
                else:
                    shown, choices = offered, pattern_types[span.kind]
                asked = in_english(span)
                item = self._typed(backend, sentence, start, asked, shown, choices, params["calibrate"], whole)
                in_sentence.append(
                    TypedSpan(start, Span(raw.start, raw.end, span.text, span.kind), item.kinds, item.probabilities)
                )
            for item in in_sentence:
                view = params["view"]
                below = self.bare_name_below if view == "bare" else self.kind_below
                if item.probabilities[item.best] >= below:
                    view = "none"
                if view != "none" and item.span.kind == "name":
                    second = self._by_itself(backend, item.span.text, name_types, params["calibrate"], view)
                    if second is not None:
                        item = TypedSpan(item.offset, item.span, item.kinds, mix_views(item.probabilities, second))
                typed.append(item)
        if self.harmonise:
            typed = consistent_types(typed, person)
        entities = [
            Entity(
                text[t.offset + t.span.start : t.offset + t.span.end], t.kind, t.offset + t.span.start,
                t.offset + t.span.end, t.probabilities[t.best],
            )
            for t in typed
            if t.kind in requested
        ]
        for entity in entities:  # the promise callers rely on; a failure here is a bug, said clearly
            if text[entity.start : entity.end] != entity.text or entity.type not in requested:
                raise ToolError(f"internal error: entity {entity} does not match the input")
        return EntitiesResult(entities=entities, types=types, note=self._note(text, language) if names_wanted else None)

    @staticmethod
    def _note(text: str, language: str | None) -> str | None:
        """What the result cannot say about ``text`` because names are found by their capitals, or None."""
        script = caseless_script(text)
        if script is not None:
            return (
                f"ner finds names by their capital letters, and most of this text is in {script} script, "
                "which has none: names written in it are not found"
            )
        if language in NOUNS_CAPITALISED:
            return (
                f"ner finds names by their capital letters, and this text is in {language}, which capitalises "
                "every noun: common nouns may be given as names"
            )
        if not any(c.isupper() for c in text) and any(c.islower() for c in text):
            # "barack obama visited paris" gave "(no entities)" and nothing said why
            return (
                "ner finds names by their capital letters, and this text has none: names written in lower case "
                "are not found"
            )
        return None

    @staticmethod
    def _recaser(backend: Any) -> Callable[[str], str]:
        """Text all in capitals as the model would write it (:func:`recased`), where names have capitals
        again; as it is where the backend cannot score."""

        def recase(text: str) -> str:
            try:
                return recased(text, lambda prompt, candidates: label_scores(backend, prompt, candidates))
            except NotSupportedError:
                return text

        return recase

    @staticmethod
    def _opening(backend: Any) -> Callable[[str, str, str], Opening]:
        """What a sentence's first word before a date or a comma is (:func:`opening_case`), by the model;
        where the backend cannot score, a name of its own, as code alone finds it."""

        def opening(word: str, date: str, rest: str) -> Opening:
            def score(prompt: str, candidates: list[str]) -> list[float]:
                return label_scores(backend, prompt, candidates)

            try:
                return opening_case(word, date, rest, score)
            except NotSupportedError:
                return "apart"

        return opening

    def _typed(
        self, backend: Any, sentence: str, offset: int, span: Span, shown: dict[str, str],
        choices: dict[str, str], calibrate: bool, whole: bool = True,
    ) -> TypedSpan:
        """The probability of each of ``choices`` (and none) for ``span``, the prompt listing ``shown``;
        ``whole``: whether the sentence may fit the context whole (False: no prompt holding it can)."""
        words = [*choices.values(), NONE_WORD]
        kinds = [*choices, ""]
        candidates = [f" {word}" for word in words]
        context = self._context(backend, sentence, span, shown, candidates, whole)
        try:
            baseline = self._baseline(backend, shown, candidates) if calibrate else None
            scores = label_scores(backend, self._prompt(context, span.text, shown), candidates, baseline)
        except NotSupportedError:
            messages = render("ner-question", {"sentence": context, "span": span.text, "words": words})
            word = generate_label(backend, messages, words)
            return TypedSpan(offset, span, kinds, [float(w == word) for w in words])
        return TypedSpan(offset, span, kinds, softmax(scores))

    def _by_itself(
        self, backend: Any, name: str, types: dict[str, str], calibrate: bool, view: str
    ) -> list[float] | None:
        """The type distribution (types, then none) of ``name`` out of its sentence, by ``view``: its kind
        (none gets 0: the nouns say what a name is, not whether it is one) or its type as a sentence of its
        own. None where the backend cannot score or the prompt does not fit."""
        try:
            cache = self._bare.setdefault(backend, {})
        except TypeError:  # a backend that cannot be weakly referenced or hashed: no cache, same results
            cache = {}
        key = (name, tuple(types.items()), calibrate and view == "bare", view)
        if key not in cache:
            try:
                cache[key] = self._kind(backend, name, types) if view == "kind" else self._bare_name(
                    backend, name, types, calibrate
                )
            except NotSupportedError:
                cache[key] = None
            if len(cache) > self._BARE_CACHE:
                del cache[next(iter(cache))]
        return cache[key]

    def _bare_name(self, backend: Any, name: str, types: dict[str, str], calibrate: bool) -> list[float] | None:
        candidates = [f" {word}" for word in (*types.values(), NONE_WORD)]
        prompt = self._prompt(name, name, types)
        baseline = self._baseline(backend, types, candidates) if calibrate else None
        if not fits(backend, prompt, max(backend.count_tokens(c) for c in candidates)):
            return None
        return softmax(label_scores(backend, prompt, candidates, baseline))

    def _kind(self, backend: Any, name: str, types: dict[str, str]) -> list[float] | None:
        # The same instructions and examples as the sentence's prompt, so the KV cache keeps them.
        groups = kind_nouns(list(types.values()))
        candidates = [f" {noun}" for group in groups for noun in group]
        prompt = self._prompt(name, name, types, kind_of=True)
        if not fits(backend, prompt, max(backend.count_tokens(c) for c in candidates)):
            return None
        return [*kind_distribution(label_scores(backend, prompt, candidates), [len(g) for g in groups]), 0.0]

    def _baseline(self, backend: Any, shown: dict[str, str], candidates: list[str]) -> list[float]:
        """Each type's prior: its probability for a content-free span in a content-free sentence."""
        key = (backend.name, backend.model_name, tuple(shown.values()), tuple(candidates))
        if key not in self._baselines:
            prompts = [self._prompt(x, x, shown) for x in CONTENT_FREE_INPUTS]
            self._baselines[key] = content_free_baseline(backend, prompts, candidates)
        return self._baselines[key]

    def _prompt(self, sentence: str, span: str, type_words: dict[str, str], kind_of: bool = False) -> str:
        # The sentence comes before the span in the prompt, so every span of a sentence
        # shares the prompt's prefix and the backend reuses its KV cache.
        words = [*dict.fromkeys(type_words.values()), NONE_WORD]
        descriptions = type_descriptions(words) if self.describe_types else {}
        # The examples are labelled with the full names (PERSON, LOCATION, ...): a type asked for by
        # another name for the same word (PER, GPE) labels them too, not "none".
        spellings = {t: w for t, w in TYPE_WORDS.items() if w in words and t not in type_words}
        variables = {
            "sentence": sentence, "span": span, "type_words": {**type_words, **spellings}, "none_word": NONE_WORD,
            "descriptions": descriptions, "kind_of": kind_of,
        }
        return completion_text(render("ner", variables))

    def _context(
        self, backend: Any, sentence: str, span: Span, type_words: dict[str, str], candidates: list[str],
        whole: bool = True,
    ) -> str:
        """The sentence, or a window around the span when a very long sentence would not fit (without
        trying, when ``whole`` is False: the sentence alone has more tokens than the context holds)."""
        reserve = max(backend.count_tokens(c) for c in candidates)
        if whole and fits(backend, self._prompt(sentence, span.text, type_words), reserve):
            return sentence
        for radius in _WINDOWS:
            # Whole words, unless the nearest space is far off (a base64 blob, a long URL): then a cut
            # inside that word, so the window stays about ``radius`` each side whatever the text.
            low, high = max(0, span.start - radius), min(len(sentence), span.end + radius)
            left = sentence.rfind(" ", 0, low) + 1
            if low - left > radius:
                left = low
            right = sentence.find(" ", high)
            if right == -1 or right - high > radius:
                right = high
            window = sentence[left:right]
            if fits(backend, self._prompt(window, span.text, type_words), reserve):
                return window
        raise ToolError(f"the context window ({context_window(backend)} tokens) is too small for NER; raise n_ctx")


@hookimpl
def register_tools(register: Callable[[Any], None]) -> None:
    register(NamedEntities())

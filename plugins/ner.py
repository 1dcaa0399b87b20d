"""First-party tool ``ner``: named entities with exact offsets and types from the requested set.

Free-form generation is unusable for NER with small models (spans that are not
in the text, invented types, broken JSON). So the work is split: code finds
the candidate spans — runs of capitalised words and date patterns, see
:mod:`assistant.tools.spans` — and the model only *types* each one, by the
likelihood of each type word (or "none") after a few-shot prompt. Every
returned span is a slice of the input at its offsets and every type is one
that was asked for, by construction; the sentence's prompt is evaluated once
and its KV cache reused for each of its candidate spans.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping, Sequence

from assistant import hookimpl
from assistant.errors import ConfigError, NotSupportedError, ToolError
from assistant.tools import BaseTool, EntitiesResult, Entity, Parameter
from assistant.tools.classify import generate_label, label_scores, softmax
from assistant.tools.context import context_window, fits
from assistant.tools.prompts import completion_text, render
from assistant.tools.spans import Span, candidate_spans
from assistant.tools.text import sentence_spans

TYPE_WORDS = {
    "PERSON": "person", "PER": "person",
    "LOCATION": "place", "LOC": "place", "GPE": "place",
    "ORGANIZATION": "organization", "ORGANISATION": "organization", "ORG": "organization",
    "DATE": "date", "TIME": "time",
    "MISC": "other name", "EVENT": "event", "PRODUCT": "product", "WORK_OF_ART": "work of art",
    "NORP": "nationality", "FACILITY": "building", "FAC": "building", "LANGUAGE": "language", "LAW": "law",
}
"""The word the model sees for each type; other types are shown lower-cased ("ANIMAL" -> "animal")."""

NONE_WORD = "none"
CORE_TYPES = ("PERSON", "LOCATION", "ORGANIZATION")
"""Always offered to the model, asked for or not: with only PERSON offered, SmolLM2 calls
organizations and places persons or misses persons (F1 0.08 for PERSON alone); offered
all three and filtered afterwards, each subset scores like the full set (docs/tools.md)."""
DATE_TYPES = {"DATE", "TIME"}
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
    """The types the model chooses among: the core three (as spelled in the request, if
    requested) in their usual order, then the other requested types."""
    offered: dict[str, str] = {}
    for core in CORE_TYPES:
        word = TYPE_WORDS[core]
        spelled = next((name for name, w in requested.items() if w == word), core)
        offered[spelled] = word
    offered.update(requested)
    return offered


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
    )
    templates = ("ner", "ner-question")

    def run(self, text: str, params: Mapping[str, Any], backend: Any) -> EntitiesResult:
        requested = check_types(params["types"])
        types = list(requested)
        offered = offered_types(requested)
        # Name spans are never dates and date spans (found by pattern) are only ever dates,
        # so each is typed among its own labels: adding "date" to every choice cost names
        # 0.07 F1 on SmolLM2 (docs/tools.md).
        name_types = {t: w for t, w in offered.items() if t not in DATE_TYPES}
        date_types = {t: w for t, w in offered.items() if t in DATE_TYPES}
        entities: list[Entity] = []
        for start, end in sentence_spans(text):
            sentence = text[start:end]
            for span in candidate_spans(sentence, dates=bool(date_types)):
                shown, choices = (offered, date_types) if span.kind == "date" else (name_types, name_types)
                kind, probability = self._type_of(backend, sentence, span, shown, choices)
                if kind in requested:
                    entities.append(Entity(span.text, kind, start + span.start, start + span.end, probability))
        for entity in entities:  # the promise callers rely on; a failure here is a bug, said clearly
            if text[entity.start : entity.end] != entity.text or entity.type not in requested:
                raise ToolError(f"internal error: entity {entity} does not match the input")
        return EntitiesResult(entities=entities, types=types)

    def _type_of(
        self, backend: Any, sentence: str, span: Span, shown: dict[str, str], choices: dict[str, str]
    ) -> tuple[str, float]:
        """The span's type among ``choices`` (or "" for none), with the prompt listing ``shown``."""
        words = [*choices.values(), NONE_WORD]
        kinds = [*choices, ""]
        candidates = [f" {word}" for word in words]
        context = self._context(backend, sentence, span, shown, candidates)
        prompt = self._prompt(context, span, shown)
        try:
            probabilities = softmax(label_scores(backend, prompt, candidates))
        except NotSupportedError:
            messages = render("ner-question", {"sentence": context, "span": span.text, "words": words})
            word = generate_label(backend, messages, words)
            return kinds[words.index(word)], 1.0
        best = max(range(len(kinds)), key=lambda i: probabilities[i])
        return kinds[best], probabilities[best]

    def _prompt(self, sentence: str, span: Span, type_words: dict[str, str]) -> str:
        # The sentence comes before the span in the prompt, so every span of a sentence
        # shares the prompt's prefix and the backend reuses its KV cache.
        variables = {"sentence": sentence, "span": span.text, "type_words": type_words, "none_word": NONE_WORD}
        return completion_text(render("ner", variables))

    def _context(
        self, backend: Any, sentence: str, span: Span, type_words: dict[str, str], candidates: list[str]
    ) -> str:
        """The sentence, or a window around the span when a very long sentence would not fit."""
        reserve = max(backend.count_tokens(c) for c in candidates)
        if fits(backend, self._prompt(sentence, span, type_words), reserve):
            return sentence
        for radius in _WINDOWS:
            left = sentence.rfind(" ", 0, max(0, span.start - radius)) + 1
            right = sentence.find(" ", min(len(sentence), span.end + radius))
            window = sentence[left : right if right != -1 else len(sentence)]
            if fits(backend, self._prompt(window, span, type_words), reserve):
                return window
        raise ToolError(f"the context window ({context_window(backend)} tokens) is too small for NER; raise n_ctx")


@hookimpl
def register_tools(register: Callable[[Any], None]) -> None:
    register(NamedEntities())

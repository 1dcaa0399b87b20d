"""How tools render their prompts: template files, through the templates API.

Each first-party tool names its templates (``Tool.templates``); the wording lives
in ``prompts/*.jinja``, where a user can override it with a template of the same
name in their templates directory and a plugin can ship its own with
``register_template_dirs``. The templates package (Jinja, YAML) is imported only
when a prompt is rendered, so loading the tool plugins stays cheap.

Scoring prompts (sentiment, NER) are *completion* prompts: a few-shot text that
the model continues with a label, fed raw (no chat template), because SmolLM2
classifies far better that way (100 % vs 50 % sentiment accuracy on the dev set
with the examples as chat turns). :func:`completion_text` turns rendered
messages into that text the way the templates' ``scoring: text`` does.
"""

from __future__ import annotations

import math
import re
from typing import Any, Collection, Mapping, Sequence

from ..errors import TemplateError
from ..types import Message


def render(name: str, variables: Mapping[str, Any], optional: Collection[str] = ()) -> list[Message]:
    """The messages of template ``name`` filled with ``variables``.

    ``optional`` names variables that a template may not declare: they are left out for one that does
    not. Why: a template refuses a variable it does not declare, and a user's own ``summarize.jinja``,
    written before the tool gave it a ``language``, failed every summary with "unknown variable(s)
    language" once the tool did.
    """
    from ..templates import load_template, render_template

    template = load_template(name)
    given = {key: value for key, value in variables.items() if key not in optional or template.variable(key)}
    return render_template(template, given)


def completion_text(messages: Sequence[Message]) -> str:
    """The plain text of a completion-style prompt: message contents joined by blank lines."""
    if any(m.role == "assistant" for m in messages):
        raise TemplateError("a completion prompt cannot contain assistant turns (lay examples out inline)")
    return "\n\n".join(m.content for m in messages)


_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")


def _words(text: str) -> set[str]:
    """The content words of ``text``: function words say nothing about which example is closer."""
    from .spans import STOPWORDS

    return {word for word in _WORD.findall(text.lower()) if word not in STOPWORDS}


class DemonstrationPool:
    """Few-shot demonstrations chosen per input: the pool's examples most similar to it.

    Similarity is lexical — cosine of IDF-weighted content-word vectors, IDF
    measured over the pool — so it costs microseconds and needs no model. A fixed list of
    examples shows the model the same few situations whatever the input; picking
    the nearest ones shows it the situations that look like this input (Liu et
    al. 2022; GPT-NER, 2023). The price is the KV cache: a prompt whose
    examples change with the input is evaluated whole for every input.
    """

    def __init__(self, examples: Sequence[Mapping[str, Any]], text_key: str = "input", label_key: str = "output"):
        self.examples = list(examples)
        self.text_key, self.label_key = text_key, label_key
        documents = [_words(str(e[text_key])) for e in self.examples]
        frequency: dict[str, int] = {}
        for words in documents:
            for word in words:
                frequency[word] = frequency.get(word, 0) + 1
        size = len(self.examples)
        self._idf = {word: math.log((size + 1) / (count + 1)) + 1.0 for word, count in frequency.items()}
        self._vectors = [self._vector(str(e[text_key])) for e in self.examples]

    def _vector(self, text: str) -> dict[str, float]:
        # Binary weights (a word is there or not: short texts rarely repeat one); words the
        # pool has never seen carry no evidence about which example is closer.
        vector = {w: self._idf[w] for w in _words(text) if w in self._idf}
        norm = math.sqrt(sum(v * v for v in vector.values()))
        return {w: v / norm for w, v in vector.items()} if norm else {}

    def similarities(self, text: str) -> list[float]:
        """Cosine similarity of ``text`` to each example, in pool order."""
        query = self._vector(text)
        return [sum(weight * vector.get(word, 0.0) for word, weight in query.items()) for vector in self._vectors]

    def nearest(self, text: str, per_label: int, labels: Sequence[str] | None = None) -> list[Mapping[str, Any]]:
        """The ``per_label`` most similar examples of each label (of ``labels``, or all the pool's).

        Balanced per label, because a prompt whose demonstrations mostly carry one
        label pushes a small model towards it whatever the input. Laid out in rounds
        of one example per label, in the order of ``labels`` (as the fixed examples
        are): each label's least similar first, its nearest in the last round, right
        before the input. Ties keep pool order (deterministic).

        Why rounds: sorted by similarity alone, a label's examples bunched together, and
        the label of the last one, which sways a small model most, was whichever shared
        a topic word with the input ("The film is about two hours long." had the film
        reviews last, the neutral facts first) or, with no word shared, the pool's first
        row (always "positive"). SmolLM2-135M, positive/negative/neutral on the eval set:
        60/86 → 72/86 (every positive and negative right); positive/negative: 62/72 →
        67/72; SST-2's first 100 phrases 79 → 85 (docs/tools.md).
        """
        scores = self.similarities(text)
        wanted = list(labels) if labels is not None else list(dict.fromkeys(e[self.label_key] for e in self.examples))
        nearest: list[list[int]] = []
        for label in wanted:
            indices = [i for i, e in enumerate(self.examples) if e[self.label_key] == label]
            indices.sort(key=lambda i: (-scores[i], i))
            nearest.append(indices[:per_label])
        rounds = range(max((len(found) for found in nearest), default=0) - 1, -1, -1)  # the farthest round first
        return [self.examples[found[rank]] for rank in rounds for found in nearest if rank < len(found)]

    def longest(self, count: int, label: str) -> list[Mapping[str, Any]]:
        """The ``count`` longest examples of ``label``: the most room a choice of them can take."""
        mine = [e for e in self.examples if e[self.label_key] == label]
        return sorted(mine, key=lambda e: -len(str(e[self.text_key])))[:count]

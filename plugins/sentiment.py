"""First-party tool ``sentiment``: a label chosen by likelihood, with a probability for every label.

The model is never asked to *write* the label. A few-shot completion prompt
("Text: …\\nSentiment:") is evaluated once and the backend scores each
candidate label on top of its KV cache; the softmax of those log-likelihoods
is the probability of each label. With SmolLM2-135M this is right on every
positive/negative text of the project's evaluation set and on 84.6 % of the
public SST-2 development phrases (docs/tools.md), where asking for the label in
a chat turn is no better than chance.

Backends that cannot score fall back to generating the label (validated
against the set, retried once); the result then says ``method: generation``
and its probabilities are one-hot, since no likelihoods exist.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any, Callable, Mapping, Sequence

from assistant import hookimpl
from assistant.errors import ConfigError, NotSupportedError, ToolError
from assistant.tools import BaseTool, LabelResult, Parameter, Progress
from assistant.tools.classify import (
    CONTENT_FREE_INPUTS,
    content_free_baseline,
    generate_label,
    label_scores,
    softmax,
)
from assistant.tools.context import input_budget, token_counter
from assistant.tools.prompts import DemonstrationPool, completion_text, render
from assistant.tools.text import chunk_text, tidy_spacing


def check_labels(labels: Sequence[str]) -> list[str]:
    """The labels, stripped; a set the prompt cannot use is refused naming the one label at fault.

    A label is the text scored after "Sentiment:", so a control character (an escape sequence,
    a tab or carriage return pasted with it) or a ':' or line break would be scored as part of
    it, and a label that repeats another (case aside) would split its probability. The message
    quotes only the label at fault: with 200 labels, quoting them all made one error a page long.
    """
    cleaned = [label.strip() for label in labels]
    if len(cleaned) < 2:
        raise ConfigError("sentiment needs at least two labels, e.g. labels=positive,negative")
    seen: dict[str, str] = {}
    for label in cleaned:
        if not label or ":" in label or any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in label):
            raise ConfigError(
                f"sentiment labels must be non-empty words without ':', line breaks or control characters, "
                f"not {shorten(label)!r}"
            )
        if label.lower() in seen:
            first = seen[label.lower()]
            twice = f"{shorten(first)!r} and {shorten(label)!r}" if first != label else repr(shorten(label))
            raise ConfigError(f"sentiment labels must be distinct: {twice} given twice (case is ignored)")
        seen[label.lower()] = label
    return cleaned


def shorten(text: str, limit: int = 60) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis: a label in a message, not a page of it."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


_LONGEST = "\0longest"
"""Marker for :meth:`Sentiment._demonstrations`: the longest examples it could choose."""


class Sentiment(BaseTool):
    name = "sentiment"
    description = "Classify the sentiment of text (positive/negative, or your own labels) with probabilities."
    parameters = (
        Parameter("labels", "list", help="comma-separated labels", default=("positive", "negative"), check=check_labels),
        Parameter(
            "calibrate",
            "bool",
            help="subtract each label's score after a content-free input (off: it lowered accuracy on SmolLM2)",
            default=False,
        ),
        Parameter(
            "examples",
            "choice",
            help="few-shot examples: the template's fixed ones, or per input the most similar of a pool "
            "(slower: the prompt changes with every input; lower accuracy on SmolLM2, docs/tools.md)",
            default="fixed",
            choices=("fixed", "similar"),
        ),
    )
    templates = ("sentiment", "sentiment-question")

    per_label = 2
    """Examples of each label shown with ``examples=similar``."""
    tidy = True
    """Show tokenized input ("does n't") with its usual spacing (:func:`tidy_spacing`)."""

    def __init__(self) -> None:
        self._baselines: dict[tuple[str, str, tuple[str, ...], str], list[float]] = {}
        self._pool: DemonstrationPool | None = None

    def _demonstrations(self, text: str, labels: list[str], examples: str) -> list[Mapping[str, Any]]:
        """The examples chosen for ``text`` (``examples=similar``), or [] for the template's fixed ones."""
        if examples == "fixed":
            return []
        if self._pool is None:
            from assistant.templates import load_template

            path = load_template("sentiment").path.parent / "sentiment.pool.jsonl"
            from assistant.batch.rows import jsonl_lines

            rows = [json.loads(line) for line in jsonl_lines(path.read_text(encoding="utf-8")) if line.strip()]
            self._pool = DemonstrationPool(rows)
        wanted = [label.lower() for label in labels]
        if text is _LONGEST:  # the longest choice possible, for measuring how much input still fits
            return [e for label in wanted for e in self._pool.longest(self.per_label, label)]
        return self._pool.nearest(text, self.per_label, wanted)

    def run(
        self, text: str, params: Mapping[str, Any], backend: Any, progress: Progress | None = None
    ) -> LabelResult:
        labels = check_labels(params["labels"])
        if not text.strip():
            raise ToolError("nothing to classify: the input is empty")
        candidates = [f" {label}" for label in labels]
        try:
            examples = params["examples"]
            baseline = self._baseline(backend, labels, candidates, examples) if params["calibrate"] else None
            return self._by_likelihood(backend, text, labels, candidates, baseline, examples, progress)
        except NotSupportedError:
            messages = render("sentiment-question", {"input": text, "labels": labels})
            label = generate_label(backend, messages, labels)
            return LabelResult(label, {name: float(name == label) for name in labels}, method="generation")

    def _prompt(self, text: str, labels: list[str], examples: str, chosen_for: str | None = None) -> str:
        """The prompt for ``text``; its examples chosen for ``chosen_for`` when given (else for ``text``)."""
        demonstrations = self._demonstrations(text if chosen_for is None else chosen_for, labels, examples)
        if self.tidy:
            text = tidy_spacing(text)
        variables = {"input": text, "labels": labels, "demonstrations": demonstrations}
        return completion_text(render("sentiment", variables))

    def _by_likelihood(
        self, backend: Any, text: str, labels: list[str], candidates: list[str], baseline: list[float] | None,
        examples: str, progress: Progress | None = None,
    ) -> LabelResult:
        reserve = max(backend.count_tokens(c) for c in candidates) + 1
        budget = input_budget(backend, lambda t: self._prompt(t, labels, examples, _LONGEST), reserve)
        count = token_counter(backend)
        pieces = chunk_text(text, count, budget)
        # Long input: classify each piece, weight its probabilities by its length.
        totals = [0.0] * len(labels)
        weight_sum = 0
        for index, piece in enumerate(pieces):
            if progress is not None and len(pieces) > 1:  # a long document: seconds per part on a CPU
                progress(index, len(pieces), f"classifying part {index + 1} of {len(pieces)}")
            prompt = self._prompt(piece, labels, examples)
            probabilities = softmax(label_scores(backend, prompt, candidates, baseline))
            weight = count(piece)
            weight_sum += weight
            totals = [t + p * weight for t, p in zip(totals, probabilities)]
        probabilities = [t / weight_sum for t in totals]
        best = max(range(len(labels)), key=lambda i: probabilities[i])
        return LabelResult(labels[best], dict(zip(labels, probabilities)), method="likelihood")

    def _baseline(self, backend: Any, labels: list[str], candidates: list[str], examples: str) -> list[float]:
        key = (backend.name, backend.model_name, tuple(labels), examples)
        if key not in self._baselines:
            prompts = [self._prompt(x, labels, examples) for x in CONTENT_FREE_INPUTS]
            self._baselines[key] = content_free_baseline(backend, prompts, candidates)
        return self._baselines[key]


@hookimpl
def register_tools(register: Callable[[Any], None]) -> None:
    register(Sentiment())

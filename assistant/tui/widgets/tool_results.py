"""Structured drawings of tool results: highlighted entities, sentiment bars.

The renderers take plain values (text, spans, probabilities) rather than a
tool's result class, so the same drawing serves any tool — a third-party NER
plugin included — that returns the same shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from rich.text import Text
from textual.widget import Widget
from textual.widgets import Markdown, Static

from ..text import visible_text

ENTITY_STYLES = (
    "bold black on #8ec07c",
    "bold black on #83a598",
    "bold black on #fabd2f",
    "bold black on #d3869b",
    "bold black on #fe8019",
    "bold black on #b8bb26",
)


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    label: str


def entity_styles(labels: Sequence[str]) -> dict[str, str]:
    """A stable colour per entity type (in the order the types are listed)."""
    return {label: ENTITY_STYLES[index % len(ENTITY_STYLES)] for index, label in enumerate(labels)}


def highlight_entities(text: str, spans: Sequence[Span], labels: Sequence[str]) -> Text:
    """``text`` with each span coloured by type and tagged ``[TYPE]``, then a legend line.

    Spans outside the text or overlapping an earlier one are skipped rather
    than drawn wrongly (tools guarantee valid offsets; this is belt and braces).
    """
    all_labels = list(dict.fromkeys([*labels, *(span.label for span in spans)]))
    styles = entity_styles(all_labels)
    out = Text()
    position = 0
    for span in sorted(spans, key=lambda s: (s.start, s.end)):
        if span.start < position or span.end > len(text) or span.start >= span.end:
            continue
        out.append(visible_text(text[position : span.start]))
        out.append(visible_text(text[span.start : span.end]), style=styles[span.label])
        out.append(f" {span.label}", style="dim italic")
        position = span.end
    out.append(visible_text(text[position:]))
    out.append("\n\n")
    out.append("Legend: ", style="bold")
    for index, label in enumerate(all_labels):
        if index:
            out.append("  ")
        out.append(f" {label} ", style=styles[label])
        count = sum(1 for span in spans if span.label == label)
        out.append(f" {count}", style="dim")
    if not spans:
        out.append("   (no entities found)", style="italic")
    return out


def probability_bars(probabilities: Mapping[str, float], chosen: str | None = None, width: int = 30) -> Text:
    """One line per label: name, a bar proportional to its probability, the percentage."""
    out = Text()
    name_width = max((len(label) for label in probabilities), default=0)
    for index, (label, probability) in enumerate(sorted(probabilities.items(), key=lambda item: -item[1])):
        if index:
            out.append("\n")
        filled = round(max(0.0, min(1.0, probability)) * width)
        style = "bold green" if label == chosen else "cyan"
        out.append(f"{visible_text(label):<{name_width}}  ", style="bold" if label == chosen else "")
        out.append("█" * filled, style=style)
        out.append("░" * (width - filled), style="dim")
        out.append(f"  {probability:6.1%}")
        if label == chosen:
            out.append("  ◀", style=style)
    return out


class EntityView(Static):
    DEFAULT_CSS = "EntityView { height: auto; }"

    def __init__(self, text: str, spans: Sequence[Span], labels: Sequence[str]) -> None:
        super().__init__(highlight_entities(text, spans, labels), markup=False)


class SentimentView(Static):
    DEFAULT_CSS = "SentimentView { height: auto; }"

    def __init__(self, probabilities: Mapping[str, float], chosen: str | None) -> None:
        super().__init__(probability_bars(probabilities, chosen), markup=False)


def softmax(scores: Mapping[str, float]) -> dict[str, float]:
    """Log-likelihoods → probabilities over the given labels."""
    top = max(scores.values())
    weights = {label: math.exp(score - top) for label, score in scores.items()}
    total = sum(weights.values())
    return {label: weight / total for label, weight in weights.items()}


def result_view(result: Any) -> tuple[Widget, str]:
    """A widget drawing a tool's or template's result, and its plain text (for copying).

    Dispatches on the result's shape, not its class, so plugins' results draw too:
    ``probabilities`` (or log-likelihood ``scores``) → bars; ``entities`` with
    offsets → highlighted text; anything else → its text as Markdown.
    """
    plain = result.to_text() if hasattr(result, "to_text") else str(getattr(result, "answer", None) or result)
    probabilities = getattr(result, "probabilities", None)
    scores = getattr(result, "scores", None)
    if not probabilities and isinstance(scores, Mapping) and scores:
        probabilities = softmax(scores)
    if probabilities:
        chosen = getattr(result, "label", None) or getattr(result, "answer", None)
        return SentimentView(dict(probabilities), str(chosen) if chosen is not None else None), plain
    entities = getattr(result, "entities", None)
    source = getattr(result, "text", None)
    if entities is not None and isinstance(source, str):
        spans = [Span(int(e.start), int(e.end), str(e.type)) for e in entities]
        labels = list(getattr(result, "types", None) or getattr(result, "labels", None) or [])
        return EntityView(source, spans, labels), plain
    return Markdown(visible_text(plain), classes="body"), plain

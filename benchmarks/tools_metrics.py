"""Scoring for ``benchmarks/tools_eval.py``: loading the evaluation sets, entity counts, confusion tables.

Kept apart from the runner (and free of model code) so the arithmetic is unit
tested on its own (tests/test_tools_eval_metrics.py): a benchmark whose scoring
is wrong reports numbers nobody can trust.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

ROOT = Path(__file__).resolve().parent.parent
OWN_DATA = ROOT / "tests" / "data"
PUBLIC_DATA = ROOT / "benchmarks" / "data"
SCORED_TYPES = ("PERSON", "LOCATION", "ORGANIZATION")
MISSED = "—"
"""The confusion table's row/column for "no entity": a gold entity not found, or a prediction with no gold."""

Triple = tuple[int, int, str]


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def locate_entities(text: str, entities: Sequence[Sequence[str]]) -> list[dict[str, Any]]:
    """``[surface, TYPE]`` pairs (in order of occurrence) -> ``{text, type, start, end}`` with offsets.

    CoNLL text is tokens joined by single spaces, so a match must start and end on
    token boundaries ("US" must not match inside "USA"); each entity is searched
    for after the previous one, so a name occurring twice gets both occurrences.
    """
    located: list[dict[str, Any]] = []
    position = 0
    for surface, kind in entities:
        start = _token_find(text, surface, position)
        if start < 0:  # out of order in the source: search from the beginning
            start = _token_find(text, surface, 0)
        if start < 0:
            raise ValueError(f"entity {surface!r} not found in {text!r}")
        located.append({"text": surface, "type": kind, "start": start, "end": start + len(surface)})
        position = start + len(surface)
    return located


def _token_find(text: str, surface: str, position: int) -> int:
    start = text.find(surface, position)
    while start >= 0:
        end = start + len(surface)
        if (start == 0 or text[start - 1] == " ") and (end == len(text) or text[end] == " "):
            return start
        start = text.find(surface, start + 1)
    return -1


def conll_rows(path: Path | None = None) -> list[dict[str, Any]]:
    """The CoNLL-2003 sample in the format of tests/data/ner_*.jsonl (entities with offsets)."""
    rows = load_jsonl(path or PUBLIC_DATA / "conll2003-dev.jsonl")
    return [{"text": row["text"], "entities": locate_entities(row["text"], row["entities"])} for row in rows]


@dataclass
class Counts:
    """Entity-level counts: a prediction is right only with the exact span *and* type."""

    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0

    def add(self, gold: Iterable[Any], predicted: Iterable[Any]) -> None:
        gold_set, predicted_set = set(gold), set(predicted)
        self.true_positives += len(gold_set & predicted_set)
        self.false_positives += len(predicted_set - gold_set)
        self.false_negatives += len(gold_set - predicted_set)

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 0.0

    @property
    def recall(self) -> float:
        wanted = self.true_positives + self.false_negatives
        return self.true_positives / wanted if wanted else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def summary(self) -> str:
        return f"{self.precision:.2f} / {self.recall:.2f} / **{self.f1:.2f}**"


@dataclass
class NerReport:
    """Typed and span-only counts, counts per type, and a gold-type × predicted-type confusion table.

    Span-only scoring ignores the type, so the gap between it and typed F1 is
    what typing loses. The confusion table pairs each gold entity with the
    prediction on exactly its span (or :data:`MISSED`), and lists predictions on
    no gold span under gold :data:`MISSED`.
    """

    types: tuple[str, ...] = SCORED_TYPES
    typed: Counts = field(default_factory=Counts)
    spans: Counts = field(default_factory=Counts)
    per_type: dict[str, Counts] = field(default_factory=dict)
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)

    def add(self, gold: Iterable[Triple], predicted: Iterable[Triple]) -> None:
        gold = [g for g in gold if g[2] in self.types]
        predicted = [p for p in predicted if p[2] in self.types]
        self.typed.add(gold, predicted)
        self.spans.add({g[:2] for g in gold}, {p[:2] for p in predicted})
        for kind in self.types:
            counts = self.per_type.setdefault(kind, Counts())
            counts.add([g for g in gold if g[2] == kind], [p for p in predicted if p[2] == kind])
        predicted_at = {p[:2]: p[2] for p in predicted}
        gold_spans = {g[:2] for g in gold}
        for start, end, kind in gold:
            self.confusion[(kind, predicted_at.get((start, end), MISSED))] += 1
        for start, end, kind in predicted:
            if (start, end) not in gold_spans:
                self.confusion[(MISSED, kind)] += 1

    def per_type_summary(self) -> str:
        return " · ".join(f"{kind[:3]} {self.per_type[kind].f1:.2f}" for kind in self.types if kind in self.per_type)

    def confusion_table(self) -> str:
        """Markdown: rows are gold types, columns predicted types (``—``: none)."""
        labels = [*self.types, MISSED]
        lines = [
            "| gold \\ predicted | " + " | ".join(labels) + " |",
            "|---|" + "---:|" * len(labels),
        ]
        for gold in labels:
            cells = [str(self.confusion.get((gold, predicted), 0)) for predicted in labels]
            if gold == MISSED:
                cells[-1] = ""
            lines.append(f"| {gold} | " + " | ".join(cells) + " |")
        return "\n".join(lines)

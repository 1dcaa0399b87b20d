"""Typed tool results: each serialises to JSON (``to_dict``) and renders as text (``to_text``).

The CLI prints ``to_text()`` by default and ``to_dict()`` under ``--json`` and in
``--batch`` output, so a tool never formats its own output. Third-party tools
may return any object with those two methods; :class:`TextResult` covers the
common case of a plain string.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any


class ToolResult(ABC):
    """Base class of the results tools return."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (strings, numbers, lists, dicts only)."""

    @abstractmethod
    def to_text(self) -> str:
        """What a person reads in the terminal."""

    def to_json(self, indent: int | None = None) -> str:
        """The project's one JSON writer: C1 controls and bidi overrides escaped, no ``NaN`` written."""
        from ..terminal_text import json_text

        return json_text(self.to_dict(), indent=indent)

    def __str__(self) -> str:
        return self.to_text()


CUT = "length"
"""The ``finish_reason`` of a reply cut at its token budget (``max_tokens``), as the backends report it."""


def cut_notice(what: str, where: str) -> str:
    """The line under a result's text that says part of it was cut at its token budget.

    One wording for every tool, so a person reading the terminal learns of a cut the same way
    whichever tool made it; ``--json`` says it with ``finish_reason: length``.
    """
    return f"[{what} cut at its token budget: {where} stopped at max tokens]"


@dataclass
class TextResult(ToolResult):
    """Plain text output, for tools whose answer is just a string."""

    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text}

    def to_text(self) -> str:
        return self.text


@dataclass
class SummaryResult(ToolResult):
    """A summary, and how it was made: ``chunks`` pieces summarised over ``rounds`` map-reduce rounds."""

    summary: str
    length: str
    chunks: int = 1
    rounds: int = 1
    finish_reason: str = "stop"
    """``length`` when the final step was cut at its token budget (the unfinished sentence is dropped)."""
    note: str | None = None
    """Why the summary is not the model's, where it is not (an input too short to summarize, returned
    as it is, with ``chunks`` and ``rounds`` 0), or what in it to doubt (figures its input never gave);
    in the JSON only when there is one."""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "summary": self.summary,
            "length": self.length,
            "chunks": self.chunks,
            "rounds": self.rounds,
            "finish_reason": self.finish_reason,
        }
        if self.note is not None:
            data["note"] = self.note
        return data

    def to_text(self) -> str:
        # Both lines where both apply: a cut summary's note (a figure the input never gave) was lost.
        lines = [self.summary]
        if self.finish_reason == CUT:
            lines.append(cut_notice("summary", "the last step"))
        if self.note is not None:
            lines.append(f"[{self.note}]")
        return "\n".join(lines)


@dataclass
class TranslationResult(ToolResult):
    """A translation; ``source`` is ``"auto"`` when the input language was not given.

    ``finish_reason`` is ``length`` when the reply for some paragraph was cut at its token
    budget (``cut`` lists those paragraphs, counted from 1): the translation of that paragraph
    is unfinished, and is never passed off as complete.
    """

    translation: str
    source: str
    target: str
    paragraphs: int = 1
    cut: list[int] = field(default_factory=list)

    @property
    def finish_reason(self) -> str:
        return CUT if self.cut else "stop"

    def to_dict(self) -> dict[str, Any]:
        return {
            "translation": self.translation,
            "source": self.source,
            "target": self.target,
            "paragraphs": self.paragraphs,
            "finish_reason": self.finish_reason,
            "cut_paragraphs": list(self.cut),
        }

    def to_text(self) -> str:
        if self.cut:
            which = ", ".join(str(n) for n in self.cut)
            where = f"paragraph{'s' if len(self.cut) > 1 else ''} {which} of {self.paragraphs}"
            return f"{self.translation}\n{cut_notice('translation', where)}"
        return self.translation


@dataclass(frozen=True)
class Entity:
    """A named entity: ``input[start:end] == text`` (offsets in characters, end exclusive)."""

    text: str
    type: str
    start: int
    end: int
    probability: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "type": self.type,
            "start": self.start,
            "end": self.end,
            "probability": round(self.probability, 4),
        }


@dataclass
class EntitiesResult(ToolResult):
    """Entities found in a text, in order of appearance, with the types that were asked for."""

    entities: list[Entity]
    types: list[str]
    note: str | None = None
    """Why the entities may be incomplete, where the tool can tell (a script without capital letters,
    whose names it cannot find); in the JSON only when there is one."""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"entities": [e.to_dict() for e in self.entities], "types": list(self.types)}
        if self.note is not None:
            data["note"] = self.note
        return data

    def to_text(self) -> str:
        if not self.entities:
            return f"(no entities: {self.note})" if self.note else "(no entities)"
        width = max(len(e.type) for e in self.entities)
        # A name wrapped onto the next line is one line here ("Richard\nStallman"); to_dict keeps it exact.
        lines = [f"{e.type:<{width}}  {' '.join(e.text.split())}  [{e.start}:{e.end}]" for e in self.entities]
        return "\n".join([*lines, f"note: {self.note}"] if self.note else lines)


PLACES = 4
"""Decimal places of a probability in a result's JSON."""


def rounded_distribution(probabilities: dict[str, float], places: int = PLACES) -> dict[str, float]:
    """``probabilities`` rounded to ``places`` decimals that still sum to 1 (largest remainders round up).

    Rounding each on its own broke the promise that the labels' probabilities sum to 1: five
    labels gave 1.0001 and 200 gave 0.9998. Here each is floored to the grid, and the units
    still missing go to those that lost most, so a probability moves by less than one unit.
    """
    total = sum(probabilities.values())
    if not probabilities or not math.isfinite(total) or total <= 0:
        return {key: round(value, places) for key, value in probabilities.items()}
    unit = 10**places
    scaled = {key: value / total * unit for key, value in probabilities.items()}
    units = {key: math.floor(value) for key, value in scaled.items()}
    missing = max(0, unit - sum(units.values()))
    for key in sorted(scaled, key=lambda k: units[k] - scaled[k])[:missing]:
        units[key] += 1
    return {key: count / unit for key, count in units.items()}


SHOWN_LABELS = 10
"""The most probable labels a :class:`LabelResult`'s text lists (the JSON has every one)."""


@dataclass
class LabelResult(ToolResult):
    """A label chosen from a fixed set, with a probability for every label (they sum to 1).

    ``method`` says how: ``likelihood`` (the model's score of each label) or
    ``generation`` (the backend cannot score, so the model wrote the label and
    the probabilities are one-hot).
    """

    label: str
    probabilities: dict[str, float] = field(default_factory=dict)
    method: str = "likelihood"
    note: str | None = None
    """What the reader should know about how the label was chosen (sentiment's ``examples=similar``
    naming a label the pool has no examples of); in the JSON only when there is one."""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "label": self.label,
            "probabilities": rounded_distribution(self.probabilities),
            "method": self.method,
        }
        if self.note is not None:
            data["note"] = self.note
        return data

    def to_text(self) -> str:
        text = self._text()
        return f"{text}\nnote: {self.note}" if self.note is not None else text

    def _text(self) -> str:
        if self.method == "generation":  # one-hot: no likelihoods exist, so none are shown as if measured
            return f"{self.label}  (written by the model: this backend cannot score labels, so no probabilities)"
        ranked = sorted(self.probabilities.items(), key=lambda kv: -kv[1])
        shown = ", ".join(f"{k} {v:.2f}" for k, v in ranked[:SHOWN_LABELS])
        if len(ranked) > SHOWN_LABELS:  # 200 labels made one line of 3,000 characters, nearly all "0.00"
            rest = ranked[SHOWN_LABELS:]
            shown += f", and {len(rest)} more labels, none above {rest[0][1]:.2f}"
        return f"{self.label}  ({shown})"


SentimentResult = LabelResult
"""The sentiment tool's result: a label and the probability of each label."""

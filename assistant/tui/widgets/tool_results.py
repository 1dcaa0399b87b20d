"""Structured drawings of tool results: highlighted entities, sentiment bars.

The renderers take plain values (text, spans, probabilities) rather than a
tool's result class, so the same drawing serves any tool — a third-party NER
plugin included — that returns the same shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from rich.console import Group
from rich.text import Text
from textual.widget import Widget
from textual.widgets import Static

from ..text import visible_text

if TYPE_CHECKING:
    from ..tool_calls import SlashHelp

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


BAR_AROUND = 2 + 8 + 3
"""Cells on a bar's line besides the label and the bar: the gap after the label, ``  96.9%`` and ``  ◀``."""
MIN_BAR_WIDTH = 5


def probability_bars(
    probabilities: Mapping[str, float], chosen: str | None = None, width: int = 30, fit_in: int | None = None
) -> Text:
    """One line per label: name, a bar proportional to its probability, the percentage.

    ``fit_in``: the cells there are; the bars are narrowed (down to :data:`MIN_BAR_WIDTH`) so each
    line fits. At 30 cells a result beside the sidebar on an 80-column terminal wrapped, the
    chosen label's ``◀`` alone on a line under its bar.
    """
    from rich.cells import cell_len

    out = Text()
    # Cells of the labels as drawn: a CJK label (``/sentiment labels=正面,负面``) takes two a character,
    # and a control character is drawn wider (``\u202e``), so padding by characters misaligned the bars.
    names = {label: visible_text(label) for label in probabilities}
    name_width = max((cell_len(name) for name in names.values()), default=0)
    if fit_in is not None:
        width = max(MIN_BAR_WIDTH, min(width, fit_in - name_width - BAR_AROUND))
    for index, (label, probability) in enumerate(sorted(probabilities.items(), key=lambda item: -item[1])):
        if index:
            out.append("\n")
        filled = round(max(0.0, min(1.0, probability)) * width)
        style = "bold green" if label == chosen else "cyan"
        name = names[label]
        out.append(name + " " * (name_width - cell_len(name) + 2), style="bold" if label == chosen else "")
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

    def __init__(self, probabilities: Mapping[str, float], chosen: str | None, note: str | None = None) -> None:
        self._result = (probabilities, chosen, note)
        super().__init__(noted_bars(probabilities, chosen, note), markup=False)

    def on_resize(self) -> None:
        """Bars as wide as the view allows (see :func:`probability_bars`), drawn again when it changes."""
        if self.content_size.width > 0:
            self.update(noted_bars(*self._result, fit_in=self.content_size.width))


def noted_bars(
    probabilities: Mapping[str, float], chosen: str | None, note: str | None, *, fit_in: int | None = None
) -> Text:
    """The bars, and the result's note under them (which labels got no examples, …): the CLI prints it too."""
    bars = probability_bars(probabilities, chosen, fit_in=fit_in)
    if note:
        bars.append("\n")
        bars.append(visible_text(f"note: {note}"), style="dim")
    return bars


def softmax(scores: Mapping[str, float]) -> dict[str, float]:
    """Log-likelihoods → probabilities over the given labels."""
    top = max(scores.values())
    weights = {label: math.exp(score - top) for label, score in scores.items()}
    total = sum(weights.values())
    return {label: weight / total for label, weight in weights.items()}


def result_view(result: Any, source_text: str = "", plain: str | None = None) -> tuple[Widget, str]:
    """A widget drawing a tool's or template's result, and its plain text (for copying).

    ``result`` is a live result (anything with ``to_dict``) or the stored JSON of
    one, so a resumed conversation draws the same as the live one. It dispatches
    on the data's shape, not a class, so plugins' results draw too:
    ``probabilities`` (or log-likelihood ``scores``) → bars; ``entities`` with
    offsets into ``source_text`` → highlighted text; anything else → its text
    as Markdown.
    """
    from textual.widgets import Markdown  # imported when a result is drawn (see chat_log)

    from .line_breaks import reply_parser  # a tool's text keeps its line breaks, as a reply does

    if plain is None:
        plain = result.to_text() if hasattr(result, "to_text") else str(result)
    data = result.to_dict() if callable(getattr(result, "to_dict", None)) else result
    if not isinstance(data, Mapping):
        return Markdown(visible_text(plain), classes="body", parser_factory=reply_parser), plain
    probabilities = data.get("probabilities")
    scores = data.get("scores")
    if not probabilities and isinstance(scores, Mapping) and scores:
        probabilities = softmax(scores)
    if isinstance(probabilities, Mapping) and probabilities:
        chosen = data.get("label") or data.get("answer")
        bars = {str(k): float(v) for k, v in probabilities.items()}
        note = data.get("note")
        shown_note = note if isinstance(note, str) and note.strip() else None
        return SentimentView(bars, str(chosen) if chosen is not None else None, shown_note), plain
    entities = data.get("entities")
    if isinstance(entities, list) and source_text:
        try:
            spans = [Span(int(e["start"]), int(e["end"]), str(e["type"])) for e in entities]
            valid = all(source_text[span.start : span.end] == e["text"] for span, e in zip(spans, entities))
        except (KeyError, TypeError, ValueError):
            valid = False
        if valid:
            return EntityView(source_text, spans, [str(t) for t in data.get("types") or []]), plain
    return Markdown(visible_text(plain), classes="body", parser_factory=reply_parser), plain


def slash_help_renderable(entries: Sequence[SlashHelp] | None = None) -> Group:
    """Slash commands (every one: :func:`~assistant.tui.tool_calls.slash_help`): how to call each, what it
    does, and each parameter, the parameters' texts wrapping in a column of their own."""
    from rich.padding import Padding
    from rich.table import Table

    from ..tool_calls import slash_help

    parts: list[Any] = []
    for entry in slash_help() if entries is None else entries:
        parts.append(Text(visible_text(entry.command), style="bold"))
        parts.append(Padding(Text(visible_text(entry.description)), (0, 0, 0, 4)))
        if entry.parameters:
            table = Table(box=None, show_header=False, pad_edge=False, expand=False, padding=(0, 2, 0, 0))
            table.add_column("parameter", no_wrap=True, style="italic")
            table.add_column("takes")
            for name, text in entry.parameters:
                table.add_row(Text(visible_text(name)), Text(visible_text(text)))
            parts.append(Padding(table, (0, 0, 0, 4)))
    return Group(*parts)


def slash_help_view(topic: str = "") -> tuple[Widget, str]:
    """``/help``'s result: the slash commands, every installed tool with its parameters (``/help NAME``:
    that one; :class:`~assistant.errors.ToolError` when NAME is no command)."""
    from ..tool_calls import help_entries

    entries = help_entries(topic)
    plain = "\n".join(line for entry in entries for line in entry.lines())
    return Static(slash_help_renderable(entries), markup=False), plain


def stored_tool_label(contents: Sequence[str], tool_name: str) -> str:
    """The header a stored tool turn had when it ran (``/translate to=fr``), rebuilt from its command.

    Falls back to ``/name`` when the command no longer resolves (the tool's
    plugin is gone, or its parameters changed).
    """
    from ...errors import AssistantError
    from ...types import Message
    from ..tool_calls import prepare_tool_call

    if contents:
        try:
            call = prepare_tool_call(contents[-1], [Message("user", text) for text in contents[:-1]])
        except AssistantError:
            pass
        else:
            if call.name == tool_name:
                return call.label
    return f"/{tool_name}"


def stored_source_text(contents: Sequence[str]) -> str:
    """The text a stored tool turn ran on: the command's own text, else the message before it."""
    from ..slash import is_slash_command, parse_slash_command

    if not contents:
        return ""
    line = contents[-1]
    if not is_slash_command(line):
        return line
    text = parse_slash_command(line).text
    # A command's leading words may have been parameters; the tool's offsets decide (checked by the caller).
    if text:
        return text
    return contents[-2] if len(contents) > 1 else ""

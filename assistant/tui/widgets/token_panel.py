"""The token view's panel: the candidates at the cursor's step, with both probabilities.

Drawn from :meth:`assistant.inspect.token_view.TokenViewState.step_rows`, as
generated or, with the sampling panel open, under the settings the user is
trying. A candidate a setting cut is dimmed and struck out *and* says which
setting cut it; a number that cannot be known is shown as ``—`` with the
reason in the title, never estimated.
"""

from __future__ import annotations

from typing import Callable

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from ...inspect.shade import SHADES, bar, shade_for
from ...inspect.token_view import StepRow, TokenViewState, describe_settings

BAR_WIDTH = 24
MIN_BAR_WIDTH = 4
"""Narrower than this the bar is left out: too coarse to read, and its room is the note's."""
TOKEN_WIDTH = (8, 20)
"""The token column's least and most cells (a longer token is cut with an ellipsis)."""
NUMBER_WIDTH = 7
MAX_ROWS = 10
"""Candidates listed at most (the chosen token is always listed too)."""


def number(p: float | None) -> str:
    return "—" if p is None else f"{p:.3f}"


class Legend:
    """The shade legend on as many lines as the width needs, broken only between its entries.

    One line where it fits; on a narrow screen each level keeps its glyph beside
    its label (``▓ <90%``) instead of being cropped off the end, so every level
    of the scale stays explained.
    """

    def __init__(self, head: Text, entries: list[Text]) -> None:
        self.head = head
        self.entries = entries

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        line = self.head.copy()
        for entry in self.entries:
            if line.cell_len and line.cell_len + 2 + entry.cell_len > width:
                yield line
                line = Text(end="\n")
            elif line.cell_len:
                line.append("  ")
            line.append_text(entry)
        yield line


def legend_text(state: TokenViewState) -> Legend:
    """What the shade means, each level with its glyph on its colour (wrapped between entries when narrow)."""
    entries = [Text(f" {shade.glyph} {shade.label} ", style=f"#000000 on {shade.color}") for shade in SHADES]
    entries.append(Text("· unknown", style="dim"))
    return Legend(Text(f"shade = {state.shade_name}:", style="dim"), entries)


def row_note(row: StepRow) -> Text:
    if row.chosen:
        note = Text("◀ chosen", style="bold")
        if row.cut_by:
            note.append(f" · cut by {row.cut_by} here", style="italic")
        return note
    if row.cut_by:
        return Text(f"cut by {row.cut_by}", style="italic")
    if row.kept is None:
        return Text("kept? unknown", style="dim italic")
    return Text("")


def step_table(rows: list[StepRow], label: Callable[[int, str], str], width: int | None = None) -> Table:
    """The candidates' rows; ``label(token_id, text)`` draws a token (:meth:`TokenViewState.candidate_label`).

    ``width`` (the panel's, when known) decides what gives way on a narrow
    screen: the bar first (the numbers beside it say the same), then the note
    wraps; the numbers and the setting that cut a candidate are never cropped.
    """
    limit = MAX_ROWS
    bar_width = BAR_WIDTH
    if width is not None:
        listed = rows[:MAX_ROWS] + [row for row in rows[MAX_ROWS:] if row.chosen]
        longest = max((cell_len(label(row.token_id, row.text)) for row in listed), default=0)
        token_width = min(longest, TOKEN_WIDTH[1])
        fixed = max(token_width, TOKEN_WIDTH[0]) + 2 + (NUMBER_WIDTH + 2) * 2  # token, model, sampled
        note_width = max((row_note(row).cell_len for row in listed), default=0)
        bar_width = min(BAR_WIDTH, width - fixed - note_width - 2)
        if note_width > width - fixed:  # notes wrap to two lines: half the rows fit the panel's height
            limit = MAX_ROWS // 2
    shown = rows[:limit] + [row for row in rows[limit:] if row.chosen]
    labels = [label(row.token_id, row.text) for row in shown]
    notes = [row_note(row) for row in shown]
    table = Table(box=None, pad_edge=False, expand=False, padding=(0, 2, 0, 0), header_style="bold")
    least, most = TOKEN_WIDTH
    table.add_column("token", no_wrap=True, min_width=least, max_width=most, overflow="ellipsis")
    table.add_column("model", justify="right", no_wrap=True, min_width=NUMBER_WIDTH)
    table.add_column("sampled", justify="right", no_wrap=True, min_width=NUMBER_WIDTH)
    with_bar = bar_width >= MIN_BAR_WIDTH
    if with_bar:
        table.add_column("", no_wrap=True, width=bar_width)
    table.add_column("", overflow="fold")  # wraps rather than cropping "cut by top-p 0.95" on a narrow screen
    for row, text, note in zip(shown, labels, notes):
        cut = row.kept is False
        shade = shade_for(row.p_sampled)
        cells = [
            Text(text, style="dim strike" if cut else ("bold" if row.chosen else "")),
            Text(number(row.p_model), style="dim" if cut else ""),
            Text(number(row.p_sampled), style="dim" if cut else "bold"),
        ]
        if with_bar:
            cells.append(Text(bar(row.p_sampled or 0.0, bar_width), style=shade.color if shade else "dim"))
        table.add_row(*cells, note)
    return table


def step_title(state: TokenViewState) -> tuple[str, Text]:
    """(``step 6 of 120``, ``temperature 0.7 · top-k 40 · top-p 0.95 · the reply's settings``)."""
    head = f"step {state.cursor + 1} of {len(state.tokens)}"
    title = Text(describe_settings(state.settings))
    if state.what_if is None:
        title.append(" · the reply's settings", style="dim")
    else:
        title.append(" · what if (sampling panel)", style="bold reverse")
    return head, title


class TokenPanel(Static):
    """The step's candidates; :meth:`show` redraws it from the state."""

    DEFAULT_CSS = """
    TokenPanel { height: auto; max-height: 16; border: round $accent; padding: 0 1; }
    TokenPanel.-what-if { border: round $warning; }
    """

    def __init__(self, state: TokenViewState, **kwargs: object) -> None:
        super().__init__("", markup=False, **kwargs)  # type: ignore[arg-type]
        self.state = state
        self._shape: tuple[int, int] | None = None
        """(rows, parts, lines) drawn last: a layout is needed only when they change."""

    def show(self) -> None:
        state = self.state
        self.set_class(state.what_if is not None, "-what-if")
        self.display = bool(state.tokens)
        if not state.tokens:
            return
        width = self.content_size.width or None  # None until laid out: drawn wide, redrawn on resize
        head, settings = step_title(state)
        parts: list[Text | Table] = []
        if width is None or cell_len(head) + 3 + settings.cell_len + 6 <= self.size.width:
            self.border_title = f"{head} · {settings.plain}"
        else:  # the border would crop the settings being tried: they go on the panel's first lines, wrapped
            self.border_title = head
            parts.append(settings)
        rows = state.step_rows()
        table = step_table(rows, state.candidate_label, width)
        parts.append(table)
        if any(row.p_sampled is None for row in rows):
            parts.append(
                Text(
                    "— : not known from the listed candidates (it depends on tokens outside them)",
                    style="dim italic",
                )
            )
        group = Group(*parts)
        shape = (table.row_count, len(parts), self._lines(group, width))
        self.update(group, layout=shape != self._shape)  # most steps keep the panel's height
        self._shape = shape

    def _lines(self, group: Group, width: int | None) -> int:
        """Lines ``group`` takes at ``width``: a note that wraps on a narrow panel makes it taller."""
        if width is None:
            return 0
        console = self.app.console
        return len(console.render_lines(group, console.options.update_width(width), pad=False))

    def on_resize(self) -> None:
        self.show()  # what gives way on a narrow panel depends on its width (see step_table)

"""The token view's panel: the candidates at the cursor's step, with both probabilities.

Drawn from :meth:`assistant.inspect.token_view.TokenViewState.step_rows`, as
generated or, with the sampling panel open, under the settings the user is
trying. A candidate a setting cut is dimmed and struck out *and* says which
setting cut it; a number that cannot be known is shown as ``—`` with the
reason in the title, never estimated.
"""

from __future__ import annotations

from typing import Callable

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from ...inspect.shade import SHADES, bar, shade_for
from ...inspect.token_view import StepRow, TokenViewState, describe_settings

BAR_WIDTH = 24
MAX_ROWS = 10
"""Candidates listed at most (the chosen token is always listed too)."""


def number(p: float | None) -> str:
    return "—" if p is None else f"{p:.3f}"


def legend_text(state: TokenViewState) -> Text:
    """One line: what the shade means, each level with its glyph on its colour."""
    out = Text(f"shade = {state.shade_name}: ", style="dim", end="")
    for index, shade in enumerate(SHADES):
        if index:
            out.append("  ")
        out.append(f" {shade.glyph} {shade.label} ", style=f"#000000 on {shade.color}")
    out.append("   · unknown", style="dim")
    return out


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


def step_table(rows: list[StepRow], label: Callable[[int, str], str]) -> Table:
    """The candidates' rows; ``label(token_id, text)`` draws a token (:meth:`TokenViewState.candidate_label`)."""
    table = Table(box=None, pad_edge=False, expand=False, padding=(0, 2, 0, 0), header_style="bold")
    table.add_column("token", no_wrap=True, min_width=8, max_width=20, overflow="ellipsis")
    table.add_column("model", justify="right", no_wrap=True, min_width=7)
    table.add_column("sampled", justify="right", no_wrap=True, min_width=7)
    table.add_column("", no_wrap=True, width=BAR_WIDTH)
    table.add_column("", no_wrap=True, overflow="ellipsis")
    for row in rows[:MAX_ROWS] + [row for row in rows[MAX_ROWS:] if row.chosen]:
        cut = row.kept is False
        label_style = "dim strike" if cut else ("bold" if row.chosen else "")
        shade = shade_for(row.p_sampled)
        table.add_row(
            Text(label(row.token_id, row.text), style=label_style),
            Text(number(row.p_model), style="dim" if cut else ""),
            Text(number(row.p_sampled), style="dim" if cut else "bold"),
            Text(bar(row.p_sampled or 0.0, BAR_WIDTH), style=shade.color if shade else "dim"),
            row_note(row),
        )
    return table


def step_title(state: TokenViewState) -> Text:
    """``step 6 of 120 · temperature 0.7 · top-k 40 · top-p 0.95 · the reply's settings``."""
    total = len(state.tokens)
    title = Text(f"step {state.cursor + 1} of {total}", style="bold", end="")
    title.append(f" · {describe_settings(state.settings)}")
    if state.what_if is None:
        title.append(" · the reply's settings", style="dim")
    else:
        title.append(" · what if (sampling panel)", style="bold reverse")
    return title


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
        """(rows, parts) drawn last: a layout is needed only when they change."""

    def show(self) -> None:
        state = self.state
        self.set_class(state.what_if is not None, "-what-if")
        self.display = bool(state.tokens)
        if not state.tokens:
            return
        self.border_title = step_title(state).plain
        rows = state.step_rows()
        table = step_table(rows, state.candidate_label)
        parts: list[Text | Table] = [table]
        if any(row.p_sampled is None for row in rows):
            parts.append(
                Text(
                    "— : not known from the listed candidates (it depends on tokens outside them)",
                    style="dim italic",
                )
            )
        shape = (table.row_count, len(parts))
        self.update(Group(*parts), layout=shape != self._shape)  # most steps keep the panel's height
        self._shape = shape

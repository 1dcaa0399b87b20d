"""The token view's panel: the candidates at the cursor's step, with both probabilities.

Drawn from :meth:`assistant.inspect.token_view.TokenViewState.step_rows`, as
generated or, with the sampling panel open, under the settings the user is
trying. A candidate a setting cut is dimmed and struck out *and* says which
setting cut it; a number that cannot be known is shown as ``—`` with the
reason in the title, never estimated.

Every candidate known is listed (up to the engine's top 20 and the chosen
token): the panel scrolls when they do not fit, its subtitle says how many
are out of sight and which keys bring them in (``[`` / ``]`` pick one, which
also shows it whole on the detail line: a long token's column is cut with
``…``). A top-10 used to hide half of what top-k 20 keeps.
"""

from __future__ import annotations

from typing import Callable

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.containers import ScrollableContainer
from textual.widgets import Static

from ...inspect.pieces import TokenPiece
from ...inspect.shade import SHADES, bar, probability_text, shade_for
from ...inspect.token_view import CUT_MARK, StepRow, TokenViewState, describe_settings, short_cut_label
from ...types import GenerationParams
from .border_text import BORDER_MARGIN, fits_border

BAR_WIDTH = 24
MIN_BAR_WIDTH = 4
"""Narrower than this the bar is left out: too coarse to read, and its room is the note's."""
TOKEN_WIDTH = (8, 20)
"""The token column's least and most cells (a longer token is cut with an ellipsis)."""
NUMBER_WIDTH = 7
SCROLLBAR = 1
"""The panel's scrollbar's width (see ``scrollbar-size-vertical``)."""
TOKEN_HEADER_WIDTH = 5
"""``token``: the least the token column narrows to on a narrow panel."""
CHOSEN_NOTE = "◀ chosen"
CHOSEN_MARK = "◀"
"""The short notes of a narrow panel (see :func:`row_note`)."""
NOTE_LEAST = 12
"""The notes' least room before they are said shortly: wider, a long note wraps (``cut by`` / ``top-p 0.95``)."""
PICKED = Style(reverse=True)
"""The row of the candidate picked with ``[`` / ``]``."""


def number(p: float | None) -> str:
    """A probability as ``assistant next`` prints it (a kept chance under 0.0005 never reads ``0.000``,
    the number of a cut token); ``—`` when it is not known."""
    return "—" if p is None else probability_text(p, 0)


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


def row_note(row: StepRow, short: bool = False) -> Text:
    """What the row's last column says: chosen, and which setting cut it (``the settings`` where that is
    not known: a struck-out row always says why it is struck out).

    ``short``, for a narrow panel: ``◀`` for chosen, ``✗ top-p`` for cut (the setting's value is in
    the panel's title), ``?`` for not known to be kept. At 40 columns the long notes had no room
    beside the numbers: ``◀ chosen`` and which setting cut a token were not shown at all.
    """
    cut_by = row.cut_by or ("the settings" if row.kept is False else None)
    if short:
        mark = Text(CHOSEN_MARK, style="bold") if row.chosen else Text()
        if cut_by:
            mark.append((" " if mark else "") + f"{CUT_MARK} {short_cut_label(cut_by)}", style="italic")
        elif row.kept is None and not row.chosen:
            mark.append("?", style="dim italic")
        return mark
    if row.chosen:
        note = Text(CHOSEN_NOTE, style="bold")
        if cut_by:
            note.append(f" · cut by {cut_by} here", style="italic")
        return note
    if cut_by:
        return Text(f"cut by {cut_by}", style="italic")
    if row.kept is None:
        return Text("kept? unknown", style="dim italic")
    return Text("")


def step_table(
    rows: list[StepRow], label: Callable[[int, str], str], width: int | None = None, picked: int | None = None
) -> Table:
    """The candidates' rows, every one; ``label(token_id, text)`` draws a token (:meth:`TokenViewState.candidate_label`).

    ``width`` (the panel's, when known) decides what gives way on a narrow
    screen: the bar first (the numbers beside it say the same), then the note
    wraps; with less room than :data:`NOTE_LEAST` (40 columns) the notes are
    said shortly (``◀``, ``✗ top-p``) and a long token is cut with ``…``. The
    numbers and the setting that cut a candidate are never cropped.
    ``picked``: the row drawn highlighted (its token is shown whole on the detail line).
    """
    bar_width = BAR_WIDTH
    labels = [label(row.token_id, row.text) for row in rows]
    notes = [row_note(row) for row in rows]
    least, most = TOKEN_WIDTH
    if width is not None:
        longest = max((cell_len(text) for text in labels), default=0)
        token_width = min(longest, most)
        fixed = max(token_width, least) + 2 + (NUMBER_WIDTH + 2) * 2  # token, model, sampled
        note_width = max((note.cell_len for note in notes), default=0)
        if width - fixed - 2 < min(note_width, NOTE_LEAST):  # 40 columns: the notes had no room, or folded
            notes = [row_note(row, short=True) for row in rows]
            note_width = max((note.cell_len for note in notes), default=0)
            numbers = 2 + (NUMBER_WIDTH + 2) * 2  # the token column's padding, model, sampled
            most = max(TOKEN_HEADER_WIDTH, min(most, width - numbers - note_width))  # a long token gets "…"
            token_width = min(token_width, most)
            least = min(max(min(token_width, least), TOKEN_HEADER_WIDTH), most)
            fixed = max(token_width, least) + numbers
        bar_width = min(BAR_WIDTH, width - fixed - note_width - 2)
    table = Table(box=None, pad_edge=False, expand=False, padding=(0, 2, 0, 0), header_style="bold")
    table.add_column("token", no_wrap=True, min_width=least, max_width=most, overflow="ellipsis")
    table.add_column("model", justify="right", no_wrap=True, min_width=NUMBER_WIDTH)
    table.add_column("sampled", justify="right", no_wrap=True, min_width=NUMBER_WIDTH)
    with_bar = bar_width >= MIN_BAR_WIDTH
    if with_bar:
        table.add_column("", no_wrap=True, width=bar_width)
    table.add_column("", overflow="fold")  # wraps rather than cropping "cut by top-p 0.95" on a narrow screen
    for index, (row, text, note) in enumerate(zip(rows, labels, notes)):
        cut = row.kept is False
        shade = shade_for(row.p_sampled)
        cells = [
            Text(text, style="dim strike" if cut else ("bold" if row.chosen else "")),
            Text(number(row.p_model), style="dim" if cut else ""),
            Text(number(row.p_sampled), style="dim" if cut else "bold"),
        ]
        if with_bar:
            cells.append(Text(bar(row.p_sampled or 0.0, bar_width), style=shade.color if shade else "dim"))
        table.add_row(*cells, note, style=PICKED if index == picked else None)
    return table


def token_detail(head: str, piece: TokenPiece | None, token_id: int, text: str) -> Text:
    """One token whole, for the detail line: ``head: ␣Paris · id 12366 · 6 bytes``.

    The panel's column and the strip cut a long token with ``…``; here it is
    never cut (the line wraps), drawn as :meth:`TokenPiece.marked` draws it
    (terminal-safe, spaces and control tokens visible). The byte count is the
    engine's when it gave the piece; from the text alone it is said so (a lone
    byte of a split character decodes to ``�``, three bytes of text).
    """
    line = Text(f"{head}: ", style="dim")
    exact = piece is not None
    shown = piece or TokenPiece(token_id, text.encode("utf-8"))
    line.append(shown.marked(), style="bold")
    facts = [f"id {token_id}" if token_id >= 0 else "id not known (the server gave text only)"]
    if shown.special:
        facts.append("control token")
    else:
        size = len(shown.piece)
        facts.append(f"{size} byte{'' if size == 1 else 's'}" + ("" if exact else " as text"))
    line.append("  ·  " + " · ".join(facts), style="dim")
    return line


def step_title(state: TokenViewState, short: bool = False) -> tuple[str, Text]:
    """(``step 6 of 120``, ``temperature 0.7 · top-k 40 · top-p 0.95 · the reply's settings``).

    ``short``: the settings in the settings bar's words, and only a what-if said (the warning-coloured
    border says it too), for a narrow panel: ``temp 0.7 · top-k 40 · top-p 0.95``.
    """
    head = f"step {state.cursor + 1} of {len(state.tokens)}"
    title = Text(describe_settings(state.settings, short))
    if state.what_if is None:
        if not short:
            title.append(" · the reply's settings", style="dim")
    else:
        title.append(" · what if" if short else " · what if (sampling panel)", style="bold reverse")
    return head, title


def more_kept_note(rows: list[StepRow], params: GenerationParams) -> Text | None:
    """A line when the settings may keep tokens the list does not hold (it ends before anything was cut).

    The list is the model's most likely tokens (20 at most, from the engine); when none of them
    is cut, top-k 40 or top-p 0.95 may keep more, and the panel must not look like the whole of it.
    Not when the settings keep no more than are listed: top-k 5 over the five listed (a reply written
    with ``-o logprobs=5``, or the sampling panel's ``k``), or greedy decoding, were said to keep more.
    """
    if not rows or any(row.kept is not True for row in rows):  # one cut, or not known to be kept
        return None
    if params.greedy or (params.top_k and len(rows) >= params.top_k):
        return None
    return Text(
        f"All {len(rows)} listed are kept; the settings may keep more, beyond the model's most likely "
        "tokens listed here.",
        style="dim italic",
    )


class TokenPanel(ScrollableContainer, can_focus=False):
    """The step's candidates, every one (scrolled when they do not fit); :meth:`show` redraws it from the state.

    ``picked`` is the candidate highlighted with ``[`` / ``]`` (None: none); the screen keys
    it and shows it whole on its detail line. The subtitle says how many candidates are out
    of sight and how to see them.
    """

    DEFAULT_CSS = """
    TokenPanel {
        height: auto; max-height: 60%; border: round $accent; padding: 0 0 0 1;
        scrollbar-size-vertical: 1; overflow-x: hidden;
    }
    TokenPanel.-what-if { border: round $warning; }
    TokenPanel > Static { height: auto; }
    """

    def __init__(self, state: TokenViewState, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.state = state
        self.picked: int | None = None
        self._shape: tuple[int, int, int] | None = None
        """(rows, parts, lines) drawn last: a layout is needed only when they change."""
        self._row_lines: list[int] = []
        """The first drawn line of each candidate (a note that wraps makes a row two lines)."""

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static("", markup=False)

    @property
    def rows(self) -> list[StepRow]:
        return self.state.step_rows() if self.state.tokens else []

    def pick(self, delta: int) -> None:
        """Highlight the next (``+1``) or previous candidate; from none, the first or the last."""
        count = len(self.rows)
        if not count:
            self.picked = None
        elif self.picked is None:
            self.picked = 0 if delta > 0 else count - 1
        else:
            self.picked = min(max(self.picked + delta, 0), count - 1)
        self.show()

    @property
    def picked_row(self) -> StepRow | None:
        rows = self.rows
        return rows[self.picked] if self.picked is not None and self.picked < len(rows) else None

    def show(self) -> None:
        state = self.state
        self.set_class(state.what_if is not None, "-what-if")
        self.display = bool(state.tokens)
        if not state.tokens:
            return
        # One column is kept for the scrollbar, shown or not: drawn a column narrower when it
        # appears, the table would wrap its notes differently as the list grows past the panel.
        width = max(self.content_region.width - SCROLLBAR, 1) if self.content_region.width else None
        parts: list[Text | Table] = []
        for short in (False, True):
            head, settings = step_title(state, short)
            title_width = cell_len(head) + 3 + settings.cell_len + BORDER_MARGIN
            if width is None or title_width <= self.size.width:
                self.border_title = f"{head} · {settings.plain}"
                break
        else:  # the border would crop the settings being tried: they go on the panel's first lines, wrapped
            self.border_title = head
            what_if = f"{head} · what if"
            if state.what_if is not None and fits_border(what_if, self.size.width):
                self.border_title = what_if  # the settings then take one line at 40 columns, not two
                settings = Text(describe_settings(state.settings, short=True))
            parts.append(settings)
        rows = state.step_rows()
        if self.picked is not None and self.picked >= len(rows):
            self.picked = len(rows) - 1 if rows else None
        table = step_table(rows, state.candidate_label, width, self.picked)
        title_lines = self._lines(Group(*parts), width) if parts else 0
        parts.append(table)
        if any(row.p_sampled is None for row in rows):
            parts.append(
                Text(
                    "— : not known from the listed candidates (it depends on tokens outside them)",
                    style="dim italic",
                )
            )
        more = more_kept_note(rows, state.settings)
        if more is not None:
            parts.append(more)
        group = Group(*parts)
        self._row_lines = [title_lines + line for line in self._table_row_lines(table, width)]
        shape = (table.row_count, len(parts), self._lines(group, width))
        self.query_one(Static).update(group, layout=shape != self._shape)  # most steps keep the panel's height
        if shape != self._shape:
            self.refresh(layout=True)
        self._shape = shape
        self.call_after_refresh(self._follow_pick)

    @property
    def heights(self) -> list[int]:
        """The panel's height, borders included, with its first 1, 2, … candidates in sight; the last, whole.

        What the screen shares its rows out by (a short screen gives the panel one candidate before
        the legend); empty until the panel has been drawn at a width.
        """
        if self._shape is None or not self._row_lines or not self.content_region.width:
            return []
        ends = [*self._row_lines[1:], self._shape[2]]
        return [end + self.styles.gutter.height for end in ends]

    def _lines(self, renderable: Group | Table, width: int | None) -> int:
        """Lines ``renderable`` takes at ``width``: a note that wraps on a narrow panel makes it taller."""
        if width is None:
            return 0
        console = self.app.console
        return len(console.render_lines(renderable, console.options.update_width(width), pad=False))

    def _table_row_lines(self, table: Table, width: int | None) -> list[int]:
        """Each row's first line in ``table`` drawn at ``width`` (a row starts where its token cell does)."""
        if width is None:
            return list(range(1, table.row_count + 1))
        console = self.app.console
        lines = console.render_lines(table, console.options.update_width(width), pad=False)
        starts = []
        for number, line in enumerate(lines[1:], start=1):  # the header first
            text = "".join(segment.text for segment in line)
            # A wrapped note's line starts with the table's padding, an ASCII space; a token's label never
            # does (spaces are drawn as ␣). Not str.strip(): a label may start with an ideographic or a
            # no-break space (Japanese tokens), and such a row was taken for the end of the one above.
            if text[:1] not in ("", " "):
                starts.append(number)
        return starts

    def _follow_pick(self) -> None:
        """Scroll the picked candidate into view, then say what is out of sight."""
        if self.picked is not None and self.picked < len(self._row_lines):
            first = self._row_lines[self.picked]
            last = (
                self._row_lines[self.picked + 1] - 1 if self.picked + 1 < len(self._row_lines) else first
            )
            top, height = int(self.scroll_y), self.scrollable_content_region.height
            if first < top or (self.picked == 0 and top):
                self.scroll_to(y=first - (1 if self.picked == 0 else 0), animate=False)  # the header too
            elif last >= top + height:
                self.scroll_to(y=last - height + 1, animate=False)
        self.call_after_refresh(self.update_subtitle)

    def hidden_rows(self) -> tuple[int, int]:
        """(above, below): candidates whose first line is out of sight."""
        top, height = int(self.scroll_y), self.scrollable_content_region.height
        if not height:
            return 0, 0
        above = sum(1 for line in self._row_lines if line < top)
        below = sum(1 for line in self._row_lines if line >= top + height)
        return above, below

    def update_subtitle(self) -> None:
        above, below = self.hidden_rows()
        if not above and not below:
            self.border_subtitle = ""
            return
        parts = []
        if above:
            parts.append(f"{above} above")
        if below:
            parts.append(f"{below} more below")
        where = " · ".join(parts)
        keys = f"{where}: [ ] or the wheel scroll"
        # Cut at the border on a narrow panel ("[ ] or the whee…"): the keys said shortly instead.
        fits = fits_border(keys, self.size.width)
        self.border_subtitle = keys if fits else f"{where}: [ ]"

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self.update_subtitle()

    def on_resize(self) -> None:
        self.show()  # what gives way on a narrow panel depends on its width (see step_table)

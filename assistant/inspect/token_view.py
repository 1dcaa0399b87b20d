"""The chat app's token view and sampling panel, without Textual.

Everything the view shows is derived here, so it can be tested (and
benchmarked) without a terminal: where a reply's numbers come from
(:class:`ReplyTokens`), how its tokens are laid out in lines and pages
(:func:`layout_tokens`), where the cursor is, and the rows of the panel at the
cursor's step (:meth:`TokenViewState.step_rows`) — the numbers the reply was
generated with, or, with the sampling panel open, what other settings of
temperature / top-k / top-p would have made of the same candidates — and how
the view's rows are shared out on a small screen (:func:`share_rows`).

The distribution math is :func:`assistant.inspect.distribution.explain`, the one
definition shared with ``assistant next``; this module only chooses its inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterable, Literal, Sequence

from rich.cells import cell_len

from ..terminal_text import visible_text
from ..types import MAX_LOGPROBS, GenerationParams, Message, TokenLogprob, TopAlternative
from .pieces import TokenPiece, drawable

DEFAULT_TOP = MAX_LOGPROBS
"""Alternatives per step asked for when a reply's numbers are computed: the most there may be, so
the sampling panel can tell more of the sampled probabilities (the panel lists the first ten)."""

Setting = Literal["temperature", "top_k", "top_p"]

TEMPERATURES: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 1.0, 1.2, 1.5, 2.0)
TOP_KS: tuple[int, ...] = (1, 2, 3, 5, 10, 20, 40, 50, 100, 0)
"""From keeping the fewest to keeping all (0 = off): the order the keys step through."""
TOP_PS: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)


@dataclass
class ReplyTokens:
    """One reply's tokens, and what is needed to (re)compute their numbers.

    ``tokens`` are the per-step numbers when the reply was generated with
    logprobs (or was recomputed); ``token_ids`` are always kept for a live
    reply, so the numbers can be recomputed for exactly those tokens by
    teacher-forced scoring after ``prompt``, the exact messages the reply was
    generated from. ``prompt`` is None when it is not known (nothing can be
    recomputed then).
    """

    token_ids: list[int]
    params: GenerationParams
    tokens: list[TokenLogprob] = field(default_factory=list)
    prompt: tuple[Message, ...] | str | None = None
    """The messages, or the raw text of a completion-mode reply (:mod:`assistant.models.mode`)."""
    model: str = ""
    backend: str = ""
    message_id: int | None = None
    """The stored message, when the reply is in the history."""
    origin: str = "recorded while the reply was generated"
    """Where ``tokens`` came from, in words for the view's title line."""
    text: str = ""
    """The reply's text: its token ids are found again from it when they were not kept (an old stored reply)."""

    @property
    def has_numbers(self) -> bool:
        return bool(self.tokens)


def token_label(token: str | TokenPiece) -> str:
    """A token as it reads in the reply: spaces kept, newlines and tabs as symbols, an empty piece as ``∅``.

    Given the token's exact :class:`~.pieces.TokenPiece` (from the backend's
    vocabulary), bytes that are not a whole character show as ``<0xE2>`` and a
    control token by its name in brackets (``⟦<|im_end|>⟧``), as :meth:`~.pieces.TokenPiece.marked`
    draws them (``assistant next`` too); its text alone cannot say either (it decodes a lone byte to
    ``�``, and a control token adds no text). The symbols are :mod:`.pieces`';
    the candidates in the panel are drawn by :meth:`~.pieces.TokenPiece.marked`
    (spaces visible too).
    """
    if isinstance(token, TokenPiece):
        if token.special or token.text is None:
            return token.marked()
        token = token.text
    text = token
    if not text:
        return "∅"
    # A piece that starts with a character of no width (a combining mark, a skin-tone modifier) is drawn
    # on a dotted circle (:func:`~.pieces.drawable`), so it can be seen and clicked like any other token.
    return drawable(visible_text(text).replace("\n", "↵").replace("\t", "⇥"))


@dataclass(frozen=True)
class Cell:
    """One token placed on a line: its index in the reply, first column and label."""

    index: int
    column: int
    label: str

    @property
    def width(self) -> int:
        return cell_len(self.label)


@dataclass(frozen=True)
class TokenLayout:
    """A reply's tokens wrapped into lines of at most ``width`` cells (a token is never split)."""

    lines: tuple[tuple[Cell, ...], ...]
    line_of: tuple[int, ...]
    """The line of each token."""
    width: int

    def cell_at(self, line: int, column: int) -> Cell | None:
        """The token drawn at ``column`` of ``line`` (for the mouse), or None."""
        if not 0 <= line < len(self.lines):
            return None
        for cell in self.lines[line]:
            if cell.column <= column < cell.column + max(cell.width, 1):
                return cell
        return None


def layout_tokens(tokens: Sequence[str | TokenPiece], width: int) -> TokenLayout:
    """Wrap token labels into lines: a newline token ends its line, a token wider than a line gets its own.

    Each token is its text, or its exact piece where the backend gave it (see
    :func:`token_label`). Cheap enough for every resize: one pass, no rendering
    (2,000 tokens in ~2 ms).
    """
    width = max(width, 1)
    lines: list[tuple[Cell, ...]] = []
    line_of: list[int] = []
    current: list[Cell] = []
    column = 0
    for index, text in enumerate(tokens):
        label = token_label(text)
        size = cell_len(label)
        if current and column + size > width:
            lines.append(tuple(current))
            current, column = [], 0
        current.append(Cell(index, column, label))
        line_of.append(len(lines))
        column += size
        if ((text.text or "") if isinstance(text, TokenPiece) else text).endswith("\n"):
            lines.append(tuple(current))
            current, column = [], 0
    if current or not lines:
        lines.append(tuple(current))
    return TokenLayout(tuple(lines), tuple(line_of), width)


@dataclass(frozen=True)
class StepRow:
    """One candidate at a step, as the panel draws it."""

    text: str
    """The token's text, raw (the panel makes it visible)."""
    token_id: int
    p_model: float
    p_sampled: float | None
    """Under the settings shown; None when it cannot be known from the candidates at hand."""
    kept: bool | None
    """Whether the settings leave it a chance (None: unknown from the candidates at hand)."""
    cut_by: str | None
    """The setting that removed it, with its value (``"top-k 40"``); None when kept or unknown."""
    chosen: bool


def probability(logprob: float) -> float:
    return math.exp(logprob) if logprob > -math.inf else 0.0


def _top_k_rank(k: float) -> float:
    return math.inf if k == 0 else k  # 0 turns top-k off: it keeps the most


def _step(
    values: Sequence[float], current: float, direction: int, rank: Callable[[float], float] = float
) -> float:
    """The notch of ``values`` (ordered by ``rank``) after ``current`` in ``direction`` (+1 up, -1 down)."""
    if current in values:
        index = min(max(values.index(current) + direction, 0), len(values) - 1)
        return values[index]
    here = rank(current)
    if direction > 0:
        return next((v for v in values if rank(v) > here), values[-1])
    return next((v for v in reversed(values) if rank(v) < here), values[0])


def step_setting(params: GenerationParams, setting: Setting, direction: int) -> GenerationParams:
    """``params`` with one sampling setting moved a notch (direction +1: keeps more, or flatter)."""
    if setting == "temperature":
        return params.replace(temperature=_step(TEMPERATURES, params.temperature, direction))
    if setting == "top_k":
        return params.replace(top_k=int(_step(TOP_KS, params.top_k, direction, _top_k_rank)))
    return params.replace(top_p=_step(TOP_PS, params.top_p, direction))


def describe_settings(params: GenerationParams, short: bool = False) -> str:
    """The sampling settings in one line, as the panel's title shows them.

    ``short``: ``temp 0.7 · top-k 40 · top-p 0.95``, the settings bar's words, for a narrow
    panel (at 40 columns the long form took three lines of a panel that had five).
    """
    temperature = "temp" if short else "temperature"
    if params.greedy:
        head = f"{temperature} 0 (greedy)"
    else:
        head = f"{temperature} {params.temperature:g}"
    top_k = f"top-k {params.top_k}" if params.top_k else "top-k off"
    top_p = f"top-p {params.top_p:g}" if params.top_p < 1 else "top-p off"
    parts = [head, top_k, top_p]
    if params.repeat_penalty != 1:
        parts.append(f"{'penalty' if short else 'repeat penalty'} {params.repeat_penalty:g}")
    return " · ".join(parts)


# ---- how the view's rows are shared out ---------------------------------------------------
STRIP_LEAST = 2
"""The strip's least rows: one line of tokens over its line of glyphs."""
CANDIDATES_FIRST = 3
"""Candidates the panel shows before the source line, the legend and the blank lines get room."""
PANEL_LEAST = 3
"""The panel's least height: its borders and one line."""


@dataclass(frozen=True)
class Room:
    """How the token view's rows are shared out at one size (see :func:`share_rows`)."""

    source: bool
    source_cropped: bool
    """The source text one line a paragraph, cut with ``…``, not wrapped."""
    legend: bool
    margins: bool
    """The blank lines under the legend and over the detail line."""
    panel: int
    """The panel's most rows (the strip takes what it leaves: it is ``1fr``)."""


def share_rows(
    inner: int, fixed: int, source: tuple[int, int], legend: int, strip: int, panel: Sequence[int]
) -> Room:
    """Share the token view's ``inner`` rows between its parts: the candidates first.

    ``fixed``: the rows always shown (the detail lines, the progress bar); ``source``: the
    source text's lines (wrapped, cropped); ``legend``: the legend's lines; ``strip``: the
    rows the whole reply takes; ``panel[n]``: the panel's height with its first ``n + 1``
    candidates in sight (the last: the whole panel). First one line of tokens and the
    panel with one candidate, then up to :data:`CANDIDATES_FIRST` candidates, then the
    source text, the legend and the blank lines as they fit, whole or not at all (F1
    explains the shades); what is left goes to the strip (a third at most, as much as the
    reply takes) and the panel. Only the sizes decide: the same size is always shared alike.
    """
    least = panel[0]
    more = panel[min(CANDIDATES_FIRST, len(panel)) - 1] - least
    left = inner - fixed - STRIP_LEAST - least
    left -= min(more, max(left, 0))
    wrapped, cropped = source
    shown_source = 0
    if wrapped and wrapped <= left:
        shown_source = wrapped
    elif cropped and cropped <= left:
        shown_source = cropped
    left -= shown_source
    show_legend = 0 < legend <= left
    left -= legend if show_legend else 0
    margins = 1 + show_legend
    show_margins = margins <= left
    rest = inner - fixed - shown_source - (legend if show_legend else 0) - (margins if show_margins else 0)
    strip_rows = max(STRIP_LEAST, min(strip, (rest // 3) // 2 * 2))
    return Room(
        source=shown_source > 0,
        source_cropped=0 < shown_source < wrapped,
        legend=show_legend,
        margins=show_margins,
        panel=max(rest - strip_rows, PANEL_LEAST),
    )


class TokenViewState:
    """Cursor, paging and sampling settings of one token view; rows derived on demand."""

    def __init__(self, reply: ReplyTokens) -> None:
        self.reply = reply
        self.cursor = 0
        self.what_if: GenerationParams | None = None
        """The sampling panel's settings while it is open (None: the reply's own numbers)."""
        self._layouts: dict[int, TokenLayout] = {}
        """By width: the screen is laid out at more than one width while it opens (and on resizes)."""
        self._rows: tuple[object, list[StepRow]] | None = None  # the last step's rows, by what they depend on
        self.shades_sampled = _any_sampled(reply.tokens)
        self.exact: dict[tuple[int, str], TokenLogprob] = {}
        """Sampling-panel numbers computed from the whole distribution, by (step, settings)."""
        self.pieces: dict[int, TokenPiece] = {}
        """The exact pieces of the tokens shown, by id, from the backend that wrote the reply (see
        :meth:`set_pieces`); until they are known a token is drawn from its text."""

    # ---- how tokens are drawn -----------------------------------------------------
    def missing_piece_ids(self) -> list[int]:
        """The ids the view draws (:func:`shown_token_ids`) whose exact piece is not known yet."""
        return [token_id for token_id in shown_token_ids(self.tokens) if token_id not in self.pieces]

    def set_pieces(self, pieces: Iterable[TokenPiece]) -> None:
        """The exact pieces of some tokens: the page is laid out again with them (their labels' widths change)."""
        before = len(self.pieces)
        self.pieces.update((piece.token_id, piece) for piece in pieces)
        if len(self.pieces) != before:
            self._layouts.clear()

    def token_of(self, token_id: int, text: str) -> str | TokenPiece:
        """What a token is drawn from: its exact piece when known, else its text (a server's, say)."""
        return self.pieces.get(token_id, text) if token_id >= 0 else text

    def candidate_label(self, token_id: int, text: str) -> str:
        """A candidate as the panel lists it: :meth:`TokenPiece.marked`, as ``assistant next`` does.

        From the exact piece when known; a control token in ``⟦…⟧``, so ``⟦<|im_end|>⟧`` (the reply
        ends) does not read as the characters ``<|im_end|>`` a model can also write.
        """
        piece = self.pieces.get(token_id) if token_id >= 0 else None
        return (piece or TokenPiece(token_id, text.encode("utf-8"))).marked()

    # ---- tokens and layout --------------------------------------------------------
    @property
    def tokens(self) -> list[TokenLogprob]:
        return self.reply.tokens

    def set_tokens(self, tokens: list[TokenLogprob]) -> None:
        """New numbers (a recomputation finished): the layout is redone, the cursor kept in range."""
        self.reply.tokens = tokens
        self._layouts.clear()
        self.shades_sampled = _any_sampled(tokens)
        self.cursor = min(self.cursor, max(len(tokens) - 1, 0))

    @property
    def shade_name(self) -> str:
        """What the shading shows: the sampled probability, or the model's where no sampled one is known."""
        return "sampled probability" if self.shades_sampled else "model probability (sampled not available)"

    def shade_probability(self, token: TokenLogprob) -> float | None:
        """The number a token is shaded by (see :attr:`shade_name`)."""
        return token.p_sampled if self.shades_sampled else probability(token.logprob)

    def layout(self, width: int) -> TokenLayout:
        width = max(width, 1)
        layout = self._layouts.get(width)
        if layout is None:
            if len(self._layouts) >= 4:
                self._layouts.clear()
            tokens = [self.token_of(t.token_id, t.token) for t in self.tokens]
            layout = self._layouts[width] = layout_tokens(tokens, width)
        return layout

    def page(self, width: int, height: int) -> tuple[int, int]:
        """The lines ``[start, end)`` of the page holding the cursor, ``height`` lines a page."""
        layout = self.layout(width)
        height = max(height, 1)
        line = layout.line_of[self.cursor] if self.tokens else 0
        start = (line // height) * height
        return start, min(start + height, len(layout.lines))

    def page_count(self, width: int, height: int) -> int:
        return max(1, math.ceil(len(self.layout(width).lines) / max(height, 1)))

    # ---- the cursor ----------------------------------------------------------------
    def move(self, delta: int) -> None:
        if self.tokens:
            self.cursor = min(max(self.cursor + delta, 0), len(self.tokens) - 1)

    def move_to(self, index: int) -> None:
        self.move(index - self.cursor)

    def move_lines(self, width: int, lines: int) -> None:
        """Move the cursor ``lines`` lines up or down (a page: the page's height), to the same column."""
        if not self.tokens:
            return
        layout = self.layout(width)
        here = layout.lines[layout.line_of[self.cursor]]
        column = next(cell.column for cell in here if cell.index == self.cursor)
        target = min(max(layout.line_of[self.cursor] + lines, 0), len(layout.lines) - 1)
        row = layout.lines[target]
        if not row:
            return
        cell = layout.cell_at(target, column) or (row[-1] if column > row[-1].column else row[0])
        self.cursor = cell.index

    @property
    def current(self) -> TokenLogprob | None:
        return self.tokens[self.cursor] if self.tokens else None

    # ---- the sampling panel --------------------------------------------------------
    @property
    def settings(self) -> GenerationParams:
        """The settings the panel's sampled numbers are under."""
        return self.what_if if self.what_if is not None else self.reply.params

    def open_sampling(self) -> None:
        if self.what_if is None:
            self.what_if = self.reply.params.replace()

    def close_sampling(self) -> None:
        self.what_if = None

    def adjust(self, setting: Setting, direction: int) -> None:
        self.open_sampling()
        assert self.what_if is not None
        self.what_if = step_setting(self.what_if, setting, direction)

    def reset_settings(self) -> None:
        if self.what_if is not None:
            self.what_if = self.reply.params.replace()

    @property
    def exact_key(self) -> tuple[int, str] | None:
        """What the sampling panel shows now: (step, settings); None when the panel is closed."""
        return (self.cursor, repr(self.what_if)) if self.what_if is not None else None

    def needs_exact(self) -> bool:
        """The panel shows a number the listed candidates cannot give ("—"), and the whole distribution could."""
        key = self.exact_key
        return key is not None and key not in self.exact and any(r.p_sampled is None for r in self.step_rows())

    def set_exact(self, key: tuple[int, str], token: TokenLogprob) -> None:
        self.exact[key] = token

    def step_rows(self) -> list[StepRow]:
        """The candidates at the cursor's step, most likely first, the chosen token always among them.

        Under the sampling panel's settings, numbers computed from the whole
        distribution (:meth:`set_exact`) are used when there are some; else the
        top-N list gives what it can.
        """
        token = self.current
        if token is None:
            return []
        exact = self.exact.get(self.exact_key) if self.exact_key is not None else None
        key = (self.cursor, id(self.tokens), self.what_if is None, repr(self.settings), exact is not None)
        if self._rows is None or self._rows[0] != key:
            history = [t.token_id for t in self.tokens[: self.cursor]]
            self._rows = (
                key,
                step_rows(
                    exact or token, self.settings, use_recorded=self.what_if is None or exact is not None,
                    history=history,
                ),
            )
        return self._rows[1]


def shown_token_ids(tokens: Iterable[TokenLogprob]) -> list[int]:
    """The ids a view of ``tokens`` draws: each token and its candidates, once each (no -1: a server's)."""
    ids: dict[int, None] = {}
    for token in tokens:
        for token_id in (token.token_id, *(alt.token_id for alt in token.top)):
            if token_id >= 0:
                ids[token_id] = None
    return list(ids)


def _any_sampled(tokens: Sequence[TokenLogprob]) -> bool:
    """Whether the numbers include sampled probabilities (a remote server reports only the model's)."""
    return any(token.p_sampled is not None for token in tokens)


def _candidates(token: TokenLogprob) -> list[TopAlternative]:
    """The step's alternatives, with the chosen token added when the top list lacks it."""
    alternatives = list(token.top)
    if not any(alt.token_id == token.token_id and alt.token == token.token for alt in alternatives):
        alternatives.append(
            TopAlternative(token.token, token.token_id, token.logprob, token.p_sampled, token.piece, token.special)
        )
    return alternatives


def step_rows(
    token: TokenLogprob, params: GenerationParams, use_recorded: bool, history: Sequence[int] = ()
) -> list[StepRow]:
    """Rows of one step under ``params``, most likely first; ``use_recorded`` keeps generation's numbers.

    The candidates are a top-N list, not the whole vocabulary, so a sampled
    probability that depends on tokens outside it comes back unknown (None)
    from :func:`~assistant.inspect.distribution.explain`, never estimated.
    ``history`` is the reply's tokens before this step (the repeat penalty's).
    """
    from .distribution import explain

    alternatives = _candidates(token)
    recorded = {(alt.token_id, alt.token): alt.p_sampled for alt in alternatives}
    listed = {(alt.token_id, alt.token) for alt in token.top}
    rows: list[StepRow] = []
    for rank, candidate in enumerate(explain(alternatives, params, complete=False, history=history)):
        key = (candidate.token_id, candidate.text)
        sampled = recorded.get(key) if use_recorded else None
        cut_by = candidate.cut_by
        if sampled == 0 and cut_by is None and key in listed:
            cut_by = recorded_cut(rank, params, history)
        rows.append(
            StepRow(
                text=candidate.text,
                token_id=candidate.token_id,
                p_model=probability(candidate.logprob),
                p_sampled=sampled if sampled is not None else candidate.p_sampled,
                kept=candidate.kept if sampled is None else sampled > 0,
                cut_by=cut_label(cut_by, params),
                chosen=key == (token.token_id, token.token),
            )
        )
    return rows


def recorded_cut(rank: int, params: GenerationParams, history: Sequence[int] = ()) -> str | None:
    """The setting that cut a listed candidate the recorded numbers give probability 0, ``rank`` (0: the
    most likely) in the model's top list; None where it cannot be told.

    :func:`~assistant.inspect.distribution.explain` names the cut only where the top list alone
    decides it: with top-k 40 and 20 listed, where top-p 0.95 falls depends on tokens outside the
    list, and the panel struck out tokens the engine had cut without saying which setting did. The
    engine saw every token: all ranks below top-k are kept by it, so top-p made the cut. A repeat
    penalty re-ranks the tokens (top-k or top-p, either), and a ``json_schema`` may have cut it.
    """
    from .distribution import penalty_window

    if params.json_schema is not None:
        return None
    if params.greedy:
        return "greedy"
    if params.repeat_penalty != 1.0 and penalty_window(history):
        return None
    if params.top_k and rank >= params.top_k:
        return "top-k"
    return "top-p" if params.top_p < 1.0 else None


def cut_label(cut_by: str | None, params: GenerationParams) -> str | None:
    """The setting that cut a candidate, with its value (``top-p 0.95``)."""
    if not cut_by:
        return None
    name = cut_by.replace("_", "-")
    if name == "top-k":
        return f"top-k {params.top_k}"
    if name == "top-p":
        return f"top-p {params.top_p:g}"
    if name == "greedy":
        return "temperature 0 (greedy)"
    return name


CUT_MARK = "✗"
"""Marks a candidate the settings cut where there is no room for ``cut by …`` (before :func:`short_cut_label`)."""


def short_cut_label(cut_by: str) -> str:
    """A :func:`cut_label` said shortly, for a narrow screen whose title or top line gives the value:
    ``top-p 0.95`` as ``top-p``, ``temperature 0 (greedy)`` as ``temp`` (the settings bar's word),
    ``the settings`` as ``settings``: at most 8 cells, the room a 40-column screen leaves.

    The chat app's narrow token panel and ``assistant next`` on a narrow terminal both say it so.
    """
    if cut_by.startswith("temperature"):
        return "temp"
    if cut_by == "the settings":
        return "settings"
    return cut_by.split(" ")[0]

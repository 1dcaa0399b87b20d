"""The token view of one reply, with its sampling panel.

The reply's tokens are shaded by probability (:mod:`..widgets.token_strip`);
←/→ (or a click) moves a cursor, and the panel below (:mod:`..widgets.token_panel`)
shows that step's candidates with the *model* and *sampled* probabilities and
what top-k / top-p cut. ``s`` opens the sampling panel: t/T, k/K, p/P change
temperature, top-k and top-p, and the same candidates are re-drawn under them.

The numbers come from the reply itself when it was generated with logprobs
(live, or stored in the history). Otherwise they are computed here for exactly
the reply's tokens, by teacher-forced scoring after the prompt it was
generated from, in a worker (progress shown, Esc cancels; the engine work is
:mod:`.token_view_work`'s). All state is in
:class:`~assistant.inspect.token_view.TokenViewState`; this screen only draws
it and turns keys into calls.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from rich.console import RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, ProgressBar, Static

from ...inspect.pieces import TokenPiece
from ...inspect.token_view import ReplyTokens, Setting, TokenViewState, share_rows
from ..text import visible_line, visible_text
from ..widgets.token_panel import TokenPanel, legend_text, token_detail
from ..widgets.token_strip import TokenStrip
from .help import HELP_BINDING, ViewHelp
from .token_view_work import TokenViewWork

if TYPE_CHECKING:
    from ...types import GenerationParams
    from ..controller import ChatController

SAMPLING_ACTIONS = {"adjust", "reset_settings"}
MOVE_ACTIONS = {"move", "move_to", "move_lines", "move_page", "pick"}


def _tokens(count: int) -> str:
    """``1 token``, ``12 tokens``: a one-token reply (a "Yes", an end of turn) read "1 tokens"."""
    return f"{count} token{'' if count == 1 else 's'}"


SMALL = (60, 20)
"""Under this many columns or rows the view takes the whole screen: the rim of chat around it is
room the candidates need."""

class TokenViewScreen(TokenViewWork, ViewHelp, ModalScreen[None]):
    """One reply's tokens and probabilities; Esc backs out one level (panel, computation, view)."""

    BINDINGS = [
        HELP_BINDING,  # first: on a narrow screen the footer crops its end, and F1 explains every key
        Binding("left", "move(-1)", "token", key_display="←/→"),  # one footer entry: room for F1's
        Binding("right", "move(1)", "Next token", show=False),
        Binding("up", "move_lines(-1)", "Line up", show=False),
        Binding("down", "move_lines(1)", "Line down", show=False),
        Binding("pageup", "move_page(-1)", "Page up", show=False),
        Binding("pagedown", "move_page(1)", "Page down", show=False),
        Binding("home", "move_to(0)", "First token", show=False),
        Binding("end", "move_to(-1)", "Last token", show=False),
        Binding("right_square_bracket", "pick(1)", "candidate", key_display="[/]"),
        Binding("left_square_bracket", "pick(-1)", "Previous candidate", show=False),
        Binding("s", "toggle_sampling", "sampling"),
        Binding("t", "adjust('temperature', -1)", "temp", key_display="t/T"),
        Binding("T", "adjust('temperature', 1)", "temperature +", show=False),
        Binding("k", "adjust('top_k', -1)", "top-k", key_display="k/K"),
        Binding("K", "adjust('top_k', 1)", "top-k +", show=False),
        Binding("p", "adjust('top_p', -1)", "top-p", key_display="p/P"),
        Binding("P", "adjust('top_p', 1)", "top-p +", show=False),
        Binding("equals_sign", "reset_settings", "reset", key_display="="),
        Binding("r", "recompute", "recompute"),
        Binding("escape", "back", "back"),
    ]

    HELP_SECTION = "Token view"

    DEFAULT_CSS = """
    TokenViewScreen { align: center middle; }
    TokenViewScreen > #box {
        width: 96%; height: 94%; border: round $accent; background: $surface; padding: 0 1;
    }
    TokenViewScreen.-small > #box { width: 100%; height: 100%; }
    TokenViewScreen #source { height: auto; color: $text-muted; }
    TokenViewScreen #source.-cropped { text-wrap: nowrap; text-overflow: ellipsis; }
    TokenViewScreen #progress { height: 1; display: none; }
    TokenViewScreen #progress.-computing { display: block; }
    TokenViewScreen #legend { height: auto; margin-bottom: 1; }
    TokenViewScreen #detail { height: auto; margin-top: 1; }
    TokenViewScreen.-tight #legend { margin-bottom: 0; }
    TokenViewScreen.-tight #detail { margin-top: 0; }
    """

    def __init__(self, reply: ReplyTokens, label: str = "") -> None:
        super().__init__()
        self.state = TokenViewState(reply)
        self.label = label or reply.model or "reply"
        self.computing = False
        self._cancel = threading.Event()
        self._engine_turn = threading.Lock()
        """Held by this view's workers while they use the engine: a recomputation and the panel's
        numbers wait for each other instead of finding the model busy."""
        self._exact_lock = threading.Lock()
        self._exact_wanted: tuple[tuple[int, str], int, GenerationParams] | None = None
        """The sampling panel's newest ask (key, step, settings), not yet taken by the worker."""
        self._exact_running = False
        self._detail = Text()
        """What the detail line shows (the fit counts its lines)."""
        self._step_shown = -1
        """The step the panel and the detail line were drawn for (a candidate picked belongs to it)."""
        self.note = ""
        """Why there are no numbers (or what happened to a computation), shown under the title."""
        self.tokens_from_text = not reply.token_ids
        """The reply's own token ids were not kept (a stored reply without numbers): the ones scored are
        its text tokenized again, which need not be the pieces the model wrote (`שלום` in one piece
        where it wrote a byte at a time), so the view must not call them the same tokens."""

    @property
    def controller(self) -> ChatController:
        return self.app.controller  # type: ignore[attr-defined,no-any-return]

    # ---- layout --------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Vertical(id="box") as box:
            box.border_title = Text(f"Tokens of {visible_line(self.label)}")  # a Text: a str is markup; one line
            yield Static("", id="source", markup=False)
            yield Static(legend_text(self.state), id="legend", markup=False)
            yield ProgressBar(id="progress", show_eta=False)
            yield TokenStrip(self.state, id="strip")  # takes the room the others leave; pages beyond it
            yield Static("", id="detail", markup=False)  # the token at the cursor (and the picked candidate) whole
            yield TokenPanel(self.state, id="panel")
        yield Footer(compact=True)  # compact: more of the keys fit a narrow screen (F1, first, always does)

    @property
    def strip(self) -> TokenStrip:
        return self.query_one(TokenStrip)

    def on_mount(self) -> None:
        if not self.state.reply.has_numbers:
            reason = self.controller.token_numbers_unavailable(self.state.reply)
            if reason is None:
                self.action_recompute()
            else:
                self.note = f"This reply has no token probabilities, and they cannot be computed: {reason}."
        self.redraw()
        self.ask_for_pieces()

    def on_token_strip_resized(self) -> None:
        self.query_one("#box").border_subtitle = self.page_text()
        self.call_after_refresh(self.fit_panel)

    def redraw(self) -> None:
        """Everything that depends on the state: source line, page, panel, footer."""
        self.query_one("#source", Static).update(self.source_text())
        self.query_one("#legend", Static).display = bool(self.state.tokens)  # the fit may hide it again
        self.query_one("#legend", Static).update(legend_text(self.state))
        self.redraw_step()
        self.call_after_refresh(self.fit_panel)  # the source line's and the legend's lines may have changed
        self.refresh_bindings()

    def redraw_step(self) -> None:
        """What a cursor move or a setting changes: the page, the panel and the page number."""
        self.strip.refresh()
        panel = self.query_one(TokenPanel)
        if self.state.cursor != self._step_shown:  # another step: other candidates, none picked, from the top
            self._step_shown = self.state.cursor
            panel.picked = None
            panel.scroll_home(animate=False)
        panel.show()
        self.show_detail()
        self.query_one("#box").border_subtitle = self.page_text()
        self.ask_for_exact_numbers()

    def fit_panel(self) -> None:
        """Share the box's rows out (:func:`share_rows`): the candidates first, then what explains them.

        The panel scrolls past its height; a fixed share of the box let it run off a short
        screen (24 rows: its lower border and the line saying what was out of sight were cut),
        and at 40x12 the source line, the legend and the blank lines took every row, the panel
        and the detail line were pushed off the screen.
        """
        boxes = self.query("#box")
        if not boxes:  # closed before this refresh came (Esc right after it opened, on a busy machine)
            return
        self.set_class(self.size.width < SMALL[0] or self.size.height < SMALL[1], "-small")
        box = boxes.first()
        inner, width = box.content_region.height, box.content_region.width
        panel = self.query_one(TokenPanel)
        source = self.query_one("#source", Static)
        if not inner or not width or not self.state.tokens or not panel.heights:
            source.remove_class("-cropped")
            source.display = True
            self.remove_class("-tight")
            return
        detail = self.query_one("#detail", Static)
        fixed = self._lines(self._detail, width) if detail.display else 0
        fixed += 1 if self.computing else 0  # the progress bar
        text = self.source_text()
        strip_rows = 2 * len(self.state.layout(self.strip.line_width).lines)
        room = share_rows(
            inner,
            fixed,
            source=(self._lines(text, width), text.plain.count("\n") + 1 if text else 0),
            legend=self._lines(legend_text(self.state), width),
            strip=strip_rows,
            panel=panel.heights,
        )
        # The strip (1fr) takes the rows the panel leaves, up to what the whole reply takes: more, and a
        # short reply over a few candidates stood 28 blank rows above them at 200x50. The rows nothing
        # needs are left under the panel.
        if self.strip.styles.max_height is None or self.strip.styles.max_height.value != strip_rows:
            self.strip.styles.max_height = max(strip_rows, 2)
        source.set_class(room.source_cropped, "-cropped")
        source.display = room.source
        self.query_one("#legend", Static).display = room.legend
        self.set_class(not room.margins, "-tight")
        if panel.styles.max_height is None or panel.styles.max_height.value != room.panel:
            panel.styles.max_height = room.panel

    def _lines(self, renderable: RenderableType, width: int) -> int:
        """Lines ``renderable`` takes at ``width`` (what a widget showing it would take, shown or not)."""
        console = self.app.console
        return len(console.render_lines(renderable, console.options.update_width(width), pad=False))

    def show_detail(self) -> None:
        """The detail line: the cursor's token whole (the strip and the panel cut a long one with ``…``),
        its id and byte length; under it the candidate picked with ``[`` / ``]``, the same way."""
        detail = self.query_one("#detail", Static)
        token = self.state.current
        detail.display = token is not None
        if token is None:
            return
        state = self.state
        piece = self._piece(token.token_id, token.piece, token.special)
        lines = [token_detail(f"token {state.cursor + 1}", piece, token.token_id, token.token)]
        panel = self.query_one(TokenPanel)
        row = panel.picked_row
        if row is not None and panel.picked is not None:
            head = f"candidate {panel.picked + 1} of {len(panel.rows)}"
            lines.append(token_detail(head, self._piece(row.token_id, None, False), row.token_id, row.text))
        self._detail = Text("\n").join(lines)
        detail.update(self._detail)
        self.call_after_refresh(self.fit_panel)  # the detail line's height may have changed

    def _piece(self, token_id: int, piece: bytes | None, special: bool) -> TokenPiece | None:
        """A token's exact piece: the backend's (:attr:`TokenViewState.pieces`), else the bytes the reply kept."""
        known = self.state.pieces.get(token_id) if token_id >= 0 else None
        if known is not None:
            return known
        if piece is not None and not special:
            return TokenPiece(token_id, piece)
        return None

    # ---- how tokens are drawn -------------------------------------------------------
    def source_text(self) -> Text:
        reply, state = self.state.reply, self.state
        text = Text()
        if state.tokens:
            text.append(_tokens(len(state.tokens)), style="bold")
            text.append(f" · numbers {reply.origin}")
        elif self.computing:
            count = _tokens(len(reply.token_ids)) if reply.token_ids else "the reply's tokens"
            text.append(
                f"Computing the probabilities of {count} "
                f"(teacher-forced scoring of {self.scored_tokens()} after the same prompt) · Esc cancels",
                style="bold",
            )
        if self.note:
            # It quotes errors and a stored reply's model name: an escape sequence in one restyled the terminal.
            text.append(("\n" if text else "") + visible_text(self.note), style="italic")
        return text

    def scored_tokens(self) -> str:
        """What the numbers are computed for, in words: the reply's own tokens, or its text's."""
        if self.tokens_from_text:
            return (
                "the reply's text, tokenized again (its own tokens were not kept: "
                "the model may have written it in other pieces)"
            )
        return "the same tokens"

    def page_text(self) -> str:
        strip = self.strip
        if not self.state.tokens or not strip.content_size.width:
            return ""  # not laid out yet: the strip's resize sets it
        width, lines = strip.line_width, strip.lines_per_page
        start, _ = self.state.page(width, lines)
        return f"page {start // lines + 1} of {self.state.page_count(width, lines)}"

    # ---- keys ----------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in MOVE_ACTIONS:
            return bool(self.state.tokens)
        if action in SAMPLING_ACTIONS:
            return self.state.what_if is not None and bool(self.state.tokens)
        if action == "toggle_sampling":
            return bool(self.state.tokens)
        if action == "recompute":
            # Offered even when the numbers cannot be computed now (another model loaded): the key
            # then says why. Hidden, it did nothing at all over a reply that has stored numbers.
            return not self.computing
        return True

    def action_move(self, delta: int) -> None:
        self.state.move(delta)
        self.redraw_step()

    def action_pick(self, delta: int) -> None:
        """``]`` / ``[``: highlight the next / previous candidate (the list scrolls to it; the detail line shows it whole)."""
        self.query_one(TokenPanel).pick(delta)
        self.show_detail()

    def action_move_to(self, index: int) -> None:
        self.state.move_to(index if index >= 0 else len(self.state.tokens) - 1)
        self.redraw_step()

    def action_move_lines(self, lines: int) -> None:
        self.state.move_lines(self.strip.line_width, lines)
        self.redraw_step()

    def action_move_page(self, pages: int) -> None:
        self.state.move_lines(self.strip.line_width, pages * self.strip.lines_per_page)
        self.redraw_step()

    def on_token_strip_picked(self, message: TokenStrip.Picked) -> None:
        self.state.move_to(message.index)
        self.redraw_step()

    def action_toggle_sampling(self) -> None:
        if self.state.what_if is None:
            self.state.open_sampling()
        else:
            self.state.close_sampling()
        self.redraw()

    def action_adjust(self, setting: Setting, direction: int) -> None:
        self.state.adjust(setting, direction)
        self.redraw_step()

    def action_reset_settings(self) -> None:
        self.state.reset_settings()
        self.redraw_step()

    def action_back(self) -> None:
        """Esc: close the sampling panel, else stop a computation, else close the view."""
        if self.state.what_if is not None:
            self.state.close_sampling()
            self.redraw()
        elif self.computing:
            self.cancel_computation()
        else:
            self.dismiss(None)

    def on_unmount(self) -> None:
        with self._exact_lock:
            self._exact_wanted = None  # a worker still running stops after its step
        self.cancel_computation()

"""The token view's engine work: exact numbers for the sampling panel, exact pieces, recomputing.

A mixin of :class:`~assistant.tui.screens.token_view.TokenViewScreen`. Each job
runs in a thread worker through the controller (:mod:`assistant.tui.reply_inspection`)
and posts one of the messages below back to the view, which only draws.
"""

from __future__ import annotations

import threading
import time
from contextlib import closing
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import work
from textual.message import Message
from textual.widgets import ProgressBar

from ...inspect.pieces import TokenPiece
from ...inspect.token_view import DEFAULT_TOP, ReplyTokens, shown_token_ids
from ..widgets.token_panel import TokenPanel

if TYPE_CHECKING:
    from ...types import TokenLogprob
    from .token_view import TokenViewScreen

    _Screen = TokenViewScreen
else:
    _Screen = object

PROGRESS_INTERVAL_S = 0.1
"""Least time between two progress messages of a recomputation."""
WHAT_IF_TOP = 20
"""Candidates the sampling panel lists when its numbers come from the whole distribution."""


@dataclass
class ExactNumbers(Message):
    """One step's numbers under the sampling panel's settings, from the whole distribution."""

    key: tuple[int, str]
    token: TokenLogprob
    pieces: list[TokenPiece]
    """The exact pieces of its candidates (the whole distribution's top may list new ones)."""


@dataclass
class PiecesFound(Message):
    """The exact pieces of tokens the view shows (see :meth:`TokenViewState.set_pieces`)."""

    pieces: list[TokenPiece]


@dataclass
class ExactFailed(Message):
    """The engine could not give the numbers for ``key`` (and nothing newer was asked meanwhile)."""

    key: tuple[int, str]
    error: str


@dataclass
class TokensProgress(Message):
    done: int
    total: int


@dataclass
class TokensComputed(Message):
    """A recomputation ended: ``tokens`` when it finished, ``error`` when it failed, neither when cancelled."""

    tokens: list[TokenLogprob] | None
    error: str | None = None


class TokenViewWork(_Screen):
    """What the token view asks of the engine, each in a worker (mixed into the view)."""

    # ---- the sampling panel's exact numbers ------------------------------------------
    def ask_for_exact_numbers(self) -> None:
        """When the panel shows "—" (the top-N list cannot tell), get that step's numbers from the engine.

        The engine has the whole distribution: it re-reads the reply up to the
        cursor's step under the panel's settings, in a worker; the panel redraws
        with exact numbers when they arrive. The newest ask wins: keys pressed
        while the engine works replace what is wanted next, and one worker
        computes them in turn (a thread worker cannot be stopped midway, and
        two at once would find the engine taken).
        """
        state = self.state
        key = state.exact_key
        if key is None or not state.reply.token_ids or not state.needs_exact() or self.computing:
            return
        if self.controller.token_numbers_unavailable(state.reply) is not None:
            return
        assert state.what_if is not None
        with self._exact_lock:
            self._exact_wanted = (key, state.cursor, state.what_if)
            if self._exact_running:
                return  # the running worker takes it next
            self._exact_running = True
        self._exact_worker()

    @work(thread=True, group="what-if", exit_on_error=False)
    def _exact_worker(self) -> None:
        """Compute the wanted step's numbers until nothing newer is wanted; a failure is reported unless superseded."""
        finished = False
        try:
            while True:
                with self._exact_lock:
                    wanted, self._exact_wanted = self._exact_wanted, None
                    if wanted is None:
                        self._exact_running = False
                        finished = True
                        return
                key, step, params = wanted
                try:
                    with self._engine_turn:
                        token = self.controller.step_numbers(self.state.reply, step, params, WHAT_IF_TOP)
                except Exception as exc:  # noqa: BLE001 - an engine error must not close the app
                    with self._exact_lock:
                        superseded = self._exact_wanted is not None
                    if not superseded:
                        self.post_message(ExactFailed(key, str(exc) or type(exc).__name__))
                    continue
                self.post_message(ExactNumbers(key, token, self._pieces_of([token])))
        finally:
            if not finished:  # an unexpected exit: the next ask starts a worker again
                with self._exact_lock:
                    self._exact_running = False

    def on_exact_numbers(self, message: ExactNumbers) -> None:
        self.state.set_pieces(message.pieces)
        self.state.set_exact(message.key, message.token)
        if message.key == self.state.exact_key:
            self.query_one(TokenPanel).show()
            self.show_detail()  # the candidate picked may be another one in the new list

    def on_exact_failed(self, message: ExactFailed) -> None:
        if message.key == self.state.exact_key and not self.computing:  # still the step and settings shown
            self.notify(message.error, title="Could not compute the exact numbers", severity="error")

    # ---- exact pieces ----------------------------------------------------------------
    def ask_for_pieces(self) -> None:
        """Get the exact pieces of the tokens shown (bytes, control names) from the backend, in a worker."""
        ids = self.state.missing_piece_ids()
        if ids:
            self._pieces_worker(ids)

    @work(thread=True, group="token-pieces", exit_on_error=False)
    def _pieces_worker(self, token_ids: list[int]) -> None:
        pieces = self._pieces_of_ids(token_ids)
        if pieces:
            self.post_message(PiecesFound(pieces))

    def _pieces_of(self, tokens: list[TokenLogprob]) -> list[TokenPiece]:
        """The exact pieces of ``tokens`` and their candidates (from a worker: it asks the engine)."""
        return self._pieces_of_ids(shown_token_ids(tokens))

    def _pieces_of_ids(self, token_ids: list[int]) -> list[TokenPiece]:
        try:
            return self.controller.token_pieces(self.state.reply, token_ids)
        except Exception:  # noqa: BLE001 - the tokens are still drawn, from their texts
            return []

    def on_pieces_found(self, message: PiecesFound) -> None:
        self.state.set_pieces(message.pieces)
        self.redraw_step()

    # ---- recomputing -----------------------------------------------------------------
    def action_recompute(self) -> None:
        reason = self.controller.token_numbers_unavailable(self.state.reply)
        if reason is not None:
            self.notify(reason, severity="warning")
            return
        if self.computing:
            return
        self.computing = True
        self.note = ""
        self._cancel.clear()
        bar = self.query_one("#progress", ProgressBar)
        bar.update(total=len(self.state.reply.token_ids), progress=0)
        bar.add_class("-computing")
        self._compute(self.state.reply, self._cancel)
        self.redraw()

    def cancel_computation(self) -> None:
        if self.computing:
            self._cancel.set()
            self.controller.cancel_scoring()  # not cancel(): a reply or tool may hold the engine

    @work(thread=True, exclusive=True, group="token-numbers", exit_on_error=False)
    def _compute(self, reply: ReplyTokens, cancel: threading.Event) -> None:
        tokens: list[TokenLogprob] = []
        last = 0.0
        try:
            # closing(): a cancel stops the engine's loop and releases the engine at once, not at GC.
            with self._engine_turn, closing(self.controller.reply_token_logprobs(reply, DEFAULT_TOP)) as numbers:
                for token in numbers:
                    if cancel.is_set():
                        break
                    tokens.append(token)
                    now = time.monotonic()
                    if now - last >= PROGRESS_INTERVAL_S:
                        last = now
                        self.post_message(TokensProgress(len(tokens), len(reply.token_ids)))
        except Exception as exc:  # an engine error must not close the app
            self.post_message(TokensComputed(None, str(exc) or type(exc).__name__))
            return
        done = not cancel.is_set() and len(tokens) == len(reply.token_ids)
        self.post_message(TokensComputed(tokens if done else None))

    def on_tokens_progress(self, message: TokensProgress) -> None:
        self.query_one("#progress", ProgressBar).update(total=message.total, progress=message.done)

    def on_tokens_computed(self, message: TokensComputed) -> None:
        self.computing = False
        self.query_one("#progress", ProgressBar).remove_class("-computing")
        if message.tokens is not None:
            self.state.reply.origin = f"computed by teacher-forced scoring of {self.scored_tokens()}"
            self.state.set_tokens(message.tokens)
            self.ask_for_pieces()
        elif message.error is not None:
            self.note = f"Could not compute the probabilities: {message.error}"
        else:
            self.note = "Cancelled. r computes them again; Esc closes."
        self.redraw()

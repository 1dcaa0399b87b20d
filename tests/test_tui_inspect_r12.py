"""Round 12 of user testing the look-inside-the-model screens in the chat app (Pilot, over the fake backends):
the attention view on an 80-column terminal and after a resize, and the token panel's small numbers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

pytest.importorskip("textual")

from assistant.backends.fake import FakeAttentionBackend  # noqa: E402
from assistant.inspect.pieces import TokenPiece  # noqa: E402
from assistant.tui.widgets.token_panel import step_table  # noqa: E402

from .test_tui_attention import open_view, wait_map  # noqa: E402
from .test_tui_token_view_state import alt, state_of, step  # noqa: E402
from .tui_support import make_app, register_fake, run_pilot, screen_text  # noqa: E402

REPLY = "Paris is the capital."


class WordPieces(FakeAttentionBackend):
    """The fake's maps, its tokens drawn as words (``␣word65``): labels as long as a real model's."""

    def token_pieces(self, token_ids: Sequence[int]) -> list[TokenPiece]:
        return [TokenPiece(t, f" word{t}".encode()) for t in token_ids]


def attention_app() -> Any:
    app = make_app(reply=REPLY)
    register_fake(lambda: WordPieces(reply=REPLY))
    return app


def map_lines(app: Any) -> list[str]:
    """The screen's lines that draw a row of the map (the row number, then ``▸`` or a blank)."""
    import re

    return [line for line in screen_text(app).splitlines() if re.match(r"^[ │]*\d+ [▸ ] \S", line)]


def test_on_an_80_column_terminal_the_row_labels_stay_in_sight() -> None:
    """64 tokens with 10-cell labels are 81 cells wide: the map was scrolled right to the cursor, and every
    row's label was cut off on the left (`ombinat…`, `s`). The labels now narrow so that it all fits."""
    app = attention_app()

    async def scenario(pilot: Any) -> None:
        screen = await open_view(pilot)
        state = await wait_map(pilot, screen)
        await pilot.pause()
        last = state.maps.window_start + len(state.maps.token_ids) - 1
        rows = map_lines(app)
        assert rows, screen_text(app)
        assert any(line.lstrip(" │").startswith(f"{last} ▸ ␣w") for line in rows), rows  # number and label
        assert screen.heatmap.scroll_x == 0
        assert "◆" in screen_text(app)  # the cursor, on the last row, is in sight too

    run_pilot(app, scenario, size=(80, 24))


def test_after_the_terminal_shrinks_the_cursor_is_still_in_sight() -> None:
    """Opened on a tall terminal, the map scrolled to the cursor on the last row; made shorter, the map kept its
    scroll and showed rows far above the cursor, which only a key press brought back."""
    app = attention_app()

    async def scenario(pilot: Any) -> None:
        screen = await open_view(pilot)
        state = await wait_map(pilot, screen)
        await pilot.press("up", "up", "up")
        await pilot.pause()
        await pilot.resize_terminal(80, 20)
        await pilot.pause()
        await pilot.pause()
        row = state.maps.window_start + state.row
        rows = map_lines(app)
        assert any(line.lstrip(" │").startswith(f"{row} ▸") for line in rows), (row, rows)
        assert "◆" in screen_text(app)

    run_pilot(app, scenario, size=(120, 60))


def test_a_kept_candidate_with_a_tiny_chance_is_not_printed_as_a_cut_ones_zero() -> None:
    """At the reply's settings SmolLM2 kept `ls` with sampled probability 0.0004: the panel printed 0.000, the
    number of a token a setting cut, where `assistant next` prints 4.0e-04."""
    top = [alt("a", 1, 0.9, 0.9995), alt("b", 2, 0.09, 0.0004), alt("c", 3, 0.01, 0.0001)]
    state = state_of([step("a", 1, 0.9, top, 0.9995)], temperature=0.7, top_k=0, top_p=1.0)
    rows = state.step_rows()
    assert [row.kept for row in rows] == [True, True, True]
    from rich.console import Console

    console = Console(width=80, record=True)
    console.print(step_table(rows, state.candidate_label, 80))
    text = console.export_text()
    assert "4.0e-04" in text and "1.0e-04" in text and "0.000" not in text


def test_on_a_tiny_terminal_the_map_keeps_some_rows() -> None:
    """At 40×15 the lines around the map (the summary, the detail, the legend) wrapped and took every row:
    the map had no height left, and the view showed everything about the map but the map."""
    app = attention_app()

    async def scenario(pilot: Any) -> None:
        screen = await open_view(pilot)
        await wait_map(pilot, screen)
        await pilot.pause()
        assert screen.heatmap.size.height >= 4
        assert "◆" in screen_text(app)  # the cursor's cell, on the map

    run_pilot(app, scenario, size=(40, 15))


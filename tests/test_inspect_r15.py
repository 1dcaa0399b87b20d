"""Round 15 of user testing the look-inside-the-model views: the chat app's attention view scrolled sideways,
and empty or blank text given to ``assistant tokenize`` / ``next`` / ``context`` / ``attention``."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from click.testing import CliRunner
from rich.cells import cell_len

from assistant.backends.fake import FakeBackend, FakeBackendPlugin

pytest.importorskip("textual")

from .test_tui_attention import open_view, wait_map  # noqa: E402
from .test_tui_inspect_r12 import attention_app  # noqa: E402
from .tui_support import run_pilot, screen_lines  # noqa: E402

ROW = re.compile(r"│ (\d+) [▸ ] (␣word\d+) ")
"""A map row on the screen: its number and its whole label (the fake's tokens are ``␣word65``)."""


def _map_rows(lines: list[str]) -> list[tuple[int, int, str]]:
    """(screen line, token number, label) of each map row in sight."""
    return [
        (index, int(match.group(1)), match.group(2))
        for index, line in enumerate(lines)
        if (match := ROW.search(line))
    ]


@pytest.mark.parametrize("size", [(60, 20), (200, 50)])
def test_a_map_scrolled_sideways_keeps_its_row_labels_and_its_header_in_step(size: tuple[int, int]) -> None:
    """At 60x20 the map (64 tokens) is wider than the view and opens scrolled right, to the cursor on the last
    token looking at itself: the row labels had scrolled off on the left with the cells, and no cell could be
    matched to its token. The labels stay now, and the header's column numbers move with the cells."""
    app = attention_app()

    async def scenario(pilot: Any) -> None:
        screen = await open_view(pilot)
        state = await wait_map(pilot, screen)
        await pilot.pause()
        await pilot.pause()
        lines = screen_lines(app)
        rows = _map_rows(lines)
        first = state.maps.window_start
        last = first + state.row
        assert rows and rows[-1][1] == last, "\n".join(lines)  # the cursor's row, with its number and label
        if size[0] == 60:
            assert screen.heatmap.scroll_x > 0  # the case of the defect: scrolled sideways
        # the header, just above the first row in sight, numbers the column the cursor is in
        header = lines[rows[0][0] - 1]
        cursor_line = lines[rows[-1][0]]
        mark = (last // 10) * 10
        assert f" {mark}" in header, header
        assert cursor_line.index("◆") - header.index(f" {mark}") - 1 == last - mark, (header, cursor_line)

    run_pilot(app, scenario, size=size)


def test_a_column_number_cut_by_the_frozen_labels_is_not_drawn_as_another_number() -> None:
    """Scrolled one cell past column 100, the header read ``0`` where ``100`` had been cut: only whole column
    numbers are drawn, each one a multiple of ten inside the window."""
    app = attention_app()

    async def scenario(pilot: Any) -> None:
        screen = await open_view(pilot)
        state = await wait_map(pilot, screen)
        first = state.maps.window_start
        last = first + len(state.maps.token_ids) - 1
        for offset in range(1, 4):  # "00", "0" and then no number of 100 at the left edge
            screen.heatmap.scroll_to(x=100 - first + offset, animate=False)
            await pilot.pause()
            await pilot.pause()
            lines = screen_lines(app)
            rows = _map_rows(lines)
            assert rows, "\n".join(lines)
            header = lines[rows[0][0] - 1].strip(" │")
            numbers = [int(word) for word in header.split() if word.isdigit()]
            assert numbers, header
            assert all(number % 10 == 0 and first <= number <= last for number in numbers), header

    run_pilot(app, scenario, size=(60, 20))


# ---- known item 2: an empty text given to `assistant tokenize` -------------------------------------------


class NoBosFake(FakeBackend):
    """The fake as SmolLM2 is: a text starts with no token of the model's own, so '' is zero tokens."""

    def leading_bos(self) -> int | None:
        return None


@pytest.fixture
def no_bos_fake() -> None:
    from assistant.plugins import register_plugin

    register_plugin(FakeBackendPlugin(NoBosFake), name="fake-no-bos")


def _tokenize(*args: str, columns: int = 80) -> Any:
    from assistant.cli import main

    return CliRunner().invoke(main, ["tokenize", "-b", "fake", "-m", "m", *args], env={"COLUMNS": str(columns)})


@pytest.mark.parametrize("columns", [40, 80, 200])
def test_tokenize_of_an_empty_text_says_there_are_no_tokens(no_bos_fake: None, columns: int) -> None:
    """`assistant tokenize ''` printed its summary, then two empty lines: the row of pieces and the table, with
    nothing in them. It says why there is nothing now, and prints no blank line."""
    result = _tokenize("", columns=columns)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines and all(line.strip() for line in lines), lines
    assert "0 tokens" in lines[0] and "0.0% of the 2048-token context window" in " ".join(lines)
    said = " ".join(lines)
    assert "no tokens: the text is empty" in said, lines
    assert all(cell_len(line) < columns for line in lines if " " in line), lines  # folded between words


def test_tokenize_json_of_an_empty_text_is_complete(no_bos_fake: None) -> None:
    data = json.loads(_tokenize("--json", "").output)
    assert data["count"] == 0 and data["tokens"] == [] and data["context_share"] == 0.0
    assert set(data) == {"model", "backend", "count", "context_length", "context_share", "chat", "tokens"}


def test_an_empty_text_on_a_model_that_starts_it_with_bos_still_shows_that_token(fake_backend: None) -> None:
    result = _tokenize("")
    assert result.exit_code == 0, result.output
    assert "1 token" in result.output and "no tokens" not in result.output


# ---- the inspect commands on a 40-column terminal ----------------------------------------------------------


def test_next_rows_fit_a_40_column_terminal_with_every_cut_still_said() -> None:
    """At 40 columns the rows of `assistant next` were 56 cells even with 4-cell bars: the terminal wrapped each
    cut row's "cut by top-p 0.9" onto a line of its own, under the next row's rank. The bars go, and a cut is
    said as the chat app's narrow panel says it (✗ top-p; the value is on the first line)."""
    import numpy as np

    from assistant.cli.inspect_tokens import next_lines
    from assistant.inspect.distribution import next_token
    from assistant.types import GenerationParams

    logits = np.linspace(6.0, 0.0, 200, dtype=np.float32)
    logits[0] = 9.0
    params = GenerationParams(temperature=0.8, top_k=5, top_p=0.9)
    result = next_token(logits, params, lambda i: f"␣word{i}", top=10)
    lines = next_lines(result, width=40)
    assert all(cell_len(line) <= 39 for line in lines), lines
    rows = [line for line in lines if re.match(r"^ ?\d+ ", line)]
    assert len(rows) == 10, lines
    cut = {row.split()[-1] for row in rows if "✗" in row}
    assert cut == {"top-p", "top-k"}, rows
    assert any("top-k 5" in line for line in lines[:2]) and any("top-p 0.9" in line for line in lines[:3])
    assert any(line.startswith("✗ = cut by") for line in lines), lines
    wide = next_lines(result, width=120)
    assert any(line.endswith("cut by top-p 0.9") for line in wide) and not any("✗" in line for line in wide)


def test_tokenize_table_fits_a_40_column_terminal_with_its_notes() -> None:
    """At 40 columns a piece that is part of a character drew `20 part of a character` after its bytes: rows of
    53 cells, wrapped by the terminal. The note goes on a line of its own under the piece now."""
    from assistant.cli.inspect_tokens import token_table
    from assistant.inspect.pieces import TokenPiece

    pieces = [
        TokenPiece(1, b"", special="<|im_start|>"),
        TokenPiece(17097, b" \xe6"),
        TokenPiece(241, b"\x97"),
        TokenPiece(5356, b" helpful"),
    ]
    lines = token_table(pieces, width=40)
    assert all(cell_len(line) <= 39 for line in lines), lines
    assert sum(line.strip() == "part of a character" for line in lines) == 2, lines
    assert any(line.rstrip().endswith("special") for line in lines), lines
    assert any("20 e6" in line for line in lines) and any(line.rstrip().endswith(" 97") for line in lines)
    wide = token_table(pieces, width=120)
    assert any(line.endswith("part of a character") and "97" in line for line in wide), wide


# ---- box titles on a narrow screen -------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(40, 12), (80, 24)])
def test_the_settings_title_is_never_cropped_in_the_middle_of_a_key(size: tuple[int, int]) -> None:
    """At 40 columns the settings box's title read "Settings — Ctrl+S apply, Esc …": Textual cropped it at the
    key it was there to name. It is the longest of its phrasings that fits, as the inspector's title is."""
    from .tui_support import make_app

    app = make_app(reply="Paris.")

    async def scenario(pilot: Any) -> None:
        await pilot.press("f2")
        await pilot.pause()
        await pilot.pause()
        top = next(line for line in screen_lines(app) if "Settings" in line)
        assert "…" not in top, top
        assert "Ctrl+S apply" in top, top
        if size[0] >= 80:
            assert "Esc cancel" in top, top

    run_pilot(app, scenario, size=size)


@pytest.mark.parametrize("ansi", [True, False])
def test_the_probability_legend_folds_between_its_entries(ansi: bool) -> None:
    """`assistant prompt --probs` printed its legend as one 65-cell line: at 40 columns the terminal wrapped it
    inside an entry, its glyph at one line's end and its bound at the next one's start."""
    from assistant.inspect.shade import SHADES, legend

    folded = legend(ansi, width=40)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", folded).splitlines()
    assert len(plain) > 1 and all(cell_len(line) <= 39 for line in plain), plain
    for shade in SHADES:  # each entry whole on one line
        assert any(f"{shade.glyph} {shade.label}" in line for line in plain), plain
    assert "\n" not in legend(ansi) and "\n" not in legend(ansi, width=200)

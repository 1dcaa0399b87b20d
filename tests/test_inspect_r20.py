"""Round 20 of user testing the inspect views (area: inspect): the last column, narrow terminals."""

from __future__ import annotations

import io

import numpy as np
import pytest
from rich.cells import cell_len

from assistant.compare import EngineRun, measure_agreement


def _compare_run(backend: str) -> EngineRun:
    return EngineRun(
        backend=backend, model="smollm2", text="The capital of France is Paris. " * 4, token_ids=[1, 2],
        tokens=["a", "b"], prompt_token_ids=[5, 6], finish_reason="stop", ttft_ms=180.0,
        tokens_per_second=57.7, load_seconds=3.8, top=[[1, 2], [2, 3]], top_tokens=[["a", "b"]] * 2, shown=["a", "b"],
    )  # fmt: skip


@pytest.mark.parametrize("width", [14, 20, 40, 80, 120])
def test_compare_keeps_the_terminals_last_column_spare(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """`assistant compare` drew its rule and its full rows to the terminal's last column, where `tokenize`,
    `next` and `attention` keep one spare: a terminal that wraps at the last column showed a blank line under
    each. Its lines now stop one column short, as theirs do, the terminal's width asked the same way."""
    from assistant.cli.compare import render_side_by_side

    monkeypatch.setenv("COLUMNS", str(width))
    runs = [_compare_run("llama-cpp"), _compare_run("transformers")]
    for lines in (
        render_side_by_side(runs, measure_agreement(runs[0], runs[1], 2)).splitlines(),
        render_side_by_side(runs, measure_agreement(runs[0], runs[1], 2), width=width).splitlines(),
    ):
        assert max(cell_len(line) for line in lines) <= width - 1, "\n".join(lines)
        assert "Paris." in "\n".join(lines) and "57.7" in "\n".join(lines)
    if width >= 80:
        assert set(lines[1]) == {"─"} and len(lines[1]) >= width - 2  # the rule still spans the table


def _next_result(top_k: int = 40, top_p: float = 0.95, names: dict[int, str] | None = None):  # noqa: ANN202
    from assistant.inspect.distribution import next_token
    from assistant.types import GenerationParams

    names = names or {}
    logits = np.linspace(6.0, 0.0, 300, dtype=np.float32)
    params = GenerationParams(top_k=top_k, top_p=top_p)
    return next_token(logits, params, lambda i: names.get(i, f" tok{i}"), top=10)


@pytest.mark.parametrize("width", [17, 20, 24, 28, 31, 33, 34, 40])
@pytest.mark.parametrize("top_k", [40, 3])
def test_next_fits_terminals_down_to_the_narrowest_the_map_takes(width: int, top_k: int) -> None:
    """`COLUMNS=20 assistant next "The capital of France is"`: the rows were 24 cells and more (32 with a
    `✗ top-p`), and the terminal wrapped each one's numbers under the next row's rank. Under 34 columns or so
    each row now folds in two (rank and token, then the two numbers, a cut note beside them where it fits,
    else under them), and every line keeps the spare column, down to the 17 columns `attention` takes."""
    from assistant.cli.inspect_tokens import next_lines

    names = {0: " Paris", 1: " understanding of the whole", 2: "日本語テキスト"}
    lines = next_lines(_next_result(top_k, names=names), width=width)
    assert all(cell_len(line) <= width - 1 for line in lines), "\n".join(lines)
    assert all(line.strip() or not line for line in lines), "\n".join(lines)
    text = "\n".join(lines)
    for rank in range(1, 11):
        assert any(line.split()[:1] == [str(rank)] for line in lines), text
    assert "␣Paris" in text and "0.000" not in lines[0]
    if top_k == 3:
        assert text.count("✗ top-k") == 7, text  # every cut row still says what cut it


def test_next_keeps_one_row_a_line_where_it_fits() -> None:
    """The folding is for narrow terminals only: at 40 columns and more each candidate is one row."""
    from assistant.cli.inspect_tokens import next_lines

    lines = next_lines(_next_result(), width=40)
    rows = [line for line in lines if line[:4].strip().isdigit()]
    assert len(rows) == 10 and all("␣tok" in row for row in rows), "\n".join(lines)
    assert all(len(row.split()) >= 4 for row in rows), "\n".join(lines)  # rank, token, model, sampled


@pytest.mark.parametrize("window", [1, 3, 8])
def test_attention_prints_no_line_of_spaces_for_a_header_that_marks_nothing(window: int) -> None:
    """`assistant attention "Hello there" --window 1`: the line over the map, which numbers every tenth
    column and marks where the reply starts, had neither to show and was printed as a line of spaces.
    It is left out where it marks nothing; where it marks something it stays."""
    from rich.console import Console

    from assistant.cli.attention import print_heatmap
    from assistant.types import AttentionMaps

    tokens = 38
    full = np.tril(np.ones((tokens, tokens), dtype=np.float32)) / np.arange(1, tokens + 1)[:, None]
    part = full[-window:, -window:]
    maps = AttentionMaps(
        layers=[part[None]], token_ids=list(range(tokens - window, tokens)),
        tokens=[f"t{i}" for i in range(tokens - window, tokens)],
        prompt_tokens=22, window_start=tokens - window,
    )  # fmt: skip
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=40, emoji=False, highlight=False)
    print_heatmap(console, maps, 0, None, "m", "a reply")
    lines = out.getvalue().splitlines()
    assert all(line.strip() for line in lines), lines
    assert any(line.startswith("37 ▸ t37") for line in lines), lines
    assert all(cell_len(line) <= 39 for line in lines), lines
    assert any(line.strip() == "30" for line in lines) == (window == 8), lines  # column 30 numbered


@pytest.mark.parametrize("width", [17, 18, 20, 22, 24, 26, 30, 40])
def test_tokenize_fits_terminals_down_to_the_narrowest_the_map_takes(width: int) -> None:
    """`COLUMNS=20 assistant tokenize "東京 😀"`: every table row was 22 cells (a 5-cell row number, an id of
    5 digits, a 5-cell piece, then the bytes), the note `part of a character` 19 cells at 17 columns, and
    the row of pieces held `[␣<0xF0><0x9F><0x98>]`, 21 cells: the terminal wrapped them all. Narrow, a row
    now takes its number's own digits and one-space gaps, bytes that fit nowhere beside the piece go
    under it, the note folds between its words, and a piece wider than the terminal is cut where it would
    have wrapped. Nothing is lost: every byte is still listed."""
    from assistant.cli.inspect_tokens import tokenize_lines
    from assistant.inspect.pieces import TokenPiece

    pieces = [
        TokenPiece(30679, b"\xe6\x9d"), TokenPiece(126, b"\xb1"), TokenPiece(216, b" "),
        TokenPiece(47541, b" \xf0\x9f\x98"), TokenPiece(232, b"\x80"), TokenPiece(2599, b"esc"),
        TokenPiece(40686, b" " * 64),
    ]  # fmt: skip
    lines = tokenize_lines(pieces, 8192, {"model": "smollm2", "backend": "llama-cpp"}, width)
    assert all(cell_len(line) <= width - 1 for line in lines), "\n".join(lines)
    table = lines[lines.index("") + 1 :]
    for number, piece in enumerate(pieces):
        assert any(line.split()[:2] == [str(number), str(piece.token_id)] for line in table), "\n".join(table)
    hexes = " ".join(table).split()
    assert hexes.count("20") >= 66 and all(h in hexes for h in ("e6", "9d", "b1", "f0", "9f", "98", "80"))
    assert "".join(line for line in lines[: lines.index("")] if "[" in line or "]" in line).count("[") == 7


@pytest.mark.parametrize("width", [17, 20, 40, 60])
def test_next_cuts_a_greedy_pick_wider_than_the_terminal(width: int) -> None:
    """SmolLM2 has a token of 64 spaces. As `next`'s greedy pick (`greedy pick: ␣␣…␣ (model p …)`) it was one
    word of 64 cells, kept whole by the folding, and the terminal wrapped it at its last column. A word no
    line can hold is now cut where the terminal would have cut it, one column short: every one of its 64
    cells is still shown, in the greedy pick's lines."""
    from assistant.cli.inspect_tokens import next_lines

    lines = next_lines(_next_result(names={0: " " * 64}), width=width)
    assert all(cell_len(line) <= width - 1 for line in lines), "\n".join(lines)
    summary = lines[lines.index("") + 1 :]
    assert "".join(summary).count("␣") == 64, "\n".join(summary)

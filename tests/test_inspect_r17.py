"""Round 17 of user testing the inspect views (area: inspect)."""

from __future__ import annotations

import pytest

from assistant.cli.compare import display_width, render_side_by_side
from assistant.compare import EngineRun, measure_agreement


def _compare_run(backend: str, steps: int) -> EngineRun:
    ids = list(range(steps))
    return EngineRun(
        backend=backend, model="smollm2", text="The capital of France is Paris.", token_ids=ids,
        tokens=["a"] * steps, prompt_token_ids=[5, 6], finish_reason="stop", ttft_ms=180.0,
        tokens_per_second=57.7, load_seconds=3.8, top=[[i, i + 1] for i in ids],
        top_tokens=[["a", "b"]] * steps, shown=["a"] * steps,
    )  # fmt: skip


@pytest.mark.parametrize("width", [40, 80, 100])
def test_compare_folds_its_agreement_summary_to_the_terminal(width: int) -> None:
    """`assistant compare` fitted its table to the terminal and then printed the agreement summary on one
    line of 150 cells and more, which the terminal wrapped inside a word (``top-5 over`` / ``lap``). Every
    line now fits, the summary folded between its parts, and none of it is lost."""
    runs = [_compare_run("llama-cpp", 20), _compare_run("transformers", 20)]
    agreement = measure_agreement(runs[0], runs[1], 5)
    lines = render_side_by_side(runs, agreement, width=width).splitlines()
    assert all(display_width(line) < width for line in lines), "\n".join(lines)
    summary = " ".join(lines[len(lines) - lines[::-1].index("") :])
    for part in ("agreement: prompt token ids identical", "all 20 generated tokens identical", "over 20 step(s)"):
        assert part in summary, summary


def test_compare_keeps_its_columns_in_line_under_a_thai_reply() -> None:
    """A Thai reply's vowel signs (U+0E31, U+0E35) take no cell of their own, but `assistant compare` counted one
    for each, so it padded the left column short and the ``│`` of that row stood left of every other row's.
    The table now measures as every other view does (Rich's cell count), and the separators line up."""
    from rich.cells import cell_len

    left, right = _compare_run("llama-cpp", 3), _compare_run("transformers", 3)
    left.text = "สวัสดีครับ ยินดีที่ได้รู้จัก " * 3
    lines = render_side_by_side([left, right], measure_agreement(left, right, 2), width=80).splitlines()
    columns = {cell_len(line.split("│")[0]) for line in lines if "│" in line}
    assert len(columns) == 1, "\n".join(lines)


@pytest.mark.parametrize("width", [40, 60])
def test_tokenize_cuts_a_piece_wider_than_its_table_row(width: int) -> None:
    """SmolLM2 has a token of 64 spaces. `assistant tokenize` at 40 columns drew its table row at 78 cells (the
    piece whole), and the terminal wrapped the rest of the piece under the row numbers, among the bytes
    of the rows. The piece column now cuts it with ``…`` (the row of pieces above, its bytes and --json
    give it whole), as `next` cuts a long token."""
    from rich.cells import cell_len

    from assistant.cli.inspect_tokens import token_table
    from assistant.inspect.pieces import TokenPiece

    pieces = [TokenPiece(81, b"a"), TokenPiece(40686, b" " * 64), TokenPiece(65, b"b")]
    lines = token_table(pieces, width)
    assert all(cell_len(line) < width for line in lines), "\n".join(lines)
    row = next(line for line in lines if "40686" in line)
    assert row.rstrip().endswith("…") and "␣␣␣" in row, row
    assert sum(line.count("20") for line in lines) == 64  # every byte still listed
    assert "␣" * 64 in "\n".join(token_table(pieces, None))  # no width (a file, --json's caller): whole


def test_compare_keeps_a_tab_of_the_reply_out_of_its_columns() -> None:
    """A reply holding a tab (code, a table) went into the text column as is: the terminal widened it to its
    next tab stop, which no cell count foresees, and that row's ``│`` was pushed out of line. The column
    gets the reply on one line as every one-line listing does (a run of blanks, a tab included, is a space)."""
    left, right = _compare_run("llama-cpp", 3), _compare_run("transformers", 3)
    left.text = "name\tvalue\nalpha\t1\nbeta\t22\fend"
    text = render_side_by_side([left, right], measure_agreement(left, right, 2), width=80)
    assert "\t" not in text and "\f" not in text
    assert "name value alpha 1 beta 22␌end" in text, text


def test_compare_splits_a_long_word_by_what_its_characters_take_together() -> None:
    """A word wider than its column was cut character by character, each measured alone: ❤ and the U+FE0F
    after it count one cell that way, two together (the emoji), so ten of them made a 5-cell line 10 wide."""
    from assistant.cli.compare import wrap_cells

    lines = wrap_cells("❤️" * 10, 5)
    assert all(display_width(line) <= 5 for line in lines), lines
    assert "".join(lines) == "❤️" * 10


def test_tokenize_moves_a_wide_pieces_bytes_and_note_below_it_together() -> None:
    """Three bytes of an emoji are one token, drawn ``<0xF0><0x9F><0x99>`` (18 cells, wider than the piece
    column). At 60 columns its bytes fitted beside it but not their ``part of a character`` note: a 61-cell
    row the terminal wrapped. Bytes and note now go below together, in their columns, where they fit."""
    from rich.cells import cell_len

    from assistant.cli.inspect_tokens import token_table
    from assistant.inspect.pieces import TokenPiece

    pieces = [TokenPiece(47526, b"\xf0\x9f\x99"), TokenPiece(2, b"\x82"), TokenPiece(3, b"hello")]
    lines = token_table(pieces, 60)
    assert all(cell_len(line) < 60 for line in lines), "\n".join(lines)
    assert lines[0].rstrip().endswith("<0xF0><0x9F><0x99>")
    assert lines[1].split() == ["f0", "9f", "99", "part", "of", "a", "character"]
    assert lines[1].index("f0 ") == lines[2].index("82 ") and lines[1].index("part") == lines[2].index("part")


def test_tokenize_keeps_its_bytes_column_straight_past_99999_tokens() -> None:
    """A pasted book: row 100000 and on have six-digit numbers, and each of those rows was drawn a cell to the
    right of the rows before it (bytes and all), under a bytes column placed for five-digit numbers."""
    from assistant.cli.inspect_tokens import token_table
    from assistant.inspect.pieces import TokenPiece

    pieces = [TokenPiece(7, b"a")] * 100_001
    lines = token_table(pieces, 80)
    assert lines[0].rindex("61") == lines[-1].rindex("61"), (lines[0], lines[-1])

"""Round 19 of the inspect views: what a demanding user still found wrong.

- ``assistant attention`` printed the reply line whole: Rich wrapped it on a narrow
  terminal, leaving a space at the end of each line and filling the last column;
  the legend's head was broken where Rich liked, also with a trailing space.
- ``assistant tokenize``'s table put ``special`` one column right of the bytes column
  where no noted row had bytes (a chat template's control tokens only).
- docs/inspect.md said 8191 tokens of an 8192-token window print as 100.0%: they print
  as ``>99.9%`` (share_text never rounds onto a bound it is not at).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.cells import cell_len

from assistant.cli import main
from assistant.cli.inspect_tokens import context_share, token_table
from assistant.inspect.pieces import TokenPiece

DOCS = Path(__file__).resolve().parent.parent / "docs" / "inspect.md"

HEATMAP_ROW = re.compile(r"^\s*\d+ [▸ ] ")


@pytest.mark.parametrize("columns", [24, 40])
def test_attention_folds_the_reply_and_the_legend_to_the_terminal(fake_backend: None, columns: int) -> None:
    """`COLUMNS=24 assistant attention "tell me a long story…"`: every line but the map's rows fits the width
    with a spare column and ends in no space (the map's rows end in the blank cells above the diagonal)."""
    text = "tell me a long story about the sea and the ships that sail on it"
    result = CliRunner().invoke(
        main,
        ["attention", "-b", "fake-attention", "-m", "x", "--max-new-tokens", "40", text],
        env={"COLUMNS": str(columns), "NO_COLOR": "1"},
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    reply_at = next(i for i, line in enumerate(lines) if line.startswith("reply: "))
    text_lines = [line for line in lines if not HEATMAP_ROW.match(line)]
    assert len(text_lines) < len(lines)  # the map was drawn
    for line in text_lines:
        assert line == line.rstrip(), repr(line)
        assert cell_len(line) < columns, repr(line)
    # the whole reply is there, folded between its words
    header = next(i for i, line in enumerate(lines) if "│" in line or re.fullmatch(r"\s+\d[\d\s]*", line))
    reply = " ".join(lines[reply_at:header])
    assert reply == "reply: Echo: " + text[: len(reply) - len("reply: Echo: ")]
    assert "shade = attention" in result.output and "weight: · <1%" in result.output


def test_tokenize_puts_a_control_tokens_note_in_the_bytes_column() -> None:
    """`assistant tokenize --chat hi`: `special` starts where the other rows' bytes start, not a column right."""
    pieces = [TokenPiece(1, b"", "<|im_start|>"), TokenPiece(4093, b"user"), TokenPiece(2, b"", "<|im_end|>")]
    for width in (None, 80, 40):
        lines = token_table(pieces, width)
        bytes_at = lines[1].index("75 73")
        assert lines[0].index("special") == bytes_at, lines
        assert lines[-1].index("special") == bytes_at, lines


def test_tokenize_keeps_notes_aligned_after_the_bytes_where_a_noted_row_has_bytes() -> None:
    """With a part of a character among the noted rows, notes still line up after its bytes (as before)."""
    pieces = [TokenPiece(1, b"", "<|im_start|>"), TokenPiece(7, b"\xe6\x97"), TokenPiece(8, b"ab")]
    lines = token_table(pieces, 100)
    assert lines[0].index("special") == lines[1].index("part of a character")


def test_docs_give_the_context_share_tokenize_prints_at_the_limit() -> None:
    """The figures docs/inspect.md quotes for 8191 and 8192 tokens of an 8192-token window are what
    `tokenize` prints (it said both print as 100.0%; 8191 prints as >99.9%, with 1 to spare)."""
    doc = " ".join(DOCS.read_text(encoding="utf-8").split())
    for count in (8191, 8192):
        assert f"`{context_share(count, 8192)}`" in doc
    assert "both print as 100.0%" not in doc


@pytest.mark.parametrize("width", [26, 30, 33])
def test_tokenize_table_fits_a_terminal_under_34_columns(width: int) -> None:
    """`COLUMNS=30 assistant tokenize --chat "本日"`: the 16-cell piece column put the bytes at column 30 of a
    table of 5-digit ids, and the note under a piece at column 14: every line passed the width."""
    pieces = [
        TokenPiece(40993, "本".encode()),
        TokenPiece(23274, b"\xe6\x97"),
        TokenPiece(1, b"", "<|im_start|>"),
        TokenPiece(11173, b" assistant"),
    ]
    lines = token_table(pieces, width)
    for line in lines:
        assert cell_len(line) < width, (line, lines)
    table = "\n".join(lines)
    assert re.findall(r"\b[0-9a-f]{2}\b", table)[:5] == ["e6", "9c", "ac", "e6", "97"]  # every byte, in order
    assert table.count("part of a character") == 1 and table.count("special") == 1
    assert "␣assistant" in table  # the piece is still whole where it fits the row

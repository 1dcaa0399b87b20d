"""Round 14: the look-inside-the-model commands (``tokenize``, ``next``, ``attention``) as users meet them."""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import pytest
from click.testing import CliRunner

from assistant.backends.fake import VOCAB_SIZE, FakeBackend, FakeBackendPlugin
from assistant.inspect.distribution import explain, next_token, top_indices
from assistant.inspect.pieces import TokenPiece
from assistant.types import GenerationParams, TopAlternative

SPACES = sorted(c for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Zs" and c != 0x20)
"""Every space separator but the ordinary one: no-break, en/em, thin, hair, ideographic…"""

TIED = (200, 50, 100)
"""Three fake tokens of one top logit, listed in an order other than their ids'."""


class TiedFake(FakeBackend):
    """The fake whose next-token logits put :data:`TIED` level at the top."""

    def iter_logits(self, prompt_ids: list[int], token_ids: Sequence[int]) -> Iterator[Any]:
        logits = -(np.arange(VOCAB_SIZE, dtype=np.float32) % 17) / 4 - 2
        logits[list(TIED)] = 3.0
        for _ in range(len(token_ids) + 1):
            yield logits


@pytest.fixture
def tied_fake() -> None:
    from assistant.plugins import register_plugin

    register_plugin(FakeBackendPlugin(TiedFake), name="fake-tied")


def _next(*args: str) -> Any:
    from assistant.cli import main

    result = CliRunner().invoke(main, ["next", "-b", "fake", "-m", "m", *args, "Hi"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    return result


# ---- known item 1: exact ties at the top of `assistant next` -------------------------------------------


def test_next_lists_the_greedy_pick_first_among_tied_candidates(tied_fake: None) -> None:
    # Three tokens of one logit: #1 was id 200, while temperature 0 writes id 50 (the lowest id: llama.cpp's
    # greedy sampler and torch.argmax keep the first maximum), listed third and "cut by temperature 0".
    data = json.loads(_next("--json", "-o", "temperature=0", "--top", "5").output)
    ids = [c["id"] for c in data["candidates"]]
    assert ids[:3] == [50, 100, 200]
    assert data["greedy"]["id"] == 50 and data["greedy_ties"] == 3
    assert data["candidates"][0]["p_sampled"] == 1.0
    assert [c["cut_by"] for c in data["candidates"][1:3]] == ["greedy", "greedy"]
    text = _next("-o", "temperature=0").output
    assert "3 tokens tie at the top: greedy takes #1 (the lowest id)" in text


def test_top_k_keeps_the_lowest_ids_of_tied_candidates(tied_fake: None) -> None:
    # top-k 2 of three tied tokens kept #1 and #3 and cut #2 (argpartition's order, not a ranking).
    data = json.loads(_next("--json", "-o", "top_k=2", "-o", "top_p=1").output)
    rows = [(c["id"], c["cut_by"]) for c in data["candidates"][:3]]
    assert rows == [(50, None), (100, None), (200, "top-k")]
    assert data["candidates"][0]["p_sampled"] == pytest.approx(0.5)


def test_no_tie_note_when_the_top_is_one_token() -> None:
    logits = np.linspace(3.0, 0.0, 300, dtype=np.float32)
    logits[7] = 3.0  # a tie below the top says nothing about greedy
    logits[0] = 4.0
    result = next_token(logits, GenerationParams(temperature=0), str, top=4)
    assert result.greedy_ties == 1
    from assistant.cli.inspect_tokens import next_lines

    assert not any("tie" in line for line in next_lines(result, None, 80))


@pytest.mark.parametrize("vocab", [258, 49152])
def test_tied_values_are_ranked_lowest_index_first_at_any_vocabulary_size(vocab: int) -> None:
    # The small path and the threshold path of top_indices both broke ties in argpartition's order.
    values = np.random.default_rng(1).standard_normal(vocab).astype(np.float32) - 6
    values[[vocab - 3, 40, 9]] = 2.0
    assert top_indices(values, 2).tolist() == [9, 40]
    assert top_indices(values, 4).tolist()[:3] == [9, 40, vocab - 3]
    assert top_indices(values, vocab).tolist()[:3] == [9, 40, vocab - 3]


def test_greedy_decoding_writes_the_candidate_listed_first() -> None:
    torch = pytest.importorskip("torch")
    from assistant.backends.torch.sampling import Sampler

    logits = np.random.default_rng(0).standard_normal(VOCAB_SIZE).astype(np.float32) - 5
    logits[list(TIED)] = 3.0
    params = GenerationParams(temperature=0)
    listed = next_token(logits, params, str, top=5).candidates[0].token_id
    assert Sampler(params)(torch.from_numpy(logits)) == listed == 50


def test_explain_orders_a_tied_top_n_list_as_greedy_breaks_the_tie() -> None:
    # The chat app's sampling panel explains a recorded top-N list: a tie kept the list's order, so
    # temperature 0 gave probability 1 to whichever the list named first.
    half = float(np.log(0.5))
    alternatives = [TopAlternative("b", 9, half), TopAlternative("a", 4, half)]
    out = explain(alternatives, GenerationParams(temperature=0), complete=True)
    assert [(c.token_id, c.p_sampled) for c in out] == [(4, 1.0), (9, 0.0)]


# ---- known item 2: spaces other than U+0020 were blank -------------------------------------------------


def test_other_spaces_are_every_space_separator_but_the_ordinary_one() -> None:
    from assistant.inspect.pieces import OTHER_SPACES

    assert sorted(OTHER_SPACES) == SPACES


@pytest.mark.parametrize("space", SPACES)
def test_a_piece_with_another_space_shows_it(space: int) -> None:
    # `assistant tokenize "a\u00a0b"` printed [a][ ][b]: the no-break space's token read as an ordinary one.
    char = chr(space)
    shown = TokenPiece(1, f"x{char}".encode()).shown()
    assert char not in shown and f"\\u{space:04x}" in shown
    assert TokenPiece(2, f" {char}".encode()).shown() == f"␣\\u{space:04x}"


def test_the_chat_apps_token_strip_shows_another_space_as_tokenize_does() -> None:
    from assistant.inspect.token_view import token_label

    assert token_label("a\u3000b") == "a\\u3000b"
    assert token_label("\u00a0") == TokenPiece(3, "\u00a0".encode()).shown() == "\\u00a0"
    assert token_label("a b") == "a b"  # the strip reads as the reply: ordinary spaces stay


def test_tokenize_prints_a_no_break_space_visibly() -> None:
    from assistant.cli import main

    class Spaces(FakeBackend):
        def token_pieces(self, token_ids: Sequence[int]) -> list[TokenPiece]:
            return [TokenPiece(1, "\u00a0".encode()), TokenPiece(2, b" "), TokenPiece(3, "\u2009x".encode())]

    from assistant.plugins import register_plugin

    register_plugin(FakeBackendPlugin(Spaces), name="fake-spaces")
    result = CliRunner().invoke(main, ["tokenize", "-b", "fake", "-m", "m", "abc"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "[\\u00a0][␣][\\u2009x]" in result.output


# ---- tokenize's table at 60 columns ------------------------------------------------------------------------


def _table(pieces: list[TokenPiece], width: int | None) -> list[str]:
    from assistant.cli.inspect_tokens import tokenize_lines

    lines = tokenize_lines(pieces, 8192, {"model": "smollm2", "backend": "llama-cpp"}, width)
    return lines[lines.index("") + 1 :]


CJK_PIECES = [
    TokenPiece(23274, b"\xe6\x97"),
    TokenPiece(115, b"\xa5"),
    TokenPiece(40993, "本".encode()),
    TokenPiece(11173, b" assistant"),
    TokenPiece(33569, b" " + b"_" * 18),
    TokenPiece(2, b"", "<|im_end|>"),
]


@pytest.mark.parametrize("width", [60, 80])
def test_tokenize_table_fits_the_terminal_with_every_byte_kept(width: int) -> None:
    # At 60 columns each row of a CJK text was 76 cells ("part of a character" after a 24-cell bytes column):
    # the terminal wrapped every one under the next row's number.
    from rich.cells import cell_len

    table = _table(CJK_PIECES, width)
    assert all(cell_len(line) <= width - 1 for line in table), table
    rows = [index for index, line in enumerate(table) if line[:5].strip().isdigit()]
    assert len(rows) == len(CJK_PIECES)
    for start, end, piece in zip(rows, [*rows[1:], len(table)], CJK_PIECES):
        written = " ".join(table[start:end]).replace("part of a character", "").replace("special", "")
        assert piece.piece.hex(" ") in " ".join(written.split()[2:]), (piece, table[start:end])
    assert sum("part of a character" in line for line in table) == 2
    assert sum(line.rstrip().endswith("special") for line in table) == 1


def test_tokenize_table_keeps_each_token_on_one_line_where_it_fits() -> None:
    wide = _table(CJK_PIECES, 200)
    assert len(wide) == len(CJK_PIECES)
    assert _table(CJK_PIECES, None) == wide
    notes = [line.index("part of a character") for line in wide if "part of a character" in line]
    assert len(set(notes)) == 1  # the notes stand in one column


# ---- attention pictures: a character the font lacks ------------------------------------------------------


def _picture_maps(texts: list[str]) -> Any:
    from assistant.types import AttentionMaps

    n = len(texts)
    weights = np.tril(np.ones((n, n), dtype=np.float32))
    weights /= weights.sum(axis=1, keepdims=True)
    pieces = [TokenPiece(i, text.encode()) for i, text in enumerate(texts)]
    return AttentionMaps(
        layers=[weights[None]], token_ids=list(range(n)), tokens=texts, prompt_tokens=2, pieces=pieces
    )


def test_picture_labels_never_need_a_glyph_no_font_has() -> None:
    # `attention --out map.png` on a CJK prompt drew "本" and "🙂" as empty boxes (DejaVu Sans has no CJK):
    # the labels could not be read, nor two such tokens told apart.
    from assistant.inspect.pictures import LABEL_WIDTH, label_fonts, picture_labels

    _, fonts = label_fonts()
    texts = ["The", " 本", "日本語日本語日本語", " 🙂", "a very long english token"]
    labels = picture_labels(_picture_maps(texts))
    for label in labels:
        missing = [char for char in label if not any(font.get_char_index(ord(char)) for font in fonts)]
        assert not missing, (label, missing)
        assert len(label) <= LABEL_WIDTH
        cut_escape = re.search(r"\\(u[0-9a-f]{0,3}|U[0-9a-f]{0,7})…$", label)
        assert not cut_escape, label
    assert labels[0] == "The" and labels[4] == "a␣very␣long␣e…"


def test_a_cjk_attention_picture_is_written(tmp_path: Path) -> None:
    from assistant.inspect.pictures import save_attention_picture

    out = tmp_path / "map.png"
    save_attention_picture(_picture_maps(["日本", "語", "🙂", "x"]), out, 0, None, "模型")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_empty_out_name_is_not_called_a_folder() -> None:
    # `attention --out "$PICTURE"` with the variable unset said "cannot write '': that names a folder".
    from assistant.errors import AssistantError
    from assistant.inspect.pictures import check_picture_path

    with pytest.raises(AssistantError) as caught:
        check_picture_path("")
    assert str(caught.value) == "cannot write '': give a file name ending in .png, .svg, .html"


def test_entropy_ignores_tokens_ruled_out_with_minus_infinity() -> None:
    # Logits of -inf (tokens an engine rules out) made "entropy_bits": NaN: 0 × -inf summed into the entropy.
    logits = np.full(256, -np.inf, dtype=np.float32)
    logits[:4] = 0.0  # four equally likely tokens: exactly 2 bits
    result = next_token(logits, GenerationParams(), str, top=3)
    assert result.entropy_bits == pytest.approx(2.0)
    assert [c.token_id for c in result.candidates] == [0, 1, 2]

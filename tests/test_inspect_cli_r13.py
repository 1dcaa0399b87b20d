"""Round 13: the look-inside-the-model commands (``tokenize``, ``next``, ``attention``) as users meet them."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from rich.cells import cell_len
from rich.console import Console

from assistant.cli.attention import print_heatmap
from assistant.cli.inspect_tokens import next_lines
from assistant.inspect.distribution import next_token
from assistant.types import AttentionMaps, GenerationParams

from .conftest import run_cli

NOTHING_CUT = GenerationParams(temperature=1.0, top_k=0, top_p=1.0)


def test_kept_mass_is_a_probability_when_nothing_is_cut() -> None:
    # `assistant next --json -o top_k=0 -o top_p=1` printed "kept_mass": 1.0000000025: the float32
    # normalizer made the float64 sum over the whole vocabulary come out a hair over 1.
    logits = (np.random.default_rng(0).standard_normal(49152) * 3).astype(np.float32)
    result = next_token(logits, NOTHING_CUT, str, top=3)
    assert result.kept == 49152
    assert 0.999 < result.kept_mass <= 1.0
    assert result.to_dict()["kept_mass"] <= 1.0


def test_greedy_pick_of_a_flat_distribution_is_not_printed_as_a_cut_token() -> None:
    # Every token about 1/49152: the candidates printed 2.0e-05, but the greedy pick said
    # "model p 0.000", the number `assistant next` keeps for a token the settings cut.
    result = next_token(np.zeros(49152, dtype=np.float32), NOTHING_CUT, str, top=3)
    greedy = next(line for line in next_lines(result) if line.startswith("greedy pick:"))
    assert "model p 2.0e-05" in greedy
    assert "0.000" not in greedy


def _heatmap_at(width: int, model: str = "smollm2") -> list[str]:
    weights = np.tril(np.full((1, 6, 6), 1 / 6, dtype=np.float32))
    weights[0, :, 0] += 1 - weights[0].sum(axis=1)  # rows sum to 1
    maps = AttentionMaps(
        layers=[weights], token_ids=list(range(6)), tokens=["a", "b", "c", "d", "e", "f"], prompt_tokens=4
    )
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None, emoji=False, highlight=False)
    print_heatmap(console, maps, 0, None, model, "ef")
    return out.getvalue().splitlines()


def test_lines_under_the_heatmap_fold_between_entries_on_a_narrow_terminal() -> None:
    # At 60 columns the legend wrapped at any space: "█ " ended a line and "≥90%" began the
    # next; at 80 the summary split "token i's / attention"; at 19 the title "layer 0 / · head mean".
    for width in (19, 30, 60, 80):
        lines = _heatmap_at(width)
        assert all(cell_len(line) <= width - 1 for line in lines if "attention weight" in line or "·" in line)
        for entry in ("░ <10%", "▒ <50%", "▓ <90%", "█ ≥90%"):
            assert any(entry in line for line in lines), (width, entry, lines)
        if width >= 60:  # a part narrower than the terminal is never split
            assert any("row i: token i's attention to earlier ones" in line for line in lines), (width, lines)
        assert any(line.startswith("smollm2") for line in lines)
        assert any(line.strip().endswith("head mean") for line in lines[:3])


def test_lines_under_the_heatmap_stay_one_line_where_they_fit() -> None:
    lines = _heatmap_at(200)
    assert lines[0] == "smollm2 · layer 0 · head mean"
    assert (
        lines[-2] == "all 6 tokens · prompt 4, reply 2 (rows ▸) · row i: token i's attention to earlier ones"
    )
    assert lines[-1] == "shade = attention weight: · <1%  ░ <10%  ▒ <50%  ▓ <90%  █ ≥90%"


def test_next_rows_fit_a_60_column_terminal_with_the_cut_notes_whole() -> None:
    # The rows were 75 cells whatever the terminal: at 60 columns "cut by top-p 0.9" wrapped
    # under the next row's rank and the bars of the kept rows broke in two.
    logits = np.linspace(6.0, 0.0, 200, dtype=np.float32)
    logits[0] = 9.0
    params = GenerationParams(temperature=0.8, top_k=5, top_p=0.9)
    result = next_token(logits, params, lambda i: f"tok{i}", top=8)
    lines = next_lines(result, width=60)
    rows = [line for line in lines if line[:4].strip().isdigit()]
    assert len(rows) == 8
    assert all(cell_len(line) <= 59 for line in rows), rows
    assert any(line.endswith("cut by top-p 0.9") for line in rows) and any(
        line.endswith("cut by top-k 5") for line in rows
    )
    assert "█" in rows[0]  # the kept token still has its bar, narrower
    assert any(line.startswith("model = softmax") for line in lines)
    assert all(cell_len(line) <= 59 for line in lines)
    assert next_lines(result)[2].count("█") > rows[0].count("█")  # no width: the 20-cell bars, as before


def test_tokenize_row_folds_between_pieces() -> None:
    from assistant.cli.inspect_tokens import tokenize_lines
    from assistant.inspect.pieces import TokenPiece

    pieces = [TokenPiece(i, f" word{i}".encode()) for i in range(40)]
    facts = {"model": "smollm2", "backend": "llama-cpp"}
    folded = tokenize_lines(pieces, 8192, facts, width=60)
    whole = tokenize_lines(pieces, 8192, facts)
    blank = folded.index("")
    head_and_row = folded[:blank]
    assert all(cell_len(line) <= 59 for line in head_and_row), head_and_row
    assert "".join(line for line in head_and_row if line.startswith("[")) == whole[1]
    assert all(line.startswith("[") and line.endswith("]") for line in head_and_row if "[" in line)
    assert folded[blank:] == whole[2:]  # the per-token lines are untouched


@pytest.mark.usefixtures("fake_backend_plugin_file")
def test_next_json_says_whether_the_text_went_through_the_chat_template() -> None:
    # `tokenize --json` has "chat"; `next --json` had not: the same numbers for TEXT raw and for
    # TEXT as a user turn could not be told apart once saved.
    raw = json.loads(run_cli("next", "-b", "fake", "-m", "m", "--json", "--top", "2", "Echo").stdout)
    chat = json.loads(
        run_cli("next", "-b", "fake", "-m", "m", "--json", "--chat", "--top", "2", "Echo").stdout
    )
    assert raw["chat"] is False and chat["chat"] is True
    assert chat["prompt_tokens"] > raw["prompt_tokens"]


@pytest.mark.usefixtures("fake_backend_plugin_file")
def test_next_and_tokenize_fit_a_60_column_terminal() -> None:
    env = {"COLUMNS": "60"}
    args = ("-b", "fake", "-m", "m", "-o", "top_k=2", "-o", "top_p=1", "--top", "4")
    shown = run_cli("next", *args, "Echo this text back", env=env)
    assert shown.returncode == 0, shown.stderr
    assert all(cell_len(line) <= 59 for line in shown.stdout.splitlines()), shown.stdout
    assert "cut by top-k 2" in shown.stdout
    pieces = run_cli(
        "tokenize", "-b", "fake", "-m", "m", "a fairly long sentence to cut into tokens", env=env
    )
    lines = pieces.stdout.splitlines()
    assert all(cell_len(line) <= 59 for line in lines[: lines.index("")]), pieces.stdout


def _maps(tokens: int, prompt_tokens: int, window_start: int = 0) -> AttentionMaps:
    rows = np.tril(np.ones((tokens, tokens), dtype=np.float32)) / np.arange(1, tokens + 1)[:, None]
    return AttentionMaps(
        layers=[rows[None].astype(np.float32)],
        token_ids=list(range(tokens)),
        tokens=[f"t{i}" for i in range(tokens)],
        prompt_tokens=prompt_tokens,
        window_start=window_start,
    )


def test_summary_of_a_one_token_map_and_of_an_empty_reply() -> None:
    # `--window 1` over a one-token text said "all 1 tokens"; an empty reply (a stop string
    # at once) still pointed at "rows ▸" that the map did not have.
    from assistant.inspect.attention import summary_line

    assert summary_line(_maps(1, 1), 1).startswith("1 token · prompt 1, reply 0 · ")
    assert "(rows ▸)" not in summary_line(_maps(5, 5), 5)
    assert summary_line(_maps(5, 3), 5).startswith("all 5 tokens · prompt 3, reply 2 (rows ▸) · ")


def test_picture_caption_names_the_blue_lines_only_where_they_are_drawn() -> None:
    # The caption always ended "blue lines: where the reply starts", also under a picture of the
    # reply alone (a window inside the reply) or of a prompt with no reply, where none is drawn.
    from assistant.inspect.pictures import caption

    assert caption(_maps(6, 4), 6).endswith(" · blue lines: where the reply starts")
    assert "blue lines" not in caption(_maps(6, 6), 6)  # no reply
    assert "blue lines" not in caption(_maps(3, 2, window_start=5), 3)  # tokens 5-7: all reply

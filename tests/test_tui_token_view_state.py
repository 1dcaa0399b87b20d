"""The token view's Textual-free state: layout, cursor, paging, sampling settings, the panel's rows."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.inspect.token_view import (
    ReplyTokens,
    TokenViewState,
    describe_settings,
    layout_tokens,
    step_setting,
    token_label,
)
from assistant.types import GenerationParams, TokenLogprob, TopAlternative


def alt(text: str, token_id: int, p: float, p_sampled: float | None = None) -> TopAlternative:
    return TopAlternative(text, token_id, math.log(p), p_sampled)


def step(
    text: str, token_id: int, p: float, top: list[TopAlternative], p_sampled: float | None
) -> TokenLogprob:
    return TokenLogprob(text, token_id, math.log(p), top, p_sampled)


PARIS = step(
    " Paris",
    1,
    0.90,
    [alt(" Paris", 1, 0.90, 0.95), alt(" the", 2, 0.05, 0.05), alt(" a", 3, 0.01, 0.0)],
    0.95,
)


def state_of(tokens: list[TokenLogprob], **params: object) -> TokenViewState:
    reply = ReplyTokens([t.token_id for t in tokens], GenerationParams(**params), tokens)  # type: ignore[arg-type]
    return TokenViewState(reply)


def test_labels_make_control_characters_and_newlines_visible() -> None:
    assert token_label("\n") == "↵"
    assert token_label("a\tb") == "a⇥b"
    assert token_label("\x1b[31m") == "␛[31m"
    assert token_label("") == "∅"


def test_layout_wraps_between_tokens_and_breaks_after_newlines() -> None:
    layout = layout_tokens(["ab", "cd", "e\n", "fgh", "ij"], width=5)
    assert [[cell.label for cell in line] for line in layout.lines] == [["ab", "cd"], ["e↵"], ["fgh", "ij"]]
    assert layout.line_of == (0, 0, 1, 2, 2)
    assert layout.cell_at(2, 3) is not None and layout.cell_at(2, 3).index == 4  # type: ignore[union-attr]
    assert layout.cell_at(1, 4) is None
    assert layout.cell_at(9, 0) is None


def test_a_token_wider_than_the_line_gets_a_line_of_its_own() -> None:
    layout = layout_tokens(["a", "x" * 12, "b"], width=5)
    assert [[cell.index for cell in line] for line in layout.lines] == [[0], [1], [2]]


def test_wide_characters_count_two_cells() -> None:
    layout = layout_tokens(["日本", "語", "x"], width=5)
    assert [[cell.label for cell in line] for line in layout.lines] == [["日本"], ["語", "x"]]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=6), max_size=60), st.integers(min_value=1, max_value=30))
def test_layout_keeps_every_token_once_in_order(tokens: list[str], width: int) -> None:
    layout = layout_tokens(tokens, width)
    indexes = [cell.index for line in layout.lines for cell in line]
    assert indexes == list(range(len(tokens)))
    for line in layout.lines:
        if len(line) > 1:  # only a lone token may overflow its line
            assert line[-1].column + line[-1].width <= width
        for cell in line:
            assert layout.cell_at(layout.line_of[cell.index], cell.column) == cell or cell.width == 0


def test_cursor_moves_within_the_reply() -> None:
    state = state_of([PARIS] * 3)
    state.move(-1)
    assert state.cursor == 0
    state.move(10)
    assert state.cursor == 2
    state.move_to(1)
    assert state.cursor == 1


def test_paging_follows_the_cursor() -> None:
    words = [step(f"w{i:02d} ", i, 0.5, [], 0.5) for i in range(40)]  # 4 cells each
    state = state_of(words)
    width, height = 12, 2  # 3 tokens a line, 2 lines a page
    assert state.page(width, height) == (0, 2)
    assert state.page_count(width, height) == math.ceil(math.ceil(40 / 3) / 2)
    state.move_lines(width, height)  # one page down, same column
    assert state.cursor == 6 and state.page(width, height) == (2, 4)
    state.move(1)
    state.move_lines(width, -1)
    assert state.cursor == 4
    state.move_to(39)
    start, end = state.page(width, height)
    assert start <= state.layout(width).line_of[39] < end


def test_settings_step_through_notches_and_saturate() -> None:
    params = GenerationParams(temperature=0.7, top_k=40, top_p=0.95)
    assert step_setting(params, "temperature", 1).temperature == 0.8
    assert step_setting(params, "temperature", -1).temperature == 0.5
    assert step_setting(params.replace(temperature=0.0), "temperature", -1).temperature == 0.0
    assert step_setting(params.replace(temperature=0.65), "temperature", 1).temperature == 0.7
    assert step_setting(params, "top_k", -1).top_k == 20
    assert step_setting(params.replace(top_k=100), "top_k", 1).top_k == 0  # off keeps the most
    assert step_setting(params.replace(top_k=0), "top_k", 1).top_k == 0
    assert step_setting(params.replace(top_k=0), "top_k", -1).top_k == 100
    assert step_setting(params.replace(top_k=7), "top_k", 1).top_k == 10
    assert step_setting(params.replace(top_k=7), "top_k", -1).top_k == 5
    assert step_setting(params, "top_p", 1).top_p == 1.0
    assert step_setting(params.replace(top_p=1.0), "top_p", 1).top_p == 1.0
    assert step_setting(params.replace(top_p=0.1), "top_p", -1).top_p == 0.1


def test_describe_settings_names_what_is_off() -> None:
    assert describe_settings(GenerationParams(temperature=0.7, top_k=40, top_p=0.95)) == (
        "temperature 0.7 · top-k 40 · top-p 0.95"
    )
    assert describe_settings(GenerationParams(temperature=0, top_k=0, top_p=1.0)) == (
        "temperature 0 (greedy) · top-k off · top-p off"
    )


def test_rows_as_generated_keep_the_recorded_numbers_and_name_the_cut() -> None:
    state = state_of([PARIS], temperature=0.7, top_k=40, top_p=0.95)
    rows = state.step_rows()
    assert [row.text for row in rows] == [" Paris", " the", " a"]
    assert [row.p_sampled for row in rows] == [0.95, 0.05, 0.0]
    assert rows[0].chosen and not rows[1].chosen
    assert rows[0].p_model == pytest.approx(0.90)
    assert rows[2].cut_by == "top-p 0.95" and rows[2].kept is False
    assert rows[0].cut_by is None and rows[0].kept is True


def test_sampling_panel_recomputes_under_other_settings() -> None:
    state = state_of([PARIS], temperature=0.7, top_k=40, top_p=0.95)
    state.adjust("top_k", -1)  # opens the panel: 40 -> 20
    assert state.what_if is not None and state.what_if.top_k == 20
    for _ in range(5):
        state.adjust("top_k", -1)
    assert state.settings.top_k == 1
    rows = state.step_rows()
    assert [row.p_sampled for row in rows] == [1.0, 0.0, 0.0]
    assert [row.cut_by for row in rows] == [None, "top-k 1", "top-k 1"]
    state.adjust("top_k", 1)  # top-k 2: the two known candidates share the mass, by temperature
    two = state.step_rows()
    hot = 0.90 ** (1 / 0.7)
    cold = 0.05 ** (1 / 0.7)
    assert two[0].p_sampled == pytest.approx(hot / (hot + cold))
    state.adjust("temperature", 1)
    assert state.step_rows()[0].p_sampled != pytest.approx(two[0].p_sampled)
    state.reset_settings()
    assert state.settings == state.reply.params and state.what_if is not None
    state.close_sampling()
    assert state.what_if is None and state.settings is state.reply.params


def test_unknown_numbers_stay_unknown() -> None:
    """Three listed candidates cannot tell top-k 40 / top-p 0.95 what else it keeps: None, not a guess."""
    token = step("x", 7, 0.3, [alt("x", 7, 0.3), alt("y", 8, 0.2)], None)
    state = state_of([token], temperature=1.0, top_k=40, top_p=0.95)
    rows = state.step_rows()
    assert [row.p_sampled for row in rows] == [None, None]
    assert rows[0].kept is True or rows[0].kept is None


def test_the_chosen_token_is_listed_even_outside_the_top() -> None:
    token = step("z", 9, 0.001, [alt("x", 7, 0.6, 0.7), alt("y", 8, 0.3, 0.3)], 0.0)
    rows = state_of([token]).step_rows()
    assert [row.text for row in rows] == ["x", "y", "z"]
    assert rows[-1].chosen


def test_shading_falls_back_to_the_model_probability_only_when_no_sampled_one_is_known() -> None:
    remote = step("x", -1, 0.25, [], None)
    state = state_of([remote])
    assert not state.shades_sampled and state.shade_probability(remote) == pytest.approx(0.25)
    assert "model probability" in state.shade_name
    local = state_of([PARIS])
    assert local.shades_sampled and local.shade_probability(PARIS) == 0.95


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.floats(min_value=1e-4, max_value=1.0), min_size=1, max_size=8),
    st.integers(min_value=0, max_value=7),
    st.sampled_from([0.0, 0.5, 0.7, 1.0, 1.5]),
    st.sampled_from([0, 1, 2, 3, 5, 40]),
    st.sampled_from([0.1, 0.5, 0.9, 0.95, 1.0]),
)
def test_panel_rows_are_a_consistent_distribution(
    weights: list[float], chosen: int, temperature: float, top_k: int, top_p: float
) -> None:
    """Whatever the settings: the chosen token is listed once, cut rows are 0, known kept rows sum to ≤ 1."""
    total = sum(weights) * 1.25  # the listed tokens hold 80% of the model's mass
    top = [alt(f"t{i}", i, w / total) for i, w in enumerate(weights)]
    pick = top[min(chosen, len(top) - 1)]
    token = TokenLogprob(pick.token, pick.token_id, pick.logprob, top, None)
    state = state_of([token], temperature=0.7)
    state.open_sampling()
    state.what_if = GenerationParams(temperature=temperature, top_k=top_k, top_p=top_p)
    rows = state.step_rows()
    assert sum(row.chosen for row in rows) == 1
    assert [row.p_model for row in rows] == sorted((row.p_model for row in rows), reverse=True)
    for row in rows:
        if row.cut_by is not None:
            assert row.p_sampled == 0.0 and row.kept is False
    known = [row.p_sampled for row in rows if row.p_sampled is not None]
    assert sum(known) <= 1.0 + 1e-9
    if temperature == 0:
        assert rows[0].p_sampled == 1.0


def test_a_piece_without_width_of_its_own_is_drawn_on_a_dotted_circle() -> None:
    layout = layout_tokens(["🏻", "", "\u0301"], 1)  # a skin-tone modifier, an empty piece, a combining accent
    labels = [cell.label for line in layout.lines for cell in line]
    assert labels[0].startswith("◌") and labels[1] == "∅" and labels[2].startswith("◌")
    assert [layout.cell_at(layout.line_of[i], 0).index for i in range(3)] == [0, 1, 2]


def test_exact_pieces_draw_byte_tokens_and_control_tokens_as_the_cli_does() -> None:
    """A token's text cannot say what its bytes are ("\ufffd") or which control token it is (""): its piece can."""
    from assistant.inspect.pieces import TokenPiece

    tick = [step("\ufffd", 0xE2, 0.9, [], 0.9), step("\ufffd", 0x98, 0.9, [], 0.9), step("\ufffd", 0x91, 0.9, [], 0.9)]
    end = step("", 300, 0.8, [alt("", 300, 0.8, 0.9), alt(" ok", 301, 0.1, 0.1)], 0.9)
    state = state_of([*tick, step(" ok", 301, 0.9, [], 0.9), end])
    assert state.missing_piece_ids() == [0xE2, 0x98, 0x91, 301, 300]
    before = [cell.label for cell in state.layout(80).lines[0]]
    assert before == ["\ufffd", "\ufffd", "\ufffd", " ok", "∅"]
    state.set_pieces(
        [TokenPiece(t, bytes([t])) for t in (0xE2, 0x98, 0x91)]
        + [TokenPiece(301, b" ok"), TokenPiece(300, b"", "<|im_end|>")]
    )
    assert not state.missing_piece_ids()
    assert [cell.label for cell in state.layout(80).lines[0]] == ["<0xE2>", "<0x98>", "<0x91>", " ok", "⟦<|im_end|>⟧"]
    assert token_label(TokenPiece(10, b"\n")) == "↵"
    state.move_to(4)
    assert [state.candidate_label(row.token_id, row.text) for row in state.step_rows()] == ["⟦<|im_end|>⟧", "␣ok"]
    assert state.candidate_label(7, "x") == "x"  # not known: drawn from its text

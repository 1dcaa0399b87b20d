"""Round 12 of user testing the look-inside-the-model views (Textual-free parts): the token panel's rows, the
one format of a probability, and the attention map's labels fitted to a width."""

from __future__ import annotations

import math

import numpy as np
import pytest

from assistant.inspect.attention import HeatmapView, fit_labels, fit_view
from assistant.inspect.shade import probability_text
from assistant.inspect.token_view import recorded_cut, step_rows
from assistant.types import GenerationParams, TokenLogprob, TopAlternative

PROBS = [0.817, 0.041, 0.026, 0.012, 0.007, 0.005, 0.005, 0.004, 0.004, 0.003]
PROBS += [0.002, 0.002, 0.002, 0.0015, 0.0015, 0.001, 0.001, 0.001, 0.001, 0.001]
"""A top-20 as SmolLM2 gave it at a reply's first step: the 20 listed hold 94% of the probability."""


def recorded_step(kept: int) -> TokenLogprob:
    """The first step of a reply with its top 20 recorded, the engine having kept the first ``kept``."""
    top = [TopAlternative(f"t{i}", i, math.log(p), 0.2 if i < kept else 0.0) for i, p in enumerate(PROBS)]
    return TokenLogprob("t0", 0, math.log(PROBS[0]), top, 0.2)


def test_a_candidate_the_engine_cut_says_which_setting_cut_it() -> None:
    """Top-k 40 over 20 listed: where top-p 0.95 falls depends on tokens outside the list, so the listed numbers
    alone cannot place it between the 4th and 7th candidate. The engine saw them all and gave the 6th and 7th
    probability 0: the panel struck them out with no reason, where the next ones said "cut by top-p 0.95"."""
    params = GenerationParams(temperature=0.7, top_k=40, top_p=0.95)
    rows = step_rows(recorded_step(5), params, use_recorded=True)
    assert [row.kept for row in rows] == [True] * 5 + [False] * 15
    assert [row.cut_by for row in rows[5:]] == ["top-p 0.95"] * 15


def test_a_cut_the_recorded_numbers_cannot_name_says_so() -> None:
    """Under a repeat penalty the engine ranks the penalised logits: top-k or top-p may have cut a token."""
    from assistant.tui.widgets.token_panel import row_note

    params = GenerationParams(temperature=0.7, top_k=40, top_p=0.95, repeat_penalty=1.3)
    rows = step_rows(recorded_step(5), params, use_recorded=True, history=[3, 4])
    cut = [row for row in rows if row.kept is False]
    assert cut and all(row.cut_by is None for row in cut)
    assert all(row_note(row).plain == "cut by the settings" for row in cut)
    assert recorded_cut(25, GenerationParams(top_k=20, top_p=0.95)) == "top-k"
    assert recorded_cut(3, GenerationParams(temperature=0)) == "greedy"
    assert recorded_cut(3, GenerationParams(top_k=20, top_p=1.0)) is None


@pytest.mark.parametrize(("p", "shown"), [(0.0, "0.000"), (2.1e-5, "2.1e-05"), (0.00049, "4.9e-04"), (0.768, "0.768")])
def test_one_format_for_a_probability(p: float, shown: str) -> None:
    """`assistant next` and the token panel print a kept token's tiny chance alike, never as a cut one's 0.000."""
    from assistant.cli.inspect_tokens import probability_text as cli_text
    from assistant.tui.widgets.token_panel import number

    assert probability_text(p).strip() == shown == number(p) == cli_text(p).strip()


def view_of(size: int, label: str = "␣combination", first: int = 100) -> HeatmapView:
    return HeatmapView(np.tril(np.ones((size, size))) / size, [label] * size, first, first + size // 2)


def test_the_apps_labels_narrow_until_every_column_fits() -> None:
    from assistant.inspect.attention import heatmap_text

    view = fit_labels(view_of(64), 74)
    width = max(len(line) for line in heatmap_text(view, colour=False).plain.split("\n"))
    assert width <= 74 and all(label == "␣c…" for label in view.labels)
    assert len(view.labels) == 64  # the app scrolls: no token is dropped
    wide = fit_labels(view_of(8), 200)
    assert wide.labels == view_of(8).labels  # room enough: not cut
    cramped = fit_labels(view_of(64), 40)
    assert len(cramped.labels) == 64 and all(label == "␣c…" for label in cramped.labels)


def test_the_terminal_fit_is_unchanged() -> None:
    """fit_view shares the label arithmetic now: labels give way first, then the earliest tokens."""
    view = fit_view(view_of(64), 80)
    assert len(view.labels) == 80 - 3 - 3 - 1 - 1 - 12 and view.labels[0] == "␣combination"
    narrow = fit_view(view_of(64), 24)
    assert len(narrow.labels) == 8 and narrow.labels[0] == "␣combin…"
    roomy = fit_view(view_of(16), 120)
    assert roomy.labels == view_of(16).labels

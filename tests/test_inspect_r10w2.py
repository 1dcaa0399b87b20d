"""Round 10 of user testing the inspect views (area: inspect): narrow terminals for ``assistant compare``."""

from __future__ import annotations

import pytest

from assistant.cli.compare import display_width, render_side_by_side
from assistant.compare import EngineRun, measure_agreement


def _run(backend: str, text: str) -> EngineRun:
    return EngineRun(
        backend=backend, model="smollm2", text=text, token_ids=[1, 2, 3], tokens=["a", "b", "c"],
        prompt_token_ids=[5, 6], finish_reason="length", ttft_ms=541.0, tokens_per_second=20.5,
        load_seconds=1.2, top=[[1], [2], [3]], top_tokens=[["a"], ["b"], ["c"]], shown=["a", "b", "c"],
    )  # fmt: skip


@pytest.mark.parametrize("width", [14, 20, 30, 37, 40, 41, 60, 100])
def test_compare_table_fits_the_terminal(width: int) -> None:
    """At 40 columns the side-by-side table was 58 wide (each column at least 20 cells): the terminal
    wrapped every row and shredded it. Now no table line is wider than the terminal, and (round 17) nor
    is any line of the agreement summary under it, folded between its parts."""
    runs = [_run("llama-cpp", "The Roman numeral system is old"), _run("transformers", "The Roman numeral system is")]
    agreement = measure_agreement(runs[0], runs[1], 1)
    lines = render_side_by_side(runs, agreement, width=width).splitlines()
    assert all(display_width(line) < width for line in lines), "\n".join(lines)
    text = "\n".join(lines)
    for needed in ("llama-cpp", "transformers", "Roman", "20.5", "541 ms", "length", "1.2 s"):
        assert needed in text
    summary = lines[len(lines) - lines[::-1].index("") :]  # after the last blank line
    assert summary[0].startswith("agreement:") and "top-1 overlap" in " ".join(summary), summary


def test_an_error_from_one_side_of_compare_names_that_side(fake_backend: None) -> None:
    """`assistant compare -o transformers:n_ctx=8 "…"` said only "error: prompt is 27 tokens but the context
    window is 8 tokens", after the other side had run: whose window? The error names the side now, and stays
    the error it was (its class and numbers kept for the CLI's exit status and for callers)."""
    from assistant.compare import Side, compare
    from assistant.errors import ContextOverflowError
    from assistant.types import GenerationParams

    sides = [Side("fake", "m"), Side("fake", "small", {"n_ctx": 4})]
    with pytest.raises(ContextOverflowError) as caught:
        compare("one two three four five six seven", GenerationParams(temperature=0, max_tokens=4), sides)
    assert str(caught.value).startswith("the fake side (small): prompt is "), str(caught.value)
    assert caught.value.context_length == 4

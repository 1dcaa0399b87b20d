"""Round 17 hardening: untrusted text shown on a terminal, each case a defect that once got through."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant.terminal_text import (
    _TRANSLATION,
    IN_TEXT,
    MAX_MESSAGE_CELLS,
    StreamedLineEnds,
    cut_to_cells,
    json_escaped,
    message_line,
    visible_text,
    without_invisible_controls,
)

# ---- a megabyte of joiners and selectors costs no Python call per character --------------------------------


def _one_at_a_time(text: str) -> str:
    """What :func:`visible_text` shows, by its definition: :data:`IN_TEXT` tried at every character, left to
    right, a match kept as it is, every other character mapped on its own."""
    out: list[str] = []
    position = 0
    while position < len(text):
        match = IN_TEXT.match(text, position)
        if match is not None:
            out.append(match.group())
            position = match.end()
        else:
            out.append(text[position].translate(_TRANSLATION))
            position += 1
    return "".join(out)


DENSE = [
    "葛\U000e0100" * 200,  # Ideographic Variation Sequences, each one text
    "\ufe0f" * 400,  # a run of selectors: hidden bytes
    "👩\u200d💻❤\ufe0f\u200d🔥 " * 50,  # emoji sequences
    "\U000e0041" * 400,  # tag characters outside a flag
    "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f 1\ufe0f\u20e3 " * 40,
    "a\u200db\u200cc\ufe0f\U000e0100葛\U000e0100\U000e0101\x1b[31m\u202e" * 40,
]


@contextmanager
def _calls_counted() -> Iterator[list[int]]:
    """Counts the Python and C function calls made inside the block (``sys.setprofile``): no clock involved."""
    count = [0]

    def profile(frame: object, event: str, arg: object) -> None:
        if event in ("call", "c_call"):
            count[0] += 1

    sys.setprofile(profile)
    try:
        yield count
    finally:
        sys.setprofile(None)


@pytest.mark.parametrize("show", [visible_text, without_invisible_controls, json_escaped])
def test_dense_joiners_and_selectors_are_mapped_without_a_call_per_character(show: Callable[[str], str]) -> None:
    """A megabyte of ``葛\\U000e0100`` (or of U+FE0F) took 0.4 s: ``_translated`` called ``IN_TEXT.match`` from
    Python at every joiner and selector. Now the regex engine finds the runs that are no text in one split."""
    text = "葛\U000e0100" * 5000 + "\ufe0f" * 5000 + "👩\u200d💻" * 5000
    show(text)  # the tables are built on first use
    with _calls_counted() as calls:
        show(text)
    assert calls[0] < 100, calls[0]


@pytest.mark.parametrize("text", DENSE)
def test_the_regex_of_runs_shows_what_the_rule_tried_at_every_character_shows(text: str) -> None:
    assert visible_text(text) == _one_at_a_time(text)
    line_ends = StreamedLineEnds()
    streamed = "".join(visible_text(line_ends.feed(text[at : at + 3])) for at in range(0, len(text), 3))
    assert streamed + visible_text(line_ends.flush()) == visible_text(text)


_CHARS = st.sampled_from(
    ["👩", "a", "葛", "\u3400", "\u200d", "\u200c", "\ufe0f", "\ufe0e", "1", "#", "\u20e3", "🏴", "\U000e0067",
     "\U000e0062", "\U000e007f", "\U000e0041", "\U000e0100", "\U000e01ef", "\x1b", "\u202e", " ", "\n", "ᠠ", "\u180b"]
)


@given(st.lists(_CHARS, max_size=24).map("".join))
def test_any_text_shows_as_the_rule_tried_at_every_character_shows_it(text: str) -> None:
    assert visible_text(text) == _one_at_a_time(text)


# ---- a message cut before visible_text ends in "…", not in a joiner ---------------------------------------


def test_a_message_trimmed_after_a_joiner_does_not_join_the_ellipsis() -> None:
    """``message_line`` trims a long message before making it visible; when the trim fell after 👩's ZWJ (a
    message of zero-width marks is trimmed short of its cell limit), the ZWJ joined the "…" it added, which
    ``cut_to_cells`` already avoided."""
    message = "a" + "\u0301" * (MAX_MESSAGE_CELLS * 2 - 3) + "👩\u200d💻" + "tail"
    shown = message_line(message)
    assert shown.endswith("👩…") and "\u200d" not in shown and "💻" not in shown
    assert cut_to_cells("ab👩\u200d💻", 5) == "ab👩…"  # the same rule where the cut counts cells

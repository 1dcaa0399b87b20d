"""Round 16 hardening: untrusted text shown on a terminal, each case a defect that once got through."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant.terminal_text import (
    StreamedLineEnds,
    _lead_escaped,
    cell_width,
    cut_to_cells,
    json_text,
    padded,
    visible_text,
    without_invisible_controls,
)

from .conftest import run_cli

KANJI_VARIANT = "葛\U000e0100"  # 葛 with VS17: the Katsushika glyph of a Japanese place and family name


# ---- one definition of a stream's leading run ------------------------------------------------------------


def test_the_escapes_of_a_leading_run_come_with_their_length() -> None:
    """``StreamedLineEnds.feed`` escaped a piece's leading run itself, repeating ``_lead_escaped``, because it
    also needed the escapes' length; both now take it from the one definition."""
    assert _lead_escaped("\u200d\U000e0067x") == ("\\u200d\\U000e0067x", len("\\u200d\\U000e0067"))
    assert _lead_escaped("x\u200d") == ("x\u200d", 0)
    assert _lead_escaped("") == ("", 0)


# ---- an Ideographic Variation Sequence is text ------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        KANJI_VARIANT,
        "辻\U000e0101さん",  # one selector, then kana
        "\u3400\U000e01ef",  # extension A, the last selector
        "\U00020000\U000e0100 x",  # extension B: a base past the BMP
        "葛\U000e0100飾区",
    ],
)
def test_one_ideographic_selector_after_a_cjk_ideograph_is_drawn(text: str) -> None:
    """It was always an escape: ``葛\\U000e0100`` for a name the user wrote or a model quoted."""
    assert visible_text(text) == text
    assert without_invisible_controls(text) == text
    assert json.loads(json_text(text)) == text and json_text(text) == json.dumps(text, ensure_ascii=False)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("葛\U000e0100\U000e0101", "葛\\U000e0100\\U000e0101"),  # a run: bytes, not a glyph variant
        ("a\U000e0100", "a\\U000e0100"),  # after a letter that has no variants
        ("😀\U000e0100", "😀\\U000e0100"),  # "emoji smuggling"
        ("\U000e0100", "\\U000e0100"),  # alone
        ("\u2f00\U000e0100", "\u2f00\\U000e0100"),  # a Kangxi radical is no unified ideograph
        ("葛\U000e01f0", "葛\\U000e01f0"),  # past the selectors
        ("葛\U000e0100\u200d", "葛\\U000e0100\\u200d"),  # a run with a joiner
        ("葛\ufe00\U000e0100", "葛\\ufe00\\U000e0100"),  # a run with a standard selector
        ("❤\ufe0f\U000e0041", "❤\\ufe0f\\U000e0041"),  # a selector, then a tag: a run, shown whole
        ("👩\u200d\U000e0041", "👩\\u200d\\U000e0041"),  # a joiner, then a tag
    ],
)
def test_any_other_use_of_a_supplementary_selector_shows_whole(text: str, shown: str) -> None:
    assert visible_text(text) == shown
    assert not [char for char in without_invisible_controls(text) if 0xE0000 <= ord(char) <= 0xE0FFF]


_PIECES = st.sampled_from(["葛", "\u3400", "\U00020000", "a", "😀", "\U000e0100", "\U000e01ef", "\U000e0041",
                           "\ufe0f", "\u200d", "\r", "\n", " ", "ᠠ", "\u180b", "\u180f", "1", "\u20e3"])


@given(st.lists(st.lists(_PIECES, max_size=6).map("".join), max_size=8))
def test_a_stream_of_ideographs_and_selectors_shows_what_the_whole_text_shows(pieces: list[str]) -> None:
    line_ends = StreamedLineEnds()
    streamed = "".join(visible_text(line_ends.feed(piece)) for piece in pieces)
    assert streamed + visible_text(line_ends.flush()) == visible_text("".join(pieces).replace("\r\n", "\n"))


def test_a_prompt_reply_keeps_a_kanji_variant_and_shows_hidden_bytes(fake_backend_plugin_file: Path) -> None:
    reply = f"{KANJI_VARIANT}飾区 ok😀" + "".join(chr(0xE0100 + byte) for byte in b"hi")
    proc = run_cli("prompt", "-b", "fake", reply)
    assert proc.returncode == 0, proc.stderr
    assert f"{KANJI_VARIANT}飾区 ok😀\\U000e0168\\U000e0169\n" in proc.stdout


# ---- the Mongolian free variation selectors and U+FFF0..U+FFF8 hid text -------------------------------------


@pytest.mark.parametrize(
    ("text", "shown", "pasted"),
    [
        ("a\u180b\u180c\u180d\u180f b", "a\\u180b\\u180c\\u180d\\u180f b", "a b"),  # two bits each
        ("ᠠ\u180b\u180c", "ᠠ\\u180b\\u180c", "ᠠ"),  # a run after a Mongolian letter
        ("ok\u180b", "ok\\u180b", "ok"),  # one after an ASCII letter selects nothing
        ("x\ufff0\ufff8y", "x\\ufff0\\ufff8y", "xy"),  # unassigned, default-ignorable: drawn as nothing
    ],
)
def test_other_invisible_selectors_and_ignorables_show_as_escapes(text: str, shown: str, pasted: str) -> None:
    """They passed raw: a renderer draws each as nothing, so a reply could carry bits no one saw."""
    assert visible_text(text) == shown
    assert without_invisible_controls(text) == pasted
    assert json.loads(json_text(text)) == text and "\\u" in json_text(text)


@pytest.mark.parametrize("text", ["ᠠ\u180b", "ᠬᠠᠷ\u180eᠠ", "ᠪᠢᠴᠢᠭ\u180c"])
def test_one_free_variation_selector_after_a_mongolian_letter_is_drawn(text: str) -> None:
    assert visible_text(text) == text
    assert without_invisible_controls(text) == text


def test_a_prompt_reply_shows_the_free_variation_selectors_it_hides_bits_with(fake_backend_plugin_file: Path) -> None:
    proc = run_cli("prompt", "-b", "fake", "pay\u180b\u180cpal")
    assert proc.returncode == 0, proc.stderr
    assert "pay\\u180b\\u180cpal\n" in proc.stdout


# ---- cells: a joiner or a flag's tags take none ------------------------------------------------------------


def test_joiners_and_tags_take_no_cell_and_a_cut_leaves_no_joiner() -> None:
    """Counted as a cell each, ``history list`` padded a model column short and cut titles early."""
    england = "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"
    assert cell_width("👩\u200d💻") == 4 and cell_width(england) == 2 and cell_width("می\u200cخواهم") == 7
    assert cell_width("\u0600١٢") == 3  # an Arabic number sign draws a glyph
    assert padded("👩\u200d💻", 6) == "👩\u200d💻  "
    assert cut_to_cells("ab👩\u200d💻cd", 5) == "ab👩…"


# ---- what a plugin prints -----------------------------------------------------------------------------------


def test_a_plugin_line_ended_with_crlf_shows_no_carriage_return(capsys: pytest.CaptureFixture[str]) -> None:
    """A plugin writing ``"ready\\r\\n"`` at import showed ``ready␍``: a CRLF is a line end, a lone CR is not."""
    import sys

    from assistant.plugin_output import plugin_output

    with plugin_output(set(), "crlf"):
        sys.stdout.write("ready\r\nstep\r1\r\n")
    assert capsys.readouterr().err == "plugin 'crlf': ready\nplugin 'crlf': step␍1\n"

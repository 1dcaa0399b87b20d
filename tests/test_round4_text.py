"""Round 4 leftovers about text: each test fails without its fix.

1. bidi controls reordered what a terminal showed ("Trojan Source");
2. ``-v name=@file`` with bytes that are not UTF-8 silently became U+FFFD;
3. ``tokenize/next -s ''`` promised "none" while the chat template adds its own;
4. ``attention --out x.png/`` wrote a file named ``x.png``;
5. ``compare`` against a server without logprobs claimed "first differing token at index 0";
6. ``attention`` on a narrow terminal cropped the diagonal off every row.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from rich.cells import cell_len

from assistant.errors import AssistantError, ConfigError
from assistant.terminal_text import BIDI_CONTROLS, HIDDEN_FORMAT, json_text, visible_text

from .conftest import run_cli
from .openai_fake_server import DONE, FakeOpenAIServer, chat_chunk, sse, tiny_openai_server  # noqa: F401

# ---- 1. bidi controls ------------------------------------------------------------------------------------

EXPLICIT_BIDI_CLASSES = {"LRE", "RLE", "PDF", "LRO", "RLO", "LRI", "RLI", "FSI", "PDI"}
HEBREW_ARABIC = "שלום עולם مرحبا بالعالم ٣٤٥"


def test_every_explicit_bidi_control_and_the_marks_are_in_the_one_set() -> None:
    explicit = {
        code
        for code in range(sys.maxunicode + 1)
        if unicodedata.bidirectional(chr(code)) in EXPLICIT_BIDI_CLASSES
    }
    assert explicit | {0x061C, 0x200E, 0x200F} == set(BIDI_CONTROLS)


def test_bidi_controls_are_shown_as_escapes_and_rtl_letters_stay() -> None:
    spoof = "invoice_\u202egnp.exe\u202c and \u2067x\u2069 \u200f\u200e\u061c"
    shown = visible_text(spoof)
    assert shown == "invoice_\\u202egnp.exe\\u202c and \\u2067x\\u2069 \\u200f\\u200e\\u061c"
    assert visible_text(HEBREW_ARABIC) == HEBREW_ARABIC  # legitimate right-to-left text is text
    assert json.loads(json_text({"t": spoof})) == {"t": spoof}  # --json: escaped, decodes to the same
    assert not set(map(ord, json_text({"t": spoof}))) & BIDI_CONTROLS


# Any text, with the bidi controls (and right-to-left letters) drawn often: plain st.text() rarely hits them.
# (A list joined, not st.text(alphabet=one_of(...)): hypothesis merges that into one character range.)
TEXT_WITH_BIDI = st.lists(
    st.one_of(
        st.characters(), st.sampled_from(sorted(map(chr, BIDI_CONTROLS))), st.sampled_from(HEBREW_ARABIC)
    )
).map("".join)


@given(TEXT_WITH_BIDI)
def test_visible_text_never_leaves_a_bidi_control_and_keeps_everything_else(text: str) -> None:
    shown = visible_text(text)
    assert not set(map(ord, shown)) & BIDI_CONTROLS
    # Streaming safety: chunk by chunk as all at once.
    half = len(text) // 2
    assert visible_text(text[:half]) + visible_text(text[half:]) == shown
    # What is neither a control nor a surrogate passes unchanged: right-to-left letters included.
    kept = "".join(
        c
        for c in text
        if not (
            ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or ord(c) in BIDI_CONTROLS or ord(c) in HIDDEN_FORMAT
            or 0xD800 <= ord(c) < 0xE000
        )
    )
    assert visible_text(kept) == kept


@given(st.text(
    alphabet=st.characters(whitelist_categories=("Lo", "Mn", "Nd", "Zs")).filter(lambda c: ord(c) not in HIDDEN_FORMAT),
    max_size=30,
))  # Hangul fillers (Lo) and supplementary variation selectors (Mn) draw nothing: they are escaped
def test_right_to_left_letters_are_never_changed(text: str) -> None:
    assert visible_text(text) == text


def test_a_spoofing_input_is_shown_neutralised_by_the_cli() -> None:
    from assistant.cli import main

    result = CliRunner().invoke(
        main, ["templates", "render", "chat", "--input", "read \u202etxt.exe\u202c now"]
    )
    assert result.exit_code == 0, result.output
    assert not set(map(ord, result.stdout)) & BIDI_CONTROLS
    assert "read \\u202etxt.exe\\u202c now" in result.stdout


def test_token_labels_show_bidi_controls() -> None:
    from assistant.inspect.pieces import TokenPiece

    assert TokenPiece(1, "\u202e".encode()).shown() == "\\u202e"
    assert TokenPiece(2, " שלום".encode()).shown() == "␣שלום"


# ---- 2. -v name=@file that is not UTF-8 ------------------------------------------------------------------


def test_a_var_file_that_is_not_utf8_is_one_line_naming_the_file_and_the_byte(tmp_path: Path) -> None:
    from assistant.cli import main

    latin1 = tmp_path / "notes.txt"
    latin1.write_bytes(b"first line\ncaf\xe9 au lait\n")
    result = CliRunner().invoke(main, ["templates", "render", "chat", "-v", f"input=@{latin1}"])
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: -v input: file {latin1} is not UTF-8 text (byte 0xe9 at offset 14, line 2); "
        "save it as UTF-8\n"
    )
    assert "\ufffd" not in result.stdout


def test_the_utf8_check_says_which_byte_and_where() -> None:
    from assistant.text_checks import invalid_utf8

    assert invalid_utf8("naïve\n🙂".encode()) is None
    assert invalid_utf8(b"ok\n\nab\xff") == "byte 0xff at offset 6, line 3"
    assert invalid_utf8(b"\xf0\x9f") == "byte 0xf0 at offset 0, line 1"  # a character cut at the end


def test_named_files_are_strict_and_stdin_stays_lenient(tmp_path: Path) -> None:
    import io

    from assistant.input_files import read_input_file, read_limited

    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"caf\xe9")
    with pytest.raises(
        ConfigError, match=r"--file .*bad\.txt is not UTF-8 text \(byte 0xe9 at offset 3, line 1\)"
    ):
        read_input_file(bad, "--file")
    assert read_input_file(bad, "--file", strict=False) == "caf\ufffd"
    assert (
        read_limited(io.BytesIO(b"caf\xe9"), "stdin") == "caf\ufffd"
    )  # piped text for a model, as documented


# ---- 3. -s '' on the inspection commands -----------------------------------------------------------------


@pytest.mark.parametrize("command", ["tokenize", "next"])
def test_system_help_says_what_an_empty_system_message_does(command: str) -> None:
    from assistant.cli import main

    shown = " ".join(CliRunner().invoke(main, [command, "--help"]).output.split())
    assert "'' for none" not in shown
    assert "'' sends none, and the model's chat template may then add its own" in shown


def test_empty_system_is_no_system_message_as_prompt_sends_it() -> None:
    from assistant.cli.common import one_turn
    from assistant.session import ChatSession

    assert [m.role for m in one_turn("Hi", "")] == ["user"]
    assert [m.role for m in one_turn("Hi", "Be brief.")] == ["system", "user"]
    session = ChatSession(object(), system="", mode="chat")  # type: ignore[arg-type]  # what `prompt -s ''` builds
    assert session.prompt_messages("Hi") == one_turn("Hi", "")


# ---- 4. attention --out DIR/ -----------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["/", "/."])
def test_a_picture_name_ending_in_a_slash_is_a_folder(tmp_path: Path, suffix: str) -> None:
    from assistant.inspect.pictures import check_picture_path

    with pytest.raises(AssistantError, match="names a folder, not a file"):
        check_picture_path(f"{tmp_path}/x.png{suffix}")
    assert check_picture_path(f"{tmp_path}/x.png") == "png"
    assert check_picture_path(tmp_path / "x.svg") == "svg"  # a Path still works


def test_attention_out_with_a_trailing_slash_fails_before_the_model_and_writes_nothing(
    tmp_path: Path,
) -> None:
    shown = run_cli("attention", "-m", "missing-model", "--out", f"{tmp_path}/x.png/", "Hi")
    assert shown.returncode == 1
    assert shown.stderr == (
        f"error: cannot write {tmp_path}/x.png/: that names a folder, not a file "
        "(give a file name ending in .png, .svg, .html)\n"
    )
    assert list(tmp_path.iterdir()) == []


# ---- 5. compare against a server that sends no logprobs -------------------------------------------------


@pytest.mark.usefixtures("fake_backend")
def test_compare_with_a_server_without_logprobs_says_unknown(server: FakeOpenAIServer) -> None:
    from assistant.cli import main

    reply = "Echo: hi"
    server.route(
        "POST", "/v1/chat/completions", sse([*(chat_chunk(c) for c in reply), chat_chunk(None, "stop"), DONE])
    )
    base = [
        "compare",
        "-b",
        "fake",
        "-b",
        "openai",
        "-o",
        f"openai:base_url={server.base_url}",
        "-m",
        "fake:tiny",
    ]
    shown = CliRunner().invoke(main, [*base, "hi"])
    assert shown.exit_code == 0, shown.output
    # the summary is folded to the terminal's width (round 17): read it from its first line to the end
    lines = shown.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("agreement:"))
    agreement = " ".join(lines[start:])
    assert "first differing token" not in agreement and "generated tokens identical" not in agreement
    assert (
        "generated tokens unknown (openai sent no logprobs)" in agreement and "texts identical" in agreement
    )
    tokens_out = next(line for line in shown.stdout.splitlines() if line.startswith("tokens out"))
    assert tokens_out.split("│")[1].strip() == "unknown"  # not 0
    report: dict[str, Any] = json.loads(CliRunner().invoke(main, [*base, "--json", "hi"]).stdout)
    assert report["agreement"]["tokens_known"] is False and report["agreement"]["first_difference"] is None
    assert report["agreement"]["same_text"] is True and report["runs"][1]["tokens_known"] is False


def test_agreement_keeps_measuring_tokens_where_both_sides_know_them() -> None:
    from assistant.compare import EngineRun, measure_agreement

    def run(tokens: list[str], text: str) -> EngineRun:
        return EngineRun(
            backend="x", model="m", text=text, token_ids=[], tokens=tokens, prompt_token_ids=None,
            finish_reason="stop", ttft_ms=None, tokens_per_second=None, load_seconds=0.0,
            top=[[-1] for _ in tokens], top_tokens=[[t] for t in tokens],
        )  # fmt: skip

    both = measure_agreement(run(["A", "B"], "AB"), run(["A", "C"], "AC"), top_k=1)
    assert both.tokens_known and both.first_difference == 1 and not both.same_text
    silent = measure_agreement(run(["A", "B"], "AB"), run([], "AB"), top_k=1)
    assert not silent.tokens_known and silent.first_difference is None and silent.same_text
    empty = measure_agreement(run([], ""), run([], ""), top_k=1)  # nothing generated: known, zero tokens
    assert empty.tokens_known


# ---- 6. the terminal heatmap on a narrow terminal --------------------------------------------------------


def _view(size: int, labels: list[str] | None = None) -> Any:
    from assistant.inspect.attention import HeatmapView

    matrix = np.tril(np.ones((size, size), dtype=np.float32))
    matrix /= matrix.sum(axis=1, keepdims=True)
    return HeatmapView(
        matrix, labels or [f"␣token{i}"[:10] for i in range(size)], first_index=0, reply_start=size - 8
    )


@pytest.mark.parametrize("width", [18, 20, 24, 40, 80, 200])
def test_a_fitted_heatmap_is_never_wider_than_the_terminal_and_keeps_the_diagonal(width: int) -> None:
    from assistant.inspect.attention import MIN_CELLS, fit_view, heatmap_text

    full = _view(31)
    view = fit_view(full, width)
    lines = heatmap_text(view, colour=False).plain.split("\n")
    assert all(cell_len(line) < width for line in lines), lines
    assert len(view.labels) >= MIN_CELLS
    for row, line in enumerate(lines[1:]):
        cells = line[-len(view.labels) :]
        assert (
            cells[: row + 1].strip() == cells[: row + 1] and cells[row + 1 :].strip() == ""
        )  # the diagonal is drawn
    assert view.first_index + len(view.labels) == 31  # the last tokens are kept
    if width >= 24:  # labels narrowed only where needed (8-cell labels and 9 tokens fit in 24)
        assert list(view.labels) == list(full.labels[view.first_index :])
    else:
        assert max(map(cell_len, view.labels)) < 8


def test_wide_characters_narrow_the_labels_by_cells() -> None:
    from assistant.inspect.attention import fit_view, heatmap_text

    view = fit_view(_view(12, ["中文中文中文中文中文"[:5] * 2] * 12), 20)
    assert all(cell_len(line) < 20 for line in heatmap_text(view, colour=False).plain.split("\n"))


def test_too_narrow_a_terminal_is_one_line_naming_the_width_needed() -> None:
    from assistant.inspect.attention import fit_view, heatmap_min_width

    with pytest.raises(AssistantError, match=r"^the terminal is 17 columns wide, too narrow .*it needs 18\)"):
        fit_view(_view(31), 17)
    assert heatmap_min_width(2) == 18


@pytest.mark.usefixtures("fake_backend_plugin_file")
def test_attention_on_a_20_column_terminal_fits_and_a_12_column_one_is_refused_before_the_work() -> None:
    fake = ("-b", "fake-attention", "-m", "fake-model")
    proc = run_cli("attention", *fake, "hi", env={"COLUMNS": "20"})
    assert proc.returncode == 0, proc.stderr
    # a row: its number, then "▸" (a reply's token) or a space; the folded summary may open with a number too
    rows = [line for line in proc.stdout.splitlines() if re.match(r"\d+ [ ▸] ", line)]
    assert len(rows) >= 8 and all(cell_len(line) <= 20 for line in proc.stdout.splitlines()), proc.stdout
    assert all(row.rstrip().endswith(("·", "░", "▒", "▓", "█")) for row in rows)  # the diagonal, not cropped
    refused = run_cli(
        "attention", "-m", "missing-model", "hi", env={"COLUMNS": "12"}
    )  # no model is looked for
    assert refused.returncode == 1
    assert refused.stderr == (
        "error: the terminal is 12 columns wide, too narrow for the attention map (it needs 17): "
        "widen it, or use --out FILE.png or --json\n"
    )

"""Round 10: invisible letters, a regex that never ends, and an unknown generation setting.

1. ``visible_text`` printed the Hangul fillers (U+115F, U+1160, U+3164, U+FFA0) and the
   supplementary variation selectors (U+E0100…U+E01EF) as they are: all draw nothing, so
   ``admin\\u3164`` passed for ``admin`` and 240 selectors hid a payload behind one letter.
   They are in the one set (``HIDDEN_FORMAT``) now: escapes when shown, dropped from a paste.
2. ``assistant templates test`` with a ``regex: '(a+)+$'`` expectation hung for good on an
   answer of ``aaaa…b`` (Python's ``re`` has no timeout). The match runs in a child process
   with a time limit; the case fails with a line naming it and the pattern.
3. ``GenerationParams().replace(bogus=1)`` was a bare ``TypeError``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant.errors import ConfigError, TemplateError
from assistant.templates import testing
from assistant.templates.spec import Expectation
from assistant.terminal_text import (
    HIDDEN_FORMAT,
    StreamedLineEnds,
    json_text,
    visible_text,
    without_invisible_controls,
)
from assistant.types import GenerationParams

from .conftest import run_cli

# ---- 1. Hangul fillers and supplementary variation selectors -------------------------------------------

HANGUL_FILLERS = "\u115f\u1160\u3164\uffa0"
HIDDEN_BYTES = "".join(chr(0xE0100 + byte) for byte in b"rm -rf")  # VS17… : a byte each, drawn as nothing


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("admin\u3164", "admin\\u3164"),
        ("a\u115fb\u1160c\uffa0d", "a\\u115fb\\u1160c\\uffa0d"),
        ("😀" + HIDDEN_BYTES[:2], "😀\\U000e0172\\U000e016d"),
        ("x\U000e01ef\U000e0100", "x\\U000e01ef\\U000e0100"),
    ],
)
def test_hangul_fillers_and_supplementary_selectors_show_as_escapes(text: str, shown: str) -> None:
    assert visible_text(text) == shown


def test_every_one_is_in_the_one_set_and_the_standard_selectors_stay() -> None:
    assert set(map(ord, HANGUL_FILLERS)) <= HIDDEN_FORMAT
    assert set(range(0xE0100, 0xE01F0)) <= HIDDEN_FORMAT
    assert not set(range(0xFE00, 0xFE10)) & HIDDEN_FORMAT  # VS16 is in every emoji presentation sequence
    assert visible_text("❤\ufe0f 한국어 ㄱㄴ") == "❤\ufe0f 한국어 ㄱㄴ"  # Hangul letters and jamo are text


def test_a_paste_drops_them_and_json_spells_them_as_escapes() -> None:
    from assistant.tui.text import as_typed

    pasted = "admin\u3164 ok" + HIDDEN_BYTES
    assert without_invisible_controls(pasted) == "admin ok"
    assert as_typed(pasted) == "admin ok"
    out = json_text({"t": pasted})
    assert json.loads(out) == {"t": pasted}
    assert "\\u3164" in out and "\\udb40\\udd72" in out  # U+E0172 as the surrogate pair JSON writes
    assert not set(map(ord, out)) & HIDDEN_FORMAT


@given(st.text(alphabet=st.sampled_from([*HANGUL_FILLERS, *HIDDEN_BYTES, "a", "한", "\ufe0f"])))
def test_none_survives_and_pieces_show_as_the_whole(text: str) -> None:
    shown = visible_text(text)
    assert not set(map(ord, shown)) & HIDDEN_FORMAT
    half = len(text) // 2
    # Streamed the way the app and the CLI stream (cut where the rule sees both sides of a selector)
    line_ends = StreamedLineEnds()
    pieces = [line_ends.feed(text[:half]), line_ends.feed(text[half:]), line_ends.flush()]
    assert "".join(visible_text(piece) for piece in pieces) == shown


def test_a_cli_listing_shows_a_filler_in_a_description(user_templates: Path) -> None:
    (user_templates / "spoof.jinja").write_text(
        "---\ndescription: \"safe\u3164\u3164\u3164\U000e0100\"\n---\n{{ input }}\n", encoding="utf-8"
    )
    result = run_cli("templates", "list")
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("spoof "))
    assert line.endswith("safe\\u3164\\u3164\\u3164\\U000e0100")


def test_the_listing_pads_a_name_as_it_is_shown(user_templates: Path) -> None:
    (user_templates / "h\u3164.jinja").write_text("hi\n", encoding="utf-8")  # shown as six more characters
    (user_templates / "e\x1bx.jinja").write_text("hi\n", encoding="utf-8")
    result = run_cli("templates", "list")
    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()
    assert any(row.startswith("h\\u3164 ") for row in rows)
    assert any(row.startswith("e\u241bx ") for row in rows)
    assert len({row.index("[") for row in rows}) == 1  # the source column lines up on every row


def test_a_plugin_file_named_with_a_filler_is_refused(assistant_home: Path) -> None:
    from assistant.plugins import plugin_failures

    directory = assistant_home / "config" / "plugins"
    directory.mkdir(parents=True)
    (directory / "tool\u3164.py").write_text("", encoding="utf-8")
    assert ("tool\u3164", "the name holds control characters; rename it") in [
        (f.name, f.error) for f in plugin_failures()
    ]


# ---- 2. a regex expectation that backtracks without end ------------------------------------------------

CATASTROPHIC = "(a+)+$"
NEVER_ENDS = "a" * 64 + "b"  # 2**64 ways to split the a's, tried at every start


def test_a_catastrophic_regex_is_stopped_at_the_limit() -> None:
    started = time.monotonic()
    expected = r"^the regex /\(a\+\)\+\$/ ran past 0.5 s on the answer$"
    with pytest.raises(testing.RegexTimeLimit, match=expected):
        testing.regex_search(CATASTROPHIC, NEVER_ENDS, limit=0.5)
    assert time.monotonic() - started < 60  # it returned at all: without the limit it never does


def test_the_reason_names_the_pattern_and_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(testing, "REGEX_TIME_LIMIT", 0.5)
    reason = testing.check_expectation(Expectation(regex=CATASTROPHIC), NEVER_ENDS)
    assert reason == (
        "the regex /(a+)+$/ ran past 0.5 s on the answer: it backtracks without end "
        "(nested repeats such as (a+)+); simplify it"
    )


@pytest.mark.parametrize(
    ("regex", "answer", "case_sensitive", "passes"),
    [
        (r"\b5\b", "It is 5.", False, True),
        ("PARIS", "paris", False, True),
        ("PARIS", "paris", True, False),
        ("^x$", "y", False, False),
        ("é+", "café\udce9", False, True),  # a lone surrogate travels to the child and back
    ],
)
def test_an_ordinary_regex_gives_the_answer_re_gives(
    regex: str, answer: str, case_sensitive: bool, passes: bool
) -> None:
    reason = testing.check_expectation(Expectation(regex=regex, case_sensitive=case_sensitive), answer)
    assert (reason is None) is passes
    if not passes:
        assert reason is not None and reason.startswith(f"expected a match for /{regex}/")


def test_a_child_that_fails_is_a_template_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(testing, "_REGEX_CHILD", "raise SystemExit('boom')")
    with pytest.raises(TemplateError, match=r"^the regex /x/ could not be run on the answer: boom$"):
        testing.regex_search("x", "x")


def test_a_child_that_cannot_start_is_a_template_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(testing.sys, "executable", str(tmp_path / "no-python"))
    with pytest.raises(TemplateError, match=r"^the regex /x/ could not be run on the answer: No such file"):
        testing.regex_search("x", "x")


def test_templates_test_reports_the_case_and_the_pattern_and_runs_the_rest(
    fake_backend_plugin_file: Path, user_templates: Path
) -> None:
    (user_templates / "redos.jinja").write_text(
        "---\nvariables: [input]\ntests:\n"
        f"  - {{name: backtracks, input: {NEVER_ENDS}, expect: {{regex: '{CATASTROPHIC}'}}}}\n"
        "  - {name: fine, input: hello, expect: {regex: 'hel+o'}}\n"
        "---\n{{ input }}\n",
        encoding="utf-8",
    )
    result = run_cli("templates", "test", "redos", "-b", "fake", timeout=120)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "FAIL  backtracks: the regex /(a+)+$/ ran past 5 s on the answer: it backtracks without end "
        "(nested repeats such as (a+)+); simplify it"
    )
    assert lines[1] == "PASS  fine"
    assert lines[2].startswith("pass rate: 1/2 (50%)")


# ---- 3. GenerationParams.replace with a name that is no setting -----------------------------------------


def test_replace_with_an_unknown_name_is_a_config_error_naming_it() -> None:
    with pytest.raises(ConfigError, match=r"^unknown generation parameter 'bogus' \(known: max_tokens, "):
        GenerationParams().replace(bogus=1)
    with pytest.raises(ConfigError, match=r"^unknown generation parameters 'bogus', 'top' \(known: "):
        GenerationParams().replace(temperature=0.2, bogus=1, top=2)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"temperature": "hot"}, "temperature must be a number, not 'hot'"),
        ({"max_tokens": 2.5}, "max_tokens needs a whole number, not 2.5"),
        ({"stop": 5}, "stop must be a text or a list of texts, not 5"),
        ({"top_p": 0}, "top_p must be in (0, 1]"),
    ],
)
def test_replace_checks_values_as_construction_does(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError) as replaced:
        GenerationParams().replace(**changes)
    with pytest.raises(ConfigError) as built:
        GenerationParams(**changes)
    assert str(replaced.value) == str(built.value) == message


def test_replace_keeps_the_original_and_normalises_like_construction() -> None:
    base = GenerationParams()
    changed = base.replace(max_tokens=8.0, stop=("x",), temperature=1e-9)
    assert (changed.max_tokens, changed.stop, changed.temperature) == (8, ["x"], 0.0)
    assert base == GenerationParams()

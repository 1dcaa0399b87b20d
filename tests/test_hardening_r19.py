"""Round 19 hardening: untrusted text shown on a terminal, each case a defect that once got through."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from assistant.cli import main
from assistant.terminal_text import StreamedLineEnds, message_line, one_line, visible_line, visible_text

# ---- CR, CRLF and the other line ends in one-line contexts ----------------------------------------------------


def test_a_lone_cr_in_an_error_line_shows_as_the_cr_it_is() -> None:
    """``one_line`` made a lone CR a space, where a reply or a snippet shows it as ``␍``: the redraw of
    ``ok\\rFAILED`` read as two words in an error line and as a redraw everywhere else."""
    assert one_line("ok\rFAILED") == "ok\rFAILED"
    assert message_line("ok\rFAILED") == "ok␍FAILED"
    assert message_line("50%\r100%\r") == "50%␍100%␍"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("one\r\ntwo", "one two"),
        ("one \r\n\r\n two", "one two"),
        ("one\ntwo", "one two"),
        ("one\rtwo", "one␍two"),
        ("one\r\r\ntwo", "one two"),
        ("one\n\rtwo", "one ␍two"),
        ("one\x0btwo\x0cthree\x85four", "one␋two␌three\\x85four"),
    ],
)
def test_one_rule_for_line_ends_in_error_lines_and_listings(text: str, shown: str) -> None:
    """A listing's column (``history search``'s snippet) was made visible before it was flattened, an error line
    flattened first: a CRLF was ``␍ `` the first way and a space the second, U+2028 an escape and a space."""
    assert visible_line(text) == shown
    assert one_line(visible_text(text)) == shown
    assert message_line(text) == shown


def test_the_unicode_line_separators_are_one_space_in_one_shown_line() -> None:
    """Made visible first (as ``history search`` does), U+2028 was an escape in a snippet and a space in an
    error line: :func:`visible_line` flattens first."""
    assert visible_line("one\u2028two\u2029three") == message_line("one\u2028two\u2029three") == "one two three"


def test_a_listing_line_is_cut_on_what_is_shown() -> None:
    """The cut counts the escapes: ``\\u202e`` is six cells of the column."""
    assert visible_line("ab\u202ecd\r\nef", 9) == "ab\\u202e…"
    assert visible_line("ab\r\ncd", 9) == "ab cd"


def test_the_cli_error_line_shows_a_lone_cr(capsys: pytest.CaptureFixture[str]) -> None:
    from assistant.cli import fail

    with pytest.raises(SystemExit):
        fail("step 1 ok\rstep 1 FAILED\r\nsee the log")
    assert capsys.readouterr().err == "error: step 1 ok␍step 1 FAILED see the log\n"


def test_a_crlf_is_shown_as_a_line_end() -> None:
    """A stored message from a Windows file, shown whole (the chat app's history, a notification), had ``␍``
    at the end of every line: ``visible_text`` showed the CR of a CRLF, which overwrites nothing."""
    assert visible_text("one\r\ntwo\r\r\n") == "one\ntwo\n"
    assert visible_text("one\rtwo\r") == "one␍two␍"
    assert message_line("one\r\ntwo", flatten=False) == "one\ntwo"


@pytest.mark.parametrize("pieces", [["one\r\r", "\ntwo"], ["one\r", "\r", "\ntwo"], ["one\r\r\n", "two"]])
def test_a_streamed_reply_shows_the_line_ends_the_whole_shows(pieces: list[str]) -> None:
    """CR CR LF (a Windows file converted twice) is one line end, however the stream cuts it."""
    ends = StreamedLineEnds()
    streamed = "".join(visible_text(ends.feed(piece)) for piece in pieces) + visible_text(ends.flush())
    assert streamed == visible_text("".join(pieces)) == "one\ntwo"


def test_history_search_shows_a_crlf_as_one_space(fake_backend: None) -> None:
    """``history search`` showed ``keeper␍ wrote`` for a message piped from a Windows file."""
    runner = CliRunner()
    assert runner.invoke(main, ["prompt", "-b", "fake", "-m", "m", "lighthouse keeper\r\nwrote\rback"]).exit_code == 0
    found = runner.invoke(main, ["history", "search", "lighthouse"])
    assert found.exit_code == 0, found.output
    assert "keeper wrote␍back" in found.stdout
    assert "␍ " not in found.stdout and "\r" not in found.stdout


_PIECES = st.lists(st.sampled_from(["\r", "\n", "a", "👩", "\u200d", " "]), max_size=6).map("".join)


@given(st.lists(_PIECES, max_size=8))
def test_any_stream_of_line_ends_shows_what_the_whole_shows(pieces: list[str]) -> None:
    """However a reply's CRs and LFs are cut into pieces, it shows as the whole reply does: a CR run before a LF
    is that line end (``visible_text`` of the whole showed ``␍`` where the stream showed the line end)."""
    ends = StreamedLineEnds()
    streamed = "".join(visible_text(ends.feed(piece)) for piece in pieces) + visible_text(ends.flush())
    assert streamed == visible_text("".join(pieces))
    assert "\r" not in streamed


def test_a_plugin_line_ended_with_cr_cr_lf_shows_no_carriage_return(capsys: pytest.CaptureFixture[str]) -> None:
    """A plugin's ``"ready\\r\\r\\n"`` (a CRLF written through a stream that adds a CR) showed ``ready␍``, where a
    reply or an error line shows that line end as one."""
    import sys

    from assistant.plugin_output import plugin_output

    with plugin_output(set(), "crcrlf"):
        sys.stdout.write("ready\r\r\nstep\r1\n")
    assert capsys.readouterr().err == "plugin 'crcrlf': ready\nplugin 'crcrlf': step␍1\n"

"""Round 19, the lead's own fixes found while joining the helpers' work."""

from __future__ import annotations

from types import SimpleNamespace

import pytest


def test_probs_with_a_schema_prints_its_legend(fakes: list, monkeypatch: pytest.MonkeyPatch) -> None:
    """``prompt --probs --schema S`` on a colour terminal shaded the JSON but returned before the legend."""
    import click.testing
    from click.testing import CliRunner

    from assistant.cli import main

    monkeypatch.setattr(click.testing._NamedTextIOWrapper, "isatty", lambda self: True, raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    args = ["prompt", "-b", "fake", "-m", "x", "--probs", "--schema", "name", "invent a dog"]
    result = CliRunner().invoke(main, args, color=True)
    assert "\x1b[30;" in result.stdout, result.output
    assert "shade = sampled probability:" in result.stderr


def test_a_listing_column_flattens_before_it_shows() -> None:
    """``history list``/``search`` columns: U+2028 is a line end, one space on one line as in error lines,
    not ``\\u2028`` (the column was made visible before it was flattened)."""
    from assistant.cli.history import _column

    assert _column("one\u2028two\r\nthree") == "one two three"
    assert _column("a\rb") == "a␍b"  # a lone CR stays visible: it never redraws the line


def test_the_markdown_export_ends_a_line_at_crs_before_a_lf() -> None:
    from assistant.history.export import quoted

    assert quoted("one\r\r\ntwo") == ["> one", "> two", ""]


def test_a_stopped_batch_says_so_on_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """The server's text in "the batch stopped: …" was printed as it came, line breaks and all."""
    from assistant.cli.batch_options import finish_batch

    summary = SimpleNamespace(stopped="bad gateway\n<html>\r\nerror</html>", failed=0, line=lambda out: "0 rows")
    with pytest.raises(SystemExit):
        finish_batch(summary, None)  # type: ignore[arg-type]
    err = capsys.readouterr().err
    assert err.splitlines()[0].startswith("error: the batch stopped: bad gateway <html> error</html>;")
    assert len(err.splitlines()) == 2


def test_a_first_key_claiming_more_than_the_file_is_named_as_the_key(tmp_path) -> None:
    """A GGUF whose first key claims 2^60 bytes was reported as a bad key/value *count*."""
    import struct

    from assistant.errors import ModelLoadError
    from assistant.models.gguf import read_metadata

    path = tmp_path / "x.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQQ", 3, 0, 1, 1 << 60))
    with pytest.raises(ModelLoadError, match=r"a key of 1,152,921,504,606,846,976 bytes"):
        read_metadata(path)
    path.write_bytes(b"GGUF" + struct.pack("<IQQQ", 3, 0, 1, 100) + b"k" * 40)
    with pytest.raises(ModelLoadError, match=r"a key of 100 bytes runs past the end"):
        read_metadata(path)
    path.write_bytes(b"GGUF" + struct.pack("<IQQQ", 3, 0, 5, 2) + b"ab")
    with pytest.raises(ModelLoadError, match=r"key/value count \(5\)"):
        read_metadata(path)


def test_transformers_verbose_log_records_are_shown_one_safe_line_each() -> None:
    """``-o verbose=true`` on transformers left its logging handler printing raw text (config.json's, a file
    name's): a name with ``\\n`` and an escape sequence printed a made-up second line and coloured the terminal."""
    import io
    import logging

    pytest.importorskip("transformers")
    from transformers.utils import logging as hf_logging

    from assistant.backends.torch.convert import quiet_transformers

    logger = hf_logging.get_logger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    try:
        with quiet_transformers(verbose=True):
            hf_logging.get_logger("transformers.x").warning("loading a\x1b[31mred\nforged: line")
        hf_logging.get_logger("transformers.x").warning("after")
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "loading a␛[31mred forged: line"
    assert lines[1] == "after"  # the handler's own formatter is back


@pytest.mark.parametrize("seed", [9223372036854775807, 10**15])
def test_a_seed_out_of_range_is_shown_exactly(seed: int) -> None:
    """``-o seed=9223372036854775807`` (or one typed in the chat app's settings) was shown as ``9.22e+18``."""
    from assistant.errors import ConfigError
    from assistant.types import GenerationParams

    with pytest.raises(ConfigError, match=f"not {seed}$"):
        GenerationParams(seed=seed)


def test_the_python_apis_progress_is_one_visible_line(capsys: pytest.CaptureFixture[str]) -> None:
    """Progress names files others chose: a name holding a line break printed a made-up second line."""
    from assistant.session import stderr_progress

    stderr_progress("converting e\x1b[31mv\nil.gguf for transformers")
    assert capsys.readouterr().err == "converting e␛[31mv il.gguf for transformers\n"


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ({"params": [1]}, "params must be a GenerationParams or a mapping, not list"),
        ({"backend": 5}, "backend must be a loaded backend or a backend's name, not 5"),
        ({"system": 5}, "system must be text or None, not 5"),
        ({"on_text": 5}, "on_text must be a function taking text, not 5"),
    ],
)
def test_run_template_refuses_a_wrong_argument_in_one_line(argument: dict, message: str) -> None:
    from assistant.backends.fake import FakeBackend
    from assistant.errors import ConfigError
    from assistant.templates.run import run_template

    backend = FakeBackend()
    backend.load("m")
    arguments = {"backend": backend, **argument}
    with pytest.raises(ConfigError, match=f"^run_template's {message}$"):
        run_template("chat", input="hi", **arguments)


def test_the_sidebar_snippet_flattens_what_one_line_flattens_and_shows_a_lone_cr() -> None:
    """``str.isspace`` made a lone CR, VT or FF a space in the sidebar, where every other view shows them."""
    from assistant.history.search import MarkedSnippet
    from assistant.tui.search_marks import single_spaced

    text = "ok\rFAILED \r\r\nnext\x0bword"
    spaced = single_spaced(MarkedSnippet(text, ((text.index("next"), text.index("next") + 4),)))
    assert spaced.text == "ok\rFAILED next\x0bword"
    assert spaced.text[slice(*spaced.found[0])] == "next"


def test_a_paste_of_a_file_with_doubled_line_ends_has_no_blank_lines() -> None:
    from assistant.tui.text import as_typed

    assert as_typed("one\r\r\ntwo\rthree") == "one\ntwo\nthree"


def test_the_sidebar_makes_one_snippet_per_conversation(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sidebar shows each conversation's best hit; the store made a snippet (an index query each) for
    every hit, and the sidebar dropped all but each conversation's first."""
    from assistant.history import HistoryStore, search
    from assistant.tui.conversations import ConversationLibrary

    from .test_tui_history import seed_history

    made: list[int] = []
    original = search.marked_snippet
    monkeypatch.setattr(search, "marked_snippet", lambda db, message_id, *rest: made.append(message_id) or original(db, message_id, *rest))
    seed_history(*[[(f"kiwi number {n}", "noted") for n in range(3)]] * 2)
    library = ConversationLibrary(HistoryStore.open())
    try:
        rows = library.search("kiwi")
    finally:
        library.close()
    assert len({row.id for row in rows}) == len(rows) == 2
    assert len(made) == 2

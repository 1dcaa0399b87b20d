"""Round 16, the lead's own fixes: what the helpers' reports asked for outside their files."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from assistant.cli import main
from assistant.terminal_text import cell_width

from .gguf_files import STRING, gguf_string, write_gguf_header


def test_models_list_keeps_its_columns_under_a_wide_architecture(models_dir: Path) -> None:
    """The columns were padded by characters (``[:9]`` then ``:<9``): a CJK architecture took twice its
    count in cells and pushed PARAMS, QUANT and the rest right; the cut could also split an emoji's joiner."""
    write_gguf_header(
        models_dir / "wide.gguf",
        [
            ("general.architecture", STRING, gguf_string("模型架构模型架构")),
            ("general.file_type", STRING, gguf_string("量化")),
        ],
    )
    write_gguf_header(models_dir / "plain.gguf", [("general.architecture", STRING, gguf_string("llama"))])
    result = CliRunner().invoke(main, ["models", "list"])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.output.splitlines()[1:3] + result.output.splitlines()[3:]}
    wide, plain = rows["wide.gguf"], rows["plain.gguf"]
    # SOURCE starts at the same cell in both rows: nothing after ARCH was pushed right
    assert cell_width(wide[: wide.index("local file")]) == cell_width(plain[: plain.index("local file")])
    assert "模型架构…" in wide  # eight wide characters do not fit nine cells: cut, and said so


def test_probs_shades_the_last_character_the_stream_held_back(fakes: list, monkeypatch) -> None:
    """A reply's last non-ASCII character is held (a joiner may follow) and came out at the end unshaded."""
    import click.testing

    monkeypatch.setattr(click.testing._NamedTextIOWrapper, "isatty", lambda self: True, raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    result = CliRunner().invoke(main, ["prompt", "-b", "fake", "-m", "x", "--no-log", "--probs", "tea 語"], color=True)
    assert result.exit_code == 0, result.output
    body = result.stdout.rstrip("\n")
    assert "語" in body
    # every character of the reply sits inside a shaded run: the last one is followed by the reset
    assert body.endswith("語\x1b[0m"), repr(body[-20:])


def test_a_row_that_is_not_json_says_where(tmp_path: Path) -> None:
    """The parser's message alone read "Unterminated string starting at", the place it names left off."""
    from assistant.batch import read_rows

    source = tmp_path / "rows.jsonl"
    source.write_text('{"text": "fine"}\n{"text": "abc\n')
    rows = read_rows(source)
    assert rows[1].error == "row 2 is not JSON: Unterminated string starting at (character 10)"


def _sentiment_batch(*extra: str, source: Path, out: Path):
    return CliRunner().invoke(
        main, ["tool", "sentiment", "-b", "fake", "-m", "x", "--no-log", "--batch", str(source), "--out", str(out), *extra]
    )


def test_a_resume_that_finds_every_row_done_still_refuses_rows_changed_since(tmp_path: Path, fakes: list) -> None:
    """The check of changed rows ran once the model had loaded, after the "every row is done" shortcut: a row
    corrected in a finished file was answered "nothing left to run", its old result kept as the new text's."""
    source, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    source.write_text('"I loved it"\n"dull and slow"\n')
    assert _sentiment_batch(source=source, out=out).exit_code == 0
    source.write_text('"I hated it"\n"dull and slow"\n')
    loads = len(fakes)
    resumed = _sentiment_batch("--resume", source=source, out=out)
    assert resumed.exit_code != 0
    assert "row 1's finished line" in resumed.output and '"I hated it"' in resumed.output
    assert len(fakes) == loads  # refused before any model loads


def test_a_template_batch_resume_with_every_row_done_refuses_rows_changed_since(
    tmp_path: Path, fakes: list, user_templates: Path
) -> None:
    (user_templates / "echo.jinja").write_text("---\nvariables: [input]\n---\n{{ input }}\n")
    source, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    source.write_text('{"text": "first"}\n{"text": "second"}\n')
    args = ["prompt", "-b", "fake", "-m", "x", "--no-log", "-t", "echo", "--batch", str(source), "--out", str(out)]
    assert CliRunner().invoke(main, args).exit_code == 0
    source.write_text('{"text": "corrected"}\n{"text": "second"}\n')
    resumed = CliRunner().invoke(main, [*args, "--resume"])
    assert resumed.exit_code != 0
    assert "row 1's finished line" in resumed.output and '"corrected"' in resumed.output


def test_the_translate_template_takes_auto_as_its_source_is_unknown() -> None:
    """``-v source=auto`` passes translate's check (auto: detect it) and rendered "from auto"."""
    auto = CliRunner().invoke(main, ["templates", "render", "translate", "-v", "target=French", "-v", "source=auto",
                                     "--input", "hello"])
    assert auto.exit_code == 0, auto.output
    assert "Translate the following text to French." in auto.output
    named = CliRunner().invoke(main, ["templates", "render", "translate", "-v", "target=French", "-v",
                                      "source=German", "--input", "hallo"])
    assert "Translate the following text from German to French." in named.output

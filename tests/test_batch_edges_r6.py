"""Batch checks made before any model loads: a mistyped --input-field, a --resume with nothing left."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.batch import Row, already_done, check_input_field, read_rows
from assistant.errors import ConfigError
from .conftest import run_cli

MISSING_MODEL = "/nonexistent/model.gguf"  # loading it fails: a command that succeeds never loaded it


def _rows(tmp_path: Path) -> Path:
    source = tmp_path / "rows.jsonl"
    source.write_text('{"id": "a", "review": "good"}\n{"id": "b", "review": "bad"}\n')
    return source


@pytest.mark.parametrize(
    "command",
    [("prompt", "-t", "chat"), ("sentiment",)],
    ids=["template", "tool"],
)
def test_an_input_field_no_row_has_is_refused_before_the_model_loads(
    tmp_path: Path, assistant_home: Path, command: tuple[str, ...]
) -> None:
    source = _rows(tmp_path)
    proc = run_cli(*command, "-b", "llama-cpp", "-m", MISSING_MODEL, "--batch", str(source), "--input-field", "reveiw")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"error: --input-field 'reveiw': no row of {source} has that field (its fields: review)"
    ]


@pytest.mark.parametrize(
    "command",
    [("prompt", "-t", "chat"), ("sentiment",)],
    ids=["template", "tool"],
)
def test_a_resume_with_every_row_done_loads_no_model(
    tmp_path: Path, fake_backend_plugin_file: Path, command: tuple[str, ...]
) -> None:
    source, out = _rows(tmp_path), tmp_path / "out.jsonl"
    first = run_cli(*command, "-b", "fake", "--batch", str(source), "--input-field", "review", "--out", str(out))
    assert first.returncode == 0, first.stderr
    before = out.read_bytes()
    again = run_cli(
        *command, "-b", "llama-cpp", "-m", MISSING_MODEL,
        "--batch", str(source), "--input-field", "review", "--out", str(out), "--resume",
    )
    assert again.returncode == 0, again.stderr
    # The batch's conversation is named, as the run that finished it did (round 8).
    assert again.stderr.strip() == (
        f"batch: 0 ok, 0 failed, 2 already done of 2 rows in 0.0s -> {out} (history: conversation 1)"
    )
    assert out.read_bytes() == before
    # One row failed or missing: the model is needed, and loading the missing one now fails.
    out.write_text(json.dumps(json.loads(before.splitlines()[0])) + "\n")
    partial = run_cli(
        *command, "-b", "llama-cpp", "-m", MISSING_MODEL,
        "--batch", str(source), "--input-field", "review", "--out", str(out), "--resume",
    )
    assert partial.returncode == 1 and "model" in partial.stderr.lower()


def test_check_input_field_leaves_a_field_some_rows_lack_to_those_rows(tmp_path: Path) -> None:
    rows = [Row(1, {"a": "x"}), Row(2, {"b": "y"}), Row(3, error="not JSON")]
    check_input_field(rows, "a", tmp_path / "f.jsonl")  # row 2 fails on its own
    check_input_field(rows, None, tmp_path / "f.jsonl")
    check_input_field([Row(1, error="not JSON")], "a", tmp_path / "f.jsonl")  # nothing readable: rows say why
    with pytest.raises(ConfigError, match=r"its fields: a, b\)$"):
        check_input_field(rows, "c", tmp_path / "f.jsonl")


def test_already_done_needs_resume_an_out_file_and_every_row(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text('{"row": 1, "id": null, "error": null}\n{"row": 2, "id": null, "error": "boom"}\n')
    rows = [Row(1), Row(2)]
    assert already_done(rows, out, resume=True) is None  # row 2 failed: it runs again
    assert already_done(rows[:1], out, resume=True).skipped == 1  # type: ignore[union-attr]
    assert already_done(rows[:1], out, resume=False) is None
    assert already_done(rows[:1], None, resume=True) is None


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_a_row_longer_than_one_input_may_be_fails_on_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    from assistant.batch import rows as rows_module

    monkeypatch.setattr(rows_module, "MAX_ROW_CHARS", 100)
    source = tmp_path / f"rows{suffix}"
    long_text = "x" * 200
    if suffix == ".jsonl":
        source.write_text(f'{{"text": "short"}}\n{{"text": "{long_text}"}}\n"fine"\n')
    else:
        source.write_text(f"text\nshort\n{long_text}\nfine\n")
    rows = read_rows(source)
    assert [row.error for row in rows] == [None, "row 2 is longer than 0 Mi characters, the most one input may be", None]
    assert [row.input_text() for row in rows] == ["short", None, "fine"]


def test_the_row_limit_is_the_input_file_limit() -> None:
    from assistant.batch.rows import MAX_ROW_CHARS
    from assistant.input_files import MAX_INPUT_BYTES

    assert MAX_ROW_CHARS == MAX_INPUT_BYTES == 32 * 2**20

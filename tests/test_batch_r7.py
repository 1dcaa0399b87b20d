"""Round 7 user test of batch runs: input files in another encoding, the config's batch_parallel,
and --resume over a results file whose last line lost its newline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from assistant.batch import Row, already_done, iter_results, read_rows, recorded_conversation, run_rows
from assistant.errors import ConfigError

from .conftest import run_cli

MISSING_MODEL = "/nonexistent/model.gguf"  # loading it fails: an error about the file means no model loaded

CSV_TEXT = "id,text\n1,café\n2,world\n"
JSONL_TEXT = '{"id": 1, "text": "café"}\n{"id": 2, "text": "world"}\n'


@pytest.mark.parametrize(
    ("encoding", "name"),
    [
        ("utf-16", "UTF-16"),  # with a byte order mark: Excel's "Unicode Text", PowerShell's `>`
        ("utf-16-le", "UTF-16"),  # without one
        ("utf-16-be", "UTF-16"),
        ("utf-32", "UTF-32"),
        ("utf-32-le", "UTF-32"),
        ("utf-32-be", "UTF-32"),
    ],
)
@pytest.mark.parametrize(("suffix", "text"), [(".csv", CSV_TEXT), (".jsonl", JSONL_TEXT)], ids=["csv", "jsonl"])
def test_a_utf16_or_utf32_file_is_one_clear_error(
    tmp_path: Path, encoding: str, name: str, suffix: str, text: str
) -> None:
    # Read as UTF-8 every row failed on its own ("not valid Unicode (byte 0xff ...)",
    # "not JSON: Expecting value"), which never said the file was in another encoding.
    source = tmp_path / f"rows{suffix}"
    source.write_bytes(text.encode(encoding))
    with pytest.raises(ConfigError) as caught:
        read_rows(source)
    assert str(caught.value) == f"batch file {source} is {name} text, not UTF-8; save it as UTF-8"


@pytest.mark.parametrize("text", [CSV_TEXT, "\ufeff" + CSV_TEXT, "\n\n" + CSV_TEXT])
def test_utf8_files_still_read(tmp_path: Path, text: str) -> None:
    source = tmp_path / "rows.csv"
    source.write_text(text, encoding="utf-8")
    rows = read_rows(source)
    assert [(row.id, row.values, row.error) for row in rows] == [
        ("1", {"text": "café"}, None),
        ("2", {"text": "world"}, None),
    ]


def test_a_latin1_row_still_fails_alone(tmp_path: Path) -> None:
    source = tmp_path / "rows.csv"
    source.write_bytes(CSV_TEXT.encode("latin-1"))
    rows = read_rows(source)
    assert rows[0].error == "row 1 is not valid Unicode (byte 0xe9 at character 4 of 'text')"
    assert rows[1].error is None and rows[1].values == {"text": "world"}


@pytest.mark.parametrize("command", [("prompt", "-t", "chat"), ("sentiment",)], ids=["template", "tool"])
def test_the_cli_says_so_in_one_line_before_any_model_loads(
    tmp_path: Path, assistant_home: Path, command: tuple[str, ...]
) -> None:
    source = tmp_path / "rows.jsonl"
    source.write_bytes(JSONL_TEXT.encode("utf-16"))
    proc = run_cli(*command, "-b", "llama-cpp", "-m", MISSING_MODEL, "--batch", str(source))
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"error: batch file {source} is UTF-16 text, not UTF-8; save it as UTF-8"
    ]
    assert proc.stdout == ""


@pytest.mark.parametrize("command", [("prompt", "-t", "chat"), ("sentiment",)], ids=["template", "tool"])
def test_a_bad_batch_parallel_in_the_config_is_refused_before_the_model_loads(
    tmp_path: Path, assistant_home: Path, command: tuple[str, ...]
) -> None:
    # Read only once the model had loaded: a typo in the config cost a model load
    # (a minute for a first -b transformers conversion) or a request to a server first.
    config = assistant_home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('batch_parallel = "8"\n')
    source = tmp_path / "rows.jsonl"
    source.write_text(JSONL_TEXT)
    proc = run_cli(*command, "-b", "llama-cpp", "-m", MISSING_MODEL, "--batch", str(source), "--no-log")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"error: batch_parallel in {config} must be a whole number >= 1, not '8'"
    ]
    # --parallel on the command line is what runs: the config's value is not needed then.
    given = run_cli(*command, "-b", "llama-cpp", "-m", MISSING_MODEL, "--batch", str(source), "--parallel", "2")
    assert given.stderr.strip().splitlines() == [f"error: model file not found: {MISSING_MODEL}"]


# ---- --resume and a results file whose last line has no newline ---------------------------------
def _echo(row: Row) -> dict[str, Any]:
    return {"output": f"ran {row.values['text']}"}


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8-sig").splitlines()]


def test_resume_keeps_a_whole_last_line_that_lost_only_its_newline(tmp_path: Path) -> None:
    # A results file filtered by a script ("\n".join(lines)) or saved by an editor that drops
    # the final newline: --resume took the last row for a half-written one, deleted it and ran
    # it again, so a result (a paid-for API answer, a sample never drawn again) was lost.
    rows = [Row(n, {"text": f"t{n}"}, f"id{n}") for n in (1, 2, 3)]
    out = tmp_path / "out.jsonl"
    kept = [{"row": 1, "id": "id1", "output": "first run", "error": None},
            {"row": 2, "id": "id2", "output": "first run", "error": None}]  # fmt: skip
    out.write_text("\n".join(json.dumps(record) for record in kept), encoding="utf-8")
    ran: list[int] = []

    def work(row: Row) -> dict[str, Any]:
        ran.append(row.number)
        return _echo(row)

    summary = run_rows(rows, work, out=out, resume=True)
    assert ran == [3]
    assert (summary.done, summary.skipped) == (1, 2)
    assert [(r["row"], r["output"]) for r in _lines(out)] == [(1, "first run"), (2, "first run"), (3, "ran t3")]


def test_resume_with_every_row_done_keeps_the_file_whole(tmp_path: Path) -> None:
    rows = [Row(n, {"text": f"t{n}"}, f"id{n}") for n in (1, 2)]
    out = tmp_path / "out.jsonl"
    out.write_text('{"row": 1, "id": "id1", "error": null}\n{"row": 2, "id": "id2", "error": null}', encoding="utf-8")
    assert already_done(rows, out, resume=True) is not None
    assert [r["row"] for r in _lines(out)] == [1, 2]


@pytest.mark.parametrize("cut", ['{"row": 2, "id": "id2", "output": "ha', '{"row": 2, "id": "id2"', "{", '{"row": 2}x'])
def test_resume_still_drops_a_line_cut_short(tmp_path: Path, cut: str) -> None:
    rows = [Row(n, {"text": f"t{n}"}, f"id{n}") for n in (1, 2)]
    out = tmp_path / "out.jsonl"
    out.write_text('{"row": 1, "id": "id1", "output": "first run", "error": null}\n' + cut, encoding="utf-8")
    summary = run_rows(rows, _echo, out=out, resume=True)
    assert (summary.done, summary.skipped) == (1, 1)
    assert [(r["row"], r["output"]) for r in _lines(out)] == [(1, "first run"), (2, "ran t2")]


@pytest.mark.parametrize("newline", ["\n", ""], ids=["newline", "no-newline"])
def test_resume_reads_a_results_file_an_editor_saved_with_a_byte_order_mark(tmp_path: Path, newline: str) -> None:
    # Read as UTF-8, the BOM made the first line no JSON: its row counted as not done and ran
    # again, so the file held row 1 twice (and without a final newline the line was cut away).
    rows = [Row(1, {"text": "t1"}, "a"), Row(2, {"text": "t2"}, "b")]
    out = tmp_path / "out.jsonl"
    first = '{"row": 1, "id": "a", "output": "first run", "error": null, "conversation_id": 7}'
    out.write_bytes(("\ufeff" + first + newline).encode("utf-8"))
    summary = run_rows(rows, _echo, out=out, resume=True)
    assert (summary.done, summary.skipped) == (1, 1)
    assert [(r["row"], r["output"]) for r in _lines(out)] == [(1, "first run"), (2, "ran t2")]
    assert recorded_conversation(out) == 7
    assert [r["row"] for r in iter_results(out)] == [1, 2]

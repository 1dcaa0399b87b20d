"""Batch runs: reading rows, recording failures, resuming an interrupted run, progress."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from assistant.backends.fake import FakeBackend
from assistant.errors import ConfigError
from assistant.batch import ProgressBar, completed_rows, format_duration, iter_results, read_rows
from assistant.templates import load_template
from assistant.templates.batch import run_batch
from .conftest import run_cli

TEMPLATE = "---\nvariables: [input, {name: lang, default: en}]\n---\n[{{ lang }}] {{ input }}\n"


@pytest.fixture
def template(user_templates: Path, write_file: Any) -> Any:
    write_file(user_templates, "b.jinja", TEMPLATE)
    return load_template("b")


def backend(reply: Any = None) -> FakeBackend:
    engine = FakeBackend(reply=reply)
    engine.load("fake-model")
    return engine


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_read_jsonl_rows(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"input": "a"}\n\n"just text"\n{broken\n[1, 2]\n{"input": "b", "id": 7}\n')
    rows = read_rows(path)
    assert [(r.number, r.values, r.id, r.error is not None) for r in rows] == [
        (1, {"input": "a"}, None, False),
        (3, {"text": "just text"}, None, False),  # numbered by line: the blank line 2 is skipped, not renumbered
        (4, {}, None, True),
        (5, {}, None, True),
        (6, {"input": "b"}, 7, False),
    ]
    assert rows[2].error and rows[2].error.startswith("row 4 is not JSON")
    assert [r.input_text() for r in rows] == ["a", "just text", None, None, "b"]


def test_read_csv_rows(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text('input,lang\n"hello, world",fr\nbye,\n"multi\nline",de\nx,y,z\n', encoding="utf-8")
    rows = read_rows(path)
    assert [r.values for r in rows[:3]] == [
        {"input": "hello, world", "lang": "fr"},
        {"input": "bye"},  # empty cell: not given, so the default applies
        {"input": "multi\nline", "lang": "de"},
    ]
    assert rows[3].error == "row 4 has more cells than the header"


def test_read_rows_rejects_unknown_formats_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=".jsonl or .csv"):
        read_rows(tmp_path / "in.txt")
    with pytest.raises(ConfigError, match="does not exist"):
        read_rows(tmp_path / "missing.jsonl")


def test_batch_records_every_row_and_keeps_going_after_failures(template: Any, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"input": "one"}\n{"lang": "fr"}\nnot json\n{"input": "boom"}\n{"input": "four", "lang": "de", "extra": 1}\n')

    def reply(prompt: str) -> str:
        if "boom" in prompt:
            raise RuntimeError("engine fell over")
        return "ok"

    out = tmp_path / "out.jsonl"
    summary = run_batch(template, read_rows(source), backend(reply), out=out)
    records = lines(out)
    assert [r["row"] for r in records] == [1, 2, 3, 4, 5]
    assert (summary.done, summary.failed, summary.total) == (2, 3, 5)
    first = records[0]
    assert first["vars"] == {"input": "one"} and first["output"] == "ok" and first["answer"] == "ok"
    assert first["error"] is None and len(first["prompt_hash"]) == 64
    assert set(first) >= {"row", "vars", "prompt_hash", "output", "answer", "usage", "timings", "finish_reason"}
    assert first["usage"]["completion_tokens"] == 2
    # The same message a tool batch gives for a row without its text.
    assert records[1]["error"] == 'row 2 has no "text" or "input" field (choose one with --input-field)'
    assert records[2]["error"].startswith("row 3 is not JSON")
    # A backend's unexpected exception is named with its backend (assistant.backends.backend_failure).
    assert records[3]["error"] == "the fake backend failed to generate: RuntimeError: engine fell over"
    assert records[3]["prompt_hash"]
    assert records[4]["vars"] == {"input": "four", "lang": "de"}  # undeclared columns are not variables


def test_shared_variables_apply_unless_a_row_sets_its_own(template: Any, tmp_path: Path) -> None:
    rows = read_rows(jsonl(tmp_path / "in.jsonl", [{"input": "a"}, {"input": "b", "lang": "de"}]))
    engine = backend()
    sink = io.StringIO()
    run_batch(template, rows, engine, variables={"lang": "fr"}, stdout=sink)
    outputs = [json.loads(line)["output"] for line in sink.getvalue().splitlines()]
    assert outputs == ["Echo: [fr] a", "Echo: [de] b"]


def test_resume_after_an_interrupted_run(template: Any, tmp_path: Path) -> None:
    rows = read_rows(jsonl(tmp_path / "in.jsonl", [{"input": f"row {i}"} for i in range(1, 6)]))
    out = tmp_path / "out.jsonl"

    def interrupted(prompt: str) -> str:
        if "row 3" in prompt:
            raise KeyboardInterrupt
        return "done"

    with pytest.raises(KeyboardInterrupt):
        run_batch(template, rows, backend(interrupted), out=out)
    assert [r["row"] for r in lines(out)] == [1, 2]  # finished rows were saved

    with pytest.raises(ConfigError, match="already exists; pass --resume"):
        run_batch(template, rows, backend(), out=out)

    engine = backend("done")
    summary = run_batch(template, rows, engine, out=out, resume=True)
    assert (summary.skipped, summary.done, summary.failed) == (2, 3, 0)
    assert [c["prompt"].count("row 1") + c["prompt"].count("row 2") for c in engine.calls] == [0, 0, 0]
    assert [r["row"] for r in lines(out)] == [1, 2, 3, 4, 5]

    again = run_batch(template, rows, backend(), out=out, resume=True)
    assert (again.skipped, again.done) == (5, 0)


def test_resume_repairs_a_half_written_line_and_retries_failed_rows(template: Any, tmp_path: Path) -> None:
    rows = read_rows(jsonl(tmp_path / "in.jsonl", [{"input": "a"}, {"input": "b"}, {"input": "c"}]))
    out = tmp_path / "out.jsonl"
    out.write_text(
        json.dumps({"row": 1, "output": "A", "answer": "A", "error": None}) + "\n"
        + json.dumps({"row": 2, "output": None, "answer": None, "error": "timeout"}) + "\n"
        + '{"row": 3, "output": "half wr'
    )
    assert completed_rows(out) == {1}
    assert out.read_text().endswith('"timeout"}\n')  # the torn line is gone
    engine = backend("fresh")
    summary = run_batch(template, rows, engine, out=out, resume=True)
    assert (summary.skipped, summary.done) == (1, 2)
    assert len(engine.calls) == 2
    final = list(iter_results(out))
    assert [(r["row"], r["output"], r["error"]) for r in final] == [(1, "A", None), (2, "fresh", None), (3, "fresh", None)]


def test_resume_needs_an_output_file(template: Any) -> None:
    with pytest.raises(ConfigError, match="--resume needs --out"):
        run_batch(template, [], backend(), resume=True)


def test_progress_bar_shows_rate_and_eta() -> None:
    bar = ProgressBar(10, stream=io.StringIO(), width=10)
    bar.start = 0.0
    for ok in (True, True, False, True):
        bar.advance(ok)
    assert bar.line(now=2.0) == "[####......] 4/10  40% 2.00 rows/s ETA 0:03 (1 failed)"
    assert bar.stream.getvalue() == ""  # not a terminal: quiet until the summary


def test_progress_bar_redraws_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    bar = ProgressBar(2, stream=stream, width=4)
    bar.advance()
    bar.advance()
    bar.close()
    text = stream.getvalue()
    assert text.count("\r") == 2 and "2/2" in text and text.endswith("\n")


def test_format_duration() -> None:
    assert [format_duration(s) for s in (0, 59.6, 61, 3725)] == ["0:00", "1:00", "1:01", "1:02:05"]


def test_cli_batch_and_resume(fake_backend_plugin_file: None, user_templates: Path, tmp_path: Path) -> None:
    (user_templates / "b.jinja").write_text(TEMPLATE)
    source = tmp_path / "in.csv"
    source.write_text("input,lang\nhello,fr\nworld,\n")
    out = tmp_path / "results" / "out.jsonl"
    result = run_cli("prompt", "-t", "b", "-b", "fake", "--batch", str(source), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "batch: 2 ok, 0 failed of 2 rows" in result.stderr
    assert [r["output"] for r in lines(out)] == ["Echo: [fr] hello", "Echo: [en] world"]

    clash = run_cli("prompt", "-t", "b", "-b", "fake", "--batch", str(source), "--out", str(out))
    assert clash.returncode == 1 and clash.stderr.strip().endswith("choose another --out")

    source.write_text("input,lang\nhello,fr\nworld,\nagain,de\n")
    resumed = run_cli("prompt", "-t", "b", "-b", "fake", "--batch", str(source), "--out", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "1 ok, 0 failed, 2 already done of 3 rows" in resumed.stderr
    assert [r["row"] for r in lines(out)] == [1, 2, 3]


def test_cli_batch_to_stdout_with_a_failed_row(fake_backend_plugin_file: None, user_templates: Path, tmp_path: Path) -> None:
    (user_templates / "b.jinja").write_text(TEMPLATE)
    source = jsonl(tmp_path / "in.jsonl", [{"input": "x"}, {"lang": "fr"}])
    result = run_cli("prompt", "-t", "b", "-b", "fake", "--batch", str(source), "-v", "lang=it")
    assert result.returncode == 1  # a row failed
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert records[0]["output"] == "Echo: [it] x" and records[1]["error"]
    assert "batch: 1 ok, 1 failed of 2 rows" in result.stderr


def test_batch_system_override_applies_to_every_row(template: Any, tmp_path: Path) -> None:
    rows = read_rows(jsonl(tmp_path / "in.jsonl", [{"input": "a"}, {"input": "b"}]))
    engine = backend()
    run_batch(template, rows, engine, system="Be brief.", stdout=io.StringIO())
    assert all(call["prompt"].startswith("<|im_start|>system\nBe brief.<|im_end|>") for call in engine.calls)
    assert len(engine.calls) == 2


def test_cli_batch_rejects_unknown_shared_variables_before_loading(
    fake_backend_plugin_file: Path, user_templates: Path, tmp_path: Path
) -> None:
    (user_templates / "b.jinja").write_text(TEMPLATE)
    source = jsonl(tmp_path / "in.jsonl", [{"input": "x"}])
    result = run_cli("prompt", "-t", "b", "-b", "fake", "--batch", str(source), "-v", "langg=it")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: template 'b': unknown variable(s) langg"


def test_a_text_field_fills_input_and_the_id_is_kept(template: Any, tmp_path: Path) -> None:
    """The README's reviews.jsonl shape ({"id", "text"}) runs under a template as under a tool."""
    rows = read_rows(jsonl(tmp_path / "reviews.jsonl", [{"id": "r1", "text": "good"}, {"id": 2, "text": "bad"}]))
    sink = io.StringIO()
    summary = run_batch(template, rows, backend(), stdout=sink)
    records = [json.loads(line) for line in sink.getvalue().splitlines()]
    assert summary.failed == 0 and [r["id"] for r in records] == ["r1", 2]
    assert [r["output"] for r in records] == ["Echo: [en] good", "Echo: [en] bad"]


def test_input_field_names_the_column_and_a_row_without_it_fails(template: Any, tmp_path: Path) -> None:
    rows = read_rows(jsonl(tmp_path / "in.jsonl", [{"review": "fine"}, {"text": "no review here"}]))
    sink = io.StringIO()
    summary = run_batch(template, rows, backend(), stdout=sink, input_field="review")
    records = [json.loads(line) for line in sink.getvalue().splitlines()]
    assert records[0]["output"] == "Echo: [en] fine" and (summary.done, summary.failed) == (1, 1)
    assert records[1]["error"] == 'row 2 has no "review" field (choose one with --input-field)'


def test_an_existing_output_is_kept_unless_forced(template: Any, tmp_path: Path) -> None:
    rows = read_rows(jsonl(tmp_path / "in.jsonl", [{"input": "a"}]))
    out = tmp_path / "out.jsonl"
    out.write_text('{"row": 1, "precious": true}\n')
    with pytest.raises(ConfigError, match="--resume to continue it, --force to overwrite it"):
        run_batch(template, rows, backend(), out=out)
    assert "precious" in out.read_text()
    run_batch(template, rows, backend(), out=out, force=True)
    assert [r["output"] for r in lines(out)] == ["Echo: [en] a"]

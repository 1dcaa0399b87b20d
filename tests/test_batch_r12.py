"""Round 12, batches at scale: a ``--resume`` of a large results file parses it once, not once per check.

Resuming a 100,000-row batch with one row left sat silent for a minute before its first row: the
results file was parsed again by each check (which batch wrote it, its shared settings twice, its
model, the rows done twice, its conversation), and each finished line's settings were encoded as
JSON to be compared with this run's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from assistant.backends.fake import FakeBackend
from assistant.batch import Row, done_rows, iter_results, runner
from assistant.batch.provenance import check_resume_model
from assistant.cli import main
from assistant.errors import ConfigError
from assistant.templates import template_from_string
from assistant.templates.batch import check_resume


def loaded(model: str) -> FakeBackend:
    backend = FakeBackend()
    backend.load(model)
    return backend


def line(row: int, **fields: Any) -> str:
    record = {"row": row, "id": row, "template": "t", "shared_vars": {}, "sampling": {"temperature": 1},
              "schema": None, "model": "m", "backend": "fake", "error": None, "conversation_id": None}
    return json.dumps({**record, **fields}) + "\n"


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times a results file's lines were parsed (one entry per parse)."""
    counted: list[int] = []
    original = runner._result_records

    def counting(data: bytes) -> Any:
        counted.append(len(data))
        return original(data)

    monkeypatch.setattr(runner, "_result_records", counting)
    monkeypatch.setattr(runner, "_parsed", None, raising=False)
    return counted


def test_a_resume_parses_the_results_file_once_however_many_checks_read_it(
    tmp_path: Path, parses: list[int], fakes: list[FakeBackend]
) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text("".join(line(n) for n in range(1, 201)))
    template = template_from_string("{{ input }}", name="t")
    rows = [Row(n, {"text": f"r{n}"}, n) for n in range(1, 202)]
    for _ in range(2):  # the CLI checks before the model loads, run_batch again after
        check_resume(template, out, True, sampling={"temperature": 1})
        assert len(done_rows(rows, out)) == 200
        check_resume_model(out, True, loaded("m"))
        assert runner.recorded_conversation(out) is None
    assert len(parses) == 1


def test_a_file_that_changed_is_parsed_again(tmp_path: Path, parses: list[int]) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text(line(1))
    assert [record["row"] for record in iter_results(out)] == [1]
    with out.open("a") as handle:
        handle.write(line(2))
    assert [record["row"] for record in iter_results(out)] == [1, 2]
    out.write_text(line(1, error="boom"))  # rewritten, not appended
    assert [record["error"] for record in iter_results(out)] == ["boom"]
    assert len(parses) == 3


def test_changing_what_iter_results_gives_changes_nothing_read_later(tmp_path: Path, parses: list[int]) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text(line(1))
    first = next(iter_results(out))
    first["error"] = "changed by a caller"
    first["row"] = 99
    assert next(iter_results(out))["error"] is None
    assert runner.completed_rows(out) == {1}


@pytest.mark.parametrize("later", [True, 1.0, "1", [1]])
def test_a_later_line_of_another_json_type_is_still_refused(tmp_path: Path, later: Any) -> None:
    """Lines found equal are not compared again, and "equal" is JSON's: Python's ``1 == True == 1.0``
    must not let a line recorded with ``true`` pass for one recorded with ``1``."""
    out = tmp_path / "out.jsonl"
    out.write_text(line(1) + line(2) + line(3, sampling={"temperature": later}))
    template = template_from_string("{{ input }}", name="t")
    with pytest.raises(ConfigError, match="-o temperature"):
        check_resume(template, out, True, sampling={"temperature": 1})


def test_a_later_line_of_another_model_is_still_refused(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text(line(1) + line(2) + line(3, model="other"))
    with pytest.raises(ConfigError, match="ran on other"):
        check_resume_model(out, True, loaded("m"))


@pytest.mark.parametrize(
    ("written", "given", "matched"),
    [(7, 7, True), (7, "7", False), ("7", 7, False), ("7", "7", True), (True, 1, False), (1.0, 1, False),
     ('a"b', 'a"b', True), ([1, "x"], [1, "x"], True), ({"b": 1, "a": 2}, {"a": 2, "b": 1}, True)],
)
def test_ids_match_as_json_values(tmp_path: Path, written: Any, given: Any, matched: bool) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text(line(5, id=written))
    rows = [Row(1, {"text": "x"}, given), Row(2, {"text": "y"}, "other")]
    assert done_rows(rows, out) == ({1} if matched else set())


def test_a_resume_of_many_rows_runs_only_the_rest(tmp_path: Path, fakes: list[FakeBackend]) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("".join(json.dumps({"id": n, "text": f"r{n}"}) + "\n" for n in range(3000)))
    first = CliRunner().invoke(main, ["prompt", "-t", "chat", "-b", "fake", "-m", "m", "--batch", str(source),
                                      "--out", str(out), "-o", "temperature=0.5", "--no-log"])
    assert first.exit_code == 0, first.output
    kept = out.read_text().splitlines(keepends=True)
    out.write_text("".join(kept[:2500]) + kept[2500][:40])  # killed while writing row 2501
    again = CliRunner().invoke(main, ["prompt", "-t", "chat", "-b", "fake", "-m", "m", "--batch", str(source),
                                      "--out", str(out), "-o", "temperature=0.5", "--no-log", "--resume"])
    assert again.exit_code == 0, again.output
    assert "500 ok, 0 failed, 2500 already done of 3000 rows" in again.output
    records = [json.loads(text) for text in out.read_text().splitlines()]
    assert [record["id"] for record in records] == list(range(3000))

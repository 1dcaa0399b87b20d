"""Round 8: tools and batch runs as a demanding user meets them. Each test failed before its fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import pytest
from click.testing import CliRunner

from assistant.batch import BackendFailure, Row, backend_failure, check_input_field, read_rows, run_rows
from assistant.cli import main
from assistant.errors import ConfigError, RemoteError, ToolError
from assistant.tools import get_tool
from assistant.tools.batch import run_tool_row
from assistant.tools.registry import RegisteredTool
from assistant.tools.results import EntitiesResult
from assistant.tools.spans import caseless_script

from .openai_fake_server import FakeOpenAIServer, send_json, tiny_openai_server  # noqa: F401 (the server fixture)
from .test_tools_fake import RecordingFake

MISSING_MODEL = "/nonexistent/model.gguf"  # loading it fails: a command that succeeds never loaded it


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]


# ---- a backend that fails as a whole stops the batch once -------------------------------------------------
class _HTTPError(RemoteError):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def test_only_failures_of_the_backend_as_a_whole_stop_a_batch() -> None:
    assert backend_failure(RemoteError("cannot connect to http://127.0.0.1:9: connection refused"))
    assert backend_failure(_HTTPError("answered 401 Unauthorized", 401))
    assert not backend_failure(_HTTPError("answered 413 Payload Too Large", 413))  # that row's size
    assert not backend_failure(_HTTPError("answered 400 Bad Request", 400))
    assert not backend_failure(ToolError("no label"))


def _rows(count: int) -> list[Row]:
    return [Row(number, {"text": f"row {number}"}) for number in range(1, count + 1)]


def test_the_same_backend_failure_on_two_rows_in_a_row_stops_the_batch(tmp_path: Path) -> None:
    """Before: a wrong API key made one request and wrote one identical error line per row, all 10,000."""
    calls: list[int] = []

    def work(row: Row) -> dict[str, Any]:
        calls.append(row.number)
        return BackendFailure({"error": "http://x answered 401 Unauthorized"})

    out = tmp_path / "out.jsonl"
    summary = run_rows(_rows(6), work, out=out)
    assert calls == [1, 2]
    assert [line["row"] for line in _lines(out)] == [1, 2]  # what ran is kept
    assert summary.stopped == "rows 1 and 2 failed alike: http://x answered 401 Unauthorized"
    assert (summary.failed, summary.not_run) == (2, 4)
    assert summary.line(out).startswith("batch: 0 ok, 2 failed, 4 not run of 6 rows")
    assert summary.to_dict()["not_run"] == 4


def test_row_failures_and_changing_backend_failures_never_stop_a_batch(tmp_path: Path) -> None:
    answers = {
        1: BackendFailure({"error": "server busy"}),
        2: {"error": "row 2 is empty"},  # a row's own failure in between: no run of alike failures
        3: BackendFailure({"error": "server busy"}),
        4: BackendFailure({"error": "another failure"}),
        5: {"result": 1, "error": None},
    }
    summary = run_rows(_rows(5), lambda row: answers[row.number], out=tmp_path / "out.jsonl")
    assert summary.stopped is None
    assert (summary.done, summary.failed, summary.not_run) == (1, 4, 0)


class _Failing:
    name, description, parameters, templates = "failing", "Fails.", (), ()

    def __init__(self, error: Exception) -> None:
        self.error = error

    def run(self, text: str, params: Mapping[str, Any], backend: Any) -> Any:
        raise self.error


def test_a_tool_row_says_whether_its_failure_was_the_backends() -> None:
    row = Row(1, {"text": "hello"})
    refused = run_tool_row(RegisteredTool(_Failing(_HTTPError("401 Unauthorized", 401)), "p"), row, None)
    assert isinstance(refused, BackendFailure) and refused["error"] == "401 Unauthorized"
    own = run_tool_row(RegisteredTool(_Failing(ToolError("no valid label")), "p"), row, None)
    assert not isinstance(own, BackendFailure) and own["error"] == "no valid label"


def test_a_tool_batch_against_a_server_refusing_the_key_stops_after_two_rows(
    server: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for path in ("/v1/completions", "/v1/chat/completions"):
        server.route("POST", path, lambda h, _: send_json(h, 401, {"error": {"message": "Invalid API key"}}))
    monkeypatch.setenv("ASSISTANT_OPENAI_BASE_URL", server.base_url)
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(f'"review {n}"\n' for n in range(1, 7)))
    out = tmp_path / "out.jsonl"
    result = _invoke("sentiment", "-b", "openai", "-m", "tiny", "--batch", str(rows), "--out", str(out))
    assert result.exit_code == 1
    assert [line["row"] for line in _lines(out)] == [1, 2]
    stopped, summary = result.stderr.strip().splitlines()[-2:]
    assert stopped.startswith("error: the batch stopped: rows 1 and 2 failed alike: ")
    assert "401 Unauthorized" in stopped and stopped.endswith("once that is fixed, rerun with --resume to run the rest")
    assert summary.startswith("batch: 0 ok, 2 failed, 4 not run of 6 rows")
    assert len(server.bodies("/v1/completions") + server.bodies("/v1/chat/completions")) == 2


# ---- --resume onto the results of another tool, other parameters, a template ---------------------------
@pytest.fixture
def finished_sentiment_batch(fake_backend: None, tmp_path: Path) -> tuple[Path, Path]:
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"id": "a", "text": "good"}\n{"id": "b", "text": "bad"}\n{"id": "c", "text": "so so"}\n')
    out = tmp_path / "out.jsonl"
    result = _invoke("sentiment", "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out))
    assert result.exit_code == 0, result.output
    first = _lines(out)[0]
    assert first["tool"] == "sentiment"
    assert first["params"] == {"labels": ["positive", "negative"], "calibrate": False, "examples": "fixed"}
    out.write_text(out.read_text().splitlines()[0] + "\n")  # as a Ctrl-C after the first row leaves it
    return rows, out


@pytest.mark.parametrize(
    ("flags", "error"),
    [
        (("ner",), "holds results of tool 'sentiment', not 'ner'"),
        (("sentiment", "--labels", "happy,sad"), "ran with labels=positive,negative, this run has labels=happy,sad"),
        (("sentiment", "-p", "examples=similar"), "ran with examples=fixed, this run has examples=similar"),
    ],
)
def test_a_resume_with_another_tool_or_other_parameters_is_refused_before_the_model_loads(
    finished_sentiment_batch: tuple[Path, Path], flags: tuple[str, ...], error: str
) -> None:
    """Before: the rest of a sentiment batch's file was filled with NER results (or other labels), unmarked."""
    rows, out = finished_sentiment_batch
    before = out.read_bytes()
    result = _invoke(*flags, "-m", MISSING_MODEL, "--batch", str(rows), "--out", str(out), "--resume")
    assert result.exit_code == 1
    assert error in result.stderr and "cannot load" not in result.stderr
    assert out.read_bytes() == before


def test_a_resume_with_the_same_tool_and_parameters_goes_on(finished_sentiment_batch: tuple[Path, Path]) -> None:
    rows, out = finished_sentiment_batch
    result = _invoke("sentiment", "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out), "--resume")
    assert result.exit_code == 0, result.output
    assert [line["id"] for line in _lines(out)] == ["a", "b", "c"]


def test_a_row_with_its_own_params_is_not_compared_with_the_commands(fake_backend: None, tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"id": 1, "text": "good", "params": {"labels": "yes,no"}}\n{"id": 2, "text": "bad"}\n')
    out = tmp_path / "out.jsonl"
    assert _invoke("sentiment", "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out)).exit_code == 0
    out.write_text(out.read_text().splitlines()[0] + "\n")
    result = _invoke("sentiment", "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out), "--resume")
    assert result.exit_code == 0, result.output
    assert [line["params"]["labels"] for line in _lines(out)] == [["yes", "no"], ["positive", "negative"]]


def test_a_tool_resume_onto_a_template_batchs_results_is_refused(fake_backend: None, tmp_path: Path) -> None:
    """Before: every row of the template's file counted as done, and the tool ran nothing."""
    rows = tmp_path / "rows.jsonl"
    rows.write_text('"good"\n"bad"\n')
    out = tmp_path / "out.jsonl"
    assert _invoke("prompt", "-t", "chat", "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out)).exit_code == 0
    result = _invoke("sentiment", "-m", MISSING_MODEL, "--batch", str(rows), "--out", str(out), "--resume")
    assert result.exit_code == 1
    assert "holds a template batch's results, not tool 'sentiment''s" in result.stderr


# ---- the batch's conversation on --resume ---------------------------------------------------------------------
def test_a_resume_against_another_database_does_not_continue_its_batch_of_the_same_number(
    fake_backend: None, tmp_path: Path
) -> None:
    """Before: conversation 1 of the other database (another batch) got the resumed rows."""
    from assistant.history.store import HistoryStore

    mine, theirs = tmp_path / "mine.jsonl", tmp_path / "theirs.jsonl"
    mine.write_text('"apples are great"\n"pears are bad"\n"plums are fine"\n')
    theirs.write_text('"dogs"\n"cats"\n')
    db_a, db_b = tmp_path / "a.db", tmp_path / "b.db"
    out_a, out_b = tmp_path / "out_a.jsonl", tmp_path / "out_b.jsonl"
    for db, rows, out in ((db_a, mine, out_a), (db_b, theirs, out_b)):
        result = _invoke("sentiment", "-b", "fake", "-m", "m", "--db", str(db), "--batch", str(rows), "--out", str(out))
        assert result.exit_code == 0 and "(history: conversation 1)" in result.stderr
    out_a.write_text(out_a.read_text().splitlines()[0] + "\n")
    result = _invoke("sentiment", "-b", "fake", "-m", "m", "--db", str(db_b), "--batch", str(mine), "--out", str(out_a), "--resume")
    assert result.exit_code == 0, result.output
    assert "note: conversation 1, where out_a.jsonl was recorded, in this history holds another batch" in result.stderr
    assert "(history: conversation 2)" in result.stderr
    with HistoryStore.open(db_b) as store:
        assert [m.content for m in store.messages(1) if m.role == "user"] == ["dogs", "cats"]
    # Its own database still continues it.
    out_a.write_text(out_a.read_text().splitlines()[0] + "\n")
    result = _invoke("sentiment", "-b", "fake", "-m", "m", "--db", str(db_a), "--batch", str(mine), "--out", str(out_a), "--resume")
    assert "note:" not in result.stderr and "(history: conversation 1)" in result.stderr


def test_a_resume_with_every_row_done_names_the_batchs_conversation(fake_backend: None, tmp_path: Path) -> None:
    rows, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    rows.write_text('"good"\n"bad"\n')
    assert _invoke("sentiment", "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out)).exit_code == 0
    again = _invoke("sentiment", "-m", MISSING_MODEL, "--batch", str(rows), "--out", str(out), "--resume")
    assert again.exit_code == 0, again.output
    assert again.stderr.strip() == f"batch: 0 ok, 0 failed, 2 already done of 2 rows in 0.0s -> {out} (history: conversation 1)"
    elsewhere = _invoke(
        "sentiment", "-m", MISSING_MODEL, "--db", str(tmp_path / "other.db"), "--batch", str(rows), "--out", str(out), "--resume"
    )
    assert elsewhere.stderr.strip().endswith(f"-> {out}")  # not this history's: none named


# ---- CSV files with problems -----------------------------------------------------------------------------------
def test_a_csv_row_with_fewer_cells_than_the_header_says_so(tmp_path: Path) -> None:
    """Before: 'row 2 has no "text" or "input" field (choose one with --input-field)', with the column there."""
    source = tmp_path / "rows.csv"
    source.write_text("id,text\r\n1,fine\r\n2\r\n")
    rows = read_rows(source)
    assert rows[1].missing_input() == 'row 2 has fewer cells than the header: none for "text"'


def test_a_tool_batch_whose_file_has_no_input_column_is_refused_before_the_model_loads(
    tmp_path: Path, assistant_home: Path
) -> None:
    """Before: the model loaded, then every row failed with the same line."""
    source = tmp_path / "rows.csv"
    source.write_text("id,review\n1,great\n2,awful\n")
    result = _invoke("sentiment", "-m", MISSING_MODEL, "--batch", str(source))
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f'error: no row of {source} has a "text" or "input" field (its fields: review); '
        "name the one holding the input with --input-field"
    )


def test_the_input_column_check_leaves_template_batches_and_empty_cells_alone(tmp_path: Path) -> None:
    source = tmp_path / "rows.csv"
    source.write_text("id,topic\n1,cats\n")
    check_input_field(read_rows(source), None, source)  # a template may take no input
    blank = tmp_path / "blank.csv"
    blank.write_text("id,text\n1,\n")
    check_input_field(read_rows(blank), None, blank, required=True)  # each row says its cell is empty
    with pytest.raises(ConfigError):
        check_input_field(read_rows(source), None, source, required=True)


# ---- ner: what "no entities" means -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "script"),
    [
        ("习近平访问了北京大学。", "Han"),
        ("مرحبا بكم في القاهرة", "Arabic"),
        ("दिल्ली में नरेंद्र मोदी", "Devanagari"),
        ("서울에서 김철수를 만났다", "Hangul"),
        ("Путин приехал в Москву.", None),
        ("Marie Curie moved to Paris.", None),
        ("1999 — 2024!", None),
    ],
)
def test_the_script_without_capitals_is_named(text: str, script: str | None) -> None:
    assert caseless_script(text) == script


def test_ner_says_why_it_finds_nothing_in_a_script_without_capitals() -> None:
    """Before: "(no entities)", as if the text named nobody."""
    result = get_tool("ner").run("习近平访问了北京大学。", RecordingFake())
    assert result.entities == []
    assert result.to_text() == (
        "(no entities: ner finds names by their capital letters, and most of this text is in Han script, "
        "which has none: names written in it are not found)"
    )
    assert result.to_dict()["note"].startswith("ner finds names by their capital letters")


def test_ner_says_an_empty_input_is_empty() -> None:
    result = get_tool("ner").run("  \n", RecordingFake())
    assert result.to_text() == "(no entities: the input is empty)"


def test_an_entities_result_without_a_note_keeps_its_json_shape() -> None:
    assert EntitiesResult([], ["PERSON"]).to_dict() == {"entities": [], "types": ["PERSON"]}
    assert EntitiesResult([], ["PERSON"]).to_text() == "(no entities)"


# ---- a required parameter no row gives --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "content", "where"),
    [
        ("rows.csv", "id,text,to\n1,Hello.,fr\n", "the rows of a CSV file cannot give parameters"),
        ("rows.jsonl", '"Hello."\n{"text": "Hi.", "params": {"to": null}}\n', 'gives it in its "params"'),
    ],
)
def test_a_required_parameter_that_no_row_gives_is_refused_before_the_model_loads(
    tmp_path: Path, assistant_home: Path, name: str, content: str, where: str
) -> None:
    """Before: the model loaded, then every row failed for the want of --to."""
    source = tmp_path / name
    source.write_text(content)
    result = _invoke("translate", "-m", MISSING_MODEL, "--batch", str(source))
    assert result.exit_code == 2
    assert "tool 'translate' needs the parameter 'to' (--to / --target); " in result.stderr and where in result.stderr


def test_a_row_giving_one_parameter_under_two_names_fails_instead_of_picking_one() -> None:
    """Before: {"from": "en", "source": "de"} ran from German, without a word."""
    row = Row(1, {"text": "Hello."}, params={"to": "fr", "from": "en", "source": "de"})
    record = run_tool_row(get_tool("translate"), row, RecordingFake(reply="Bonjour."))
    assert record["error"] == "tool 'translate': parameter 'source' given twice in the row's params ('from' and 'source')"


# ---- --resume on another model ------------------------------------------------------------------------------------
def test_a_resume_on_another_model_is_refused_before_any_row_runs(finished_sentiment_batch: tuple[Path, Path]) -> None:
    """Before: half the file labelled by one model, half by another, and no line said which."""
    rows, out = finished_sentiment_batch
    assert (_lines(out)[0]["model"], _lines(out)[0]["backend"]) == ("m", "fake")
    before = out.read_bytes()
    result = _invoke("sentiment", "-b", "fake", "-m", "other", "--batch", str(rows), "--out", str(out), "--resume")
    assert result.exit_code == 1
    assert "--resume: the rows in" in result.stderr and "ran on m (fake), this run on other (fake)" in result.stderr
    assert out.read_bytes() == before


def test_a_catalog_alias_is_the_same_model_on_resume() -> None:
    from assistant.tools.batch import _model_key

    assert _model_key({"model": "smollm2", "backend": "llama-cpp"}) == _model_key(
        {"model": "smollm2-135m-instruct", "backend": "llama-cpp"}
    )
    assert _model_key({"model": "smollm2", "backend": "llama-cpp"}) != _model_key({"model": "smollm2", "backend": "openai"})


# ---- input without words -------------------------------------------------------------------------------------------
def test_a_paragraph_without_letters_is_kept_as_it_is_by_translate() -> None:
    """Before: "!!!" came back as a German sentence, cut at its token budget."""
    backend = RecordingFake(reply="Bonjour.")
    result = get_tool("translate").run("!!! 2024 😀\n\nHello.", backend, to="fr")
    assert result.translation == "!!! 2024 😀\n\nBonjour."
    assert (backend.generations, result.finish_reason, result.paragraphs) == (1, "stop", 2)


def test_summarize_refuses_input_with_no_words() -> None:
    """Before: "😀" was "summarised" as a paragraph about a company's carbon emissions."""
    backend = RecordingFake(reply="An invented summary.")
    with pytest.raises(ToolError, match="nothing to summarize: the input has no words, only symbols or punctuation"):
        get_tool("summarize").run("😀 !!! …", backend)
    assert backend.generations == 0
    short = RecordingFake(reply="The year 2024.")
    result = get_tool("summarize").run("2024", short)  # round 11: too short to summarize, shown as it is
    assert (result.summary, result.note is not None, short.generations) == ("2024", True, 0)


def test_csv_header_names_are_trimmed(tmp_path: Path) -> None:
    """Before: "id, text" named a column " text", and every row failed with 'no "text" field'."""
    source = tmp_path / "rows.csv"
    source.write_text("id, text , topic\n1, great,cats\n")
    (row,) = read_rows(source)
    assert (row.id, row.input_text(), row.values["topic"]) == ("1", " great", "cats")


def test_a_rows_history_turn_records_the_parameters_it_ran_with(fake_backend: None, tmp_path: Path) -> None:
    """Before: a row with its own "params" was recorded with the command's (labels positive,negative)."""
    from assistant.history.store import HistoryStore

    rows, db = tmp_path / "rows.jsonl", tmp_path / "h.db"
    rows.write_text('{"text": "good", "params": {"labels": "yes,no"}}\n')
    assert _invoke("sentiment", "-b", "fake", "-m", "m", "--db", str(db), "--batch", str(rows)).exit_code == 0
    with HistoryStore.open(db) as store:
        (reply,) = [m for m in store.messages(1) if m.role == "assistant"]
    assert reply.params is not None and reply.params["labels"] == ["yes", "no"]


def test_a_jsonl_row_with_nan_or_infinity_fails_on_its_own(tmp_path: Path) -> None:
    """Before: "id": NaN was copied into the result line, which no strict JSON reader (jq) accepts."""
    source = tmp_path / "rows.jsonl"
    source.write_text('{"id": NaN, "text": "x"}\n{"text": "y", "n": -Infinity}\n{"text": "z", "n": 1.5}\n')
    rows = read_rows(source)
    assert [row.error for row in rows] == [
        "row 1 is not JSON: NaN is not a JSON value",
        "row 2 is not JSON: -Infinity is not a JSON value",
        None,
    ]


def test_a_file_name_holding_a_nul_is_one_clear_error() -> None:
    """Before: a bare ValueError ("embedded null byte") from open(), a traceback (a config's chat_template)."""
    from assistant.input_files import read_input_file

    with pytest.raises(ConfigError, match=r"chat_template file 'a\\x00b' is not a file name: it holds a NUL character"):
        read_input_file("a\0b", "chat_template file")


def test_a_template_batch_resumed_against_another_database_starts_a_conversation_of_its_own(
    fake_backend: None, tmp_path: Path
) -> None:
    mine, theirs = tmp_path / "mine.jsonl", tmp_path / "theirs.jsonl"
    mine.write_text('"first question"\n"second question"\n')
    theirs.write_text('"something else"\n')
    out_a, out_b = tmp_path / "out_a.jsonl", tmp_path / "out_b.jsonl"
    for db, rows, out in ((tmp_path / "a.db", mine, out_a), (tmp_path / "b.db", theirs, out_b)):
        command = ("prompt", "-t", "chat", "-b", "fake", "-m", "m", "--db", str(db), "--batch", str(rows), "--out", str(out))
        assert _invoke(*command).exit_code == 0
    out_a.write_text(out_a.read_text().splitlines()[0] + "\n")
    resumed = _invoke(
        "prompt", "-t", "chat", "-b", "fake", "-m", "m", "--db", str(tmp_path / "b.db"), "--batch", str(mine),
        "--out", str(out_a), "--resume",
    )
    assert resumed.exit_code == 0, resumed.output
    assert "in this history holds another batch" in resumed.stderr and "(history: conversation 2)" in resumed.stderr


# ---- --resume into a file that is not a results file ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"my notes line 1\nmy precious last line", "the last line of"),
        (b"my notes line 1\nmy last line\n", "holds no batch results"),
    ],
)
def test_a_resume_into_a_file_that_holds_no_results_is_refused_and_leaves_it_whole(
    tmp_path: Path, assistant_home: Path, content: bytes, error: str
) -> None:
    """Before: --out notes.txt --resume cut the notes' last line and appended results to the rest."""
    rows, notes = tmp_path / "rows.jsonl", tmp_path / "notes.txt"
    rows.write_text('"good"\n')
    notes.write_bytes(content)
    result = _invoke("sentiment", "-m", MISSING_MODEL, "--batch", str(rows), "--out", str(notes), "--resume")
    assert result.exit_code == 1 and error in result.stderr and "cannot load" not in result.stderr
    assert notes.read_bytes() == content


@pytest.mark.parametrize("content", [b'{"row": 1, "id": 1, "inp', b'{"ro', b"\n\n", b'\xef\xbb\xbf{"row": 1, "i'])
def test_a_results_file_cut_in_its_first_line_still_resumes(fake_backend: None, tmp_path: Path, content: bytes) -> None:
    rows, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    rows.write_text('"good"\n"bad"\n')
    out.write_bytes(content)
    result = _invoke("sentiment", "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out), "--resume")
    assert result.exit_code == 0, result.output
    assert [line["row"] for line in _lines(out)] == [1, 2]

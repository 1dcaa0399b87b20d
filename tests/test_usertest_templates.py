"""Found by using templates, batches and history as a demanding user would (each test failed before its fix)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from assistant.backends.fake import FakeBackend
from assistant.batch import completed_rows, iter_results, read_rows
from assistant.templates import load_template
from assistant.templates.batch import run_batch

# Characters JSON keeps raw inside strings that str.splitlines() treats as line breaks.
LINE_SEPARATORS = ["\u2028", "\u2029", "\x85"]


@pytest.fixture
def template(user_templates: Path, write_file: Any) -> Any:
    write_file(user_templates, "b.jinja", "---\nvariables: [input]\n---\n{{ input }}\n")
    return load_template("b")


def fake(reply: Any = None) -> FakeBackend:
    engine = FakeBackend(reply=reply)
    engine.load("fake-model")
    return engine


@pytest.mark.parametrize("separator", LINE_SEPARATORS)
def test_a_jsonl_row_holding_a_unicode_line_separator_is_one_row(tmp_path: Path, separator: str) -> None:
    """``json.dumps(..., ensure_ascii=False)`` writes U+2028 raw: the row is valid and stays whole."""
    path = tmp_path / "in.jsonl"
    rows = [{"id": 1, "text": f"first{separator}second"}, {"id": 2, "text": "plain"}]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    read = read_rows(path)
    assert [(r.number, r.id, r.error, r.input_text()) for r in read] == [
        (1, 1, None, f"first{separator}second"),
        (2, 2, None, "plain"),
    ]


def test_jsonl_rows_split_at_lf_crlf_and_cr(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'"a"\r\n"b"\r"c"\n\n"d"')
    assert [(r.number, r.input_text()) for r in read_rows(path)] == [(1, "a"), (2, "b"), (3, "c"), (5, "d")]


@pytest.mark.parametrize("separator", LINE_SEPARATORS)
def test_resume_counts_a_row_whose_output_holds_a_line_separator_as_done(
    template: Any, tmp_path: Path, separator: str
) -> None:
    """A reply with U+2028 in it was not seen on resume, so the row ran (and was written) twice."""
    rows_file = tmp_path / "in.jsonl"
    rows_file.write_text('{"text": "one"}\n{"text": "two"}\n')
    rows = read_rows(rows_file)
    out = tmp_path / "out.jsonl"
    first = run_batch(template, rows, fake(f"line{separator}break"), out=out)
    assert (first.done, first.failed) == (2, 0)
    assert completed_rows(out) == {1, 2}
    engine = fake("again")
    again = run_batch(template, rows, engine, out=out, resume=True)
    assert (again.skipped, again.done) == (2, 0) and engine.calls == []
    assert [(r["row"], r["output"]) for r in iter_results(out)] == [
        (1, f"line{separator}break"),
        (2, f"line{separator}break"),
    ]


def test_an_examples_file_row_holding_a_line_separator_is_one_example(user_templates: Path, write_file: Any) -> None:
    write_file(
        user_templates,
        "ex.jsonl",
        json.dumps({"input": "a\u2028b", "output": "c"}, ensure_ascii=False) + "\n",
    )
    write_file(user_templates, "fs.jinja", "---\nstrategy: few-shot\nexamples: ex.jsonl\n---\n{{ input }}\n")
    assert [dict(e) for e in load_template("fs").examples] == [{"input": "a\u2028b", "output": "c"}]


def test_a_null_value_means_not_given_so_the_default_applies(user_templates: Path, write_file: Any) -> None:
    """``{"lang": null}`` rendered the text ``None`` into the prompt instead of the default."""
    from assistant.templates import render_template

    write_file(user_templates, "d.jinja", "---\nvariables: [input, {name: lang, default: en}]\n---\n[{{ lang }}] {{ input }}\n")
    assert render_template("d", {"lang": None}, input="hi")[-1].content == "[en] hi"


def test_a_null_field_in_a_batch_row_keeps_the_shared_value(user_templates: Path, write_file: Any, tmp_path: Path) -> None:
    """A JSONL ``null`` reads like an empty CSV cell: the ``-v`` value shared by every row applies."""
    import io

    write_file(user_templates, "d.jinja", "---\nvariables: [input, {name: lang, default: en}]\n---\n[{{ lang }}] {{ input }}\n")
    rows_file = tmp_path / "in.jsonl"
    rows_file.write_text('{"text": "a", "lang": null}\n{"text": "b", "lang": "de"}\n{"text": "c"}\n')
    sink = io.StringIO()
    run_batch(load_template("d"), read_rows(rows_file), fake(), variables={"lang": "fr"}, stdout=sink)
    records = [json.loads(line) for line in sink.getvalue().splitlines()]
    assert [r["output"] for r in records] == ["Echo: [fr] a", "Echo: [de] b", "Echo: [fr] c"]
    assert records[0]["vars"] == {"lang": "fr", "input": "a"}


def test_bytes_that_are_not_utf8_fail_their_row_instead_of_becoming_replacement_characters(tmp_path: Path) -> None:
    """A Latin-1 ``café`` ran as ``caf\\ufffd`` and "succeeded": the data changed without a word."""
    jsonl_file = tmp_path / "in.jsonl"
    jsonl_file.write_bytes(b'{"id": 1, "text": "caf\xe9"}\n{"id": 2, "text": "plain"}\n')
    csv_file = tmp_path / "in.csv"
    csv_file.write_bytes(b"id,text\n1,caf\xe9\n2,plain\n")
    for path, first_id in ((jsonl_file, 1), (csv_file, "1")):
        rows = read_rows(path)
        assert [(r.number, r.id) for r in rows] == [(1, first_id), (2, 2 if path is jsonl_file else "2")]
        assert rows[0].error == "row 1 is not valid Unicode (byte 0xe9 at character 4 of 'text')"
        assert rows[0].values == {} and rows[1].error is None and rows[1].input_text() == "plain"


def test_a_byte_order_mark_and_crlf_are_not_part_of_the_data(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(b"\xef\xbb\xbfid,text\r\n7,hello\r\n")
    assert [(r.id, r.values) for r in read_rows(path)] == [("7", {"text": "hello"})]


def test_null_params_in_a_row_are_no_params(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "fine", "params": null}\n{"text": "x", "params": 3}\n')
    rows = read_rows(path)
    assert (rows[0].error, rows[0].params) == (None, {})
    assert rows[1].error == 'row 2: "params" must be an object'


def test_a_csv_cell_larger_than_128_kib_is_read_like_any_other(tmp_path: Path) -> None:
    """The csv module's default cell limit raised ``_csv.Error`` out of read_rows: a traceback."""
    path = tmp_path / "in.csv"
    path.write_text("id,text\n1,short\n2," + "x" * 200_000 + "\n3,after\n")
    rows = read_rows(path)
    assert [(r.id, len(r.input_text() or ""), r.error) for r in rows] == [("1", 5, None), ("2", 200_000, None), ("3", 5, None)]


def test_malformed_csv_quoting_fails_its_row_instead_of_swallowing_the_next_ones(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text('id,text\n1,"a"b\n2,ok\n3,"unterminated\n4,lost\n')
    rows = read_rows(path)
    assert [(r.number, r.id, r.error) for r in rows] == [
        (1, None, "row 1 (line 2) is not valid CSV: ',' expected after '\"'"),
        (2, "2", None),
        (3, None, "row 3 (line 4) is not valid CSV: unexpected end of data"),
    ]


def test_csv_with_cr_line_ends_and_blank_lines_before_the_header(tmp_path: Path) -> None:
    """Old Excel for Mac writes CR alone; that raised "new-line character seen in unquoted field"."""
    path = tmp_path / "in.csv"
    path.write_bytes(b"\r\n\r\nid,text\r1,hello\r\r2,\"two\r\nlines\"\r")
    assert [(r.number, r.id, r.input_text()) for r in read_rows(path)] == [(1, "1", "hello"), (2, "2", "two\r\nlines")]


def test_a_csv_header_naming_a_field_twice_is_refused(tmp_path: Path) -> None:
    from assistant.errors import ConfigError

    path = tmp_path / "in.csv"
    path.write_text("id,text,text\n1,a,b\n")
    with pytest.raises(ConfigError, match="the header names 'text' more than once"):
        read_rows(path)

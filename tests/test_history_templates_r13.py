"""Round 13, history and templates: defects a user met on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from assistant.cli import main
from assistant.history import HistoryStore


def cli(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input)


def test_repair_takes_a_relative_db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``history repair --db history.db`` (relative, as every other command takes it) gave a traceback.

    The check before the repair opened the file as a ``file:`` URI, which a relative path has not.
    """
    monkeypatch.chdir(tmp_path)
    with HistoryStore.open(tmp_path / "rel.db") as store:
        conversation = store.create_conversation(title="kept")
        store.start_turn(conversation.id, "a word to find")
    result = cli("history", "repair", "--db", "rel.db")
    assert result.exit_code == 0, result.output
    assert "rebuilt the search index (2 messages)" in result.output
    assert cli("history", "search", "find", "--db", "rel.db").output.count("find") == 1


def test_a_batch_row_giving_a_text_variable_a_list_fails_that_row(tmp_path: Path, fakes: list) -> None:
    """``{"text": "x", "task": ["a"]}`` for zero-shot (``task`` defaults to text) sent the model
    Python's ``['a']``; ``"task": false`` turned off an ``{% if task %}`` that any text turns on.

    A value of another type than the default's is refused for that row, as it is for a number's.
    """
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        '{"text": "x", "task": ["a"]}\n{"text": "y", "task": false}\n{"text": "z", "task": 5}\n', encoding="utf-8"
    )
    out = tmp_path / "out.jsonl"
    result = cli("prompt", "-b", "fake", "--no-log", "-t", "zero-shot", "--batch", str(rows), "--out", str(out))
    assert result.exit_code == 1, result.output
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [line["output"] for line in lines[:2]] == [None, None]
    assert "variable 'task' takes text" in lines[0]["error"] and '["a"]' in lines[0]["error"]
    assert "variable 'task' takes text" in lines[1]["error"]
    assert lines[2]["error"] is None and lines[2]["output"].startswith("Echo: 5")  # a number reads as text


def test_render_template_refuses_bytes_and_names_that_are_not_text() -> None:
    """``input=b"..."`` rendered ``b'...'`` into the prompt; a variable named ``5`` failed with
    "sequence item 0: expected str instance, int found"."""
    from assistant import render_template

    with pytest.raises(TypeError, match="variable 'input' is bytes; decode it to text first"):
        render_template("chat", input=b"hello")
    with pytest.raises(TypeError, match="variable 'task' is bytes"):
        render_template("zero-shot", {"task": bytearray(b"t")}, input="x")
    with pytest.raises(TypeError, match=r"variable names must be text, not int \(5\)"):
        render_template("zero-shot", {5: "x"}, input="x")


def test_template_from_string_checks_its_name_and_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``name="../x"`` moved the examples' base out of the current directory, so a template's
    ``examples: creds.jsonl`` read the parent's file; a text that is not a string was an AttributeError."""
    from assistant.errors import TemplateError
    from assistant.templates import template_from_string

    (tmp_path / "creds.jsonl").write_text('{"input": "secret", "output": "s3cr3t"}\n', encoding="utf-8")
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    text = "---\nstrategy: few-shot\nexamples: creds.jsonl\n---\n{{ input }}"
    with pytest.raises(TemplateError, match="invalid template name '../x'"):
        template_from_string(text, name="../x")
    with pytest.raises(TemplateError, match="invalid template name ''"):
        template_from_string("{{ input }}", name="")
    with pytest.raises(TypeError, match="takes the template's text, not int"):
        template_from_string(5)  # type: ignore[arg-type]
    assert template_from_string("{{ input }}", name="t.jinja").name == "t"


def test_templates_show_prints_a_broken_template_then_its_error(user_templates: Path) -> None:
    """``templates show NAME`` of a template with a syntax error printed only the error: the
    file its author had to fix was the one ``show`` would not print."""
    (user_templates / "broken.jinja").write_text("---\nvariables: [input]\n---\n{{ input \n", encoding="utf-8")
    result = CliRunner().invoke(main, ["templates", "show", "broken"])
    assert result.exit_code == 1
    assert result.stdout == "---\nvariables: [input]\n---\n{{ input \n"
    assert "broken.jinja (user)" in result.stderr and "syntax error" in result.stderr


def test_an_empty_input_field_is_refused_not_taken_as_not_given(tmp_path: Path, fakes: list) -> None:
    """``--input-field "$FIELD"`` with FIELD unset ran every row on its ``text`` instead of the
    field meant; ``--out ""`` and ``--batch ""`` were already refused."""
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"text": "wrong", "review": "meant"}\n', encoding="utf-8")
    result = cli("prompt", "-b", "fake", "--no-log", "-t", "chat", "--batch", str(rows), "--input-field", "")
    assert result.exit_code == 2
    assert "--input-field is empty" in result.output
    assert not fakes  # refused before any model was made


def test_input_field_id_says_what_the_id_field_is(tmp_path: Path, fakes: list) -> None:
    """``--input-field id`` said "no row of rows.jsonl has that field" of rows that all had one:
    ``id`` (and ``params``) are taken out of a row's values for what they mean to every row."""
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"id": "r1", "text": "a"}\n', encoding="utf-8")
    result = cli("prompt", "-b", "fake", "--no-log", "-t", "chat", "--batch", str(rows), "--input-field", "id")
    assert result.exit_code == 1
    assert "--input-field 'id': that field is the row's id, copied into its result, not an input text" in result.output
    assert "no row" not in result.output


def test_a_template_batch_whose_rows_all_lack_the_input_is_refused_before_the_model_loads(
    tmp_path: Path, fakes: list
) -> None:
    """A CSV saved with ";" (one column, ``id;text``) loaded the model and failed every row, one line
    each, where the same file given to a tool batch was refused at once, naming its fields."""
    rows = tmp_path / "rows.csv"
    rows.write_text("id;text\n1;hello\n2;world\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = cli("prompt", "-b", "fake", "--no-log", "-t", "zero-shot", "--batch", str(rows), "--out", str(out))
    assert result.exit_code == 1
    assert 'no row of' in result.output and 'has a "text" or "input" field (its fields: id;text)' in result.output
    assert not fakes and not out.exists()
    # -v input=... gives every row its input: nothing to refuse.
    result = cli("prompt", "-b", "fake", "--no-log", "-t", "zero-shot", "--batch", str(rows), "-v", "input=q")
    assert result.exit_code == 0, result.output


def test_an_example_value_is_typed_as_a_call_value_is(user_templates: Path) -> None:
    """An example's ``task: [a, b]`` for a variable whose default is text wrote Python's ``['a', 'b']``
    into the few-shot prompt; its ``count: "3"`` for a number stayed text (``{{ count + 1 }}`` failed)."""
    from assistant import render_template
    from assistant.errors import TemplateError

    (user_templates / "ex.jinja").write_text(
        "---\nstrategy: few-shot\nvariables:\n  - {name: task, default: do it}\n  - input\n"
        "examples:\n  - {task: [a, b], input: q, output: r}\n---\n{{ task }} {{ input }}\n",
        encoding="utf-8",
    )
    with pytest.raises(TemplateError, match=r"ex.jinja \(example #1\): .*variable 'task' takes text"):
        render_template("ex", input="hi")
    (user_templates / "count.jinja").write_text(
        "---\nstrategy: few-shot\nvariables:\n  - {name: count, default: 1}\n  - input\n"
        "examples:\n  - {count: '3', input: q, output: r}\n---\n{{ count + 1 }} {{ input }}\n",
        encoding="utf-8",
    )
    messages = render_template("count", input="hi")
    assert [m.content for m in messages] == ["4 q", "r", "2 hi"]


def test_turn_params_with_nan_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    """``TurnMeta(params={"temperature": nan})`` was stored as ``NaN``, and ``history export
    --format json`` of the conversation then printed a document no JSON reader takes."""
    from assistant.errors import HistoryError
    from assistant.history import TurnMeta

    with HistoryStore.open(tmp_path / "h.db") as store:
        conversation = store.create_conversation()
        for bad in (float("nan"), float("inf")):
            with pytest.raises(HistoryError, match="meta.params must be JSON of finite numbers"):
                store.start_turn(conversation.id, "hello", TurnMeta(params={"temperature": bad}))
            with pytest.raises(HistoryError, match="meta.params must be JSON of finite numbers"):
                store.create_conversation(meta=TurnMeta(params={"top_p": bad}))
        assert store.messages(conversation.id, "all") == []
        assert len(store.list_conversations()) == 1


def test_a_json_lines_row_naming_a_field_twice_fails_on_its_own(tmp_path: Path) -> None:
    """``{"text": "a", "text": "b"}`` ran on "b" without a word (Python's reader keeps the last),
    where a CSV header naming a field twice is refused; nested ``params`` the same."""
    from assistant.batch import read_rows

    rows_file = tmp_path / "rows.jsonl"
    rows_file.write_text(
        '{"text": "a", "text": "b"}\n{"text": "x", "params": {"max_tokens": 3, "max_tokens": 4}}\n{"text": "ok"}\n',
        encoding="utf-8",
    )
    rows = read_rows(rows_file)
    assert [row.error for row in rows] == [
        "row 1 gives the field 'text' twice; give it once",
        "row 2 gives the field 'max_tokens' twice; give it once",
        None,
    ]
    assert rows[2].values == {"text": "ok"}

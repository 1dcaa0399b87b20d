"""Round 10, batches: a template batch's lines record its ``-s`` and ``--examples-as`` and a resume with
other ones is refused; stop sequences given in another order are the same setting; the tool batch's resume
check is the shared one (:func:`assistant.batch.provenance.check_resume_made`).

Each test failed before its fix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from assistant.backends.fake import FakeBackend
from assistant.batch import read_rows
from assistant.batch.provenance import check_resume_made
from assistant.cli import main
from assistant.errors import ConfigError
from assistant.templates import template_from_string
from assistant.templates.batch import check_resume, run_batch
from assistant.tools import get_tool
from assistant.tools.batch import check_resume as check_tool_resume


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def batch(source: Path, out: Path, *extra: str, template: str = "few-shot") -> Result:
    return cli("prompt", "-t", template, "-b", "fake", "-m", "m", "--batch", str(source), "--out", str(out), *extra)


def loaded() -> FakeBackend:
    engine = FakeBackend()
    engine.load("fake-model")
    return engine


@pytest.fixture
def rows_file(tmp_path: Path) -> Path:
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": 1, "text": "one"}\n')
    return source


def grow(source: Path) -> None:
    source.write_text('{"id": 1, "text": "one"}\n{"id": 2, "text": "two"}\n')


# ---- 1. -s and --examples-as are recorded and compared ---------------------------------------------------------
def test_each_line_records_the_system_prompt_and_the_examples_layout(
    fakes: list[FakeBackend], rows_file: Path, tmp_path: Path
) -> None:
    """Before: neither was on the line; a resume with another -s mixed two ways of asking in one file."""
    out = tmp_path / "out.jsonl"
    assert batch(rows_file, out, "-s", "Be terse.", "--examples-as", "inline").exit_code == 0
    (line,) = lines(out)
    assert line["system"] == "Be terse." and line["examples_as"] == "inline"
    plain = tmp_path / "plain.jsonl"
    assert batch(rows_file, plain).exit_code == 0
    (line,) = lines(plain)
    assert line["system"] is None and line["examples_as"] == "turns"  # the template's own layout


@pytest.mark.parametrize(
    ("first", "then", "message"),
    [
        (("-s", "Be terse."), ("-s", "Be chatty."), "ran with -s 'Be terse.', this run has -s 'Be chatty.'"),
        (("-s", "Be terse."), (), "ran with -s 'Be terse.', this run has no -s"),
        ((), ("-s", ""), "ran with no -s, this run has -s ''"),
        ((), ("--examples-as", "inline"), "ran with --examples-as turns, this run has --examples-as inline"),
    ],
)
def test_a_resume_with_another_system_prompt_or_layout_is_refused(
    fakes: list[FakeBackend], rows_file: Path, tmp_path: Path,
    first: tuple[str, ...], then: tuple[str, ...], message: str,
) -> None:
    out = tmp_path / "out.jsonl"
    assert batch(rows_file, out, *first).exit_code == 0
    grow(rows_file)
    before = out.read_bytes()
    resumed = batch(rows_file, out, "--resume", *then)
    assert resumed.exit_code == 1
    (error,) = resumed.stderr.strip().splitlines()
    assert error.startswith("error: --resume: the rows in ") and message in error and "--force" in error
    assert out.read_bytes() == before  # no row of the other kind was added


def test_the_same_system_prompt_and_layout_resume(fakes: list[FakeBackend], rows_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    assert batch(rows_file, out, "-s", "Be terse.").exit_code == 0
    grow(rows_file)
    # --examples-as turns is the template's own layout: the same prompts as giving no flag.
    resumed = batch(rows_file, out, "--resume", "-s", "Be terse.", "--examples-as", "turns")
    assert resumed.exit_code == 0, resumed.output
    assert [line["id"] for line in lines(out)] == [1, 2]


def test_examples_as_on_a_template_without_examples_is_no_difference(
    fakes: list[FakeBackend], rows_file: Path, tmp_path: Path
) -> None:
    """Nothing to lay out: the flag changes no prompt, so a resume adding it is the same run."""
    out = tmp_path / "out.jsonl"
    assert batch(rows_file, out, template="chat").exit_code == 0
    assert lines(out)[0]["examples_as"] is None
    grow(rows_file)
    resumed = batch(rows_file, out, "--resume", "--examples-as", "inline", template="chat")
    assert resumed.exit_code == 0, resumed.output


def test_run_batch_itself_refuses_another_system_prompt_before_any_row(tmp_path: Path) -> None:
    """The check before the model loads may not know -s; the runner's own check, before any row, does."""
    template = template_from_string("{{ input }}", name="t")
    out = tmp_path / "out.jsonl"
    source = tmp_path / "in.jsonl"
    source.write_text('"one"\n')
    assert run_batch(template, read_rows(source), loaded(), out=out, system="A").done == 1
    source.write_text('"one"\n"two"\n')
    with pytest.raises(ConfigError, match="ran with -s A, this run has -s B"):
        run_batch(template, read_rows(source), loaded(), out=out, resume=True, system="B")
    assert len(lines(out)) == 1
    # check_resume without system/examples_as (the CLI's call before the model loads) compares neither.
    assert check_resume(template, out, True) is None


def test_a_file_of_round_9_is_resumed_with_a_note_naming_what_is_unchecked(
    fakes: list[FakeBackend], rows_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    assert batch(rows_file, out, "-s", "Be terse.").exit_code == 0
    (line,) = lines(out)
    del line["system"], line["examples_as"]  # as round 9 wrote it
    out.write_text(json.dumps(line) + "\n")
    grow(rows_file)
    template = template_from_string("{{ input }}", name="few-shot")
    note = check_resume(template, out, True, system="Other", examples_as="inline")
    assert note is not None and "do not record the -s and --examples-as values" in note
    resumed = batch(rows_file, out, "--resume", "-s", "Other")
    assert resumed.exit_code == 0, resumed.output
    assert [line["id"] for line in lines(out)] == [1, 2]


def test_a_long_or_escaping_system_prompt_is_shown_clipped_and_visible(
    fakes: list[FakeBackend], rows_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    assert batch(rows_file, out, "-s", "plain").exit_code == 0
    grow(rows_file)
    resumed = batch(rows_file, out, "--resume", "-s", "\x1b[31m" + "y" * 500)
    assert resumed.exit_code == 1
    assert "\x1b" not in resumed.stderr and len(resumed.stderr) < 400


# ---- 2. stop sequences are a set ------------------------------------------------------------------------------
def test_stop_sequences_in_another_order_are_the_same_setting(
    fakes: list[FakeBackend], rows_file: Path, tmp_path: Path
) -> None:
    """Before: ``-o stop=b -o stop=a`` onto a file made with ``stop=a, stop=b`` was refused as other settings."""
    out = tmp_path / "out.jsonl"
    assert batch(rows_file, out, "-o", "stop=a", "-o", "stop=b").exit_code == 0
    grow(rows_file)
    resumed = batch(rows_file, out, "--resume", "-o", "stop=b", "-o", "stop=a", "-o", "stop=a")
    assert resumed.exit_code == 0, resumed.output
    assert [line["id"] for line in lines(out)] == [1, 2]


def test_other_stop_sequences_are_still_refused(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text(json.dumps({"row": 1, "id": None, "sampling": {"stop": ["a", "b"]}, "error": None}) + "\n")
    made = {"sampling": {"stop": ["b", "c"]}}
    with pytest.raises(ConfigError, match="ran with -o stop=a,b, this run has -o stop=b,c"):
        check_resume_made(out, True, made, {"sampling": "-o"})
    # Only the stop sequences are a set: a -v value's order is its meaning.
    out.write_text(json.dumps({"row": 1, "id": None, "shared_vars": {"stop": ["a", "b"]}, "error": None}) + "\n")
    with pytest.raises(ConfigError):
        check_resume_made(out, True, {"shared_vars": {"stop": ["b", "a"]}}, {"shared_vars": "-v"})


# ---- 3. the tool batch's check is the shared one ---------------------------------------------------------------
def test_a_tool_batchs_parameters_compare_as_a_template_batchs_settings(tmp_path: Path) -> None:
    """One definition: the tool batch's check goes through check_resume_made, so a value's JSON is
    what compares (a tuple default and the list read back are one value), and a parameter the line
    does not name (an older version's tool) is no difference."""
    tool = get_tool("sentiment")
    out = tmp_path / "out.jsonl"
    record = {"row": 1, "id": "a", "tool": "sentiment", "params": {"labels": ["positive", "negative"]}, "error": None}
    out.write_text(json.dumps(record) + "\n")
    rows = read_rows_from(tmp_path, '{"id": "a", "text": "x"}\n{"id": "b", "text": "y"}\n')
    check_tool_resume(tool, rows, out, True, {"labels": ("positive", "negative"), "calibrate": False})
    with pytest.raises(ConfigError, match="ran with labels=positive,negative, this run has labels=happy,sad"):
        check_tool_resume(tool, rows, out, True, {"labels": ["happy", "sad"]})
    # The row has its own params now: its line ran with other values by design, not compared.
    own = read_rows_from(tmp_path, '{"id": "a", "text": "x", "params": {"labels": "p,n"}}\n')
    check_tool_resume(tool, own, out, True, {"labels": ["happy", "sad"]})


def read_rows_from(tmp_path: Path, text: str) -> list[Any]:
    source = tmp_path / "rows.jsonl"
    source.write_text(text)
    return read_rows(source)


# ---- the JSON schema the answers were held to is recorded and compared too ------------------------------------
def test_a_schema_batch_records_its_schema_and_the_bare_system_prompt(
    fakes: list[FakeBackend], rows_file: Path, tmp_path: Path
) -> None:
    """Before: a ``--schema A --batch`` file resumed with ``--schema B`` mixed two kinds of answer unmarked."""
    out = tmp_path / "out.jsonl"
    first = cli("prompt", "--schema", "name", "-s", "Be terse.", "-b", "fake", "-m", "m",
                "--batch", str(rows_file), "--out", str(out))
    assert first.exit_code in (0, 1), first.output
    (line,) = lines(out)
    assert line["system"] == "Be terse."  # not the schema's instruction the batch added to it
    assert line["schema"]["properties"] == {"name": {"type": "string"}}
    grow(rows_file)
    before = out.read_bytes()
    resumed = cli("prompt", "--schema", "age int", "-s", "Be terse.", "-b", "fake", "-m", "m",
                  "--batch", str(rows_file), "--out", str(out), "--resume")
    assert resumed.exit_code == 1
    (error,) = resumed.stderr.strip().splitlines()
    assert "ran with --schema '{" in error and "this run has --schema '{" in error and "age" in error
    assert out.read_bytes() == before
    assert all(fake.loaded_model is None for fake in fakes[1:])  # refused before the model loaded


def test_a_template_batch_with_another_schema_is_refused(fakes: list[FakeBackend], rows_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    assert batch(rows_file, out, "--schema", "name", template="chat").exit_code in (0, 1)
    assert lines(out)[0]["schema"] is not None
    grow(rows_file)
    resumed = batch(rows_file, out, "--resume", template="chat")
    assert resumed.exit_code == 1 and "this run has no --schema" in resumed.stderr


def test_a_schema_added_on_resume_is_refused_and_shown_whole(
    fakes: list[FakeBackend], rows_file: Path, tmp_path: Path
) -> None:
    """A schema is one value, not settings by name: none before and one now is a difference too."""
    out = tmp_path / "out.jsonl"
    assert batch(rows_file, out, template="chat").exit_code == 0
    grow(rows_file)
    resumed = batch(rows_file, out, "--resume", "--schema", "name", template="chat")
    assert resumed.exit_code == 1
    assert "ran with no --schema, this run has --schema '{" in resumed.stderr


def test_one_kind_check_for_template_and_tool_batches(tmp_path: Path) -> None:
    """Which batch wrote a file is read in one place (provenance.line_maker) for both checks."""
    from assistant.batch.provenance import check_resume_kind

    out = tmp_path / "out.jsonl"
    out.write_text(json.dumps({"row": 1, "id": None, "template": "chat", "prompt_hash": "x", "error": None}) + "\n")
    check_resume_kind(out, True, "template", "chat")
    with pytest.raises(ConfigError, match="holds a template batch's results, not tool 'ner''s"):
        check_resume_kind(out, True, "tool", "ner")
    with pytest.raises(ConfigError, match="holds results of template 'chat', not 'few-shot'"):
        check_resume_kind(out, True, "template", "few-shot")
    out.write_text(json.dumps({"row": 1, "id": None, "tool": "ner", "error": None}) + "\n")
    with pytest.raises(ConfigError, match="holds results of tool 'ner', not of template 'chat'"):
        check_resume_kind(out, True, "template", "chat")
    check_resume_kind(out, False, "template", "chat")  # not resuming: nothing to check


@pytest.mark.parametrize("name", ["-", "/dev/stdin"])
def test_a_batch_from_stdin_says_to_save_the_rows_to_a_file(fake_backend: None, name: str) -> None:
    """Before: ``--batch -`` said "batch file - must be .jsonl or .csv", naming no file the user had."""
    result = CliRunner().invoke(main, ["prompt", "-t", "chat", "-b", "fake", "-m", "m", "--batch", name], input='"hi"\n')
    assert result.exit_code != 0
    assert "not from a pipe or stdin; save them to one first" in result.stderr

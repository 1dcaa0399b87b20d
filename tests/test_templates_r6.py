"""Round 6, templates and batches as a user: include errors, typed params, per-row params, resume by id."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from assistant.batch import done_rows, read_rows
from assistant.errors import TemplateError
from assistant.templates import load_template, render_template
from assistant.templates.batch import run_batch
from .conftest import run_cli
from .test_templates_batch import backend, jsonl, lines

GREET = """\
---
variables: [who]
---
Hello {{ who }}.
{% include "_part" %}
"""


# ---- an error inside an included file names the include too ------------------------


@pytest.mark.parametrize(
    "partial, problem",
    [
        ("line one\n{{ nowhere }}\n", "'nowhere' is undefined"),
        ("line one\n{{ 1 +\n", "syntax error"),
        ("line one\n{{ ''.__class__ }}\n", "unsafe operation blocked"),
        ('line one\n{% include "_missing" %}\n', "template '_missing' not found"),
    ],
)
def test_an_error_in_a_partial_names_the_line_that_included_it(
    user_templates: Path, write_file: Any, partial: str, problem: str
) -> None:
    write_file(user_templates, "greet.jinja", GREET)
    write_file(user_templates, "_part.jinja", partial)
    with pytest.raises(TemplateError) as caught:
        render_template("greet", {"who": "Ann"})
    message = str(caught.value)
    assert f"_part.jinja:2: {problem}" in message
    # Line 5 of greet.jinja (front matter counted) is the include.
    assert message.endswith(f"(reached from {user_templates / 'greet.jinja'}:5)")


def test_a_nested_include_names_every_file_on_the_way(user_templates: Path, write_file: Any) -> None:
    write_file(user_templates, "greet.jinja", GREET)
    write_file(user_templates, "_part.jinja", "one\ntwo\n{% include '_inner' %}\n")
    write_file(user_templates, "_inner.jinja", "{{ nowhere }}\n")
    with pytest.raises(TemplateError) as caught:
        render_template("greet", {"who": "Ann"})
    assert str(caught.value) == (
        f"{user_templates / '_inner.jinja'}:1: 'nowhere' is undefined "
        f"(reached from {user_templates / '_part.jinja'}:3, {user_templates / 'greet.jinja'}:5)"
    )


def test_an_error_in_the_template_itself_has_no_reached_from(user_templates: Path, write_file: Any) -> None:
    write_file(
        user_templates, "solo.jinja", "---\nvariables: [who]\n---\n{% set x = who %}\n{{ x.__class__ }}\n"
    )
    with pytest.raises(TemplateError) as caught:
        render_template("solo", {"who": "Ann"})
    assert "solo.jinja:5: unsafe operation" in str(caught.value)
    assert "reached from" not in str(caught.value)


def test_a_refused_partial_names_the_include_that_asked_for_it(
    user_templates: Path, write_file: Any, tmp_path: Path
) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    write_file(user_templates, "greet.jinja", GREET)
    os.symlink(outside, user_templates / "_part.jinja")
    with pytest.raises(TemplateError) as caught:
        render_template("greet", {"who": "Ann"})
    assert str(caught.value).startswith(f"{user_templates / 'greet.jinja'}:5: template ")
    assert "symbolic link leading outside" in str(caught.value)


# ---- a template's params are typed when it loads ---------------------------------


@pytest.mark.parametrize(
    "params, message",
    [
        ("{stop: [1, 2]}", "stop in params must be a string or a list of strings, not [1, 2]"),
        ("{max_tokens: 5.5}", "max_tokens in params must be a whole number, not 5.5"),
        ("{max_tokens: '64'}", "max_tokens in params must be a whole number, not '64'"),
        ("{temperature: yes}", "temperature in params must be a number, not 'yes'"),
    ],
)
def test_template_params_of_the_wrong_type_are_refused_when_it_loads(
    user_templates: Path, write_file: Any, params: str, message: str
) -> None:
    write_file(
        user_templates, "p.jinja", f"---\nvariables: [input]\nparams: {params}\n---\n{{{{ input }}}}\n"
    )
    with pytest.raises(TemplateError, match="p.jinja: ") as caught:
        load_template("p")
    assert str(caught.value).endswith(message)


def test_template_params_of_the_right_types_load(user_templates: Path, write_file: Any) -> None:
    write_file(
        user_templates,
        "p.jinja",
        "---\nvariables: [input]\nparams: {stop: END, max_tokens: 9, temperature: 0, seed: ~, top_p: 1}\n---\n{{ input }}\n",
    )
    params = load_template("p").generation_params()
    assert (params.stop, params.max_tokens, params.temperature, params.seed) == (["END"], 9, 0.0, None)


# ---- a template batch row's params apply to that row -----------------------------


TEMPLATE = "---\nvariables: [input]\nparams: {max_tokens: 50}\n---\n{{ input }}\n"


@pytest.fixture
def template(user_templates: Path, write_file: Any) -> Any:
    write_file(user_templates, "b.jinja", TEMPLATE)
    return load_template("b")


def test_a_rows_params_override_the_template_and_command_for_that_row(template: Any, tmp_path: Path) -> None:
    rows = read_rows(
        jsonl(
            tmp_path / "in.jsonl",
            [
                {"id": 1, "text": "a", "params": {"max_tokens": 3, "stop": "x"}},
                {"id": 2, "text": "b"},
            ],
        )
    )
    engine = backend()
    out = tmp_path / "out.jsonl"
    summary = run_batch(
        template, rows, engine, out=out, params=template.generation_params({"temperature": 0})
    )
    assert (summary.done, summary.failed) == (2, 0)
    first, second = (call["params"] for call in engine.calls)
    assert (first.max_tokens, first.stop, first.temperature) == (3, ["x"], 0.0)
    assert (second.max_tokens, second.stop, second.temperature) == (50, [], 0.0)
    records = lines(out)
    assert records[0]["params"] == {"max_tokens": 3, "stop": "x"} and records[0]["finish_reason"] == "length"
    assert "params" not in records[1]


def test_bad_row_params_fail_that_row_only(template: Any, tmp_path: Path) -> None:
    rows = read_rows(
        jsonl(
            tmp_path / "in.jsonl",
            [
                {"text": "a", "params": {"temprature": 0}},
                {"text": "b", "params": {"max_tokens": 2.5}},
                {"text": "c", "params": {"top_p": 7}},
                {"text": "d", "params": {"json_schema": {"type": "object"}}},
                {"text": "e"},
            ],
        )
    )
    engine = backend()
    out = tmp_path / "out.jsonl"
    summary = run_batch(template, rows, engine, out=out)
    assert (summary.done, summary.failed) == (1, 4)
    errors = [r["error"] for r in lines(out)]
    assert errors[0] == "row 1: params: unknown key 'temprature' (did you mean 'temperature'?)"
    assert errors[1] == "row 2: max_tokens in params must be a whole number, not 2.5"
    assert errors[2] == "row 3: params: top_p must be in (0, 1]"
    assert errors[3].startswith("row 4: params: json_schema is set by 'output")
    assert errors[4] is None
    assert len(engine.calls) == 1  # no bad row reached the model


def test_cli_records_a_rows_own_params_in_the_history(
    fake_backend_plugin_file: Path, user_templates: Path, tmp_path: Path
) -> None:
    (user_templates / "b.jinja").write_text(TEMPLATE)
    source = jsonl(tmp_path / "in.jsonl", [{"text": "a", "params": {"max_tokens": 4}}, {"text": "b"}])
    result = run_cli(
        "prompt", "-t", "b", "-b", "fake", "--batch", str(source), "--out", str(tmp_path / "o.jsonl")
    )
    assert result.returncode == 0, result.stderr
    shown = run_cli("history", "show", "1", "--json")
    assert shown.returncode == 0, shown.stderr
    replies = [m for m in json.loads(shown.stdout)["messages"] if m["role"] == "assistant"]
    assert [m["params"]["max_tokens"] for m in replies] == [4, 50]


# ---- --resume matches rows by id where the input gives them ------------------------


def test_resume_matches_rows_by_id_after_the_input_was_edited(template: Any, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    out = tmp_path / "out.jsonl"
    jsonl(source, [{"id": "a", "text": "alpha"}, {"id": "b", "text": "beta"}, {"id": "c", "text": "gamma"}])

    def stop_at_gamma(prompt: str) -> str:
        if "gamma" in prompt:
            raise KeyboardInterrupt
        return "done"

    with pytest.raises(KeyboardInterrupt):
        run_batch(template, read_rows(source), backend(stop_at_gamma), out=out)
    # The user inserts a row at the top and drops "b": every row number moves.
    jsonl(
        source, [{"id": "new", "text": "first"}, {"id": "a", "text": "alpha"}, {"id": "c", "text": "gamma"}]
    )
    engine = backend()
    summary = run_batch(template, read_rows(source), engine, out=out, resume=True)
    assert (summary.skipped, summary.done) == (1, 2)
    sent = [call["prompt"] for call in engine.calls]
    assert any("first" in p for p in sent) and any("gamma" in p for p in sent)
    assert not any("alpha" in p for p in sent)
    assert [(r["row"], r["id"]) for r in lines(out)] == [(1, "a"), (2, "b"), (1, "new"), (3, "c")]


def test_resume_by_number_needs_the_same_id(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text(
        json.dumps({"row": 1, "id": None, "error": None})
        + "\n"
        + json.dumps({"row": 2, "id": "x", "error": None})
        + "\n"
        + json.dumps({"row": 3, "id": "d", "error": None})
        + "\n"
        + json.dumps({"row": 4, "id": "d", "error": "boom"})
        + "\n"
    )
    rows = read_rows(
        jsonl(
            tmp_path / "in.jsonl",
            [
                {"text": "no id"},  # row 1: no id, its line has none: done
                {"text": "lost its id"},  # row 2: its line belongs to id "x": not done
                {"id": "d", "text": "twice"},  # rows 3 and 4 share an id: matched by number and id
                {"id": "d", "text": "twice"},
            ],
        )
    )
    assert done_rows(rows, out) == {1, 3}


def test_resume_by_id_takes_the_last_line_for_the_id(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text(
        json.dumps({"row": 1, "id": 7, "error": None})
        + "\n"
        + json.dumps({"row": 2, "id": 7, "error": "timeout"})
        + "\n"
        + json.dumps({"row": 3, "id": [1, 2], "error": None})
        + "\n"
    )
    rows = read_rows(
        jsonl(
            tmp_path / "in.jsonl",
            [{"id": 7, "text": "a"}, {"id": [1, 2], "text": "b"}, {"id": "7", "text": "c"}],
        )
    )
    assert done_rows(rows, out) == {2}  # id 7's latest line failed; "7" is not 7


# ---- template tests read a JSON answer as compact JSON, as documented ---------------


def test_expectations_read_a_json_answer_as_compact_json() -> None:
    from assistant.templates.spec import parse_expectation
    from assistant.templates.testing import check_expectation

    answer = {"name": "Rex", "age": 3}
    assert check_expectation(parse_expectation("t", {"contains": '"name":"Rex"'}), answer) is None
    assert (
        check_expectation(parse_expectation("t", {"regex": '^\\{"name":"Rex","age":3\\}$'}), answer) is None
    )
    assert check_expectation(parse_expectation("t", {"equals": {"name": "Ada"}}), {"name": "Bob"}) == (
        'expected {"name":"Ada"}, got {"name":"Bob"}'
    )


# ---- the documented way to keep the line break after an include ---------------------


def test_an_include_runs_into_the_next_line_unless_its_tag_ends_with_plus(
    user_templates: Path, write_file: Any
) -> None:
    write_file(user_templates, "_header.jinja", "HEADER\n")
    write_file(
        user_templates, "glued.jinja", '---\nvariables: [input]\n---\n{% include "_header" %}\n{{ input }}\n'
    )
    write_file(
        user_templates, "kept.jinja", '---\nvariables: [input]\n---\n{% include "_header" +%}\n{{ input }}\n'
    )
    assert render_template("glued", input="hi")[-1].content == "HEADERhi"
    assert render_template("kept", input="hi")[-1].content == "HEADER\nhi"


# ---- chain-of-thought with JSON output: the answer may span lines ------------------


@pytest.mark.parametrize(
    "reply",
    [
        'Two legs each.\nAnswer: {"legs": 4}',
        'Two legs each.\nAnswer: {\n  "legs": 4\n}',
        'Two legs each.\nAnswer:\n```json\n{\n  "legs": 4\n}\n```',
        'Two legs each.\n**Answer:**\n{"legs": 4}',
    ],
)
def test_a_chain_of_thought_json_answer_may_be_pretty_printed_or_fenced(reply: str) -> None:
    from assistant.templates.loader import template_from_string
    from assistant.templates.strategies import extract_answer

    template = template_from_string(
        "---\nstrategy: chain-of-thought\nvariables: [input]\n"
        "output: {type: json, schema: {type: object, properties: {legs: {type: integer}}, required: [legs]}}\n"
        "---\n{{ input }}\n"
    )
    extraction = extract_answer(template, reply)
    assert (extraction.answer, extraction.reasoning, extraction.error) == (
        {"legs": 4},
        "Two legs each.",
        None,
    )


# ---- -s on a chain-of-thought template still asks for the answer line ----------------


def test_a_replacement_system_prompt_that_does_not_ask_for_the_answer_line_gets_the_instruction() -> None:
    from assistant.templates.render import COT_INSTRUCTION

    instruction = COT_INSTRUCTION.format(prefix="Answer:")
    builtin = render_template("chain-of-thought", input="What is 2 + 2?")
    assert "Answer:" in builtin[0].content and not builtin[-1].content.endswith(instruction)

    replaced = render_template("chain-of-thought", input="What is 2 + 2?", system="You are a math tutor.")
    assert replaced[0].content == "You are a math tutor."
    assert replaced[-1].content == f"What is 2 + 2?\n\n{instruction}"

    dropped = render_template("chain-of-thought", input="What is 2 + 2?", system="")
    assert dropped[0].role == "user" and dropped[-1].content.endswith(instruction)

    asks = render_template("chain-of-thought", input="What is 2 + 2?", system="End with 'Answer: N'.")
    assert asks[-1].content == "What is 2 + 2?"


def test_prompt_t_with_s_sends_the_instruction(fake_backend_plugin_file: Path, tmp_path: Path) -> None:
    result = run_cli(
        "prompt",
        "-t",
        "chain-of-thought",
        "-b",
        "fake",
        "--no-log",
        "--json",
        "-s",
        "You are a tutor.",
        "What is 2 + 2?",
    )
    record = json.loads(result.stdout)
    assert (
        "final answer on its own last line, starting with 'Answer:'" in record["output"]
    )  # the fake echoes it


# ---- a missing variable's hint says how *this* caller gives variables -----------------


def test_a_batch_row_missing_a_variable_is_told_to_give_the_row_that_field(
    user_templates: Path, write_file: Any, tmp_path: Path
) -> None:
    write_file(user_templates, "top.jinja", "---\nvariables: [input, topic]\n---\n{{ topic }}: {{ input }}\n")
    rows = read_rows(jsonl(tmp_path / "in.jsonl", [{"text": "a", "topic": "x"}, {"text": "b"}]))
    out = tmp_path / "out.jsonl"
    run_batch(load_template("top"), rows, backend(), out=out)
    assert lines(out)[1]["error"] == (
        "template 'top': missing required variable(s) topic "
        "(give the row a field of that name, or -v NAME=VALUE for every row)"
    )


def test_a_test_case_missing_a_variable_is_told_to_set_its_vars(
    user_templates: Path, write_file: Any
) -> None:
    from assistant.templates.testing import run_tests

    write_file(
        user_templates,
        "top.jinja",
        "---\nvariables: [input, topic]\ntests:\n  - input: hi\n    expect: {contains: x}\n---\n{{ topic }}: {{ input }}\n",
    )
    report = run_tests(load_template("top"), backend())
    assert (
        report.cases[0].reason
        == "template 'top': missing required variable(s) topic (set them in the test case's 'vars')"
    )


# ---- templates new / import never write through a link at NAME.jinja --------------------


def test_new_refuses_a_dangling_link_and_force_replaces_the_link_not_its_target(
    user_templates: Path, tmp_path: Path
) -> None:
    target = tmp_path / "elsewhere" / "victim.txt"
    target.parent.mkdir()
    (user_templates / "foo.jinja").symlink_to(target)
    refused = run_cli("templates", "new", "foo")
    assert refused.returncode == 1 and "already exists (pass --force" in refused.stderr
    assert not target.exists()

    target.write_text("precious")
    forced = run_cli("templates", "new", "foo", "--force")
    assert forced.returncode == 0, forced.stderr
    assert target.read_text() == "precious"
    written = user_templates / "foo.jinja"
    assert not written.is_symlink() and "strategy: zero-shot" in written.read_text()
    assert [p.name for p in user_templates.iterdir()] == ["foo.jinja"]  # no staging file left
    assert load_template("foo").strategy == "zero-shot"


# ---- an examples file's problem names the line to look at ----------------------------


def test_a_bad_example_in_a_jsonl_file_names_its_line(user_templates: Path, write_file: Any) -> None:
    write_file(
        user_templates,
        "fs.jinja",
        "---\nstrategy: few-shot\nvariables: [input]\nexamples: ex.jsonl\n---\n{{ input }}\n",
    )
    write_file(user_templates, "ex.jsonl", '{"input": "a", "output": "b"}\n\n{"input": "c"}\n')
    with pytest.raises(TemplateError) as caught:
        load_template("fs")
    assert str(caught.value).endswith("fs.jinja (ex.jsonl): example #2 (line 3) has no 'output'")

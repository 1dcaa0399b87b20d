"""Rendering: strategies, variables, examples, and where errors point."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from assistant.errors import TemplateError
from assistant.templates import load_template, render_template
from assistant.templates.render import COT_INSTRUCTION
from assistant.types import Message

FEW_SHOT = """
---
strategy: few-shot
system: Label the mood.
variables:
  - input
  - name: style
    default: plain
examples:
  - input: sunny day
    output: happy
  - input: rainy day
    output: sad
  - input: windy day
    style: fancy
    output: restless
---
[{{ style }}] Mood of: {{ input }}
"""


def roles(messages: list[Message]) -> list[str]:
    return [m.role for m in messages]


def test_zero_shot_renders_system_and_user(user_templates: Path, write_file: Any) -> None:
    write_file(
        user_templates,
        "greet.jinja",
        """
        ---
        system: Be brief.
        variables:
          - name: who
            description: the person
        ---
        Say hello to {{ who }}.
        """,
    )
    assert render_template("greet", {"who": "Ada"}) == [
        Message("system", "Be brief."),
        Message("user", "Say hello to Ada."),
    ]


def test_few_shot_turns_come_in_order_before_the_query(user_templates: Path, write_file: Any) -> None:
    write_file(user_templates, "mood.jinja", FEW_SHOT)
    messages = render_template("mood", input="snowy day")
    assert roles(messages) == ["system", "user", "assistant", "user", "assistant", "user", "assistant", "user"]
    assert [m.content for m in messages[1:]] == [
        "[plain] Mood of: sunny day",
        "happy",
        "[plain] Mood of: rainy day",
        "sad",
        "[fancy] Mood of: windy day",  # an example's own value wins
        "restless",
        "[plain] Mood of: snowy day",
    ]


def test_examples_take_the_calls_values_for_variables_they_leave_unset(user_templates: Path, write_file: Any) -> None:
    write_file(user_templates, "mood.jinja", FEW_SHOT)
    messages = render_template("mood", {"style": "terse"}, input="x")
    assert messages[1].content == "[terse] Mood of: sunny day"
    assert messages[5].content == "[fancy] Mood of: windy day"


def test_few_shot_inline_puts_examples_in_one_user_message(user_templates: Path, write_file: Any) -> None:
    write_file(user_templates, "mood.jinja", FEW_SHOT)
    messages = render_template("mood", input="snowy day", examples_as="inline")
    assert roles(messages) == ["system", "user"]
    assert messages[1].content == (
        "[plain] Mood of: sunny day happy\n\n"
        "[plain] Mood of: rainy day sad\n\n"
        "[fancy] Mood of: windy day restless\n\n"
        "[plain] Mood of: snowy day"
    )


def test_inline_examples_with_own_layout_and_example_template(user_templates: Path, write_file: Any) -> None:
    write_file(
        user_templates,
        "own.jinja",
        """
        ---
        strategy: few-shot
        examples_as: inline
        examples: [{input: a, output: A}, {input: b, output: B}]
        ---
        {% for ex in examples %}{{ ex.input }}={{ ex.output }};{% endfor %} {{ input }}=
        """,
    )
    write_file(
        user_templates,
        "tmpl.jinja",
        """
        ---
        strategy: few-shot
        examples_as: inline
        example_template: "Q: {{ prompt }}\\nA: {{ output }}"
        examples: [{input: a, output: A}]
        ---
        {{ input }}
        """,
    )
    assert render_template("own", input="c")[-1].content == "a=A;b=B; c="
    assert render_template("tmpl", input="c")[-1].content == "Q: a\nA: A\n\nc"


def test_examples_from_jsonl_and_yaml_files(user_templates: Path, write_file: Any) -> None:
    write_file(user_templates, "data/ex.jsonl", '{"input": "one", "output": "1"}\n\n{"input": "two", "output": "2"}\n')
    write_file(user_templates, "data/ex.yaml", "- {input: three, output: '3'}\n")
    for source in ("data/ex.jsonl", "data/ex.yaml"):
        write_file(user_templates, "num.jinja", f"---\nstrategy: few-shot\nexamples: {source}\n---\n{{{{ input }}}}\n")
        messages = render_template("num", input="four")
        assert messages[-1] == Message("user", "four")
        assert messages[0].role == "user" and messages[1].role == "assistant"
    assert render_template("num", input="x")[0:2] == [Message("user", "three"), Message("assistant", "3")]


def test_examples_file_changes_are_picked_up(user_templates: Path, write_file: Any) -> None:
    examples = write_file(user_templates, "ex.jsonl", '{"input": "a", "output": "A"}\n')
    write_file(user_templates, "num.jinja", "---\nstrategy: few-shot\nexamples: ex.jsonl\n---\n{{ input }}\n")
    assert render_template("num", input="q")[0].content == "a"
    examples.write_text('{"input": "changed", "output": "C"}\n{"input": "more", "output": "M"}\n')
    assert render_template("num", input="q")[0].content == "changed"


def test_chain_of_thought_adds_the_answer_instruction_only_when_missing(user_templates: Path, write_file: Any) -> None:
    write_file(user_templates, "cot.jinja", "---\nstrategy: chain-of-thought\n---\n{{ input }}\n")
    write_file(
        user_templates,
        "cot2.jinja",
        "---\nstrategy: chain-of-thought\nsystem: \"End with 'Final: <x>'.\"\noutput: {answer_prefix: 'Final:'}\n---\n{{ input }}\n",
    )
    plain = render_template("cot", input="2+2?")
    assert plain == [Message("user", "2+2?\n\n" + COT_INSTRUCTION.format(prefix="Answer:"))]
    told = render_template("cot2", input="2+2?")
    assert told[-1] == Message("user", "2+2?")


def test_builtin_strategies_render() -> None:
    assert render_template("chat") == [Message("system", "You are a helpful assistant.")]
    assert render_template("chat", input="hi")[-1] == Message("user", "hi")
    zero = render_template("zero-shot", {"task": "Translate to French."}, input="Thank you")
    assert zero[-1].content == "Translate to French.\n\nThank you"
    few = render_template("few-shot", input="What is the capital of Spain?")
    assert roles(few) == ["system"] + ["user", "assistant"] * 3 + ["user"]
    assert few[-1].content == "What is the capital of Spain?"
    # The turns carry question and answer; no completion-style "Q:/A:" inside them.
    assert [m.content for m in few[1:3]] == ["What is the capital of France?", "Paris"]
    cot = render_template("chain-of-thought", input="What is 1 + 1?")
    assert roles(cot) == ["system", "user", "assistant", "user", "assistant", "user"]
    assert cot[2].content.splitlines()[-1] == "Answer: 7"
    sentiment = render_template("few-shot-sentiment", input="Lovely.")
    assert roles(sentiment) == ["system", "user"]  # inline: scored as plain text
    assert sentiment[-1].content.endswith("Review: Lovely.\nSentiment:")


def test_all_missing_required_variables_are_named_in_one_error(user_templates: Path, write_file: Any) -> None:
    write_file(
        user_templates,
        "three.jinja",
        "---\nvariables: [a, b, {name: c, default: x}, d]\n---\n{{ a }}{{ b }}{{ c }}{{ d }}\n",
    )
    with pytest.raises(TemplateError) as err:
        render_template("three", {"b": "1"})
    assert "missing required variable(s) a, d" in str(err.value)


def test_unknown_variables_are_rejected_with_what_the_template_takes(user_templates: Path, write_file: Any) -> None:
    write_file(user_templates, "one.jinja", "---\nvariables: [topic]\n---\n{{ topic }}\n")
    with pytest.raises(TemplateError, match=r"unknown variable\(s\) tpoic, zz \(it takes: topic\)"):
        render_template("one", {"tpoic": "x", "zz": "y", "topic": "t"})
    with pytest.raises(TemplateError, match="has no 'input' variable"):
        render_template("one", {"topic": "t"}, input="text")


def test_unknown_and_missing_are_reported_together(user_templates: Path, write_file: Any) -> None:
    write_file(user_templates, "one.jinja", "---\nvariables: [topic]\n---\n{{ topic }}\n")
    with pytest.raises(TemplateError) as err:
        render_template("one", {"tpoic": "x"})
    assert "unknown variable(s) tpoic" in str(err.value) and "missing required variable(s) topic" in str(err.value)


def test_variables_are_inferred_when_not_declared(user_templates: Path, write_file: Any) -> None:
    write_file(user_templates, "infer.jinja", "{% set greeting = 'Hi' %}{{ greeting }} {{ name }}, {{ input }}\n")
    template = load_template("infer")
    assert template.variable_names == ["input", "name"]
    assert render_template(template, {"name": "Bo"}, input="ok")[-1].content == "Hi Bo, ok"


def test_body_using_an_undeclared_variable_is_a_load_error(user_templates: Path, write_file: Any) -> None:
    write_file(user_templates, "bad.jinja", "---\nvariables: [a]\n---\n{{ a }} {{ b }} {{ c }}\n")
    with pytest.raises(TemplateError, match=r"undeclared variable\(s\) b, c"):
        load_template("bad")


def test_variable_values_are_data_never_template_code(user_templates: Path, write_file: Any) -> None:
    write_file(user_templates, "echo.jinja", "---\nvariables: [input]\n---\n<{{ input }}>\n")
    payload = "{{ 7*7 }} {% for x in range(3) %}x{% endfor %} {{ ''.__class__ }}"
    assert render_template("echo", input=payload)[-1].content == f"<{payload}>"


@pytest.mark.parametrize(
    ("body", "line"),
    [
        ("line one\n{{ input }\n", 6),
        ("ok\nok\n{% for x in y %}\n", 7),
        ("{% if %}\n", 5),
    ],
)
def test_syntax_errors_name_the_file_and_line(user_templates: Path, write_file: Any, body: str, line: int) -> None:
    write_file(user_templates, "broken.jinja", "---\ndescription: x\nvariables: [input, y]\n---\n" + body)
    with pytest.raises(TemplateError) as err:
        load_template("broken")
    assert f"broken.jinja:{line}: syntax error" in str(err.value)


def test_syntax_error_in_the_system_prompt_points_into_the_front_matter(user_templates: Path, write_file: Any) -> None:
    write_file(
        user_templates,
        "sys.jinja",
        """
        ---
        description: x
        system: |
          first line
          second {{ oops
        ---
        {{ input }}
        """,
    )
    with pytest.raises(TemplateError) as err:
        load_template("sys")
    assert "sys.jinja:5: syntax error in 'system'" in str(err.value)


def test_runtime_errors_name_the_file_and_line(user_templates: Path, write_file: Any) -> None:
    write_file(user_templates, "rt.jinja", "---\nvariables: [n]\n---\nfine\n{{ n.missing_attribute }}\n")
    with pytest.raises(TemplateError) as err:
        render_template("rt", {"n": "x"})
    assert "rt.jinja:5:" in str(err.value) and "missing_attribute" in str(err.value)


@pytest.mark.parametrize(
    ("front", "message"),
    [
        ("exmaples: []", "unknown key 'exmaples' (did you mean 'examples'?)"),
        ("colour: red", "unknown key 'colour'"),
        ("strategy: many-shot", "strategy must be one of"),
        ("name: other", "does not match the file name"),
        ("variables: [{name: a, kind: str}]", "unknown key 'kind'"),
        ("variables: [{name: a, default: 1, required: true}]", "cannot be required"),
        ("variables: [examples]", "reserved"),
        ("params: {temprature: 0.1}", "unknown key 'temprature' (did you mean 'temperature'?)"),
        ("params: {temperature: -1}", "temperature must be >= 0"),
        ("output: {type: xml}", "output type must be one of"),
        ("output: {type: choice, labels: [yes]}", "at least two strings"),
        ("output: {type: json, schema: {type: object, pattern: x}}", "unsupported schema keyword 'pattern'"),
        ("strategy: few-shot", "needs 'examples'"),
        ("examples: [{input: a, output: b}]", "takes no examples"),
        ("tests: [{input: a, expect: {equal: b}}]", "unknown key 'equal'"),
        ("tests: [{input: a, expect: {regex: '('}}]", "invalid regex"),
        ("tests: [{vars: {nope: 1}, expect: {equals: b}}]", "unknown variable 'nope'"),
        ("description: [unclosed", "invalid YAML front matter"),
    ],
)
def test_front_matter_problems_name_the_key(user_templates: Path, write_file: Any, front: str, message: str) -> None:
    write_file(user_templates, "t.jinja", f"---\n{front}\n---\n{{{{ input }}}}\n")
    with pytest.raises(TemplateError) as err:
        load_template("t")
    assert message in str(err.value)
    assert "t.jinja" in str(err.value)


def test_unclosed_front_matter(user_templates: Path, write_file: Any) -> None:
    write_file(user_templates, "t.jinja", "---\ndescription: x\n{{ input }}\n")
    with pytest.raises(TemplateError, match="no closing '---'"):
        load_template("t")


def test_unknown_template_suggests_a_close_name() -> None:
    with pytest.raises(TemplateError, match="did you mean 'few-shot'"):
        load_template("few-shoot")
    with pytest.raises(TemplateError, match="invalid template name"):
        load_template("bad name!")


def test_template_loaded_by_path(tmp_path: Path, write_file: Any) -> None:
    path = write_file(tmp_path / "elsewhere", "mine.jinja", "---\nsystem: S\n---\n{{ input }}!\n")
    assert render_template(str(path), input="hey") == [Message("system", "S"), Message("user", "hey!")]
    assert render_template(path, input="hey")[-1].content == "hey!"


def test_template_from_a_string_for_notebooks(user_templates: Path, write_file: Any) -> None:
    from assistant.templates import PromptTemplate, template_from_string

    write_file(user_templates, "_tone.jinja", "Be {{ tone }}.")
    template = template_from_string(
        "---\nvariables: [input, {name: tone, default: kind}]\n---\n{% include '_tone' %} {{ input }}\n", name="nb"
    )
    assert render_template(template, input="Hi") == [Message("user", "Be kind. Hi")]
    with pytest.raises(TemplateError, match="nb.jinja:1: syntax error"):
        template_from_string("{{ oops", name="nb")
    with pytest.raises(TemplateError, match="load_template"):
        render_template(PromptTemplate(name="x", path=Path("x.jinja"), body="x"))

"""Round 7, templates as a user: a template that never ends is stopped; values are data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.errors import TemplateError
from assistant.templates import load_template, render_template, template_from_string
from assistant.templates import sandbox
from .conftest import run_cli

# ---- a template that loops or recurses for ever is stopped --------------------------------

ENDLESS = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}{{ input }}"
"""10^10 iterations: runs for hours."""

PAST_A_SMALL_BUDGET = {  # the same shapes, finite (so that without the limit they render, and the test fails)
    "nested loops": "{% for i in range(300) %}{% for j in range(300) %}{% endfor %}{% endfor %}{{ input }}",
    "a macro calling itself twice": (
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(16) }}{{ input }}"
    ),
    "a recursive loop": (
        "{% for x in range(2) recursive %}{% if loop.depth < 16 %}{{ loop(range(2)) }}{% endif %}"
        "{% endfor %}{{ input }}"
    ),
}


@pytest.fixture
def small_step_budget(monkeypatch: pytest.MonkeyPatch) -> int:
    """A smaller budget, so each case is refused in milliseconds (the real one takes about a second)."""
    monkeypatch.setattr(sandbox, "MAX_RENDER_STEPS", 20_000)
    return 20_000


@pytest.mark.parametrize("body", PAST_A_SMALL_BUDGET.values(), ids=list(PAST_A_SMALL_BUDGET))
def test_a_template_that_runs_past_the_step_budget_is_stopped(body: str, small_step_budget: int) -> None:
    template = template_from_string(body, "endless")
    with pytest.raises(TemplateError, match=r"refused by the template sandbox: the template did more than 20,000 steps of work"):
        render_template(template, input="x")


def test_the_real_budget_stops_an_endless_loop_too(user_templates: Path, write_file: Any) -> None:
    write_file(user_templates, "spin.jinja", ENDLESS)
    proc = run_cli("templates", "render", "spin", "--input", "x", timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "spin.jinja:1: refused by the template sandbox" in proc.stderr
    assert f"more than {sandbox.MAX_RENDER_STEPS:,} steps of work" in proc.stderr


def test_one_budget_covers_the_whole_prompt_not_each_example(small_step_budget: int) -> None:
    """The body renders once per example as well as for the query: each piece under the
    budget must not add up to many budgets."""
    examples = "\n".join(f"  - {{input: q{i}, output: a{i}}}" for i in range(10))
    text = f"---\nstrategy: few-shot\nexamples:\n{examples}\n---\n{{% for i in range(3000) %}}{{% endfor %}}{{{{ input }}}}\n"
    with pytest.raises(TemplateError, match="steps of work"):
        render_template(template_from_string(text, "many"), input="x")  # 11 renders x 3,000 > 20,000
    fewer = text.replace("range(3000)", "range(1000)")
    assert render_template(template_from_string(fewer, "many"), input="x")[-1].content == "x"


@pytest.mark.parametrize(
    "body",
    [
        "{% set big = range(5000)|list %}{% for i in range(100) %}{% set j = big|join(',') %}{% endfor %}{{ input }}",
        "{% set s = 'x' * 100000 %}{% for i in range(300) %}{% set t = s|upper %}{% endfor %}{{ input }}",
        "{% set s = 'x' * 100000 %}{% for i in range(300) %}{% set t = s.lower() %}{% endfor %}{{ input }}",
        "{% set ns = namespace(v='') %}{% for i in range(2000) %}{% set ns.v = ns.v ~ 'xxxxxxxxxx' %}{% endfor %}"
        "{{ input }}",
    ],
    ids=["measuring a big list", "a filter over a long text", "a method over a long text", "growing a text"],
)
def test_a_few_steps_that_each_do_much_work_are_stopped_too(body: str, small_step_budget: int) -> None:
    """A hundred iterations each joining a long list, or upper-casing 100,000 characters, are few
    steps but much work: with a big list, minutes of it within the step count."""
    with pytest.raises(TemplateError, match="steps of work"):
        render_template(template_from_string(body, "heavy"), input="x")


def test_the_length_of_a_big_list_in_a_loop_costs_one_step(small_step_budget: int) -> None:
    """``messages|length`` inside the loop over messages is what chat templates do: not measured."""
    body = "{% set big = range(50000)|list %}{% for i in range(2000) %}{{ big|length if loop.last }}{% endfor %}{{ input }}"
    assert render_template(template_from_string(body, "len"), input="x")[0].content == "50000x"


def test_ordinary_loops_and_macros_are_not_counted_against_each_other_across_renders(
    small_step_budget: int,
) -> None:
    template = template_from_string("{% for i in range(15000) %}{% endfor %}{{ input }}", "each")
    for _ in range(3):  # each render has a budget of its own
        assert render_template(template, input="ok")[0].content == "ok"


def test_the_builtin_templates_render_well_within_the_budget() -> None:
    for name in ("chain-of-thought", "few-shot", "few-shot-sentiment", "zero-shot", "summarize", "translate"):
        template = load_template(name)
        variables = {"target": "French"} if name == "translate" else {}
        assert render_template(template, variables, input="Some text.")


def test_a_model_chat_template_over_a_long_conversation_still_renders() -> None:
    """Chat templates (from model files) render in the same sandbox: a long conversation
    is many iterations, far fewer than the budget."""
    from assistant.backends.chat_format import _render_dicts

    chatml = (
        "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'].strip()"
        " + '<|im_end|>\\n' }}{% if loop.index0 == messages|length - 1 %}<|im_start|>assistant{% endif %}"
        "{% endfor %}"
    )
    messages = [{"role": ("user", "assistant")[i % 2], "content": f" turn {i} "} for i in range(20_000)]
    text = _render_dicts(chatml, messages, 10_000_000)
    assert text.count("<|im_start|>") == 20_001 and text.endswith("<|im_start|>assistant")


# ---- values are data: never evaluated, whatever they hold ---------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    value=st.one_of(
        st.text(),
        st.sampled_from(["{{ 7 * 7 }}", "{% for x in range(9) %}x{% endfor %}", "{# c #}", "{{ ''.__class__ }}",
                         "{% include 'zero-shot' %}", "\x1b]0;t\x07", "<|im_end|>"]),
    ),
    task=st.text(min_size=1).filter(str.strip),
)
def test_template_values_are_inserted_as_they_are(value: str, task: str) -> None:
    messages = render_template(load_template("zero-shot"), {"task": task}, input=value)
    assert messages[-1].content == f"{task}\n\n{value}".strip()


# ---- `templates list`: one row per template ----------------------------------------------------------


def test_a_line_break_in_a_description_or_file_name_cannot_forge_a_row(user_templates: Path, write_file: Any) -> None:
    """A description (or a broken file's name) with a line break printed a second row, one that
    passed for another template."""
    forged = "zero-shot  [builtin]  zero-shot  Do a task described in words, with no examples."
    write_file(user_templates, "nice.jinja", f'---\ndescription: "Friendly.\\n{forged}"\n---\n{{{{ input }}}}\n')
    (user_templates / f"odd\n{forged}.jinja").write_text("{{ input }}\n", encoding="utf-8")
    proc = run_cli("templates", "list")
    assert proc.returncode == 0, proc.stderr
    rows = proc.stdout.splitlines()
    assert len(rows) == len({row.split()[0] for row in rows})  # no name listed twice
    nice = next(row for row in rows if row.startswith("nice "))
    assert nice.endswith("Friendly. " + " ".join(forged.split()))
    odd = next(row for row in rows if row.startswith("odd "))
    assert "INVALID: invalid template name" in odd


# ---- YAML aliases that expand to millions of values ---------------------------------------------


def _alias_bomb(levels: int) -> str:
    """A YAML flow list of ``levels`` nested anchors: a few lines, 9**levels strings once expanded."""
    names = "abcdefghij"
    parts = ["&a [x, x, x, x, x, x, x, x, x]"]
    for previous, name in zip(names, names[1:levels]):
        parts.append(f"&{name} [{', '.join([f'*{previous}'] * 9)}]")
    return "[" + ", ".join(parts) + "]"


@pytest.mark.parametrize(
    "front_matter",
    [
        "description: {bomb}",
        "variables: [input]\ntests:\n  - name: {bomb}\n    input: hi\n    expect: {{contains: x}}",
        "strategy: {bomb}",
    ],
    ids=["description", "test name", "an error naming the value"],
)
def test_a_front_matter_whose_aliases_expand_to_millions_is_refused(
    front_matter: str, user_templates: Path, write_file: Any
) -> None:
    """Loading shares aliased values; turning one into text (a description, a test's name,
    ``repr`` in an error) built all of it: with nine levels ``templates list`` never finished."""
    write_file(user_templates, "laughs.jinja", "---\n" + front_matter.format(bomb=_alias_bomb(7)) + "\n---\n{{ input }}\n")
    with pytest.raises(TemplateError, match=r"laughs.jinja: the YAML is larger than 2,000,000 characters once its aliases"):
        load_template("laughs")


def test_an_examples_file_and_an_llm_template_are_measured_too(user_templates: Path, write_file: Any, tmp_path: Path) -> None:
    from assistant.templates.llm_import import import_llm_template

    write_file(user_templates, "ex.yaml", f"- input: {_alias_bomb(7)}\n  output: x\n")
    write_file(user_templates, "fs.jinja", "---\nstrategy: few-shot\nexamples: ex.yaml\n---\n{{ input }}\n")
    with pytest.raises(TemplateError, match="ex.yaml: the YAML is larger than"):
        load_template("fs")
    llm = write_file(tmp_path, "llm.yaml", f"prompt: hi $input\ndefaults:\n  input: {_alias_bomb(7)}\n")
    with pytest.raises(TemplateError, match="llm.yaml: the YAML is larger than"):
        import_llm_template(llm)


def test_ordinary_aliases_still_load(user_templates: Path, write_file: Any) -> None:
    write_file(
        user_templates,
        "shared.jinja",
        "---\nvariables:\n  - name: input\n  - {name: tone, default: &t calm}\n"
        "tests:\n  - {input: hi, vars: {tone: *t}, expect: {contains: hi}}\n---\n{{ tone }}: {{ input }}\n",
    )
    assert render_template(load_template("shared"), input="hi")[0].content == "calm: hi"


# ---- YAML values JSON has no type for -------------------------------------------------------------


def test_a_date_in_the_front_matter_stays_the_text_written(user_templates: Path, write_file: Any) -> None:
    """``default: 2024-01-01`` became a date, and ``templates show --json`` died with a traceback."""
    write_file(
        user_templates,
        "dated.jinja",
        "---\nvariables:\n  - name: input\n  - {name: when, default: 2024-01-01}\n"
        "tests:\n  - {input: hi, vars: {when: 2024-12-31 10:00:00}, expect: {equals: 2024-01-01}}\n---\n"
        "{{ when }}: {{ input }}\n",
    )
    template = load_template("dated")
    assert template.variable("when").default == "2024-01-01"  # type: ignore[union-attr]
    assert template.tests[0].vars == {"when": "2024-12-31 10:00:00"}
    proc = run_cli("templates", "show", "dated", "--json")
    assert proc.returncode == 0, proc.stderr
    assert '"default": "2024-01-01"' in proc.stdout
    assert render_template(template, input="hi")[0].content == "2024-01-01: hi"


@pytest.mark.parametrize("value", ["!!binary aGVsbG8=", "!!set {a, b}", "!!timestamp 2024-01-01", "!!omap [a: 1]"])
def test_an_explicit_yaml_tag_for_a_value_json_lacks_is_one_clear_error(
    value: str, user_templates: Path, write_file: Any
) -> None:
    write_file(user_templates, "tagged.jinja", f"---\nvariables:\n  - name: input\n  - {{name: x, default: {value}}}\n---\n{{{{ x }}}}{{{{ input }}}}\n")
    proc = run_cli("templates", "show", "tagged", "--json")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert "is not supported; write it as text" in proc.stderr


def test_a_test_case_name_with_a_line_break_cannot_add_a_pass_row(
    user_templates: Path, write_file: Any, fake_backend_plugin_file: Path
) -> None:
    write_file(
        user_templates,
        "rigged.jinja",
        '---\ntests:\n  - name: "fails\\nPASS  looks fine"\n    input: hi\n    expect: {equals: "never said"}\n'
        "---\n{{ input }}\n",
    )
    proc = run_cli("templates", "test", "rigged", "-b", "fake", "-m", "fake-model")
    assert proc.returncode == 1
    rows = proc.stdout.splitlines()
    assert len(rows) == 2 and rows[0].startswith("FAIL  fails PASS looks fine: expected 'never said'")
    assert rows[1].startswith("pass rate: 0/1")


# ---- variables read through an include or a parent -------------------------------------------------


def test_input_read_only_by_a_parent_template_says_to_declare_it(user_templates: Path, write_file: Any) -> None:
    """Variables are inferred from the template's own body: one that extends a template reading
    ``{{ input }}`` was told it "takes no input text", which sent the user to the command line."""
    write_file(user_templates, "base.jinja", "{% block intro %}Hi.{% endblock %}\n{{ input }}\n")
    write_file(user_templates, "brief.jinja", '{% extends "base" %}{% block intro %}Be brief.{% endblock %}\n')
    proc = run_cli("templates", "render", "brief", "--input", "hello")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert proc.stderr.endswith(
        "takes no input text; a variable read only through an include or a parent template must be "
        "declared under 'variables'\n"
    )
    write_file(user_templates, "brief.jinja", '---\nvariables: [input]\n---\n{% extends "base" %}{% block intro %}Be brief.{% endblock %}\n')
    rendered = run_cli("templates", "render", "brief", "--input", "hello").stdout
    assert rendered == "[user]\nBe brief.hello\n"  # trim_blocks: the line break after endblock goes
    with pytest.raises(TemplateError) as plain:
        render_template(load_template("zero-shot"), {"tone": "x"}, input="hi")
    assert "declared under" not in str(plain.value)  # a template reading no other says nothing of the kind

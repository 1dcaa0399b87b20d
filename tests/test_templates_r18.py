"""Round 18, templates: a KEY=VALUE option given twice is refused, template test cases that can only fail are
found where the template is listed, and user findings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest
from click.testing import CliRunner, Result

from assistant import config, hookimpl
from assistant.cli import main
from assistant.errors import ConfigError, TemplateError
from assistant.options import parse_options
from assistant.plugins import register_plugin
from assistant.templates import list_templates, render_template, template_from_string
from assistant.tools import BaseTool, Parameter, TextResult


def cli(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input)


def error_lines(result: Result) -> list[str]:
    return [line for line in result.output.splitlines() if line.strip()]


# A tool parameter whose check refuses "Klingonese", as translate's does.
def _language(value: Any) -> None:
    if str(value).strip().lower() == "klingonese":
        raise ConfigError(f"{value!r} is not a language the assistant knows")


class _Tool(BaseTool):
    name = "lang-demo"
    description = "Test tool with a checked parameter."
    parameters = (Parameter("to", "str", required=True, check=_language),)

    def run(self, text: str, params: Any, backend: Any) -> TextResult:
        return TextResult(text)


class _Plugin:
    @hookimpl
    def register_tools(self, register: Callable[[Any], None]) -> None:
        register(_Tool())


# ---- known item 1: a KEY=VALUE option given twice ----------------------------------------------------


@pytest.mark.parametrize(
    ("items", "key"),
    [
        (["temperature=0", "temperature=1"], "temperature"),  # a sampling parameter
        (["n_ctx=512", "n-ctx=1024"], "n_ctx"),  # a backend option, spelt two ways
        (["stop=a", "max_tokens=5", "max_tokens=5"], "max_tokens"),  # even with the same value
    ],
)
def test_an_o_option_given_twice_is_refused_naming_it(items: list[str], key: str) -> None:
    # was: the last value kept without a word (-o temperature=0 -o temperature=1 ran at 1)
    with pytest.raises(ConfigError, match=rf"^option '{key}' is given twice \(-o {key}=\.\.\.\); give it once$"):
        parse_options(items)


def test_stop_stays_repeatable() -> None:
    params, backend = parse_options(["stop=a", "stop=b", "temperature=0"])
    assert params == {"stop": ["a", "b"], "temperature": 0.0} and backend == {}


def test_prompt_with_an_o_option_given_twice_fails_in_one_line_before_the_model_loads(fakes: list) -> None:
    result = cli("prompt", "-b", "fake", "-o", "temperature=0", "-o", "temperature=1", "hi")
    assert result.exit_code == 1
    assert error_lines(result) == ["error: option 'temperature' is given twice (-o temperature=...); give it once"]
    assert fakes == []


# ---- known item 2: test cases whose values the template refuses ------------------------------------


def _tested_template(directory: Path, name: str, case: str) -> None:
    (directory / f"{name}.jinja").write_text(
        "---\n"
        "variables:\n"
        "  - input\n"
        "  - {name: tone, default: formal, choices: [formal, casual]}\n"
        "  - {name: count, default: 3}\n"
        "  - {name: target, default: French, check: lang-demo.to}\n"
        "tests:\n"
        "  - {name: fine, input: hi, expect: {contains: hi}}\n"
        f"  - {case}\n"
        "---\n"
        "{{ tone }} {{ count }} {{ target }} {{ input }}\n",
        encoding="utf-8",
    )


_BAD_CASES = [
    (
        "{name: rude, vars: {tone: rude}, input: hi, expect: {contains: hi}}",
        "template 'bad': test 'rude': variable 'tone' takes one of formal, casual, not 'rude'",
    ),
    (
        "{name: alien, vars: {target: Klingonese}, input: hi, expect: {contains: hi}}",
        "template 'bad': test 'alien': variable 'target': 'Klingonese' is not a language the assistant knows",
    ),
    (
        "{name: many, vars: {count: many}, input: hi, expect: {contains: hi}}",
        "template 'bad': test 'many': variable 'count' takes a whole number (its default is 3), not 'many'",
    ),
    (
        "{vars: {tone: casual}, expect: {contains: hi}}",
        "template 'bad': test 'test 2': missing required variable(s) input (give the test case an 'input')",
    ),
]


@pytest.mark.parametrize(("case", "problem"), _BAD_CASES)
def test_templates_list_marks_a_test_case_that_can_only_fail(user_templates: Path, case: str, problem: str) -> None:
    register_plugin(_Plugin(), name="lang-demo-plugin")
    _tested_template(user_templates, "bad", case)
    _tested_template(user_templates, "good", "{name: casual, vars: {tone: CASUAL, count: 4}, input: hi, expect: {contains: hi}}")
    # was: listed as fine; found only when `templates test` ran the case on a model
    listed = {entry.name: entry for entry in list_templates()}
    assert (listed["bad"].error or "").startswith(problem)
    assert listed["good"].error is None
    row = next(line for line in cli("templates", "list").output.splitlines() if line.startswith("bad "))
    assert f"INVALID: {problem}" in row


@pytest.mark.parametrize(("case", "problem"), _BAD_CASES[:1])
def test_templates_test_refuses_such_a_case_in_one_line_before_the_model_loads(
    user_templates: Path, fakes: list, case: str, problem: str
) -> None:
    register_plugin(_Plugin(), name="lang-demo-plugin")
    _tested_template(user_templates, "bad", case)
    result = cli("templates", "test", "bad", "-b", "fake")
    assert result.exit_code == 1
    # was: a model loaded, "FAIL  rude: template 'bad': variable 'tone' …" and a pass rate of 50%
    assert error_lines(result) == [f"error: {problem}"]
    assert fakes == []


def _few_shot(directory: Path, example: str) -> None:
    (directory / "ex.jinja").write_text(
        "---\nstrategy: few-shot\nvariables:\n  - input\n"
        "  - {name: tone, default: formal, choices: [formal, casual]}\n"
        "  - {name: target, default: French, check: lang-demo.to}\n"
        f"examples:\n  - {example}\n---\n{{{{ tone }}}} {{{{ target }}}} {{{{ input }}}}\n",
        encoding="utf-8",
    )


@pytest.mark.parametrize(
    ("example", "problem"),
    [
        ("{input: a, tone: rude, output: b}", "variable 'tone' takes one of formal, casual, not 'rude'"),
        ("{input: a, target: Klingonese, output: b}", "'Klingonese' is not a language the assistant knows"),
    ],
)
def test_a_few_shot_example_the_template_refuses_is_found_where_it_is_listed(
    user_templates: Path, example: str, problem: str
) -> None:
    register_plugin(_Plugin(), name="lang-demo-plugin")
    _few_shot(user_templates, example)
    # was: "rude" shown to the model as an example of a value the template refuses, and listed as fine
    where = f"{user_templates / 'ex.jinja'} (example #1): template 'ex': "
    with pytest.raises(TemplateError) as caught:
        render_template("ex", input="q")
    assert str(caught.value).startswith(where) and problem in str(caught.value)
    (entry,) = [entry for entry in list_templates() if entry.name == "ex"]
    assert entry.error == str(caught.value)


def test_a_few_shot_example_value_is_spelt_as_its_choices_spell_it(user_templates: Path) -> None:
    register_plugin(_Plugin(), name="lang-demo-plugin")
    _few_shot(user_templates, "{input: a, tone: CASUAL, output: b}")
    # was "CASUAL French a": the example kept the author's spelling where -v tone=CASUAL renders "casual"
    assert render_template("ex", input="q")[0].content == "casual French a"


@pytest.mark.parametrize(
    ("expect", "can_pass"),
    [
        ("{equals: neutral}", False),
        ("{one_of: [neutral, mixed]}", False),
        ("{contains: neu}", False),
        ("{equals: Positive}", True),  # letter case ignored, as the run ignores it
        ("{equals: Positive, case_sensitive: true}", False),
        ("{contains: ive}", True),
        ("{regex: neutral}", True),  # a regex is left to the run
    ],
)
def test_a_choice_test_no_label_can_meet_is_found_where_the_template_is_listed(
    user_templates: Path, expect: str, can_pass: bool
) -> None:
    (user_templates / "lab.jinja").write_text(
        "---\nvariables: [input]\noutput: {type: choice, labels: [positive, negative]}\n"
        f"tests:\n  - {{name: meh, input: meh, expect: {expect}}}\n---\n{{{{ input }}}}\n",
        encoding="utf-8",
    )
    # was: listed as fine, and a FAIL on every model: the answer is always one of the labels
    (entry,) = [entry for entry in list_templates() if entry.name == "lab"]
    if can_pass:
        assert entry.error is None
    else:
        assert entry.error == (
            "template 'lab': test 'meh': no label (positive, negative) meets its expectation, so it can only fail"
        )


def test_builtin_templates_have_no_test_case_that_can_only_fail() -> None:
    errors = {entry["name"]: entry["error"] for entry in json.loads(cli("templates", "list", "--json").stdout)}
    assert errors and all(error is None for error in errors.values()), errors


# ---- user findings ------------------------------------------------------------------------------------


@pytest.mark.parametrize("default", [".nan", ".inf", "-.inf"])
def test_a_default_that_is_no_finite_number_is_refused_when_the_template_loads(
    user_templates: Path, default: str
) -> None:
    # was rendered "nan" / "inf" to the model, while -v ratio=nan (or a test's NaN) is refused
    (user_templates / "n.jinja").write_text(
        f"---\nvariables:\n  - input\n  - {{name: ratio, default: {default}}}\n---\n{{{{ input }}}} {{{{ ratio }}}}\n",
        encoding="utf-8",
    )
    result = cli("templates", "render", "n", "--input", "x")
    assert result.exit_code == 1
    (line,) = error_lines(result)
    assert line.endswith("n.jinja: variable 'ratio': its default " + repr(float(default.replace(".", ""))) + " is not a finite number")


def test_a_config_that_links_to_a_missing_file_is_an_error_not_an_empty_config(
    assistant_home: Path, tmp_path: Path
) -> None:
    # was read as no config at all: default_model, [backends.*] and plugin_dirs dropped without a word
    (assistant_home / "config").mkdir(parents=True, exist_ok=True)
    link = assistant_home / "config" / "config.toml"
    link.symlink_to(tmp_path / "dotfiles" / "assistant.toml")
    with pytest.raises(ConfigError, match=r"^cannot read config .*config\.toml: it is a symbolic link to .*"
                       r"assistant\.toml, which does not exist$"):
        config.load_config()
    result = cli("config", "show")
    assert result.exit_code == 1 and "which does not exist" in error_lines(result)[-1]


@pytest.mark.parametrize(
    ("expression", "what"),
    [("input.upper", "the function str.upper"), ("range", "the function"), ("namespace", "the class Namespace")],
)
def test_a_function_written_without_its_call_is_an_error_not_its_repr(expression: str, what: str) -> None:
    # was "<built-in method upper of str object at 0x7f…>" in the prompt: a memory address sent to the
    # model, and a prompt (and prompt hash) that changed from run to run
    template = template_from_string(f"{{{{ {expression} }}}} {{{{ input }}}}", "uncalled")
    with pytest.raises(TemplateError, match=rf"^uncalled\.jinja:1: {{{{ … }}}} writes {what}.* itself, not a value; "
                       r"add \(\) to call it$"):
        render_template(template, input="x")


def test_values_that_are_not_functions_still_render() -> None:
    body = "{{ input.upper() }} {{ 'a' if false }}{{ [1]|list }} {{ {'k': 1} }} {{ none }}"
    assert render_template(template_from_string(body, "fine"), input="x")[0].content == "X [1] {'k': 1} None"


@pytest.mark.parametrize("body", ['{{ "\\ud800" }} {{ input }}', '{{ "%c"|format(56448) }}{{ input }}'])
def test_a_template_that_writes_a_lone_surrogate_is_one_error_not_a_traceback(
    user_templates: Path, fakes: list, body: str
) -> None:
    (user_templates / "sur.jinja").write_text(f"---\nvariables: [input]\n---\n{body}\n", encoding="utf-8")
    # was: rendered, then "UnicodeEncodeError: … surrogates not allowed" from the prompt's hash, a traceback
    result = cli("prompt", "-t", "sur", "-b", "fake", "hi")
    assert result.exit_code == 1
    (line,) = error_lines(result)
    assert line.startswith("error: ") and "sur.jinja: the rendered text is not valid Unicode (" in line
    assert line.endswith("at character 1); no model can take it")

"""Round 17, templates: checked defaults, templates whose declaration contradicts itself, empty config
paths, option errors naming the option as typed, and user findings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest
from click.testing import CliRunner, Result

from assistant import config, hookimpl
from assistant.cli import main
from assistant.errors import ConfigError, TemplateError
from assistant.plugins import register_plugin
from assistant.templates import list_templates, render_template
from assistant.tools import BaseTool, Parameter, TextResult


def cli(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input)


def write_config(home: Path, text: str) -> None:
    (home / "config").mkdir(parents=True, exist_ok=True)
    (home / "config" / "config.toml").write_text(text, encoding="utf-8")


# A tool parameter whose check knows a canonical spelling ("fr" is French) and refuses "Klingonese".
def _language(value: Any) -> None:
    if str(value).strip().lower() == "klingonese":
        raise ConfigError(f"{value!r} is not a language the assistant knows")


class _Tool(BaseTool):
    name = "lang-demo"
    description = "Test tool with checked parameters."
    parameters = (
        Parameter("to", "str", required=True, check=_language),
        Parameter("length", "choice", choices=("short", "bullets"), default="short"),
    )

    def run(self, text: str, params: Any, backend: Any) -> TextResult:
        return TextResult(text)


class _Plugin:
    @hookimpl
    def register_tools(self, register: Callable[[Any], None]) -> None:
        register(_Tool())


def _template(directory: Path, name: str, variables: str, body: str) -> None:
    (directory / f"{name}.jinja").write_text(f"---\nvariables:\n{variables}---\n{body}\n", encoding="utf-8")


# ---- known item 1: the checked value is what the template receives, defaults included ---------------


def test_a_default_is_given_to_the_template_as_its_check_spells_a_given_value(user_templates: Path) -> None:
    register_plugin(_Plugin(), name="lang-demo-plugin")
    _template(
        user_templates,
        "s",
        "  - {name: length, default: BULLETS, check: lang-demo.length}\n"
        "  - {name: tone, default: FORMAL, choices: [formal, casual]}\n",
        "{{ length }} {{ tone }}",
    )
    # was "BULLETS FORMAL": the default went out as written while -v length=BULLETS gave "bullets"
    assert render_template("s")[-1].content == "bullets formal"
    assert render_template("s", {"length": "BULLETS", "tone": "Formal"})[-1].content == "bullets formal"


def test_an_empty_default_of_a_variable_with_choices_stays_empty(user_templates: Path) -> None:
    _template(user_templates, "e", "  - {name: tone, default: '', choices: [formal, casual]}\n", "[{{ tone }}]")
    assert render_template("e")[-1].content == "[]"


# ---- known item 2: a template whose declaration contradicts itself is found before it runs ---------------


@pytest.mark.parametrize(
    ("variables", "problem"),
    [
        ("  - {name: target, check: nosuch.to}\n", "variable 'target' is checked by nosuch.to, which cannot be used"),
        (
            "  - {name: target, check: lang-demo.too}\n",
            "tool 'lang-demo' has no parameter 'too' (parameters: to, length)",
        ),
        (
            "  - {name: target, default: Klingonese, check: lang-demo.to}\n",
            "the default of variable 'target': 'Klingonese' is not a language the assistant knows",
        ),
    ],
)
def test_templates_list_marks_a_template_whose_declaration_contradicts_itself(
    user_templates: Path, variables: str, problem: str
) -> None:
    register_plugin(_Plugin(), name="lang-demo-plugin")
    _template(user_templates, "bad", variables, "{{ target }}")
    _template(user_templates, "good", "  - {name: target, check: lang-demo.to}\n", "{{ target }}")
    listed = {entry.name: entry for entry in list_templates()}
    assert listed["bad"].error is not None and problem in listed["bad"].error
    assert listed["bad"].error.startswith("template 'bad': ")
    assert listed["good"].error is None
    result = cli("templates", "list")
    row = next(line for line in result.output.splitlines() if line.startswith("bad "))
    assert "INVALID: template 'bad': " in row and problem in row
    errors = {entry["name"]: entry["error"] for entry in json.loads(cli("templates", "list", "--json").stdout)}
    assert problem in errors["bad"] and errors["good"] is None


def test_a_default_its_check_refuses_is_refused_when_the_template_renders(user_templates: Path) -> None:
    register_plugin(_Plugin(), name="lang-demo-plugin")
    _template(user_templates, "k", "  - {name: target, default: Klingonese, check: lang-demo.to}\n", "{{ target }}")
    # was rendered "Klingonese", sent to the model as the author wrote it
    with pytest.raises(TemplateError, match=r"^template 'k': the default of variable 'target': 'Klingonese' is not"):
        render_template("k")
    assert render_template("k", {"target": "French"})[-1].content == "French"


# ---- known item 3: an empty path in the config is refused, naming the key ---------------------------


@pytest.mark.parametrize(
    ("line", "key"),
    [('templates_dir = ""', "templates_dir"), ('db = "  "', "db"), ('plugin_dirs = ["plug", ""]', "plugin_dirs")],
)
def test_an_empty_path_in_the_config_is_one_error_naming_the_key(assistant_home: Path, line: str, key: str) -> None:
    write_config(assistant_home, line + "\n")
    empty = rf"^{key} in .*config\.toml is an empty path; give a path, or leave {key} out"
    with pytest.raises(ConfigError, match=empty):
        config.load_config()


def test_templates_list_with_an_empty_templates_dir_says_so_in_one_line(assistant_home: Path) -> None:
    write_config(assistant_home, 'templates_dir = ""\n')
    result = cli("templates", "list")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: templates_dir in {assistant_home / 'config' / 'config.toml'} is an empty path; "
        "give a path, or leave templates_dir out for the default"
    ]


# ---- known item 4: option errors name the option as the user may have typed it ----------------------


@pytest.mark.parametrize("args", [["history", "list", "--limit", "0"], ["history", "list", "-n", "0"]])
def test_a_whole_number_option_error_names_every_spelling_of_the_option(args: list[str]) -> None:
    result = cli(*args)
    assert result.exit_code == 1
    # was "error: -n must be a whole number …" for a user who typed --limit
    assert result.output.strip().startswith("error: -n/--limit must be a whole number from 1 to ")


def test_an_empty_name_option_still_names_the_option() -> None:
    result = cli("prompt", "-b", "fake", "--model=", "hi")
    assert "error: -m/--model: empty value" in result.output


# ---- user findings ------------------------------------------------------------------------------------


def test_a_nul_in_a_config_path_is_one_error_naming_the_key(assistant_home: Path) -> None:
    # was a traceback ("ValueError: embedded null byte") from the first command that used the path
    write_config(assistant_home, 'db = "a\\u0000b"\n')
    with pytest.raises(ConfigError, match=r"^db in .*config\.toml holds a NUL character"):
        config.load_config()
    result = cli("history", "list")
    assert result.exit_code == 1 and result.output.count("\n") == 1 and "holds a NUL character" in result.output


def test_a_templates_dir_that_is_a_file_is_an_error_not_an_empty_directory(
    assistant_home: Path, tmp_path: Path
) -> None:
    file = tmp_path / "letter.jinja"
    file.write_text("hi\n", encoding="utf-8")
    write_config(assistant_home, f'templates_dir = "{file}"\n')
    result = cli("templates", "list")
    # was: the user's templates silently missing from the list, and "unknown template" for each
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: templates_dir in {assistant_home / 'config' / 'config.toml'} names {file}, "
        "which is a file, not a directory"
    ]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"input": NaN, "output": "b"}', "ex.jsonl:1: invalid JSON: NaN is not a JSON value"),
        ('{"input": "a", "output": 1e400}', "ex.jsonl:1: invalid JSON: the number 1e400 is too large"),
        ('{"input": "a", "input": "c", "output": "b"}', "ex.jsonl:1: the key 'input' is given twice"),
    ],
)
def test_an_examples_file_is_read_as_strictly_as_a_batch_row(user_templates: Path, line: str, problem: str) -> None:
    # was: NaN rendered "nan", 1e400 "Infinity", and the second "input" silently replaced the first
    (user_templates / "ex.jsonl").write_text(line + "\n", encoding="utf-8")
    (user_templates / "fs.jinja").write_text(
        "---\nstrategy: few-shot\nexamples: ex.jsonl\n---\n{{ input }}\n", encoding="utf-8"
    )
    with pytest.raises(TemplateError, match=problem.replace(".", r"\.").replace("(", r"\(")):
        render_template("fs", input="q")


@pytest.mark.parametrize(
    "front",
    ["params: {temperature: 0, temperature: 1}", "variables: [{name: a, name: b}]"],
)
def test_a_key_given_twice_on_one_line_of_yaml_is_refused(front: str) -> None:
    from assistant.templates import template_from_string

    # was: the last value kept without a word when both keys were on one line (only lines were compared)
    with pytest.raises(TemplateError, match=r"is given twice"):
        template_from_string(f"---\n{front}\n---\n{{{{ a }}}}\n", name="dup")


def test_a_json_examples_file_with_a_key_twice_on_one_line_is_refused(user_templates: Path) -> None:
    (user_templates / "ex.json").write_text('[{"input": "a", "input": "c", "output": "b"}]', encoding="utf-8")
    (user_templates / "fs.jinja").write_text(
        "---\nstrategy: few-shot\nexamples: ex.json\n---\n{{ input }}\n", encoding="utf-8"
    )
    with pytest.raises(TemplateError, match=r"ex\.json:1: invalid JSON: the key 'input' is given twice"):
        render_template("fs", input="q")


def test_a_misspelt_name_in_assistant_plugins_gets_a_did_you_mean(monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.plugins import plugin_failures, reset_plugins

    monkeypatch.setenv("ASSISTANT_PLUGINS", "Translate")
    reset_plugins()
    # was "no plugin file or entry point has this name", with nothing to say the name is matched exactly
    problems = [f.error for f in plugin_failures() if f.name == "Translate"]
    assert problems == ["no plugin file or entry point has this name (did you mean 'translate'?)"]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("---\nsystem: \"{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}\"\n---\nhi\n", "deep.jinja: in 'system': "),
        ("{{ " + "[" * 3000 + "]" * 3000 + " }}\n", "deep.jinja: "),
    ],
)
def test_a_template_nested_thousands_deep_is_one_error_and_the_list_goes_on(
    user_templates: Path, text: str, where: str
) -> None:
    # was a RecursionError traceback that ended `templates list` (system), or "recurses too deeply
    # (an include, extends or macro that leads back to itself)" for a body that includes nothing
    (user_templates / "deep.jinja").write_text(text, encoding="utf-8")
    listed = {entry.name: entry.error for entry in list_templates()}
    assert listed["deep"] is not None and listed["deep"].endswith(
        where + "the template nests too deeply (brackets, filters or blocks inside one another)"
    )
    assert listed["chat"] is None


def test_an_error_listing_a_templates_names_is_clipped_to_one_readable_line(user_templates: Path) -> None:
    names = [f"v{i}" for i in range(500)]
    body = "".join(f"{{{{ {name} }}}}" for name in names)
    (user_templates / "many.jinja").write_text(f"---\nvariables: [{', '.join(names)}]\n---\n{body}\n", encoding="utf-8")
    with pytest.raises(TemplateError) as info:
        render_template("many", {"x": "1"})
    # was every one of the 500 names, twice
    assert str(info.value) == (
        "template 'many': unknown variable(s) x (it takes: v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, "
        "… (500 in all)); missing required variable(s) v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, "
        "… (500 in all) (pass them with -v NAME=VALUE)"
    )


def test_a_template_body_is_parsed_once_when_it_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    import jinja2

    from assistant.templates import template_from_string

    body = "{% for x in items %}{{ x }}{% endfor %} {{ input }}"
    parsed: list[str] = []
    original = jinja2.Environment._parse

    def counting(self: Any, source: str, name: Any, filename: Any) -> Any:
        parsed.append(source)
        return original(self, source, name, filename)

    monkeypatch.setattr(jinja2.Environment, "_parse", counting)
    template_from_string(f"---\nvariables: [items, input]\n---\n{body}\n", name="once")
    # was three times (compiled, then read for its variables, then for its includes): most of a load's cost
    assert sum(1 for source in parsed if body in source) == 1

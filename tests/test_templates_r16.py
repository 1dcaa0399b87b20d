"""Round 16, templates: module splits, variable ``choices`` and ``check: TOOL.PARAMETER``, and user findings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest
from click.testing import CliRunner, Result

from assistant import hookimpl
from assistant.cli import main
from assistant.errors import ConfigError, TemplateError
from assistant.plugins import register_plugin
from assistant.templates import load_template, render_template, template_from_string
from assistant.tools import BaseTool, Parameter, TextResult

REPO = Path(__file__).resolve().parent.parent


def cli(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input)


# ---- known item 1: no module of the area past ~600 lines, old import paths kept ---------------


@pytest.mark.parametrize(
    "module", ["assistant/templates/loader.py", "assistant/plugins.py", "assistant/templates/search.py"]
)
def test_split_modules_stay_small(module: str) -> None:
    lines = (REPO / module).read_text(encoding="utf-8").count("\n")
    assert lines < 450, f"{module} has {lines} lines"


def test_names_moved_out_of_loader_and_plugins_are_still_importable_from_there() -> None:
    from assistant import plugins
    from assistant.templates import loader

    for name in ("find_template", "template_dirs", "user_templates_dir", "read_template_text", "SUFFIX",
                 "split_front_matter", "jinja_source", "template_name", "TemplateDir"):
        assert hasattr(loader, name), name
    for name in ("PluginFailure", "strict_plugins", "first_party_plugin_dir", "DEFAULT_PLUGINS",
                 "register_plugin", "call_registration_hook", "plugin_failures"):
        assert hasattr(plugins, name), name


# ---- known item 2: a variable's value checked by choices or by a tool parameter's check -------------


def _no_klingon(value: Any) -> None:
    if str(value).strip().lower() == "klingonese":
        raise ConfigError(f"{value!r} is not a language the assistant knows (did you mean 'Klingon'?)")


class _LanguageTool(BaseTool):
    name = "lang-demo"
    description = "Test tool with a checked parameter."
    parameters = (Parameter("to", "str", required=True, aliases=("target",), check=_no_klingon),)

    def run(self, text: str, params: Any, backend: Any) -> TextResult:
        return TextResult(text)


class _CheckPlugin:
    @hookimpl
    def register_tools(self, register: Callable[[Any], None]) -> None:
        register(_LanguageTool())


_CHECKED = """---
variables:
  - name: input
  - name: target
    check: lang-demo.to
---
Translate to {{ target }}: {{ input }}
"""


def test_a_variable_checked_by_a_tool_parameter_is_refused_as_the_tool_refuses_it(user_templates: Path) -> None:
    register_plugin(_CheckPlugin(), name="lang-demo-plugin")
    (user_templates / "tr.jinja").write_text(_CHECKED, encoding="utf-8")
    with pytest.raises(TemplateError, match=r"variable 'target': 'Klingonese' is not a language.*Klingon'\?"):
        render_template("tr", {"target": "Klingonese"}, input="hi")
    messages = render_template("tr", {"target": "French"}, input="hi")
    assert messages[-1].content == "Translate to French: hi"
    # the tool's "parameter 'to' is required" is said of the variable the user wrote
    with pytest.raises(TemplateError, match=r"^template 'tr': variable 'target' is required and cannot be empty$"):
        render_template("tr", {"target": " "}, input="hi")


def test_prompt_t_refuses_a_checked_variable_in_one_line_before_any_model(user_templates: Path) -> None:
    register_plugin(_CheckPlugin(), name="lang-demo-plugin")
    (user_templates / "tr.jinja").write_text(_CHECKED, encoding="utf-8")
    result = cli("prompt", "-t", "tr", "-v", "target=Klingonese", "-b", "no-such-backend", "hi")
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [
        "error: template 'tr': variable 'target': 'Klingonese' is not a language the assistant knows "
        "(did you mean 'Klingon'?)"
    ]


def test_a_checked_variable_gets_the_value_as_the_tool_would_use_it(user_templates: Path) -> None:
    """A choice parameter's value in its declared spelling: the template need not compare ignoring case."""

    class Tool(_LanguageTool):
        parameters = (Parameter("length", "choice", choices=("short", "bullets"), default="short"),)

    class Plugin:
        @hookimpl
        def register_tools(self, register: Callable[[Any], None]) -> None:
            register(Tool())

    register_plugin(Plugin(), name="length-demo")
    (user_templates / "s.jinja").write_text(
        "---\nvariables:\n  - {name: length, default: short, check: lang-demo.length}\n---\n"
        "{% if length == 'bullets' %}as bullets{% else %}as prose{% endif %}\n",
        encoding="utf-8",
    )
    assert render_template("s", {"length": " BULLETS"})[-1].content == "as bullets"
    with pytest.raises(TemplateError, match=r"^template 's': variable 'length' must be one of short, bullets, not 'long'$"):
        render_template("s", {"length": "long"})


def test_a_check_naming_a_missing_tool_or_parameter_refuses_the_value_saying_so(user_templates: Path) -> None:
    (user_templates / "a.jinja").write_text(_CHECKED.replace("lang-demo.to", "nosuch.to"), encoding="utf-8")
    with pytest.raises(TemplateError, match=r"checked by nosuch\.to, which cannot be used: unknown tool 'nosuch'"):
        render_template("a", {"target": "French"}, input="hi")
    register_plugin(_CheckPlugin(), name="lang-demo-plugin")
    (user_templates / "b.jinja").write_text(_CHECKED.replace("lang-demo.to", "lang-demo.too"), encoding="utf-8")
    with pytest.raises(TemplateError, match=r"tool 'lang-demo' has no parameter 'too' \(parameters: to\)"):
        render_template("b", {"target": "French"}, input="hi")


def test_a_check_that_is_not_tool_dot_parameter_fails_the_template_at_load(user_templates: Path) -> None:
    (user_templates / "c.jinja").write_text(_CHECKED.replace("lang-demo.to", "language"), encoding="utf-8")
    with pytest.raises(TemplateError, match=r"'check' names a tool's parameter as TOOL\.PARAMETER"):
        load_template("c")


def test_a_plugin_check_that_crashes_is_named_not_a_traceback(user_templates: Path) -> None:
    def broken(value: Any) -> None:
        raise KeyError(value)

    class Tool(_LanguageTool):
        parameters = (Parameter("to", "str", check=broken),)

    class Plugin:
        @hookimpl
        def register_tools(self, register: Callable[[Any], None]) -> None:
            register(Tool())

    register_plugin(Plugin(), name="crashy-check")
    (user_templates / "tr.jinja").write_text(_CHECKED, encoding="utf-8")
    with pytest.raises(TemplateError, match=r"the check lang-demo\.to \(plugin 'crashy-check'\) failed: KeyError"):
        render_template("tr", {"target": "French"}, input="hi")


def test_choices_match_ignoring_case_and_give_back_the_declared_spelling() -> None:
    template = template_from_string(
        "---\nvariables:\n  - name: tone\n    choices: [formal, casual]\n    default: formal\n---\n{{ tone }}\n",
        name="tone",
    )
    assert render_template(template, {"tone": " CASUAL "})[-1].content == "casual"
    assert render_template(template)[-1].content == "formal"
    with pytest.raises(TemplateError, match=r"takes one of formal, casual, not 'formel'; did you mean 'formal'\?"):
        render_template(template, {"tone": "formel"})
    required = template_from_string("---\nvariables:\n  - {name: tone, choices: [formal, casual]}\n---\n{{ tone }}\n")
    with pytest.raises(TemplateError, match=r"takes one of formal, casual, not list"):
        render_template(required, {"tone": ["formal"]})
    assert template.variable("tone").to_dict()["choices"] == ["formal", "casual"]


@pytest.mark.parametrize(
    ("declaration", "message"),
    [
        ("choices: []", "'choices' must be a list of non-empty texts"),
        ("choices: [yes, true]", "quote true, false"),
        ("choices: formal", "'choices' must be a list"),
        ("choices: [a, A]", "matched ignoring case"),
        ("choices: [a, b]\n    default: c", "its default 'c' is not one of its choices"),
    ],
)
def test_bad_choices_fail_the_template_at_load(declaration: str, message: str) -> None:
    text = f"---\nvariables:\n  - name: tone\n    {declaration}\n---\n{{{{ tone }}}}\n"
    with pytest.raises(TemplateError, match=message):
        template_from_string(text, name="bad")


def test_templates_show_json_lists_choices_and_check(user_templates: Path) -> None:
    (user_templates / "tr.jinja").write_text(_CHECKED, encoding="utf-8")
    data = json.loads(cli("templates", "show", "tr", "--json").stdout)
    assert {"name": "target", "required": True, "check": "lang-demo.to"} in data["variables"]


# ---- user findings -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["tone=formel", "n=many"])
def test_a_batch_refuses_a_bad_shared_value_before_loading_the_model(
    tmp_path: Path, user_templates: Path, fakes: list, value: str
) -> None:
    """A shared ``-v`` value that is not allowed (or not of the default's type) failed every row,
    each with the same error, after the model had loaded."""
    (user_templates / "t.jinja").write_text(
        "---\nvariables:\n  - input\n  - {name: tone, choices: [formal, casual], default: formal}\n"
        "  - {name: n, default: 3}\n---\n{{ tone }} {{ n }} {{ input }}\n",
        encoding="utf-8",
    )
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"text": "a"}\n{"text": "b"}\n', encoding="utf-8")
    result = cli("prompt", "-t", "t", "-b", "fake", "-m", "m", "--batch", str(rows), "-v", value, "--no-log")
    assert result.exit_code != 0
    assert fakes == []
    name = value.split("=")[0]
    assert [line for line in result.output.splitlines() if line.strip()] == [
        line for line in result.output.splitlines() if line.startswith(f"error: template 't': variable {name!r}")
    ] != []


def test_a_misspelt_top_level_command_gets_a_did_you_mean_as_a_subcommand_does() -> None:
    """click suggests only among commands already imported; the core commands are imported lazily."""
    result = cli("promt", "hi")
    assert result.exit_code == 2
    assert "No such command 'promt'. Did you mean 'prompt'?" in result.output
    assert "Did you mean 'translate'?" in cli("translat", "--to", "fr", "hi").output
    assert "Did you mean" not in cli("xyzzy").output


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16"])
def test_a_template_saved_as_utf16_is_refused_naming_the_encoding(user_templates: Path, encoding: str) -> None:
    """Without a byte-order mark UTF-16 is valid UTF-8 with a NUL after each letter: the template was
    listed as valid, with no description and no variables, and sent as ``-\\0-\\0…``; with one, the
    error named "byte 0xff", not what the file was."""
    (user_templates / "wide.jinja").write_bytes("---\ndescription: d\n---\nSay {{ input }}\n".encode(encoding))
    with pytest.raises(TemplateError, match=r"wide\.jinja is UTF-16 text, not UTF-8; save it as UTF-8"):
        load_template("wide")
    listed = cli("templates", "list").stdout
    assert "INVALID: template" in next(line for line in listed.splitlines() if line.startswith("wide "))


def test_a_template_holding_a_nul_byte_is_refused(user_templates: Path) -> None:
    """A NUL is in no text file (strict input files refuse it); in a template it went to the model."""
    (user_templates / "nul.jinja").write_bytes(b"a\x00b {{ input }}\n")
    with pytest.raises(TemplateError, match=r"nul\.jinja holds a NUL byte at offset 1, line 1"):
        load_template("nul")

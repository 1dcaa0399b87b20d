"""Importing simonw/llm YAML templates."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from assistant.errors import TemplateError
from assistant.templates import load_template, render_template
from assistant.templates.llm_import import convert_llm_template, convert_placeholders, import_llm_template
from assistant.templates.scaffold import write_user_template
from assistant.types import Message


def imported(user_templates: Path, data: object, name: str = "imp") -> list[str]:
    text, warnings = convert_llm_template(data, name)
    write_user_template(name, text)
    return warnings


@pytest.mark.parametrize(
    ("text", "jinja", "names"),
    [
        ("Summarize: $input", "Summarize: {{ input }}", ["input"]),
        ("${voice}ish and $voice", "{{ voice }}ish and {{ voice }}", ["voice"]),
        ("Costs $$5 for $item", "Costs $5 for {{ item }}", ["item"]),
        ("no vars", "no vars", []),
        ("{{ not jinja }} $x", "{%+ raw %}{{ not jinja }} {%+ endraw +%}{{ x }}", ["x"]),
    ],
)
def test_placeholders_become_jinja(text: str, jinja: str, names: list[str]) -> None:
    assert convert_placeholders(text, "t") == (jinja, names)


def test_a_bare_dollar_is_an_error() -> None:
    with pytest.raises(TemplateError, match="invalid placeholder at line 2"):
        convert_placeholders("fine\ncosts $ 5", "t")


def test_prompt_with_input_and_defaults(user_templates: Path) -> None:
    warnings = imported(
        user_templates,
        {
            "system": "You speak like $persona.",
            "prompt": "Suggest a recipe with $ingredients from $country.\nNotes: $input",
            "defaults": {"country": "Italy", "unused": "x"},
            "options": {"temperature": 0.3, "max_tokens": 50, "frequency_penalty": 1},
        },
    )
    template = load_template("imp")
    assert template.strategy == "zero-shot"
    assert {v.name: v.required for v in template.variables} == {
        "persona": True,
        "ingredients": True,
        "country": False,
        "input": True,
    }
    assert template.params == {"temperature": 0.3, "max_tokens": 50}
    assert any("'frequency_penalty' dropped" in w for w in warnings)
    assert any("default for 'unused' dropped" in w for w in warnings)
    messages = render_template("imp", {"persona": "a pirate", "ingredients": "eggs"}, input="quick")
    assert messages == [
        Message("system", "You speak like a pirate."),
        Message("user", "Suggest a recipe with eggs from Italy.\nNotes: quick"),
    ]


def test_system_only_template_takes_the_input_as_the_message(user_templates: Path) -> None:
    imported(user_templates, {"system": "Summarize this text in the voice of $voice", "defaults": {"voice": "GlaDOS"}})
    assert load_template("imp").strategy == "chat"
    assert render_template("imp", input="The text.") == [
        Message("system", "Summarize this text in the voice of GlaDOS"),
        Message("user", "The text."),
    ]


def test_prompt_without_input_gets_the_input_appended_like_llm(user_templates: Path) -> None:
    imported(user_templates, "Summarize the following:")
    assert render_template("imp", input="Some text.")[-1].content == "Summarize the following:\nSome text."
    assert render_template("imp")[-1].content == "Summarize the following:"


def test_literal_jinja_and_dollars_survive_exactly(user_templates: Path) -> None:
    prompt = "Estimate the cost in $$ of: $input\n  {% not a tag %}\n{{ braces }}  \nend"
    imported(user_templates, {"prompt": prompt})
    rendered = render_template("imp", input="a car")[-1].content
    assert rendered == "Estimate the cost in $ of: a car\n  {% not a tag %}\n{{ braces }}  \nend"


def test_schema_object_becomes_json_output(user_templates: Path) -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    imported(user_templates, {"prompt": "Extract: $input", "schema_object": schema})
    output = load_template("imp").output
    assert output.type == "json" and output.schema == schema
    odd = {"type": "object", "patternProperties": {}}
    warnings = imported(user_templates, {"prompt": "x $input", "schema_object": odd}, name="imp2")
    assert load_template("imp2").output.schema is None
    assert any("schema_object kept as plain JSON" in w for w in warnings)


def test_unsupported_keys_are_reported_not_silently_dropped(user_templates: Path) -> None:
    warnings = imported(user_templates, {"prompt": "$input", "model": "gpt-4", "extract": True, "tools": ["x"], "weird": 1})
    joined = "\n".join(warnings)
    for key in ("model", "extract", "tools", "weird"):
        assert f"'{key}' dropped" in joined


def test_front_matter_is_readable_yaml(user_templates: Path) -> None:
    text, _ = convert_llm_template({"system": "line one\nline two", "prompt": "$input"}, "readable")
    front = text.split("---\n")[1]
    assert "system: |-\n  line one\n  line two" in front
    assert yaml.safe_load(front)["system"] == "line one\nline two"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"defaults": {"a": 1}}, "neither 'prompt' nor 'system'"),
        (["a", "b"], "YAML mapping"),
        ({"prompt": ["not", "text"]}, "'prompt' must be a string"),
        ({"prompt": "$input", "defaults": ["a"]}, "'defaults' must be a mapping"),
    ],
)
def test_invalid_llm_templates(data: object, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        convert_llm_template(data, "bad")


def test_import_file_validates_and_names_after_the_file(tmp_path: Path) -> None:
    source = tmp_path / "steampunk.yaml"
    source.write_text("prompt: >\n  Summarize the following text.\n\n  Text to summarize: $input\n")
    name, text, warnings = import_llm_template(source)
    assert name == "steampunk" and warnings == []
    assert "{{ input }}" in text
    bad = tmp_path / "bad.yaml"
    bad.write_text("prompt: [unclosed\n")
    with pytest.raises(TemplateError, match="invalid YAML"):
        import_llm_template(bad)
    with pytest.raises(TemplateError, match="does not exist"):
        import_llm_template(tmp_path / "missing.yaml")

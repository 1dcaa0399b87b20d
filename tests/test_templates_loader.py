"""Where templates come from: search order, overrides, include/extends across directories."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from assistant import hookimpl
from assistant.default_plugins.template_dirs import builtin_prompts_dir
from assistant.errors import TemplateError
from assistant.plugins import register_plugin
from assistant.templates import list_templates, load_template, render_template, template_dirs
from assistant.templates.loader import jinja_source, split_front_matter
from assistant.types import Message


class TemplateDirPlugin:
    def __init__(self, path: Path) -> None:
        self.path = path

    @hookimpl
    def register_template_dirs(self, register: Callable[[Path], None]) -> None:
        register(self.path)


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "plugin-prompts"
    directory.mkdir()
    register_plugin(TemplateDirPlugin(directory), name="tpl-plugin")
    return directory


def test_search_order_is_user_then_plugins_then_builtin(user_templates: Path, plugin_dir: Path) -> None:
    dirs = template_dirs()
    assert [d.source for d in dirs] == ["user", "plugin:tpl-plugin", "builtin"]
    assert dirs[0].path == user_templates
    assert dirs[1].path == plugin_dir
    assert dirs[2].path == builtin_prompts_dir()


def test_config_templates_dir_replaces_the_default(assistant_home: Path, tmp_path: Path) -> None:
    (assistant_home / "config").mkdir(parents=True)
    custom = tmp_path / "my prompts"
    (assistant_home / "config" / "config.toml").write_text(f'templates_dir = "{custom}"\n')
    assert template_dirs()[0].path == custom


def test_user_overrides_plugin_overrides_builtin(user_templates: Path, plugin_dir: Path, write_file: Any) -> None:
    write_file(plugin_dir, "chat.jinja", "---\nsystem: plugin\nvariables: [{name: input, default: ''}]\n---\n{{ input }}\n")
    assert render_template("chat") == [Message("system", "plugin")]
    assert load_template("chat").source == "plugin:tpl-plugin"
    write_file(user_templates, "chat.jinja", "---\nsystem: mine\nvariables: [{name: input, default: ''}]\n---\n{{ input }}\n")
    assert render_template("chat") == [Message("system", "mine")]
    assert load_template("chat").source == "user"


def test_list_shows_winners_and_optionally_the_hidden(user_templates: Path, plugin_dir: Path, write_file: Any) -> None:
    write_file(user_templates, "chat.jinja", "---\ndescription: my chat\n---\n{{ input }}\n")
    write_file(plugin_dir, "extra.jinja", "---\ndescription: from a plugin\n---\n{{ input }}\n")
    write_file(plugin_dir, "_partial.jinja", "not listed")
    write_file(user_templates, "broken.jinja", "---\nbogus: 1\n---\nx\n")
    listed = {t.name: t for t in list_templates()}
    assert {"chat", "extra", "few-shot", "chain-of-thought", "zero-shot", "broken"} <= set(listed)
    assert "_partial" not in listed
    assert listed["chat"].source == "user" and listed["chat"].description == "my chat"
    assert listed["extra"].source == "plugin:tpl-plugin"
    assert listed["broken"].error is not None and "bogus" in listed["broken"].error
    everything = list_templates(include_shadowed=True)
    chats = [t for t in everything if t.name == "chat"]
    assert [(t.source, t.shadowed_by) for t in chats] == [("user", None), ("builtin", "user")]
    assert chats[1].description.startswith("Plain chat")


def test_include_and_extends_work_across_directories(user_templates: Path, plugin_dir: Path, write_file: Any) -> None:
    write_file(plugin_dir, "_signature.jinja", "-- signed {{ who }}")
    write_file(
        plugin_dir,
        "letter.jinja",
        """
        ---
        description: a base letter
        variables: [who, body]
        ---
        Dear {{ who }},
        {% block content %}{{ body }}{% endblock %}

        {% include "_signature" %}
        """,
    )
    write_file(
        user_templates,
        "thanks.jinja",
        """
        ---
        variables: [who, body]
        ---
        {% extends "letter" %}
        {% block content %}Thank you! {{ super() }}{% endblock %}
        """,
    )
    assert render_template("thanks", {"who": "Ada", "body": "See you."})[-1].content == (
        "Dear Ada,\nThank you! See you.\n-- signed Ada"
    )


def test_include_of_a_builtin_and_of_partials_in_subdirectories(user_templates: Path, write_file: Any) -> None:
    write_file(user_templates, "parts/greeting.jinja", "Hello {{ input }}")
    write_file(user_templates, "greet.jinja", "---\nvariables: [input]\n---\n{% include 'parts/greeting.jinja' %}!\n")
    assert render_template("greet", input="you")[-1].content == "Hello you!"


def test_an_override_that_extends_itself_is_a_clear_error(user_templates: Path, write_file: Any) -> None:
    write_file(user_templates, "loop.jinja", "---\nvariables: []\n---\n{% extends 'loop' %}\n")
    with pytest.raises(TemplateError, match="recurses too deeply .an include, extends or macro"):
        render_template("loop")


def test_front_matter_keeps_line_numbers_for_jinja() -> None:
    text = "---\na: 1\nb: 2\n---\nbody {{ x }}\nline 6\n"
    front, body, line = split_front_matter(text, Path("t.jinja"))
    assert (front, body, line) == ("a: 1\nb: 2\n", "body {{ x }}\nline 6\n", 5)
    source = jinja_source(text)
    assert source.count("\n") == text.count("\n")
    assert source.splitlines()[4] == "body {{ x }}"


def test_template_without_front_matter_is_all_body(user_templates: Path, write_file: Any) -> None:
    write_file(user_templates, "bare.jinja", "Just {{ thing }}.\n")
    template = load_template("bare")
    assert template.strategy == "zero-shot" and template.variable_names == ["thing"]
    assert render_template("bare", {"thing": "this"}) == [Message("user", "Just this.")]


def test_edited_template_is_reloaded(user_templates: Path, write_file: Any) -> None:
    path = write_file(user_templates, "t.jinja", "---\nvariables: []\n---\nfirst\n")
    assert render_template("t")[0].content == "first"
    path.write_text("---\nvariables: []\n---\nsecond version\n")
    assert render_template("t")[0].content == "second version"


def test_every_builtin_template_loads_and_ships_tests() -> None:
    names = sorted(p.stem for p in builtin_prompts_dir().glob("*.jinja") if not p.name.startswith("_"))
    assert {"chat", "zero-shot", "few-shot", "chain-of-thought", "few-shot-sentiment"} <= set(names)
    for name in names:
        template = load_template(name)
        assert template.source == "builtin"
        assert template.tests, f"built-in template {name} has no tests"
        assert template.description


def test_a_macro_that_calls_itself_for_ever_is_named_as_recursion(user_templates: Path, write_file: Any) -> None:
    write_file(
        user_templates, "deep.jinja", "---\nvariables: []\n---\n{% macro down(n) %}{{ down(n + 1) }}{% endmacro %}{{ down(0) }}\n"
    )
    with pytest.raises(TemplateError, match=r"recurses too deeply \(an include, extends or macro that leads back"):
        render_template("deep")

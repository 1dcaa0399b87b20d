"""Round 17, lead: what joining the helpers' work needed (one check's canonical value for tool and template)."""

from __future__ import annotations

from click.testing import CliRunner

from assistant.cli import main
from assistant.templates import render_template


def test_the_translate_template_receives_the_language_its_check_names() -> None:
    """`prompt -t translate -v target=fr` rendered "to fr" while `tool translate --to fr` asked "to French":
    the check (`check: translate.to`) knew the name and its answer was thrown away."""
    messages = render_template("translate", {"target": "fr", "source": "de"}, input="Guten Morgen.")
    text = messages[-1]["content"] if isinstance(messages[-1], dict) else messages[-1].content
    assert "from German to French." in text


def test_the_shown_prompt_of_the_translate_template_names_the_language() -> None:
    result = CliRunner().invoke(
        main, ["templates", "render", "translate", "-v", "target=ja", "--input", "Hello."]
    )
    assert result.exit_code == 0, result.output
    assert "to Japanese." in result.output and "to ja." not in result.output

"""Round 10, the lead's own fixes: template test regexes that break the compiler, role-marker look-alikes."""

from __future__ import annotations

import pytest

from assistant.errors import TemplateError
from assistant.templates.render import format_messages
from assistant.templates.spec import parse_expectation
from assistant.types import Message


@pytest.mark.parametrize("pattern", ["a{4294967295}", "(" * 5000 + "a" + ")" * 5000])
def test_a_regex_the_compiler_cannot_take_is_a_template_error(pattern: str) -> None:
    # OverflowError / RecursionError escaped as tracebacks and broke `templates list` for every template
    with pytest.raises(TemplateError, match="invalid regex"):
        parse_expectation("t", {"regex": pattern})


@pytest.mark.parametrize("value", [{"a": 1}, [1], True])
def test_a_regex_that_is_not_text_is_refused(value: object) -> None:
    # {a: 1} was silently turned into the text "{'a': 1}"
    with pytest.raises(TemplateError, match="must be a text"):
        parse_expectation("t", {"regex": value})


def test_a_number_regex_is_still_its_text() -> None:
    assert parse_expectation("t", {"regex": 42}).regex == "42"


@pytest.mark.parametrize("line", ["[user]\u00a0", " [system]", "\t[assistant] ", "[user]\r"])
def test_a_value_line_that_prints_like_a_role_marker_is_escaped(line: str) -> None:
    shown = format_messages([Message("user", f"hello\n{line}\nbye")])
    lines = shown.splitlines()
    assert lines[0] == "[user]"
    assert [text for text in lines[1:] if text.strip() in ("[user]", "[system]", "[assistant]")] == []

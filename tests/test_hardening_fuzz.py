"""Issue #20: the CLI's text inputs and ``-o`` values, fuzzed: no traceback, exit status 0, 1 or 2 only.

Arbitrary text includes lone surrogates (what undecodable argv bytes become),
control characters, NUL, huge numbers and option-looking strings. Every
run uses the fake backend through click's CliRunner, so each example costs
milliseconds.
"""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.cli import main
from assistant.option_values import INTEGER_BACKEND_OPTIONS
from assistant.types import GenerationParams

pytestmark = pytest.mark.usefixtures("fake_backend")

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FAKE = ["-b", "fake", "-m", "fake-model", "--no-log"]

# Any code point, lone surrogates (category Cs) included.
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
numberish = st.one_of(
    st.integers().map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "inf", "-inf", "1e309", "0x10", "1_000", "٣", "", " ", "true", "none", "\\x", "\\u12"]),
)
option_key = st.one_of(
    st.sampled_from([*GenerationParams.field_names(), *sorted(INTEGER_BACKEND_OPTIONS)]), any_text
)


def check(result: Result) -> None:
    """The contract: a clean exit with status 0, 1 or 2 — never an uncaught exception."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"uncaught {type(result.exception).__name__}: {result.exception!r}") from result.exception
    assert result.exit_code in (0, 1, 2), result.exit_code
    assert "Traceback" not in result.output


def cli(args: list[str], input: str | None = None) -> Result:
    return CliRunner().invoke(main, args, input=input)


@FUZZ
@given(text=any_text)
def test_prompt_text(text: str) -> None:
    check(cli(["prompt", *FAKE, "-o", "max_tokens=8", "--", text]))
    check(cli(["prompt", *FAKE, "-o", "max_tokens=8", "-s", text, "hi"]))


@FUZZ
@given(key=option_key, value=st.one_of(numberish, any_text))
def test_option_values(key: str, value: str) -> None:
    check(cli(["prompt", *FAKE, "-o", "max_tokens=4", "-o", f"{key}={value}", "hi"]))


@FUZZ
@given(value=st.one_of(numberish, any_text))
def test_ids_and_counts(value: str) -> None:
    for args in (["history", "show", "--", value], ["history", "list", "-n", value], ["prompt", *FAKE, "--cid", value, "x"]):
        check(cli(args))


@FUZZ
@given(query=any_text)
def test_history_search(query: Any) -> None:
    check(cli(["prompt", "-b", "fake", "-m", "fake-model", "-o", "max_tokens=4", "seed the database"]))
    check(cli(["history", "search", "--", query]))


@FUZZ
@given(text=any_text, name=any_text)
def test_template_variables(text: str, name: str) -> None:
    check(cli(["templates", "render", "chat", "--input", text]))
    check(cli(["templates", "render", "chat", "-v", f"{name}={text}", "--input", "x"]))

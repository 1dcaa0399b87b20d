"""Round 20, options: one rule for whole numbers in ``-v`` and ``-o``, a limit on stop sequences, and binary data
on stdin refused as it is from ``--file``."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from assistant.cli import main
from assistant.errors import ConfigError, TemplateError
from assistant.options import check_param_type, parse_options


def cli(*args: str, input: str | bytes | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input)


# ---- 1. -v count=1e3 and -o max_tokens=1e3: one rule for whole numbers ------------------------------------------

COUNTING = "---\nvariables:\n  - {name: count, default: 3}\n---\n{{ count + 1 }}"


@pytest.mark.parametrize(("typed", "number"), [("1e3", 1000), ("3.0", 3), ("1.50e1", 15), ("2E2", 200)])
def test_a_whole_number_with_an_exponent_is_taken_by_v_as_by_o(typed: str, number: int) -> None:
    """``-v count=1e3`` was refused ("takes a whole number") where ``-o max_tokens=1e3`` ran with 1000."""
    from assistant.templates import render_template, template_from_string

    assert parse_options([f"max_tokens={typed}"])[0] == {"max_tokens": number}
    template = template_from_string(COUNTING, name="t")
    assert render_template(template, {"count": typed})[-1].content == str(number + 1)


@pytest.mark.parametrize("typed", ["1.5e0", "15e-1", "2.5", "1e30", "99999999999999999999", "1e999999999"])
def test_a_number_no_whole_number_setting_takes_is_refused_by_v_as_by_o(typed: str) -> None:
    from assistant.templates import render_template, template_from_string

    with pytest.raises(ConfigError):
        parse_options([f"max_tokens={typed}"])
    template = template_from_string(COUNTING, name="t")
    with pytest.raises(TemplateError, match=r"variable 'count' takes a whole number"):
        render_template(template, {"count": typed})


def test_v_with_an_exponent_renders_at_the_command_line(user_templates: Path) -> None:
    (user_templates / "t.jinja").write_text(COUNTING, encoding="utf-8")
    result = cli("templates", "render", "t", "-v", "count=1e3")
    assert result.exit_code == 0, result.output
    assert "1001" in result.stdout


# ---- 3. a limit on the number and size of stop sequences -------------------------------------------------------


def test_too_many_stop_sequences_from_o_are_one_line_naming_the_limit() -> None:
    """100,000 ``-o stop=`` added about 9 s to every reply, with no word said."""
    from assistant.option_values import MAX_STOP_SEQUENCES

    assert parse_options([f"stop=s{i}" for i in range(MAX_STOP_SEQUENCES)])[0]["stop"][-1] == "s999"
    with pytest.raises(ConfigError) as caught:
        parse_options([f"stop=s{i}" for i in range(MAX_STOP_SEQUENCES + 1)])
    assert str(caught.value) == "-o stop gives 1,001 stop sequences; at most 1,000 are taken"


def test_stop_sequences_larger_than_64_kib_together_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"^-o stop: the stop sequences hold more than 64 KiB \(65,536 bytes\)"):
        parse_options(["stop=" + "x" * 40_000, "stop=" + "é" * 20_000])  # 40,000 + 40,000 bytes of UTF-8
    assert len(parse_options(["stop=" + "x" * 65_536])[0]["stop"][0]) == 65_536  # the limit itself is fine


def test_a_config_or_template_stop_list_past_the_limit_names_where() -> None:
    with pytest.raises(ConfigError, match=r"^stop in params gives 100,000 stop sequences; at most 1,000"):
        check_param_type("stop", [f"s{i}" for i in range(100_000)], "params")


def test_a_template_listing_too_many_stop_sequences_fails_to_load(user_templates: Path) -> None:
    stops = ", ".join(f"s{i}" for i in range(1500))
    (user_templates / "t.jinja").write_text(f"---\nparams: {{stop: [{stops}]}}\n---\nhi\n", encoding="utf-8")
    result = cli("templates", "render", "t")
    assert result.exit_code == 1
    assert "1,500 stop sequences; at most 1,000 are taken" in result.stderr
    assert len(result.stderr.splitlines()) == 1


# ---- 4. binary data on stdin follows --file's rule ----------------------------------------------------------------

BINARY = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00"


def test_binary_data_is_refused_on_stdin_as_from_a_file(tmp_path: Path) -> None:
    """A PNG piped on stdin went to the model as U+FFFD soup; the same bytes as ``--file`` were refused."""
    from assistant.input_files import read_input_file, read_limited

    picture = tmp_path / "p.png"
    picture.write_bytes(BINARY)
    with pytest.raises(ConfigError):
        read_input_file(picture, "--file")
    with pytest.raises(ConfigError) as caught:
        read_limited(io.BytesIO(BINARY), "the input on stdin")
    assert str(caught.value) == (
        "the input on stdin holds a NUL byte at offset 8, line 3: not text; give text, not binary data"
    )
    assert read_limited(io.BytesIO(b"caf\xe9"), "stdin") == "caf\ufffd"  # invalid UTF-8 text stays lenient


@pytest.mark.parametrize(
    "args",
    [
        ("prompt", "-b", "fake", "translate this"),
        ("summarize", "-b", "fake"),
        ("templates", "render", "chat", "--input", "-"),
        ("templates", "render", "chat", "-v", "input=@-"),
        ("prompt", "-b", "fake", "-t", "summarize"),
    ],
)
def test_every_command_reading_stdin_refuses_binary_data(args: tuple[str, ...], fake_backend: None) -> None:
    result = cli(*args, input=BINARY)
    assert result.exit_code == 1, result.output
    assert result.stderr == (
        "error: the input on stdin holds a NUL byte at offset 8, line 3: not text; give text, not binary data\n"
    )


# ---- 5. what a user of prompt / templates found ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "named"),
    [(("-m", "gemma3-270m"), "-m"), (("-o", "max_tokens=abc"), "-o"), (("-b", "fake", "--verbose"), "-b, --verbose")],
)
def test_templates_render_refuses_model_options_without_raw(args: tuple[str, ...], named: str) -> None:
    """Without ``--raw`` nothing loads: ``-m gemma3-270m`` printed the same messages, ``-o max_tokens=abc`` was taken."""
    result = cli("templates", "render", "chat", "--input", "hi", *args)
    assert result.exit_code == 2
    assert f"Error: {named} pick the model --raw renders for" in result.stderr
    assert cli("templates", "render", "chat", "--input", "hi").exit_code == 0


def test_a_single_stop_text_past_64_kib_in_a_template_is_refused_too() -> None:
    with pytest.raises(ConfigError, match=r"^stop in params: the stop sequences hold more than 64 KiB"):
        check_param_type("stop", "x" * 70_000, "params")

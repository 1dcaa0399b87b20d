"""Round 19, templates: whole-number options quoted as typed, click's usage errors kept one clean line, and what
a demanding user of templates, config and plugins found."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from assistant.cli import main
from assistant.errors import ConfigError, TemplateError
from assistant.options import build_params, parse_options
from tests.conftest import run_cli


def cli(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input)


# ---- known item 1: a whole number past any setting, quoted as typed ---------------------------------------------


@pytest.mark.parametrize(
    ("item", "shown"),
    [
        ("seed=99999999999999999999", "'99999999999999999999'"),  # was "not 1e+20", from the seed's range check
        ("seed=-99999999999999999999", "'-99999999999999999999'"),
        ("top_k=1e30", "'1e30'"),
        ("max_tokens=1e400", "'1e400'"),  # was "needs a whole number": it is one, too large
        ("n_ctx=1e30", "'1e30'"),  # was "n_ctx=1000000000000000019884624838656 is past …": the float's value
        ("n_ctx=1e400", "'1e400'"),  # was "not inf"
        ("n_batch=99999999999999999999", "'99999999999999999999'"),
    ],
)
def test_a_whole_number_past_64_bits_is_refused_as_typed(item: str, shown: str) -> None:
    key = item.partition("=")[0]
    where = f"-o {key}" if key.startswith("n_") else f"option {key}"
    with pytest.raises(ConfigError) as caught:
        parse_options([item])
    assert str(caught.value) == (
        f"{where} must be a whole number of at most 19 digits (±9223372036854775807), not {shown}"
    )


def test_the_whole_numbers_options_take_are_read_exactly() -> None:
    """``1e3``, ``3.0`` and ``15e-1``: exact, not through a float (``1.50e1`` is 15, ``15e-1`` is no whole number)."""
    params, backend = parse_options(["seed=9223372036854775807", "max_tokens=1.50e1", "n_ctx=2e3", "n_threads=4.0"])
    assert params == {"seed": 2**63 - 1, "max_tokens": 15} and backend == {"n_ctx": 2000, "n_threads": 4}
    assert all(type(value) is int for value in (*params.values(), *backend.values()))
    with pytest.raises(ConfigError, match=r"^option top_k needs a whole number, got '15e-1'$"):
        parse_options(["top_k=15e-1"])
    assert parse_options(["n_ctx=none"])[1] == {"n_ctx": None}  # still "the default"


@pytest.mark.parametrize("raw", ["true", "yes", "0x10", "1_000", "٣", "１０", "nan", "inf"])
def test_a_backend_whole_number_option_quotes_the_text_typed(raw: str) -> None:
    """``-o n_batch=true`` was refused as ``not True``; ``yes`` as ``not True`` too."""
    with pytest.raises(ConfigError) as caught:
        parse_options([f"n_batch={raw}"])
    assert str(caught.value) == f"-o n_batch must be a whole number, not {raw!r}"


def test_thousands_of_digits_are_quoted_short() -> None:
    """A 5,000-digit number was quoted whole: a 5,000-character error line."""
    digits = "9" * 5000
    for item in (f"seed={digits}", f"n_ctx={digits}", f"temperature={digits}"):
        with pytest.raises(ConfigError) as caught:
            parse_options([item])
        assert len(str(caught.value)) < 200 and "(5,000 characters)" in str(caught.value), item


def test_a_huge_whole_number_in_config_or_template_params_is_quoted_whole(assistant_home: Path) -> None:
    from assistant.config import paths
    from assistant.templates import template_from_string

    config_file = paths().config_file
    config_file.parent.mkdir(parents=True, exist_ok=True)
    config_file.write_text("[params]\nseed = 99999999999999999999\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"seed in \[params\] of .*, not 99999999999999999999$"):
        build_params()
    with pytest.raises(TemplateError, match=r"seed in params must be a whole number of .*, not 99999999999999999999$"):
        template_from_string("---\nparams: {seed: 99999999999999999999}\n---\n{{ input }}\n")


def test_the_cli_quotes_a_huge_seed_as_typed(fake_backend: None) -> None:
    result = cli("prompt", "-b", "fake", "-m", "m", "--no-log", "-o", "seed=99999999999999999999", "hi")
    assert result.exit_code == 1
    assert "1e+20" not in result.output and "not '99999999999999999999'" in result.output


# ---- known item 2: click's usage errors --------------------------------------------------------------------------


def test_a_missing_argument_says_so_without_a_no_message_tail() -> None:
    """``templates show`` without NAME printed ``Error: Missing argument 'NAME'. (no message)``: the empty
    message of click's MissingParameter was made "(no message)" by the one-line rule."""
    result = cli("templates", "show")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == "Error: Missing argument 'NAME'."


def test_a_group_run_without_a_command_shows_its_help_laid_out() -> None:
    """``assistant templates`` printed its whole help flattened onto one line (click raises the help as a usage
    error, and the one-line rule flattened it)."""
    result = cli("templates")
    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert lines[0].endswith(" templates [OPTIONS] COMMAND [ARGS]...") and lines[0].startswith("Usage: ")
    assert any(line.split() == ["list", "List", "templates", "(user", ">", "plugins", ">", "built-in)."] for line in lines)


def test_usage_errors_keep_clicks_three_lines_with_no_escape_sequences_under_ci() -> None:
    """The choice (``assistant/cli/__init__.py``): click's usage, its ``--help`` hint and one ``Error:`` line,
    on stderr, status 2; under ``CI=true`` (and ``FORCE_COLOR``) redirected, not one escape sequence."""
    done = run_cli("prompt", "--bogus\x1b[31m", "x\ny", env={"CI": "true", "FORCE_COLOR": "1"})
    assert done.returncode == 2 and done.stdout == ""
    assert "\x1b" not in done.stderr
    lines = done.stderr.splitlines()
    assert lines[:3] == ["Usage: python -m assistant prompt [OPTIONS] [TEXT]", "Try 'python -m assistant prompt --help' for help.", ""]
    assert len(lines) == 4 and lines[3].startswith("Error: No such option '--bogus")


# ---- templates test: Ctrl-C and -o checked before the model loads --------------------------------------------------


class _PressDropped:
    """A fake engine that gets Ctrl-C inside its first reply and drops it, as ctypes drops an exception raised in
    llama.cpp's callbacks: the press is seen only by whoever handles SIGINT (the CLI's CtrlC)."""

    def __new__(cls) -> object:
        import os
        import signal

        from assistant.backends.fake import FakeBackend

        class Backend(FakeBackend):
            def sample_tokens(self, prompt_ids: list[int], params: object) -> object:  # type: ignore[override]
                if not self.calls:
                    try:
                        os.kill(os.getpid(), signal.SIGINT)
                        for _ in range(1000):  # the handler runs between two bytecodes, here
                            pass
                    except KeyboardInterrupt:
                        pass  # dropped
                return super().sample_tokens(prompt_ids, params)  # type: ignore[arg-type]

        return Backend()


def _three_cases(home: Path) -> None:
    directory = home / "config" / "templates"
    directory.mkdir(parents=True, exist_ok=True)
    cases = "".join(f"  - {{input: 'case {i}', expect: {{contains: case}}}}\n" for i in range(3))
    (directory / "three.jinja").write_text(f"---\nvariables: [input]\ntests:\n{cases}---\n{{{{ input }}}}\n")


def test_ctrl_c_dropped_inside_the_engine_stops_templates_test(assistant_home: Path) -> None:
    """A press inside llama.cpp's callbacks is dropped by ctypes: ``templates test`` ran every remaining case and
    printed its report with the exit status of the pass rate, as if nothing had been pressed. Now the press cancels
    the case in flight and the run stops there: ``interrupted``, status 130, as ``prompt`` and the tools do."""
    from assistant.backends.fake import FakeBackendPlugin
    from assistant.plugins import register_plugin

    made: list[object] = []

    def factory() -> object:
        made.append(_PressDropped())
        return made[-1]

    register_plugin(FakeBackendPlugin(factory), name="fake-press-dropped")  # type: ignore[arg-type]
    _three_cases(assistant_home)
    result = cli("templates", "test", "three", "-b", "fake", "-m", "m")
    assert result.exit_code == 130, result.output
    assert "interrupted" in result.stderr and "pass rate" not in result.output
    assert [len(engine.calls) for engine in made if engine.calls] == [1]  # type: ignore[attr-defined]


def test_a_bad_sampling_option_is_refused_before_the_model_loads(fakes: list) -> None:
    """``templates test NAME -o top_p=5`` and ``prompt -t NAME -o top_p=5`` loaded the model (seconds) and only then
    said ``top_p must be in (0, 1]``; ``prompt`` without -t said it at once."""
    for args in (("templates", "test", "few-shot"), ("prompt", "-t", "few-shot", "--no-log", "hi")):
        result = cli(*args, "-b", "fake", "-m", "m", "-o", "top_p=5")
        assert result.exit_code == 1 and result.output.strip() == "error: top_p must be in (0, 1]", result.output
    assert fakes == []


def test_ctrl_c_dropped_while_the_model_loads_stops_templates_render_raw() -> None:
    """``templates render --raw`` loads the model (seconds for a large one; llama.cpp calls back into Python for its
    log meanwhile, where a press is dropped): it went on to print the prompt and its count, status 0."""
    import os
    import signal

    from assistant.backends.fake import FakeBackend, FakeBackendPlugin
    from assistant.plugins import register_plugin

    class DropsAPressWhileLoading(FakeBackend):
        def load(self, model: str, **options: object) -> None:
            try:
                os.kill(os.getpid(), signal.SIGINT)
                for _ in range(1000):
                    pass
            except KeyboardInterrupt:
                pass  # dropped, as in a ctypes callback
            super().load(model, **options)

    register_plugin(FakeBackendPlugin(DropsAPressWhileLoading), name="fake-press-on-load")
    result = cli("templates", "render", "chat", "--input", "hi", "--raw", "-b", "fake", "-m", "m")
    assert result.exit_code == 130 and "interrupted" in result.stderr, result.output
    assert result.stdout == ""


# ---- a templates_dir that does not exist ----------------------------------------------------------------------------


def test_a_missing_templates_dir_is_named_where_a_template_is_not_found(assistant_home: Path, tmp_path: Path) -> None:
    """``templates_dir = "~/promts"`` (a typo): every template of the user's was "no template named …", and
    ``templates list`` listed the others, with no word that the directory looked in was not there."""
    from assistant.config import paths

    missing = tmp_path / "promts"
    paths().config_file.parent.mkdir(parents=True, exist_ok=True)
    paths().config_file.write_text(f'templates_dir = "{missing}"\n', encoding="utf-8")
    said = f"templates_dir in {paths().config_file} names {missing}, which does not exist"
    run = cli("templates", "render", "mine", "--input", "x")
    assert run.exit_code == 1 and run.stderr.strip().endswith(f"({said})"), run.output
    listed = cli("templates", "list")
    assert listed.exit_code == 0 and listed.stderr.splitlines() == [f"note: {said}"]
    assert "few-shot" in listed.stdout
    missing.mkdir()  # made (templates new makes the default one): nothing more to say
    assert cli("templates", "list").stderr == "" and "(templates_dir" not in cli("templates", "render", "mine").stderr


# ---- a plugin command's metavars -------------------------------------------------------------------------------------

METAVAR_PLUGIN = """\
import click
from assistant import hookimpl

@hookimpl
def register_commands(cli):
    @cli.command(name="evil")
    @click.argument("thing", metavar="\\x1b]0;PWN\\x07THING")
    @click.option("--mode", type=click.Choice(["\\x1b[31mred", "blue"]))
    @click.argument("rest", nargs=-1, type=click.Choice(["X", "y"]))
    def evil(thing, mode, rest):
        \"\"\"Evil.\"\"\"
        click.echo(f"ran {len(thing)} {mode == chr(27) + '[31mred'} {rest}")
"""


def test_a_plugin_commands_metavars_are_shown_visibly(assistant_home: Path) -> None:
    """The help and the help's text were made visible, but not the names shown for values: ``metavar=`` and a
    Choice's ``[a|b]`` reached the terminal raw, in ``--help`` and in the usage line of every usage error."""
    plugins = assistant_home / "config" / "plugins"
    plugins.mkdir(parents=True)
    (plugins / "evil_cmd.py").write_text(METAVAR_PLUGIN, encoding="utf-8")
    shown_help = run_cli("evil", "--help")
    usage_error = run_cli("evil")
    for done in (shown_help, usage_error):
        assert "\x1b" not in done.stdout + done.stderr and "\x07" not in done.stdout + done.stderr, done
    assert "Usage: python -m assistant evil [OPTIONS] ␛]0;PWN␇THING [X|y]..." in shown_help.stdout
    assert "--mode [␛[31mred|blue]" in shown_help.stdout
    assert usage_error.returncode == 2 and "␛]0;PWN␇THING" in usage_error.stderr
    ran = run_cli("evil", "x", "--mode", "\x1b[31mred", "y")  # the values taken are the plugin's own, as declared
    assert ran.returncode == 0 and ran.stdout == "ran 1 True ('y',)\n", ran.stderr


# ---- a number YAML reads as text --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("{temperature: 1e-1}", "temperature in params must be a number, not '1e-1' (it is read as text: write 0.1)"),
        ("{max_tokens: 1e3}", "max_tokens in params must be a whole number, not '1e3' (it is read as text: write 1000)"),
        ("{max_tokens: 1.5e1}", "max_tokens in params must be a whole number, not '1.5e1' (it is read as text: write 15)"),
        ("{temperature: 1e999}", "temperature in params must be a number, not '1e999'"),  # no "write inf"
        ("{max_tokens: 2.5e0}", "max_tokens in params must be a whole number, not '2.5e0'"),
        ("{max_tokens: '64'}", "max_tokens in params must be a whole number, not '64'"),  # quoted: the quotes say it
    ],
)
def test_a_number_in_exponent_form_that_yaml_reads_as_text_is_said_to_be(params: str, message: str) -> None:
    """PyYAML (YAML 1.1) reads ``1e-1`` as text (its floats need a dot and a signed exponent): ``temperature: 1e-1``
    was refused as "must be a number, not '1e-1'", which is one."""
    from assistant.templates import template_from_string

    with pytest.raises(TemplateError) as caught:
        template_from_string(f"---\nvariables: [input]\nparams: {params}\n---\n{{{{ input }}}}\n")
    assert str(caught.value).endswith(message)


def test_a_python_callers_huge_whole_number_is_refused_in_a_short_line() -> None:
    """``load_backend(…, n_ctx=10**5000)`` went through to the engine (whose own error could not even print it:
    Python refuses ``str()`` of an int past 4,300 digits)."""
    from assistant.option_values import check_backend_options

    with pytest.raises(ConfigError) as caught:
        check_backend_options({"n_ctx": 10**5000}, "load_backend()")
    assert str(caught.value) == (
        "n_ctx in load_backend() must be a whole number of at most 19 digits (±9223372036854775807), "
        "not a number of about 5,000 digits"
    )

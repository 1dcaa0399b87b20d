"""``assistant templates …`` (``assistant prompt -t`` runs templates in :mod:`.template_run`).

Everything here imports the template engine inside the command functions, so
``assistant --help`` never pays for Jinja or YAML.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Any

import click

from ..terminal_text import one_line
from .common import (
    TEXT,
    CtrlC,
    echo_json,
    echo_untrusted,
    model_options,
    progress_to_stderr,
    read_input_file,
    read_stdin_text,
    resolve_model_and_backend,
)

STRATEGY_CHOICE = click.Choice(["chat", "zero-shot", "few-shot", "chain-of-thought"])
RENDER_INPUT_HINT = "pass it with --input TEXT, or --input - to read stdin"
PROMPT_INPUT_HINT = "pass input as TEXT or on stdin"


class PassRate(click.FloatRange):
    """A rate in [0, 1] that is a number: click's FloatRange lets ``nan`` through, and every
    comparison with NaN is false, so ``--min-pass-rate nan`` would pass any run."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        rate = super().convert(value, param, ctx)
        if math.isnan(rate):
            self.fail(f"{value!r} is not a number from 0 to 1.", param, ctx)
        return rate


def parse_var_options(items: tuple[str, ...], stdin_used_by: str | None = None) -> dict[str, str]:
    """``-v key=value`` pairs; ``key=@file.txt`` reads the file (without its trailing
    newlines), ``key=@-`` reads stdin (as curl does), ``key=@@text`` is a literal ``@text``.

    ``stdin_used_by``: what else of the command reads stdin (``--input -``), so that
    ``@-`` is refused with it rather than one of them getting nothing. Called before the
    command reads its input from stdin (``prompt -t``), ``@-`` takes stdin and the input
    comes from TEXT. Without ``@-`` support "file - does not exist" named no file the user had.
    """
    from ..errors import ConfigError
    from ..options import refuse_repeated_options

    pairs: list[tuple[str, str]] = []
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"variable {item!r} must look like name=value (or name=@file)")
        pairs.append((key, value))
    # before any file or stdin is read: the first value would be dropped without a word
    refuse_repeated_options((key for key, _ in pairs), "-v", "variable")
    values: dict[str, str] = {}
    stdin_key: str | None = None
    for key, value in pairs:
        if value.startswith("@@"):
            value = value[1:]
        elif value == "@-":
            value = _stdin_value(key, stdin_key or stdin_used_by)
            stdin_key = f"-v {key}=@-"
        elif value.startswith("@"):
            if not value[1:].strip():  # Path("") is ".": "file . is a directory" named no file the user gave
                raise ConfigError(f"-v {key}=@ names no file (write -v {key}=@FILE, or -v {key}=@@ for a literal '@')")
            path = Path(value[1:]).expanduser()
            value = read_input_file(path, f"-v {key}: file").rstrip("\r\n")  # as $(cat file) does
        values[key] = value
    return values


def _stdin_value(key: str, stdin_used_by: str | None) -> str:
    """The value of ``-v KEY=@-``: piped stdin without its trailing newlines, as ``@FILE`` reads a file."""
    from ..errors import ConfigError

    if stdin_used_by is not None:
        raise ConfigError(
            f"-v {key}=@- and {stdin_used_by} both read stdin, which can feed only one; "
            f"give the other a file (-v NAME=@FILE)"
        )
    text = read_stdin_text()
    if text is None:
        raise ConfigError(f"-v {key}=@- reads stdin, which is a terminal here; pipe the value in, or use -v {key}=@FILE")
    return text.rstrip("\r\n")


def var_option(func: Any) -> Any:
    return click.option(
        "-v",
        "--var",
        "var_items",
        type=TEXT,
        multiple=True,
        metavar="NAME=VALUE",
        help="Template variable; NAME=@file.txt reads the value from a file, NAME=@- from stdin.",
    )(func)


def examples_as_option(func: Any) -> Any:
    """``--examples-as turns|inline``: how few-shot examples are laid out, over the template's own
    ``examples_as`` (``templates render`` and ``prompt -t`` alike; see :func:`~assistant.templates.render_template`)."""
    return click.option(
        "--examples-as", type=click.Choice(["turns", "inline"]), default=None,
        help="Lay few-shot examples out as chat turns or inline.",
    )(func)  # fmt: skip


def load_engine(model: str | None, backend: str | None, options: tuple[str, ...], verbose: bool) -> tuple[Any, dict[str, Any]]:
    """Load the model once for a command; returns (backend, sampling overrides from -o).

    The overrides are checked before the model loads (as ``prompt`` checks its own): ``-o top_p=5``
    on ``prompt -t`` or ``templates test`` was refused only once the model had loaded, seconds later.
    The template's own ``params`` were checked when it loaded, so this is every setting a run can fail on.
    """
    from ..options import build_params, parse_options
    from ..session import open_backend

    param_overrides, backend_opts = parse_options(options)
    build_params(param_overrides)
    if verbose:
        backend_opts["verbose"] = True
    model_name, backend_name = resolve_model_and_backend(model, backend)
    return open_backend(model_name, backend_name, backend_opts, progress=progress_to_stderr), param_overrides


@click.group()
def templates() -> None:
    """Prompt templates: list, show, render, test, create and import them."""


@templates.command("list", short_help="List templates (user > plugins > built-in).")
@click.option("--all", "show_all", is_flag=True, help="Also list templates hidden by an override.")
@click.option("--json", "as_json", is_flag=True)
def list_command(show_all: bool, as_json: bool) -> None:
    """List templates in search order (user > plugins > built-in)."""
    from ..templates import list_templates
    from ..templates.search import missing_templates_dir, template_dirs

    found = list_templates(include_shadowed=show_all)
    missing = missing_templates_dir(template_dirs())
    if missing:  # a typo in templates_dir listed none of the user's templates, without a word
        echo_untrusted(f"note: {missing}", err=True)
    if as_json:
        echo_json([t.to_dict() for t in found])
        return
    # One row per template: a file name, description or error holding a line break
    # would otherwise start a row of its own, one that can pass for another template.
    # Padded as shown: ESC is one character but `\u3164` six, so raw lengths misaligned the columns.
    from ..terminal_text import visible_text

    names = [visible_text(one_line(t.name)) for t in found]
    width = max((len(name) for name in names), default=0)
    sources = [
        visible_text(one_line(f"[{t.source}]" + (f" (hidden by {t.shadowed_by})" if t.shadowed_by else "")))
        for t in found
    ]
    source_width = max((len(source) for source in sources), default=0)  # `[user]` lines up with `[builtin]`
    for entry, name, source in zip(found, names, sources):
        if entry.error:
            detail = f"INVALID: {one_line(entry.error)}"
        else:
            detail = f"{entry.strategy:<16} {one_line(entry.description)}"
        echo_untrusted(f"{name:<{width}}  {source:<{source_width}}  {detail}")


@templates.command("show", short_help="Print a template's file.")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the parsed settings instead of the file.")
def show_command(name: str, as_json: bool) -> None:
    """Print a template's file (its path goes to stderr).

    The file is printed even when the template does not load — a broken template is
    the one its author most needs to read — and its error follows (exit status 1).
    """
    from ..templates import load_template

    if as_json:
        echo_json(load_template(name).to_dict())
        return
    from ..templates.search import find_template, read_template_text

    path, found_in = find_template(name)
    echo_untrusted(f"# {path} ({found_in.source})", err=True)
    echo_untrusted(read_template_text(path), nl=False)
    load_template(name)  # its error, if any, after the text it is about


@templates.command("path", short_help="Template directories, or where NAME is.")
@click.argument("name", required=False)
def path_command(name: str | None) -> None:
    """Print the template directories in search order, or the file NAME resolves to."""
    from ..templates import template_dirs
    from ..templates.search import find_template

    if name:
        path, _ = find_template(name)
        echo_untrusted(str(path))  # a plugin registers its template directories: its path is its words
        return
    for directory in template_dirs():
        if directory.path.is_dir():
            missing = ""
        elif os.path.lexists(directory.path):  # a file, or a broken link: not "yet" to come
            missing = "  (not a directory)"
        else:
            missing = "  (does not exist yet)"
        echo_untrusted(f"{directory.path}\t{directory.source}{missing}")


@templates.command("new", short_help="Create a starter template.")
@click.argument("name")
@click.option("-s", "--strategy", type=STRATEGY_CHOICE, default="zero-shot", show_default=True)
@click.option("--force", is_flag=True, help="Overwrite an existing user template.")
def new_command(name: str, strategy: str, force: bool) -> None:
    """Create NAME.jinja in your templates directory from a starter for STRATEGY."""
    from ..templates.scaffold import write_new_template

    path = write_new_template(name, strategy, force=force)
    _note_override(path.stem)
    echo_untrusted(str(path))


def _note_override(name: str) -> None:
    """Say on stderr when the template just written hides a plugin's or built-in one of its name."""
    from ..templates.scaffold import override_note

    note = override_note(name)
    if note:
        echo_untrusted(f"note: {note}", err=True)


@templates.command("render", short_help="Print the messages NAME renders to.")
@click.argument("name")
@var_option
@click.option("--input", "input_text", type=TEXT, default=None, metavar="TEXT|-", help="Fill `input` (- reads stdin).")
@examples_as_option
@click.option("--raw", is_flag=True, help="Print the exact text the model sees (loads the model) and its token count.")
@click.option("--json", "as_json", is_flag=True)
@model_options
def render_command(
    name: str,
    var_items: tuple[str, ...],
    input_text: str | None,
    examples_as: str | None,
    raw: bool,
    as_json: bool,
    model: str | None,
    backend: str | None,
    options: tuple[str, ...],
    verbose: bool,
) -> None:
    """Render NAME with variables and print the chat messages it produces."""
    from ..templates import load_template, render_template
    from ..templates.render import format_messages
    from ..templates.strategies import scoring_prompt

    if not raw:
        # Only --raw loads a model: without it `-m gemma3-270m` printed the same messages, and
        # `-o max_tokens=abc` was taken, with no word that they did nothing.
        given = [flag for flag, value in (("-m", model), ("-b", backend), ("-o", options), ("--verbose", verbose)) if value]
        if given:
            raise click.UsageError(
                f"{', '.join(given)} pick the model --raw renders for; without --raw the messages are the same "
                "for every model: add --raw, or leave them out"
            )
    variables = parse_var_options(var_items, "--input -" if input_text == "-" else None)
    if input_text == "-":
        input_text = read_stdin_text() or ""
    template = load_template(name)
    messages = render_template(
        template, variables, input=input_text, examples_as=examples_as, input_hint=RENDER_INPUT_HINT
    )
    if not raw:
        if as_json:
            echo_json([m.to_dict() for m in messages])
        else:
            echo_untrusted(format_messages(messages))
        return
    if template.output.type == "choice":  # the prompt shown is the one scored: refused now if it cannot be
        from ..templates.run import refuse_before_load

        refuse_before_load(template, examples_as, resolve_model_and_backend(model, backend)[1])
    with CtrlC(at_once=True) as ctrl_c:  # a press stops the load or the count: "interrupted", status 130
        engine, _ = load_engine(model, backend, options, verbose)
        ctrl_c.attach(engine)
        try:
            # Counted as the engine feeds it: message contents are data, so control-token text
            # typed into them counts as the characters it is, not as a marker.
            prompt = scoring_prompt(template, messages)[0] if template.output.type == "choice" else messages
            text = prompt if isinstance(prompt, str) else engine.render_prompt(prompt)
            tokens = engine.count_tokens(prompt)
            context = engine.context_length
        finally:
            engine.unload()
    if as_json:
        echo_json({"text": text, "tokens": tokens, "context_length": context}, indent=None)
        return
    echo_untrusted(text, nl=False)
    # The model's name is a file's (a hub's choice) or a server's: data.
    echo_untrusted(f"\n-- {fit_line(tokens, context, engine.model_name)}", err=True)


def fit_line(tokens: int, context: int, model_name: str) -> str:
    """How a rendered prompt fits the model's context window, in words.

    A ``context`` of 0 is a backend that does not know its window (a server that does not
    report it), as :func:`~assistant.cli.history_options.describe_fit` reads it: not a
    window of no tokens, which every prompt "DOES NOT FIT". The engines take a prompt only
    while it leaves room for one token of reply, hence fewer tokens than the window.
    """
    if context <= 0:
        return f"{tokens} tokens (the context window's length is unknown; set -o n_ctx=N; {model_name})"
    fits = "fits" if tokens < context else "DOES NOT FIT"
    return f"{tokens} tokens of a {context}-token context ({fits}; {model_name})"


@templates.command("test", short_help="Run NAME's tests; print the pass rate.")
@click.argument("name")
@model_options
@click.option("--json", "as_json", is_flag=True)
@click.option("--min-pass-rate", type=PassRate(0, 1), default=1.0, show_default=True,
              help="Exit with status 1 below this pass rate.")
def test_command(
    name: str,
    model: str | None,
    backend: str | None,
    options: tuple[str, ...],
    verbose: bool,
    as_json: bool,
    min_pass_rate: float,
) -> None:
    """Run NAME's test cases on a model and print the pass rate (greedy unless -o temperature=…)."""
    from ..errors import TemplateError
    from ..templates import load_template
    from ..templates.testing import run_tests
    from ..templates.value_checks import declaration_problem

    template = load_template(name)
    if not template.tests:
        raise TemplateError(f"template {name!r} has no tests")
    problem = declaration_problem(template)  # a case that can only fail: said before a model loads
    if problem:
        raise TemplateError(problem)
    # Ctrl-C stops the run (see CtrlC): a press inside llama.cpp's callbacks was dropped by ctypes, and
    # every remaining case ran to its end before the report and an exit status as if nothing was pressed.
    # Where the raise is lost, the engine's cancel ends the case in flight, and the run stops before the next.
    with CtrlC(at_once=True) as ctrl_c:
        engine, overrides = load_engine(model, backend, options, verbose)
        ctrl_c.attach(engine)
        try:
            report = run_tests(template, engine, overrides, before_case=ctrl_c.check)
        finally:
            engine.unload()
    if as_json:
        echo_json(report.to_dict())
    else:
        for case in report.cases:
            mark = "PASS" if case.passed else "FAIL"
            line = f"{mark}  {one_line(case.name)}"  # one row a case: a name cannot add a PASS row
            if not case.passed:
                line += f": {one_line(case.reason)}"
            echo_untrusted(line)
        echo_untrusted(f"pass rate: {report.passed}/{len(report.cases)} ({report.pass_rate:.0%}) "
                       f"[{report.model} on {report.backend}]")
    if report.pass_rate < min_pass_rate:
        sys.exit(1)


@templates.command("import", short_help="Convert a simonw/llm YAML template.")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--name", default=None, help="Template name (default: the file's name).")
@click.option("--force", is_flag=True, help="Overwrite an existing user template.")
def import_command(file: Path, name: str | None, force: bool) -> None:
    """Convert a simonw/llm YAML template into a template in your templates directory."""
    from ..templates.llm_import import import_llm_template
    from ..templates.scaffold import write_user_template

    template_name, text, warnings = import_llm_template(file, name)
    path = write_user_template(template_name, text, force=force)
    for warning in warnings:
        echo_untrusted(f"warning: {warning}", err=True)
    _note_override(path.stem)
    echo_untrusted(str(path))

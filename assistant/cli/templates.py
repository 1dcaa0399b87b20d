"""``assistant templates …`` and the template half of ``assistant prompt -t``.

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

from .batch_options import batch_parallel, check_batch_flags, finish_batch, interrupted
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


def parse_var_options(items: tuple[str, ...]) -> dict[str, str]:
    """``-v key=value`` pairs; ``key=@file.txt`` reads the file (without its trailing
    newlines), ``key=@@text`` is a literal ``@text``."""
    from ..errors import ConfigError

    values: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"variable {item!r} must look like name=value (or name=@file)")
        if key in values:  # the first value would be dropped without a word
            raise ConfigError(f"variable {key!r} is given twice (-v {key}=...); give it once")
        if value.startswith("@@"):
            value = value[1:]
        elif value.startswith("@"):
            if not value[1:].strip():  # Path("") is ".": "file . is a directory" named no file the user gave
                raise ConfigError(f"-v {key}=@ names no file (write -v {key}=@FILE, or -v {key}=@@ for a literal '@')")
            path = Path(value[1:]).expanduser()
            value = read_input_file(path, f"-v {key}: file").rstrip("\r\n")  # as $(cat file) does
        values[key] = value
    return values


def var_option(func: Any) -> Any:
    return click.option(
        "-v",
        "--var",
        "var_items",
        type=TEXT,
        multiple=True,
        metavar="NAME=VALUE",
        help="Template variable; NAME=@file.txt reads the value from a file.",
    )(func)


def _load_engine(model: str | None, backend: str | None, options: tuple[str, ...], verbose: bool) -> tuple[Any, dict[str, Any]]:
    """Load the model once for a command; returns (backend, sampling overrides from -o)."""
    from ..options import parse_options
    from ..session import open_backend

    param_overrides, backend_opts = parse_options(options)
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

    found = list_templates(include_shadowed=show_all)
    if as_json:
        echo_json([t.to_dict() for t in found])
        return
    # One row per template: a file name, description or error holding a line break
    # would otherwise start a row of its own, one that can pass for another template.
    names = [_one_line(t.name) for t in found]
    width = max((len(name) for name in names), default=0)
    sources = [f"[{t.source}]" + (f" (hidden by {t.shadowed_by})" if t.shadowed_by else "") for t in found]
    source_width = max((len(source) for source in sources), default=0)  # `[user]` lines up with `[builtin]`
    for entry, name, source in zip(found, names, sources):
        if entry.error:
            detail = f"INVALID: {_one_line(entry.error)}"
        else:
            detail = f"{entry.strategy:<16} {_one_line(entry.description)}"
        echo_untrusted(f"{name:<{width}}  {source:<{source_width}}  {detail}")


def _one_line(text: str) -> str:
    """``text`` with every run of blanks, line breaks included, as one space (controls kept, to be shown)."""
    from ..terminal_text import one_line

    return one_line(text)


@templates.command("show", short_help="Print a template's file.")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the parsed settings instead of the file.")
def show_command(name: str, as_json: bool) -> None:
    """Print a template's file (its path goes to stderr)."""
    from ..templates import load_template

    template = load_template(name)
    if as_json:
        echo_json(template.to_dict())
        return
    from ..templates.loader import read_template_text

    echo_untrusted(f"# {template.path} ({template.source})", err=True)
    echo_untrusted(read_template_text(template.path), nl=False)


@templates.command("path", short_help="Template directories, or where NAME is.")
@click.argument("name", required=False)
def path_command(name: str | None) -> None:
    """Print the template directories in search order, or the file NAME resolves to."""
    from ..templates import template_dirs
    from ..templates.loader import find_template

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
@click.option(
    "--examples-as", type=click.Choice(["turns", "inline"]), default=None, help="Lay few-shot examples out as chat turns or inline."
)
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

    if input_text == "-":
        input_text = read_stdin_text() or ""
    template = load_template(name)
    messages = render_template(
        template, parse_var_options(var_items), input=input_text, examples_as=examples_as, input_hint=RENDER_INPUT_HINT
    )
    if not raw:
        if as_json:
            echo_json([m.to_dict() for m in messages])
        else:
            echo_untrusted(format_messages(messages))
        return
    engine, _ = _load_engine(model, backend, options, verbose)
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
    fits = "fits" if tokens < context else "DOES NOT FIT"
    # The model's name is a file's (a hub's choice) or a server's: data.
    echo_untrusted(f"\n-- {tokens} tokens of a {context}-token context ({fits}; {engine.model_name})", err=True)


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

    template = load_template(name)
    if not template.tests:
        raise TemplateError(f"template {name!r} has no tests")
    engine, overrides = _load_engine(model, backend, options, verbose)
    try:
        report = run_tests(template, engine, overrides)
    finally:
        engine.unload()
    if as_json:
        echo_json(report.to_dict())
    else:
        for case in report.cases:
            mark = "PASS" if case.passed else "FAIL"
            line = f"{mark}  {_one_line(case.name)}"  # one row a case: a name cannot add a PASS row
            if not case.passed:
                line += f": {_one_line(case.reason)}"
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


# ---- assistant prompt -t NAME ---------------------------------------------------------


def prompt_with_template(
    *,
    template_name: str | None,
    text: str | None,
    var_items: tuple[str, ...],
    batch: Path | None,
    out: Path | None,
    resume: bool,
    model: str | None,
    backend: str | None,
    options: tuple[str, ...],
    verbose: bool,
    system: str | None,
    as_json: bool,
    db: str | None = None,
    no_log: bool = False,
    force: bool = False,
    input_field: str | None = None,
    parallel: int | None = None,
    schema: dict[str, Any] | None = None,
) -> None:
    """``assistant prompt -t``: one run (TEXT/stdin fill ``input``) or a batch over a file.

    ``schema`` (``--schema``) makes the template answer in JSON matching it;
    with no template (``--schema S --batch FILE``) each row's input is sent as
    it is. Runs are recorded in the history (one conversation per command, a
    turn per run or batch row) unless ``--no-log``.
    """
    from ..history.session_link import link_history
    from ..templates import load_template
    from ..templates.run import schema_template, with_schema

    if template_name is None:
        from ..structured.output import schema_instruction

        assert schema is not None
        template = schema_template(schema)
        system = schema_instruction(system, schema)
    else:
        template = load_template(template_name)
        if schema is not None:
            template = with_schema(template, schema)
    variables = parse_var_options(var_items)
    check_batch_flags(batch, out, resume, force, input_field, parallel)
    if batch is not None and text is not None:
        raise click.UsageError("--batch takes its inputs from the file; drop TEXT")
    history = link_history(db, no_log)  # fails before the model loads
    click.get_current_context().call_on_close(history.close)
    if batch is not None:
        _prompt_batch(
            template, batch, out, resume, force, input_field, variables, model, backend, options, verbose, system,
            history, parallel,
        )
        return
    input_text = _template_input(text)
    _prompt_once(template, variables, input_text, model, backend, options, verbose, system, as_json, history)


def _template_input(text: str | None) -> str | None:
    stdin_text = read_stdin_text()
    parts = [p for p in (None if text == "-" else text, stdin_text) if p is not None and p.strip()]
    return "\n\n".join(parts) if parts else None


def _prompt_once(
    template: Any,
    variables: dict[str, str],
    input_text: str | None,
    model: str | None,
    backend: str | None,
    options: tuple[str, ...],
    verbose: bool,
    system: str | None,
    as_json: bool,
    history: Any,
) -> None:
    from ..templates import render_template
    from ..templates.run import require_user_message

    messages = render_template(  # fails early, before the model loads
        template, variables, input=input_text, input_hint=PROMPT_INPUT_HINT, system=system
    )
    require_user_message(template, messages, PROMPT_INPUT_HINT)
    ctrl_c = CtrlC().install()  # a press inside an engine callback is not lost (see CtrlC)
    try:
        engine, overrides = _load_engine(model, backend, options, verbose)
        ctrl_c.attach(engine)  # a press while loading, dropped in a callback, stops here
        _run_one(template, variables, input_text, system, engine, overrides, messages, history, as_json, ctrl_c)
    finally:
        ctrl_c.restore()


def _run_one(
    template: Any, variables: dict[str, str], input_text: str | None, system: str | None, engine: Any,
    overrides: dict[str, Any], messages: list[Any], history: Any, as_json: bool, ctrl_c: CtrlC,
) -> None:
    """The loaded template run of ``prompt -t``: streamed, recorded, its answer printed; the engine unloaded."""
    from ..history.exchange import ExchangeRecorder
    from ..history.stored_text import title_from
    from ..terminal_text import StreamedLineEnds
    from ..templates.run import resolve_params, run_template

    context_length = engine.context_length  # for the note on a cut reply, after the engine is unloaded
    _note_constraint(template, engine)
    # Titled by what the user gave, not by the rendered message: that starts with the
    # template's own words (its first example, "Answer the question."), the same every run.
    recorder = ExchangeRecorder(history, system=_system_of(messages), title=title_from(input_text or ""))
    # Plain text streams to stdout; when an answer is extracted (chain-of-thought,
    # JSON, labels) the reply streams to stderr and stdout gets only the answer.
    to_stdout = template.output.type == "text" and template.answer_prefix is None
    stream = sys.stdout if to_stdout else sys.stderr

    params = resolve_params(template, overrides, engine)
    line_ends = StreamedLineEnds()
    try:
        with recorder.turn(_user_text_of(messages), _turn_meta(template, engine, params)) as turn:

            def on_text(piece: str) -> None:
                turn.add_text(piece)
                if not as_json and (shown := line_ends.feed(piece)):
                    echo_untrusted(shown, nl=False, err=not to_stdout)

            result = run_template(
                template, variables, input=input_text, backend=engine, params=params, system=system, on_text=on_text
            )
            ctrl_c.check()  # the engine stopped at Ctrl-C: recorded as interrupted, then the usual exit
            if not as_json and (held := line_ends.flush()):
                echo_untrusted(held, nl=False, err=not to_stdout)
            _report_result(turn, result)
    except KeyboardInterrupt:
        engine.cancel()
        raise
    finally:
        engine.unload()
    if as_json:
        echo_json(result.to_dict(), indent=None)
    else:
        if result.output and not result.output.endswith("\n") and template.output.type != "choice":
            stream.write("\n")
        if not to_stdout and result.answer is not None:
            if isinstance(result.answer, str):
                echo_untrusted(result.answer)
            else:
                echo_json(result.answer)
    if result.error:
        echo_untrusted(f"error: {result.error}", err=True)
        sys.exit(1)
    if result.finish_reason == "length" and not as_json:
        from ..types import length_note

        click.echo(f"({length_note(result.usage.prompt_tokens, result.usage.completion_tokens, context_length)})", err=True)


def _prompt_batch(
    template: Any,
    batch: Path,
    out: Path | None,
    resume: bool,
    force: bool,
    input_field: str | None,
    variables: dict[str, str],
    model: str | None,
    backend: str | None,
    options: tuple[str, ...],
    verbose: bool,
    system: str | None,
    history: Any,
    parallel: int | None = None,
) -> None:
    from ..errors import TemplateError
    from ..batch import ProgressBar, check_input_field, check_output, read_rows
    from ..batch.history import BatchRecorder, finished_already
    from ..templates.batch import check_resume, row_generation_params, run_batch
    from ..templates.run import resolve_params

    check_output(out, resume, force, source=batch)  # before the model loads: a clash costs nothing
    unknown = sorted(name for name in variables if template.variable(name) is None)
    if unknown:  # would fail every row
        raise TemplateError(f"template {template.name!r}: unknown variable(s) {', '.join(unknown)}")
    rows = read_rows(batch)
    check_input_field(rows, input_field, batch)
    check_resume(template, out, resume)
    if (finished := finished_already(rows, out, resume, history)) is not None:
        finish_batch(finished, out)  # nothing left to run: no model to load
        return
    engine, overrides = _load_engine(model, backend, options, verbose)
    params = resolve_params(template, overrides, engine)
    in_flight = batch_parallel(parallel, engine)
    _note_constraint(template, engine)
    recorder = BatchRecorder(history, title=f"batch: {template.name} over {batch.name}", out=out, resume=resume)
    if recorder.note:
        echo_untrusted(recorder.note, err=True)
    meta = _turn_meta(template, engine, params)

    def record(row_result: dict[str, Any], messages: list[Any] | None) -> None:
        if not messages:
            return  # the row never became a prompt (not JSON, a variable missing): nothing was said to record
        own = row_result.get("params")  # the row's own sampling parameters, recorded as used
        row_meta = _turn_meta(template, engine, row_generation_params(row_result, params)) if own else meta
        with recorder.turn(_user_text_of(messages), row_meta) as turn:
            _report_record(turn, row_result, engine)

    try:
        summary = run_batch(
            template,
            rows,
            engine,
            out=out,
            resume=resume,
            force=force,
            params=params,
            variables=variables,
            system=system,
            input_field=input_field,
            progress=lambda total: ProgressBar(total),
            on_record=record,
            parallel=in_flight,
            conversation=recorder.conversation,
        )
    except KeyboardInterrupt:
        engine.cancel()
        interrupted(out)
    finally:
        engine.unload()
    finish_batch(summary, out)


def _note_constraint(template: Any, engine: Any) -> None:
    """Say once, on stderr, when a template's schema is validated but not enforced by the decoder."""
    from ..templates.run import constraint_note

    note = constraint_note(template, engine)
    if note:
        echo_untrusted(note, err=True)


# ---- history recording of template runs -------------------------------------------


def _system_of(messages: list[Any]) -> str | None:
    return next((m.content for m in messages if m.role == "system"), None)


def _user_text_of(messages: list[Any]) -> str:
    """What the user "said": the rendered final user message of the template."""
    return next((m.content for m in reversed(messages) if m.role == "user"), "")


def _turn_meta(template: Any, engine: Any, params: Any) -> Any:
    from ..history.exchange import turn_meta

    return turn_meta(engine, params, template=template.name)


def _report_result(turn: Any, result: Any) -> None:
    if result.error is not None:
        turn.fail(result.error, text=result.output)
        return
    turn.complete(result.completion())  # its token ids and numbers too, as a plain prompt's


def _report_record(turn: Any, record: dict[str, Any], engine: Any) -> None:
    """A batch row's JSON record as a history turn."""
    from ..types import Completion, Timings, Usage

    if record.get("error") is not None:
        turn.fail(str(record["error"]), text=record.get("output") or "")
        return
    usage, timings = record.get("usage") or {}, record.get("timings") or {}
    turn.complete(
        Completion(
            text=record.get("output") or "",
            model=engine.model_name,
            backend=engine.name,
            finish_reason=record.get("finish_reason", "stop"),
            usage=Usage(**usage),
            timings=Timings(**timings),
        )
    )

"""``assistant prompt -t NAME``: one template run, or a batch of them, recorded in the history.

``assistant prompt`` (:mod:`.prompt`) hands its template options here; the
``templates`` command group is :mod:`.templates`. The template engine is
imported inside the functions, so ``assistant --help`` never pays for Jinja.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

import click

from .batch_options import batch_parallel, check_batch_flags, finish_batch, interrupted
from .common import CtrlC, echo_json, echo_untrusted, read_stdin_text, resolve_model_and_backend
from .templates import PROMPT_INPUT_HINT, load_engine, parse_var_options

STDIN_TAKEN_HINT = "pass input as TEXT: stdin went to -v NAME=@-"
"""The input hint where ``-v NAME=@-`` took stdin: "or on stdin" would send the user round in a circle."""


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
    examples_as: str | None = None,
) -> None:
    """``assistant prompt -t``: one run (TEXT/stdin fill ``input``) or a batch over a file.

    ``examples_as`` (``--examples-as``) lays the template's examples out as
    turns or inline, over its own choice, as ``templates render`` does.

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
            history, parallel, examples_as,
        )
        return
    input_text = _template_input(text)
    _prompt_once(
        template, variables, input_text, model, backend, options, verbose, system, as_json, history, examples_as,
        input_hint=STDIN_TAKEN_HINT if any(item.partition("=")[2] == "@-" for item in var_items) else PROMPT_INPUT_HINT,
    )


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
    examples_as: str | None = None,
    input_hint: str = PROMPT_INPUT_HINT,
) -> None:
    from ..templates import render_template
    from ..templates.run import refuse_before_load, require_user_message

    messages = render_template(  # fails early, before the model loads
        template, variables, input=input_text, examples_as=examples_as, input_hint=input_hint, system=system
    )
    require_user_message(template, messages, input_hint)
    model, backend = resolve_model_and_backend(model, backend)  # named by the record of a run stopped loading
    refuse_before_load(template, examples_as, backend)  # what would fail once loaded, whatever the reply
    ctrl_c = CtrlC().install()  # a press inside an engine callback is not lost (see CtrlC)
    try:
        try:
            engine, overrides = load_engine(model, backend, options, verbose)
            ctrl_c.attach(engine)  # a press while loading, dropped in a callback, stops here
        except KeyboardInterrupt:
            if as_json:  # nothing written yet, and still a record on stdout, as once the reply has begun
                record = _interrupted(template, messages, model, backend, None, [])
                echo_json({**record.to_dict(), "conversation_id": None}, indent=None)  # nothing was recorded
            raise
        _run_one(template, variables, input_text, engine, overrides, messages, history, as_json, ctrl_c)
    finally:
        ctrl_c.restore()


def _run_one(
    template: Any, variables: dict[str, str], input_text: str | None, engine: Any,
    overrides: dict[str, Any], messages: list[Any], history: Any, as_json: bool, ctrl_c: CtrlC,
) -> None:
    """The loaded template run of ``prompt -t``: streamed, recorded, its answer printed; the engine unloaded.

    ``messages`` are the rendered template, sent as they are. With ``--json``, Ctrl-C
    still prints a record: the reply so far, ``finish_reason`` ``cancelled`` and the
    error the history stores with the interrupted turn.
    """
    from ..history.exchange import ExchangeRecorder
    from ..history.stored_text import title_from
    from ..templates.run import execute, resolve_params
    from ..terminal_text import StreamedLineEnds

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
    result: Any = None
    streamed: list[str] = []  # the reply so far, for the record of a run Ctrl-C stops
    try:
        typed = _typed_text(input_text, variables, messages)
        with recorder.turn(typed, _turn_meta(template, engine, params), _sent_for(typed, messages)) as turn:

            def on_text(piece: str) -> None:
                ctrl_c.renew()  # a press before the reply started is not forgotten by the engine
                turn.add_text(piece)
                streamed.append(piece)
                if not as_json and (shown := line_ends.feed(piece)):
                    echo_untrusted(shown, nl=False, err=not to_stdout)

            result = execute(template, messages, engine, params, on_text)
            ctrl_c.check()  # the engine stopped at Ctrl-C: recorded as interrupted, then the usual exit
            if not as_json and (held := line_ends.flush()):
                echo_untrusted(held, nl=False, err=not to_stdout)
            _report_result(turn, result)
    except KeyboardInterrupt:
        engine.cancel()
        if as_json:  # a script reading stdout still gets a record of the run, marked as the history marks it
            record = _interrupted(template, messages, engine.model_name, engine.name, result, streamed)
            echo_json({**record.to_dict(), "conversation_id": recorder.conversation_id}, indent=None)
        elif (shown := "".join(streamed)) and not shown.endswith("\n"):
            stream.write("\n")  # the partial reply's line ends, as a whole one's does (and plain prompt's)
            stream.flush()
        raise
    finally:
        engine.unload()
    if as_json:
        # conversation_id, as a plain prompt's record and a batch line have it: what `--cid` continues
        echo_json({**result.to_dict(), "conversation_id": recorder.conversation_id}, indent=None)
    else:
        if result.output and not result.output.endswith("\n") and template.output.type != "choice":
            stream.write("\n")
        if not to_stdout and result.answer is not None:
            if isinstance(result.answer, str):
                echo_untrusted(result.answer)
            else:
                echo_json(result.answer)
    if result.error:
        from . import fail

        fail(result.error)  # one line, whatever the error quotes
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
    examples_as: str | None = None,
) -> None:
    from ..batch import ProgressBar, check_input_field, check_output, read_rows
    from ..batch.history import BatchRecorder, finished_already
    from ..batch.provenance import made_by
    from ..errors import TemplateError
    from ..templates.batch import check_batch_resume, rendered_again, run_batch
    from ..templates.render import checked_values
    from ..templates.run import refuse_before_load, resolve_params

    check_output(out, resume, force, source=batch)  # before the model loads: a clash costs nothing
    unknown = sorted(name for name in variables if template.variable(name) is None)
    if unknown:  # would fail every row
        raise TemplateError(f"template {template.name!r}: unknown variable(s) {', '.join(unknown)}")
    checked_values(template, variables)  # a shared value of the wrong type or not allowed fails every row too
    rows = read_rows(batch)
    # A template that needs its input, given no ``-v input=`` for every row, fails each row that has none:
    # a file where none has one (a CSV split at ";", a column named "review") is refused before the model
    # loads, as a tool batch's is, rather than loading it to write one failed line per row.
    needed = template.variable("input")
    every_row_needs_input = needed is not None and needed.required and "input" not in variables
    check_input_field(rows, input_field, batch, required=every_row_needs_input)
    refuse_before_load(template, examples_as, resolve_model_and_backend(model, backend)[1])  # every row would fail
    sampling = _sampling_given(options)  # -o as given, recorded on each line and compared on --resume
    # rows changed since their lines ran, other settings: refused before the model loads, and before
    # "every row is done"; run_batch is told so and does not read every line again
    if (note := check_batch_resume(
        template, rows, out, resume, variables=variables, sampling=sampling, system=system,
        examples_as=examples_as, input_field=input_field,
    )) is not None:  # fmt: skip
        echo_untrusted(note, err=True)
    title = f"batch: {template.name} over {batch.name}"
    sampled = resolve_params(template, sampling)  # what a row ran with, for lines recorded before the model loads

    def line_recorder(recorder: Any) -> Callable[[dict[str, Any]], None]:
        record = _row_recorder(template, recorder, sampled, None)
        return lambda line: record(line, rendered_again(template, line, examples_as, system))

    if (finished := finished_already(rows, out, resume, history, title=title, record_line=line_recorder)) is not None:
        finish_batch(finished, out)  # nothing left to run: no model to load
        return
    # Ctrl-C cancels the row in flight and stops the batch after it, that row unwritten (see CtrlC; a
    # second press raises at once). A plain KeyboardInterrupt raised in llama.cpp's abort callback was
    # dropped by ctypes with a traceback on stderr: the row failed and the batch went on with the rest.
    ctrl_c = CtrlC().install()
    try:
        engine, overrides = load_engine(model, backend, options, verbose)
        ctrl_c.attach(engine)  # a press dropped while loading stops here
        try:
            params = resolve_params(template, overrides, engine)
            in_flight = batch_parallel(parallel, engine)
            _note_constraint(template, engine)
            recorder = BatchRecorder(history, title=title, out=out, resume=resume)
            if recorder.note:
                echo_untrusted(recorder.note, err=True)
            record = _row_recorder(template, recorder, params, made_by(engine))

            summary = run_batch(
                template,
                recorder.first_rows(rows, out, input_field),
                engine,
                out=out,
                resume=resume,
                force=force,
                params=params,
                variables=variables,
                sampling=sampling,
                examples_as=examples_as,
                system=system,
                input_field=input_field,
                progress=lambda total: ProgressBar(total),
                on_record=record if recorder.enabled else None,  # --no-log: a line not recorded stays so marked
                parallel=in_flight,
                conversation=recorder.conversation,
                check_interrupt=ctrl_c.check,
                resume_checked=True,
                turn=recorder.turn_id,
            )
        except KeyboardInterrupt:
            engine.cancel()
            interrupted(out)
        finally:
            engine.unload()
    finally:
        ctrl_c.restore()
    finish_batch(summary, out)


def _sampling_given(options: tuple[str, ...]) -> dict[str, Any]:
    """The sampling settings among ``-o`` (a bad one refused here, before the model loads)."""
    from ..options import parse_options

    return parse_options(options)[0]


def _note_constraint(template: Any, engine: Any) -> None:
    """Say once, on stderr, when a template's schema is validated but not enforced by the decoder."""
    from ..templates.run import constraint_note

    note = constraint_note(template, engine)
    if note:
        echo_untrusted(note, err=True)


def _row_recorder(
    template: Any, recorder: Any, params: Any, made: dict[str, Any] | None
) -> Callable[[dict[str, Any], list[Any] | None], None]:
    """What records a template batch's row (its result line and rendered messages) as its turn.

    ``made`` is :func:`~assistant.batch.provenance.made_by` of the loaded model; None records a line
    written by an earlier run (:data:`~assistant.batch.runner.HISTORY_ERROR`) as the line says it was
    made, without the model loaded: the same values, which the loaded model gave the line.
    """
    from ..history.records import TurnMeta
    from ..templates.batch import row_generation_params

    def record(row_result: dict[str, Any], messages: list[Any] | None) -> None:
        if not messages:
            return  # the row never became a prompt (not JSON, a variable missing): nothing was said to record
        by = made or row_result
        used = row_generation_params(row_result, params)  # the row's own sampling parameters over the batch's
        meta = TurnMeta(
            model=by.get("model"), backend=by.get("backend"), template=template.name, params=used.to_dict(),
            model_ref=by.get("model_ref"),
        )  # fmt: skip
        typed = _typed_text(None, row_result.get("vars") or {}, messages)
        with recorder.turn(typed, meta, _sent_for(typed, messages), line=row_result) as turn:  # that row's turn
            _report_record(turn, row_result, by)

    return record


# ---- history recording of template runs -------------------------------------------


def _system_of(messages: list[Any]) -> str | None:
    return next((m.content for m in messages if m.role == "system"), None)


def _typed_text(input_text: str | None, variables: dict[str, Any], messages: list[Any]) -> str:
    """What the user "said", as the history shows it: the input text (TEXT/stdin, ``-v input=…``,
    a batch row's), not the template's rendering of it (its examples, its instructions), which
    :func:`_sent_for` keeps; a template without an input has only its rendered message to show."""
    typed = input_text if input_text is not None else variables.get("input")
    if isinstance(typed, str):
        return typed
    return next((m.content for m in reversed(messages) if m.role == "user"), "")


def _sent_for(typed: str, messages: list[Any]) -> list[Any] | None:
    """The turn as the model was sent it, where that is not ``typed`` alone: the rendered messages
    after the system prompt (example turns, the filled-in body). ``-c`` resumes with these."""
    from ..types import Message

    sent = [m for m in messages if m.role != "system"]
    return None if sent == [Message("user", typed)] else sent


def _interrupted(
    template: Any, messages: list[Any], model_name: str, backend_name: str, result: Any, partial: list[str]
) -> Any:
    """The ``--json`` record of a run stopped by Ctrl-C: its reply so far, no answer, and the
    error and ``finish_reason`` the history keeps for it (see :func:`assistant.session.ChatSession.send`)."""
    import dataclasses

    from ..history.records import INTERRUPTED_BY_USER
    from ..templates.render import prompt_hash
    from ..templates.run import TemplateResult

    if result is None:  # stopped inside the run (a second press): what streamed is all there is
        result = TemplateResult(
            template=template.name, messages=messages, prompt_hash=prompt_hash(messages), output="".join(partial),
            model=model_name, backend=backend_name, finish_reason="cancelled",
        )  # fmt: skip
    # The reply's own finish_reason stays (the engine's "cancelled", or "stop" when it had ended first).
    return dataclasses.replace(result, answer=None, reasoning=None, error=INTERRUPTED_BY_USER)


def _turn_meta(template: Any, engine: Any, params: Any) -> Any:
    from ..history.exchange import turn_meta

    return turn_meta(engine, params, template=template.name)


def _report_result(turn: Any, result: Any) -> None:
    if result.error is not None:
        turn.fail(result.error, text=result.output)
        return
    turn.complete(result.completion())  # its token ids and numbers too, as a plain prompt's


def _report_record(turn: Any, record: dict[str, Any], made: dict[str, Any]) -> None:
    """A batch row's JSON record as a history turn (``made``: the model and backend that wrote it)."""
    from ..types import Completion, Timings, Usage

    if record.get("error") is not None:
        turn.fail(str(record["error"]), text=record.get("output") or "")
        return
    usage, timings = record.get("usage") or {}, record.get("timings") or {}
    turn.complete(
        Completion(
            text=record.get("output") or "",
            model=made.get("model") or "",
            backend=made.get("backend") or "",
            finish_reason=record.get("finish_reason", "stop"),
            usage=Usage(**usage),
            timings=Timings(**timings),
        )
    )

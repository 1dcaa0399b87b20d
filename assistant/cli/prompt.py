"""``assistant prompt``: one question in, a streamed answer out.

With ``--schema``/``--schema-multi`` the answer is one JSON document matching
the schema (docs/structured.md): decoded under it where the backend can, and
checked either way. A reply cut at ``max_tokens`` or failing the check is an
error (exit 1); on a pipe the document is printed only once it has passed, so
nothing downstream ever reads a truncated object as a valid one. The schema is
that reply's alone (:mod:`assistant.structured.session`): ``-c`` without it
continues as plain chat.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from . import debug_option
from .batch_options import batch_options
from .common import (
    TEXT,
    CtrlC,
    colour_on,
    echo_json,
    echo_untrusted,
    mode_option,
    model_options,
    progress_to_stderr,
    read_stdin_text,
    resolve_model_and_backend,
    resumed_choice_hint,
)
from .history_options import continue_options, describe_fit, history_options
from .templates import examples_as_option

PROBS_ALTERNATIVES = 5
"""Alternatives per token ``--probs`` asks for when ``-o logprobs`` is not given (stored in history too)."""


def echo_shaded(text: str, p: float | None) -> None:
    """Reply text on the background of its probability level (made safe to print first)."""
    from ..inspect.shade import shaded
    from ..terminal_text import visible_text

    click.echo(shaded(visible_text(text), p), nl=False)


def build_user_text(text: str | None, stdin_text: str | None) -> str:
    """TEXT, then piped stdin after a blank line (``cat f | assistant prompt "summarize"``)."""
    parts = [p for p in (text, stdin_text) if p is not None and p.strip()]
    if not parts:
        # "no prompt given" after `prompt ''` or `echo ' ' | prompt` sent the user looking for a lost argument
        if text is not None:
            raise click.UsageError("TEXT is empty (only whitespace): nothing to send")
        if stdin_text:
            raise click.UsageError("the text piped on stdin is blank (only whitespace): nothing to send")
        raise click.UsageError("no prompt given: pass TEXT or pipe text on stdin")
    return "\n\n".join(parts)


@click.command()
@click.argument("text", type=TEXT, required=False)
@model_options
@click.option("-s", "--system", type=TEXT, default=None, help="System prompt.")
@mode_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of streaming text.")
@click.option("--probs", is_flag=True, help="Shade each token by its probability (on a terminal; implies -o logprobs=5).")
@debug_option
@click.option(
    "--schema", "schema_text", type=TEXT, default=None, metavar="SCHEMA",
    help="Answer with JSON matching SCHEMA: a JSON Schema file, inline JSON, t:TEMPLATE, or fields like "
    "'name, age int, bio: a short bio' (docs/structured.md).",
)  # fmt: skip
@click.option(
    "--schema-multi", "schema_multi", type=TEXT, default=None, metavar="SCHEMA",
    help='Like --schema, for several of them: {"items": [...]}.',
)  # fmt: skip
@continue_options
@history_options
# -- templates (assistant/cli/template_run.py does the work) --
@click.option("-t", "--template", "template_name", default=None, help="Run a prompt template (TEXT/stdin fill `input`).")
@click.option("-v", "--var", "var_items", type=TEXT, multiple=True, metavar="NAME=VALUE", help="Template variable; NAME=@file reads a file.")
@examples_as_option
@batch_options
def prompt(
    text: str | None,
    model: str | None,
    backend: str | None,
    options: tuple[str, ...],
    verbose: bool,
    system: str | None,
    mode: str | None,
    as_json: bool,
    probs: bool,
    debug: bool,
    schema_text: str | None,
    schema_multi: str | None,
    continue_latest: bool,
    cid: int | None,
    db: str | None,
    no_log: bool,
    template_name: str | None,
    var_items: tuple[str, ...],
    examples_as: str | None,
    batch: Path | None,
    out: Path | None,
    resume: bool,
    force: bool,
    input_field: str | None,
    parallel: int | None,
) -> None:
    """Send TEXT (and/or piped stdin) to the model and stream the answer.

    With -t NAME, run a template instead: TEXT/stdin fill its `input`, -v sets
    other variables, --examples-as lays out its examples, and --batch runs it
    over a file (see docs/templates.md).
    With --schema, answer with one JSON document matching the schema (docs/structured.md).
    """
    schema = schema_option(schema_text, schema_multi)
    if examples_as is not None and template_name is None:  # --schema --batch sends each input as it is
        raise click.UsageError("--examples-as lays out a template's examples; it needs a template (-t NAME)")
    if template_name is not None or (schema is not None and batch is not None):
        from .template_run import prompt_with_template

        used = "-t" if template_name is not None else "--batch"
        if probs:
            raise click.UsageError(f"--probs shades one reply; it does not combine with {used}")
        if mode is not None:
            raise click.UsageError(f"--mode applies to TEXT; it does not combine with {used}")

        if continue_latest or cid is not None:
            raise click.UsageError(f"-c/--cid continue a conversation; they do not combine with {used}")

        prompt_with_template(
            template_name=template_name, text=text, var_items=var_items, examples_as=examples_as, batch=batch,
            out=out, resume=resume,
            force=force, input_field=input_field, parallel=parallel,
            model=model, backend=backend, options=options, verbose=verbose, system=system, as_json=as_json,
            db=db, no_log=no_log, schema=schema,
        )
        return
    if var_items or batch or out or resume or force or input_field or parallel is not None:
        raise click.UsageError(
            "-v and the batch options (--batch, --out, ...) need a template (-t NAME) or a --schema"
        )
    from ..config import default_system_prompt
    from ..errors import AssistantError
    from ..history.session_link import link_history
    from ..inspect.shade import legend
    from ..models.mode import choose_mode
    from ..options import build_params, parse_options
    from ..session import open_backend

    user_text = build_user_text(None if text == "-" else text, read_stdin_text())
    param_overrides, backend_opts = parse_options(options)
    params = build_params(param_overrides)
    if probs and not params.logprobs:
        params = params.replace(logprobs=PROBS_ALTERNATIVES)
    history = link_history(db, no_log, continue_latest, cid)  # fails before the model loads
    click.get_current_context().call_on_close(history.close)
    model_name, backend_name = resolve_model_and_backend(model or history.model, backend, history.backend)
    prompt_mode = choose_mode(mode, model_name, backend_name)
    if prompt_mode == "completion" and system:  # a base model has no system turn: refused, not dropped
        raise click.UsageError("-s/--system needs chat mode: in completion mode TEXT is continued as is (--mode chat)")
    if verbose:
        backend_opts["verbose"] = True
    ctrl_c = CtrlC().install()
    session: Any = None
    try:
        try:
            engine = open_backend(model_name, backend_name, backend_opts, progress=progress_to_stderr)
        except AssistantError as exc:
            hinted = resumed_choice_hint(exc, history, model, backend)
            if hinted is exc:
                raise
            raise hinted from exc
        ctrl_c.attach(engine)  # a press while loading, dropped in a callback, stops here
        context_length = engine.context_length  # asked before the reply: the engine is unloaded after it
        try:
            session = reply_session(
                engine, history, system_text=history.system(system, default_system_prompt()), params=params,
                schema=schema, mode=prompt_mode,
            )  # fmt: skip
        except BaseException:  # a session refused (a bad setting): the engine goes, as after a reply
            engine.unload()
            raise
        live, shade, sampled = stream_reply(
            engine, ctrl_c, session, user_text, schema=schema, as_json=as_json, probs=probs
        )
    except KeyboardInterrupt:
        if as_json:  # a script reading stdout still gets a record: what was written, marked "cancelled"
            echo_json(interrupted_record(session, model_name, backend_name, schema), indent=None)
        raise
    finally:
        ctrl_c.restore()
    out = sys.stdout
    completion = session.last
    assert completion is not None
    if live and not completion.text.endswith("\n"):
        out.write("\n")  # end the reply's line before any note on stderr
        out.flush()
    if history.conversation is not None:
        click.echo(describe_fit(history.conversation.id, session.last_fit, context_length), err=True)
    if shade:  # a structured reply is shaded too: its legend comes before the structured checks' lines
        what = "sampled probability" if sampled else "model probability (the server gives no sampled one)"
        from .inspect_tokens import terminal_width

        click.echo(legend(ansi=colour_on(sys.stderr), what=what, width=terminal_width()), err=True)
    elif probs and not as_json and out.isatty():  # a terminal that takes no colours: say why nothing is shaded
        click.echo(f"(--probs: no shading, {no_colour_reason()}; --json shows each token's probability)", err=True)
    if schema is not None:
        finish_structured(completion, schema, as_json=as_json, live=live, conversation_id=conversation_of(session))
        return
    if as_json:
        echo_json(json_record(completion, conversation_of(session)), indent=None)
    else:
        if completion.finish_reason == "length":
            from ..types import length_note

            click.echo(f"({length_note(completion.usage.prompt_tokens, completion.usage.completion_tokens, context_length)})", err=True)


def no_colour_reason() -> str:
    """Why :func:`~assistant.cli.common.colour_on` refused colours on a terminal."""
    import os

    return "NO_COLOR is set" if os.environ.get("NO_COLOR") else "TERM is dumb"


def reply_session(
    engine: Any, history: Any, *, system_text: str | None, params: Any, schema: dict[str, Any] | None, mode: str
) -> Any:
    """The session the reply is written in: the resumed conversation's, recorded unless ``--no-log``."""
    from ..structured.session import SchemaSession

    if schema is not None:
        params = constrain_params(params, schema, engine)
    # The schema is this reply's, not the conversation's: shown in its prompt, never stored as
    # the system prompt, so a later `-c` without --schema is plain chat (structured/session.py).
    return SchemaSession(
        engine, params=params, system=system_text, messages=history.messages, recorder=history.recorder(),
        mode=mode, schema=schema,
    )  # fmt: skip


def stream_reply(
    engine: Any, ctrl_c: CtrlC, session: Any, user_text: str, *, schema: dict[str, Any] | None, as_json: bool,
    probs: bool,
) -> tuple[bool, bool, bool]:
    """Send ``user_text`` and print the reply as it streams (unless it is held for ``--json``/``--schema``).

    Returns whether the reply was printed live, shaded, and by sampled
    probabilities; ``session.last`` is the reply. The engine is unloaded here,
    and the reply is recorded (as interrupted, after Ctrl-C) before this returns or raises.
    """
    from ..inspect.shade import shown_probability
    from ..terminal_text import StreamedLineEnds

    out = sys.stdout
    shade = probs and not as_json and colour_on(out)  # piped output stays plain text, as NO_COLOR's does
    sampled = engine.capabilities.sampled_probs
    live = not as_json and (schema is None or out.isatty())  # a pipe gets a document only once it is checked
    line_ends = StreamedLineEnds()
    held_p: float | None = None  # the shade of the text line_ends holds back
    open_line = False  # part of a reply line is on the screen: an error must not go on after it
    stream = None
    try:
        stream = session.send(user_text)
        for chunk in stream:
            ctrl_c.renew()
            shown = line_ends.feed(chunk.text) if live and chunk.text else ""
            # Text the stream holds back (a last character a joiner may follow) comes out with a later
            # chunk or at the end: shaded by the least likely token that made any of it, as runs are.
            p = _least(held_p, shown_probability(chunk.logprobs, sampled)) if shade else None
            if shown:
                if shade:
                    echo_shaded(shown, p)
                else:
                    echo_untrusted(shown, nl=False)
                open_line = not shown.endswith("\n")
            held_p = p if line_ends.holding else None
        ctrl_c.check()  # the engine stopped at Ctrl-C: now the interruption goes on as usual
        if live and (held := line_ends.flush()):
            if shade:  # was printed unshaded: the reply's last character, if not ASCII, had no colour
                echo_shaded(held, held_p)
            else:
                echo_untrusted(held, nl=False)
            open_line = not held.endswith("\n")
    except KeyboardInterrupt:
        engine.cancel()
        if open_line:  # end the partial reply's line; a reply not begun leaves stdout empty
            out.write("\n")
        raise
    except Exception:
        if open_line:  # "partial replyerror: lost the connection" read as one line
            out.write("\n")
            out.flush()
        raise
    finally:
        if stream is not None:
            stream.close()  # a reply cut short by Ctrl-C is recorded as interrupted (and is session.last)
        engine.unload()
    return live, shade, sampled


def _least(a: float | None, b: float | None) -> float | None:
    """The lower of two shades, either of which may be unknown (None)."""
    known = [value for value in (a, b) if value is not None]
    return min(known) if known else None


def conversation_of(session: Any) -> int | None:
    """The history conversation the reply was recorded in (None with ``--no-log``)."""
    return session.recorder.conversation_id if session is not None and session.recorder else None


def json_record(completion: Any, conversation_id: int | None) -> dict[str, Any]:
    """``prompt --json``'s record of a reply."""
    return {**completion.to_dict(), "conversation_id": conversation_id}


def interrupted_record(
    session: Any, model_name: str, backend_name: str, schema: dict[str, Any] | None
) -> dict[str, Any]:
    """The ``--json`` record after Ctrl-C: the reply as far as it went (empty when none had begun).

    Its ``finish_reason`` is what the history keeps for the reply (``cancelled``,
    stored with status ``interrupted``), unless the reply had ended before the press.
    With ``--schema`` it has ``object`` null and ``schema_error``, as a failed check's.
    """
    from ..types import Completion, Timings, Usage

    completion = session.last if session is not None else None
    if completion is None:  # stopped while the model loaded, or before its first token
        completion = Completion("", model_name, backend_name, "cancelled", Usage(), Timings())
    record = json_record(completion, conversation_of(session))
    if schema is not None:
        from ..structured.output import check_reply

        value, problem = check_reply(completion.text, completion.finish_reason, schema)
        record.update(object=value, schema_error=problem)
    return record


def schema_option(schema_text: str | None, schema_multi: str | None) -> dict[str, Any] | None:
    """The checked schema of ``--schema``/``--schema-multi`` (before any model loads), or None."""
    if schema_text is not None and schema_multi is not None:
        raise click.UsageError("give --schema or --schema-multi, not both")
    if schema_text is None and schema_multi is None:
        return None
    from ..structured.concise import resolve_schema

    if schema_multi is not None:
        return resolve_schema(schema_multi, multi=True, option="--schema-multi")
    assert schema_text is not None
    return resolve_schema(schema_text, option="--schema")


def constrain_params(params: Any, schema: dict[str, Any], engine: Any) -> Any:
    """``params`` holding the decoder to ``schema`` where the backend can; else a note, and validation only."""
    if engine.capabilities.constrained:
        return params.replace(json_schema=schema)
    from ..structured.output import unconstrained_note

    echo_untrusted(unconstrained_note(engine.name), err=True)
    return params


def finish_structured(
    completion: Any, schema: dict[str, Any], *, as_json: bool, live: bool, conversation_id: int | None
) -> None:
    """Print a ``--schema`` reply: the checked document (or with ``--json`` the record with ``object``).

    A reply cut at max_tokens or not matching the schema is one error line and
    exit status 1; under ``--json`` the record is printed first with ``object``
    null and ``schema_error`` saying why.
    """
    from ..structured.output import check_reply
    from . import fail

    value, problem = check_reply(completion.text, completion.finish_reason, schema)
    if as_json:
        echo_json({**json_record(completion, conversation_id), "object": value, "schema_error": problem}, indent=None)
    elif not live and problem is None:
        from ..structured.output import printable_document

        click.echo(printable_document(completion.text.strip()))  # JSON a pipe reads: escaped, not made visible
    if problem is not None:
        fail(problem)

"""``assistant prompt``: one question in, a streamed answer out."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .batch_options import batch_options
from .common import (
    TEXT,
    echo_json,
    echo_untrusted,
    model_options,
    progress_to_stderr,
    read_stdin_text,
    resolve_model_and_backend,
)
from .history_options import continue_options, describe_fit, history_options


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
        raise click.UsageError("no prompt given: pass TEXT or pipe text on stdin")
    return "\n\n".join(parts)


@click.command()
@click.argument("text", type=TEXT, required=False)
@model_options
@click.option("-s", "--system", type=TEXT, default=None, help="System prompt.")
@click.option(
    "--mode",
    type=click.Choice(["chat", "completion"]),
    default=None,
    help="chat: turns in the model's template; completion: TEXT continued as is (default: for base models).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of streaming text.")
@click.option("--probs", is_flag=True, help="Shade each token by its probability (on a terminal; implies -o logprobs=5).")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@continue_options
@history_options
# -- templates (assistant/cli/templates.py does the work) --
@click.option("-t", "--template", "template_name", default=None, help="Run a prompt template (TEXT/stdin fill `input`).")
@click.option("-v", "--var", "var_items", type=TEXT, multiple=True, metavar="NAME=VALUE", help="Template variable; NAME=@file reads a file.")
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
    continue_latest: bool,
    cid: int | None,
    db: str | None,
    no_log: bool,
    template_name: str | None,
    var_items: tuple[str, ...],
    batch: Path | None,
    out: Path | None,
    resume: bool,
    force: bool,
    input_field: str | None,
    parallel: int | None,
) -> None:
    """Send TEXT (and/or piped stdin) to the model and stream the answer.

    With -t NAME, run a template instead: TEXT/stdin fill its `input`, -v sets
    other variables, and --batch runs it over a file (see docs/templates.md).
    """
    if template_name is not None:
        from .templates import prompt_with_template

        if probs:
            raise click.UsageError("--probs shades one reply; it does not combine with -t")
        if mode is not None:
            raise click.UsageError("--mode applies to TEXT; a template sets its own prompt (-t)")

        if continue_latest or cid is not None:
            raise click.UsageError("-c/--cid continue a conversation; they do not combine with -t")

        prompt_with_template(
            template_name=template_name, text=text, var_items=var_items, batch=batch, out=out, resume=resume,
            force=force, input_field=input_field, parallel=parallel,
            model=model, backend=backend, options=options, verbose=verbose, system=system, as_json=as_json,
            db=db, no_log=no_log,
        )
        return
    if var_items or batch or out or resume or force or input_field or parallel is not None:
        raise click.UsageError("-v and the batch options (--batch, --out, ...) need a template (-t NAME)")
    from ..config import default_system_prompt
    from ..history.session_link import link_history
    from ..options import build_params, parse_options
    from ..inspect.shade import legend, shown_probability
    from ..models.mode import choose_mode
    from ..session import ChatSession, open_backend

    user_text = build_user_text(None if text == "-" else text, read_stdin_text())
    param_overrides, backend_opts = parse_options(options)
    params = build_params(param_overrides)
    if probs and not params.logprobs:
        params = params.replace(logprobs=PROBS_ALTERNATIVES)
    history = link_history(db, no_log, continue_latest, cid)  # fails before the model loads
    click.get_current_context().call_on_close(history.close)
    model_name, backend_name = resolve_model_and_backend(model or history.model, backend or history.backend)
    if verbose:
        backend_opts["verbose"] = True
    engine = open_backend(model_name, backend_name, backend_opts, progress=progress_to_stderr)
    session = ChatSession(
        engine,
        params=params,
        system=history.system(system, default_system_prompt()),
        messages=history.messages,
        recorder=history.recorder(),
        mode=choose_mode(mode, model_name),
    )
    context_length = engine.context_length
    out = sys.stdout
    shade = probs and not as_json and out.isatty()  # piped output stays plain text
    sampled = engine.capabilities.sampled_probs
    try:
        for chunk in (stream := session.send(user_text)):
            if not as_json and chunk.text:
                if shade:
                    echo_shaded(chunk.text, shown_probability(chunk.logprobs, sampled))
                else:
                    echo_untrusted(chunk.text, nl=False)
    except KeyboardInterrupt:
        engine.cancel()
        if not as_json:
            out.write("\n")
        raise
    finally:
        stream.close()  # a reply cut short by Ctrl-C is recorded as interrupted
        engine.unload()
    completion = session.last
    assert completion is not None
    if history.conversation is not None:
        click.echo(describe_fit(history.conversation.id, session.last_fit, context_length), err=True)
    if as_json:
        conversation_id = session.recorder.conversation_id if session.recorder else None
        echo_json({**completion.to_dict(), "conversation_id": conversation_id}, indent=None)
    else:
        if not completion.text.endswith("\n"):
            out.write("\n")
        if shade:
            what = "sampled probability" if sampled else "model probability (the server gives no sampled one)"
            click.echo(legend(ansi=sys.stderr.isatty(), what=what), err=True)
        if completion.finish_reason == "length":
            click.echo("(stopped at max_tokens; raise it with -o max_tokens=N)", err=True)

"""``assistant chat``: a line-by-line chat loop (the Textual app replaces this)."""

from __future__ import annotations

import sys

import click

from .common import model_options, progress_to_stderr, resolve_model_and_backend
from .history_options import continue_options, history_options


@click.command()
@model_options
@click.option("-s", "--system", default=None, help="System prompt.")
@continue_options
@history_options
def chat(
    model: str | None,
    backend: str | None,
    options: tuple[str, ...],
    verbose: bool,
    system: str | None,
    continue_latest: bool = False,
    cid: int | None = None,
    db: str | None = None,
    no_log: bool = False,
) -> None:
    """Chat with a model in the terminal. Ctrl-C stops a reply; Ctrl-D quits."""
    from ..errors import AssistantError
    from ..config import default_system_prompt
    from ..history.session_link import link_history
    from ..options import build_params, parse_options
    from ..session import ChatSession, open_backend

    param_overrides, backend_opts = parse_options(options)
    if verbose:
        backend_opts["verbose"] = True
    history = link_history(db, no_log, continue_latest, cid)
    click.get_current_context().call_on_close(history.close)
    model_name, backend_name = resolve_model_and_backend(model or history.model, backend or history.backend)
    engine = open_backend(model_name, backend_name, backend_opts, progress=progress_to_stderr)
    session = ChatSession(
        engine,
        params=build_params(param_overrides),
        system=history.system(system, default_system_prompt()),
        messages=history.messages,
        recorder=history.recorder(),
    )
    if history.conversation is not None:
        click.echo(f"continuing conversation {history.conversation.id} ({len(history.messages)} messages)", err=True)
    click.echo(f"{engine.model_name} on {engine.name}. Ctrl-C stops a reply, Ctrl-D quits.", err=True)
    while True:
        try:
            line = input("> ")
        except EOFError:
            click.echo("", err=True)
            break
        except KeyboardInterrupt:
            click.echo("", err=True)
            continue
        if not line.strip():
            continue
        try:
            for chunk in session.send(line):
                sys.stdout.write(chunk.text)
                sys.stdout.flush()
        except KeyboardInterrupt:
            engine.cancel()
            click.echo(" [interrupted]", err=True)
            continue
        except AssistantError as exc:
            click.echo(f"error: {exc}", err=True)
            continue
        sys.stdout.write("\n")
    engine.unload()

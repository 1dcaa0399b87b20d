"""``assistant chat``: a line-by-line chat loop (the Textual app replaces this)."""

from __future__ import annotations

import sys

import click

from .common import model_options, progress_to_stderr, resolve_model_and_backend


@click.command()
@model_options
@click.option("-s", "--system", default=None, help="System prompt.")
def chat(model: str | None, backend: str | None, options: tuple[str, ...], verbose: bool, system: str | None) -> None:
    """Chat with a model in the terminal. Ctrl-C stops a reply; Ctrl-D quits."""
    from ..errors import AssistantError
    from ..config import default_system_prompt
    from ..options import build_params, parse_options
    from ..session import ChatSession, open_backend

    param_overrides, backend_opts = parse_options(options)
    if verbose:
        backend_opts["verbose"] = True
    model_name, backend_name = resolve_model_and_backend(model, backend)
    engine = open_backend(model_name, backend_name, backend_opts, progress=progress_to_stderr)
    session = ChatSession(
        engine, params=build_params(param_overrides), system=default_system_prompt() if system is None else system
    )
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

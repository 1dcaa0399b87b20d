"""Options and helpers shared by the commands that run a model."""

from __future__ import annotations

import sys
from typing import Any, Callable

import click

from ..config import default_backend, default_model

F = Callable[..., Any]


def model_options(func: F) -> F:
    """``-m``, ``-b``, ``-o key=value`` and ``--verbose``: choose and tune the model."""
    decorators = [
        click.option("-m", "--model", default=None, help="Catalog name or path to a model (default: smollm2)."),
        click.option("-b", "--backend", default=None, help="Backend name (see `assistant backends`)."),
        click.option(
            "-o",
            "--option",
            "options",
            multiple=True,
            metavar="KEY=VALUE",
            help="Sampling parameter (max_tokens, temperature, top_k, top_p, seed, stop, "
            "repeat_penalty, logprobs) or backend option (n_ctx, n_threads, device, ...).",
        ),
        click.option("--verbose", is_flag=True, help="Show the engine's own logs."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def resolve_model_and_backend(model: str | None, backend: str | None) -> tuple[str, str]:
    return model or default_model(), backend or default_backend()


def read_stdin_text() -> str | None:
    """Piped stdin as text (invalid UTF-8 becomes U+FFFD), or None for a terminal."""
    stream = sys.stdin
    if stream is None or stream.isatty():
        return None
    data = stream.buffer.read() if hasattr(stream, "buffer") else stream.read().encode()
    return data.decode("utf-8", errors="replace")


def progress_to_stderr(message: str) -> None:
    click.echo(message, err=True)

"""History options shared by the commands that talk to a model (``prompt``, ``chat``).

Decorate a command with :func:`history_options` (``--db``, ``--no-log``) and
:func:`continue_options` (``-c/--continue``, ``--cid``); pass the values to
:func:`assistant.history.session_link.link_history`.
"""

from __future__ import annotations

from typing import Any, Callable

import click

F = Callable[..., Any]

db_option = click.option(
    "--db",
    "db",
    default=None,
    metavar="PATH",
    help="History database (default: config `db`, else history.db in the data dir).",
)


def history_options(func: F) -> F:
    """``--db PATH`` and ``--no-log``."""
    func = click.option("--no-log", is_flag=True, help="Do not record this conversation in the history.")(func)
    return db_option(func)


def continue_options(func: F) -> F:
    """``-c/--continue`` and ``--cid ID``."""
    from .common import ROW_ID

    func = click.option("--cid", type=ROW_ID, default=None, metavar="ID", help="Continue conversation ID.")(func)
    return click.option(
        "-c", "--continue", "continue_latest", is_flag=True, help="Continue the latest chat (tool runs and batches are skipped; --cid for any)."
    )(func)


def describe_fit(conversation_id: int | None, fit: Any, context_length: int) -> str:
    """One stderr line after a resumed turn: how much of the conversation the model saw."""
    tokens = "unknown" if fit is None or fit.prompt_tokens is None else str(fit.prompt_tokens)
    # 0: the server did not say how long its context is (not a window of no tokens)
    window = f" of {context_length}" if context_length > 0 else " (the context window's length is unknown)"
    line = f"conversation {conversation_id}: {tokens} prompt tokens{window}"
    if fit is not None and fit.dropped:
        line += f"; {fit.dropped} oldest message(s) left out to fit the context window"
    return line

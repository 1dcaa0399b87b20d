"""``assistant history``: list, show, search, export, rename and delete conversations."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import TYPE_CHECKING, Callable, TextIO, TypeVar

import click

from ..terminal_text import json_text, one_line, padded, visible_line, visible_text
from ..types import LENGTH_LIMIT_WORDS
from .common import COUNT, ROW_ID, TEXT, echo_json, echo_untrusted
from .history_options import db_option

if TYPE_CHECKING:
    from ..history import HistoryStore
    from ..history.records import StoredMessage

T = TypeVar("T")


def _open(db: str | None, *, write: bool = False) -> HistoryStore:
    from ..history import HistoryStore

    store = HistoryStore.open(db, create=False, need_write=write)
    click.get_current_context().call_on_close(store.close)
    return store


def _when(timestamp: str) -> str:
    """A stored UTC timestamp in the user's local time, to the minute."""
    try:
        return datetime.fromisoformat(timestamp).astimezone().strftime("%Y-%m-%d %H:%M")
    except (ValueError, OverflowError):  # written by another program (year 9999 at -14:00): as it is, on one line
        return one_line(timestamp)


def _untitled() -> str:
    """What a conversation without a title is called (imported late: ``history --help`` loads no SQLite layer)."""
    from ..history.stored_text import UNTITLED

    return UNTITLED


def _column(text: str | None, width: int = 60) -> str:
    """Stored text as a column of a listing: one shown line (:func:`visible_line`), cut at ``width``
    terminal cells counted on what is shown (an escape such as ``\\u202e`` is six cells)."""
    return visible_line(text or "", width)


@click.group()
def history() -> None:
    """Browse the conversation history (every prompt and chat turn is kept)."""


@history.command("list")
@click.option("-n", "--limit", type=COUNT, default=20, show_default=True, help="How many conversations.")
@click.option("--json", "as_json", is_flag=True)
@db_option
def list_command(limit: int, as_json: bool, db: str | None) -> None:
    """Recent conversations, newest first."""
    from ..history import resolve_db_path

    if not resolve_db_path(db).exists():
        if as_json:
            echo_json([])
        else:
            click.echo("no conversations yet", err=True)
        return
    conversations = _open(db).list_conversations(limit=limit)
    if as_json:
        echo_json([c.to_dict() for c in conversations])
        return
    if not conversations:
        click.echo("no conversations yet", err=True)
    for c in conversations:
        echo_untrusted(
            f"{c.id:>6}  {_when(c.updated)}  {c.message_count or 0:>4} msgs  {c.kind:<5}  "
            f"{padded(_column(c.model, 20), 20)}  {_column(c.title) or _untitled()}"
        )


def _message_header(message: StoredMessage) -> str:
    details = [_when(message.created)]
    if message.rendered is not None:  # shown as typed; --json has what the model was sent
        details.append(f"sent through template {message.template or '(unnamed)'}, see --json")
    if message.role == "assistant":
        if message.completion_tokens:
            count = message.completion_tokens
            details.append(f"{count} token{'' if count == 1 else 's'}")
        if message.tokens_per_second:
            details.append(f"{message.tokens_per_second:.1f} tok/s")
        if message.tool_name:
            details.append(f"tool {message.tool_name}")
    if message.status != "complete":
        details.append(message.status + (f": {message.error}" if message.error else ""))
    elif message.cut_short:  # complete, but cut by a limit: as the chat app and markdown export say
        details.append(LENGTH_LIMIT_WORDS[message.length_limit])
    if message.alternatives > 1:  # regenerated or edited: the others are on branches not shown
        details.append(f"version {message.alternative} of {message.alternatives}")
    # An error message (a server's words) is untrusted: a line break in it would start a
    # line that can pass for another message's header, so the header is one line.
    return one_line(f"--- {message.role} #{message.id} ({', '.join(details)})")


@history.command("show")
@click.argument("conversation_id", type=ROW_ID)
@click.option(
    "--at", "at", type=ROW_ID, default=None, metavar="MESSAGE_ID",
    help="The branch through this message (a search hit on another branch), not the active one.",
)
@click.option("--json", "as_json", is_flag=True)
@db_option
def show(conversation_id: int, at: int | None, as_json: bool, db: str | None) -> None:
    """Print one conversation with every message, including interrupted ones (its active branch)."""
    from ..history.export import conversation_dict

    store = _open(db)
    conversation = store.get_conversation(conversation_id)
    head = store.head_through(conversation_id, at) if at is not None else None
    messages = store.messages(conversation_id, head=head)
    if as_json:
        echo_json(conversation_dict(conversation, messages))
        return
    echo_untrusted(one_line(f"conversation {conversation.id}: {conversation.title or _untitled()}"))
    about = [f"created {_when(conversation.created)}"]
    if head is not None and head != conversation.head_id:
        about.append(f"the branch through #{at}, not the one `-c` continues")
    about += [v for v in (conversation.model, conversation.backend) if v]
    if conversation.template:
        about.append(f"template {conversation.template}")
    hidden = (conversation.message_count or 0) - len(messages)
    if hidden > 0:
        about.append(f"{hidden} more message{'s' if hidden != 1 else ''} on other branches")
    echo_untrusted(one_line(" · ".join(about)))
    # Contents are indented under their header: a message holding a line such as
    # "--- assistant #5" would otherwise read as a turn of its own.
    system = messages[0].system if messages else conversation.system
    if system:
        echo_untrusted(f"--- system\n{_indented(system)}")
    for message in messages:
        if message.system != system:  # changed here (`prompt -c -s`, the chat app's settings)
            system = message.system
            echo_untrusted(f"--- system (changed)\n{_indented(system)}" if system else "--- system (none from here)")
        echo_untrusted(_message_header(message))
        echo_untrusted(_indented(message.content))
        if message.tool_result_apart:  # not a --batch row's, whose text is the JSON already
            echo_untrusted(_indented(json_text(message.tool_result, indent=2)))  # under its message, as its text


def _indented(text: str) -> str:
    """``text`` with every line indented two spaces (blank lines stay blank)."""
    return "\n".join(f"  {line}" if line.strip() else "" for line in text.split("\n"))


@history.command()
@click.argument("query", type=TEXT)
@click.option("-n", "--limit", type=COUNT, default=20, show_default=True)
@click.option("--recent", is_flag=True, help="Newest first instead of best match first.")
@click.option("--json", "as_json", is_flag=True)
@db_option
def search(query: str, limit: int, recent: bool, as_json: bool, db: str | None) -> None:
    """Messages containing every word of QUERY (any text; "a phrase" in quotes, pref* for prefixes)."""
    hits = _open(db).search(query, limit=limit, order="recent" if recent else "relevance")
    if as_json:
        echo_json([hit.to_dict() for hit in hits])
        return
    if not hits:
        click.echo("no matches", err=True)
    for hit in hits:
        echo_untrusted(
            f"{hit.conversation_id:>6}  #{hit.message_id:<7} {_when(hit.created)}  {hit.role:<9} "
            f"{_column(hit.snippet, 100)}"
        )


def _output_file(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``-o -`` is stdout, as the convention goes (and ``prompt --batch --out -``), not a file named "-";
    an empty name (``-o "$UNSET"``) is refused, not taken for the current directory."""
    if value == "-":
        return None
    if value is not None and not value.strip():
        raise click.BadParameter("needs a file name, not an empty string", ctx, param)
    return value


@history.command()
@click.argument("conversation_id", type=ROW_ID, required=False)
@click.option("--all", "export_all", is_flag=True, help="Export every conversation.")
@click.option(
    "-f", "--format", "fmt", type=click.Choice(["markdown", "json", "jsonl"]), default="markdown", show_default=True
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None, callback=_output_file,
    help="File (default, or -: stdout).",
)
@db_option
def export(conversation_id: int | None, export_all: bool, fmt: str, output: str | None, db: str | None) -> None:
    """Export conversation ID, or --all, as Markdown, JSON or JSON Lines (jsonl: whole exchanges only)."""
    from ..history.export import export_to_file, write_export

    if conversation_id is None and not export_all:
        raise click.UsageError("give a conversation ID or --all")
    if conversation_id is not None and export_all:
        raise click.UsageError("give a conversation ID or --all, not both")
    store = _open(db)
    ids = store.conversation_ids() if export_all else [store.get_conversation(conversation_id).id]  # type: ignore[arg-type]
    if output is None:
        left_out = _to_stdout(lambda out: write_export(out, store.iter_export(ids), fmt, many=export_all))
    else:
        left_out = export_to_file(output, store.iter_export(ids), fmt, many=export_all, database=store.path)
        echo_untrusted(f"exported {len(ids) - len(left_out)} conversation(s) to {one_line(str(output))}", err=True)
    if left_out:  # said, so that an export of nothing is not mistaken for a bug
        click.echo(f"left out {len(left_out)} conversation(s) with no whole reply (each was interrupted, cut at max tokens or failed)", err=True)


def _to_stdout(write: Callable[[TextIO], T]) -> T:
    """``write(sys.stdout)``, flushed; a write error (a full disk: ``> /dev/full``) said as the export's.

    Why: the error surfaced at the final flush, as a bare "No space left on device" that did not
    say what could not be written. A reader that is gone (``| head``) still ends quietly.
    """
    try:
        result = write(sys.stdout)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        from ..errors import OutputError
        from . import _drop_unwritable_stdout

        _drop_unwritable_stdout()  # what is still buffered is not tried again at exit
        raise OutputError(f"could not write the export to standard output: {exc.strerror or exc}") from exc
    return result


@history.command()
@click.argument("conversation_id", type=ROW_ID)
@click.argument("title", type=TEXT)
@db_option
def rename(conversation_id: int, title: str, db: str | None) -> None:
    """Give conversation ID a new TITLE."""
    _open(db, write=True).rename(conversation_id, title)


@history.command()
@click.argument("conversation_id", type=ROW_ID)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@db_option
def delete(conversation_id: int, yes: bool, db: str | None) -> None:
    """Delete conversation ID and all its messages."""
    store = _open(db, write=True)
    conversation = store.get_conversation(conversation_id)
    if not yes:
        _confirm_delete(
            visible_text(
                f"delete conversation {conversation.id} ({conversation.message_count} messages): "
                f"{_column(conversation.title) or _untitled()}?"
            )
        )
    deleted = store.delete(conversation_id)
    click.echo(f"deleted conversation {conversation_id} ({deleted} messages)", err=True)


def _confirm_delete(question: str) -> None:
    """Ask ``question``; return only on a yes. Otherwise one line saying nothing was deleted.

    Why not ``click.confirm(abort=True)``: every way of not answering yes came out as
    click's "Aborted!" with status 1 — Ctrl-C too, which everywhere else is "interrupted"
    and status 130 — and none said whether the conversation was gone.
    """
    try:
        if click.confirm(question, err=True):
            return
    except click.Abort as exc:  # click raises it "from None"; what it stands for is the context
        if isinstance(exc.__context__, KeyboardInterrupt):
            click.echo("\ninterrupted: nothing deleted", err=True)
            sys.exit(130)
        from . import fail

        click.echo("", err=True)  # the question is left without its line's end
        fail("no answer to the confirmation (stdin is closed): nothing deleted; pass -y to delete without asking")
    click.echo("nothing deleted", err=True)
    sys.exit(1)


@history.command()
@db_option
def repair(db: str | None) -> None:
    """Rebuild the search index from the messages (after a "malformed" error); every message is kept."""
    from ..history.repair import repair_history

    indexed = repair_history(db)
    click.echo(f"rebuilt the search index ({indexed} messages); the history is sound", err=True)

"""Exporting conversations as Markdown, JSON or JSON Lines.

* ``json``: one object per conversation (``--all``: an array), every stored field;
* ``jsonl``: one conversation per line in the chat fine-tuning shape and nothing
  else: ``{"messages": [{"role": ..., "content": ...}, ...]}``, the system prompt
  as the first message; replies that did not complete (interrupted, cut at max
  tokens, failed) are left out together with the user turn they answer, since
  training on them teaches cut-offs and a user turn without its reply breaks the
  user/assistant alternation trainers expect; a conversation left with no reply
  is not written at all; a template run's user turn is written as the model was
  sent it (its example turns and filled-in body), which is what its reply answers;
* ``markdown``: for reading; a reply that was cut short says so, a message sent
  through a template shows what the user typed and says so. Control
  characters are made visible (``ESC`` as ``␛``), as everywhere text is shown.
  Every message is a block quote (:func:`quoted`), so its own Markdown renders
  but cannot make the document's structure: a ``## Assistant`` line in a
  message is a heading inside that quote, not a turn; raw HTML in it is made
  text (:func:`inert_html`), code excepted.

JSON text is written as stored: control characters (and DEL, C1) become
``\\u`` escapes, nothing is dropped or re-encoded, so a JSON export round-trips
byte for byte and is still safe to ``cat`` to a terminal.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import stat
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence, TextIO

from ..errors import HistoryError, OutputError
from ..files import names_a_directory, replacing
from ..terminal_text import LINE_END, json_text, one_line, visible_text
from ..types import LENGTH_LIMIT_WORDS, Message
from .records import Conversation, StoredMessage
from .sqlite_files import COMPANIONS, sqlite_file_kind

FORMATS = ("markdown", "json", "jsonl")

Exported = Iterable[tuple[Conversation, list[StoredMessage]]]


def conversation_dict(conversation: Conversation, messages: list[StoredMessage]) -> dict[str, Any]:
    """Every stored field; a message's ``system`` only where it is not the conversation's (an earlier one)."""
    data = conversation.to_dict()
    data["message_count"] = len(messages)
    data["messages"] = [message_dict(m, conversation.system) for m in messages]
    return data


def message_dict(message: StoredMessage, conversation_system: str | None) -> dict[str, Any]:
    data = message.to_dict()
    if (message.system or None) == (conversation_system or None):
        del data["system"]
    return data


def fine_tuning_dict(conversation: Conversation, messages: list[StoredMessage]) -> dict[str, Any] | None:
    """``{"messages": [{role, content}, ...]}``: what chat fine-tuning tools read, one conversation a line.

    Only whole exchanges are kept: a user turn goes in with the reply that
    answers it, and both are dropped when that reply was cut short (or never
    came: a failed batch row, a killed process). Keeping the user turn alone
    would give two user turns in a row or a conversation ending on the user,
    which trainers reject or learn wrong. None when no exchange is left.
    """
    turns: list[dict[str, Any]] = []
    asked: StoredMessage | None = None  # the user turn waiting for its reply
    system = conversation.system
    for message in messages:
        if message.role == "user":
            asked = message  # a previous one still waiting had no reply: it is dropped
        elif message.role == "assistant":
            if asked is not None and not message.cut_short:
                # As the model was sent it (a template's rendering): the reply answers that, not the bare input.
                turns += [m.to_dict() for m in asked.rendered or [Message("user", asked.content)]]
                turns.append({"role": "assistant", "content": message.content})
                system = message.system  # the prompt the last reply kept was written under
            asked = None
        else:
            turns.append({"role": message.role, "content": message.content})
    if not any(turn["role"] == "assistant" for turn in turns):
        return None
    # One system prompt, the one the last reply was written under (with every turn before it in
    # its context): where the conversation's changed, the earlier replies had another.
    return {"messages": ([{"role": "system", "content": system}] if system else []) + turns}


_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
_BACKTICKS = re.compile(r"`+")
_SPECIAL = re.compile(r"[\\`<]")
_AUTOLINK = re.compile(r"<[A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s<>]*>")


def inert_html(line: str) -> str:
    """One line of Markdown with every ``<`` that could open raw HTML escaped (``\\<``), code spans kept.

    Why: CommonMark passes raw HTML through, and a message is untrusted text. A
    line ``<!--`` or a ``<script>``, ``<style>`` or ``<textarea>`` in a reply
    (an answer about web pages) ran to the end of the rendered document — every
    later turn hidden, or run as a script by a renderer that allows it. Text in
    backticks is code and stays as written, as does an autolink (``<https://…>``).
    """
    if "<" not in line:  # the common case, and megabyte replies: nothing to do
        return line
    out: list[str] = []
    i, n = 0, len(line)
    while i < n:
        special = _SPECIAL.search(line, i)
        if special is None:
            out.append(line[i:])
            break
        out.append(line[i : special.start()])
        i = special.start()
        ch = line[i]
        if ch == "\\":  # an escape already: both characters as they are
            out.append(line[i : i + 2])
            i += 2
        elif ch == "`":
            run = _BACKTICKS.match(line, i)
            assert run is not None
            ticks = run.group()
            close = next((m for m in _BACKTICKS.finditer(line, run.end()) if m.group() == ticks), None)
            end = close.end() if close is not None else run.end()  # no closing run: literal backticks
            out.append(line[i:end])
            i = end
        else:  # "<"
            link = _AUTOLINK.match(line, i)
            if link is not None:
                out.append(link.group())
                i = link.end()
                continue
            following = line[i + 1 : i + 2]
            out.append("\\<" if following.isalpha() or following in ("!", "?", "/") else "<")
            i += 1
    return "".join(out)


def inert_markdown(content: str) -> list[str]:
    """``content``'s lines with raw HTML made text (:func:`inert_html`) outside fenced code blocks."""
    lines = []
    fence: str | None = None  # the open fence's characters, while inside a fenced code block
    for line in content.split("\n"):
        opening = _FENCE.match(line)
        marks, rest = (opening.group(1), line[opening.end() :]) if opening is not None else ("", "")
        if fence is not None:
            if marks[:1] == fence[0] and len(marks) >= len(fence) and not rest.strip():  # it closes
                fence = None
            lines.append(line)
        elif marks and not (marks[0] == "`" and "`" in rest):  # a backtick fence's info has no backtick
            fence = marks
            lines.append(line)
        else:
            lines.append(inert_html(line))
    return lines


def quoted(content: str) -> list[str]:
    """``content`` as the lines of a Markdown block quote (none for empty content).

    Why a quote: a message is untrusted text, and written as it is, a line
    ``## Assistant`` in it was a turn of the exported document, ``---`` the
    start of the next conversation, and an unclosed code fence swallowed every
    turn after it. Inside a block quote every one of those ends with the quote
    (CommonMark closes a container's open blocks with it), while the message's
    own headings, lists and code still render. ``\\n`` and ``\\r\\n`` (any CRs before a LF: one
    definition, :data:`~assistant.terminal_text.LINE_END`) end a line
    (a message pasted from a Windows file showed ``␍`` at the end of each):
    a lone ``\\r`` is shown as ``␍`` by :func:`~assistant.terminal_text.visible_text`,
    as everywhere text is printed.
    """
    if not content:
        return []
    return [f"> {line}" if line else ">" for line in inert_markdown(LINE_END.sub("\n", content))] + [""]


def markdown(conversation: Conversation, messages: list[StoredMessage]) -> str:
    title = inert_html(one_line(conversation.title or f"Conversation {conversation.id}"))
    details = [f"conversation {conversation.id}", conversation.created]
    details += [v for v in (conversation.model, conversation.backend, conversation.template) if v]
    lines = [f"# {title}", "", "*" + inert_html(" · ".join(one_line(d) for d in details)) + "*", ""]
    system = messages[0].system if messages else conversation.system
    if system:
        lines += ["## System", "", *quoted(system)]
    for message in messages:
        if message.system != system:  # changed here: each turn shows the prompt it was written under
            system = message.system
            lines += ["## System (changed)", "", *(quoted(system) if system else ["*(none from here)*", ""])]
        lines += [f"## {message.role.capitalize()}", "", *quoted(message.content)]
        if message.rendered is not None:
            template = one_line(message.template or "(unnamed)")
            lines += [f"*(sent through template {inert_html(template)}; the JSON export has what the model was sent)*", ""]
        if message.tool_name and message.tool_result_apart:  # a --batch row's text is its result already
            result = json_text(message.tool_result, indent=2)  # as `history show`: C1 and bidi escaped, so the block reads back
            tool = one_line(message.tool_name)
            lines += [f"Tool `{tool}` result:", "", "```json", result, "```", ""]
        if message.status != "complete":
            reason = f": {inert_html(one_line(message.error))}" if message.error else ""  # one line: no turn forged
            lines += [f"*({message.status}{reason})*", ""]
        elif message.cut_short:  # as the chat app and `history show` say
            lines += [f"*({LENGTH_LIMIT_WORDS[message.length_limit]})*", ""]
    return "\n".join(lines)


class UnreadableConversations(HistoryError):
    """Raised after an export of several conversations, some of which a damaged file could not give."""


def readable(
    conversation_ids: Sequence[int], read: Callable[[int], tuple[Conversation, list[StoredMessage]]]
) -> Iterator[tuple[Conversation, list[StoredMessage]]]:
    """``read(id)`` for each id; of several, one the file is too damaged to give is skipped, and
    :class:`UnreadableConversations` names them once every other one has been given.

    Why: ``history repair`` sends a user with a file damaged beyond the search index to
    ``export --all`` to "save what still reads", and one damaged page in one conversation
    stopped that export at it (``[`` and nothing else): nothing was saved. The export goes on,
    stays valid (:func:`iter_export` closes it, :func:`export_to_file` keeps the file), and
    ends with one error line naming what was not in it.
    """
    skipped: list[tuple[int, HistoryError]] = []
    for conversation_id in conversation_ids:
        try:
            found = read(conversation_id)
        except HistoryError as exc:
            if len(conversation_ids) < 2 or not _damaged(exc):
                raise
            skipped.append((conversation_id, exc))
            continue
        yield found
    if skipped:
        ids = ", ".join(str(conversation_id) for conversation_id, _ in skipped)
        cause = skipped[0][1].__cause__
        raise UnreadableConversations(
            f"the export leaves out conversation(s) {ids}, which the damaged file could not give ({cause}); "
            f"it holds the other {len(conversation_ids) - len(skipped)}"
        ) from cause


def _damaged(exc: HistoryError) -> bool:
    """Whether ``exc`` comes from a damaged file (SQLite's "malformed"/"corrupt"), not a lock or a bad id."""
    cause = exc.__cause__
    return isinstance(cause, sqlite3.DatabaseError) and any(
        word in str(cause).lower() for word in ("malformed", "corrupt")
    )


def iter_export(
    conversations: Exported, fmt: str, *, many: bool, left_out: list[int] | None = None
) -> Iterator[str]:
    """Yield the export in pieces, so ``--all`` streams instead of building one string.

    ``left_out`` collects the ids of conversations not written (``jsonl``: no
    whole exchange), so the caller can say so instead of exporting nothing silently.
    :class:`UnreadableConversations` raised by ``conversations`` is raised again once the export is
    whole (a JSON array closed), so what it holds is usable.

    Not itself a generator: an unknown format is refused at the call, not when the first
    piece is read (a caller that never read it never learned).
    """
    if fmt not in FORMATS:
        raise HistoryError(f"unknown export format {fmt!r} (choose from {', '.join(FORMATS)})")
    return _export(conversations, fmt, many, left_out)


def _export(conversations: Exported, fmt: str, many: bool, left_out: list[int] | None) -> Iterator[str]:
    """:func:`iter_export`'s pieces, once its arguments are checked."""
    unreadable: list[UnreadableConversations] = []
    yield from _pieces(_until_unreadable(conversations, unreadable), fmt, many, left_out)
    if unreadable:
        raise unreadable[0]


def _until_unreadable(conversations: Exported, unreadable: list[UnreadableConversations]) -> Exported:
    """``conversations``, ending (not raising) at :class:`UnreadableConversations`, which goes to ``unreadable``."""
    try:
        yield from conversations
    except UnreadableConversations as exc:
        unreadable.append(exc)


def _pieces(conversations: Exported, fmt: str, many: bool, left_out: list[int] | None) -> Iterator[str]:
    if fmt == "jsonl":
        for conversation, messages in conversations:
            example = fine_tuning_dict(conversation, messages)
            if example is None:
                if left_out is not None:
                    left_out.append(conversation.id)
                continue
            yield json_text(example) + "\n"
    elif fmt == "json":
        if not many:
            for conversation, messages in conversations:
                yield json_text(conversation_dict(conversation, messages), indent=2) + "\n"
            return
        yield "["
        for index, (conversation, messages) in enumerate(conversations):
            body = json_text(conversation_dict(conversation, messages), indent=2)
            yield ("," if index else "") + "\n" + body
        yield "\n]\n"
    else:
        for index, (conversation, messages) in enumerate(conversations):
            yield ("\n---\n\n" if index else "") + visible_text(markdown(conversation, messages))


def write_export(out: TextIO, conversations: Exported, fmt: str, *, many: bool) -> list[int]:
    """Write the export to ``out``; returns the ids of conversations left out (see :func:`iter_export`)."""
    left_out: list[int] = []
    for piece in iter_export(conversations, fmt, many=many, left_out=left_out):
        out.write(piece)
    return left_out


def _write_keeping(out: TextIO, conversations: Exported, fmt: str, many: bool, unreadable: list[HistoryError]) -> list[int]:
    """:func:`write_export`, a whole export with :class:`UnreadableConversations` kept for after the file is in place."""
    try:
        return write_export(out, conversations, fmt, many=many)
    except UnreadableConversations as exc:
        unreadable.append(exc)
        return []


DATABASE_COMPANIONS = ("", *COMPANIONS)
"""The history file and the files SQLite keeps beside it: none of them is an export target."""


def export_to_file(
    path: str | os.PathLike[str], conversations: Exported, fmt: str, *, many: bool, database: Path | None = None
) -> list[int]:
    """Write the export to ``path`` whole or not at all; returns the ids left out (as :func:`write_export`).

    Why not ``open(path, "w")``: that truncates first, so an export that fails
    half way (a full disk, a database error) destroyed the file it was replacing,
    and ``-o`` naming the history database itself (or its ``-wal``) emptied the
    whole history. The text goes to a temporary file beside ``path`` and
    replaces it only when complete; the database's own files are refused.
    A target that is not a regular file (``/dev/stdout``, a FIFO) is written directly.
    A path ending in a separator names a directory (``-o exports/``): refused, as
    ``Path`` would drop the separator and write a file of the directory's name. Any other SQLite file
    (:func:`~.sqlite_files.sqlite_file_kind`: the history of another ``--db``, a backup of one) is refused
    too: ``export --all -o backup.db`` replaced a whole history with its Markdown.
    """
    text = os.fspath(path)
    if names_a_directory(text):
        suffix = {"markdown": "md"}.get(fmt, fmt)
        raise OutputError(f"cannot export to {text}: it names a directory; give a file name, such as {text}export.{suffix}")
    target = Path(os.path.expanduser(text))  # ~nouser stays as written (Path.expanduser raised)
    if database is not None:
        for suffix in DATABASE_COMPANIONS:
            companion = database.with_name(database.name + suffix)
            with contextlib.suppress(OSError):
                if target.exists() and companion.exists() and os.path.samefile(target, companion):
                    raise OutputError(f"cannot export to {target}: it is the history database's own file")
    if (kind := sqlite_file_kind(target)) is not None:  # another --db's history, a backup of one: kept whole
        raise OutputError(f"cannot export to {target}: it is {kind} (a history?), not an export; choose another file")
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from exc
    unreadable: list[HistoryError] = []  # raised once the export is in place: what it holds is kept
    try:
        if mode is not None and not stat.S_ISREG(mode):
            with open(target, "w", encoding="utf-8", newline="") as out:
                left_out = _write_keeping(out, conversations, fmt, many, unreadable)
        else:
            with replacing(target) as out:  # through a symbolic link: the file it names is replaced, not the link
                left_out = _write_keeping(out, conversations, fmt, many, unreadable)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from exc
    if unreadable:
        raise unreadable[0]
    return left_out

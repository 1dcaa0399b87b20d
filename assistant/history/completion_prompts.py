"""How a completion-mode reply's prompt is stored: as what it adds to the prompt of the reply before it.

A base model is sent the whole conversation as one text, and each reply keeps
that text (:attr:`~assistant.history.records.StoredMessage.completion_prompt`).
Stored whole, turn *n*'s prompt repeats turns 1 … *n*-1, so a conversation's
prompts grew with the square of its length (a 100-turn story: 0.9 MB of prompts
for 18 kB of turns). Each reply's prompt usually begins with the prompt of the
reply before it on its branch (its user message's parent), so it is stored as
three columns (migration ``0010_completion_prompt_deltas``):

* ``completion_prompt_base``: that earlier reply's id (always a lower id, so a chain ends);
* ``completion_prompt_keep``: how many characters of the base's prompt this one starts with;
* ``completion_prompt_added``: the text after them;

and ``completion_prompt`` stays NULL. A prompt that shares nothing with the one
before (the first reply, one fitted to the context window by dropping early
turns, one after a chat-mode reply) — or less than half of it — is stored
whole in ``completion_prompt`` (so a chain is no longer than the turns that fit one window),
as before this migration; a row that has ``completion_prompt`` is read from it
alone. Reads rebuild every prompt exactly (:func:`resolved`): what a reply was
sent is never approximated. A version before this one reads these rows as
"no recorded prompt" (the turns rebuilt by its rule), never as wrong text.
"""

from __future__ import annotations

from typing import Any, Iterable

import sqlite_utils


def store(db: sqlite_utils.Database, reply_id: int, prompt: str | None, known: dict[int, str] | None = None) -> None:
    """Record ``prompt`` for the reply ``reply_id`` (just inserted, inside the caller's write transaction).

    ``known``: prompts already at hand by reply id (migration 0010 converts a
    file's prompts oldest first), so a base's is not rebuilt from its chain again.
    """
    if prompt is None:
        return
    found = db.execute(
        "SELECT p.id FROM messages r JOIN messages u ON u.id = r.parent_id JOIN messages p ON p.id = u.parent_id"
        " WHERE r.id = ? AND p.role = 'assistant' AND p.conversation_id = r.conversation_id AND p.id < r.id",
        [reply_id],
    ).fetchone()
    base = found[0] if found else None
    base_prompt = None if base is None else known[base] if known and base in known else full_prompt(db, base)
    keep = _shared_prefix(base_prompt, prompt) if base_prompt else 0
    if keep * 2 < len(prompt):  # shares little (fitted to the window: a few letters): whole, ending the chain
        db.execute(
            "UPDATE messages SET completion_prompt = ?, completion_prompt_base = NULL, completion_prompt_keep = NULL,"
            " completion_prompt_added = NULL WHERE id = ?",
            [prompt, reply_id],
        )
        return
    db.execute(
        "UPDATE messages SET completion_prompt = NULL, completion_prompt_base = ?, completion_prompt_keep = ?,"
        " completion_prompt_added = ? WHERE id = ?",
        [base, keep, prompt[keep:], reply_id],
    )


def store_all(db: sqlite_utils.Database) -> None:
    """Store every whole prompt of a file as what it adds to the one before (migration 0010)."""
    known: dict[int, str] = {}
    conversation = None
    for reply_id, conversation_id in db.execute(
        "SELECT id, conversation_id FROM messages WHERE completion_prompt IS NOT NULL ORDER BY conversation_id, id"
    ).fetchall():
        if conversation_id != conversation:  # bases are in the same conversation: hold one's prompts at a time
            known, conversation = {}, conversation_id
        prompt = db.execute("SELECT completion_prompt FROM messages WHERE id = ?", [reply_id]).fetchone()[0]
        if isinstance(prompt, str):
            store(db, reply_id, prompt, known)
            known[reply_id] = prompt


def full_prompt(db: sqlite_utils.Database, message_id: int) -> str | None:
    """The prompt of one message, rebuilt from its chain of bases (None: it has none, or the chain is broken)."""
    rows = db.execute(
        """
        WITH RECURSIVE chain(id, prompt, base, keep, added) AS (
            SELECT id, completion_prompt, completion_prompt_base, completion_prompt_keep, completion_prompt_added
            FROM messages WHERE id = ?
            UNION ALL
            SELECT m.id, m.completion_prompt, m.completion_prompt_base, m.completion_prompt_keep,
                   m.completion_prompt_added
            FROM messages m JOIN chain ON m.id = chain.base
            WHERE chain.prompt IS NULL AND chain.base < chain.id
        )
        SELECT id, prompt, base, keep, added FROM chain ORDER BY id DESC
        """,
        [message_id],
    ).fetchall()
    # Newest first, only the characters each later prompt keeps: O(chain + text), where
    # rebuilding every prompt of the chain in turn copied each of them whole.
    pieces: list[str] = []
    need: int | None = None  # how many leading characters of this row's prompt are still wanted
    for row_id, prompt, base, keep, added in rows:
        whole = prompt if isinstance(prompt, str) else None
        if prompt is not None or base is None:
            if whole is None or (need is not None and need > len(whole)):
                return None
            pieces.append(whole if need is None else whole[:need])
            return "".join(reversed(pieces))
        if not _valid_delta(row_id, base, keep, added):
            return None
        if need is None:
            pieces.append(added)
        elif need > keep:
            if need > keep + len(added):
                return None  # keeps more than that prompt has
            pieces.append(added[: need - keep])
        need = keep if need is None else min(need, keep)
    return None  # the chain ends at a row that is not there


def resolved(db: sqlite_utils.Database, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` (messages, oldest first) with each one's ``completion_prompt`` rebuilt whole.

    A base is almost always a row read before (the reply before, on the same
    branch); one that is not is looked up. A file without the delta columns
    (read-only, older than migration 0010) has whole prompts only.
    """
    out = [dict(row) for row in rows]
    known: dict[int, str | None] = {}
    for row in out:
        row["completion_prompt"] = known[row["id"]] = _rebuilt(db, row, known)
    return out


def _rebuilt(
    db: sqlite_utils.Database, row: dict[str, Any], known: dict[int, str | None]
) -> str | None:
    """One row's whole prompt: its ``completion_prompt``, or its base's first ``keep`` characters and its
    added text. None where something is not as written (a broken chain, values of the wrong type
    another program wrote): that reply has no recorded prompt and its turns are rebuilt instead."""
    whole = row.get("completion_prompt")
    base, keep, added = row.get("completion_prompt_base"), row.get("completion_prompt_keep"), row.get("completion_prompt_added")
    if whole is not None or base is None:
        return whole if isinstance(whole, str) else None
    if not _valid_delta(row["id"], base, keep, added):
        return None
    base_prompt = known[base] if base in known else full_prompt(db, base)
    if base_prompt is None or keep > len(base_prompt):
        return None
    return base_prompt[:keep] + added


def _valid_delta(row_id: Any, base: Any, keep: Any, added: Any) -> bool:
    """Whether a row's delta columns are as :func:`store` writes them (another program may have written others)."""
    return type(base) is int and type(keep) is int and isinstance(added, str) and 0 < keep and base < row_id


def _shared_prefix(a: str, b: str) -> int:
    """How many leading characters ``a`` and ``b`` share (the common case, ``b`` extending ``a``, in one step)."""
    if b.startswith(a):
        return len(a)
    low, high = 0, min(len(a), len(b))
    while low < high:  # the longest prefix they share: binary search on equal prefixes
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low

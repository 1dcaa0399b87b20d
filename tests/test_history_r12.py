"""Round 12, history: completion-mode prompts stored in space linear in a conversation's length.

Each completion-mode reply keeps the exact text its model was sent (migration 0009). Stored whole,
turn n's prompt repeated turns 1 … n-1: a 100-turn conversation held 0.9 MB of prompts for 18 kB
of turns. A prompt is now stored as what it adds to the prompt of the reply before it (migration
``0010_completion_prompt_deltas``) and rebuilt exactly on read.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from assistant.backends.fake import FakeBackend
from assistant.cli import main
from assistant.history import ConversationRecorder, HistoryStore, TurnMeta
from assistant.history.db import connect
from assistant.history.migrations import migrations, pending_names
from assistant.history.session_link import link_history
from assistant.session import ChatSession, completion_text
from assistant.types import GenerationParams

META = TurnMeta(model="m", backend="fake")
OPENING = "Once upon a time, on a rock far out in the grey northern sea"
REPLY = " and the waves rolled over the rocks while the keeper watched the light"


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def fake(context_length: int = 1_000_000) -> FakeBackend:
    backend = FakeBackend(reply=REPLY, context_length=context_length)
    backend.load("fake-model")
    return backend


def send(chat: ChatSession, text: str) -> str:
    return "".join(chunk.text for chunk in chat.send(text))


def story(store: HistoryStore, backend: FakeBackend, turns: int) -> ChatSession:
    chat = ChatSession(
        backend, params=GenerationParams(max_tokens=64), mode="completion", recorder=ConversationRecorder(store)
    )
    for turn in range(turns):
        send(chat, f"Turn {turn}: the story goes on about the lighthouse.")
    return chat


def stored_prompt_chars(db: sqlite3.Connection | object) -> int:
    row = db.execute(  # type: ignore[attr-defined]
        "SELECT coalesce(sum(length(completion_prompt)), 0) + coalesce(sum(length(completion_prompt_added)), 0),"
        " sum(length(content)) FROM messages"
    ).fetchone()
    return int(row[0])


def test_a_long_completion_conversation_stores_its_prompts_in_linear_space(tmp_path: Path) -> None:
    backend = fake()
    with HistoryStore.open(tmp_path / "h.db") as store:
        story(store, backend, 40)
        contents = store.db.execute("SELECT sum(length(content)) FROM messages").fetchone()[0]
        # whole, the 40 prompts held about 20 times the conversation's text; as deltas, each
        # prompt adds the reply before it, a joint and the new user text
        assert stored_prompt_chars(store.db) <= contents + 40
        stored = store.messages(1)
        # and every reply reads back with exactly the text its model was sent
        assert [m.completion_prompt for m in stored if m.role == "assistant"] == [c["prompt"] for c in backend.calls]
        assert [m.completion_prompt for m in store.messages(1, "all") if m.role == "assistant"] == [
            c["prompt"] for c in backend.calls
        ]
        assert completion_text(store.context_messages(1)) == backend.calls[-1]["prompt"] + stored[-1].content


def test_the_cli_resumes_a_long_conversation_exactly(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    with HistoryStore.open(db) as store:
        story(store, fake(), 12)
        last = store.messages(1)[-1]
    backend = fake()
    link = link_history(str(db), continue_latest=True)
    try:
        chat = ChatSession(backend, params=GenerationParams(max_tokens=8), mode="completion",
                           messages=link.messages, recorder=link.recorder())
        send(chat, "At dawn")
    finally:
        link.close()
    assert backend.calls[-1]["prompt"] == last.completion_prompt + last.content + " At dawn"
    with HistoryStore.open(db) as store:
        assert store.messages(1)[-1].completion_prompt == backend.calls[-1]["prompt"]
    shown = cli("history", "export", "1", "-f", "json", "--db", str(db))
    assert shown.exit_code == 0 and backend.calls[-1]["prompt"].replace("\n", "\\n") in shown.stdout


def test_branches_each_keep_their_own_prompt(tmp_path: Path) -> None:
    """A regenerated reply and an edited message start from the same earlier reply: each rebuilds its own."""
    with HistoryStore.open(tmp_path / "h.db") as store:
        conversation = store.create_conversation(meta=META)
        first = store.start_turn(conversation.id, OPENING, META, completion_prompt=OPENING)
        store.finish_turn(first, _done(" there was a lighthouse."))
        second = store.start_turn(
            conversation.id, "Then", META, completion_prompt=OPENING + " there was a lighthouse. Then"
        )
        store.finish_turn(second, _done(" a storm."))
        again = store.start_reply(
            conversation.id, second.user_message_id, META,
            completion_prompt=OPENING + " there was a lighthouse. Then",
        )
        store.finish_turn(again, _done(" the sun."))
        edited = store.start_turn(
            conversation.id, "Later", META, parent_id=first.reply_message_id,
            completion_prompt=OPENING + " there was a lighthouse.\nLater",
        )
        store.finish_turn(edited, _done(" calm."))
        prompts = {m.id: m.completion_prompt for m in store.messages(conversation.id, "all")}
        assert prompts[second.reply_message_id] == prompts[again.reply_message_id] == (
            OPENING + " there was a lighthouse. Then"
        )
        assert prompts[edited.reply_message_id] == OPENING + " there was a lighthouse.\nLater"
        store.activate(conversation.id, second.reply_message_id)
        assert store.messages(conversation.id)[-1].completion_prompt == prompts[second.reply_message_id]
        # each is stored as what it adds to the first reply's prompt
        rows = store.db.execute(
            "SELECT completion_prompt, completion_prompt_base, completion_prompt_added FROM messages"
            " WHERE role = 'assistant' ORDER BY id"
        ).fetchall()
        assert rows == [
            (OPENING, None, None),
            (None, first.reply_message_id, " there was a lighthouse. Then"),
            (None, first.reply_message_id, " there was a lighthouse. Then"),
            (None, first.reply_message_id, " there was a lighthouse.\nLater"),
        ]


def test_a_prompt_fitted_to_the_context_window_is_stored_whole(tmp_path: Path) -> None:
    """Once early turns are dropped to fit, a prompt no longer begins with the one before: stored whole
    (each no longer than the window), read back the same."""
    backend = fake(context_length=160)
    with HistoryStore.open(tmp_path / "h.db") as store:
        story(store, backend, 8)
        replies = [m for m in store.messages(1) if m.role == "assistant"]
        assert [m.completion_prompt for m in replies] == [c["prompt"] for c in backend.calls]
        whole = store.db.execute("SELECT count(*) FROM messages WHERE completion_prompt IS NOT NULL").fetchone()[0]
    assert not backend.calls[-1]["prompt"].startswith("Turn 0")  # it was fitted
    assert whole > 1


def _done(text: str):  # type: ignore[no-untyped-def]
    from assistant.types import Completion, Timings, Usage

    return Completion(text, "m", "fake", "stop", Usage(), Timings())


# ---- the migration ----------------------------------------------------------------------------------
def _file_with_whole_prompts(path: Path) -> list[str]:
    """A history as version 0009 wrote it: three replies, each with its whole prompt."""
    db = connect(path)
    migrations.apply(db, stop_before="0010_completion_prompt_deltas")
    prompts = [OPENING, OPENING + " the sea. In the abyss", OPENING + " the sea. In the abyss it was dark. Then"]
    db.execute("INSERT INTO conversations (id, title, created, updated, head_id) VALUES (1, 'old', 'a', 'a', 6)")
    db.execute(
        "INSERT INTO messages (id, conversation_id, role, content, created, parent_id, completion_prompt) VALUES"
        " (1, 1, 'user', ?, 'a', NULL, NULL), (2, 1, 'assistant', ' the sea.', 'a', 1, ?),"
        " (3, 1, 'user', 'In the abyss', 'a', 2, NULL), (4, 1, 'assistant', ' it was dark.', 'a', 3, ?),"
        " (5, 1, 'user', 'Then', 'a', 4, NULL), (6, 1, 'assistant', ' light.', 'a', 5, ?)",
        [OPENING, *prompts],
    )
    db.conn.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return prompts


def test_an_upgraded_file_keeps_every_prompt(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    prompts = _file_with_whole_prompts(path)
    with HistoryStore.open(path) as store:
        assert pending_names(store.db) == []
        assert [m.completion_prompt for m in store.messages(1) if m.role == "assistant"] == prompts
        assert completion_text(store.context_messages(1)) == prompts[-1] + " light."
        rows = store.db.execute(
            "SELECT completion_prompt, completion_prompt_base, completion_prompt_keep, completion_prompt_added"
            " FROM messages WHERE role = 'assistant' ORDER BY id"
        ).fetchall()
    assert rows == [
        (OPENING, None, None, None),
        (None, 2, len(OPENING), " the sea. In the abyss"),
        (None, 4, len(prompts[1]), " it was dark. Then"),
    ]


def test_a_read_only_copy_of_the_previous_version_reads_its_prompts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "h.db"
    prompts = _file_with_whole_prompts(path)
    before = path.read_bytes()
    monkeypatch.setattr("assistant.history.store.is_writable", lambda _path: False)
    with HistoryStore.open(path, need_write=False) as store:
        assert "0010_completion_prompt_deltas" in pending_names(store.db)
        assert [m.completion_prompt for m in store.messages(1) if m.role == "assistant"] == prompts
    assert cli("history", "show", "1", "--db", str(path)).exit_code == 0
    assert path.read_bytes() == before


def test_a_broken_chain_reads_as_no_recorded_prompt(tmp_path: Path) -> None:
    """Values another program wrote wrong (a base cut shorter than what is kept, a text where a number
    goes): that reply's prompt is not made up; its turns are rebuilt, and every read still works."""
    path = tmp_path / "h.db"
    _file_with_whole_prompts(path)
    HistoryStore.open(path).close()  # upgraded
    conn = sqlite3.connect(path)
    conn.execute("UPDATE messages SET completion_prompt = 'Once' WHERE id = 2")  # shorter than reply 4 keeps
    conn.commit()
    conn.close()
    with HistoryStore.open(path) as store:
        assert [m.completion_prompt for m in store.messages(1) if m.role == "assistant"] == ["Once", None, None]
        assert completion_text(store.context_messages(1)).endswith("Then light.")
    conn = sqlite3.connect(path)
    conn.execute("UPDATE messages SET completion_prompt_keep = 'x' WHERE id = 4")
    conn.commit()
    conn.close()
    with HistoryStore.open(path) as store:
        assert store.messages(1)[3].completion_prompt is None
    assert cli("history", "export", "1", "-f", "json", "--db", str(path)).exit_code == 0


def test_prompts_that_change_the_end_of_the_one_before_rebuild_exactly(tmp_path: Path) -> None:
    """A prompt need not extend the one before whole (a template's tail dropped, a joint changed):
    each keeps what it shares, and both ways of reading give every prompt back exactly."""
    import random

    from assistant.history.completion_prompts import full_prompt

    rng = random.Random(12)
    prompts, prompt = [], OPENING
    with HistoryStore.open(tmp_path / "h.db") as store:
        conversation = store.create_conversation(meta=META)
        for turn_number in range(30):
            cut = rng.randrange(0, 12)
            prompt = prompt[: len(prompt) - cut] + f" turn {turn_number} é🙂\n" + "x" * rng.randrange(0, 30)
            turn = store.start_turn(conversation.id, f"t{turn_number}", META, completion_prompt=prompt)
            store.finish_turn(turn, _done(" ok"))
            prompts.append(prompt)
        replies = [m for m in store.messages(conversation.id) if m.role == "assistant"]
        assert [m.completion_prompt for m in replies] == prompts
        assert [full_prompt(store.db, m.id) for m in replies] == prompts
        deltas = store.db.execute("SELECT count(*) FROM messages WHERE completion_prompt_base IS NOT NULL").fetchone()
        assert deltas[0] == 29


# ---- a conversation deleted while a chat has it open -------------------------------------------------
def test_a_turn_in_a_conversation_deleted_meanwhile_says_what_to_do(tmp_path: Path) -> None:
    """``history delete`` in another terminal while the chat app has the conversation open: every send
    failed with "no conversation with id 1", which did not say why, nor that a new conversation is the way on."""
    from assistant.errors import HistoryError

    db = tmp_path / "h.db"
    with HistoryStore.open(db) as store:
        chat = ChatSession(fake(), params=GenerationParams(max_tokens=8), recorder=ConversationRecorder(store))
        send(chat, "first")
        with HistoryStore.open(db) as other:
            other.delete(1)
        with pytest.raises(HistoryError, match=r"no conversation with id 1 \(deleted\?\); start a new conversation"):
            send(chat, "second")


# ---- saving what a damaged file still holds ----------------------------------------------------------
def _damaged_first_conversation(path: Path) -> None:
    """Two conversations; a page of the first one's messages overwritten (a disk error, a bad copy)."""
    with HistoryStore.open(path) as store:
        for title, text in (("damaged", "lighthouse " * 400), ("intact", "harbour")):
            conversation = store.create_conversation(title=title, meta=META)
            for _ in range(5):
                store.finish_turn(store.start_turn(conversation.id, text, META), _done(text))
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = store.db.execute(
            "SELECT pageno FROM dbstat WHERE name = 'messages' AND pagetype = 'leaf' ORDER BY pageno"
        ).fetchall()
        page_size = store.db.execute("PRAGMA page_size").fetchone()[0]
    with open(path, "r+b") as file:  # the first leaf holds the first conversation's first messages
        file.seek((pages[0][0] - 1) * page_size)
        file.write(b"\xff" * 64)


def test_export_all_saves_what_a_damaged_file_still_holds(tmp_path: Path) -> None:
    """``history repair`` says "save what still reads with `history export --all --format json`": one
    damaged conversation stopped that export at ``[`` (nothing saved, with ``-o`` no file at all)."""
    import json

    path = tmp_path / "h.db"
    _damaged_first_conversation(path)
    assert cli("history", "show", "1", "--db", str(path)).exit_code == 1  # damaged indeed
    repair = cli("history", "repair", "--db", str(path))
    assert repair.exit_code == 1 and "export --all --format json" in repair.stderr
    exported = cli("history", "export", "--all", "-f", "json", "--db", str(path))
    assert exported.exit_code == 1
    assert "leaves out conversation(s) 1, which the damaged file could not give" in exported.stderr
    assert "it holds the other 1" in exported.stderr
    saved = json.loads(exported.stdout)  # a whole JSON array, closed
    assert [c["title"] for c in saved] == ["intact"] and len(saved[0]["messages"]) == 10
    target = tmp_path / "saved.json"
    to_file = cli("history", "export", "--all", "-f", "json", "--db", str(path), "-o", str(target))
    assert to_file.exit_code == 1 and "leaves out conversation(s) 1" in to_file.stderr
    assert [c["title"] for c in json.loads(target.read_text())] == ["intact"]
    markdown = cli("history", "export", "--all", "--db", str(path))
    assert markdown.exit_code == 1 and "# intact" in markdown.stdout
    # one conversation asked for by its id: its own error, as before
    single = cli("history", "export", "1", "--db", str(path))
    assert single.exit_code == 1 and "history repair" in single.stderr


def test_export_all_still_stops_at_other_errors(tmp_path: Path) -> None:
    """Only a damaged file's conversations are skipped: any other failure ends the export as before."""
    from assistant.errors import HistoryError
    from assistant.history.export import readable

    def read(conversation_id: int):  # type: ignore[no-untyped-def]
        raise HistoryError(f"no conversation with id {conversation_id}")

    with pytest.raises(HistoryError, match="no conversation with id 1"):
        list(readable([1, 2], read))

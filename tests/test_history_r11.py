"""Round 11, history: a completion-mode conversation resumes from the exact text its model was sent.

A base model (completion mode) is sent the conversation as one text, made by
:func:`assistant.session.completion_text`. Resumed (``prompt -c``, ``--cid``, the
chat app) it was rebuilt from the stored turns by *today's* rule: a conversation
written under another rule (before a space went between a reply and the next user
text) became another text than the one its model continued. Each completion-mode
reply now keeps its prompt (migration ``0009_message_completion_prompt``), and
resuming continues from that prompt and the reply.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from assistant.backends.fake import FakeBackend
from assistant.cli import main
from assistant.errors import HistoryError
from assistant.history import ConversationRecorder, HistoryStore, TurnMeta
from assistant.history.db import connect
from assistant.history.export import fine_tuning_dict, iter_export
from assistant.history.migrations import migrations, pending_names
from assistant.history.session_link import link_history
from assistant.session import ChatSession, SentText, completion_text
from assistant.types import Completion, GenerationParams, Message, Timings, Usage

META = TurnMeta(model="m", backend="fake")
FAKE = ("-b", "fake", "-m", "fake-model", "--mode", "completion")


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def fake(reply: str = " the sea.", context_length: int = 2048) -> FakeBackend:
    backend = FakeBackend(reply=reply, context_length=context_length)
    backend.load("fake-model")
    return backend


def session(backend: FakeBackend, store: HistoryStore | None = None, **kwargs: object) -> ChatSession:
    recorder = ConversationRecorder(store) if store is not None else None
    return ChatSession(
        backend, params=GenerationParams(max_tokens=64), mode="completion", recorder=recorder, **kwargs  # type: ignore[arg-type]
    )


def send(chat: ChatSession, text: str) -> str:
    return "".join(chunk.text for chunk in chat.send(text))


def done(text: str) -> Completion:
    return Completion(text, "m", "fake", "stop", Usage(), Timings())


def resumed(db: Path, backend: FakeBackend, mode: str = "completion") -> tuple[ChatSession, object]:
    """What ``prompt -c`` builds: the latest conversation's context and a recorder after its head."""
    link = link_history(str(db), continue_latest=True)
    chat = ChatSession(
        backend, params=GenerationParams(max_tokens=64), mode=mode,  # type: ignore[arg-type]
        messages=link.messages, recorder=link.recorder(),
    )
    return chat, link


# ---- what is recorded ------------------------------------------------------------------------------
def test_each_completion_mode_reply_keeps_the_text_it_was_sent(tmp_path: Path) -> None:
    backend = fake()
    with HistoryStore.open(tmp_path / "h.db") as store:
        chat = session(backend, store)
        send(chat, "Once upon a time")
        send(chat, "In the abyss")
        stored = store.messages(1)
    sent = [call["prompt"] for call in backend.calls]
    assert sent == ["Once upon a time", "Once upon a time the sea. In the abyss"]
    assert [m.completion_prompt for m in stored] == [None, sent[0], None, sent[1]]  # on the replies only


def test_a_chat_mode_reply_keeps_none(tmp_path: Path) -> None:
    with HistoryStore.open(tmp_path / "h.db") as store:
        chat = ChatSession(fake(), recorder=ConversationRecorder(store))
        send(chat, "hello")
        assert [m.completion_prompt for m in store.messages(1)] == [None, None]
        assert "completion_prompt" not in store.messages(1)[1].to_dict()  # nothing to say in the JSON export


def test_a_regenerated_reply_keeps_its_own_prompt(tmp_path: Path) -> None:
    backend = fake()
    with HistoryStore.open(tmp_path / "h.db") as store:
        chat = session(backend, store)
        send(chat, "Once upon a time")
        assert chat.recorder is not None and chat.recorder.last_turn is not None
        user_id = chat.recorder.last_turn.user_message_id
        chat.recorder.regenerate(user_id)
        del chat.messages[-2:]
        send(chat, "Once upon a time")
        replies = [m for m in store.messages(1, "all") if m.role == "assistant"]
    assert [m.completion_prompt for m in replies] == ["Once upon a time", "Once upon a time"]


def test_the_api_checks_the_completion_prompt(tmp_path: Path) -> None:
    with HistoryStore.open(tmp_path / "h.db") as store:
        conversation = store.create_conversation()
        with pytest.raises(HistoryError, match="the completion prompt must be text, not int"):
            store.start_turn(conversation.id, "x", META, completion_prompt=5)  # type: ignore[arg-type]
        assert store.messages(conversation.id) == []  # refused before anything was written
        turn = store.start_turn(conversation.id, "x", META, completion_prompt="lone \udc80 surrogate")
        store.finish_turn(turn, done("y"))
        assert store.messages(conversation.id)[1].completion_prompt == "lone \ufffd surrogate"


# ---- resuming ---------------------------------------------------------------------------------------
def test_a_conversation_resumes_from_its_recorded_text_when_the_joining_rule_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recorded with today's separator, resumed under another: the model continues the text it wrote
    after (rebuilt, the turns were joined the new way: another text, never sent)."""
    db = tmp_path / "h.db"
    backend = fake()
    with HistoryStore.open(db) as store:
        chat = session(backend, store)
        send(chat, "Once upon a time")
        send(chat, "In the abyss")
    recorded = backend.calls[-1]["prompt"] + " the sea."
    monkeypatch.setattr("assistant.session.TURN_SEPARATOR", "\n")  # some later version's rule
    chat, link = resumed(db, backend)
    try:
        assert completion_text(chat.messages) == recorded
        send(chat, "Then")
    finally:
        link.close()  # type: ignore[attr-defined]
    assert backend.calls[-1]["prompt"] == recorded + "\nThen"  # new turns joined the new way
    with HistoryStore.open(db) as store:
        assert store.messages(1)[-1].completion_prompt == recorded + "\nThen"


def test_a_conversation_recorded_under_the_old_rule_continues_as_it_was_sent(tmp_path: Path) -> None:
    """Before round 9 nothing went between a reply and the next user text: the model wrote after
    ``the sea.In the abyss``. Rebuilt, that became ``the sea. In the abyss``."""
    db = tmp_path / "h.db"
    with HistoryStore.open(db) as store:
        conversation = store.create_conversation(meta=META)
        first = store.start_turn(conversation.id, "Once upon a time", META, completion_prompt="Once upon a time")
        store.finish_turn(first, done(" the sea."))
        old = "Once upon a time the sea.In the abyss"  # how it was joined then
        second = store.start_turn(conversation.id, "In the abyss", META, completion_prompt=old)
        store.finish_turn(second, done(" it was dark."))
    backend = fake()
    chat, link = resumed(db, backend)
    try:
        send(chat, "And then")
    finally:
        link.close()  # type: ignore[attr-defined]
    assert backend.calls[-1]["prompt"] == old + " it was dark. And then"
    # the turns themselves are as stored: chat mode and every view read those
    assert [(m.role, m.content) for m in chat.messages[:4]] == [
        ("user", "Once upon a time"), ("assistant", " the sea."), ("user", "In the abyss"), ("assistant", " it was dark."),
    ]


def test_rows_without_a_recorded_prompt_are_rebuilt_by_todays_rule(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    with HistoryStore.open(db) as store:  # as a version before migration 0009 wrote them
        conversation = store.create_conversation(meta=META)
        for text, answer in (("Once upon a time", " the sea."), ("In the abyss", " it was dark.")):
            store.finish_turn(store.start_turn(conversation.id, text, META), done(answer))
    backend = fake()
    chat, link = resumed(db, backend)
    try:
        assert not any(isinstance(m, SentText) for m in chat.messages)
        send(chat, "And then")
    finally:
        link.close()  # type: ignore[attr-defined]
    assert backend.calls[-1]["prompt"] == "Once upon a time the sea. In the abyss it was dark. And then"


def test_a_recorded_prompt_the_stored_turns_do_not_make_is_not_taken(tmp_path: Path) -> None:
    """A prompt with text the stored turns do not have (what was typed was sent otherwise, another
    program's rows): the conversation resumed is the stored one, rebuilt, not some other text."""
    db = tmp_path / "h.db"
    with HistoryStore.open(db) as store:
        conversation = store.create_conversation(meta=META)
        first = store.start_turn(conversation.id, "tell a story", META, completion_prompt="Story: tell a story\n")
        store.finish_turn(first, done("Once there was"))
        second = store.start_turn(
            conversation.id, "more", META, completion_prompt="Story: tell a story\nOnce there was\nMore: more\n"
        )
        store.finish_turn(second, done("a fox."))
    backend = fake()
    chat, link = resumed(db, backend)
    try:
        assert completion_text(chat.messages) == "tell a storyOnce there was morea fox."
        assert not any(isinstance(m, SentText) for m in chat.messages)
    finally:
        link.close()  # type: ignore[attr-defined]


def test_a_resumed_conversation_that_outgrew_the_window_drops_its_oldest_turns_as_before(tmp_path: Path) -> None:
    """The recorded prompt had left the oldest turns out; resumed, they are back in the messages (a
    larger window may hold them) and fitting leaves them out again: the text sent is the recorded one."""
    db = tmp_path / "h.db"
    backend = fake(reply=" " + "w" * 40 + ".", context_length=200)
    with HistoryStore.open(db) as store:
        chat = ChatSession(
            backend, params=GenerationParams(max_tokens=40), mode="completion", recorder=ConversationRecorder(store)
        )
        for text in ("one one one", "two two two", "three three", "four four"):
            send(chat, text)
        assert chat.last_fit is not None and chat.last_fit.dropped > 0
        last_prompt, last_reply = store.messages(1)[-1].completion_prompt, store.messages(1)[-1].content
    assert last_prompt is not None and not last_prompt.startswith("one")
    chat, link = resumed(db, backend)
    chat.params = GenerationParams(max_tokens=40)
    try:
        assert completion_text(chat.messages).startswith("one one one ")  # every turn, the old ones rebuilt
        assert completion_text(chat.messages).endswith(last_prompt + last_reply)
        send(chat, "five")
    finally:
        link.close()  # type: ignore[attr-defined]
    sent = backend.calls[-1]["prompt"]
    assert sent.endswith(last_reply + " five") and not sent.startswith(" ")
    assert len(sent) < len(completion_text(chat.messages))  # the oldest turns left out again


def test_chat_mode_resume_of_a_completion_conversation_gets_the_turns_as_stored(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    with HistoryStore.open(db) as store:
        chat = session(fake(), store)
        send(chat, "Once upon a time")
        send(chat, "In the abyss")
    backend = fake(reply="ok")
    chat, link = resumed(db, backend, mode="chat")
    try:
        prompt = chat.prompt_for(chat.fit_prompt("next"))
        assert [m.to_dict() for m in prompt] == [  # type: ignore[union-attr]
            {"role": "user", "content": "Once upon a time"}, {"role": "assistant", "content": " the sea."},
            {"role": "user", "content": "In the abyss"}, {"role": "assistant", "content": " the sea."},
            {"role": "user", "content": "next"},
        ]
        send(chat, "next")
    finally:
        link.close()  # type: ignore[attr-defined]
    with HistoryStore.open(db) as store:
        assert store.messages(1)[-1].completion_prompt is None  # a chat-mode reply


def test_the_cli_continues_the_recorded_text(
    tmp_path: Path, fakes: list[FakeBackend], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = str(tmp_path / "h.db")
    assert cli("prompt", *FAKE, "--db", db, "Once upon a time").exit_code == 0
    assert cli("prompt", *FAKE, "--db", db, "-c", "In the abyss").exit_code == 0
    with HistoryStore.open(db) as store:
        recorded = store.messages(1)[-1]
    assert recorded.completion_prompt == fakes[-1].calls[-1]["prompt"]
    monkeypatch.setattr("assistant.session.TURN_SEPARATOR", "\n")
    assert cli("prompt", *FAKE, "--db", db, "-c", "Then").exit_code == 0
    assert fakes[-1].calls[-1]["prompt"] == recorded.completion_prompt + recorded.content + "\nThen"


def test_sent_text_is_checked() -> None:
    with pytest.raises(Exception, match="sent text must be text"):
        SentText("user", "x", None)  # type: ignore[arg-type]
    with pytest.raises(Exception, match="must end with its content"):
        SentText("user", "x", "y")
    # the first one kept drops what joined it to turns left out
    assert completion_text([SentText("user", "b", " b"), Message("assistant", "c")]) == "bc"
    assert completion_text([Message("user", "a"), SentText("user", "b", "b")]) == "ab"


# ---- export, search, show ---------------------------------------------------------------------------
def test_exports_and_search_with_recorded_prompts(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    with HistoryStore.open(db) as store:
        chat = session(fake(), store)
        send(chat, "Once upon a lighthouse")
        send(chat, "In the abyss")
        conversation, messages = store.get_conversation(1), store.messages(1)
        hits = store.search("lighthouse")  # once: the prompts holding it are not indexed
        assert [h.message_id for h in hits] == [1]
    exported = json.loads("".join(iter_export([(conversation, messages)], "json", many=False)))
    assert [m.get("completion_prompt") for m in exported["messages"]] == [
        None, "Once upon a lighthouse", None, "Once upon a lighthouse the sea. In the abyss",
    ]
    assert fine_tuning_dict(conversation, messages) == {"messages": [  # the turns, as before
        {"role": "user", "content": "Once upon a lighthouse"}, {"role": "assistant", "content": " the sea."},
        {"role": "user", "content": "In the abyss"}, {"role": "assistant", "content": " the sea."},
    ]}
    markdown = "".join(iter_export([(conversation, messages)], "markdown", many=False))
    assert markdown.count("lighthouse") == 2  # title and the message: not the prompts
    shown = cli("history", "show", "1", "--db", str(db))
    assert shown.exit_code == 0 and shown.stdout.count("lighthouse") == 2  # header title and the message


# ---- the migration ----------------------------------------------------------------------------------
def _file_before(path: Path, name: str) -> None:
    """A history as the version before migration ``name`` wrote it, with one exchange."""
    db = connect(path)
    migrations.apply(db, stop_before=name)
    db.execute("INSERT INTO conversations (id, title, created, updated, head_id) VALUES (1, 'old', 'a', 'a', 2)")
    db.execute(
        "INSERT INTO messages (id, conversation_id, role, content, created, parent_id)"
        " VALUES (1, 1, 'user', 'lighthouse keeper', 'a', NULL), (2, 1, 'assistant', 'is lonely', 'a', 1)"
    )
    db.conn.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def test_an_upgraded_file_keeps_its_rows_and_rebuilds_them(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    _file_before(path, "0009_message_completion_prompt")
    with HistoryStore.open(path) as store:
        assert pending_names(store.db) == []
        assert [m.completion_prompt for m in store.messages(1)] == [None, None]
        assert store.context_messages(1) == [Message("user", "lighthouse keeper"), Message("assistant", "is lonely")]


def test_a_read_only_file_missing_only_the_new_column_is_read_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fakes: list[FakeBackend]
) -> None:
    """A column every read does without must not lock the previous version's read-only copies out
    ("needs upgrading but is read-only" from ``history list``)."""
    path = tmp_path / "h.db"
    _file_before(path, "0009_message_completion_prompt")
    before = path.read_bytes()
    monkeypatch.setattr("assistant.history.store.is_writable", lambda _path: False)
    for args in (("list",), ("show", "1"), ("search", "lighthouse"), ("export", "1", "-f", "json")):
        result = cli("history", *args, "--db", str(path))
        assert result.exit_code == 0, (args, result.output, result.stderr)
        assert ("old" if args == ("list",) else "lighthouse") in result.stdout
    with HistoryStore.open(path, need_write=False) as store:
        assert store.context_messages(1) == [Message("user", "lighthouse keeper"), Message("assistant", "is lonely")]
    continued = cli("prompt", *FAKE, "--db", str(path), "-c", "--no-log", "more")  # resumed, nothing written
    assert continued.exit_code == 0, continued.stderr
    assert fakes[-1].calls[-1]["prompt"] == "lighthouse keeperis lonely more"  # a reply follows as it is
    assert path.read_bytes() == before
    older = tmp_path / "older.db"  # one missing more than that still needs the upgrade
    _file_before(older, "0008_message_rendered")
    refused = cli("history", "list", "--db", str(older))
    assert refused.exit_code == 1 and "needs upgrading but is read-only" in refused.stderr


def test_a_read_only_directory_reads_the_previous_versions_file(tmp_path: Path) -> None:
    """The same with real permissions: a read-only data directory (``immutable=1``)."""
    from .test_hardening_history import _as_reader

    home = tmp_path / "home"
    (home / "data").mkdir(parents=True)
    _file_before(home / "data" / "history.db", "0009_message_completion_prompt")
    for suffix in ("-wal", "-shm"):
        (home / "data" / f"history.db{suffix}").unlink(missing_ok=True)
    try:
        listed = _as_reader(home, "history", "show", "1")
    finally:
        (home / "data").chmod(0o755)
    assert listed.returncode == 0, listed.stderr
    assert "lighthouse keeper" in listed.stdout
    shutil.rmtree(home)


# ---- a real base model ------------------------------------------------------------------------------
@pytest.mark.model
def test_gemma_resumes_from_the_recorded_text(
    tmp_path: Path, gemma_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assistant.session import open_backend

    db = tmp_path / "h.db"
    engine = open_backend("gemma3-270m", "llama-cpp", {"n_ctx": 512}, progress=lambda _: None)
    try:
        params = GenerationParams(temperature=0.0, max_tokens=8)
        with HistoryStore.open(db) as store:
            chat = ChatSession(engine, params=params, mode="completion", recorder=ConversationRecorder(store))
            send(chat, "The lighthouse keeper")
            send(chat, "Then the storm")
        recorded = HistoryStore.open(db)
        last = recorded.messages(1)[-1]
        recorded.close()
        assert last.completion_prompt is not None and last.completion_prompt.endswith(" Then the storm")
        monkeypatch.setattr("assistant.session.TURN_SEPARATOR", "\n")
        link = link_history(str(db), continue_latest=True)
        try:
            chat = ChatSession(engine, params=params, mode="completion", messages=link.messages, recorder=link.recorder())
            send(chat, "At dawn")
        finally:
            link.close()
        expected = last.completion_prompt + last.content + "\nAt dawn"
        assert chat.last is not None
        assert chat.last.usage.prompt_tokens == len(engine.prompt_token_ids(expected))
    finally:
        engine.unload()
    with HistoryStore.open(db) as store:
        assert store.messages(1)[-1].completion_prompt == expected


def test_joints_are_whatever_whitespace_joined_the_turns(tmp_path: Path) -> None:
    """Any short run of whitespace between two turns is the joint they were sent with (a rule of
    ``\\n\\n`` between turns, say); a turn that ends in whitespace itself needs none; a long run of blanks
    that matches nothing is not searched through blank by blank."""
    db = tmp_path / "h.db"
    prompt = "Title\n\nOnce there was\t a fox \nthat"
    with HistoryStore.open(db) as store:
        conversation = store.create_conversation(meta=META)
        first = store.start_turn(conversation.id, "Title", META, completion_prompt="Title")
        store.finish_turn(first, done("\n\nOnce there was"))
        second = store.start_turn(conversation.id, "a fox ", META, completion_prompt="Title\n\nOnce there was\t a fox ")
        store.finish_turn(second, done("\n"))
        third = store.start_turn(conversation.id, "that", META, completion_prompt=prompt)
        store.finish_turn(third, done(" ran."))
        context = store.context_messages(conversation.id)
    assert completion_text(context) == prompt + " ran."
    assert [m.sent for m in context if isinstance(m, SentText)] == [  # type: ignore[attr-defined]
        "Title", "\n\nOnce there was", "\t a fox ", "\n", "that", " ran."
    ]
    # fitted from the third turn on: what joined it to the turns left out goes with them
    assert completion_text(context[4:]) == "that ran."
    blanks = " " * 100_000
    with HistoryStore.open(db) as store:
        conversation = store.create_conversation(meta=META)
        turn = store.start_turn(conversation.id, "x", META, completion_prompt="elsewhere" + blanks + "x")
        store.finish_turn(turn, done("y"))
        conversation2 = store.create_conversation(meta=META)
        turn = store.start_turn(conversation2.id, "nowhere", META, completion_prompt="nowhere" + blanks)
        store.finish_turn(turn, done("y"))
        assert completion_text(store.context_messages(conversation.id)) == "xy"  # text no turn has: not taken
        # too far from its end to be what was answered: not this reply's prompt, the turns are rebuilt
        assert completion_text(store.context_messages(conversation2.id)) == "nowherey"


def test_turns_after_the_last_recorded_reply_are_joined_by_todays_rule(tmp_path: Path) -> None:
    """A tool's turn (the chat app's slash commands) has no prompt of its own: it follows the recorded text."""
    db = tmp_path / "h.db"
    with HistoryStore.open(db) as store:
        conversation = store.create_conversation(meta=META)
        turn = store.start_turn(conversation.id, "Once", META, completion_prompt="Once")
        store.finish_turn(turn, done(" upon."))
        tool = store.start_turn(conversation.id, "/sentiment good", META)
        store.finish_turn(tool, done("positive"), tool_name="sentiment", tool_result={"label": "positive"})
        context = store.context_messages(conversation.id)
    assert completion_text([*context, Message("user", "next")]) == "Once upon. /sentiment goodpositive next"
    assert [type(m).__name__ for m in context] == ["SentText", "SentText", "Message", "Message"]


def test_turns_that_were_never_stored_are_not_resumed(tmp_path: Path) -> None:
    """A session given earlier turns that were never stored (``ChatSession(messages=...)``): its prompts
    hold text the stored turns do not; the conversation resumed is the stored one, as before."""
    db = tmp_path / "h.db"
    backend = fake()
    with HistoryStore.open(db) as store:
        chat = session(backend, store, messages=[Message("user", "Preface."), Message("assistant", " Indeed.")])
        send(chat, "Once upon a time")
    chat, link = resumed(db, backend)
    try:
        send(chat, "Then")
    finally:
        link.close()  # type: ignore[attr-defined]
    assert backend.calls[-1]["prompt"] == "Once upon a time the sea. Then"


def test_a_completion_prompt_another_program_wrote_wrong_is_ignored(tmp_path: Path) -> None:
    """Not the prompt of that reply (a blob, read as text): the turns are rebuilt, and ``show``/``export``
    still read the file."""
    import sqlite3

    db = tmp_path / "h.db"
    with HistoryStore.open(db) as store:
        chat = session(fake(), store)
        send(chat, "Once upon a time")
    conn = sqlite3.connect(db)
    conn.execute("UPDATE messages SET completion_prompt = X'00ff' WHERE id = 2")
    conn.commit()
    conn.close()
    with HistoryStore.open(db) as store:
        assert store.context_messages(1) == [Message("user", "Once upon a time"), Message("assistant", " the sea.")]
    assert cli("history", "export", "1", "-f", "json", "--db", str(db)).exit_code == 0


def test_a_turn_the_chat_app_sent_through_a_template_resumes_as_the_live_chat_goes_on(tmp_path: Path) -> None:
    """The chat app keeps what was typed, not a template's rendering, for the turns after it: its prompt
    ends with the template's text, not the message it answers. Resumed, the conversation goes on from
    the newest prompt that does (as the live one did), not from the template's example text."""
    db = tmp_path / "h.db"
    with HistoryStore.open(db) as store:
        conversation = store.create_conversation(meta=META)
        first = store.start_turn(conversation.id, "Once", META, completion_prompt="Once")
        store.finish_turn(first, done(" upon."))
        second = store.start_turn(
            conversation.id, "bonjour", META, completion_prompt="Once upon. Translate:\nhello => bonjour\n=>"
        )
        store.finish_turn(second, done(" hello"))
        third = store.start_turn(  # a template whose text ends with the input
            conversation.id, "merci", META, completion_prompt="Once upon. bonjour hello Translate: merci"
        )
        store.finish_turn(third, done(" thanks"))
        context = store.context_messages(conversation.id)
    assert completion_text(context) == "Once upon. bonjour hello merci thanks"
    assert [type(m).__name__ for m in context] == ["SentText", "SentText", *["Message"] * 4]

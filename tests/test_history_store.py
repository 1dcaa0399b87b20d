"""The history store: recording turns, reading them back, search, rename/delete, odd text."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.backends.fake import FakeBackend
from assistant.errors import BackendError, ContextOverflowError, HistoryError
from assistant.history import ConversationRecorder, HistoryStore, TurnMeta
from assistant.history.search import fts_query, parse_terms
from assistant.session import ChatSession
from assistant.terminal_text import without_escape_sequences
from assistant.types import Completion, GenerationParams, Message, Timings, Usage


@pytest.fixture
def store(tmp_path: Path) -> HistoryStore:
    opened = HistoryStore.open(tmp_path / "history.db")
    yield opened
    opened.close()


def completion(text: str, finish_reason: str = "stop") -> Completion:
    return Completion(
        text=text,
        model="m",
        backend="fake",
        finish_reason=finish_reason,  # type: ignore[arg-type]
        usage=Usage(prompt_tokens=7, completion_tokens=3),
        timings=Timings(ttft_ms=1.5, tokens_per_second=20.0, duration_ms=9.0),
    )


def engine(reply: object = None, **kwargs: object) -> FakeBackend:
    backend = FakeBackend(reply=reply, **kwargs)  # type: ignore[arg-type]
    backend.load("fake-model")
    return backend


# ---- opening ---------------------------------------------------------------------------


def test_default_location_is_the_data_dir(assistant_home: Path) -> None:
    with HistoryStore.open() as opened:
        assert opened.path == assistant_home / "data" / "history.db"
    assert (assistant_home / "data" / "history.db").is_file()


def test_config_db_key_moves_the_file(assistant_home: Path, tmp_path: Path) -> None:
    (assistant_home / "config").mkdir(parents=True)
    target = tmp_path / "elsewhere" / "h.db"
    (assistant_home / "config" / "config.toml").write_text(f'db = "{target}"\n')
    with HistoryStore.open() as opened:
        assert opened.path == target
    assert target.is_file()


def test_wal_busy_timeout_and_foreign_keys(store: HistoryStore) -> None:
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
    assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(HistoryError, match="not a usable history database"):
        HistoryStore.open(path)


def test_missing_file_is_not_created_for_reading(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match="no history database"):
        HistoryStore.open(tmp_path / "nope.db", create=False)
    assert not (tmp_path / "nope.db").exists()


# ---- recording ------------------------------------------------------------------------


def test_turn_lifecycle(store: HistoryStore) -> None:
    meta = TurnMeta(model="m", backend="fake", template="t", params={"temperature": 0})
    conversation = store.create_conversation(system="be brief", meta=meta)
    turn = store.start_turn(conversation.id, "What is 2+2?\nThanks", meta)
    # Stored before generation: the user's message and an empty interrupted reply.
    stored = store.messages(conversation.id)
    assert [(m.role, m.content, m.status) for m in stored] == [
        ("user", "What is 2+2?\nThanks", "complete"),
        ("assistant", "", "interrupted"),
    ]
    store.checkpoint(turn, "It is")
    assert store.messages(conversation.id)[1].content == "It is"
    store.finish_turn(turn, completion("It is 4."), tool_name="calc", tool_result={"answer": 4})
    reply = store.messages(conversation.id)[1]
    assert (reply.content, reply.status, reply.error) == ("It is 4.", "complete", None)
    assert (reply.prompt_tokens, reply.completion_tokens) == (7, 3)
    assert (reply.ttft_ms, reply.tokens_per_second, reply.duration_ms) == (1.5, 20.0, 9.0)
    assert (reply.tool_name, reply.tool_result) == ("calc", {"answer": 4})
    assert (reply.template, reply.params) == ("t", {"temperature": 0})
    got = store.get_conversation(conversation.id)
    assert got.title == "What is 2+2?" and got.system == "be brief" and got.message_count == 2
    with pytest.raises(HistoryError, match="already finished"):
        store.finish_turn(turn, completion("again"))


def test_fail_turn_keeps_partial_text_and_error(store: HistoryStore) -> None:
    conversation = store.create_conversation()
    turn = store.start_turn(conversation.id, "hi")
    store.fail_turn(turn, "partial", status="error", error="CUDA out of memory")
    reply = store.messages(conversation.id)[1]
    assert (reply.content, reply.status, reply.error) == ("partial", "error", "CUDA out of memory")
    with pytest.raises(HistoryError):
        store.fail_turn(store.start_turn(conversation.id, "x"), "", status="complete")  # type: ignore[arg-type]


def test_start_turn_in_unknown_conversation_is_an_error(store: HistoryStore) -> None:
    with pytest.raises(HistoryError, match="no conversation with id 99"):
        store.start_turn(99, "hello")
    assert store.db.execute("SELECT count(*) FROM messages").fetchone()[0] == 0


def test_cancelled_completion_is_interrupted(store: HistoryStore) -> None:
    conversation = store.create_conversation()
    store.record_turn(conversation.id, "q", completion("half", finish_reason="cancelled"))
    assert store.messages(conversation.id)[1].status == "interrupted"


def test_tool_result_must_be_json(store: HistoryStore) -> None:
    conversation = store.create_conversation()
    turn = store.start_turn(conversation.id, "q")
    with pytest.raises(HistoryError, match="JSON"):
        store.finish_turn(turn, completion("x"), tool_name="t", tool_result={"a": object()})


# ---- through ChatSession -----------------------------------------------------------------


def test_chat_session_records_every_turn(store: HistoryStore) -> None:
    session = ChatSession(engine(), system="sys", recorder=ConversationRecorder(store))
    assert "".join(c.text for c in session.send("first")) == "Echo: first"
    assert "".join(c.text for c in session.send("second")) == "Echo: second"
    conversation_id = session.recorder.conversation_id  # type: ignore[union-attr]
    conversation = store.get_conversation(conversation_id)  # type: ignore[arg-type]
    assert (conversation.title, conversation.system, conversation.model, conversation.backend) == (
        "first",
        "sys",
        "fake-model",
        "fake",
    )
    rows = store.messages(conversation.id)
    assert [(m.role, m.content, m.status) for m in rows] == [
        ("user", "first", "complete"),
        ("assistant", "Echo: first", "complete"),
        ("user", "second", "complete"),
        ("assistant", "Echo: second", "complete"),
    ]
    assert rows[1].completion_tokens == len("Echo: first") and rows[1].prompt_tokens > 0
    assert store.context_messages(conversation.id) == session.messages


def test_no_conversation_is_created_until_the_first_turn(store: HistoryStore) -> None:
    ConversationRecorder(store)
    assert store.list_conversations() == []


def test_consumer_stopping_records_interrupted_with_partial_text(store: HistoryStore) -> None:
    session = ChatSession(engine("abcdefghij"), recorder=ConversationRecorder(store))
    stream = session.send("go")
    received = "".join(next(stream).text for _ in range(4))
    stream.close()
    reply = store.messages(session.recorder.conversation_id)[1]  # type: ignore[union-attr,arg-type]
    assert (reply.status, reply.content) == ("interrupted", received)


def test_backend_cancel_records_interrupted(store: HistoryStore) -> None:
    backend = engine("0123456789")
    session = ChatSession(backend, recorder=ConversationRecorder(store))
    parts = []
    for chunk in session.send("go"):
        parts.append(chunk.text)
        if len(parts) == 3:
            backend.cancel()
    reply = store.messages(session.recorder.conversation_id)[1]  # type: ignore[union-attr,arg-type]
    assert reply.status == "interrupted" and reply.content == "".join(parts) and reply.content


def test_keyboard_interrupt_records_interrupted(store: HistoryStore) -> None:
    def reply(prompt: str) -> str:
        return "abcdef"

    class Interrupting(FakeBackend):
        def sample_tokens(self, prompt_ids, params):  # type: ignore[no-untyped-def]
            for i, token in enumerate(super().sample_tokens(prompt_ids, params)):
                if i == 3:
                    raise KeyboardInterrupt
                yield token

    backend = Interrupting(reply=reply)
    backend.load("m")
    session = ChatSession(backend, recorder=ConversationRecorder(store))
    with pytest.raises(KeyboardInterrupt):
        for _ in session.send("go"):
            pass
    reply_row = store.messages(session.recorder.conversation_id)[1]  # type: ignore[union-attr,arg-type]
    assert (reply_row.status, reply_row.content, reply_row.error) == ("interrupted", "abc", "interrupted by the user")


def test_backend_error_mid_stream_records_error_and_text(store: HistoryStore) -> None:
    class Failing(FakeBackend):
        def sample_tokens(self, prompt_ids, params):  # type: ignore[no-untyped-def]
            for i, token in enumerate(super().sample_tokens(prompt_ids, params)):
                if i == 2:
                    raise BackendError("GPU fell off the bus")
                yield token

    backend = Failing(reply="hello")
    backend.load("m")
    session = ChatSession(backend, recorder=ConversationRecorder(store))
    with pytest.raises(BackendError):
        list(session.send("go"))
    reply = store.messages(session.recorder.conversation_id)[1]  # type: ignore[union-attr,arg-type]
    assert (reply.status, reply.content, reply.error) == ("error", "he", "GPU fell off the bus")


def test_a_message_over_the_context_window_is_not_recorded_as_a_turn(store: HistoryStore) -> None:
    session = ChatSession(engine(context_length=64), recorder=ConversationRecorder(store))
    list(session.send("hi"))
    with pytest.raises(ContextOverflowError):
        list(session.send("x" * 500))
    assert [m.content for m in session.messages][0] == "hi" and len(session.messages) == 2  # as before: retry
    rows = store.messages(session.recorder.conversation_id)  # type: ignore[union-attr,arg-type]
    assert [(row.role, row.status) for row in rows] == [("user", "complete"), ("assistant", "complete")]


def test_recording_failure_does_not_hide_the_backend_error(store: HistoryStore) -> None:
    class Failing(FakeBackend):
        def sample_tokens(self, prompt_ids, params):  # type: ignore[no-untyped-def]
            store.close()  # the database goes away mid-turn
            raise BackendError("boom")
            yield  # pragma: no cover

    backend = Failing()
    backend.load("m")
    session = ChatSession(backend, recorder=ConversationRecorder(store))
    with pytest.raises(BackendError, match="boom"):
        list(session.send("go"))


def test_checkpoints_save_partial_text_during_a_slow_reply(store: HistoryStore) -> None:
    recorder = ConversationRecorder(store, checkpoint_interval=0.0)
    session = ChatSession(engine("slow reply"), recorder=recorder)
    stream = session.send("go")
    seen = "".join(next(stream).text for _ in range(5))
    reply = store.messages(recorder.conversation_id)[1]  # type: ignore[arg-type]
    assert reply.status == "interrupted" and reply.content == seen  # as a killed process would leave it
    stream.close()


def test_resumed_recorder_appends_and_updates_a_changed_system_prompt(store: HistoryStore) -> None:
    first = ChatSession(engine(), system="one", recorder=ConversationRecorder(store))
    list(first.send("a"))
    conversation_id = first.recorder.conversation_id  # type: ignore[union-attr]
    resumed = ChatSession(
        engine(),
        system="two",
        messages=store.context_messages(conversation_id),  # type: ignore[arg-type]
        recorder=ConversationRecorder(store, conversation_id),
    )
    list(resumed.send("b"))
    assert store.get_conversation(conversation_id).system == "two"  # type: ignore[arg-type]
    assert [m.content for m in store.messages(conversation_id)] == ["a", "Echo: a", "b", "Echo: b"]  # type: ignore[arg-type]


def test_context_messages_skip_unanswered_turns(store: HistoryStore) -> None:
    conversation = store.create_conversation()
    store.record_turn(conversation.id, "one", completion("1"))
    store.fail_turn(store.start_turn(conversation.id, "lost"), "", status="error", error="x")
    store.start_turn(conversation.id, "killed before any text")
    store.fail_turn(store.start_turn(conversation.id, "two"), "partial 2", status="interrupted")
    assert store.context_messages(conversation.id) == [
        Message("user", "one"),
        Message("assistant", "1"),
        Message("user", "two"),
        Message("assistant", "partial 2"),
    ]
    assert len(store.messages(conversation.id)) == 8  # nothing typed is lost


# ---- listing, rename, delete --------------------------------------------------------------


def test_list_is_newest_first_with_counts(store: HistoryStore) -> None:
    ids = []
    for i in range(3):
        conversation = store.create_conversation(title=f"c{i}")
        store.record_turn(conversation.id, f"q{i}", completion(f"a{i}"))
        ids.append(conversation.id)
    store.record_turn(ids[0], "again", completion("bump"))  # c0 becomes the latest
    listed = store.list_conversations(limit=2)
    assert [c.id for c in listed] == [ids[0], ids[2]]
    assert listed[0].message_count == 4
    assert store.latest_conversation().id == ids[0]  # type: ignore[union-attr]


def test_rename_and_delete(store: HistoryStore) -> None:
    conversation = store.create_conversation()
    store.record_turn(conversation.id, "zebra crossing", completion("stripes"))
    store.rename(conversation.id, "  Animals \n and roads ")
    assert store.get_conversation(conversation.id).title == "Animals and roads"
    with pytest.raises(HistoryError):
        store.rename(conversation.id, "   ")
    assert store.search("zebra")
    assert store.delete(conversation.id) == 2
    assert store.search("zebra") == []
    assert store.db.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
    with pytest.raises(HistoryError, match="no conversation"):
        store.delete(conversation.id)
    with pytest.raises(HistoryError, match="no conversation"):
        store.get_conversation(conversation.id)


# ---- search -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ['it\'s', '"unbalanced', 'AND', 'OR NOT', 'NEAR(a b)', 'a AND', '"x" OR "', 'col:val', '^start', "-minus", "C++",
     'a"b', "*", "\x00nul", 'quote "" empty', "(((", "emoji 😀 here"],
)
def test_any_typed_text_is_a_valid_query(store: HistoryStore, query: str) -> None:
    conversation = store.create_conversation()
    store.record_turn(conversation.id, query, completion("ok"))
    try:
        hits = store.search(query)
    except HistoryError as exc:
        assert "nothing to search for" in str(exc)
        assert not any(ch.isalnum() for ch in query)
    else:
        assert any(h.role == "user" and h.conversation_id == conversation.id for h in hits)


def test_search_words_phrases_and_prefixes(store: HistoryStore) -> None:
    conversation = store.create_conversation(title="cooking")
    store.record_turn(conversation.id, "How do I bake sourdough bread?", completion("Feed the starter first."))
    store.record_turn(conversation.id, "bread and butter", completion("Crème brûlée instead?"))
    assert {h.message_id for h in store.search("bread")} == {1, 3}
    assert [h.message_id for h in store.search('"sourdough bread"')] == [1]
    assert store.search('"bread sourdough"') == []
    assert [h.message_id for h in store.search("sourd*")] == [1]
    assert [h.message_id for h in store.search("creme brulee")] == [4]  # accents and case folded
    hit = store.search("starter")[0]
    assert hit.snippet == "Feed the [starter] first." and hit.conversation_title == "cooking"
    # AND is a word to look for, not an operator (which would be a syntax error alone).
    assert [h.message_id for h in store.search("AND")] == [3]
    assert [h.message_id for h in store.search("bread AND")] == [3]


def test_query_quoting() -> None:
    assert fts_query('it\'s "two words" AND pyth*') == '"it\'s" "two words" "AND" "pyth"*'
    assert fts_query('say "hi') == '"say" "hi"'
    assert fts_query('a"b') == '"a" "b"'
    assert [t.text for t in parse_terms('x\x00y')] == ["x", "y"]
    with pytest.raises(HistoryError, match="nothing to search for"):
        fts_query('"" -- *')


# ---- odd text round-trips byte for byte ------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "x" * (1024 * 1024),
        "before\x00after\x00",
        "emoji 😀👍🏽👨‍👩‍👧 and CJK 我喜欢猫 日本語 한국어",
        "\r\n tabs\tand\u2028line separators\u00a0",
        "",
    ],
    ids=["1MB", "NUL", "emoji-CJK", "whitespace", "empty"],
)
def test_round_trip_is_byte_identical(store: HistoryStore, text: str) -> None:
    conversation = store.create_conversation(system=text)
    store.record_turn(conversation.id, text, completion(text))
    user, reply = store.messages(conversation.id)
    assert user.content.encode("utf-8") == text.encode("utf-8")
    assert reply.content.encode("utf-8") == text.encode("utf-8")
    assert store.get_conversation(conversation.id).system == text
    # Read through a second, independent connection too.
    raw = sqlite3.connect(store.path).execute("SELECT content FROM messages WHERE id = ?", [user.id]).fetchone()[0]
    assert raw == text


def test_lone_surrogates_get_a_defined_replacement(store: HistoryStore) -> None:
    conversation = store.create_conversation()
    store.record_turn(conversation.id, "bad \udcff byte", completion("ok"))
    assert store.messages(conversation.id)[0].content == "bad \ufffd byte"


def test_search_finds_1mb_message(store: HistoryStore) -> None:
    conversation = store.create_conversation()
    store.record_turn(conversation.id, "word " * 200_000 + "needle", completion("ok"))
    assert [h.message_id for h in store.search("needle")] == [1]


WORD_CHARS = st.sampled_from(list("abcxyzABC019éüßøΩжЖ猫日本語한글"))
NOISE = st.sampled_from(['"', "'", " ", "*", "(", ")", "-", "^", ":", "AND", "OR", "NOT", "NEAR", "\x00", "\n", "😀", "+"])


def test_property_arbitrary_text_round_trips_and_search_never_breaks(tmp_path: Path) -> None:
    with HistoryStore.open(tmp_path / "prop.db") as prop_store:
        conversation = prop_store.create_conversation()

        @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(text=st.text(max_size=300))
        def check(text: str) -> None:
            turn = prop_store.record_turn(conversation.id, text, completion(text))
            stored = {m.id: m.content for m in prop_store.messages(conversation.id)}
            assert stored[turn.user_message_id] == text
            assert stored[turn.reply_message_id] == text
            try:
                hits = prop_store.search(text, limit=100_000)
            except HistoryError as exc:  # the only failure allowed: nothing searchable
                assert "nothing to search for" in str(exc)
                assert not any(ch.isascii() and ch.isalnum() for ch in without_escape_sequences(text))
                return
            if any(ch.isascii() and ch.isalnum() for ch in without_escape_sequences(text)):
                assert turn.user_message_id in {h.message_id for h in hits}

        check()


def test_property_words_with_query_syntax_noise_are_found(tmp_path: Path) -> None:
    with HistoryStore.open(tmp_path / "prop2.db") as prop_store:
        conversation = prop_store.create_conversation()
        words = st.text(WORD_CHARS, min_size=1, max_size=8)

        @settings(max_examples=150, deadline=None)
        @given(parts=st.lists(st.one_of(words, NOISE), min_size=1, max_size=12), word=words)
        def check(parts: list[str], word: str) -> None:
            text = " ".join([*parts, word])
            turn = prop_store.record_turn(conversation.id, text, completion("-"))
            hits = prop_store.search(text, limit=100_000)
            assert turn.user_message_id in {h.message_id for h in hits}

        check()


def test_params_are_stored_as_json(store: HistoryStore) -> None:
    session = ChatSession(engine(), params=GenerationParams(temperature=0, stop=["\n"]), recorder=ConversationRecorder(store))
    list(session.send("x"))
    assert store.messages(session.recorder.conversation_id)[1].params["stop"] == ["\n"]  # type: ignore[union-attr,arg-type,index]


def test_relevance_ranks_within_the_newest_matches_and_recent_is_newest_first(
    store: HistoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import assistant.history.store as store_module

    conversation = store.create_conversation()
    # An old message that mentions "kiwi" many times (best BM25), then 5 newer single mentions.
    store.record_turn(conversation.id, "kiwi kiwi kiwi kiwi kiwi", completion("-"))
    for i in range(5):
        store.record_turn(conversation.id, f"kiwi number {i} with more words around it", completion("-"))
    assert store.search("kiwi")[0].message_id == 1  # everything within the window: best match first
    recent = [h.message_id for h in store.search("kiwi", order="recent")]
    assert recent == sorted(recent, reverse=True) and len(recent) == 6
    monkeypatch.setattr(store_module, "RANK_WINDOW", 3)
    ranked = [h.message_id for h in store.search("kiwi")]
    assert sorted(ranked) == sorted(recent[:3])  # only the 3 newest matches are ranked
    with pytest.raises(HistoryError, match="order"):
        store.search("kiwi", order="random")


def test_long_first_line_makes_a_short_title(store: HistoryStore) -> None:
    conversation = store.create_conversation()
    store.start_turn(conversation.id, "\n\n   " + "word " * 10_000)
    title = store.get_conversation(conversation.id).title
    assert title is not None and len(title) == 60 and title.endswith("…")

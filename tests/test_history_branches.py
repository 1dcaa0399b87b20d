"""A conversation as a tree: regenerated replies and edited messages are kept as alternatives."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from assistant.errors import HistoryError
from assistant.history import ConversationRecorder, HistoryStore, TurnMeta
from assistant.history.db import connect
from assistant.history.export import fine_tuning_dict
from assistant.history.migrations import migrations
from assistant.types import Completion, Timings, Usage

META = TurnMeta(model="m", backend="fake")


def reply(text: str) -> Completion:
    return Completion(text, "m", "fake", "stop", Usage(), Timings())


def turn(recorder: ConversationRecorder, user: str, answer: str) -> None:
    recorder.finish(recorder.start_turn(user, META, None), reply(answer))


def contents(store: HistoryStore, conversation_id: int) -> list[str]:
    return [m.content for m in store.messages(conversation_id)]


@pytest.fixture
def store(tmp_path: Path) -> HistoryStore:
    with HistoryStore.open(tmp_path / "h.db") as opened:
        yield opened


def test_a_linear_conversation_is_one_branch(store: HistoryStore) -> None:
    recorder = ConversationRecorder(store)
    turn(recorder, "hi", "hello")
    turn(recorder, "how are you", "fine")
    messages = store.messages(recorder.conversation_id)
    assert [m.content for m in messages] == ["hi", "hello", "how are you", "fine"]
    assert [m.parent_id for m in messages] == [None, *[m.id for m in messages[:-1]]]
    assert all((m.alternative, m.alternatives) == (1, 1) for m in messages)
    assert store.get_conversation(recorder.conversation_id).head_id == messages[-1].id
    assert "alternatives" not in messages[0].to_dict()


def test_regenerate_keeps_both_replies_and_shows_the_new_one(store: HistoryStore) -> None:
    recorder = ConversationRecorder(store)
    turn(recorder, "hi", "hello")
    turn(recorder, "tell a joke", "joke one")
    cid = recorder.conversation_id
    user_id = store.messages(cid)[2].id
    recorder.regenerate(user_id)
    new = recorder.start_turn("ignored: the stored text stays", META)
    assert new.user_message_id == user_id
    recorder.finish(new, reply("joke two"))
    shown = store.messages(cid)
    assert [m.content for m in shown] == ["hi", "hello", "tell a joke", "joke two"]
    assert (shown[-1].alternative, shown[-1].alternatives) == (2, 2)
    assert shown[-1].to_dict()["alternatives"] == 2
    assert len(store.messages(cid, branch="all")) == 5
    assert store.context_messages(cid)[-1].content == "joke two"
    assert store.siblings(cid, shown[-1].id) == [shown[-1].id - 1, shown[-1].id]
    # The next turn follows the regenerated reply.
    turn(recorder, "another", "ok")
    assert contents(store, cid)[-3:] == ["joke two", "another", "ok"]
    # Back to the first joke: its branch ends there (the later turn is under the second).
    recorder.activate(shown[-1].id - 1)
    assert contents(store, cid) == ["hi", "hello", "tell a joke", "joke one"]
    assert store.messages(cid)[-1].alternative == 1
    # ...and forward again: the branch as it was last written, to its end.
    assert recorder.activate(shown[-1].id) == store.messages(cid, branch="all")[-1].id
    assert contents(store, cid)[-2:] == ["another", "ok"]


def test_edit_and_resend_branches_from_the_message_before(store: HistoryStore) -> None:
    recorder = ConversationRecorder(store)
    turn(recorder, "first", "reply one")
    turn(recorder, "second", "reply two")
    turn(recorder, "third", "reply three")
    cid = recorder.conversation_id
    old = store.messages(cid)
    recorder.branch_after(old[2].parent_id)  # edit "second"
    turn(recorder, "second, edited", "reply two b")
    assert contents(store, cid) == ["first", "reply one", "second, edited", "reply two b"]
    assert (store.messages(cid)[2].alternative, store.messages(cid)[2].alternatives) == (2, 2)
    recorder.activate(old[2].id)  # the original branch, whole
    assert contents(store, cid) == [m.content for m in old]
    # Editing the very first message makes a second root.
    recorder.branch_after(None)
    turn(recorder, "first, edited", "r")
    assert contents(store, cid) == ["first, edited", "r"]
    assert store.messages(cid)[0].alternatives == 2
    assert fine_tuning_dict(store.get_conversation(cid), store.messages(cid))["messages"] == [
        {"role": "user", "content": "first, edited"},
        {"role": "assistant", "content": "r"},
    ]


def test_a_one_shot_turn_follows_a_prepared_branch(store: HistoryStore) -> None:
    recorder = ConversationRecorder(store)
    turn(recorder, "a", "b")
    cid = recorder.conversation_id
    recorder.branch_after(None)
    with recorder.turn("/sentiment good", META) as report:
        report.complete(reply("positive"), tool_name="sentiment", tool_result={"label": "positive"})
    assert contents(store, cid) == ["/sentiment good", "positive"]
    assert not recorder.branching


def test_branch_mistakes_are_history_errors(store: HistoryStore) -> None:
    recorder = ConversationRecorder(store)
    with pytest.raises(HistoryError, match="no stored turns"):
        recorder.regenerate(1)
    turn(recorder, "a", "b")
    other = ConversationRecorder(store)
    turn(other, "c", "d")
    reply_id = store.messages(recorder.conversation_id)[1].id
    with pytest.raises(HistoryError, match="not a user message"):
        store.start_reply(recorder.conversation_id, reply_id)
    with pytest.raises(HistoryError, match="has no message"):
        recorder.activate(store.messages(other.conversation_id)[0].id)
    with pytest.raises(HistoryError, match="has no message"):
        store.start_turn(recorder.conversation_id, "x", parent_id=10_000)
    with pytest.raises(HistoryError, match="branch must be"):
        store.messages(recorder.conversation_id, branch="left")


def test_an_older_file_migrates_to_a_linear_tree(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = connect(path)
    migrations.apply(db, stop_before="0005_message_tree")
    stamp = "2020-01-01T00:00:00+00:00"
    for cid in (1, 2, 3):
        db["conversations"].insert({"id": cid, "title": f"c{cid}", "created": stamp, "updated": stamp})
    # Interleaved, as two conversations written at once would be; conversation 3 is empty.
    for mid, cid, role in ((1, 1, "user"), (2, 2, "user"), (3, 1, "assistant"), (4, 2, "assistant"),
                           (5, 1, "user"), (6, 1, "assistant")):
        db["messages"].insert({"id": mid, "conversation_id": cid, "role": role, "content": f"m{mid}",
                               "created": stamp, "status": "complete"})
    db.close()
    with HistoryStore.open(path) as store:
        assert [(m.id, m.parent_id) for m in store.messages(1)] == [(1, None), (3, 1), (5, 3), (6, 5)]
        assert [(m.id, m.parent_id) for m in store.messages(2)] == [(2, None), (4, 2)]
        assert [store.get_conversation(c).head_id for c in (1, 2, 3)] == [6, 4, None]
        recorder = ConversationRecorder(store, conversation_id=1)
        turn(recorder, "new", "turn")  # continues after the last message
        assert contents(store, 1) == ["m1", "m3", "m5", "m6", "new", "turn"]
        recorder.regenerate(5)
        recorder.finish(recorder.start_turn("m5", META), reply("m6 again"))
        assert contents(store, 1) == ["m1", "m3", "m5", "m6 again"]
        third = ConversationRecorder(store, conversation_id=3)
        turn(third, "first", "words")
        assert [m.parent_id is None for m in store.messages(3)] == [True, False]


def test_rows_without_a_head_are_read_in_order(store: HistoryStore) -> None:
    """A conversation written by something that knows nothing of the tree still reads, and continues, in order."""
    conversation = store.create_conversation(title="foreign")
    conn = sqlite3.connect(store.path)
    for role, text in (("user", "q"), ("assistant", "a")):
        conn.execute(
            "INSERT INTO messages (conversation_id, role, content, created) VALUES (?, ?, ?, '2020')",
            [conversation.id, role, text],
        )
    conn.commit()
    conn.close()
    assert contents(store, conversation.id) == ["q", "a"]
    recorder = ConversationRecorder(store, conversation_id=conversation.id)
    turn(recorder, "q2", "a2")
    assert contents(store, conversation.id) == ["q", "a", "q2", "a2"]


def test_history_show_and_export_read_the_active_branch() -> None:
    import json

    from click.testing import CliRunner

    from assistant.cli import main

    with HistoryStore.open() as store:
        recorder = ConversationRecorder(store)
        turn(recorder, "question", "first answer")
        recorder.regenerate(store.messages(recorder.conversation_id)[0].id)
        recorder.finish(recorder.start_turn("question", META), reply("second answer"))
        cid = recorder.conversation_id

    shown = CliRunner().invoke(main, ["history", "show", str(cid)], catch_exceptions=False).output
    assert "second answer" in shown and "first answer" not in shown
    assert "version 2 of 2" in shown and "1 more message on other branches" in shown
    exported = CliRunner().invoke(main, ["history", "export", str(cid), "--format", "json"]).output
    messages = json.loads(exported)["messages"]
    assert [m["content"] for m in messages] == ["question", "second answer"]
    assert messages[1]["parent_id"] == messages[0]["id"] and messages[1]["alternatives"] == 2

"""Round 9, the history as a script author uses it: a wrong argument is one HistoryError naming it
(it was an AttributeError, TypeError or OverflowError from deep inside, after a half-done turn),
and the history commands name an untitled conversation as ``show`` does."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
from click.testing import CliRunner

from assistant.cli import main
from assistant.errors import HistoryError
from assistant.history import ConversationRecorder, HistoryStore, TurnMeta
from assistant.types import Completion, Message, Timings, Usage

META = TurnMeta(model="m", backend="fake")


def reply(text: str = "re") -> Completion:
    return Completion(text, "m", "fake", "stop", Usage(), Timings())


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with HistoryStore.open(tmp_path / "h.db") as opened:
        yield opened


def refused(call: Callable[[], Any], *words: str) -> str:
    with pytest.raises(HistoryError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message
    for word in words:
        assert word in message
    return message


# ---- ids and counts: a huge int was an OverflowError, a str was quietly coerced ---------------------
@pytest.mark.parametrize("bad", [2**70, -1, 0, None, "1", 1.5, True, [1]])
def test_a_conversation_id_that_is_not_one_is_refused_by_name(store: HistoryStore, bad: Any) -> None:
    conversation = store.create_conversation(meta=META)
    store.record_turn(conversation.id, "keep me", reply(), META)
    for call in (
        lambda: store.get_conversation(bad),
        lambda: store.messages(bad),
        lambda: store.context_messages(bad),
        lambda: store.rename(bad, "x"),
        lambda: store.delete(bad),
        lambda: store.start_turn(bad, "text", META),
        lambda: store.siblings(bad, 1),
        lambda: store.head_through(conversation.id, bad),
    ):
        refused(call, "must be a whole number", repr(bad))
    assert [m.content for m in store.messages(conversation.id)] == ["keep me", "re"]  # nothing lost


@pytest.mark.parametrize("bad", [None, -1, 2**64, "5"])
def test_limits_are_checked(store: HistoryStore, bad: Any) -> None:
    refused(lambda: store.list_conversations(limit=bad), "limit")
    refused(lambda: store.list_conversations(offset=bad), "offset")
    refused(lambda: store.search("word", limit=bad), "limit")
    refused(lambda: store.recent_user_texts(limit=bad), "limit")


@pytest.mark.parametrize("bad", [None, 5, b"word"])
def test_a_search_query_must_be_text(store: HistoryStore, bad: Any) -> None:
    refused(lambda: store.search(bad), "search query must be text", type(bad).__name__)


# ---- what a turn is made of ----------------------------------------------------------------------
def test_a_turn_is_refused_whole_before_anything_is_written(store: HistoryStore) -> None:
    """A ``rendered`` that is not a list of Message (an AttributeError) or a ``meta`` that is not a
    TurnMeta raised after nothing — but a caller could not tell that from the error."""
    conversation = store.create_conversation(meta=META)
    refused(lambda: store.start_turn(conversation.id, "x", META, rendered="Summarize: x"), "rendered")
    refused(lambda: store.start_turn(conversation.id, "x", META, rendered=[{"role": "user", "content": "x"}]),
            "rendered")
    refused(lambda: store.start_turn(conversation.id, "x", {"model": "m"}), "meta must be a TurnMeta", "dict")
    refused(lambda: store.start_turn(conversation.id, "x", None), "meta must be a TurnMeta")
    refused(lambda: store.create_conversation(meta=None), "meta must be a TurnMeta")
    refused(lambda: store.create_conversation(meta=TurnMeta(model=5)), "meta.model must be text")
    refused(lambda: store.create_conversation(meta=TurnMeta(params={1, 2})), "meta.params must be a dict")
    assert store.messages(conversation.id) == []
    turn = store.start_turn(conversation.id, "x", META, rendered=(Message("user", "Summarize: x"),))
    assert store.messages(conversation.id)[0].rendered == [Message("user", "Summarize: x")]
    store.finish_turn(turn, reply())


@pytest.mark.parametrize("bad", [None, "the reply", {"text": "x"}])
def test_finish_turn_needs_a_completion_and_leaves_the_turn_open(store: HistoryStore, bad: Any) -> None:
    conversation = store.create_conversation(meta=META)
    turn = store.start_turn(conversation.id, "question", META)
    refused(lambda: store.finish_turn(turn, bad), "completion must be an assistant.types.Completion")
    store.finish_turn(turn, reply("the answer"))  # still open: the right call goes through
    assert [m.content for m in store.messages(conversation.id)] == ["question", "the answer"]


def test_fail_turn_checks_its_texts(store: HistoryStore) -> None:
    conversation = store.create_conversation(meta=META)
    turn = store.start_turn(conversation.id, "question", META)
    refused(lambda: store.fail_turn(turn, "part", error=5), "error must be text")
    refused(lambda: store.fail_turn(turn, "part", tool_name=["ner"]), "tool_name must be text")
    store.fail_turn(turn, "part", error="boom")
    assert store.messages(conversation.id)[1].error == "boom"


def test_the_error_names_the_title_or_system_prompt_not_message_content(store: HistoryStore) -> None:
    conversation = store.create_conversation(meta=META)
    refused(lambda: store.rename(conversation.id, None), "a conversation title must be text")
    refused(lambda: store.create_conversation(title=5), "a conversation title must be text")
    refused(lambda: store.create_conversation(system=5), "the system prompt must be text")


@pytest.mark.parametrize("bad", [123, b"/tmp/h.db", "/tmp/a\0b.db"])
def test_open_refuses_a_path_that_is_not_one(bad: Any) -> None:
    refused(lambda: HistoryStore.open(bad), "history database path")


def test_other_arguments(store: HistoryStore) -> None:
    refused(lambda: store.latest_conversation(kind="chats"), "kind")
    refused(lambda: list(store.iter_export(None)), "conversation_ids")
    refused(lambda: list(store.iter_export("12")), "conversation_ids")


def test_a_recorder_checks_its_store_and_kind_before_the_model_runs(store: HistoryStore) -> None:
    refused(lambda: ConversationRecorder(None), "store must be a HistoryStore", "NoneType")
    refused(lambda: ConversationRecorder("history.db"), "store must be a HistoryStore")
    refused(lambda: ConversationRecorder(store, kind="tools"), "kind")
    assert store.list_conversations() == []


# ---- the commands: an untitled conversation ---------------------------------------------------------
def test_list_and_delete_name_an_untitled_conversation(tmp_path: Path) -> None:
    """``list`` left the title column blank and ``delete`` asked "...(0 messages): ?" where ``show``
    says "(untitled)"."""
    db = tmp_path / "h.db"
    with HistoryStore.open(db) as store:
        store.create_conversation(meta=META)
    runner = CliRunner()
    listed = runner.invoke(main, ["history", "list", "--db", str(db)], catch_exceptions=False)
    assert listed.output.rstrip().endswith("(untitled)")
    asked = runner.invoke(main, ["history", "delete", "1", "--db", str(db)], input="n\n")
    assert "(0 messages): (untitled)?" in asked.output
    assert asked.exit_code == 1
    with HistoryStore.open(db) as store:
        assert store.get_conversation(1).id == 1  # not deleted


# ---- a damaged search index: rebuilt, not the whole history thrown away ---------------------------------
def _damaged_index(tmp_path: Path) -> Path:
    import sqlite3

    db = tmp_path / "h.db"
    with HistoryStore.open(db) as store:
        for word in ("dragons", "kiwi", "lovely"):
            conversation = store.create_conversation(meta=META)
            store.record_turn(conversation.id, f"tell me about {word}", reply(f"{word} are nice"), META)
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM messages_fts_data WHERE id > 10")  # the index's segments, not the messages
    conn.commit()
    conn.close()
    return db


def test_a_damaged_search_index_is_rebuilt_by_history_repair(tmp_path: Path) -> None:
    """Search, delete and every new turn failed with "malformed …; move it aside": the advice threw
    away a history whose messages were intact, for an index FTS5 rebuilds from them."""
    db = _damaged_index(tmp_path)
    runner = CliRunner()
    failed = runner.invoke(main, ["history", "search", "kiwi", "--db", str(db)])
    assert failed.exit_code == 1
    assert "`assistant history repair` rebuilds its search index" in failed.output
    assert len(failed.output.strip().splitlines()) == 1
    repaired = runner.invoke(main, ["history", "repair", "--db", str(db)])
    assert repaired.exit_code == 0, repaired.output
    assert "rebuilt the search index (6 messages)" in repaired.output
    found = runner.invoke(main, ["history", "search", "kiwi", "--db", str(db)], catch_exceptions=False)
    assert "[kiwi]" in found.output
    with HistoryStore.open(db) as store:
        assert [c.title for c in store.list_conversations()] == [
            "tell me about lovely", "tell me about kiwi", "tell me about dragons"
        ]
        store.delete(1)
        conversation = store.create_conversation(meta=META)
        store.record_turn(conversation.id, "and now?", reply(), META)
        assert [h.conversation_id for h in store.search("now")] == [conversation.id]


@pytest.mark.parametrize(
    ("damage", "said"),
    [("truncated", "damaged beyond its search index"), ("garbage", "is not a SQLite database")],
)
def test_history_repair_leaves_a_file_it_cannot_mend_as_it_is(tmp_path: Path, damage: str, said: str) -> None:
    db = _damaged_index(tmp_path)
    data = db.read_bytes()[:8192] if damage == "truncated" else b"garbage " * 2000
    db.write_bytes(data)
    result = CliRunner().invoke(main, ["history", "repair", "--db", str(db)])
    assert result.exit_code == 1
    assert said in result.output and "history repair" not in result.output  # no advice to run itself
    assert len(result.output.strip().splitlines()) == 1
    assert db.read_bytes() == data


# ---- docs/history.md's Python example, as a script author copies it ------------------------------------
@pytest.mark.model
def test_the_history_pages_python_example_runs_as_written(smollm2_path: Path, tmp_path: Path) -> None:
    """It used ``session`` and ``completion`` without making them: a NameError on its second line."""
    import os
    import subprocess
    import sys

    page = (Path(__file__).resolve().parent.parent / "docs" / "history.md").read_text(encoding="utf-8")
    code = page.split("\n## Python API\n", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    script = tmp_path / "example.py"
    script.write_text(
        code + "assert [c.kind for c in store.list_conversations()] == ['tool', 'chat']\n", encoding="utf-8"
    )
    env = {**os.environ, "ASSISTANT_HOME": str(tmp_path / "home"), "ASSISTANT_MODELS_DIR": str(smollm2_path.parent)}
    proc = subprocess.run([sys.executable, str(script)], check=False, capture_output=True, text=True, timeout=240,
                          env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr


def test_a_closed_store_says_so(tmp_path: Path) -> None:
    store = HistoryStore.open(tmp_path / "h.db")
    store.close()
    refused(store.list_conversations, "was closed", "HistoryStore.open")
    refused(lambda: store.create_conversation(meta=META), "was closed")
    store.close()  # twice: nothing to do


def test_a_one_shot_turn_given_a_wrong_result_stores_the_error_and_keeps_the_reply(store: HistoryStore) -> None:
    """``turn.complete(None)`` was stored as "no result" without a word to the caller, and a tool
    result JSON cannot hold raised only after the block, leaving the reply "interrupted" and empty."""
    recorder = ConversationRecorder(store, kind="tool")
    with pytest.raises(HistoryError, match="completion must be"):
        with recorder.turn("first", META) as turn:
            turn.complete(None)  # type: ignore[arg-type]
    with pytest.raises(HistoryError, match="tool result must be JSON-serialisable"):
        with recorder.turn("second", META) as turn:
            turn.complete(reply("the label"), tool_name="sentiment", tool_result={"labels": {"a", "b"}})
    stored = store.messages(recorder.conversation_id)
    assert [(m.role, m.status, m.content) for m in stored] == [
        ("user", "complete", "first"), ("assistant", "error", ""),
        ("user", "complete", "second"), ("assistant", "error", "the label"),
    ]
    assert "JSON-serialisable" in (stored[3].error or "")


def test_an_unrecorded_turn_does_not_check_what_it_does_not_store() -> None:
    from assistant.history.recorder import unrecorded_turn

    with unrecorded_turn() as turn:  # --no-log: a plugin tool's odd result still prints
        turn.complete(reply("x"), tool_result={"labels": {"a"}})
    assert turn.tool_result == {"labels": {"a"}}

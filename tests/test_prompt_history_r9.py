"""Round 9, ``prompt`` and the history as a user: a template run reopens as what the user typed and
resumes as what the model saw; ``prompt -t --examples-as``; ``prompt --json`` stopped by Ctrl-C
still prints its record; ``history delete`` leaves no words of the conversation in the file."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from assistant.cli import main
from assistant.history import ConversationRecorder, HistoryStore, TurnMeta
from assistant.types import Completion, Message, Timings, Usage

FAKE = ("-b", "fake", "-m", "fake-model")
SPAIN = "What is the capital of Spain?"
FRANCE = "What is the capital of France?"  # few-shot's first example


def cli(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def shown_json(conversation_id: int = 1) -> dict[str, Any]:
    result = cli("history", "show", str(conversation_id), "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# ---- 1. a template run: typed text shown, rendered prompt resumed ---------------------------------
def test_a_few_shot_run_resumes_with_its_examples_and_shows_what_was_typed(assistant_home: Path, fakes: list) -> None:
    """``-c`` after ``prompt -t few-shot`` gave the model the bare question and its answer:
    the example turns it had answered after were gone."""
    assert cli("prompt", *FAKE, "-t", "few-shot", SPAIN).exit_code == 0
    user = shown_json()["messages"][0]
    assert user["content"] == SPAIN
    assert user["rendered"][0] == {"role": "user", "content": FRANCE}
    assert user["rendered"][-1] == {"role": "user", "content": SPAIN}
    assert cli("prompt", *FAKE, "-c", "And of Portugal?").exit_code == 0
    prompt = fakes[-1].calls[-1]["prompt"]
    assert FRANCE in prompt and SPAIN in prompt and "And of Portugal?" in prompt
    assert prompt.index(FRANCE) < prompt.index(SPAIN) < prompt.index("And of Portugal?")


def test_a_zero_shot_run_reopens_as_the_input_not_the_rendered_template(assistant_home: Path, fakes: list) -> None:
    """The user message was stored as the rendered body ("Translate to French.\\n\\nhello"): ``history
    show``, the exports and the chat app showed the template's words as what the user said."""
    assert cli("prompt", *FAKE, "-t", "zero-shot", "-v", "task=Translate to French.", "hello").exit_code == 0
    user = shown_json()["messages"][0]
    assert user["content"] == "hello"
    assert user["rendered"] == [{"role": "user", "content": "Translate to French.\n\nhello"}]
    shown = cli("history", "show", "1").stdout.split("--- assistant")[0]  # the fake's reply echoes its prompt
    assert shown.endswith("\n  hello\n") and "Translate to French." not in shown
    assert "sent through template zero-shot, see --json" in shown
    markdown = cli("history", "export", "1").stdout.split("## Assistant")[0]
    assert "> hello\n" in markdown and "Translate to French." not in markdown
    assert "*(sent through template zero-shot;" in markdown
    # fine-tuning lines hold what the reply answers: the rendered message
    (line,) = cli("history", "export", "1", "-f", "jsonl").stdout.splitlines()
    assert json.loads(line)["messages"][1] == {"role": "user", "content": "Translate to French.\n\nhello"}
    # the chat app reopens a conversation with context_messages: the model's view
    with HistoryStore.open(assistant_home / "data" / "history.db") as store:
        assert store.context_messages(1)[0] == Message("user", "Translate to French.\n\nhello")
        assert store.recent_user_texts() == ["hello"]  # the app's Up history: what was typed
    # and -c gives the model the task it was answering
    assert cli("prompt", *FAKE, "-c", "and goodbye").exit_code == 0
    assert "Translate to French.\n\nhello" in fakes[-1].calls[-1]["prompt"]


def test_a_plain_template_run_stores_no_rendering(assistant_home: Path, fakes: list) -> None:
    """A template whose body is the input alone sent what was typed: nothing more is stored."""
    assert cli("prompt", *FAKE, "-t", "chat", "hi there").exit_code == 0
    user = shown_json()["messages"][0]
    assert user["content"] == "hi there" and "rendered" not in user
    assert "sent through" not in cli("history", "show", "1").stdout


def test_batch_rows_are_stored_as_their_input(assistant_home: Path, fakes: list, tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"input": "first", "task": "Shout."}\n')
    out = tmp_path / "out.jsonl"
    result = cli("prompt", *FAKE, "-t", "zero-shot", "--batch", str(rows), "--out", str(out))
    assert result.exit_code == 0, result.output
    user = shown_json()["messages"][0]
    assert user["content"] == "first"
    assert user["rendered"] == [{"role": "user", "content": "Shout.\n\nfirst"}]
    # --resume still finds the rows in the conversation (it looks for each row's input)
    again = cli("prompt", *FAKE, "-t", "zero-shot", "--batch", str(rows), "--out", str(out), "--resume")
    assert again.exit_code == 0, again.output


def test_an_unreadable_rendering_is_sent_as_the_text(tmp_path: Path) -> None:
    """A rendering written by something else (not a list of messages) is dropped, not an error."""
    with HistoryStore.open(tmp_path / "h.db") as store:
        recorder = ConversationRecorder(store)
        turn = recorder.start_turn("typed", TurnMeta(), rendered=[Message("user", "Rendered: typed")])
        recorder.finish(turn, Completion("ok", "m", "fake", "stop", Usage(), Timings()))
        assert store.context_messages(1)[0] == Message("user", "Rendered: typed")
        for bad in ('[{"role": "robot", "content": "x"}]', '"text"', "[1]", "{not json", "[]"):
            store.db.execute("UPDATE messages SET rendered = ? WHERE id = 1", [bad])
            assert store.messages(1)[0].rendered is None
            assert store.context_messages(1)[0] == Message("user", "typed")


def test_a_database_from_before_the_rendering_column_opens_and_resumes(tmp_path: Path) -> None:
    """Migration 0008 adds the column; the rows already there are sent as their text, as before."""
    from sqlite_utils.migrations import Migrations

    from assistant.history import migrations as schema

    path = tmp_path / "old.db"
    old = Migrations(schema.MIGRATION_SET)
    old._migrations = [m for m in schema.migrations._migrations if m.name < "0008"]  # type: ignore[attr-defined]
    import sqlite_utils

    db = sqlite_utils.Database(path)
    schema.migrate(db, old)
    db.execute(
        "INSERT INTO conversations (id, title, created, updated, head_id) VALUES (1, 't', '2026', '2026', 2)"
    )
    db.execute(
        "INSERT INTO messages (id, conversation_id, role, content, created, parent_id) VALUES"
        " (1, 1, 'user', 'old question', '2026', NULL), (2, 1, 'assistant', 'old answer', '2026', 1)"
    )
    db.conn.commit()
    db.close()
    with HistoryStore.open(path) as store:
        assert store.context_messages(1) == [Message("user", "old question"), Message("assistant", "old answer")]
        assert "rendered" not in store.messages(1)[0].to_dict()


# ---- 2. prompt -t --examples-as ---------------------------------------------------------------
def test_prompt_template_takes_examples_as(assistant_home: Path, fakes: list) -> None:
    """``templates render`` had --examples-as; ``prompt -t`` refused it as an unknown option."""
    result = cli("prompt", *FAKE, "-t", "few-shot", "--examples-as", "inline", SPAIN)
    assert result.exit_code == 0, result.output
    (sent,) = shown_json()["messages"][0]["rendered"]  # one user message: the examples inline
    assert FRANCE in sent["content"] and sent["content"].rstrip().endswith(SPAIN)
    assert "<|im_start|>assistant\nParis" not in fakes[-1].calls[-1]["prompt"]  # not as turns
    turns = cli("prompt", *FAKE, "-t", "few-shot", "--examples-as", "turns", SPAIN)
    assert turns.exit_code == 0, turns.output
    assert len(shown_json(2)["messages"][0]["rendered"]) == 7  # three examples, two turns each, and the question


def test_examples_as_errors_are_the_ones_templates_render_gives(assistant_home: Path, fakes: list) -> None:
    rendered = cli("templates", "render", "few-shot", "--input", "x", "--examples-as", "bogus")
    prompted = cli("prompt", *FAKE, "-t", "few-shot", "--examples-as", "bogus", "x")
    assert rendered.exit_code == prompted.exit_code == 2
    expected = "Error: Invalid value for '--examples-as': 'bogus' is not one of 'turns', 'inline'."
    assert expected in rendered.stderr and expected in prompted.stderr
    without = cli("prompt", *FAKE, "--examples-as", "inline", "x")
    assert without.exit_code == 2 and "--examples-as lays out a template's examples" in without.stderr
    schema_batch = cli("prompt", *FAKE, "--schema", "name", "--batch", "rows.jsonl", "--examples-as", "turns")
    assert schema_batch.exit_code == 2 and "needs a template (-t NAME)" in schema_batch.stderr
    assert fakes == []  # refused before any model loads


def test_batch_runs_take_examples_as(assistant_home: Path, fakes: list, tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"input": SPAIN}) + "\n")
    out = tmp_path / "out.jsonl"
    result = cli("prompt", *FAKE, "-t", "few-shot", "--examples-as", "inline", "--batch", str(rows), "--out", str(out))
    assert result.exit_code == 0, result.output
    (sent,) = shown_json()["messages"][0]["rendered"]
    assert FRANCE in sent["content"]


# ---- 3. prompt --json stopped by Ctrl-C ------------------------------------------------------------
def _interrupting(at: int | None) -> Any:
    """A fake engine that receives a real SIGINT at token ``at`` (None: while it loads)."""
    from assistant.backends.fake import FakeBackend

    def sigint() -> None:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # the handler runs here

    class Backend(FakeBackend):
        def load(self, model: str, **options: Any) -> None:
            super().load(model, **options)
            if at is None:
                sigint()

        def sample_tokens(self, prompt_ids, params):  # type: ignore[no-untyped-def]
            for position, token in enumerate(super().sample_tokens(prompt_ids, params)):
                if position == at:
                    sigint()
                yield token

    return lambda: Backend(reply="one two three four five six seven eight nine ten " * 20)


def _register(at: int | None) -> None:
    from assistant.backends.fake import FakeBackendPlugin
    from assistant.plugins import register_plugin

    register_plugin(FakeBackendPlugin(_interrupting(at)), name="fake-interrupting")


def _record(result: Result) -> dict[str, Any]:
    assert result.exit_code == 130, result.output
    assert result.stderr.endswith("interrupted\n")
    (line,) = result.stdout.splitlines()  # one record, nothing else
    return json.loads(line)


def test_prompt_json_interrupted_prints_the_record_so_far(assistant_home: Path) -> None:
    """A script reading ``prompt --json`` got nothing at all after Ctrl-C."""
    _register(at=5)
    record = _record(CliRunner().invoke(main, ["prompt", *FAKE, "--json", "hello"]))
    assert record["finish_reason"] == "cancelled"
    assert 0 < len(record["text"]) < 20 and "one two".startswith(record["text"][:7])
    # as the history keeps it
    reply = shown_json(record["conversation_id"])["messages"][-1]
    assert (reply["status"], reply["finish_reason"], reply["content"]) == ("interrupted", "cancelled", record["text"])


def test_prompt_json_interrupted_while_loading_prints_an_empty_record(assistant_home: Path) -> None:
    _register(at=None)
    record = _record(CliRunner().invoke(main, ["prompt", *FAKE, "--json", "hello"]))
    assert (record["text"], record["finish_reason"], record["model"]) == ("", "cancelled", "fake-model")


def test_prompt_schema_json_interrupted_says_why_there_is_no_object(assistant_home: Path) -> None:
    _register(at=3)
    record = _record(CliRunner().invoke(main, ["prompt", *FAKE, "--json", "--schema", "name", "hello"]))
    assert record["object"] is None and "cancelled" in record["schema_error"]


@pytest.mark.parametrize("at", [5, None])
def test_template_json_interrupted_prints_the_record_so_far(assistant_home: Path, at: int | None) -> None:
    _register(at=at)
    args = ["prompt", *FAKE, "-t", "zero-shot", "--json", "hello"]
    record = _record(CliRunner().invoke(main, args))
    assert record["template"] == "zero-shot"
    assert (record["answer"], record["error"], record["finish_reason"]) == (None, "interrupted by the user", "cancelled")
    if at is not None:
        assert 0 < len(record["output"]) < 20
        reply = shown_json()["messages"][-1]
        assert (reply["status"], reply["error"]) == ("interrupted", "interrupted by the user")


# ---- 4. history delete leaves no words behind ------------------------------------------------------
def _file_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def test_delete_leaves_no_words_of_the_conversation_in_the_file(tmp_path: Path) -> None:
    """The search index kept a deleted message's words (its delete only marks them) until a merge,
    and the log kept copies of the pages: ``strings history.db`` still showed what was deleted."""
    path = tmp_path / "h.db"
    secret = "zanzibarquokka"
    with HistoryStore.open(path) as store:
        recorder = ConversationRecorder(store)
        turn = recorder.start_turn(f"tell me about the {secret}", TurnMeta())
        recorder.finish(turn, Completion(f"The {secret} lives on islands.", "m", "fake", "stop", Usage(), Timings()))
        keep = ConversationRecorder(store)
        turn = keep.start_turn("an unrelated question", TurnMeta())
        keep.finish(turn, Completion("an unrelated answer", "m", "fake", "stop", Usage(), Timings()))
        assert secret.encode() in _file_bytes(path)
        # another connection (an open chat app) reads meanwhile
        reader = sqlite3.connect(path)
        assert reader.execute("SELECT count(*) FROM messages").fetchone() == (4,)
        assert store.delete(1) == 2
        assert store.search(secret) == []
        assert sorted(hit.message_id for hit in store.search("unrelated")) == [3, 4]  # the others stay found
        left = secret.encode() in _file_bytes(path).lower()  # (a bool: the file's bytes make a long message)
        assert not left
        reader.close()


def test_history_delete_command_removes_the_words(assistant_home: Path, fakes: list) -> None:
    assert cli("prompt", *FAKE, "tell me about the blorptastic frog").exit_code == 0
    path = assistant_home / "data" / "history.db"
    assert b"blorptastic" in _file_bytes(path)
    result = cli("history", "delete", "-y", "1")
    assert result.exit_code == 0 and "deleted conversation 1 (2 messages)" in result.stderr
    left = b"blorptastic" in _file_bytes(path)
    assert not left
    assert "no matches" in cli("history", "search", "blorptastic").stderr


def test_delete_does_not_wait_for_a_reader_to_empty_the_log(tmp_path: Path) -> None:
    """Emptying the log waits for readers: with another process inside a read (an open chat app),
    ``history delete`` sat out the whole busy timeout first. Now it is skipped then, the timeout kept."""
    path = tmp_path / "h.db"
    with HistoryStore.open(path) as store:
        recorder = ConversationRecorder(store)
        turn = recorder.start_turn("hello", TurnMeta())
        recorder.finish(turn, Completion("hi", "m", "fake", "stop", Usage(), Timings()))
        reader = sqlite3.connect(path, isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM messages").fetchall()
        calls: list[str] = []
        store.db.conn.set_trace_callback(calls.append)
        assert store.delete(1) == 2
        store.db.conn.set_trace_callback(None)
        checkpoint = next(i for i, sql in enumerate(calls) if "wal_checkpoint" in sql)
        assert "busy_timeout = 0" in calls[checkpoint - 1]
        assert store.db.execute("PRAGMA busy_timeout").fetchone() == (5000,)
        assert store.list_conversations() == []
        reader.execute("COMMIT")
        reader.close()


def test_template_run_interrupted_ends_its_partial_line(assistant_home: Path) -> None:
    """A plain ``prompt`` ends the partial reply's line on Ctrl-C; ``prompt -t`` left it open, so
    ``prompt -t ... > out.txt`` had no final newline (a finished run's output has one)."""
    _register(at=5)
    result = CliRunner().invoke(main, ["prompt", *FAKE, "-t", "zero-shot", "hello"])
    assert result.exit_code == 130, result.output
    assert result.stdout == "one t\n"


def test_template_json_names_the_conversation_to_continue(assistant_home: Path, fakes: list) -> None:
    """``prompt --json`` and every batch line name their conversation; a single ``prompt -t --json`` did not,
    so a script had no id to ``--cid`` the run it had just made (``-c`` takes the latest chat, maybe another's)."""
    result = cli("prompt", *FAKE, "-t", "few-shot", "--json", SPAIN)
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["conversation_id"] == 1 and record["template"] == "few-shot"
    assert cli("prompt", *FAKE, "--cid", str(record["conversation_id"]), "And of Portugal?").exit_code == 0
    assert FRANCE in fakes[-1].calls[-1]["prompt"]
    unlogged = json.loads(cli("prompt", *FAKE, "-t", "few-shot", "--json", "--no-log", SPAIN).stdout)
    assert unlogged["conversation_id"] is None

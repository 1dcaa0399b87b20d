"""``assistant history …`` and the history options of ``assistant prompt`` (fake backend)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from assistant.cli import main
from assistant.history import HistoryStore
from assistant.types import Completion, Timings, Usage
from .conftest import REPO_ROOT, run_cli

pytestmark = pytest.mark.usefixtures("fake_backend")


def cli(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def ask(*args: str) -> Result:
    result = cli("prompt", "-b", "fake", "-m", "fake-model", *args)
    assert result.exit_code == 0, result.output
    return result


def db_path(home: Path) -> Path:
    return home / "data" / "history.db"


def test_prompt_records_and_history_shows(assistant_home: Path) -> None:
    assert ask("What is the capital of France?").stdout == "Echo: What is the capital of France?\n"
    listed = json.loads(cli("history", "list", "--json").stdout)
    assert len(listed) == 1 and listed[0]["title"] == "What is the capital of France?"
    assert listed[0]["message_count"] == 2 and listed[0]["system"] == "You are a helpful assistant."
    shown = json.loads(cli("history", "show", str(listed[0]["id"]), "--json").stdout)
    assert [(m["role"], m["content"], m["status"]) for m in shown["messages"]] == [
        ("user", "What is the capital of France?", "complete"),
        ("assistant", "Echo: What is the capital of France?", "complete"),
    ]
    text = cli("history", "list").stdout
    assert "What is the capital of France?" in text and "2 msgs" in text
    assert "--- assistant" in cli("history", "show", str(listed[0]["id"])).stdout


def test_continue_latest_and_by_id(assistant_home: Path) -> None:
    first = json.loads(ask("one", "--json").stdout)["conversation_id"]
    second = json.loads(ask("two", "--json").stdout)["conversation_id"]
    assert first != second
    # -c continues the latest, reusing its model and backend (no -b/-m needed)
    result = cli("prompt", "-c", "three", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["conversation_id"] == second
    assert f"conversation {second}:" in result.stderr and "prompt tokens" in result.stderr
    ask("--cid", str(first), "four")
    with HistoryStore.open() as store:
        assert [m.content for m in store.messages(first) if m.role == "user"] == ["one", "four"]
        assert [m.content for m in store.messages(second) if m.role == "user"] == ["two", "three"]
        # The model saw the earlier turns of the conversation it continued.
        assert store.get_conversation(second).message_count == 4


def test_continue_skips_tool_runs_and_batches(assistant_home: Path, tmp_path: Path) -> None:
    chat_id = json.loads(ask("My name is Ada and I live in Paris.", "--json").stdout)["conversation_id"]
    tool = cli("sentiment", "-b", "fake", "-m", "fake-model", "fine")
    assert tool.exit_code == 0, tool.output
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"id": "a", "text": "good"}\n')
    batch = cli("sentiment", "-b", "fake", "-m", "fake-model", "--batch", str(rows), "--output", str(tmp_path / "o.jsonl"))
    assert batch.exit_code == 0, batch.output
    listed = json.loads(cli("history", "list", "--json").stdout)
    assert [c["kind"] for c in listed] == ["batch", "tool", "chat"]
    assert "tool " in cli("history", "list").stdout
    result = cli("prompt", "-c", "Where do I live?", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["conversation_id"] == chat_id


def test_a_reply_cut_at_max_tokens_is_stored_as_such(assistant_home: Path) -> None:
    ask("-o", "max_tokens=3", "hello there")
    ask("hello again")
    with HistoryStore.open() as store:
        first, second = (store.messages(c.id)[-1] for c in reversed(store.list_conversations()))
    assert (first.finish_reason, first.content) == ("length", "Ech")
    assert second.finish_reason == "stop"


def test_continued_conversation_is_trimmed_to_the_context(assistant_home: Path) -> None:
    for i in range(6):
        ask("-c" if i else "--json", f"turn {i} " + "x" * 150)
    result = cli("prompt", "-c", "-o", "n_ctx=900", "-o", "max_tokens=100", "last")
    assert result.exit_code == 0, result.output
    assert "left out to fit the context window" in result.stderr
    assert "of 900" in result.stderr


def test_continue_errors(assistant_home: Path) -> None:
    result = cli("prompt", "-b", "fake", "-c", "hi")
    assert result.exit_code == 1 and "no conversation to continue" in result.stderr
    ask("hello")
    result = cli("prompt", "-b", "fake", "--cid", "99", "hi")
    assert result.exit_code == 1 and "no conversation with id 99" in result.stderr
    result = cli("prompt", "-b", "fake", "-c", "--cid", "1", "hi")
    assert result.exit_code == 1 and "not both" in result.stderr


def test_no_log_and_db_options(assistant_home: Path, tmp_path: Path) -> None:
    ask("--no-log", "secret")
    assert not db_path(assistant_home).exists()
    other = tmp_path / "elsewhere.db"
    ask("--db", str(other), "moved")
    assert other.is_file() and not db_path(assistant_home).exists()
    assert "moved" in cli("history", "list", "--db", str(other)).stdout
    result = cli("history", "list")
    assert result.exit_code == 0 and "no conversations yet" in result.stderr


def test_config_db_key(assistant_home: Path, tmp_path: Path) -> None:
    target = tmp_path / "configured.db"
    (assistant_home / "config").mkdir(parents=True)
    (assistant_home / "config" / "config.toml").write_text(f'db = "{target}"\n')
    ask("configured")
    assert target.is_file()


@pytest.mark.parametrize("query", ["it's", '"unbalanced', "AND", "a AND OR", "NEAR(", "C++ -x", 'say "hi" ^'])
def test_search_accepts_any_text(assistant_home: Path, query: str) -> None:
    ask(f"note: {query} end")
    result = cli("history", "search", query, "--json")
    assert result.exit_code == 0, result.output
    assert any(hit["role"] == "user" for hit in json.loads(result.stdout))


def test_search_with_nothing_searchable_is_a_friendly_error(assistant_home: Path) -> None:
    ask("hello")
    result = cli("history", "search", '"" --')
    assert result.exit_code == 1
    assert result.stderr.startswith("error: nothing to search for")
    assert "no matches" in cli("history", "search", "absent").stderr


def test_export_formats(assistant_home: Path, tmp_path: Path) -> None:
    ask("emoji 😀 and NUL \x00 inside")
    ask("second conversation")
    as_json = json.loads(cli("history", "export", "1", "--format", "json").stdout)
    assert as_json["messages"][0]["content"] == "emoji 😀 and NUL \x00 inside"
    every = json.loads(cli("history", "export", "--all", "-f", "json").stdout)
    assert [c["id"] for c in every] == [1, 2]
    lines = cli("history", "export", "--all", "-f", "jsonl").stdout.splitlines()
    assert [json.loads(line) for line in lines] == [  # the chat fine-tuning shape, nothing else
        {"messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "emoji 😀 and NUL \x00 inside"},
            {"role": "assistant", "content": "Echo: emoji 😀 and NUL \x00 inside"},
        ]},
        {"messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "second conversation"},
            {"role": "assistant", "content": "Echo: second conversation"},
        ]},
    ]
    markdown = cli("history", "export", "2").stdout
    assert markdown.startswith("# second conversation") and "## Assistant\n\n> Echo: second conversation" in markdown
    out = tmp_path / "all.md"
    result = cli("history", "export", "--all", "-o", str(out))
    assert result.exit_code == 0 and "---" in out.read_text()
    assert cli("history", "export").exit_code == 2  # neither ID nor --all
    assert cli("history", "export", "1", "--all").exit_code == 2


def test_rename_and_delete(assistant_home: Path) -> None:
    ask("temporary")
    assert cli("history", "rename", "1", "Better title").exit_code == 0
    assert json.loads(cli("history", "show", "1", "--json").stdout)["title"] == "Better title"
    refused = cli("history", "delete", "1", input="n\n")
    assert refused.exit_code == 1
    assert cli("history", "show", "1").exit_code == 0
    deleted = cli("history", "delete", "1", "-y")
    assert deleted.exit_code == 0 and "deleted conversation 1 (2 messages)" in deleted.stderr
    missing = cli("history", "show", "1")
    assert missing.exit_code == 1 and "no conversation with id 1" in missing.stderr


def test_show_marks_interrupted_replies(assistant_home: Path) -> None:
    with HistoryStore.open() as store:
        conversation = store.create_conversation()
        store.fail_turn(store.start_turn(conversation.id, "q"), "half", status="error", error="boom")
    shown = cli("history", "show", str(conversation.id)).stdout
    assert "error: boom" in shown and "half" in shown


def test_jsonl_export_puts_the_system_prompt_first_and_leaves_out_cut_replies(assistant_home: Path) -> None:
    with HistoryStore.open() as store:
        conversation = store.create_conversation(system="Be brief.")
        store.fail_turn(store.start_turn(conversation.id, "first"), "half a rep", status="interrupted")
        turn = store.start_turn(conversation.id, "second")
        store.finish_turn(turn, Completion("A whole reply.", "m", "fake", "stop", Usage(), Timings()))
        store.fail_turn(store.start_turn(conversation.id, "third"), "", status="error", error="boom")
        turn = store.start_turn(conversation.id, "fourth")
        store.finish_turn(turn, Completion("Cut at max", "m", "fake", "length", Usage(), Timings()))
    line = cli("history", "export", str(conversation.id), "-f", "jsonl").stdout
    # A cut reply goes with the user turn it answers: the turns alternate and end on the assistant.
    assert json.loads(line) == {"messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "second"},
        {"role": "assistant", "content": "A whole reply."},
    ]}


def test_jsonl_export_skips_conversations_with_no_whole_reply(assistant_home: Path, tmp_path: Path) -> None:
    with HistoryStore.open() as store:
        failed = store.create_conversation()
        store.fail_turn(store.start_turn(failed.id, "q"), "", status="error", error="boom")
        cut = store.create_conversation()
        cut_reply = Completion("A few", "m", "fake", "length", Usage(), Timings())
        store.finish_turn(store.start_turn(cut.id, "story"), cut_reply)
    ask("kept")
    result = cli("history", "export", "--all", "-f", "jsonl")
    exported = [json.loads(line)["messages"] for line in result.stdout.splitlines()]
    assert [messages[1]["content"] for messages in exported] == ["kept"]
    assert "left out 2 conversation(s) with no whole reply" in result.stderr
    single = cli("history", "export", str(cut.id), "-f", "jsonl")
    assert single.exit_code == 0 and single.stdout == "" and "left out 1" in single.stderr
    out = tmp_path / "x.jsonl"
    written = cli("history", "export", "--all", "-f", "jsonl", "-o", str(out))
    assert "exported 1 conversation(s)" in written.stderr and len(out.read_text().splitlines()) == 1
    assert "*(stopped at max tokens or where the context window ends)*" in cli("history", "export", str(cut.id)).stdout  # markdown marks it


def test_jsonl_export_leaves_out_malformed_batch_rows(assistant_home: Path, tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"text": "fine"}\nnot json\n[1, 2]\n')
    result = cli("prompt", "-b", "fake", "-m", "fake-model", "-t", "zero-shot", "--batch", str(rows))
    assert result.exit_code == 1  # two rows failed
    exported = [json.loads(line) for line in cli("history", "export", "1", "-f", "jsonl").stdout.splitlines()]
    assert len(exported) == 1
    roles = [m["role"] for m in exported[0]["messages"]]
    assert roles[-2:] == ["user", "assistant"] and roles.count("user") == 1
    assert all(m["content"] != "{}" for m in exported[0]["messages"])


# ---- through a real process ------------------------------------------------------------------


@pytest.mark.usefixtures("fake_backend_plugin_file")
def test_invalid_utf8_from_stdin_is_stored_and_binary_is_refused(assistant_home: Path) -> None:
    raw = b"caf\xe9 \xff\xfe bytes and \xe2\x82 cut"
    result = run_cli("prompt", "-b", "fake", "-m", "m", input=raw)
    assert result.returncode == 0, result.stderr
    expected = raw.decode("utf-8", errors="replace")  # the defined replacement: U+FFFD
    with HistoryStore.open() as store:
        user = store.messages(1)[0]
    assert user.content == expected and "\ufffd" in user.content
    exported = run_cli("history", "export", "1", "-f", "json")
    assert json.loads(exported.stdout)["messages"][0]["content"] == expected
    # A NUL byte is binary data, refused on stdin as from --file (round 20), and nothing is recorded.
    refused = run_cli("prompt", "-b", "fake", "-m", "m", input=b"bytes \x00 here")
    assert refused.returncode != 0 and "NUL byte" in refused.stderr
    with HistoryStore.open() as store:
        assert len(store.messages(1)) == 2 and store.messages(2) == []


@pytest.mark.usefixtures("fake_backend_plugin_file")
def test_ctrl_c_during_a_reply_is_recorded_as_interrupted(assistant_home: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant", "prompt", "-b", "fake", "-m", "m", "-o", "token_delay=0.05", "long reply"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    assert proc.stdout is not None
    first = proc.stdout.read(4)  # generation has started
    time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert first == b"Echo"
    with HistoryStore.open() as store:
        user, reply = store.messages(1)
    assert user.content == "long reply"
    assert reply.status == "interrupted" and reply.content.startswith("Echo")
    assert len(reply.content) < len("Echo: long reply")


def test_batch_rows_that_never_became_a_prompt_are_not_recorded_as_turns(assistant_home: Path, tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"text": "fine"}\nnot json\n[1, 2]\n')
    result = cli("prompt", "-b", "fake", "-m", "fake-model", "-t", "zero-shot", "--batch", str(rows))
    assert result.exit_code == 1  # two rows failed (in the results, not the history)
    with HistoryStore.open() as store:
        said = [m.content for m in store.messages(1) if m.role == "user"]
    assert len(said) == 1 and "fine" in said[0]


def test_export_onto_the_history_database_is_refused_and_keeps_the_history(assistant_home: Path) -> None:
    """``-o`` naming the database (a slip of the shell history) used to truncate it: every conversation gone."""
    ask("Keep me")
    db = db_path(assistant_home)
    before = db.read_bytes()
    for target in (db, db.with_name(db.name + "-wal")):
        if not target.exists():
            continue
        result = cli("history", "export", "1", "-o", str(target))
        assert result.exit_code == 1
        assert result.stderr.strip() == f"error: cannot export to {target}: it is the history database's own file"
    assert db.read_bytes() == before
    assert [c["title"] for c in json.loads(cli("history", "list", "--json").stdout)] == ["Keep me"]


def test_an_export_that_fails_half_way_leaves_the_previous_file_whole(tmp_path: Path) -> None:
    from assistant.errors import HistoryError
    from assistant.history.export import export_to_file

    store = HistoryStore.open(tmp_path / "h.db")
    conversation = store.create_conversation(system=None)
    previous = tmp_path / "export.md"
    previous.write_text("last week's export\n")
    previous.chmod(0o640)

    def breaks_after_one():  # type: ignore[no-untyped-def]
        yield from store.iter_export([conversation.id])
        raise HistoryError("database is locked")

    with pytest.raises(HistoryError):
        export_to_file(previous, breaks_after_one(), "markdown", many=True)
    assert previous.read_text() == "last week's export\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []  # no temporary left behind

    assert export_to_file(previous, store.iter_export([conversation.id]), "markdown", many=False) == []
    assert previous.read_text().startswith("# Conversation") and previous.stat().st_mode & 0o777 == 0o640

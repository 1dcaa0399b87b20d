"""Durability under abuse: killed writers, concurrent writers, read-only files."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from assistant.history import HistoryStore
from .conftest import REPO_ROOT

WRITER = textwrap.dedent(
    """
    import os, sys, time
    from assistant.history import HistoryStore
    from assistant.types import Completion, Timings, Usage

    path, name, turns, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    while go != "-" and not os.path.exists(go):  # start together
        time.sleep(0.005)
    store = HistoryStore.open(path)
    conversation = store.create_conversation(title=name)
    i = 0
    while turns < 0 or i < turns:
        turn = store.start_turn(conversation.id, f"{name} question {i} " + "q" * 2000)
        store.checkpoint(turn, f"{name} partial {i}")
        reply = f"{name} answer {i} " + "a" * 2000
        store.finish_turn(turn, Completion(reply, "m", "fake", "stop", Usage(1, 1), Timings()))
        print(f"{conversation.id} {turn.user_message_id} {turn.reply_message_id}", flush=True)
        i += 1
    store.close()
    """
)


def start_writer(path: Path, name: str, turns: int, go: str = "-") -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), name, str(turns), go],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def integrity(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        # The FTS index agrees with the messages table.
        conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")
    finally:
        conn.close()


def test_kill_9_mid_loop_loses_nothing_committed(tmp_path: Path) -> None:
    path = tmp_path / "killed.db"
    writer = start_writer(path, "victim", turns=-1)
    assert writer.stdout is not None
    committed: list[tuple[int, int, int]] = []
    deadline = time.monotonic() + 120
    while len(committed) < 40 and time.monotonic() < deadline:
        line = writer.stdout.readline()
        if not line:
            break
        committed.append(tuple(int(x) for x in line.split()))  # type: ignore[misc]
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    assert len(committed) == 40, writer.stderr.read() if writer.stderr else ""
    # Reported after the kill was sent and before it landed: also committed.
    committed += [tuple(int(x) for x in line.split()) for line in writer.stdout.read().splitlines()]  # type: ignore[misc]

    integrity(path)
    with HistoryStore.open(path) as store:
        conversation_id = committed[0][0]
        rows = {m.id: m for m in store.messages(conversation_id)}
        for i, (_, user_id, reply_id) in enumerate(committed):
            assert rows[user_id].content == f"victim question {i} " + "q" * 2000
            assert rows[reply_id].status == "complete"
            assert rows[reply_id].content == f"victim answer {i} " + "a" * 2000
        # Anything after the last reported turn is a whole turn or an interrupted one.
        for message in rows.values():
            if message.role == "assistant" and message.status != "complete":
                assert message.status == "interrupted"
        assert store.search("victim")  # the index still works


def test_two_processes_writing_at_once_both_succeed(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"  # fresh: both also race to create the schema
    go = tmp_path / "go"
    writers = [start_writer(path, name, turns=150, go=str(go)) for name in ("alpha", "beta")]
    time.sleep(0.5)
    go.touch()
    outputs = [w.communicate(timeout=300) for w in writers]
    for writer, (out, err) in zip(writers, outputs):
        assert writer.returncode == 0, err
        assert len(out.splitlines()) == 150
    integrity(path)
    with HistoryStore.open(path) as store:
        conversations = store.list_conversations()
        assert sorted(c.title for c in conversations) == ["alpha", "beta"]  # type: ignore[type-var]
        assert all(c.message_count == 300 for c in conversations)
        assert all(m.status == "complete" for c in conversations for m in store.messages(c.id))


def _drop_root_file_override() -> None:
    """In the child: lose root's power to ignore file permissions (stays uid 0).

    Removing CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH/CAP_FOWNER from the bounding set
    before exec means the new program is checked against permission bits like any
    user, so a 0444 file is really read-only for it.
    """
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pr_capbset_drop = 24
    for capability in (1, 2, 3):
        if libc.prctl(pr_capbset_drop, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def test_read_only_database_is_one_clear_error(tmp_path: Path, fake_backend_plugin_file: Path) -> None:
    """``assistant prompt`` against a read-only history: one line, no traceback, exit 1.

    Root ignores permission bits, so as root the CLI runs without that privilege.
    """
    db = tmp_path / "readonly.db"
    with HistoryStore.open(db) as store:
        store.record_turn(store.create_conversation().id, "kept", _completion("yes"))
    os.chmod(db, 0o444)
    as_root = os.geteuid() == 0

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        return subprocess.run(
            [sys.executable, "-m", "assistant", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            preexec_fn=_drop_root_file_override if as_root else None,
        )

    result = run("prompt", "-b", "fake", "-m", "m", "--db", str(db), "hello")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: history database"), result.stderr
    assert "read-only" in lines[0] and "--no-log" in lines[0]
    assert result.stdout == ""  # failed before the model ran

    # Reading a read-only history still works; --no-log still answers.
    listed = run("history", "list", "--db", str(db))
    assert listed.returncode == 0, listed.stderr
    assert "kept" in listed.stdout
    answered = run("prompt", "-b", "fake", "-m", "m", "--db", str(db), "--no-log", "hello")
    assert answered.returncode == 0 and answered.stdout == "Echo: hello\n", answered.stderr


def _completion(text: str):  # type: ignore[no-untyped-def]
    from assistant.types import Completion, Timings, Usage

    return Completion(text, "m", "fake", "stop", Usage(), Timings())


def test_uncreatable_directory_is_a_clear_error(tmp_path: Path) -> None:
    from assistant.errors import HistoryError

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(HistoryError, match="does not exist; create it first"):
        HistoryStore.open(blocker / "sub" / "h.db")  # parent is a file: cannot mkdir


class _FlakyConnection:
    """Answers ``PRAGMA journal_mode`` with ``errors`` first, as SQLite does while another process switches."""

    def __init__(self, *errors: str) -> None:
        self.errors = list(errors)
        self.calls = 0

    def execute(self, sql: str) -> "_FlakyConnection":
        self.calls += 1
        if self.errors:
            raise sqlite3.OperationalError(self.errors.pop(0))
        return self

    def fetchone(self) -> tuple[str]:
        return ("wal",)


def test_switching_to_wal_waits_while_another_process_holds_the_lock() -> None:
    from assistant.history.db import _enable_wal

    conn = _FlakyConnection("database is locked", "database is locked")
    _enable_wal(conn)  # type: ignore[arg-type]
    assert conn.calls == 3


def test_switching_to_wal_gives_up_after_the_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.history import db

    monkeypatch.setattr(db, "BUSY_TIMEOUT_S", 0.05)
    conn = _FlakyConnection(*["database is locked"] * 1000)
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        db._enable_wal(conn)  # type: ignore[arg-type]
    assert time.monotonic() - started < 1
    other = _FlakyConnection("disk I/O error")
    with pytest.raises(sqlite3.OperationalError, match="disk"):
        db._enable_wal(other)  # type: ignore[arg-type]
    assert other.calls == 1  # not a lock: no retry

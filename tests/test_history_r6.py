"""History as a demanding user finds it (round 6): concurrent continuations, another program's
SQLite file or a path that is no file as ``--db``, replies cut at max tokens in ``show``, titles
with control characters, and search in very long messages."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from assistant.cli import main
from assistant.errors import HistoryError
from assistant.history import ConversationRecorder, HistoryStore, TurnMeta
from assistant.history.session_link import link_history
from assistant.types import Completion, Timings, Usage

pytestmark = pytest.mark.usefixtures("fake_backend")

META = TurnMeta(model="m", backend="fake")


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def ask(*args: str) -> Result:
    result = cli("prompt", "-b", "fake", "-m", "fake-model", *args)
    assert result.exit_code == 0, result.output
    return result


def reply(text: str) -> Completion:
    return Completion(text, "m", "fake", "stop", Usage(), Timings())


def record(recorder: ConversationRecorder, user: str) -> int:
    turn = recorder.start_turn(user, META, None)
    recorder.finish(turn, reply("Echo: " + user))
    return turn.user_message_id


# ---- two writers continuing one conversation at once ----------------------------------------------
def test_two_continuations_at_once_each_follow_what_their_model_saw(tmp_path: Path) -> None:
    """``prompt -c`` in two terminals at once: both models saw the conversation as it was.

    Each turn was stored after the store's head at the time it was written, so the
    second one followed the first one's reply, which its model never saw: reopened,
    the conversation showed an exchange that never happened that way. Each now
    follows the message its context ended with: two versions of the next turn.
    """
    path = tmp_path / "h.db"
    with HistoryStore.open(path) as store:
        first = ConversationRecorder(store)
        record(first, "start")
        conversation_id = first.conversation_id
    one, two = link_history(str(path), continue_latest=True), link_history(str(path), continue_latest=True)
    try:
        assert [m.content for m in one.messages] == [m.content for m in two.messages] == ["start", "Echo: start"]
        recorder_one, recorder_two = one.recorder(), two.recorder()
        assert recorder_one is not None and recorder_two is not None
        a = record(recorder_one, "from terminal one")
        b = record(recorder_two, "from terminal two")
    finally:
        one.close()
        two.close()
    with HistoryStore.open(path) as store:
        everything = {m.id: m for m in store.messages(conversation_id, branch="all")}
        start_reply = next(m.id for m in everything.values() if m.content == "Echo: start")
        assert everything[a].parent_id == everything[b].parent_id == start_reply
        # The branch shown is the newest; the other is a version beside it, not a turn before it.
        assert [m.content for m in store.messages(conversation_id)] == [
            "start", "Echo: start", "from terminal two", "Echo: from terminal two"
        ]
        assert store.siblings(conversation_id, b) == [a, b]
        # Each process's next turn continues its own branch.
        again = ConversationRecorder(store, conversation_id)
        record(again, "later")
        assert [m.content for m in store.messages(conversation_id)][-2:] == ["later", "Echo: later"]


def test_a_chat_open_on_a_conversation_keeps_its_own_branch(tmp_path: Path) -> None:
    """Two chat windows on one conversation: a turn follows the window's own last reply."""
    with HistoryStore.open(tmp_path / "h.db") as store:
        window_one = ConversationRecorder(store)
        record(window_one, "hello")
        window_two = ConversationRecorder(store, window_one.conversation_id)
        record(window_one, "one: first")
        record(window_two, "two: first")
        record(window_one, "one: second")
        assert window_one.conversation_id is not None
        shown = [m.content for m in store.messages(window_one.conversation_id)]
        assert shown == ["hello", "Echo: hello", "one: first", "Echo: one: first", "one: second", "Echo: one: second"]


def test_backing_out_of_a_prepared_edit_continues_from_the_stored_head(tmp_path: Path) -> None:
    """The chat app reloads the stored branch when a prepared regenerate or edit does not happen,
    so the next turn follows that branch's head, not the one this window saw before."""
    with HistoryStore.open(tmp_path / "h.db") as store:
        window_one = ConversationRecorder(store)
        first = record(window_one, "hello")
        window_two = ConversationRecorder(store, window_one.conversation_id)
        record(window_two, "two: first")
        window_one.regenerate(first)
        window_one.cancel_branch()
        record(window_one, "one: after backing out")
        assert window_one.conversation_id is not None
        shown = [m.content for m in store.messages(window_one.conversation_id)]
        assert shown[-4:] == ["two: first", "Echo: two: first", "one: after backing out", "Echo: one: after backing out"]


def test_a_single_writer_still_makes_one_branch(tmp_path: Path) -> None:
    with HistoryStore.open(tmp_path / "h.db") as store:
        recorder = ConversationRecorder(store)
        for text in ("a", "b", "c"):
            record(recorder, text)
        assert recorder.conversation_id is not None
        messages = store.messages(recorder.conversation_id)
        assert [m.content for m in messages] == ["a", "Echo: a", "b", "Echo: b", "c", "Echo: c"]
        assert all(m.alternatives == 1 for m in messages)


def test_continuing_twice_at_once_from_the_command_line(assistant_home: Path) -> None:
    """The same through ``prompt -c``: a second link read before the first one's turn was written."""
    ask("question")
    early = link_history(None, continue_latest=True)  # another terminal, model still loading
    try:
        ask("-c", "follow-up one")
        recorder = early.recorder()
        assert recorder is not None
        record(recorder, "follow-up two")
    finally:
        early.close()
    shown = cli("history", "show", "1")
    assert "version 2 of 2" in shown.stdout
    assert "2 more messages on other branches" in shown.stdout
    assert "follow-up one" not in shown.stdout and "follow-up two" in shown.stdout


# ---- a SQLite file that is not a history ----------------------------------------------------------
def _foreign(path: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE messages (x)")
    conn.execute("CREATE TABLE bookmarks (url TEXT)")
    conn.execute("INSERT INTO bookmarks VALUES ('https://example.org')")
    conn.commit()
    conn.close()
    return _schema(path)


def _schema(path: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT type, name FROM sqlite_master ORDER BY name").fetchall() + [
            ("journal_mode", conn.execute("PRAGMA journal_mode").fetchone()[0])
        ]
    finally:
        conn.close()


@pytest.mark.parametrize(
    "args",
    [
        ("history", "list"),
        ("history", "search", "example"),
        ("history", "export", "--all"),
        ("history", "rename", "1", "x"),
        ("prompt", "-b", "fake", "hello"),
    ],
)
def test_another_programs_database_is_refused_and_left_as_it_was(tmp_path: Path, args: tuple[str, ...]) -> None:
    """``--db`` naming some other SQLite file: even ``history list`` added the history's tables to it
    (and switched it to WAL); one holding a ``messages`` table failed with "table messages already exists"."""
    path = tmp_path / "places.sqlite"
    before = _foreign(path)
    result = cli(*args, "--db", str(path))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "not an assistant history" in result.stderr and "bookmarks, messages" in result.stderr
    assert _schema(path) == before


def test_an_empty_file_and_a_history_still_open(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    ask("--db", str(empty), "first words")
    assert "first words" in cli("history", "list", "--db", str(empty)).stdout
    with pytest.raises(HistoryError, match="not an assistant history"):
        path = tmp_path / "other.db"
        _foreign(path)
        HistoryStore.open(path, need_write=False)


@pytest.mark.parametrize("kind", ["directory", "device", "pipe"])
@pytest.mark.parametrize("args", [("history", "list"), ("prompt", "-b", "fake", "hi"), ("prompt", "-b", "fake", "-c", "hi")])
def test_a_db_path_that_is_not_a_file_is_one_clear_error(
    tmp_path: Path, kind: str, args: tuple[str, ...], fake_backend_plugin_file: Path
) -> None:
    """A directory or /dev/null gave SQLite's "disk I/O error"; a FIFO made every command hang for ever."""
    import os

    if kind == "directory":
        path = str(tmp_path)
    elif kind == "device":
        path = os.devnull
    else:
        path = str(tmp_path / "fifo")
        os.mkfifo(path)
    from .conftest import run_cli

    result = run_cli(*args, "--db", path, timeout=60)
    assert result.returncode == 1, result.stderr
    assert result.stderr == (
        f"error: history database {path} is not a file (a directory, device or pipe); "
        "give a file path with --db, or skip history with --no-log\n"
    )


# ---- what `history show` says about a reply ------------------------------------------------------
def test_show_marks_a_reply_stopped_at_max_tokens(assistant_home: Path) -> None:
    """The chat app reopens it as "stopped at max tokens" and markdown export marks it; ``show`` said nothing."""
    ask("-o", "max_tokens=3", "hello there")
    ask("hello again")
    cut, whole = cli("history", "show", "1").stdout, cli("history", "show", "2").stdout
    assert "stopped at max tokens" in cut.splitlines()[-2] and cut.splitlines()[-1] == "  Ech"
    assert "stopped at max tokens" not in whole


# ---- rename -----------------------------------------------------------------------------------------
def test_rename_makes_a_title_the_way_a_first_message_does(assistant_home: Path) -> None:
    """A title made from a message has no control characters; one given to ``rename`` kept ESC and BEL."""
    ask("hi")
    assert cli("history", "rename", "1", "new\x1b]0;pwned\x07\ttitle\r\nhere").exit_code == 0
    with HistoryStore.open() as store:
        assert store.get_conversation(1).title == "new title here"  # the sequence dropped whole (round 18)
    refused = cli("history", "rename", "1", "\x1b\x07")
    assert refused.exit_code == 1 and "cannot be empty" in refused.stderr


# ---- search in very long messages -----------------------------------------------------------------
def test_a_word_repeated_through_a_long_message_is_found_quickly(tmp_path: Path) -> None:
    """FTS5's snippet() costs the square of the hits in one message: 40,000 of them took about 20 s
    (a 15 MB reply with 400,000, hours). The snippet now comes from the first piece that matches."""
    import time

    with HistoryStore.open(tmp_path / "h.db") as store:
        recorder = ConversationRecorder(store)
        turn = recorder.start_turn("a long paste", META, None)
        recorder.finish(turn, reply("line with colour here\n" * 40_000))
        started = time.perf_counter()
        hits = store.search("colour")
        assert time.perf_counter() - started < 3
        assert [h.message_id for h in hits] == [turn.reply_message_id]
        assert hits[0].snippet.startswith("line with [colour] here\nline with [colour]")


def test_a_long_message_shows_where_it_matched(tmp_path: Path) -> None:
    """The snippet of a long message is FTS5's own (case, accents, phrases), around the first match,
    wherever it is; a NUL early in the text (stored as is) does not make the message look short."""
    text = "\x00 filler words " * 2_000 + "then the Crème Brûlée recipe, " + "more filler " * 500
    with HistoryStore.open(tmp_path / "h.db") as store:
        recorder = ConversationRecorder(store)
        turn = recorder.start_turn(text, META, None)
        recorder.finish(turn, reply("ok"))
        (hit,) = store.search('"creme brulee" recipe')
        assert hit.message_id == turn.user_message_id
        assert hit.snippet.startswith("…") and "then the [Crème Brûlée] [recipe]," in hit.snippet
        (short,) = store.search("ok")
        assert short.snippet == "[ok]"


def test_a_given_title_is_made_one_line_too(tmp_path: Path) -> None:
    """A batch's title names its file, which may hold a newline or ESC: the Markdown export's
    ``# title`` heading broke in two and the title kept the escape."""
    from assistant.history.export import markdown

    with HistoryStore.open(tmp_path / "h.db") as store:
        recorder = ConversationRecorder(store, title="sentiment: batch over rev\x1b[31m\nx.jsonl", kind="batch")
        record(recorder, "good soup")
        assert recorder.conversation_id is not None
        conversation = store.get_conversation(recorder.conversation_id)
        assert conversation.title == "sentiment: batch over rev x.jsonl"  # its colour dropped whole (round 18)
        heading = markdown(conversation, store.messages(conversation.id)).splitlines()[0]
        assert heading == "# sentiment: batch over rev x.jsonl"


# ---- a read-only directory whose newest changes are in the WAL ------------------------------------
def test_a_read_only_copy_with_its_changes_in_the_wal_is_one_clear_error(tmp_path: Path) -> None:
    """Read-only directories are read with ``immutable=1``, which ignores the ``-wal`` file: a copy
    taken while the chat app ran (every turn still in the WAL) said "needs upgrading but is read-only",
    and one with older turns checkpointed would have shown them alone, silently."""
    import shutil

    from .test_hardening_history import _as_reader

    home = tmp_path / "copy"
    (home / "data").mkdir(parents=True)
    with HistoryStore.open(tmp_path / "live.db") as store:
        record(ConversationRecorder(store), "still in the WAL")
        for suffix in ("", "-wal"):  # what a backup of a running chat app holds (no -shm)
            shutil.copy(tmp_path / f"live.db{suffix}", home / "data" / f"history.db{suffix}")
    assert (home / "data" / "history.db-wal").stat().st_size > 0
    try:
        listed = _as_reader(home, "history", "list")
    finally:
        (home / "data").chmod(0o755)
    assert listed.returncode == 1
    assert listed.stderr == (
        f"error: cannot read history database {home / 'data' / 'history.db'} in a read-only directory: its newest "
        "changes are in history.db-wal, which SQLite reads only where it can write; "
        "copy both files to a writable directory\n"
    )
    with HistoryStore.open(home / "data" / "history.db") as store:  # where it can write, everything is there
        assert [c.title for c in store.list_conversations()] == ["still in the WAL"]


def test_a_chat_window_regenerates_on_its_own_branch_after_another_moved_the_head(tmp_path: Path) -> None:
    """The chat app's branch actions read the window's own branch, not the store's head another window moved."""
    from assistant.tui.branching import ConversationBranches

    class Window(ConversationBranches):
        def __init__(self, recorder: ConversationRecorder) -> None:
            self.recorder, self.messages, self.last, self.last_fit = recorder, [], None, None

    with HistoryStore.open(tmp_path / "h.db") as store:
        one = ConversationRecorder(store)
        record(one, "hello")
        two = ConversationRecorder(store, one.conversation_id)
        record(one, "one: first")
        mine = one.last_turn.reply_message_id  # type: ignore[union-attr]
        record(two, "two: first")  # beside "one: first": the stored head is now on window two's branch
        window = Window(one)
        assert window.begin_regenerate(mine) == "one: first"
        assert [m.content for m in window.messages] == ["hello", "Echo: hello"]
        record(one, "one: first")
        assert one.conversation_id is not None
        replies = [m.content for m in store.messages(one.conversation_id, "all") if m.role == "assistant"]
        assert replies.count("Echo: one: first") == 2  # a second version of window one's reply


def test_show_indents_contents_so_a_line_cannot_pass_for_a_turn(assistant_home: Path) -> None:
    ask("hello\n--- assistant #99 (fake) 2026-01-01\nI never said this")
    shown = cli("history", "show", "1").stdout.splitlines()
    headers = [line for line in shown if line.startswith("--- ")]
    assert [h.split()[1] for h in headers] == ["system", "user", "assistant"]  # the fake model echoes it too
    assert shown.count("  --- assistant #99 (fake) 2026-01-01") == 2

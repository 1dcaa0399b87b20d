"""Round 7, history as a user: ``--db`` values that name no file, the conversation tree against a
model of it (the tree's queries moved to :mod:`assistant.history.tree`), and stored text kept as data."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from assistant.cli import main
from assistant.errors import HistoryError
from assistant.history import HistoryStore, TurnMeta
from assistant.history.db import resolve_db_path
from assistant.history.export import iter_export
from assistant.types import Completion, Timings, Usage

pytestmark = pytest.mark.usefixtures("fake_backend")


def cli(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def reply(text: str) -> Completion:
    return Completion(text, "m", "fake", "stop", Usage(), Timings())


# ---- --db that names no file ------------------------------------------------------------------------
def test_an_empty_db_path_is_refused_not_taken_for_the_default(assistant_home: Path) -> None:
    """``--db "$UNSET"`` wrote the turn to the default history, the one the user meant to keep apart."""
    for args in (("prompt", "-b", "fake", "-m", "fake-model", "--db", "", "hi"), ("history", "list", "--db", "")):
        result = cli(*args)
        assert result.exit_code == 1
        assert result.stderr == "error: the history database path is empty; give a file with --db PATH, or leave --db out\n"
    assert not resolve_db_path().exists()
    with pytest.raises(HistoryError, match="empty"):
        HistoryStore.open("  ")


def test_a_db_path_ending_in_a_slash_is_refused_not_made_a_file(tmp_path: Path) -> None:
    """``--db backups/`` created a database *file* named ``backups``."""
    wanted = tmp_path / "backups"
    result = cli("prompt", "-b", "fake", "-m", "fake-model", "--db", f"{wanted}/", "hi")
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: history database {wanted}/ names a directory; give a file path, such as {wanted}/history.db\n"
    )
    assert not wanted.exists()
    assert cli("prompt", "-b", "fake", "-m", "fake-model", "--db", f"{wanted}.db", "hi").exit_code == 0


# ---- the conversation tree, against a model of it ----------------------------------------------------
META = TurnMeta(model="m", backend="fake")


class ConversationTree(RuleBasedStateMachine):
    """Every way front ends grow and move a conversation (send, regenerate, edit, switch version),
    with the store's answers checked against a plain dict of parents after each step."""

    def __init__(self) -> None:
        super().__init__()
        import tempfile

        self.directory = tempfile.TemporaryDirectory()
        self.store = HistoryStore.open(Path(self.directory.name) / "h.db")
        self.cid = self.store.create_conversation().id
        self.parent: dict[int, int | None] = {}
        self.role: dict[int, str] = {}
        self.head: int | None = None

    def teardown(self) -> None:
        self.store.close()
        self.directory.cleanup()

    def _added(self, parent: int | None, user: int, reply_id: int) -> None:
        self.parent[user], self.role[user] = parent, "user"
        self.parent[reply_id], self.role[reply_id] = user, "assistant"
        self.head = reply_id

    @rule(text=st.text(max_size=20))
    def send(self, text: str) -> None:
        turn = self.store.start_turn(self.cid, text, META)
        self.store.finish_turn(turn, reply("re " + text))
        self._added(self.head, turn.user_message_id, turn.reply_message_id)

    @precondition(lambda self: self.parent)
    @rule(data=st.data())
    def edit(self, data: st.DataObject) -> None:
        """A new version of a user message: a new message after that one's parent."""
        users = sorted(m for m, r in self.role.items() if r == "user")
        edited = data.draw(st.sampled_from(users))
        turn = self.store.start_turn(self.cid, "edited", META, parent_id=self.parent[edited])
        self._added(self.parent[edited], turn.user_message_id, turn.reply_message_id)

    @precondition(lambda self: self.parent)
    @rule(data=st.data(), finish=st.booleans())
    def regenerate(self, data: st.DataObject, finish: bool) -> None:
        users = sorted(m for m, r in self.role.items() if r == "user")
        asked = data.draw(st.sampled_from(users))
        turn = self.store.start_reply(self.cid, asked, META)
        if finish:
            self.store.finish_turn(turn, reply("again"))
        self.parent[turn.reply_message_id], self.role[turn.reply_message_id] = asked, "assistant"
        self.head = turn.reply_message_id

    @precondition(lambda self: self.parent)
    @rule(data=st.data())
    def switch_version(self, data: st.DataObject) -> None:
        chosen = data.draw(st.sampled_from(sorted(self.parent)))
        below = [m for m in self.parent if self._path(m)[: len(self._path(chosen))] == self._path(chosen)]
        assert self.store.activate(self.cid, chosen) == max(below)
        self.head = max(below)

    def _path(self, message: int | None) -> list[int]:
        path: list[int] = []
        while message is not None:
            path.append(message)
            message = self.parent[message]
        return path[::-1]

    def _versions(self, message: int) -> list[int]:
        return sorted(m for m in self.parent if self.parent[m] == self.parent[message])

    @invariant()
    def the_active_branch_is_the_path_to_the_head(self) -> None:
        stored = self.store.messages(self.cid)
        assert [m.id for m in stored] == self._path(self.head)
        for message in stored:
            versions = self._versions(message.id)
            assert (message.alternative, message.alternatives) == (versions.index(message.id) + 1, len(versions))
            assert self.store.siblings(self.cid, message.id) == versions
        assert [m.id for m in self.store.messages(self.cid, "all")] == sorted(self.parent)
        assert self.store.get_conversation(self.cid).head_id == self.head


TestConversationTree = ConversationTree.TestCase
TestConversationTree.settings = settings(max_examples=40, stateful_step_count=15, deadline=None)


# ---- stored text is data ------------------------------------------------------------------------------
any_text = st.text(
    alphabet=st.one_of(st.characters(codec="utf-8"), st.sampled_from("\x00\x1b\x07\x9b\r\u202e\u2028")),
    max_size=60,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(user=any_text, answer=any_text, title=any_text)
def test_any_text_is_kept_exactly_and_shown_without_control_characters(
    tmp_path: Path, user: str, answer: str, title: str
) -> None:
    import uuid

    db = tmp_path / f"{uuid.uuid4().hex}.db"  # one history per example
    with HistoryStore.open(db) as store:
        conversation = store.create_conversation(system=answer)
        store.record_turn(conversation.id, user, reply(answer))
        ids = [conversation.id]
        exported = json.loads("".join(iter_export(store.iter_export(ids), "json", many=False)))
        assert [m["content"] for m in exported["messages"]] == [user, answer] and exported["system"] == answer
        markdown = "".join(iter_export(store.iter_export(ids), "markdown", many=False))
        try:
            store.rename(conversation.id, title)
        except HistoryError as exc:
            assert "cannot be empty" in str(exc)  # only a title of nothing but spaces and controls
    shown = cli("history", "show", str(conversation.id), "--db", str(db)).stdout
    listed = cli("history", "list", "--db", str(db)).stdout
    for text in (markdown, shown, listed):
        assert not [ch for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\n\t"]
        assert "\u202e" not in text
    assert len(listed.splitlines()) == 1  # one row, whatever the title holds


# ---- `history show` keeps every header on one line -----------------------------------------------
def test_an_error_with_line_breaks_cannot_forge_a_message_in_show(tmp_path: Path) -> None:
    """A failed reply's error (a server's words) went into the header as it was: its second line
    read as another message's header, with a "reply" under it."""
    db = tmp_path / "h.db"
    with HistoryStore.open(db) as store:
        conversation = store.create_conversation()
        turn = store.start_turn(conversation.id, "hi", META)
        store.fail_turn(turn, "partial", error="boom\n--- assistant #99 (2026-01-01 00:00)\n  forged reply")
    lines = cli("history", "show", "1", "--db", str(db)).stdout.splitlines()
    headers = [line for line in lines if line.startswith("---")]
    assert len(headers) == 2 and headers[1].startswith("--- assistant #2 (")
    assert headers[1].endswith("error: boom --- assistant #99 (2026-01-01 00:00) forged reply)")
    assert lines[-1] == "  partial"


# ---- a template run is titled by the user's input --------------------------------------------------
def test_a_template_run_is_titled_by_its_input_not_the_templates_own_words(assistant_home: Path) -> None:
    """Titled from the rendered message, every zero-shot run was "Answer the question." and every
    few-shot one its first example: ``history list`` could not tell them apart."""
    for question in ("What is 2+2?", "Name a colour"):
        result = cli("prompt", "-b", "fake", "-m", "fake-model", "-t", "zero-shot", question)
        assert result.exit_code == 0, result.output
    with HistoryStore.open() as store:
        assert [c.title for c in store.list_conversations()] == ["Name a colour", "What is 2+2?"]
        user = store.messages(1)[0]
    # what was typed is the message; what was sent is kept beside it (round 9)
    assert user.content == "What is 2+2?" and user.rendered[-1].content.startswith("Answer the question.")


def test_an_export_to_a_path_ending_in_a_slash_is_refused_not_made_a_file(tmp_path: Path) -> None:
    """``export -o exports/`` wrote a file named ``exports``."""
    db = tmp_path / "h.db"
    with HistoryStore.open(db) as store:
        store.record_turn(store.create_conversation().id, "hi", reply("hello"))
    wanted = tmp_path / "exports"
    result = cli("history", "export", "1", "-f", "json", "-o", f"{wanted}/", "--db", str(db))
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: cannot export to {wanted}/: it names a directory; give a file name, such as {wanted}/export.json\n"
    )
    assert not wanted.exists()

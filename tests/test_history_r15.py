"""Round 15, history: a model given by path is continued by its path; message ids are never given twice."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner, Result

from assistant.backends.fake import FakeBackend, FakeBackendPlugin
from assistant.cli import main
from assistant.errors import ModelNotFoundError
from assistant.history import HistoryStore, TurnMeta
from assistant.history.db import connect
from assistant.history.migrations import migrations
from assistant.history.model_refs import model_ref_of
from assistant.history.session_link import link_history
from assistant.plugins import register_plugin

STAMP = "2026-01-01T00:00:00+00:00"


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


class PathNamedFake(FakeBackend):
    """The fake engine naming a model as llama-cpp and transformers do: a file given by path by its
    file name, with the path in ``info()``; a path that is not a file is "model file not found"."""

    def load(self, model: str, **options: Any) -> None:
        path = Path(os.path.expanduser(model))
        if not path.is_file():
            raise ModelNotFoundError(f"model file not found: {model}")
        super().load(model, **options)
        self._model_name = path.name if Path(model).exists() else model
        self.path = str(path)

    def info(self) -> dict[str, Any]:
        return {**super().info(), "path": self.path}


@pytest.fixture
def path_fake() -> list[str]:
    """``-b fake`` is :class:`PathNamedFake`; the models it was asked to load, in order."""
    loads: list[str] = []

    def factory() -> FakeBackend:
        backend = PathNamedFake(reply="Hi.")
        load = backend.load

        def recording(model: str, **options: Any) -> None:
            loads.append(model)
            load(model, **options)

        backend.load = recording  # type: ignore[method-assign]
        return backend

    register_plugin(FakeBackendPlugin(factory), name="path-named-fake")
    return loads


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "somewhere" / "x.gguf"
    path.parent.mkdir()
    path.write_bytes(b"GGUF")
    return path


# ---- known item 1: a model given by path ------------------------------------------------------------
def test_prompt_c_continues_with_the_model_given_by_path(path_fake: list[str], model_file: Path) -> None:
    """`prompt -m /dir/x.gguf`, then `prompt -c`: "model file not found: x.gguf" (the reply keeps the file name)."""
    first = cli("prompt", "-b", "fake", "-m", str(model_file), "Hello")
    assert first.exit_code == 0, first.output
    again = cli("prompt", "-c", "More")
    assert again.exit_code == 0, again.output
    assert path_fake == [str(model_file), str(model_file)]
    listed = cli("history", "list")
    assert "x.gguf" in listed.output and str(model_file) not in listed.output  # shown by its short name
    with HistoryStore.open() as store:
        replies = [m for m in store.messages(1) if m.role == "assistant"]
        assert [(m.model, m.model_ref) for m in replies] == [("x.gguf", str(model_file))] * 2


def test_a_relative_path_is_kept_absolute(
    path_fake: list[str], model_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(model_file.parent.parent)
    assert cli("prompt", "-b", "fake", "-m", "somewhere/x.gguf", "Hello").exit_code == 0
    monkeypatch.chdir(tmp_path / "home")
    again = cli("prompt", "-c", "More")
    assert again.exit_code == 0, again.output
    assert path_fake[-1] == str(model_file)


def test_a_model_file_since_gone_is_named_by_its_path(path_fake: list[str], model_file: Path) -> None:
    assert cli("prompt", "-b", "fake", "-m", str(model_file), "Hello").exit_code == 0
    model_file.unlink()
    again = cli("prompt", "-c", "More")
    assert again.exit_code == 1
    assert again.output.count("\n") == 1 and f"model file not found: {model_file}" in again.output


def test_a_reply_stopped_before_its_first_word_still_continues_by_path(path_fake: list[str], model_file: Path) -> None:
    """No reply was written (Esc before the first token): continuing fell back to the conversation's
    model, its short name."""
    with HistoryStore.open() as store:
        meta = TurnMeta(model="x.gguf", backend="fake", model_ref=str(model_file))
        conversation = store.create_conversation(meta=meta)
        turn = store.start_turn(conversation.id, "Hello", meta)
        store.fail_turn(turn, "", status="interrupted")
    again = cli("prompt", "-c", "More")
    assert again.exit_code == 0, again.output
    assert path_fake == [str(model_file)]


def test_chat_c_opens_with_the_model_given_by_path(
    path_fake: list[str], model_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`assistant chat -c` after a chat with `-m /dir/x.gguf`: the app was given `x.gguf` to load."""
    assert cli("prompt", "-b", "fake", "-m", str(model_file), "Hello").exit_code == 0
    opened = _open_chat_app(monkeypatch, "-c")
    assert [(settings.model, settings.backend) for settings in opened] == [(str(model_file), "fake")]


def _open_chat_app(monkeypatch: pytest.MonkeyPatch, *args: str) -> list[Any]:
    """Run `assistant chat ARGS` up to the app, which is not run: the settings it was given, one entry per run."""
    from assistant.tui import ChatApp

    opened: list[Any] = []
    monkeypatch.setattr(ChatApp, "run", lambda app: opened.append(app.controller.settings))
    terminal = SimpleNamespace(isatty=lambda: True)
    monkeypatch.setattr("assistant.cli.chat.sys", SimpleNamespace(stdin=terminal, stdout=terminal))
    result = cli("chat", *args)
    assert result.exit_code == 0, result.output
    return opened


def test_chat_c_opens_with_the_newest_replys_template(fake_backend: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """A chat moved from a template to plain chat (F2) came back under the template with `chat -c`: the
    conversation row keeps the first turn's, while the sidebar reopened it with the newest reply's."""
    from assistant.types import Completion, Timings, Usage

    with HistoryStore.open() as store:
        first = TurnMeta(model="m", backend="fake", template="chain-of-thought")
        conversation = store.create_conversation(meta=first)
        for text, meta in (("Hello", first), ("More", TurnMeta(model="m", backend="fake"))):
            turn = store.start_turn(conversation.id, text, meta)
            store.finish_turn(turn, Completion("Ok.", "m", "fake", "stop", Usage(), Timings()))
    assert [settings.template for settings in _open_chat_app(monkeypatch, "-c")] == [None]


def test_chat_c_without_a_reply_keeps_the_template_it_began_with(
    fake_backend: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with HistoryStore.open() as store:
        meta = TurnMeta(model="m", backend="fake", template="chain-of-thought")
        store.start_turn(store.create_conversation(meta=meta).id, "Hello", meta)
    assert [settings.template for settings in _open_chat_app(monkeypatch, "-c")] == ["chain-of-thought"]


def test_reopening_in_the_chat_app_loads_the_model_by_its_path(model_file: Path) -> None:
    """The sidebar's reopening loaded the reply's short name: `x.gguf`, not found, over another model."""
    from .tui_support import make_app, register_fake, run_pilot, type_and_send, wait_idle, wait_until

    loads: list[str] = []

    class Recording(PathNamedFake):
        def load(self, model: str, **options: Any) -> None:
            loads.append(model)
            if model == "other-model":
                FakeBackend.load(self, model, **options)
                self.path = ""
                return
            super().load(model, **options)

    app = make_app(model=str(model_file))
    register_fake(lambda: Recording(reply="Hi."))

    async def scenario(pilot: Any) -> None:
        screen = app.chat_screen
        await type_and_send(pilot, "Hello there")
        await wait_idle(pilot)
        conversation_id = app.controller.conversation_id
        await screen.action_new_conversation()
        screen.load_model("other-model", "fake")
        await wait_until(pilot, lambda: not screen.model_loading and app.controller.ready, what="other-model")
        await screen.open_conversation(conversation_id)
        await wait_until(pilot, lambda: not screen.model_loading, what="the reload")
        assert loads[-1] == str(model_file)
        assert app.controller.backend is not None and app.controller.backend.model_name == "x.gguf"
        await screen.action_new_conversation()
        await screen.open_conversation(conversation_id)  # the model in use: not loaded again over itself
        await pilot.pause()
        assert not screen.model_loading and len(loads) == 3
        assert not [n for n in app._notifications if n.severity == "error"]

    run_pilot(app, scenario)


def test_which_models_need_their_path_kept(models_dir: Path, model_file: Path) -> None:
    """Catalog names, hf: references, URLs and files of the models directory load by their name."""

    def engine(name: str, path: str, catalog_models: bool = True) -> Any:
        capabilities = SimpleNamespace(catalog_models=catalog_models)
        return SimpleNamespace(model_name=name, capabilities=capabilities, info=lambda: {"path": path})

    (models_dir / "local.gguf").write_bytes(b"GGUF")
    assert model_ref_of(engine("x.gguf", str(model_file))) == str(model_file)
    assert model_ref_of(engine("smollm2", str(models_dir / "SmolLM2.gguf"))) is None
    assert model_ref_of(engine("hf:org/repo/file.gguf", "/cache/file.gguf")) is None
    assert model_ref_of(engine("https://example.com/m/file.gguf", "/cache/file.gguf")) is None
    assert model_ref_of(engine("local.gguf", str(models_dir / "local.gguf"))) is None
    assert model_ref_of(engine("x.gguf", str(model_file), catalog_models=False)) is None  # a server's model


# ---- known item 2: message ids ------------------------------------------------------------------------
def test_a_deleted_conversations_message_ids_are_not_given_again(tmp_path: Path) -> None:
    with HistoryStore.open(tmp_path / "h.db") as store:
        kept = store.create_conversation()
        store.start_turn(kept.id, "kept words")
        newest = store.create_conversation()
        gone = store.start_turn(newest.id, "deleted words")
        store.delete(newest.id)
        again = store.start_turn(store.create_conversation().id, "new words")
        assert again.user_message_id == gone.reply_message_id + 1
        assert [h.message_id for h in store.search("words")] == [again.user_message_id, 1]


def _previous_version_file(path: Path) -> list[str]:
    """A history as the previous version wrote it (schema up to 0012) with real turns: branches, a
    completion prompt stored as a delta, coloured text, the newest conversation deleted. Its message columns."""
    db = connect(path)
    migrations.apply(db, stop_before="0013_message_ids_never_reused")
    for cid in (1, 2, 3):
        db.execute(
            "INSERT INTO conversations (id, title, created, updated, model, backend, kind)"
            " VALUES (?, ?, ?, ?, 'x.gguf', 'fake', 'chat')", [cid, f"c{cid}", STAMP, STAMP],
        )
    rows = [  # id, conversation, role, content, parent
        (1, 1, "user", "legacy unicorn", None), (2, 1, "assistant", "first answer", 1),
        (3, 1, "assistant", "\x1b[31mred\x1b[0m regenerated", 1), (4, 2, "user", "second talk", None),
        (5, 2, "assistant", "more words", 4), (6, 3, "user", "soon gone", None), (7, 3, "assistant", "bye", 6),
    ]
    for message_id, cid, role, content, parent in rows:
        db.execute(
            "INSERT INTO messages (id, conversation_id, role, content, searchable, created, model, backend,"
            " status, parent_id) VALUES (?, ?, ?, ?, ?, ?, 'x.gguf', 'fake', 'complete', ?)",
            [message_id, cid, role, content, "red regenerated" if "\x1b" in content else None, STAMP, parent],
        )
    db.execute("UPDATE messages SET completion_prompt = 'Once' WHERE id = 2")
    db.execute(
        "UPDATE messages SET completion_prompt_base = 2, completion_prompt_keep = 4, completion_prompt_added = ' more'"
        " WHERE id = 5"
    )
    for cid, head in ((1, 3), (2, 5), (3, 7)):
        db.execute("UPDATE conversations SET head_id = ? WHERE id = ?", [head, cid])
    db.execute("DELETE FROM conversations WHERE id = 3")  # its messages go by ON DELETE CASCADE
    db.conn.commit()
    columns = [row[1] for row in db.execute("PRAGMA table_info(messages)").fetchall()]
    db.close()
    return columns


def _rows(path: Path, columns: list[str]) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"SELECT {', '.join(columns)} FROM messages ORDER BY id").fetchall()
    finally:
        conn.close()


def test_upgrading_the_previous_schema_keeps_every_message_and_never_reuses_ids(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    columns = _previous_version_file(path)
    before = _rows(path, columns)
    assert [row[0] for row in before] == [1, 2, 3, 4, 5]
    with HistoryStore.open(path) as store:
        assert _rows(path, columns) == before  # every column of every row, ids and parent links as they were
        assert store.db.execute("PRAGMA foreign_key_check").fetchall() == []
        assert [m.id for m in store.messages(1)] == [1, 3] and store.messages(1)[1].alternatives == 2
        assert store.messages(2)[1].completion_prompt == "Once more"  # its base found by its id
        # the search index still finds the old rows, by the words a user sees
        assert [h.message_id for h in store.search("unicorn")] == [1]
        assert [h.message_id for h in store.search("red")] == [3]
        store.delete(2)
        assert store.search("talk") == []  # the delete trigger is there
        turn = store.start_turn(store.create_conversation().id, "a fresh unicorn")
        assert turn.user_message_id == 6  # 5 was the largest id kept (6 and 7 were deleted before: unknown)
        assert sorted(h.message_id for h in store.search("unicorn")) == [1, 6]  # the insert trigger too
        store.checkpoint(turn, "partial words")
        assert [h.message_id for h in store.search("partial")] == [turn.reply_message_id]  # and the update one
        store.delete(turn.conversation_id)
        again = store.start_turn(store.create_conversation().id, "after")
        assert again.user_message_id == turn.reply_message_id + 1  # from now on, never given again
        store.delete(1)  # messages still go with their conversation (ON DELETE CASCADE kept)
        assert store.db.execute("SELECT count(*) FROM messages WHERE conversation_id = 1").fetchone()[0] == 0


def test_a_column_the_user_added_to_messages_is_kept_by_the_upgrade(tmp_path: Path) -> None:
    """Made again, the table kept the columns the history knows: `sqlite-utils add-column ... rating`'s were gone."""
    path = tmp_path / "old.db"
    _previous_version_file(path)
    conn = sqlite3.connect(path)
    conn.execute('ALTER TABLE messages ADD COLUMN "my ""rating""" INTEGER')
    conn.execute('UPDATE messages SET "my ""rating""" = id * 10')
    conn.commit()
    conn.close()
    with HistoryStore.open(path) as store:
        rows = store.db.execute('SELECT id, "my ""rating""" FROM messages ORDER BY id').fetchall()
        assert rows == [(1, 10), (2, 20), (3, 30), (4, 40), (5, 50)]
        assert [h.message_id for h in store.search("unicorn")] == [1]


def test_old_rows_without_a_reference_continue_by_their_name(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _previous_version_file(path)
    link = link_history(str(path), continue_latest=True)
    try:
        assert (link.model, link.backend) == ("x.gguf", "fake")
    finally:
        link.close()


# ---- the whole path, on the real engine ---------------------------------------------------------------
@pytest.mark.model
def test_llama_cpp_prompt_c_after_a_model_given_by_path(tmp_path: Path, smollm2_path: Path) -> None:
    directory = tmp_path / "elsewhere"
    directory.mkdir()
    model = directory / "x.gguf"
    model.symlink_to(smollm2_path)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "assistant", "prompt", "-o", "max_tokens=4", "-o", "temperature=0", *args],
            capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path,
        )

    assert run("-m", str(model), "Hi").returncode == 0
    again = run("-c", "More")
    assert again.returncode == 0, again.stderr
    shutil.move(model, directory / "y.gguf")
    gone = run("-c", "More")
    assert gone.returncode == 1
    assert gone.stderr.strip().splitlines() == [
        f"error: model file not found: {model}; conversation 1 used it: continue it with another with -m"
    ]

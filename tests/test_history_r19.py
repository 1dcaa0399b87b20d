"""Round 19, batches, history and model references.

1. A batch killed after its first row's turn was recorded and before that row's line was written: no line
   named the conversation, so ``--resume`` began a second one and recorded the row again.
2. A template batch whose template has no ``input`` variable: a turn left unwritten by a kill could not be
   matched to its row (no text to compare), so ``--resume`` recorded the row a second time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from assistant.backends.fake import FakeBackend
from assistant.cli import main


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _conversations() -> list[tuple[int, str]]:
    from assistant.history.store import HistoryStore

    with HistoryStore.open() as store:
        return [(c.id, c.kind) for c in store.list_conversations(limit=100)]


def _said(conversation_id: int) -> list[str]:
    from assistant.history.store import HistoryStore

    with HistoryStore.open() as store:
        return [m.content for m in store.messages(conversation_id, "all") if m.role == "user"]


class Killed(BaseException):
    """A kill -9: nothing after it runs (not caught as an error, no line written in a ``finally``)."""


def _killed_before_line(monkeypatch: pytest.MonkeyPatch, number: int) -> None:
    """The run dies after the turn of the ``number``-th line is recorded, before that line is written."""
    import assistant.batch.runner as runner

    real = runner.json_text
    written: list[int] = []

    def write_or_die(record: Any) -> str:
        written.append(1)
        if len(written) == number:
            raise Killed
        return real(record)

    monkeypatch.setattr(runner, "json_text", write_or_die)


# ---- known item 1: killed before the first line ----------------------------------------------------------
@pytest.mark.parametrize("kind", ["template", "tool"])
def test_a_batch_killed_before_its_first_line_resumes_in_its_conversation(
    kind: str, fakes: list[FakeBackend], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    rows.write_text('"one"\n"two"\n"three"\n')
    command = ["prompt", "-t", "chat"] if kind == "template" else ["sentiment"]
    base = [*command, "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out)]
    with monkeypatch.context() as patch:
        _killed_before_line(patch, 1)
        with pytest.raises(Killed):
            cli(*base)
    assert out.read_text() == ""  # the first row's turn is recorded, no line names it
    [(conversation, _)] = _conversations()
    assert _said(conversation) == ["one"]
    resumed = cli(*base, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert "3 ok, 0 failed of 3 rows" in resumed.output and f"conversation {conversation})" in resumed.output
    assert _conversations() == [(conversation, "batch")]  # no second conversation
    assert _said(conversation) == ["one", "two", "three"]  # "one" once: its turn got a second reply
    assert {line["conversation_id"] for line in _lines(out)} == {conversation}


def test_a_batch_killed_before_a_later_line_still_resumes_as_before(
    fakes: list[FakeBackend], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    rows.write_text('"one"\n"two"\n"three"\n')
    base = ["sentiment", "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out)]
    with monkeypatch.context() as patch:
        _killed_before_line(patch, 2)
        with pytest.raises(Killed):
            cli(*base)
    [(conversation, _)] = _conversations()
    assert cli(*base, "--resume").exit_code == 0
    assert _said(conversation) == ["one", "two", "three"]


def test_a_finished_batch_run_again_with_force_and_killed_starts_its_own_conversation(
    fakes: list[FakeBackend], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The earlier run's conversation is this results file's too, but lines were written after its turns:
    the resume continues the conversation of the run that was killed, not the finished one."""
    rows, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    rows.write_text('"one"\n"two"\n')
    base = ["sentiment", "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out)]
    assert cli(*base).exit_code == 0
    [(first, _)] = _conversations()
    with monkeypatch.context() as patch:
        _killed_before_line(patch, 1)
        with pytest.raises(Killed):
            cli(*base, "--force")
    second = max(cid for cid, _ in _conversations())
    assert second != first
    assert cli(*base, "--resume").exit_code == 0
    assert len(_conversations()) == 2
    assert _said(first) == ["one", "two"] and _said(second) == ["one", "two"]


def test_a_file_emptied_by_hand_is_no_killed_run(fakes: list[FakeBackend], tmp_path: Path) -> None:
    """A finished batch's file emptied and resumed: its conversation's newest turn has its line written,
    so it is not taken for a turn a kill left, and the rows go to a new conversation as before."""
    rows, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    rows.write_text('"one"\n"two"\n')
    base = ["sentiment", "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out)]
    assert cli(*base).exit_code == 0
    [(first, _)] = _conversations()
    out.write_text("")
    assert cli(*base, "--resume").exit_code == 0
    assert _said(first) == ["one", "two"]
    assert len(_conversations()) == 2


# ---- known item 2: a template without an input variable --------------------------------------------------
NO_INPUT = "---\nvariables: [name, city]\n---\nWrite a greeting for {{ name }} from {{ city }}.\n"


@pytest.mark.parametrize("killed_at", [1, 2])
def test_a_template_without_input_resumed_after_a_kill_records_no_second_turn(
    killed_at: int, fakes: list[FakeBackend], user_templates: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assistant.history.store import HistoryStore

    (user_templates / "greet.jinja").write_text(NO_INPUT)
    rows, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    rows.write_text(
        '{"id": "a", "name": "Ann", "city": "Oslo"}\n{"id": "b", "name": "Bo", "city": "Rome"}\n'
        '{"id": "c", "name": "Cy", "city": "Lima"}\n'
    )
    base = ["prompt", "-t", "greet", "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out)]
    with monkeypatch.context() as patch:
        _killed_before_line(patch, killed_at)
        with pytest.raises(Killed):
            cli(*base)
    [(conversation, _)] = _conversations()
    resumed = cli(*base, "--resume")
    assert resumed.exit_code == 0, resumed.output
    said = _said(conversation)
    assert len(said) == 3 and len(set(said)) == 3, said  # each row's turn once
    with HistoryStore.open() as store:
        shown = store.messages(conversation)
    assert [m.content for m in shown if m.role == "user"] == said
    assert [line["id"] for line in _lines(out)] == ["a", "b", "c"]


# ---- known item 4: snippets only where shown -------------------------------------------------------------
def test_a_search_per_conversation_makes_a_snippet_for_each_conversation_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The chat app's sidebar shows one hit per conversation: the snippets of the others (a query of the
    index each) were made to be dropped. ``history search`` still gets every hit, each with its snippet."""
    import assistant.history.search as search
    from assistant.history.records import TurnMeta
    from assistant.history.store import HistoryStore

    made: list[int] = []
    real = search.marked_snippet

    def counted(db: Any, message_id: int, match: str, query: str) -> Any:
        made.append(message_id)
        return real(db, message_id, match, query)

    monkeypatch.setattr(search, "marked_snippet", counted)
    with HistoryStore.open() as store:
        for title in ("first", "second"):
            conversation = store.create_conversation(title=title, meta=TurnMeta())
            for n in range(3):
                store.start_turn(conversation.id, f"a walrus {title} {n}", TurnMeta())
        hits = store.search("walrus", limit=50, marked=True, per_conversation=True)
        assert sorted(hit.conversation_title for hit in hits) == ["first", "second"]
        assert sorted(made) == sorted(hit.message_id for hit in hits)
        made.clear()
        every = store.search("walrus", limit=50)
        assert len(every) == 6 and len(made) == 6 and all("[walrus]" in hit.snippet for hit in every)


# ---- known item 3: models rm of a model a running program holds ------------------------------------------
HOLDER = (
    "import mmap, sys\n"
    "f = open(sys.argv[1], 'rb'); m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ); f.close()\n"
    "print('ready', flush=True); sys.stdin.readline()\n"
)


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc (Linux)")
def test_models_rm_refuses_a_model_a_running_program_has_mapped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a chat that loaded it does (llama.cpp maps the file): deleted under it, the space stayed taken and
    its next load failed. Refused in one line; once the program is gone (killed: nothing left behind), removed."""
    import signal
    import subprocess
    import sys

    models = tmp_path / "models"
    models.mkdir()
    model = models / "tiny.gguf"
    model.write_bytes(b"GGUF" + bytes(60))
    monkeypatch.setenv("ASSISTANT_MODELS_DIR", str(models))
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(model)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        refused = cli("models", "rm", "-y", "tiny")
        assert refused.exit_code == 1, refused.output
        [line] = refused.output.strip().splitlines()
        assert f"pid {holder.pid}" in line and "in use" in line
        assert model.exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    removed = cli("models", "rm", "-y", "tiny")
    assert removed.exit_code == 0, removed.output
    assert not model.exists()


def test_a_wrong_batch_row_is_one_history_error_before_anything_is_written() -> None:
    from assistant.errors import HistoryError
    from assistant.history.batch_turns import BatchRow
    from assistant.history.records import TurnMeta
    from assistant.history.store import HistoryStore

    with HistoryStore.open() as store:
        conversation = store.create_conversation(title="t", meta=TurnMeta(), kind="batch")
        for wrong in ("row 1", BatchRow("/out.jsonl", -1, 1), BatchRow("/out.jsonl", 0, 1, {1, 2})):
            with pytest.raises(HistoryError):
                store.start_turn(conversation.id, "hi", TurnMeta(), batch_row=wrong)  # type: ignore[arg-type]
        assert store.messages(conversation.id, "all") == []
        store.start_turn(conversation.id, "hi", TurnMeta(), batch_row=BatchRow("/out.jsonl", 0, 1, "a"))
        kept = store.batch_turn(conversation.id)
        assert kept is not None and kept[1] == BatchRow("/out.jsonl", 0, 1, "a")

"""Round 16, batches, history and model references.

1. ``--resume`` compared the model's short name: ``-m /a/x.gguf`` and ``-m /b/x.gguf`` are both
   ``x.gguf``, so a batch half answered by one file was finished by the other without a word.
2. ``assistant/models/refs.py`` reached the size limit: split (``ref_types``, ``snapshots``), its
   names still importable from ``refs``.
3. A tool batch row ``{"text": 5}`` was classified as the text ``"5"`` (a list as its JSON).

Found using them: one model file named two ways refused on ``--resume``; ``models rm`` without a
terminal answered with click's three-line usage error; a history database locked mid-batch ended
the batch on "…; try again" without the way on (``--resume``); ``history repair`` of a file cut
short sent the user to an export that sent them back; a broken ``pulled.json`` was "Expecting
value: line 1 column 1"; rows whose text is null were refused as having no text field ("its
fields: text"); a ``--resume`` after rows were inserted or corrected kept results of other rows.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from assistant.backends.fake import FakeBackend, FakeBackendPlugin
from assistant.cli import main
from assistant.errors import ModelNotFoundError
from assistant.plugins import register_plugin


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


class PathNamedFake(FakeBackend):
    """The fake engine naming a model given by path as llama-cpp does: by its file name, the path in ``info()``."""

    def load(self, model: str, **options: Any) -> None:
        path = Path(os.path.expanduser(model))
        if not path.is_file():
            raise ModelNotFoundError(f"model file not found: {model}")
        super().load(model, **options)
        self._model_name = path.name
        self.path = str(path)

    def info(self) -> dict[str, Any]:
        return {**super().info(), "path": self.path}


@pytest.fixture
def path_fake() -> None:
    register_plugin(FakeBackendPlugin(lambda: PathNamedFake(reply="positive")), name="fake-path-named")


@pytest.fixture
def two_files(tmp_path: Path) -> tuple[Path, Path]:
    """Two different model files of one name, ``x.gguf``, in two directories."""
    made = []
    for directory in ("a", "b"):
        path = tmp_path / directory / "x.gguf"
        path.parent.mkdir()
        path.write_bytes(b"GGUF" + directory.encode())
        made.append(path)
    return made[0], made[1]


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# ---- known item 1: --resume with another file of the same name --------------------------------------
@pytest.mark.parametrize("kind", ["tool", "template"])
def test_resume_refuses_another_file_of_the_same_name(
    path_fake: None, two_files: tuple[Path, Path], tmp_path: Path, kind: str
) -> None:
    first, other = two_files
    rows, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    rows.write_text('{"text": "good"}\n{"text": "bad"}\n')
    command = ["sentiment"] if kind == "tool" else ["prompt", "-t", "chat"]

    def run(model: Path, *extra: str) -> Result:
        return cli(*command, "-b", "fake", "-m", str(model), "--batch", str(rows), "--out", str(out), "--no-log", *extra)

    assert run(first).exit_code == 0
    kept = out.read_text().splitlines(keepends=True)
    assert {line["model_ref"] for line in _lines(out)} == {str(first)}
    out.write_text(kept[0])  # stopped after row 1
    refused = run(other, "--resume")
    assert refused.exit_code != 0
    assert f"ran on {first} (fake), this run on {other} (fake)" in refused.output
    assert "Traceback" not in refused.output and len(refused.output.strip().splitlines()) == 1
    assert out.read_text() == kept[0]  # nothing added
    again = run(first, "--resume")  # the same file: resumed
    assert again.exit_code == 0, again.output
    assert [line["row"] for line in _lines(out)] == [1, 2]


def test_resume_takes_one_file_reached_by_two_paths(path_fake: None, two_files: tuple[Path, Path], tmp_path: Path) -> None:
    first, _ = two_files
    link = tmp_path / "link"
    link.symlink_to(first.parent)
    rows, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    rows.write_text('{"text": "good"}\n{"text": "bad"}\n')
    base = ["sentiment", "-b", "fake", "--batch", str(rows), "--out", str(out), "--no-log"]
    assert cli(*base, "-m", str(first)).exit_code == 0
    out.write_text(out.read_text().splitlines(keepends=True)[0])
    resumed = cli(*base, "-m", str(link / "x.gguf"), "--resume")
    assert resumed.exit_code == 0, resumed.output


def test_a_line_of_an_older_version_without_model_ref_is_compared_by_name(
    path_fake: None, two_files: tuple[Path, Path], tmp_path: Path
) -> None:
    first, other = two_files
    rows, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    rows.write_text('{"text": "good"}\n{"text": "bad"}\n')
    base = ["sentiment", "-b", "fake", "--batch", str(rows), "--out", str(out), "--no-log"]
    assert cli(*base, "-m", str(first)).exit_code == 0
    old = _lines(out)[0]
    del old["model_ref"]
    out.write_text(json.dumps(old) + "\n")
    assert cli(*base, "-m", str(other), "--resume").exit_code == 0  # nothing on the line tells them apart


def test_resume_takes_one_file_named_two_ways(models_dir: Path, tmp_path: Path) -> None:
    """`-m smollm2` then `-m ~/.local/share/assistant/models/SmolLM2-….gguf` was refused: "ran on
    smollm2, this run on SmolLM2-135M-Instruct.Q4_1.gguf", one file of the models directory."""
    from assistant.batch.provenance import check_resume_model
    from assistant.errors import ConfigError

    (models_dir / "local.gguf").write_bytes(b"GGUF1")
    (models_dir / "other.gguf").write_bytes(b"GGUF2")
    engine = PathNamedFake()
    engine.load(str(models_dir / "local.gguf"))
    out = tmp_path / "out.jsonl"
    line = {"row": 1, "id": None, "input": "a", "tool": "sentiment", "model_ref": None, "backend": "fake", "error": None}
    out.write_text(json.dumps({**line, "model": "local"}) + "\n")  # the models directory's file, named without .gguf
    check_resume_model(out, True, engine)
    out.write_text(json.dumps({**line, "model": "other"}) + "\n")
    with pytest.raises(ConfigError, match="ran on other \\(fake\\), this run on local.gguf \\(fake\\)"):
        check_resume_model(out, True, engine)
    out.write_text(json.dumps({**line, "model": "local", "backend": "llama-cpp"}) + "\n")
    with pytest.raises(ConfigError, match="ran on local \\(llama-cpp\\)"):  # another engine: another model
        check_resume_model(out, True, engine)


# ---- known item 2: refs.py split ----------------------------------------------------------------------
def test_the_moved_names_are_still_those_of_refs() -> None:
    from assistant.models import ref_types, refs, snapshots

    for name in ("CatalogRef", "LocalRef", "HubFileRef", "HubRepoRef", "UrlRef", "HubModelRef", "describe"):
        assert getattr(refs, name) is getattr(ref_types, name)
    for name in ("hf_snapshot", "hf_cache_dir", "cached_snapshot", "SNAPSHOT_PATTERNS"):
        assert getattr(refs, name) is getattr(snapshots, name)
    for module in (refs, ref_types, snapshots):
        assert module.__file__ is not None and len(Path(module.__file__).read_text().splitlines()) < 600


# ---- known item 3: a tool batch row whose text is not text --------------------------------------------
def test_a_tool_batch_refuses_a_row_whose_text_is_not_text(fakes: list[FakeBackend], tmp_path: Path) -> None:
    rows, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    rows.write_text(
        '{"text": "good"}\n{"text": 5}\n{"text": ["a", "b"]}\n{"text": {"a": 1}}\n{"text": true}\n'
        '{"text": null}\n{"id": 7, "input": 2.5}\n'
    )
    result = cli("sentiment", "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out))
    assert result.exit_code == 1
    lines = _lines(out)
    assert [line["error"] for line in lines] == [
        None,
        'row 2: "text" is a number, not text',
        'row 3: "text" is a list, not text',
        'row 4: "text" is an object, not text',
        'row 5: "text" is true, not text',
        'row 6: "text" is null, not text',
        'row 7: "input" is a number, not text',
    ]
    assert lines[6]["id"] == 7 and all(line["input"] is None for line in lines[1:])

    from assistant.history.store import HistoryStore

    with HistoryStore.open() as store:  # the refused rows are no turns: nothing the user said to record
        conversation = store.list_conversations()[0]
        said = [m.content for m in store.messages(conversation.id, "all") if m.role == "user"]
    assert said == ["good"]


def test_a_tool_batch_of_only_rows_that_are_not_text_loads_no_model(fakes: list[FakeBackend], tmp_path: Path) -> None:
    rows, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    rows.write_text('{"text": 5}\n{"text": [1]}\n')
    result = cli("sentiment", "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out), "--no-log")
    assert result.exit_code == 1
    assert not fakes  # every row fails before any model call: no model load for nothing
    assert [line["error"] for line in _lines(out)] == ['row 1: "text" is a number, not text', 'row 2: "text" is a list, not text']


def test_a_template_batch_still_takes_a_number_as_its_input(fakes: list[FakeBackend], tmp_path: Path) -> None:
    rows, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    rows.write_text('{"text": 5}\n')
    result = cli("prompt", "-t", "chat", "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out), "--no-log")
    assert result.exit_code == 0, result.output
    assert _lines(out)[0]["error"] is None and _lines(out)[0]["vars"]["input"] == "5"


# ---- models rm without -y where there is no terminal ---------------------------------------------------
@pytest.mark.parametrize("link", [False, True])
def test_models_rm_without_a_terminal_refuses_in_one_line(models_dir: Path, tmp_path: Path, link: bool) -> None:
    """It was click's usage error: "Usage: …", "Try … --help", then the error, three lines for one refusal."""
    target = models_dir / "x\x1b[31m.gguf"
    if link:
        target.symlink_to(tmp_path / "nowhere.gguf")
    else:
        target.write_bytes(b"GGUF")
    refused = cli("models", "rm", "x\x1b[31m")
    assert refused.exit_code == 2
    assert refused.output.splitlines() == [
        f"error: refusing to delete {models_dir}/x␛[31m.gguf without a terminal to ask on: pass -y"
    ]
    assert os.path.lexists(target)


# ---- a batch whose history cannot record a row ---------------------------------------------------------
def test_a_batch_whose_history_is_locked_stops_with_how_to_go_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The history locked by another program mid-batch ended it on the bare "…locked…; try again", and a
    rerun without --resume was refused for the results file it had left. Now the row's line is kept and
    the batch stops saying --resume goes on; the resumed rows join the same conversation."""
    import sqlite3

    from assistant.history import resolve_db_path

    monkeypatch.setattr("assistant.history.db.BUSY_TIMEOUT_S", 0.05)
    held: list[sqlite3.Connection] = []

    def reply(prompt: str) -> str:
        if "two" in prompt.rsplit("user", 1)[-1] and not held:  # another program takes the database
            lock = sqlite3.connect(resolve_db_path(None), isolation_level=None)
            lock.execute("BEGIN EXCLUSIVE")
            held.append(lock)
        return "ok"

    register_plugin(FakeBackendPlugin(lambda: FakeBackend(reply=reply)), name="fake-locking")
    rows, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    rows.write_text('"one"\n"two"\n"three"\n"four"\n')
    base = ["prompt", "-t", "chat", "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out)]
    stopped = cli(*base)
    assert stopped.exit_code == 1
    assert "Traceback" not in stopped.output
    assert "error: the batch stopped: row 2 could not be recorded in the history: history database" in stopped.output
    assert "rerun with --resume to run the rest" in stopped.output
    assert "batch: 2 ok, 0 failed, 2 not run of 4 rows" in stopped.output
    assert [line["row"] for line in _lines(out)] == [1, 2]  # the row whose turn failed keeps its answer
    held.pop().close()
    resumed = cli(*base, "--resume")
    assert resumed.exit_code == 0, resumed.output
    # row 2's turn, refused by the locked history, is recorded from its line (written again, unmarked): round 17
    assert [line["row"] for line in _lines(out)] == [1, 2, 2, 3, 4]
    assert len({line["conversation_id"] for line in _lines(out)}) == 1


# ---- history repair of a file cut short --------------------------------------------------------------
def test_repair_of_a_file_whose_conversations_do_not_read_does_not_send_the_user_to_export(tmp_path: Path) -> None:
    """Repair said "save what still reads with `assistant history export --all --format json`", and that
    export said "`assistant history repair` rebuilds its search index": each sent the user to the other."""
    from assistant.history.records import TurnMeta
    from assistant.history.store import HistoryStore
    from assistant.types import Completion, Timings, Usage

    db = tmp_path / "h.db"
    meta = TurnMeta(model="m", backend="fake")
    with HistoryStore.open(db) as store:
        for number in range(3):
            conversation = store.create_conversation(meta=meta)
            turn = store.start_turn(conversation.id, f"question {number}", meta)
            store.finish_turn(turn, Completion("answer", "m", "fake", "stop", Usage(), Timings()))
    data = db.read_bytes()[:8192]  # cut short: the schema's first pages are left, the tables' are not
    db.write_bytes(data)
    exported = cli("history", "export", "--all", "-f", "json", "--db", str(db))
    assert exported.exit_code == 1  # indeed nothing exports
    repaired = cli("history", "repair", "--db", str(db))
    assert repaired.exit_code == 1 and len(repaired.output.strip().splitlines()) == 1
    assert "damaged beyond its search index" in repaired.output
    assert "nothing can be exported; move the file aside" in repaired.output
    assert "history export" not in repaired.output
    assert db.read_bytes() == data


# ---- a hand-edited pulled.json --------------------------------------------------------------------------
@pytest.mark.parametrize("content", [b"garbage", b'[{"name": "x.gguf",', b"\xff\xfe"])
def test_a_broken_record_of_pulled_models_says_what_it_is_and_the_way_out(models_dir: Path, content: bytes) -> None:
    """It was "cannot read …/pulled.json: Expecting value: line 1 column 1 (char 0)", for every models command."""
    (models_dir / "pulled.json").write_bytes(content)
    result = cli("models", "list")
    assert result.exit_code == 1
    assert result.output.splitlines() == [result.output.strip()]
    assert f"error: {models_dir / 'pulled.json'}, the record of pulled models, is not valid JSON (" in result.output
    assert result.output.rstrip().endswith("fix it, or move it aside (the files it recorded are then listed as local files)")
    assert (models_dir / "pulled.json").read_bytes() == content


def test_a_batch_whose_every_text_is_null_says_so_per_row(fakes: list[FakeBackend], tmp_path: Path) -> None:
    """It was refused with 'no row of FILE has a "text" or "input" field (its fields: text)'."""
    rows, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    rows.write_text('{"text": null}\n{"id": 2, "text": null}\n')
    result = cli("sentiment", "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out), "--no-log")
    assert result.exit_code == 1 and "its fields" not in result.output
    assert [line["error"] for line in _lines(out)] == ['row 1: "text" is null, not text', 'row 2: "text" is null, not text']


# ---- a tool batch resumed after its input file changed -----------------------------------------------
def test_a_tool_batch_resume_refuses_rows_that_are_not_the_ones_its_lines_ran_on(
    fakes: list[FakeBackend], tmp_path: Path
) -> None:
    """A row inserted at the top of a file without ids: every finished line was kept as the result of the
    row now at its number (row 1, "new first", kept the line of "alpha"), silently."""
    rows, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    base = ["sentiment", "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out), "--no-log"]
    rows.write_text('"alpha"\n"beta"\n"gamma"\n')
    assert cli(*base).exit_code == 0
    kept = "".join(out.read_text().splitlines(keepends=True)[:2])
    out.write_text(kept)
    rows.write_text('"new first"\n"alpha"\n"beta"\n"gamma"\n')
    refused = cli(*base, "--resume")
    assert refused.exit_code == 1 and len(refused.output.strip().splitlines()) == 1
    assert 'row 1\'s finished line in' in refused.output and 'ran on "alpha", the row now says "new first"' in refused.output
    assert out.read_text() == kept
    # with ids, the same insertion resumes: each row finds its own line
    rows.write_text('{"id": 1, "text": "alpha"}\n{"id": 2, "text": "beta"}\n{"id": 3, "text": "gamma"}\n')
    assert cli(*base, "--force").exit_code == 0
    out.write_text("".join(out.read_text().splitlines(keepends=True)[:2]))
    rows.write_text('{"id": 0, "text": "new first"}\n' + rows.read_text())
    resumed = cli(*base, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert sorted(line["input"] for line in _lines(out)) == ["alpha", "beta", "gamma", "new first"]


def test_a_template_batch_resume_refuses_rows_that_are_not_the_ones_its_lines_ran_on(
    fakes: list[FakeBackend], tmp_path: Path
) -> None:
    rows, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    base = ["prompt", "-t", "chat", "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out), "--no-log"]
    rows.write_text('"alpha"\n"beta"\n')
    assert cli(*base).exit_code == 0
    kept = out.read_text().splitlines(keepends=True)[0]
    out.write_text(kept)
    rows.write_text('"alpha, corrected"\n"beta"\n')
    refused = cli(*base, "--resume")
    assert refused.exit_code == 1 and len(refused.output.strip().splitlines()) == 1
    assert 'ran on "alpha", the row now says "alpha, corrected"' in refused.output
    assert out.read_text() == kept
    rows.write_text('"alpha"\n"beta"\n')  # the same rows again: resumed
    resumed = cli(*base, "--resume")
    assert resumed.exit_code == 0, resumed.output


def test_a_template_batch_whose_rows_take_input_from_v_still_resumes(fakes: list[FakeBackend], tmp_path: Path) -> None:
    """Rows without text take the shared ``-v input=…``: the line's input is that, not the row's (none)."""
    rows, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    base = ["prompt", "-t", "chat", "-b", "fake", "-m", "m", "-v", "input=shared", "--batch", str(rows),
            "--out", str(out), "--no-log"]
    rows.write_text('{"id": 1}\n{"id": 2}\n')
    assert cli(*base).exit_code == 0
    out.write_text(out.read_text().splitlines(keepends=True)[0])
    resumed = cli(*base, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert [line["row"] for line in _lines(out)] == [1, 2]

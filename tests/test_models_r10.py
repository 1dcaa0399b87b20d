"""Round 10 of user testing, models: what a demanding user still found wrong.

A published GGUF cut short (its own sha256 matches) was installed by ``models pull``;
a file cut inside its last tensor passed the header reader as whole.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from assistant.cli import main
from assistant.errors import ModelFetchError, ModelLoadError
from assistant.models import refs, registry
from assistant.models.download import part_path
from assistant.models.gguf import check_whole, read_metadata

from .gguf_files import STRING, gguf_string
from .hub_server import HubFile, HubServer, HubState

F32, Q4_0 = 0, 2


def gguf_bytes(elements: int = 1000, kind: int = F32, name: str = "tiny") -> bytes:
    """A whole version-3 GGUF with one tensor of ``elements`` of ggml type ``kind``, zero-filled."""
    pairs = [("general.architecture", STRING, gguf_string("llama")), ("general.name", STRING, gguf_string(name))]
    body = b"".join(gguf_string(k) + struct.pack("<I", t) + v for k, t, v in pairs)
    head = b"GGUF" + struct.pack("<IQQ", 3, 1, len(pairs)) + body
    head += gguf_string("token_embd.weight") + struct.pack("<IQIQ", 1, elements, kind, 0)
    head += b"\0" * (-len(head) % 32)
    data_bytes = {F32: elements * 4, Q4_0: elements // 32 * 18}[kind]
    return head + b"\0" * data_bytes


WHOLE = gguf_bytes()
INSIDE_LAST = WHOLE[:-1000]  # the tensor starts in the file, but 1000 of its 4000 bytes are missing
IN_HEADER = WHOLE[:40]  # cut inside the metadata


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def server(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    monkeypatch.delenv("ASSISTANT_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    state = HubState(
        repos={
            "org/repo": {
                "whole.gguf": HubFile(data=WHOLE),
                "m.gguf": HubFile(data=INSIDE_LAST),
                "head.gguf": HubFile(data=IN_HEADER),
            }
        }
    )
    with HubServer(state) as running:
        monkeypatch.setenv("HF_ENDPOINT", running.url)
        yield running


def _pull(reference: str, force: bool = False) -> registry.PulledModel:
    return refs.pull_file(refs.parse(reference), lambda _: None, lambda _: lambda done, total: None, force=force)


# ---- 1. a published GGUF cut short, its sha256 matching -----------------------------------------------------
def test_the_header_reader_refuses_a_file_cut_inside_its_last_tensor(tmp_path: Path) -> None:
    """Only a tensor's first byte was looked for: a file a few bytes short passed as whole."""
    whole = tmp_path / "whole.gguf"
    whole.write_bytes(WHOLE)
    assert read_metadata(whole, count_parameters=True)["GGUF.data_end"] == len(WHOLE)
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(WHOLE[:-1])
    with pytest.raises(ModelLoadError, match=f"file is truncated .*runs to {len(WHOLE):,}"):
        read_metadata(cut, count_parameters=True)
    quantized = tmp_path / "q.gguf"
    quantized.write_bytes(gguf_bytes(elements=64, kind=Q4_0))  # 2 blocks of 18 bytes
    read_metadata(quantized, count_parameters=True)
    quantized.write_bytes(gguf_bytes(elements=64, kind=Q4_0)[:-18])
    with pytest.raises(ModelLoadError, match="file is truncated"):
        read_metadata(quantized, count_parameters=True)


def test_the_real_models_end_where_their_tensor_tables_say(smollm2_path: Path, gemma_path: Path) -> None:
    """The type table is right for the quantizations in use (Q4_0, Q4_1, Q5_0, Q8_0, Q4_K, Q6_K, F32)."""
    for path in (smollm2_path, gemma_path):
        assert read_metadata(path, count_parameters=True)["GGUF.data_end"] == path.stat().st_size


@pytest.mark.parametrize("name", ["m.gguf", "head.gguf"])
def test_a_published_file_cut_short_is_not_installed(server: HubServer, models_dir: Path, name: str) -> None:
    """Before: its sha256 matched, so it was installed, recorded, and listed as "not a readable GGUF"."""
    result = cli("models", "pull", f"hf:org/repo/{name}")
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()[-1:]
    assert f"{name} is not a whole GGUF file: " in line and "published file itself is cut short" in line
    assert "not installed and the download was deleted" in line
    assert "pull or copy it again" not in line  # the same bytes would come again
    assert not (models_dir / name).exists()
    assert not part_path(models_dir / name).exists()
    assert not part_path(models_dir / name).with_name(f"{name}.part.source").exists()
    assert registry.find(name) is None
    assert "partial download" not in cli("models", "list").output


def test_a_forced_pull_of_a_cut_file_leaves_the_installed_copy(server: HubServer, models_dir: Path) -> None:
    good = _pull("hf:org/repo/whole.gguf")
    installed = models_dir / "whole.gguf"
    assert installed.read_bytes() == WHOLE
    server.state.repos["org/repo"]["whole.gguf"] = HubFile(data=INSIDE_LAST)  # the repo now publishes a cut file
    server.state._shas.clear()
    with pytest.raises(ModelFetchError, match="whole.gguf is not a whole GGUF file"):
        _pull("hf:org/repo/whole.gguf", force=True)
    assert installed.read_bytes() == WHOLE
    assert registry.find("whole.gguf") == good
    assert not part_path(installed).exists()


def test_a_plain_url_cut_short_is_not_installed(server: HubServer, models_dir: Path) -> None:
    """No published size or hash: the server's own Content-Length matches the cut bytes."""
    with pytest.raises(ModelFetchError, match=r"m.gguf is not a whole GGUF file: file is truncated .*as the server"):
        _pull(f"{server.url}/cdn/org/repo/m.gguf")
    assert list(models_dir.iterdir()) == []


def test_a_gguf_of_a_version_the_reader_does_not_know_is_still_installed(tmp_path: Path) -> None:
    """Whether a future format is whole is the engine's to say: only known layouts are judged."""
    future = tmp_path / "v4.gguf"
    future.write_bytes(b"GGUF" + struct.pack("<I", 4) + bytes(10))
    check_whole(future)
    known = tmp_path / "v3.gguf"
    known.write_bytes(b"GGUF" + struct.pack("<I", 3) + bytes(10))
    with pytest.raises(ModelLoadError, match="header ends early"):
        check_whole(known)


def test_a_whole_file_is_pulled_and_recorded(server: HubServer, models_dir: Path) -> None:
    result = cli("models", "pull", "hf:org/repo/whole.gguf")
    assert result.exit_code == 0, result.output
    assert (models_dir / "whole.gguf").read_bytes() == WHOLE
    listed = json.loads(cli("models", "list", "--json").output)
    (row,) = [r for r in listed if r["name"] == "whole.gguf"]
    assert row["header"] is not None and row["sha256"] == hashlib.sha256(WHOLE).hexdigest()


# ---- 2. free space: no check of "0 B" ---------------------------------------------------------------------
def _free(monkeypatch: pytest.MonkeyPatch, free: int) -> None:
    import shutil

    usage = shutil.disk_usage("/")._replace(free=free)
    monkeypatch.setattr(shutil, "disk_usage", lambda _: usage)


def test_a_url_without_a_published_size_is_refused_with_its_real_size(
    server: HubServer, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: "need 0 B and 67.1 MB left free after it, 62.9 MB free", checked before the size was known."""
    from assistant.models.download import DISK_MARGIN

    _free(monkeypatch, DISK_MARGIN - 100)
    with pytest.raises(ModelFetchError, match=r"not enough disk space in .*: need 4\.\d KB and") as caught:
        _pull(f"{server.url}/cdn/org/repo/whole.gguf")
    assert "need 0 B" not in str(caught.value)


def test_a_finished_part_is_installed_on_a_nearly_full_disk(
    server: HubServer, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every byte already downloaded, nothing left to fetch: it was refused for want of 64 MB it did not need."""
    part_path(models_dir / "whole.gguf").write_bytes(WHOLE)
    _free(monkeypatch, 1000)
    assert _pull("hf:org/repo/whole.gguf").sha256 == hashlib.sha256(WHOLE).hexdigest()
    assert (models_dir / "whole.gguf").read_bytes() == WHOLE


# ---- 3. a second pull of a file being pulled ----------------------------------------------------------------
def test_a_second_pull_does_not_claim_to_resume_the_first_ones_part(server: HubServer, models_dir: Path) -> None:
    """Before: "pulling … (resuming m.gguf.part)", then "another pull is already writing" on the next line."""
    import fcntl

    part = part_path(models_dir / "whole.gguf")
    part.write_bytes(WHOLE[:100])
    with part.open("rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # as the first pull holds it
        result = cli("models", "pull", "hf:org/repo/whole.gguf")
    assert result.exit_code == 1
    assert "another pull is already writing" in result.output and "resuming" not in result.output
    assert part.read_bytes() == WHOLE[:100]


def test_a_part_from_another_url_is_not_said_to_be_resumed(server: HubServer, models_dir: Path) -> None:
    """Another URL's part of the same file name is started over (round 8), yet the pull said "resuming" it."""
    part = part_path(models_dir / "whole.gguf")
    part.write_bytes(WHOLE[:100])
    part.with_name("whole.gguf.part.source").write_text("https://elsewhere.example/whole.gguf")
    result = cli("models", "pull", "hf:org/repo/whole.gguf")
    assert result.exit_code == 0, result.output
    assert "resuming" not in result.output
    assert (models_dir / "whole.gguf").read_bytes() == WHOLE


# ---- 4. odd entries in the models directory -----------------------------------------------------------------
def test_odd_entries_in_the_models_directory_are_named_for_what_they_are(models_dir: Path) -> None:
    """`ls` shows them there, yet `models info x.gguf` said "model file not found: x.gguf"."""
    import os

    (models_dir / "dir.gguf").mkdir()
    os.mkfifo(models_dir / "fifo.gguf")
    (models_dir / "dangling.gguf").symlink_to(models_dir / "nothing")
    (models_dir / "loop.gguf").symlink_to(models_dir / "loop.gguf")
    expected = {
        "dir.gguf": "is a directory",
        "fifo": "is a special file",
        "dangling.gguf": "is a symbolic link to nothing",
        "loop.gguf": "is a symbolic link to nothing",
    }
    for name, what in expected.items():
        link = "link" in what  # a broken link is removed by `models rm` (round 11): nothing else could
        commands = [("models", "info", name), ("models", "default", name)] + ([] if link else [("models", "rm", "-y", name)])
        for command in commands:
            result = cli(*command)
            assert result.exit_code == 1, (command, result.output)
            assert f"{what}" in result.output and "not a GGUF model file" in result.output, (command, result.output)
    for name in ("dangling.gguf", "loop.gguf"):
        assert cli("models", "rm", "-y", name).exit_code == 0
        assert not os.path.lexists(models_dir / name)
    listed = cli("models", "list")
    assert listed.exit_code == 0 and "dir.gguf" not in listed.output
    assert cli("models", "info", "nothere.gguf").output.strip() == "error: model file not found: nothere.gguf"


def test_removing_a_link_keeps_its_targets_converted_copy(models_dir: Path, tmp_path: Path) -> None:
    """`models rm link.gguf` deleted -b transformers' converted copy of the file the link points to,
    which stays where it is (the copy's key follows links): a minute of conversion lost for nothing."""
    from assistant.backends.torch.convert import converted_dir

    target = tmp_path / "elsewhere.gguf"
    target.write_bytes(WHOLE)
    link = models_dir / "link.gguf"
    link.symlink_to(target)
    copy = converted_dir(target)
    copy.mkdir(parents=True)
    result = cli("models", "rm", "-y", "link.gguf")
    assert result.exit_code == 0, result.output
    assert not link.exists() and target.read_bytes() == WHOLE
    assert copy.is_dir()
    own = models_dir / "own.gguf"
    own.write_bytes(WHOLE)
    converted_dir(own).mkdir(parents=True)
    own_copy = converted_dir(own)
    assert cli("models", "rm", "-y", "own.gguf").exit_code == 0
    assert not own_copy.exists()  # a file's own copy still goes with it


def test_a_cut_file_already_there_with_the_hubs_sha256_is_not_recorded(server: HubServer, models_dir: Path) -> None:
    """A file put there by hand with the hub's sha256 is recorded without a download: a cut one was too."""
    (models_dir / "m.gguf").write_bytes(INSIDE_LAST)
    result = cli("models", "pull", "hf:org/repo/m.gguf")
    assert result.exit_code == 1
    assert "m.gguf has the hub's sha256 but is not a whole GGUF file: file is truncated" in result.output
    assert (models_dir / "m.gguf").read_bytes() == INSIDE_LAST  # the user's file is theirs
    assert registry.find("m.gguf") is None


# ---- 5. hostile header text --------------------------------------------------------------------------------
def test_a_huge_model_name_is_shown_and_cached_cut_to_a_line(models_dir: Path) -> None:
    """A 3 MB ``general.name`` was printed whole by `models info` and kept whole in the header cache."""
    from assistant.config import paths
    from assistant.models.summary import MAX_FACT

    from .gguf_files import write_gguf_header

    write_gguf_header(models_dir / "big.gguf", [("general.name", STRING, gguf_string("\x1b[31m" + "A" * (3 << 20)))])
    info = cli("models", "info", "big.gguf")
    assert info.exit_code == 0, info.output[:300]
    (line,) = [entry for entry in info.output.splitlines() if entry.startswith("model:")]
    assert len(line) < MAX_FACT + 40 and line.endswith("A\u2026") and "\x1b" not in info.output
    assert cli("models", "list").exit_code == 0
    (cache,) = paths().cache_dir.glob("gguf-headers-v*.json")
    assert cache.stat().st_size < 10_000


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_a_pull_refuses_a_non_file_in_its_place_at_once(server: HubServer, models_dir: Path, kind: str) -> None:
    """A FIFO named like the file: hashing it (to see whether it was the hub's copy) waited forever.
    A directory: with --force, the whole file was downloaded before the rename failed, its .part left."""
    import os
    import threading

    dest = models_dir / "whole.gguf"
    dest.mkdir() if kind == "directory" else os.mkfifo(dest)
    outcome: list[BaseException | None] = []

    def run(force: bool) -> None:
        try:
            _pull("hf:org/repo/whole.gguf", force=force)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            outcome.append(exc)

    for force in (False, True):
        worker = threading.Thread(target=run, args=(force,), daemon=True)
        worker.start()
        worker.join(timeout=30)
        assert not worker.is_alive(), "the pull hung"
        error = outcome.pop()
        assert isinstance(error, ModelFetchError) and "not a model file; move it away first" in str(error)
    assert not part_path(dest).exists()
    assert not any(r.startswith("GET") and "whole.gguf" in r and "/cdn/" in r for r in server.state.requests)

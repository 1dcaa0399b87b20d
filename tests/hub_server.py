"""A local imitation of the Hugging Face hub for download tests (127.0.0.1, files served from disk).

It answers like huggingface.co does for what our downloader and huggingface_hub
use: ``HEAD/GET {repo}/resolve/{rev}/{file}`` with ``X-Repo-Commit``, ``ETag``,
and for LFS files a 302 to a CDN path carrying ``X-Linked-Size`` and
``X-Linked-Etag`` (the sha256); the CDN path honours ``Range``; and
``/api/models/{repo}/tree/{rev}`` lists files as JSON. ``cut_after`` makes the
next GET of a file stop after that many bytes (a transfer cut half-way), and
``bad_sha`` makes the hub report a wrong sha256.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self
from urllib.parse import unquote, urlparse

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class HubFile:
    path: Path | None = None
    data: bytes | None = None

    def size(self) -> int:
        return self.path.stat().st_size if self.path is not None else len(self.data or b"")

    def read(self, start: int, end: int) -> bytes:
        if self.path is None:
            return (self.data or b"")[start:end]
        with self.path.open("rb") as handle:
            handle.seek(start)
            return handle.read(end - start)

    def chunks(self, start: int, end: int, block: int = 1 << 20):
        pos = start
        while pos < end:
            yield self.read(pos, min(end, pos + block))
            pos += block


def _sha256(file: HubFile) -> str:
    digest = hashlib.sha256()
    for block in file.chunks(0, file.size()):
        digest.update(block)
    return digest.hexdigest()


@dataclass
class HubState:
    repos: dict[str, dict[str, HubFile]] = field(default_factory=dict)
    cut_after: int | None = None
    bad_sha: bool = False
    block_delay_s: float = 0.0
    """Seconds to wait between 1 MiB blocks of a file (a slow link, to interrupt a pull mid-way)."""
    bad_length: bool = False
    """Send a garbled ``Content-Length`` (and ``X-Linked-Size``): a server that lies about lengths."""
    range_from_zero: bool = False
    """Answer a ``Range`` request with 206 but the bytes from 0 (a broken proxy): the part must not grow them."""
    requests: list[str] = field(default_factory=list)
    authorized: list[str] = field(default_factory=list)
    """Requests (method and path) that carried an ``Authorization`` header."""
    ranges: list[str] = field(default_factory=list)
    _shas: dict[tuple[str, str], str] = field(default_factory=dict)

    def sha(self, repo: str, name: str) -> str:
        key = (repo, name)
        if key not in self._shas:
            self._shas[key] = _sha256(self.repos[repo][name])
        return "0" * 64 if self.bad_sha else self._shas[key]


def _handler(state: HubState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def _find(self) -> tuple[str, str, str] | None:
            path = unquote(urlparse(self.path).path).lstrip("/")
            parts = path.split("/")
            if len(parts) >= 5 and parts[2] == "resolve":
                return "/".join(parts[:2]), parts[3], "/".join(parts[4:])
            return None

        def _not_found(self) -> None:
            body = b'{"error":"Entry not found"}'
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Error-Code", "EntryNotFound")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_HEAD(self) -> None:
            self._serve()

        def do_GET(self) -> None:
            self._serve()

        def _serve(self) -> None:
            state.requests.append(f"{self.command} {self.path}")
            if self.headers.get("Authorization"):
                state.authorized.append(f"{self.command} {self.path}")
            parsed = urlparse(self.path)
            path = unquote(parsed.path)
            if path.startswith("/api/models/"):
                return self._api(path[len("/api/models/") :])
            if path.startswith("/cdn/"):
                _, _, repo_a, repo_b, name = path.split("/", 4)
                return self._file(f"{repo_a}/{repo_b}", name)
            found = self._find()
            if found is None:
                return self._not_found()
            repo, _rev, name = found
            if repo not in state.repos or name not in state.repos[repo]:
                return self._not_found()
            file = state.repos[repo][name]
            sha = state.sha(repo, name)
            self.send_response(302)
            # like the hub's CDN links: another host (``localhost`` for ``127.0.0.1``), so clients read the
            # file's metadata from this answer and do not follow it for HEAD
            port = self.server.server_address[1]
            self.send_header("Location", f"http://localhost:{port}/cdn/{repo}/{name}")
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("ETag", f'"{sha}"')
            self.send_header("X-Linked-Etag", f'"{sha}"')
            self.send_header("X-Linked-Size", "lots" if state.bad_length else str(file.size()))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _file(self, repo: str, name: str) -> None:
            file = state.repos.get(repo, {}).get(name)
            if file is None:
                return self._not_found()
            size = file.size()
            start, end, status = 0, size, 200
            header = self.headers.get("Range")
            if header and header.startswith("bytes="):
                state.ranges.append(header)
                first, _, last = header[6:].partition("-")
                start = int(first)
                end = int(last) + 1 if last else size
                status = 206
                if start >= size:  # as the hub's CDN: nothing left to send
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if state.range_from_zero:
                    start, end = 0, size
            self.send_response(status)
            self.send_header("Content-Length", "12abc" if state.bad_length else str(end - start))
            if state.bad_length:  # the length says nothing: the end of the connection ends the body
                self.send_header("Connection", "close")
                self.close_connection = True
            self.send_header("Accept-Ranges", "bytes")
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
            self.end_headers()
            if self.command == "HEAD":
                return
            limit = state.cut_after
            state.cut_after = None
            try:
                self._send(file, start, end, limit)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client went away (a cancelled pull)

        def _send(self, file: HubFile, start: int, end: int, limit: int | None) -> None:
            sent = 0
            for block in file.chunks(start, end):
                if limit is not None and sent + len(block) > limit:
                    self.wfile.write(block[: limit - sent])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(block)
                sent += len(block)
                if state.block_delay_s:
                    time.sleep(state.block_delay_s)

        def _api(self, rest: str) -> None:
            # ORG/REPO, ORG/REPO/tree/REV, ORG/REPO/revision/REV
            parts = rest.split("/")
            repo = "/".join(parts[:2])
            if repo not in state.repos:
                return self._not_found()
            files = state.repos[repo]
            if len(parts) >= 4 and parts[2] == "tree":
                body = [
                    {"type": "file", "path": name, "size": f.size(), "oid": "1" * 40,
                     "lfs": {"oid": state.sha(repo, name), "size": f.size(), "pointerSize": 130}}
                    for name, f in files.items()
                ]  # fmt: skip
            else:
                body = {
                    "id": repo, "modelId": repo, "sha": COMMIT, "private": False, "disabled": False,
                    "siblings": [{"rfilename": name} for name in files],
                }  # fmt: skip
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

    return Handler


class HubServer:
    def __init__(self, state: HubState) -> None:
        self.state = state
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def cached_hf_model(home: Path, repo: str, files: dict[str, bytes]) -> Path:
    """``repo`` at ``main`` in a huggingface_hub cache under ``home`` (``HF_HOME``), as snapshot_download lays it out."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    folder = home / "hub" / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(commit)
    snapshot = folder / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for name, data in files.items():
        (snapshot / name).write_bytes(data)
    return snapshot

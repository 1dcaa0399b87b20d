"""Hugging Face model ids (``ORG/REPO``, for ``-b transformers``): their directory in huggingface_hub's cache.

Split from :mod:`assistant.models.refs`, which parses the reference and pulls GGUF files with our
own downloader; a transformers model is many files in the cache layout other HF tools share, so
huggingface_hub fetches it (imported only here, and only when needed).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ..errors import ModelFetchError, ModelNotFoundError
from . import hub
from .ref_types import HubModelRef, describe

Progress = Callable[[str], None]
"""Where a step's one-line message goes (stderr in the CLI, a status line in the chat app)."""


def hf_cache_dir() -> Path:
    """huggingface_hub's cache, read from the environment now (its constants are fixed at import)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "huggingface"
    )
    return Path(home).expanduser() / "hub"


SNAPSHOT_PATTERNS = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "tokenizer*"]
"""The files of a transformers model; other weights formats (.bin, .onnx, .gguf) are left on the hub."""


def hf_snapshot(ref: HubModelRef, progress: Progress) -> Path:
    """The model's directory in huggingface_hub's cache, downloaded there if missing (and allowed).

    huggingface_hub here (not our downloader): a transformers model is many files
    in the cache layout other HF tools share, and ``HF_HOME``/``HF_TOKEN``/
    ``HF_ENDPOINT`` conventions come with it.
    """
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
    except ImportError:  # only the transformers extra installs it: `models pull ORG/REPO` was a traceback
        raise ModelNotFoundError(
            f"{describe(ref)} is a Hugging Face model id, for -b transformers, which is not installed "
            f"(pip install 'assistant[transformers]'); a repository of GGUF files is hf:{ref.repo}"
        ) from None

    cache = hf_cache_dir()
    cached = _cached_folder(ref)
    lacking = _model_files_missing(cached) if cached is not None else None
    if cached is not None and lacking is None:
        return cached
    if hub.offline():
        if cached is not None and cached.is_dir():  # there, but not all of it (another tool's partial copy)
            raise ModelNotFoundError(
                f"{describe(ref)} in the Hugging Face cache ({cached}) has no {lacking}, "
                "and offline mode is on (HF_HUB_OFFLINE / ASSISTANT_OFFLINE)"
            )
        raise ModelNotFoundError(
            f"{describe(ref)} is not in the Hugging Face cache ({cache}) and offline mode is on "
            "(HF_HUB_OFFLINE / ASSISTANT_OFFLINE)"
        )
    progress(f"downloading {describe(ref)} into {cache}")
    try:
        folder = snapshot_download(
            ref.repo, revision=ref.revision, cache_dir=cache, allow_patterns=SNAPSHOT_PATTERNS,
            endpoint=hub.endpoint(), token=hub.token(),
        )  # fmt: skip
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError) as exc:
        raise ModelFetchError(f"{describe(ref)}: {_hub_failure(exc, ref)}") from None
    missing = _model_files_missing(Path(folder))
    if missing is not None:  # a GGUF-only repository, say: the download matched nothing to load
        raise ModelNotFoundError(
            f"{describe(ref)} has no {missing}, so it is not a transformers model "
            f"(a repository of GGUF files is hf:{ref.repo})"
        )
    return Path(folder)


def _cached_folder(ref: HubModelRef) -> Path | None:
    """The model's snapshot directory in huggingface_hub's cache, complete or not, or None. No network.

    Looks for the repository's folder first (the cache's layout, ``models--ORG--REPO``):
    a remote server's model id (``-b openai -m ORG/REPO``) is rarely there, and then
    huggingface_hub, which only the transformers extra installs, is not imported at all.
    """
    if not (hf_cache_dir() / f"models--{ref.repo.replace('/', '--')}").is_dir():
        return None
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError
    except ImportError:
        return None
    try:
        return Path(
            snapshot_download(
                ref.repo,
                revision=ref.revision,
                cache_dir=hf_cache_dir(),
                local_files_only=True,
                allow_patterns=SNAPSHOT_PATTERNS,
            )
        )
    except (LocalEntryNotFoundError, FileNotFoundError, OSError):
        return None


def cached_snapshot(ref: HubModelRef) -> Path | None:
    """The model's directory if huggingface_hub's cache holds all transformers needs of it, else None.

    Never touches the network: for what can be known about a model without
    loading it (its chat template, so its mode), once it has been downloaded.
    """
    folder = _cached_folder(ref)
    return folder if folder is not None and _model_files_missing(folder) is None else None


def _model_files_missing(folder: Path) -> str | None:
    """What a snapshot lacks to be loaded by transformers (``config.json``, safetensors weights), or None.

    ``snapshot_download`` succeeds on a repository none of whose files match the
    patterns, and returns a directory that does not even exist: without this check
    ``-b transformers -m ORG/GGUF-REPO`` ended in a FileNotFoundError.
    """
    if not (folder / "config.json").is_file():
        return "config.json"
    if not any(folder.glob("*.safetensors")):
        return "*.safetensors weights (other weight formats are not downloaded)"
    return None


def _hub_failure(exc: BaseException, ref: HubModelRef) -> str:
    """What went wrong, in words: huggingface_hub's first line is "Got: RemoteEntryNotFoundError: 404 …"."""
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    cause = exc.__cause__
    if isinstance(cause, HfHubHTTPError):  # snapshot_download wraps the hub's answer
        exc = cause
    elif cause is not None:  # no answer at all: a refused connection, a timeout, a DNS failure
        from .download import why_unreachable

        return f"cannot reach {hub.endpoint()}: {why_unreachable(cause) or _first_line(cause)}"
    if isinstance(exc, GatedRepoError):  # before its base class, RepositoryNotFoundError
        return "a gated repository: accept its terms on the hub, and set HF_TOKEN"
    if isinstance(exc, RepositoryNotFoundError):
        return "no such repository on the hub (a private one needs HF_TOKEN)"
    if isinstance(exc, RevisionNotFoundError):
        return f"the repository has no revision {ref.revision!r}"
    if isinstance(exc, RemoteEntryNotFoundError):
        return "not found on the hub (HTTP 404): check the repository and revision"
    return _first_line(exc)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

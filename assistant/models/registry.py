"""The record of pulled models: ``pulled.json`` beside the files in the models directory.

Kept next to the files (not in the config dir) so a models directory shared
between homes (``ASSISTANT_MODELS_DIR``) carries where each file came from. The
record is what lets ``hf:ORG/REPO`` resolve offline to the file pulled earlier
and what ``models list`` shows as source, revision and sha256.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no advisory locks
    fcntl = None  # type: ignore[assignment]

from ..config import paths
from ..errors import ModelError
from ..files import write_replacing

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


def _not_a_directory() -> ModelError:
    where = " (set by ASSISTANT_MODELS_DIR)" if os.environ.get("ASSISTANT_MODELS_DIR") else ""
    return ModelError(f"the models directory {paths().models_dir}{where} is not a directory")


def models_directory() -> Path:
    """The models directory, made if it is missing; one :class:`ModelError` line when it cannot be.

    ``ASSISTANT_MODELS_DIR=/dev/null`` (or a file's path) made the first model fetch fail with
    "the llama-cpp backend failed to load smollm2: FileExistsError: [Errno 17] File exists".
    """
    directory = paths().models_dir
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise _not_a_directory() from None
    except OSError as exc:
        raise ModelError(f"cannot create the models directory {directory}: {exc.strerror or exc}") from None
    return directory


def load() -> list[PulledModel]:
    try:
        data = json.loads(_file().read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except NotADirectoryError:  # "cannot read …/pulled.json: Not a directory" hid what is wrong
        raise _not_a_directory() from None
    except ValueError as exc:  # hand-edited (it is written whole, atomically): say what it is and the way out
        raise ModelError(
            f"{_file()}, the record of pulled models, is not valid JSON ({exc}); fix it, or move it aside "
            "(the files it recorded are then listed as local files)"
        ) from None
    except OSError as exc:
        raise ModelError(f"cannot read {_file()}: {exc.strerror or exc}") from None
    records = []
    for item in data if isinstance(data, list) else []:
        try:
            record = PulledModel(**item)
        except TypeError:
            continue  # a record from another version: ignored, not fatal
        if not _plain_name(record.name):
            continue  # "../x" or "/etc/x" would point models rm and -m outside the models directory
        if not _well_typed(record):
            continue  # "size": "big" ended models list in a TypeError traceback
        records.append(record)
    return records


_OPTIONAL_TEXT = ("repo", "revision", "requested_revision")


def _well_typed(record: PulledModel) -> bool:
    """Every field of the type it is read as (the record is shared, so read as untrusted)."""
    texts = all(isinstance(getattr(record, name), str) for name in ("source", "filename", "sha256", "date"))
    optional = all(isinstance(getattr(record, name), (str, type(None))) for name in _OPTIONAL_TEXT)
    size = isinstance(record.size, int) and not isinstance(record.size, bool) and record.size >= 0
    return texts and optional and size


def _plain_name(name: object) -> bool:
    """A file name directly in the models directory (the record is shared, so read as untrusted)."""
    return (
        isinstance(name, str)
        and bool(name)
        and name not in (".", "..")
        and "/" not in name
        and "\\" not in name
        and "\0" not in name
    )


def _save(records: list[PulledModel]) -> None:
    target = _file()
    models_directory()
    # a fresh temporary file each time: two pulls finishing together never write into the same one
    write_replacing(target, json.dumps([asdict(r) for r in records], indent=2) + "\n")


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """Serialize read-modify-write of the record: two pulls finishing together must both be recorded."""
    if fcntl is None:
        yield
        return
    lock = _file().with_name(REGISTRY_FILE + ".lock")
    models_directory()
    with lock.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield


def add(record: PulledModel) -> None:
    with _locked():
        _save([r for r in load() if r.name != record.name] + [record])


def remove(name: str) -> None:
    if find(name) is None:  # nothing recorded (a catalog or hand-placed file): no pulled.json to write
        return
    with _locked():
        _save([r for r in load() if r.name != name])


def find(name: str) -> PulledModel | None:
    return next((r for r in load() if r.name == name), None)

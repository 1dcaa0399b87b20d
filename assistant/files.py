"""Writing files the user keeps: one rule for names that mean a directory, one way to replace a file.

``Path("exports/")`` drops the trailing separator, so a name written as a
directory (``--out results/``, ``--db backups/``, ``history export -o exports/``)
would otherwise create a *file* named like the directory. Every place that takes
a file name to write checks it with :func:`names_a_directory` first.

A file that is rewritten (the config, a pictured attention map, an export, the
pulled-model records, a template) goes through :func:`replacing`: written beside
it under a fresh random name and renamed over it once complete, so a full disk,
a kill half-way or two writers at once never leave a truncated file or each
other's halves, and an old file keeps its permissions.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import IO, Any, Iterator


def names_a_directory(text: str | os.PathLike[str]) -> bool:
    """Whether ``text`` ends in a path separator, so it cannot name a file."""
    name = os.fspath(text)
    return name.endswith(("/", os.sep)) or (os.altsep is not None and name.endswith(os.altsep))


_KEPT_NAME_BYTES = 64
"""Bytes of the file's name the temporary file's name keeps: with the dot, the random part and ``.tmp``
(18 bytes) it stays far below the 255 *bytes* file systems allow a name."""


def _name_start(name: str) -> str:
    """The start of ``name`` that is at most :data:`_KEPT_NAME_BYTES` bytes on disk, cut between two characters.

    Cut in characters (``name[:64]``), a name of emoji kept 64 × 4 bytes: writing a legal
    252-byte name failed with "File name too long" for its temporary file.
    """
    kept = name[:_KEPT_NAME_BYTES]  # no character takes under one byte
    while len(os.fsencode(kept)) > _KEPT_NAME_BYTES:
        kept = kept[:-1]
    return kept


@contextlib.contextmanager
def replacing(
    path: str | os.PathLike[str], *, binary: bool = False, through_link: bool = True
) -> Iterator[IO[Any]]:
    """A handle whose contents replace ``path`` whole when the block ends without an error.

    ``through_link``: a symbolic link's target is replaced and the link stays
    (a config file linked from a dotfiles repository); False replaces the link
    itself, so a write can never land on a file the link leads to (a template
    in a cloned pack). A new file gets the usual mode (0o666 under the umask),
    an existing one keeps its own. Raises :class:`OSError`; callers say it in
    their own words. The temporary file is removed on any failure.
    """
    target = Path(path)
    if through_link and target.is_symlink():
        target = Path(os.path.realpath(target))
    try:
        mode: int | None = os.stat(target, follow_symlinks=False).st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    temporary = target.with_name(f".{_name_start(target.name)}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8", "newline": ""})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None and not target.is_symlink():
            os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def write_replacing(path: str | os.PathLike[str], data: str | bytes, *, through_link: bool = True) -> None:
    """Replace ``path`` with ``data`` whole or not at all (:func:`replacing`)."""
    with replacing(path, binary=isinstance(data, bytes), through_link=through_link) as handle:
        handle.write(data)

"""Whether another running program has a model file open: ``models rm`` refuses to delete it under them.

A chat that loaded a model maps its file (llama.cpp reads a GGUF through mmap); deleting the file then
"succeeded" while the chat went on from the mapping, its disk space not given back until the chat
ended, and its next load of the model failed. The kernel already knows who has a file open or mapped
(``/proc/PID/maps`` and ``/proc/PID/fd`` on Linux), so no lock or pid file is kept: nothing is left
behind by a chat that is killed, and nothing can block ``rm`` after its holder is gone. Where there is
no ``/proc`` (macOS, Windows) nothing is known, and ``rm`` deletes as before.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

__all__ = ["in_use_message", "users_of"]

SHOWN_USERS = 3
"""The most processes an error names."""


def users_of(paths: Iterable[Path], proc: Path = Path("/proc")) -> list[tuple[int, str]]:
    """The other processes (pid, command name) that have one of ``paths`` mapped or open, as ``proc`` tells.

    This process is left out: a file it holds is no running chat's. Processes of other users, whose maps
    cannot be read, are left out too: they could not have opened a file in this user's models directory
    but by its mode, and ``rm`` removes only the name.
    """
    wanted: set[tuple[int, int]] = set()
    for path in paths:
        try:
            st = path.stat()
        except OSError:
            continue
        wanted.add((st.st_dev, st.st_ino))
    if not wanted or not proc.is_dir():
        return []
    mapped = {(f"{os.major(dev):02x}:{os.minor(dev):02x}", str(inode)) for dev, inode in wanted}
    found: list[tuple[int, str]] = []
    try:
        entries = list(os.scandir(proc))
    except OSError:
        return []
    for entry in entries:
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        where = Path(entry.path)
        if _maps(where / "maps", mapped) or _opens(where / "fd", wanted):
            found.append((int(entry.name), _command(where)))
    return found


def _maps(maps: Path, mapped: set[tuple[str, str]]) -> bool:
    """Whether the process whose ``maps`` this is has one of the files ``mapped`` (device, inode) mapped."""
    try:
        text = maps.read_text(errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        fields = line.split(maxsplit=5)  # address, permissions, offset, device, inode, path
        if len(fields) >= 5 and (fields[3], fields[4]) in mapped:
            return True
    return False


def _opens(fd_dir: Path, wanted: set[tuple[int, int]]) -> bool:
    """Whether the process whose ``fd`` directory this is has one of the files ``wanted`` (device, inode) open."""
    try:
        fds = list(os.scandir(fd_dir))
    except OSError:
        return False
    for fd in fds:
        try:
            st = os.stat(fd.path)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in wanted:
            return True
    return False


def _command(where: Path) -> str:
    """The process's command name (any text a program gave itself: shown through ``visible_text``)."""
    try:
        return (where / "comm").read_text(errors="replace").strip()
    except OSError:
        return "?"


def in_use_message(name: str, users: list[tuple[int, str]]) -> str:
    """The one line ``models rm`` refuses with: who holds the model, and what to do."""
    from ..terminal_text import one_line

    shown = ", ".join(f"pid {pid} ({one_line(command)})" for pid, command in users[:SHOWN_USERS])
    more = f" and {len(users) - SHOWN_USERS} more" if len(users) > SHOWN_USERS else ""
    return (
        f"{name} is in use by a running program ({shown}{more}): quit it first, then remove it"
    )

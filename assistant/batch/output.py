"""Writing a batch's results file: created with its directory or appended to, locked against a second run
writing it at once, flushed and made durable, a write that fails one :class:`~assistant.errors.OutputError`.

Split from :mod:`.runner`, which writes every row's line through :class:`OutputSink`.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from pathlib import Path
from typing import IO, Any, Iterator

from ..errors import ConfigError, OutputError


def hold(handle: IO[Any], out: Path, shared: bool = False) -> None:
    """Lock the results file open as ``handle`` for this run (``shared``: only see that no run holds it).

    Two runs of one batch at once (the command given twice, in two terminals or by an overlapping
    job) each ran every row into the one file: its lines twice over, interleaved, and the batch
    twice in the history; and a ``--resume`` cut the other run's half-written last line. The lock
    goes with the open file, so a run killed outright leaves none behind. Only a regular file is
    locked (a pipe or a device has no results to share), and a file system without locks (some
    network mounts) is written unguarded, as before.
    """
    try:
        import fcntl
    except ImportError:  # no flock (Windows): unguarded
        return
    if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
        return
    try:
        fcntl.flock(handle.fileno(), (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        raise ConfigError(
            f"{out} is being written by another batch run; wait for it to end (then --resume it), or choose another --out"
        ) from None
    except OSError:
        return


@contextlib.contextmanager
def writing(out: Path | None) -> Iterator[None]:
    """A write that fails (a full disk, a stream closed under us) is an :class:`OutputError` naming the file."""
    try:
        yield
    except BrokenPipeError:
        raise  # a reader that stopped early (``| head``): the CLI leaves quietly
    except OSError as exc:
        raise OutputError(f"cannot write {out or 'the results'}: {exc.strerror or exc}") from exc


class OutputSink:
    """Write to ``out`` (created with its directory; appended to when resuming), or to stdout."""

    def __init__(self, out: Path | None, stdout: IO[str] | None, append: bool) -> None:
        self.out = out
        self.stdout = stdout
        self.append = append
        self.handle: IO[str] | None = None

    def __enter__(self) -> IO[str]:
        if self.out is None:
            return self.stdout or sys.stdout
        with writing(self.out):
            self.out.parent.mkdir(parents=True, exist_ok=True)
            # opened without truncating, locked, then emptied: a file another run is writing is refused intact
            self.handle = self.out.open("a", encoding="utf-8")
        try:
            hold(self.handle, self.out)
            with writing(self.out):
                if not self.append and stat.S_ISREG(os.fstat(self.handle.fileno()).st_mode):
                    self.handle.truncate(0)
        except BaseException:
            self.handle.close()
            raise
        return self.handle

    def __exit__(self, *exc: object) -> None:
        if self.handle is None:
            return
        try:
            with writing(self.out):
                self.handle.flush()
                if stat.S_ISREG(os.fstat(self.handle.fileno()).st_mode):
                    # Durable on disk. Only a file: fsync of a pipe or a device (``--out /dev/stdout``
                    # into ``| jq``) fails with EINVAL, after every row was written.
                    os.fsync(self.handle.fileno())
        finally:
            with contextlib.suppress(OSError):
                self.handle.close()  # its buffer could not be written: already reported

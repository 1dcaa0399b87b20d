"""Bounded reads of input text: the one definition every reader of user-named files and stdin uses.

Stdin, ``--file``, ``-v name=@file``, ``--schema FILE`` and ``-o chat_template=FILE``
all name something the user chose, which may be a gigabyte log, ``/dev/zero``
or a file that keeps growing. Each is read through :func:`read_limited`, which
never holds more than one byte past :data:`MAX_INPUT_BYTES`, so a wrong name is
one :class:`~assistant.errors.ConfigError` line instead of a MemoryError after
gigabytes were read. Kept out of :mod:`assistant.cli` because backends (a chat
template file) and the structured-output parser read such files too.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

from .errors import ConfigError
from .text_checks import invalid_utf8

__all__ = ["MAX_INPUT_BYTES", "read_input_file", "read_limited"]

MAX_INPUT_BYTES = 32 * 1024 * 1024
"""Most bytes of input text read from one source.

Far more than any model here can use (millions of tokens: days of summarising on
a CPU), and small enough that ``/dev/zero`` or a wrong file is one error line
instead of a MemoryError after gigabytes were read."""


def read_limited(handle: IO[bytes], what: str, *, strict: bool = False) -> str:
    """The text from ``handle``, refusing more than :data:`MAX_INPUT_BYTES`.

    Reads at most one byte past the limit, whatever the source: a pipe, a
    device or a file that grows while it is read. Invalid UTF-8 becomes U+FFFD
    (stdin: often another program's output, text for a model), or with
    ``strict`` is a one-line error naming the byte and its offset
    (:func:`~assistant.text_checks.invalid_utf8`): where a replaced byte would
    silently change what a file says.

    A leading byte-order mark (Notepad's "UTF-8 with BOM", Windows PowerShell's
    ``Out-File``) is dropped, as batch files drop it: kept, an invisible U+FEFF
    reached the model ahead of the text, and a ``--schema`` file was refused as
    "not valid JSON: Unexpected UTF-8 BOM".
    """
    data = handle.read(MAX_INPUT_BYTES + 1)
    if len(data) > MAX_INPUT_BYTES:
        raise ConfigError(f"{what} is larger than {MAX_INPUT_BYTES // 2**20} MiB; give a smaller input")
    if not strict:
        return data.decode("utf-8-sig", errors="replace")
    problem = invalid_utf8(data)
    if problem:
        raise ConfigError(f"{what} is not UTF-8 text ({problem}); save it as UTF-8")
    return data.decode("utf-8-sig")


def read_input_file(path: str | Path, what: str, *, strict: bool = True) -> str:
    """A file of input text through :func:`read_limited` (a pipe such as ``<(cmd)`` works too).

    Strict by default: a file the user named (``-v name=@file``, ``--file``, a
    schema, a chat template) that is not UTF-8 is refused with the byte's
    position, as a batch file's row is, instead of running on text whose
    accented letters silently became U+FFFD.
    """
    if "\0" in str(path):  # a config value or an API argument can hold one; open() raised a bare ValueError
        raise ConfigError(f"{what} {str(path)!r} is not a file name: it holds a NUL character")
    try:
        if Path(path).is_dir():
            raise ConfigError(f"{what} {path} is a directory")
        with open(path, "rb") as handle:
            return read_limited(handle, f"{what} {path}", strict=strict)
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from None

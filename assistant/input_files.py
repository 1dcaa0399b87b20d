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

import codecs
from pathlib import Path
from typing import IO

from .errors import ConfigError
from .text_checks import invalid_utf8

__all__ = ["MAX_INPUT_BYTES", "read_input_file", "read_limited", "wide_encoding"]

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
    silently change what a file says. Strict reading also names UTF-16/32 text
    (:func:`wide_encoding`) and refuses a NUL byte, which no text file holds.

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
    encoding = wide_encoding(data)
    if encoding:
        raise ConfigError(f"{what} is {encoding} text, not UTF-8; save it as UTF-8")
    problem = invalid_utf8(data)
    if problem:
        raise ConfigError(f"{what} is not UTF-8 text ({problem}); save it as UTF-8")
    nul = data.find(b"\0")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise ConfigError(f"{what} holds a NUL byte at offset {nul}, line {line}: not text; save it as UTF-8 text")
    return data.decode("utf-8-sig")


_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),  # before UTF-16 LE, whose BOM it starts with
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def wide_encoding(data: bytes) -> str | None:
    """The encoding ("UTF-16" or "UTF-32") of text in one of those (Notepad's "Unicode", Excel's
    "Unicode Text", Windows PowerShell's ``>``), else None.

    Known by its byte-order mark, or, without one, by a NUL beside the first ASCII
    character. Without a mark every byte of such text is valid UTF-8: ``notes`` saved
    as UTF-16 reached the model as ``n\\0o\\0t\\0e\\0s\\0``; with one, the error was
    "byte 0xff at offset 0", which did not say what the file was.
    """
    for bom, name in _WIDE_BOMS:
        if data.startswith(bom):
            return name
    head = data[:4]
    if len(head) == 4 and head.count(0) == 3 and (head[0] or head[3]):
        return "UTF-32"
    if len(head) >= 2 and (head[0] == 0) != (head[1] == 0) and max(head[:2]) < 0x80:
        return "UTF-16"
    return None


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

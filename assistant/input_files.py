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
    silently change what a file says. A NUL byte, which no text holds, is refused
    either way: binary data (``cat photo.jpg |``) piped on stdin was sent to the
    model as U+FFFD soup where the same bytes as ``--file`` were refused. UTF-16/32
    text (:func:`wide_encoding`) is refused either way: piped from a Notepad "Unicode"
    file (``cat notes.txt |``), it reached the model as ``S\\0u\\0m\\0…`` after two
    U+FFFD, with no word said.

    A leading byte-order mark (Notepad's "UTF-8 with BOM", Windows PowerShell's
    ``Out-File``) is dropped, as batch files drop it: kept, an invisible U+FEFF
    reached the model ahead of the text, and a ``--schema`` file was refused as
    "not valid JSON: Unexpected UTF-8 BOM".
    """
    data = handle.read(MAX_INPUT_BYTES + 1)
    if len(data) > MAX_INPUT_BYTES:
        raise ConfigError(f"{what} is larger than {MAX_INPUT_BYTES // 2**20} MiB; give a smaller input")
    encoding = wide_encoding(data)
    if encoding:  # strict or not: every byte of it is valid UTF-8, so U+FFFD would not even flag it
        advice = "save it as UTF-8" if strict else f"convert it first (iconv -f {encoding} -t UTF-8)"
        raise ConfigError(f"{what} is {encoding} text, not UTF-8; {advice}")
    if strict:
        problem = invalid_utf8(data)
        if problem:
            raise ConfigError(f"{what} is not UTF-8 text ({problem}); save it as UTF-8")
    nul = data.find(b"\0")
    if nul >= 0:  # binary data (an image, a program, a zip), strict or not: one rule for --file and stdin
        line = data.count(b"\n", 0, nul) + 1
        advice = "save it as UTF-8 text" if strict else "give text, not binary data"
        raise ConfigError(f"{what} holds a NUL byte at offset {nul}, line {line}: not text; {advice}")
    return data.decode("utf-8-sig", errors="strict" if strict else "replace")


_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),  # before UTF-16 LE, whose BOM it starts with
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def wide_encoding(data: bytes) -> str | None:
    """The encoding ("UTF-16" or "UTF-32") of text in one of those (Notepad's "Unicode", Excel's
    "Unicode Text", Windows PowerShell's ``>``), else None.

    Known by its byte-order mark, or, without one, by a NUL beside a first character
    that is printable ASCII, in data of a whole number of code units, most of the
    first 32 of them ASCII alike and none a NUL character. Without a mark every byte of such text is valid
    UTF-8: ``notes`` saved as UTF-16 reached the model as ``n\\0o\\0t\\0e\\0s\\0``;
    with one, the error was "byte 0xff at offset 0", which did not say what the
    file was. The guess is narrow on purpose: stdin is refused on it too, and
    ``a\\0b`` piped from a program, or binary data opening ``\\0\\1``, is no UTF-16.
    """
    for bom, name in _WIDE_BOMS:
        if data.startswith(bom):
            return name
    for size, name in ((4, "UTF-32"), (2, "UTF-16")):
        if len(data) < size or len(data) % size:
            continue
        units = [data[i : i + size] for i in range(0, min(len(data), 32 * size), size)]
        for at in (0, size - 1):  # little-endian: the character's byte first; big-endian: last
            ascii_units = [unit for unit in units if unit.count(0) == size - 1 and unit[at] in _TEXT_BYTES]
            if units[0] in ascii_units and 2 * len(ascii_units) > len(units) and bytes(size) not in units:
                return name
    return None


_TEXT_BYTES = frozenset(b"\t\n\r") | frozenset(range(0x20, 0x7F))
"""The bytes an ASCII character of text is (:func:`wide_encoding`'s first character)."""


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

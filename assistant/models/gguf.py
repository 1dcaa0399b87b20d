"""A small reader for GGUF file headers: magic, version and metadata key/values.

Reading the header ourselves lets us reject a non-GGUF file with a clear error
before an engine sees it, pick ``n_ctx`` from the model's training context, and
find the chat template and architecture without loading any weights. Large
arrays (the vocabulary) are skipped, not decoded.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import ModelLoadError

GGUF_MAGIC = b"GGUF"

# GGUF value types
_SCALARS = {
    0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d",
}  # fmt: skip
_STRING, _ARRAY = 8, 9
_MAX_STRING = 64 << 20
_MAX_KEPT_TEXT = 64 << 20
"""Most bytes of string values one header may hold in memory together. Each string is bounded by
:data:`_MAX_STRING`, but a file of many such strings had every one of them decoded and kept (a 4 GB
file, 4 GB of memory, for ``models list``); real headers keep well under 1 MB (vocabularies are
arrays, skipped)."""


MAX_TENSOR_DIMS = 8
"""Most dimensions a tensor of the header's table may claim (ggml has 4): each is read one by one,
so a claim of 2**32 - 1 made every reader of the table loop over the whole file."""

SMALL_ARRAY = 1024
"""Numeric arrays of at most this many items are returned as lists: per-layer values (OpenELM's
``attention.head_count_kv``) that :class:`~assistant.models.context_size.KvShape` needs as numbers;
returned as their length, such an array read as "16 KV heads" for a model of 16 layers. A vocabulary's
scores and token types (tens of thousands) stay skipped."""

MAX_TENSORS = 1 << 20
"""Most tensors a header's table may claim. Real models hold a few thousand at most (one per weight matrix;
mixture-of-experts files merge each layer's experts into one), but each entry takes only 24 bytes of file
and a tuple of memory: a crafted 1 GB file of empty entries took minutes and gigabytes for ``models list``."""

MAX_HEADER_ITEMS = 1 << 22
"""Most keys and string or array items a header may claim together. These are read one by one (each a
length to check), so a crafted file of millions of empty keys or empty items took minutes for ``models
list`` (26 MB of them: 6 s, a gigabyte: minutes), as a huge tensor table did. Real headers hold a few
dozen keys and a vocabulary and merges of under a million items (Gemma's 262,144 tokens); numeric arrays
are skipped in one seek and not counted."""

MAX_KEPT_NUMBERS = 1 << 16
"""Most numbers of small arrays (:data:`SMALL_ARRAY`) one header may return together. Each kept number is a
Python object of 24 to 36 bytes from 1 to 8 bytes of file: a crafted file of many small arrays under
distinct keys cost ten times its size in memory (82 MB of file, 800 MB), where real headers keep a few
per-layer arrays of at most a few hundred values."""

_MAX_ARRAY_DEPTH = 4
"""GGUF arrays may hold arrays; real files nest at most one level. A deeper file is hostile, not a model."""


class _Reader:
    """Reads a header whose lengths and counts are untrusted: each is checked against the bytes left first.

    A crafted file can claim a 2**62-element array or nest arrays thousands deep;
    checking the claim against the file's size before seeking or allocating turns
    that into a one-line :class:`ModelLoadError` instead of an overflow, a
    ``RecursionError`` or an attempt to build a list of 2**62 items.
    """

    def __init__(self, handle: BinaryIO, path: Path) -> None:
        self.handle = handle
        self.path = path
        self.size = os.fstat(handle.fileno()).st_size
        self.kept_text = 0
        self.items = 0
        self.kept_numbers = 0

    def remaining(self) -> int:
        return self.size - self.handle.tell()

    def need(self, size: int, what: str) -> None:
        """Refuse a claimed length that the rest of the file cannot hold (before anything is allocated)."""
        if size > self.remaining():
            raise ModelLoadError(self.path, f"corrupt GGUF header ({what} runs past the end of the file)")

    def claim_items(self, count: int) -> None:
        """Count ``count`` keys or items read one by one against :data:`MAX_HEADER_ITEMS` (before reading them)."""
        self.items += count
        if self.items > MAX_HEADER_ITEMS:
            raise ModelLoadError(
                self.path, f"corrupt GGUF header (over {MAX_HEADER_ITEMS:,} keys and array items; no model has as many)"
            )

    def read(self, size: int) -> bytes:
        data = self.handle.read(size)
        if len(data) != size:
            raise ModelLoadError(self.path, "file is truncated (header ends early)")
        return data

    def unpack(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def string(self, keep: bool = True, what: str = "a string") -> str:
        """A string value; skipped (seeked over, "" returned) unless ``keep``: a vocabulary's items need no decoding.
        ``what`` names it in the error when its claimed length is impossible (``a key``), with the length."""
        length = self.unpack("<Q")
        if length > _MAX_STRING:
            raise ModelLoadError(
                self.path, f"corrupt GGUF header ({what} of {length:,} bytes; none is over {_MAX_STRING >> 20} MB)"
            )
        self.need(length, f"{what} of {length:,} bytes")
        if not keep:
            self.handle.seek(length, 1)
            return ""
        self.kept_text += length
        if self.kept_text > _MAX_KEPT_TEXT:  # checked before reading: the claim, not the bytes
            raise ModelLoadError(self.path, "corrupt GGUF header (more text than any model's header holds)")
        return self.read(length).decode("utf-8", errors="replace")

    def value(self, kind: int, keep: bool, depth: int = 0) -> Any:
        if kind in _SCALARS:
            return self.unpack(_SCALARS[kind])
        if kind == _STRING:
            return self.string(keep=keep or depth == 0)  # a top-level string is a fact; an array's, skipped
        if kind == _ARRAY:
            if depth >= _MAX_ARRAY_DEPTH:
                raise ModelLoadError(self.path, "corrupt GGUF header (arrays nested too deep)")
            item_kind = self.unpack("<I")
            count = self.unpack("<Q")
            if item_kind in _SCALARS:
                size = struct.calcsize(_SCALARS[item_kind])
                self.need(size * count, "an array")
                if not keep and (count > SMALL_ARRAY or depth > 0):  # an item of a skipped array: skipped too
                    self.handle.seek(size * count, 1)
                    return count
                self.kept_numbers += count
                if self.kept_numbers > MAX_KEPT_NUMBERS:  # checked before reading, like the text kept
                    raise ModelLoadError(self.path, "corrupt GGUF header (more numbers than any model's header holds)")
                return list(struct.unpack(f"<{count}{_SCALARS[item_kind][1:]}", self.read(size * count)))
            if item_kind not in (_STRING, _ARRAY):
                raise ModelLoadError(self.path, f"corrupt GGUF header (unknown value type {item_kind})")
            self.need(8 * count, "an array")  # every string or array item takes at least 8 bytes
            self.claim_items(count)
            if not keep:
                for _ in range(count):
                    self.value(item_kind, False, depth + 1)
                return count
            return [self.value(item_kind, True, depth + 1) for _ in range(count)]
        raise ModelLoadError(self.path, f"corrupt GGUF header (unknown value type {kind})")


def is_gguf(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(4) == GGUF_MAGIC
    except OSError:
        return False


def read_metadata(
    path: str | Path, keep_arrays: tuple[str, ...] = (), count_parameters: bool = False
) -> dict[str, Any]:
    """Metadata of a GGUF file. Arrays are returned as their length unless named in ``keep_arrays``
    or numeric and small (:data:`SMALL_ARRAY`: per-layer values, as lists).

    ``count_parameters`` also reads the tensor table after the metadata (names and
    shapes, no weights) and stores the total element count as ``GGUF.parameter_count``.
    """
    path = Path(path)
    if not path.is_file():  # /dev/zero or a FIFO exists: "no such file" sent the user looking for a typo
        raise ModelLoadError(path, "not a regular file" if path.exists() else "no such file")
    try:
        return _read(path, keep_arrays, count_parameters)
    except OSError as exc:  # unreadable (permissions, I/O): "error: Input/output error" named no file
        raise ModelLoadError(path, f"cannot read it: {exc.strerror or exc}") from None


def _read(path: Path, keep_arrays: tuple[str, ...], count_parameters: bool) -> dict[str, Any]:
    with path.open("rb") as handle:
        reader = _Reader(handle, path)
        if handle.read(4) != GGUF_MAGIC:
            raise ModelLoadError(path, "not a GGUF file (bad magic bytes)")
        version = reader.unpack("<I")
        swapped = struct.unpack(">I", struct.pack("<I", version))[0]
        if version not in READ_VERSIONS and swapped in READ_VERSIONS:
            # Files converted for big-endian machines (IBM Z): read as little-endian, every count
            # was garbage and the file was called "corrupt GGUF header (… runs past the end …)".
            raise ModelLoadError(
                path,
                f"a big-endian GGUF (version {swapped}), for machines such as IBM Z; llama.cpp here reads "
                "little-endian ones: get that build of the model, or convert it with gguf-convert-endian",
            )
        if version < 2:
            raise ModelLoadError(path, f"GGUF version {version} is too old")
        n_tensors = reader.unpack("<Q")
        n_kv = reader.unpack("<Q")
        if n_kv * 12 > reader.remaining() and not _first_key_too_long(reader):
            # each pair: a key length (8) and a type (4) at least; a first key claiming more than the file
            # holds is named by its own error below (it was called a bad key/value count)
            reader.need(n_kv * 12, f"the key/value count ({n_kv:,})")
        reader.claim_items(n_kv)
        metadata: dict[str, Any] = {"GGUF.version": version}
        for _ in range(n_kv):
            key = reader.string(what="a key")
            kind = reader.unpack("<I")
            metadata[key] = reader.value(kind, keep=key in keep_arrays)
        if count_parameters:
            _read_tensor_table(reader, n_tensors, metadata)
    return metadata


def _first_key_too_long(reader: _Reader) -> bool:
    """Whether the first key's claimed length (read ahead, then put back) is more than the file holds."""
    if reader.remaining() < 8:
        return False
    start = reader.handle.tell()
    length = reader.unpack("<Q")
    reader.handle.seek(start)
    return length > reader.remaining() - 8


def _read_tensor_table(reader: _Reader, n_tensors: int, metadata: dict[str, Any]) -> None:
    """The tensor table after the metadata (names, shapes, types, offsets; no weights), into ``metadata``.

    Stores ``GGUF.parameter_count`` (total elements), ``GGUF.tensors`` (``(ggml type, elements,
    offset)`` each), ``GGUF.data_start`` (where tensor data begins, aligned) and ``GGUF.data_end``
    (where the last tensor's bytes end, by :data:`GGML_BLOCKS`). A file that ends before that is
    refused here: a copy or download cut short (half the bytes of a model) was listed by ``models
    list`` and ``models info`` as a healthy model of half the size, and accepted by ``models
    default``, until llama.cpp refused it at load.
    """
    path = reader.path
    reader.need(n_tensors * 24, "the tensor count")  # name length, dims, type, offset at least
    if n_tensors > MAX_TENSORS:
        raise ModelLoadError(path, f"corrupt GGUF header ({n_tensors:,} tensors; no model has over {MAX_TENSORS:,})")
    total = 0
    tensors: list[tuple[int, int, int]] = []
    for _ in range(n_tensors):
        reader.string(keep=False)  # tensor name
        n_dims = reader.unpack("<I")
        if n_dims > MAX_TENSOR_DIMS:
            raise ModelLoadError(path, f"corrupt GGUF header (tensor with more than {MAX_TENSOR_DIMS} dimensions)")
        elements = 1
        for _ in range(n_dims):
            elements *= reader.unpack("<Q")
        kind = reader.unpack("<I")
        offset = reader.unpack("<Q")
        tensors.append((kind, elements, offset))
        total += elements
    alignment = metadata.get("general.alignment", 32)
    if not isinstance(alignment, int) or isinstance(alignment, bool):
        alignment = 32  # a key of the wrong type is not that fact (as for every header value)
    if alignment <= 0 or alignment & (alignment - 1):  # as llama.cpp: 0 would divide by zero below
        raise ModelLoadError(path, f"corrupt GGUF header (general.alignment {alignment} is not a power of two)")
    start = reader.handle.tell()
    data_start = start + (-start % alignment)
    metadata["GGUF.parameter_count"] = total
    metadata["GGUF.tensors"] = tensors
    metadata["GGUF.data_start"] = data_start
    end = max((offset + 1 for _, elements, offset in tensors if elements), default=0)
    for kind, elements, offset in tensors:
        if elements and kind in GGML_BLOCKS:  # a type this table does not know counts its first byte alone
            block, block_bytes = GGML_BLOCKS[kind]
            end = max(end, offset + elements * block_bytes // block)
    metadata["GGUF.data_end"] = data_start + end
    if end and data_start + end > reader.size:  # the bytes of some tensor are not all in the file
        cut = f"file is truncated ({reader.size:,} bytes; its tensor data runs to {data_start + end:,})"
        raise ModelLoadError(path, cut + CUT_HINT)


GGML_BLOCKS: dict[int, tuple[int, int]] = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 9: (32, 40),
    10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292),
    16: (256, 66), 17: (256, 74), 18: (256, 98), 19: (256, 50), 20: (32, 18), 21: (256, 110), 22: (256, 82),
    23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8), 29: (256, 56), 30: (1, 2),
    34: (256, 54), 35: (256, 66), 39: (32, 17),
}  # fmt: skip
"""ggml tensor types: (elements per block, bytes per block), as ggml's type traits (and the ``gguf``
package's ``GGML_QUANT_SIZES``) give them; kept here since ``gguf`` is an optional dependency. With it
the tensor table says where the last tensor's bytes end, so a file cut inside its last tensor (a
download that stopped a few bytes short) is "truncated" too, not only one cut before a tensor's start."""


CUT_HINT = ": an interrupted download or copy? pull or copy it again"
"""The advice that ends the truncated-tensor-data reason; a pull refusing a published file cut short drops it
(pulling again would fetch the same bytes)."""

READ_VERSIONS = (2, 3)
"""The GGUF versions this reader knows the layout of; only their headers are judged by :func:`check_whole`."""


def check_whole(path: Path) -> None:
    """Raise :class:`ModelLoadError` when ``path``, a GGUF of a version this reader knows, is not whole.

    For a download about to be installed: a published file cut short matches its own
    published sha256, and was installed only for ``models list`` to call it "not
    readable" and llama.cpp to refuse it. The header and tensor table are read (no
    weights), so a file cut in its header or in its tensor data is refused. A file of
    another version (a future GGUF, or bytes that only start with the magic) is left to
    the engine: this reader cannot tell whether it is whole.
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
    except OSError as exc:
        raise ModelLoadError(path, f"cannot read it: {exc.strerror or exc}") from None
    if len(head) == 8 and head[:4] == GGUF_MAGIC and struct.unpack("<I", head[4:])[0] not in READ_VERSIONS:
        return
    read_metadata(path, count_parameters=True)


def header_text(metadata: dict[str, Any], key: str) -> str | None:
    """A string value of an untrusted header, else None (also for an empty string).

    A key of the wrong type is not that fact: an array arrives as its length, so
    ``str()`` made a 2-element ``general.name`` the model "2", and an integer or
    array ``tokenizer.chat_template`` was taken for a template (``models info``
    said "chat template: no" while ``--mode chat`` failed in Jinja with "Can't
    compile non template nodes"). llama.cpp ignores such keys too.
    """
    value = metadata.get(key)
    return value if isinstance(value, str) and value else None


def chat_template(metadata: dict[str, Any]) -> str | None:
    """The file's own chat template (``tokenizer.chat_template``), None for a file without a usable one."""
    return header_text(metadata, "tokenizer.chat_template")


def training_context_length(metadata: dict[str, Any]) -> int | None:
    arch = metadata.get("general.architecture")
    if not isinstance(arch, str) or not arch:  # a number or an array is no architecture to look the key up by
        return None
    value = metadata.get(f"{arch}.context_length")
    # an untrusted header: a bool (an int in Python) or a non-positive length is no context length
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None

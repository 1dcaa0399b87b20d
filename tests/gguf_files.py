"""Tiny GGUF files for tests: a header with chosen key/value pairs and no tensor data.

Enough for the header reader (``models info``, ``models list``, ``default``), and
for crafting hostile headers: each pair is ``(key, GGUF value type, raw value bytes)``.
"""

from __future__ import annotations

import struct
from pathlib import Path

STRING, UINT32, ARRAY = 8, 4, 9
"""The GGUF value types the tests write."""


def gguf_string(text: str) -> bytes:
    """A GGUF string: its byte length (uint64), then UTF-8."""
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def write_gguf_header(path: Path, pairs: list[tuple[str, int, bytes]], n_tensors: int = 0) -> Path:
    """``path`` as a version-3 GGUF holding ``pairs`` (and claiming ``n_tensors`` tensors)."""
    body = b"".join(gguf_string(key) + struct.pack("<I", kind) + value for key, kind, value in pairs)
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, n_tensors, len(pairs)) + body)
    return path

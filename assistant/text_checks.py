"""Whether text that enters the assistant is valid Unicode: one check for argv, batch rows and files.

Bytes that are not UTF-8 (a Latin-1 file named by ``-v name=@file``) are refused
by :func:`invalid_utf8` with the byte and where it is, in the same words as a
string's undecodable argv byte (``byte 0xe9``), rather than silently decoded to
U+FFFD: the text would otherwise change without a word.

A Python ``str`` can hold lone surrogates: undecodable argv bytes arrive as
``\\udce9`` (``surrogateescape``), and JSON may spell ``"\\ud800"``. They have no
UTF-8 encoding, so no tokenizer, database or terminal can take them; left alone
they surface as a ``UnicodeEncodeError`` traceback far from where they came in.
Callers refuse them where they enter, with the position, using these helpers.
"""

from __future__ import annotations

from typing import Any


def invalid_unicode(text: str) -> str | None:
    """None if ``text`` encodes as UTF-8, else a short description of the first bad character."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        what = f"byte 0x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"lone surrogate U+{code:04X}"
        return f"{what} at character {exc.start + 1}"
    return None


def invalid_unicode_in(value: Any) -> str | None:
    """:func:`invalid_unicode` over every string in a JSON-like value (keys included); None if all are valid."""
    if isinstance(value, str):
        return invalid_unicode(value)
    if isinstance(value, dict):
        for key, item in value.items():
            problem = invalid_unicode_in(key) or invalid_unicode_in(item)
            if problem:
                return f"{problem} of {key!r}" if isinstance(key, str) and not invalid_unicode(key) else problem
    elif isinstance(value, (list, tuple)):
        for item in value:
            problem = invalid_unicode_in(item)
            if problem:
                return problem
    return None


def invalid_utf8(data: bytes) -> str | None:
    """None if ``data`` is UTF-8, else which byte is not and where: ``byte 0xe9 at offset 3, line 1``.

    The offset counts bytes from 0, as ``xxd``, ``od`` and ``dd skip=`` do (a
    character count means nothing in bytes that are not text); the line is
    where an editor finds it.
    """
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return f"byte 0x{data[exc.start]:02x} at offset {exc.start}, line {line}"
    return None


class RepeatedKey(ValueError):
    """A JSON object naming a key twice (:func:`refuse_repeated_keys`); the key is ``key``."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def refuse_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads``'s ``object_pairs_hook`` for text a user wrote: an object, or :class:`RepeatedKey`.

    Python's reader keeps the last of ``{"text": "a", "text": "b"}`` without a word: a batch row
    ran on a text the user may not have meant, and a schema's ``"type"`` written twice quietly
    lost one. One definition for batch rows and JSON Schemas alike.
    """
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise RepeatedKey(key)
        result[key] = value
    return result

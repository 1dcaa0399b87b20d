"""Making untrusted text safe to print: the one definition, for the CLI and the chat app alike.

Text from a model, the history, a tool, a plugin or a file is data. On a
terminal (and in a pipe that later reaches one) a control character would be
*executed*: ESC starts colour, cursor, title (OSC 0) and hyperlink (OSC 8)
sequences, CR and BS overwrite what was printed, BEL rings. So every C0/C1
control except newline and tab is replaced by a visible stand-in: C0 by its
Unicode "control picture" (ESC shows as ``␛``), DEL by ``␡``, C1 by a ``\\x9b``
style escape. The mapping is per character, so it can be applied to each
streamed chunk independently. Stored bytes and ``--json`` keep the raw text.
"""

from __future__ import annotations

import json
from typing import Any

# C0 controls -> U+2400.. pictures, DEL -> U+2421, C1 controls (U+0080-U+009F) -> "\x9b"-style escapes.
_VISIBLE = {code: chr(0x2400 + code) for code in range(0x20) if code not in (0x09, 0x0A)}
_VISIBLE[0x7F] = "\u2421"
_VISIBLE.update({code: f"\\x{code:02x}" for code in range(0x80, 0xA0)})
# Lone surrogates (undecodable argv bytes, "\ud800" in JSON) cannot be encoded for
# output at all: they get U+FFFD, the replacement the history store uses.
_VISIBLE.update({code: "\ufffd" for code in range(0xD800, 0xE000)})
_TRANSLATION = str.maketrans(_VISIBLE)
# JSON already escapes C0 (\u001b); DEL and C1 (U+009B is a one-character CSI on
# some terminals) it leaves raw. Inside JSON they can only occur in strings, where
# \u escapes decode back to the same characters: the data is unchanged.
_JSON_ESCAPES = str.maketrans({code: f"\\u{code:04x}" for code in (0x7F, *range(0x80, 0xA0), *range(0xD800, 0xE000))})


def visible_text(text: str) -> str:
    """``text`` with terminal control characters replaced by visible stand-ins (``\\n`` and ``\\t`` kept)."""
    return text.translate(_TRANSLATION)


def json_text(data: Any, *, indent: int | None = None) -> str:
    """``data`` as JSON that is safe to print and decodes to exactly ``data``.

    Non-ASCII text stays readable (``ensure_ascii=False``); every character a
    terminal could act on, and lone surrogates, are ``\\uXXXX`` escapes.
    """
    return json.dumps(data, ensure_ascii=False, indent=indent).translate(_JSON_ESCAPES)

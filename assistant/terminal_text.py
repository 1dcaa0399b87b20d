"""Making untrusted text safe to print: the one definition, for the CLI and the chat app alike.

Text from a model, the history, a tool, a plugin or a file is data. On a
terminal (and in a pipe that later reaches one) a control character would be
*executed*: ESC starts colour, cursor, title (OSC 0) and hyperlink (OSC 8)
sequences, CR and BS overwrite what was printed, BEL rings. So every C0/C1
control except newline and tab is replaced by a visible stand-in: C0 by its
Unicode "control picture" (ESC shows as ``␛``), DEL by ``␡``, C1 by a ``\\x9b``
style escape.

The invisible bidirectional-text controls (:data:`BIDI_CONTROLS`: embeddings,
overrides, isolates and the three marks) are not executed by the terminal but
by its text layout: ``RLO`` makes ``exe.png`` of ``\\u202egnp.exe`` look like a
picture, and a history title or GGUF name can reorder the line it is shown on
("Trojan Source"). They show as ``\\u202e`` style escapes. Right-to-left
*letters* (Hebrew, Arabic) are text and stay as they are; only the invisible
controls that override their natural order are made visible.

The invisible format characters of :data:`HIDDEN_FORMAT` hide text: a soft
hyphen or a zero-width space makes ``pay\\u00adpal`` read as ``paypal``, and the
"tag" characters (U+E0020…) carry a whole sentence no one sees ("ASCII
smuggling" of instructions to a model). The Hangul fillers (U+115F, U+1160,
U+3164, U+FFA0) are letters that draw nothing: ``admin\\u3164`` passes for
``admin``, and a word of them is a blank no one can tell from a space (an
old-Hangul syllable that uses U+115F/U+1160 for a missing jamo shows the escape). The
supplementary variation selectors (U+E0100…U+E01EF, like the rest of that
plane) draw nothing either, and with the 16 standard selectors they spell one
byte each: a payload hidden behind one visible character ("emoji smuggling"),
which their escapes bring to light. Their one use in text, a glyph
variant of a CJK ideograph in a Japanese name, shows as the escape after the
ideograph; the emoji and standard variation selectors (U+FE00…U+FE0F) stay,
as every emoji with ``\\ufe0f`` would otherwise be noise. The line and paragraph separators
U+2028/U+2029 break some terminals' line layout and none shows them. All of them
show as ``\\u00ad`` / ``\\U000e0041`` style escapes, as the bidi controls do. The
joiners that are part of ordinary text stay: ZWJ (U+200D) builds emoji
sequences and Indic conjuncts, ZWNJ (U+200C) is spelling in Persian, and the
format characters with a glyph (Arabic number signs) or of a script's own
orthography (Mongolian, hieroglyph and shorthand format controls) are text.

The mapping is per character, so it can be applied to each streamed chunk
independently. Stored bytes and ``--json`` keep the raw text.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any, Callable

# C0 controls -> U+2400.. pictures, DEL -> U+2421, C1 controls (U+0080-U+009F) -> "\x9b"-style escapes.
_VISIBLE = {code: chr(0x2400 + code) for code in range(0x20) if code not in (0x09, 0x0A)}
_VISIBLE[0x7F] = "\u2421"
_VISIBLE.update({code: f"\\x{code:02x}" for code in range(0x80, 0xA0)})

BIDI_CONTROLS = frozenset(
    (
        0x061C,  # ARABIC LETTER MARK
        0x200E,  # LEFT-TO-RIGHT MARK
        0x200F,  # RIGHT-TO-LEFT MARK
        *range(0x202A, 0x202F),  # LRE, RLE, PDF, LRO, RLO: embeddings and overrides
        *range(0x2066, 0x206A),  # LRI, RLI, FSI, PDI: isolates
    )
)
"""Code points of the invisible Unicode bidi controls: every character of the
explicit bidi classes (LRE … PDI) plus the implicit marks ALM, LRM and RLM."""
_VISIBLE.update({code: f"\\u{code:04x}" for code in BIDI_CONTROLS})

HIDDEN_FORMAT = frozenset(
    (
        0x00AD,  # SOFT HYPHEN
        0x200B,  # ZERO WIDTH SPACE
        0x2028,  # LINE SEPARATOR
        0x2029,  # PARAGRAPH SEPARATOR
        *range(0x2060, 0x2066),  # WORD JOINER, invisible math operators (function application, times, …), U+2065
        0x034F,  # COMBINING GRAPHEME JOINER: a mark that draws nothing, so pay\u034fpal reads as paypal
        0x17B4,  # KHMER VOWEL INHERENT AQ, AA: invisible, "not to be used" (Unicode), draw nothing
        0x17B5,
        *range(0x1D173, 0x1D17B),  # MUSICAL SYMBOL BEGIN BEAM … END PHRASE: invisible format controls
        *range(0x206A, 0x2070),  # deprecated shaping and symmetric-swapping controls
        0xFEFF,  # ZERO WIDTH NO-BREAK SPACE (byte order mark)
        *range(0xFFF9, 0xFFFC),  # interlinear annotation anchor, separator, terminator
        0x115F,  # HANGUL CHOSEONG FILLER: a letter that draws nothing
        0x1160,  # HANGUL JUNGSEONG FILLER
        0x3164,  # HANGUL FILLER
        0xFFA0,  # HALFWIDTH HANGUL FILLER
        # Plane 14, all default-ignorable: LANGUAGE TAG (U+E0001), the TAG characters (U+E0020…U+E007F,
        # invisible ASCII), the supplementary variation selectors (U+E0100…U+E01EF, a hidden byte each)
        # and the unassigned rest, which a conforming renderer draws as nothing too.
        *range(0xE0000, 0xE1000),
    )
)
"""Code points that are invisible, or break lines no terminal draws, and can hide or spoof text:
shown as escapes (``\\u00ad``) by :func:`visible_text`, dropped by :func:`without_invisible_controls`."""
_VISIBLE.update({code: f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}" for code in HIDDEN_FORMAT})
# Lone surrogates (undecodable argv bytes, "\ud800" in JSON) cannot be encoded for
# output at all: they get U+FFFD, the replacement the history store uses.
_VISIBLE.update({code: "\ufffd" for code in range(0xD800, 0xE000)})
ESCAPE_SEQUENCE = (
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI: colour, cursor ("ESC [31m", "ESC [2K")
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d-\x9f])[^\x00-\x1f\x7f-\x9f]*(?:\x07|\x1b\\|\x9c)"  # OSC (links, titles), DCS…
    r"|\x1b[ -/]*[0-~]"  # the other escapes ("ESC (B", "ESC =") and an unterminated string's introducer
)
"""A terminal control sequence (ECMA-48), as text copied from a coloured terminal or log holds them (a regex)."""
_ESCAPE_SEQUENCES = re.compile(ESCAPE_SEQUENCE)


def without_escape_sequences(text: str) -> str:
    """``text`` without its terminal control sequences, where what the text *says* is wanted (a title
    made from coloured output, a name found in it): shown with their escapes, a coloured ``red`` was
    titled ``␛[31mred␛[0m``, and dropped one character at a time, ``[31mred [0m``."""
    return _ESCAPE_SEQUENCES.sub("", text) if "\x1b" in text or _C1_INTRODUCER.search(text) else text


_C1_INTRODUCER = re.compile("[\x90\x98\x9b\x9d-\x9f]")
_TRANSLATION = str.maketrans(_VISIBLE)


def _json_escape(code: int) -> str:
    """``\\u007f``, or the surrogate pair JSON spells a character past U+FFFF with (``\\udb40\\udc41``).

    What ``json.dumps`` writes, computed directly: the table holds thousands of code points.
    """
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


# JSON already escapes C0 (\u001b); DEL, C1 (U+009B is a one-character CSI on
# some terminals) and the bidi controls it leaves raw. Inside JSON they can only
# occur in strings, where \u escapes decode back to the same characters: the data
# is unchanged.
# Built on first use (functools.cache): thousands of entries, and `assistant --help` needs neither.
@functools.cache
def _json_escapes() -> dict[int, str]:
    return {
        code: _json_escape(code)
        for code in (0x7F, *range(0x80, 0xA0), *BIDI_CONTROLS, *HIDDEN_FORMAT, *range(0xD800, 0xE000))
    }


@functools.cache
def _no_invisible() -> dict[int, str | None]:
    return dict.fromkeys((*BIDI_CONTROLS, *HIDDEN_FORMAT)) | {0x2028: "\n", 0x2029: "\n"}


def without_invisible_controls(text: str) -> str:
    """``text`` without invisible controls, for the user's own text such as a paste: it reads the same.

    Shown as ``\\u200f`` escapes, a right-to-left mark copied with a Hebrew or
    Arabic sentence, or the soft hyphens of a web page, would reach the model as
    six letters of noise each; dropped, the sentence reads the same and nothing
    is left to reorder the screen or to hide words (tag characters) from the
    person sending them. The line and paragraph separators become the line end
    they stand for.
    """
    return text.translate(_no_invisible())




_BLANK_RUNS = re.compile("[ \t\r\n\u2028\u2029]+")


def one_line(text: str, width: int | None = None) -> str:
    """``text`` flattened to one line: each run of spaces, tabs and line ends becomes one space.

    Line ends include U+2028/U+2029, which some viewers break lines at. For error
    messages and listings that must stay one line. Not
    ``" ".join(text.split())``: ``str.split`` also splits on VT, FF, FS…US and
    NEL, which are control characters, so a message holding them lost them
    silently as spaces; here they stay, for :func:`visible_text` to show.

    With ``width`` (a column of a listing), a longer line is cut to at most that
    many terminal cells, ending in "…" (:func:`cell_width`): counted in characters,
    a Japanese title took twice its column and wrapped the row.
    """
    flat = _BLANK_RUNS.sub(" ", text).strip(" ")  # not .strip(): it would drop an end VT, FS or NEL
    if width is None:
        return flat
    return cut_to_cells(flat, width)


def cut_to_cells(text: str, width: int) -> str:
    """``text`` if it takes at most ``width`` terminal cells, else cut to fit, ending in "…"."""
    if cell_width(text) <= width:
        return text
    used, end = 0, 0
    for index, char in enumerate(text):
        size = _cells(char)
        if size and used + size > width - 1:  # a mark of no width stays with the character before it
            break
        used, end = used + size, index + 1
    return text[:end] + "…"


MAX_MESSAGE_CELLS = 2000
"""The most terminal cells an error line or notification shows. Errors quote what came from outside (a
GGUF's architecture, a chat template's ``raise_exception`` words, llama.cpp's log, a server's body):
a 2 MB architecture name made a 2 MB "one-line" error."""


def message_line(message: str, *, flatten: bool = True) -> str:
    """An error message as shown: one line (:func:`one_line`), controls visible, at most
    :data:`MAX_MESSAGE_CELLS` cells. The CLI's ``fail`` shows this; the chat app's notifications too,
    with ``flatten=False`` (a toast may keep its line breaks)."""
    flat = (one_line(message) or message) if flatten else message
    trimmed = flat[: MAX_MESSAGE_CELLS * 2]  # before visible_text, which only widens: no work on megabytes
    shown = cut_to_cells(visible_text(trimmed), MAX_MESSAGE_CELLS)
    if len(trimmed) < len(flat) and not shown.endswith("…"):
        shown += "…"
    return shown


def _cells(char: str) -> int:
    """Terminal cells ``char`` takes: 2 for East Asian wide and full-width, 0 for combining marks, else 1."""
    import unicodedata

    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def cell_width(text: str) -> int:
    """How many terminal cells ``text`` (one line) takes: CJK characters and most emoji take two."""
    return sum(_cells(char) for char in text) if not text.isascii() else len(text)


def padded(text: str, width: int) -> str:
    """``text`` followed by spaces to fill ``width`` cells (``f"{text:<20}"`` counts characters, not cells)."""
    return text + " " * max(0, width - cell_width(text))


def visible_text(text: str) -> str:
    """``text`` with terminal control characters replaced by visible stand-ins (``\\n`` and ``\\t`` kept).

    C0/C1 controls, the bidi controls of :data:`BIDI_CONTROLS` and the invisible
    format characters of :data:`HIDDEN_FORMAT` included, so nothing printed can
    move the cursor, restyle the terminal, reorder or break a line, or hide text.
    """
    return text.translate(_TRANSLATION)


def json_text(data: Any, *, indent: int | None = None, default: Callable[[Any], Any] | None = None) -> str:
    """``data`` as JSON that is safe to print and decodes to exactly ``data``.

    Non-ASCII text stays readable (``ensure_ascii=False``); every character a
    terminal could act on, and lone surrogates, are ``\\uXXXX`` escapes.
    ``default`` is ``json.dumps``'s: what a value JSON has no type for becomes.
    """
    return json.dumps(data, ensure_ascii=False, indent=indent, default=default).translate(_json_escapes())


class StreamedLineEnds:
    """CRLF made LF across streamed pieces, for printing: ``\r`` and ``\n`` often arrive as two tokens.

    A CR that ends a piece is held until the next piece shows whether a LF
    follows; :meth:`flush` gives back one still held at the end. Only line ends
    change: a lone CR stays, for :func:`visible_text` to show as ``␍``.
    """

    def __init__(self) -> None:
        self._held_cr = False

    def feed(self, piece: str) -> str:
        if self._held_cr:
            piece, self._held_cr = "\r" + piece, False
        if piece.endswith("\r"):
            piece, self._held_cr = piece[:-1], True
        return piece.replace("\r\n", "\n")

    def flush(self) -> str:
        held, self._held_cr = ("\r" if self._held_cr else ""), False
        return held

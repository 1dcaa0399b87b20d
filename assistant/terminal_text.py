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
variant of a CJK ideograph in a Japanese name (an Ideographic Variation
Sequence), is drawn as it is: one selector right after a CJK unified ideograph
(:data:`IN_TEXT`). The line and paragraph separators
U+2028/U+2029 break some terminals' line layout and none shows them. All of them
show as ``\\u00ad`` / ``\\U000e0041`` style escapes, as the bidi controls do. The
format characters with a glyph (Arabic number signs) or of a script's own
orthography (Mongolian, hieroglyph and shorthand format controls) are text.

The joiners and selectors that text uses (:data:`IN_TEXT`: ZWJ U+200D builds emoji
sequences and Indic conjuncts, ZWNJ U+200C is spelling in Persian, U+FE0F makes ❤
an emoji, a Mongolian free variation selector picks a letter's form) hide text too
when they come in runs: a stretch of them between two letters spells bits no one
sees, a run of variation selectors behind an emoji spells bytes, and tag characters
a sentence. So they are drawn as they are only where text puts them — one joiner
after a drawn non-ASCII character (👩‍💻, क्‍ष, می‌خواهم), one selector after one
(❤️; 1️⃣'s keycap after a digit), one supplementary selector after a CJK ideograph,
the tag letters of a subdivision flag (🏴 for England) — and are escapes anywhere else
(``\\u200d``), runs whole: a joiner after an ASCII letter joins nothing, and
``a\\u200cb\\u200dc`` spells bits. The start of the text counts as a drawn
character, so a token that is one selector is still drawn as itself. A stream
must be cut only where the rule sees both sides (:class:`StreamedLineEnds`);
every other character is mapped on its own.
Stored bytes and ``--json`` keep the raw text.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
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
        *range(0xFFF0, 0xFFF9),  # unassigned but default-ignorable, as plane 14's rest: drawn as nothing
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

JOINERS = frozenset((0x200C, 0x200D))
"""ZERO WIDTH NON-JOINER and JOINER: spelling in Persian and Indic scripts, the glue of emoji sequences."""
VARIATION_SELECTORS = frozenset((*range(0xFE00, 0xFE10), 0x180B, 0x180C, 0x180D, 0x180F))
"""The standard variation selectors (U+FE0F makes ❤ an emoji, U+FE0E a text glyph) and the Mongolian free
variation selectors, which pick a Mongolian letter's form: every BMP character of Unicode's Variation_Selector
property. Left raw, ``a\\u180b\\u180c`` hid two bits each behind a letter, as runs of the standard ones did."""
_TAGS = range(0xE0020, 0xE0080)
_VISIBLE.update({code: f"\\u{code:04x}" for code in (*JOINERS, *VARIATION_SELECTORS)})


def _class_of(codes: set[int] | frozenset[int]) -> str:
    """A regex character class body for ``codes``, as ranges."""
    ranges: list[list[int]] = []
    for code in sorted(codes):
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "".join(re.escape(chr(a)) + (f"-{re.escape(chr(b))}" if b != a else "") for a, b in ranges)


_DRAWN = f"[^\\x00-\\x7f\\s{_class_of(set(_VISIBLE))}]"
"""A character a joiner or selector may stand beside: a drawn non-ASCII one (an ASCII letter is never joined)."""
_SELECTORS = f"[{_class_of(VARIATION_SELECTORS)}]"
_AFTER_DRAWN = f"(?:(?<={_DRAWN})|^)"  # the text's start counts as drawn: a token that is one selector
_IDEOGRAPHIC_SELECTORS = range(0xE0100, 0xE01F0)
"""The supplementary variation selectors: in text, one picks a glyph variant of the CJK ideograph before
it (an Ideographic Variation Sequence, ``葛\\U000e0100`` in a Japanese name); elsewhere they hide bytes."""
_IDEOGRAPHS = "\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0002a6df\U0002a700-\U0002ee5f\U00030000-\U000323af"
"""The CJK unified ideographs, every extension: the only bases an Ideographic Variation Sequence may have."""
_UNJOINED_CLASS = f"{_SELECTORS[1:-1]}{_class_of({*_TAGS, *_IDEOGRAPHIC_SELECTORS})}"
_CONTEXTUAL_CLASS = f"\\u200c\\u200d{_UNJOINED_CLASS}"
"""Joiners, selectors and tags: each drawn as it is only where :data:`IN_TEXT` finds it, by its neighbours.
One followed by another is a run (only a joiner may follow a selector: ❤️‍🔥), and a run shows whole."""
_FLAG = "\U0001f3f4[\U000e0030-\U000e0039\U000e0061-\U000e007a]{3,7}\U000e007f"  # 🏴, subdivision, CANCEL
_ONE_IN_TEXT = (
    f"(?<=[0-9#*]){_SELECTORS}(?=\u20e3)"  # a keycap: 1️⃣
    # one supplementary selector after a CJK ideograph: 葛 and its variant
    f"|(?<=[{_IDEOGRAPHS}])[{_class_of(set(_IDEOGRAPHIC_SELECTORS))}](?![{_CONTEXTUAL_CLASS}])"
    f"|{_AFTER_DRAWN}{_SELECTORS}(?![{_UNJOINED_CLASS}])"  # one selector after a character: ❤️
    # one joiner after a character, or after its selector: 👩‍💻, ❤️‍🔥
    f"|(?:{_AFTER_DRAWN}|(?<={_DRAWN}{_SELECTORS}))[\\u200c\\u200d](?![{_CONTEXTUAL_CLASS}])"
)
"""The joiners and selectors text uses, one character each: whether one is, its neighbours alone decide."""
IN_TEXT = re.compile(f"{_FLAG}|{_ONE_IN_TEXT}")
"""Where text itself uses a joiner, a variation selector or tag characters: those are drawn as they are."""
_CONTEXTUAL_CODES = frozenset((*JOINERS, *VARIATION_SELECTORS, *_TAGS, *_IDEOGRAPHIC_SELECTORS))
"""The characters of :data:`_CONTEXTUAL_CLASS`: drawn or escaped by their neighbours, not by a table alone."""
_CONTEXTUAL = re.compile(f"[{_CONTEXTUAL_CLASS}]")
_CONTEXTUAL_RUN = re.compile(f"{_CONTEXTUAL.pattern}*")
_NOT_IN_TEXT = re.compile(
    f"(?=[{_CONTEXTUAL_CLASS}\U0001f3f4])"  # one test where nothing can start: no lookbehinds at each letter
    f"(?:({_FLAG})|((?:(?!{_ONE_IN_TEXT}){_CONTEXTUAL.pattern})++))"  # possessive: a run is never given back
)
"""A flag (group 1: its tags are text), or a run of joiners, selectors and tags that :data:`IN_TEXT` does not
draw (group 2).

Only a flag's match is longer than one character, and its tags are nothing else's, so a character outside
a flag is drawn exactly where :data:`_ONE_IN_TEXT` matches at it, and the regex engine finds the rest in
runs: a Python loop that tried :data:`IN_TEXT` at each joiner or selector took 0.4 s on a megabyte of
``葛\\U000e0100`` or of U+FE0F, two to four times as long."""


_Tables = tuple[dict[int, Any], dict[int, Any]]
"""A ``str.translate`` table, and the same without the joiners, selectors and tags (:func:`_tables`)."""


def _tables(table: dict[int, Any]) -> _Tables:
    """``table``, and ``table`` without the joiners, selectors and tags, which :func:`_translated` maps by
    their context: built once per table, not per call."""
    return table, {code: value for code, value in table.items() if code not in _CONTEXTUAL_CODES}


def _translated(text: str, tables: _Tables) -> str:
    """``text.translate(table)``, but the joiners, selectors and tags of :data:`IN_TEXT` kept as they are."""
    table, outside = tables
    if text.isascii() or not _CONTEXTUAL.search(text):
        return text.translate(table)
    # Cut on the original: the rule looks at neighbours as written (an ESC before a joiner is no drawn
    # character, though its stand-in ␛ would be). A run is mapped by the whole table; the text between runs,
    # whose joiners, selectors and tags are all ones text uses, by the table without them. One split, no
    # Python call per match: a callback per run cost more than the runs on text dense with short ones.
    parts = _NOT_IN_TEXT.split(text)  # [text, flag, run, text, flag, run, …, text]: a flag or a run is None
    parts[0::3] = map(str.translate, parts[0::3], itertools.repeat(outside))
    parts[2::3] = [run.translate(table) if run else "" for run in parts[2::3]]
    return "".join(filter(None, parts))


def without_escape_sequences(text: str) -> str:
    """``text`` without its terminal control sequences, where what the text *says* is wanted (a title
    made from coloured output, a name found in it): shown with their escapes, a coloured ``red`` was
    titled ``␛[31mred␛[0m``, and dropped one character at a time, ``[31mred [0m``."""
    return _ESCAPE_SEQUENCES.sub("", text) if "\x1b" in text or _C1_INTRODUCER.search(text) else text


_C1_INTRODUCER = re.compile("[\x90\x98\x9b\x9d-\x9f]")
_TRANSLATION = str.maketrans(_VISIBLE)
_VISIBLE_TABLES = _tables(_TRANSLATION)


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
def _json_escapes() -> _Tables:
    return _tables({
        code: _json_escape(code)
        for code in (
            0x7F, *range(0x80, 0xA0), *BIDI_CONTROLS, *HIDDEN_FORMAT, *JOINERS, *VARIATION_SELECTORS,
            *range(0xD800, 0xE000),
        )
    })


@functools.cache
def _no_invisible() -> _Tables:
    invisible = (*BIDI_CONTROLS, *HIDDEN_FORMAT, *JOINERS, *VARIATION_SELECTORS)
    dropped: dict[int, str | None] = dict.fromkeys(invisible)
    return _tables(dropped | {0x2028: "\n", 0x2029: "\n"})


def without_invisible_controls(text: str) -> str:
    """``text`` without invisible controls, for the user's own text such as a paste: it reads the same.

    Shown as ``\\u200f`` escapes, a right-to-left mark copied with a Hebrew or
    Arabic sentence, or the soft hyphens of a web page, would reach the model as
    six letters of noise each; dropped, the sentence reads the same and nothing
    is left to reorder the screen or to hide words (tag characters) from the
    person sending them. The line and paragraph separators become the line end
    they stand for. Joiners and selectors go where :func:`visible_text` would show them (a run of
    them); the ones text uses (:data:`IN_TEXT`: 👩‍💻, ❤️, 🏴 for England) stay.
    """
    return _translated(text, _no_invisible())




LINE_END = re.compile("\r(?<!\r\r)\r*\n")  # a CR run before a LF, tried at its first CR only (linear)
"""A line end led by CRs, shown as LF: CRLF, or the CR CR LF of a Windows file whose line ends were converted twice.

A CR right before a LF overwrites nothing (nothing is printed between the two), so it is part of the line
end; a lone CR, which would redraw the line, is not, and shows as ``␍`` (:func:`visible_text`). The one
definition for :func:`visible_text`, :func:`one_line` and :class:`StreamedLineEnds`."""
_BLANK_RUNS = re.compile("[ \t\n\u2028\u2029]+")
"""A run of blanks and line ends (U+2028/U+2029; a :data:`LINE_END` made LF first). Not a lone CR."""


def blank_characters(text: str) -> list[bool]:
    """For each character of ``text``, whether :func:`one_line` flattens it as a blank (a space, tab, line
    end or U+2028/U+2029; a CR only within a :data:`LINE_END`). For a caller that flattens text while
    keeping places in it (the chat app's sidebar snippets keep their match spans): the same rule."""
    blank = [ch in " \t\n\u2028\u2029" for ch in text]
    for match in LINE_END.finditer(text):
        blank[match.start() : match.end()] = [True] * (match.end() - match.start())
    return blank


def one_line(text: str, width: int | None = None) -> str:
    """``text`` flattened to one line: each run of spaces, tabs and line ends becomes one space.

    The line ends are LF, those of :data:`LINE_END` (CRLF) and U+2028/U+2029, which some
    viewers break lines at. For error messages, snippets and listings that must stay one
    line (:func:`visible_line` shows one). Not
    ``" ".join(text.split())``: ``str.split`` also splits on CR, VT, FF, FS…US and
    NEL, which are control characters, so a message holding them lost them
    silently as spaces; here they stay, for :func:`visible_text` to show (``␍``,
    ``␋``, ``\\x85``), as it shows them in a reply. A lone CR above all: it is the
    redraw of a progress line or of a forged one (``ok\\rFAILED``); made a space here,
    it read as two words in an error line and as ``␍`` in a reply or a snippet.

    With ``width`` (a column of a listing), a longer line is cut to at most that
    many terminal cells, ending in "…" (:func:`cell_width`): counted in characters,
    a Japanese title took twice its column and wrapped the row.
    """
    if "\r\n" in text:  # one character class below: an alternation for CR runs took twice as long
        text = LINE_END.sub("\n", text)
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
    return _ellipsized(text[:end])


def _ellipsized(cut: str) -> str:
    """``cut``, the start of a longer text, ending in "…": a joiner it ends with joined the character cut
    off, not the "…", so it goes (the one definition for :func:`cut_to_cells` and :func:`message_line`)."""
    return (cut[:-1] if cut and ord(cut[-1]) in JOINERS else cut) + "…"


MAX_MESSAGE_CELLS = 2000
"""The most terminal cells an error line or notification shows. Errors quote what came from outside (a
GGUF's architecture, a chat template's ``raise_exception`` words, llama.cpp's log, a server's body):
a 2 MB architecture name made a 2 MB "one-line" error."""


NO_MESSAGE = "(no message)"
"""What an error line says for a message that is empty or only blanks."""


def visible_line(text: str, width: int | None = None) -> str:
    """Untrusted ``text`` as one shown line: flattened (:func:`one_line`), then made visible
    (:func:`visible_text`), cut at ``width`` terminal cells counted on what is shown (an escape
    such as ``\\u202e`` is six cells). For a listing's column, a snippet, a title.

    In this order, not the other: made visible first, a CRLF's CR was already ``␍`` when the
    line ends were flattened, so a ``history search`` snippet showed ``one␍ two`` where an
    error line showed ``one two``, and U+2028 showed as ``\\u2028`` instead of a space.
    """
    shown = visible_text(one_line(text))
    return shown if width is None else cut_to_cells(shown, width)


def message_line(message: str, *, flatten: bool = True) -> str:
    """An error message as shown: one line (:func:`one_line`), controls visible, at most
    :data:`MAX_MESSAGE_CELLS` cells. The CLI's ``fail`` shows this; the chat app's notifications too,
    with ``flatten=False`` (a toast may keep its line breaks).

    A message of nothing but blanks (a plugin's ``AssistantError("\\n\\n")``) is ``(no message)``, the
    words the CLI uses for a plugin exception without one: kept as it was, its line ends made
    ``error:`` three lines."""
    flat = (one_line(message) or NO_MESSAGE) if flatten else message
    trimmed = flat[: MAX_MESSAGE_CELLS * 2]  # before visible_text, which only widens: no work on megabytes
    shown = cut_to_cells(visible_text(trimmed), MAX_MESSAGE_CELLS)
    if len(trimmed) < len(flat) and not shown.endswith("…"):
        shown = _ellipsized(shown)
    return shown


_PREPENDED_MARKS = frozenset((*range(0x0600, 0x0606), 0x06DD, 0x070F, 0x0890, 0x0891, 0x08E2, 0x110BD, 0x110CD))
"""The format characters that draw a glyph (Arabic number signs and the like): a cell each, as text."""


def log_record(text: str) -> str:
    """One log record (a llama.cpp log call, a llama-cpp-python print, a transformers log message) as one
    safe, bounded line.

    A record quotes a GGUF's own strings (``general.name``, the chat template, the whole
    metadata dict), so it is untrusted text: its controls are shown (:func:`message_line`),
    and a line break inside it is flattened, so that a name holding ``\n`` cannot print
    lines that look like the loader's own (``llama_model_loader: … = forged``) and a chat
    template is one line, not a dozen ragged ones between the log's. Its length is capped
    as an error's is (a 64 MB template was printed whole). The record's own trailing line
    end is kept, and a fragment without one (llama.cpp's loading dots) stays a fragment.
    """
    body = text.rstrip("\n")
    end = text[len(body) :][:1]  # a run of blank lines is one line end
    if not body.strip():
        return body + end if "\n" not in body else end
    return message_line(body, flatten="\n" in body or "\u2028" in body or "\u2029" in body) + end


def _cells(char: str) -> int:
    """Terminal cells ``char`` takes: 2 for East Asian wide and full-width, 0 for combining marks and the
    format characters that draw nothing (a joiner, a flag's tags), else 1.

    Counted as one cell each, the ZWJ of 👩‍💻 and the six tags of England's flag padded a column short
    (``history list``'s model) and cut a title early, though no terminal gives them a cell.
    """
    import unicodedata

    category = unicodedata.category(char)
    if unicodedata.combining(char) or category in ("Mn", "Me"):
        return 0
    if category == "Cf" and ord(char) not in _PREPENDED_MARKS:
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
    move the cursor, restyle the terminal, reorder or break a line, or hide text. Joiners,
    variation selectors and tag characters show as escapes too, except where text uses them
    (:data:`IN_TEXT`).

    A CRLF is a line end (:data:`LINE_END`), shown as LF: a lone CR would overwrite the line, one before a
    LF overwrites nothing. Shown as ``␍``, it ended every line of a Windows file in the chat app, and
    made a ``history search`` snippet ``one␍ two`` where an error line said ``one two``.
    """
    if "\r\n" in text:
        text = LINE_END.sub("\n", text)
    return _translated(text, _VISIBLE_TABLES)


def json_text(data: Any, *, indent: int | None = None, default: Callable[[Any], Any] | None = None) -> str:
    """``data`` as JSON that is safe to print and decodes to exactly ``data``.

    Non-ASCII text stays readable (``ensure_ascii=False``); every character a
    terminal could act on, and lone surrogates, are ``\\uXXXX`` escapes.
    ``default`` is ``json.dumps``'s: what a value JSON has no type for becomes.

    A float that is not finite is ``null``, as JavaScript's ``JSON.stringify`` writes it:
    ``json.dumps`` writes ``NaN``, ``Infinity`` and ``-Infinity``, which no JSON parser but
    Python's reads (``jq`` and ``JSON.parse`` failed on ``assistant next --json``, whose
    logprob of a token the sampler ruled out is ``-inf``).
    """
    try:
        text = json.dumps(data, ensure_ascii=False, indent=indent, default=default, allow_nan=False)
    except ValueError as exc:
        if "Out of range float" not in str(exc):
            raise  # a circular reference: not ours to hide
        finite_default = None if default is None else (lambda value: _finite(default(value)))
        text = json.dumps(_finite(data), ensure_ascii=False, indent=indent, default=finite_default, allow_nan=False)
    return json_escaped(text)


def json_escaped(document: str) -> str:
    """A JSON ``document`` (written by ``json.dumps``, or a model's checked reply) with every character a terminal
    could act on, or that hides text, as the ``\\uXXXX`` escape JSON spells it with: the same value, safe to print.

    A valid document holds such characters only inside strings, where an escape decodes to the same character;
    joiners and selectors that text uses stay (:data:`IN_TEXT`), as :func:`visible_text` leaves them.
    """
    return _translated(document, _json_escapes())


def _finite(data: Any) -> Any:
    """``data`` with every float that is not finite (in dicts, lists and tuples) replaced by None."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: _finite(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [_finite(value) for value in data]
    return data


class StreamedLineEnds:
    """Streamed pieces cut where :func:`visible_text` can see both sides, CRLF made LF across them.

    ``\r`` and ``\n`` often arrive as two tokens: the CRs that end a piece are held
    until the next piece shows whether a LF follows (:data:`LINE_END`). Only line ends change: a
    lone CR stays, for :func:`visible_text` to show as ``␍``. Likewise the end of
    a piece that a joiner, selector or tag character could still attach to (a
    non-ASCII character, a digit of a keycap, a short run of them after it) is
    held: 👩 and its ZWJ often arrive apart, and shown apart the ZWJ was an escape.
    :meth:`flush` gives back what is still held at the end.
    """

    def __init__(self) -> None:
        self._held = ""
        self._crs = 0  # CRs held at the end (a LF may follow), counted: no string grows while a model repeats CR
        self._shown = False  # something was given back: what follows it is no longer the start of the text

    def feed(self, piece: str) -> str:
        # line ends made LF before any cut: a cut before a held run could fall between the two ("\r\n\u200d")
        if piece and not self._held and not piece.strip("\r"):  # only CRs, after CRs or nothing: none to show yet
            self._crs += len(piece)
            return ""
        piece, self._held, self._crs = self._held + "\r" * self._crs + piece, "", 0
        if "\r\n" in piece:
            piece = LINE_END.sub("\n", piece)
        lead = 0  # the escapes of a leading run: given back whole (a held "7" of "\U000e0067" made a keycap)
        if self._shown:
            piece, lead = _lead_escaped(piece)
        if piece.endswith("\r"):  # the whole run: "\r\r" then "\n" is a line end too (LINE_END)
            kept = piece.rstrip("\r")
            piece, self._crs = kept, len(piece) - len(kept)
        else:
            size = len(piece)  # a piece is often one token: no regex call per character here
            end, floor = size, max(0, size - _UNSETTLED_RUN - 1)
            while end > floor and ord(piece[end - 1]) in _CONTEXTUAL_CODES:
                end -= 1
            if size - end <= _UNSETTLED_RUN:  # a longer run is no text, whatever follows: shown now
                cut = max(_settled(piece, end), lead)
                piece, self._held = piece[:cut], piece[cut:]
        self._shown = self._shown or bool(piece)
        return piece

    @property
    def holding(self) -> bool:
        """Whether text fed is held back still (given by a later :meth:`feed` or by :meth:`flush`)."""
        return bool(self._held or self._crs)

    def flush(self) -> str:
        held, self._held, self._crs = self._held + "\r" * self._crs, "", 0
        if self._shown:
            held = _lead_escaped(held)[0]
        self._shown = False
        return held


def _lead_escaped(piece: str) -> tuple[str, int]:
    """``piece`` with the joiners, selectors and tags it starts with as escapes, and the escapes' length.

    For a piece that follows text already given back, which ends where nothing can join it (a possible base
    is held back): shown on its own, a joiner starting a piece is at the start of a text, which counts as
    drawn (:data:`IN_TEXT`). The length lets :meth:`StreamedLineEnds.feed` give the escapes back whole: a
    cut inside them (the held "7" of ``\\U000e0067``) made a keycap of the selector and keycap mark after it.
    """
    if not piece or ord(piece[0]) not in _CONTEXTUAL_CODES:  # most pieces: no regex call per token
        return piece, 0
    run_end = _CONTEXTUAL_RUN.match(piece).end()  # type: ignore[union-attr]
    escaped = piece[:run_end].translate(_TRANSLATION)
    return escaped + piece[run_end:], len(escaped)


_UNSETTLED_RUN = 8
"""Longest run of joiners, selectors and tags that may still become text (🏴 + a 7-letter subdivision)."""


def _settled(text: str, run: int) -> int:
    """Where the part of ``text`` whose showing the next piece cannot change ends; ``run``: where its final run
    of joiners, selectors and tags starts."""
    if run == len(text):  # no run: hold a last character a joiner or selector could follow
        if not (run and (not text[-1].isascii() or text[-1] in "0123456789#*")):
            return run
        cut = run - 1
    else:
        cut = max(0, run - 1)  # the run and the character it follows
    # What is given back is shown alone, and the one rule of IN_TEXT that looks ahead past a joiner or selector
    # is a keycap's: 1️⃣'s selector is text only before its ⃣, so a held ⃣ keeps its digit and selector.
    keycap = cut >= 2 and text[cut] == "\u20e3" and ord(text[cut - 1]) in VARIATION_SELECTORS
    if keycap and text[cut - 2] in "0123456789#*":
        cut -= 2
    return cut

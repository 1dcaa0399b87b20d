"""How one token is shown to a person: its exact bytes, made visible.

A token is a run of bytes, not of characters: ``" Paris"`` starts with a space
the eye does not see, and an emoji can be split over two tokens whose halves
are not text at all. :class:`TokenPiece` keeps the bytes and draws them so
nothing is hidden — a leading space as ``␣``, a newline as ``↵``, a tab as
``⇥``, any other space (no-break, thin, ideographic…) as its escape ``\\u00a0``,
bytes that are not (yet) a whole character as ``<0xE2>``, a piece that
starts with a character of no width (a combining accent, the emoji variation
selector U+FE0F, a zero-width joiner) on a dotted circle ``◌`` — and a chat-template
control token by its name (``<|im_start|>``), marked special.
Front ends print :meth:`TokenPiece.shown` (already safe for a terminal).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len

from ..terminal_text import visible_text

_WHITESPACE = str.maketrans({" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"})

OTHER_SPACES = frozenset((0x00A0, 0x1680, *range(0x2000, 0x200B), 0x202F, 0x205F, 0x3000))
"""The space separators other than U+0020 (Unicode's ``Zs``): no-break, en/em, thin, hair, ideographic…"""
_OTHER_SPACES = str.maketrans({code: f"\\u{code:04x}" for code in OTHER_SPACES})


@dataclass(frozen=True)
class TokenPiece:
    """One token of a model's vocabulary: id, the bytes it adds to the text, and its control name if any."""

    token_id: int
    piece: bytes
    """What the token contributes to generated text (empty for a control token)."""
    special: str = ""
    """A control token's name (``<|im_start|>``); empty for ordinary tokens."""

    @property
    def text(self) -> str | None:
        """The piece as text, or None when its bytes are not whole UTF-8 characters on their own."""
        try:
            return self.piece.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def shown(self) -> str:
        """The piece as a person should see it: whitespace and partial characters visible, terminal-safe."""
        if self.special:
            return visible_text(self.special)
        text = self.text
        if text is None:
            return _partial_bytes(self.piece)
        if not text:
            return "∅"
        return drawable(visible_text(text.translate(_WHITESPACE)))

    def marked(self) -> str:
        """:meth:`shown`, a control token in ``⟦…⟧``: listed among text pieces, ``<|im_end|>`` the token
        (the reply ends) must not read as the twelve characters a model could also write."""
        return f"⟦{self.shown()}⟧" if self.special else self.shown()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.token_id,
            "text": self.text if not self.special else self.special,
            "bytes": self.piece.hex(),
            "special": bool(self.special),
        }


def drawable(label: str) -> str:
    """``label`` drawn so it can be seen: a space other than U+0020 as its escape (``\\u00a0``), and one that
    starts with a character of no width on a dotted circle ``◌``.

    A no-break, thin or ideographic space prints as a blank no one can tell from
    an ordinary space (or two), yet it is another token with other bytes: a
    tokenizer lesson that hides it hides the point. Its escape names it, as
    :func:`~assistant.terminal_text.visible_text` names the invisible format characters.
    A combining mark, U+FE0F (what makes ❤ an emoji) or a zero-width joiner is a
    token of its own in many vocabularies; printed bare it is invisible, and it
    joins whatever is printed before it (a bracket, a column rule). Type
    specimens draw such a character on a dotted circle; so does every view here
    (the chat app's token strip and candidates included: one definition).
    """
    label = label.translate(_OTHER_SPACES)
    return "◌" + label if label and not cell_len(label[0]) else label


def _partial_bytes(piece: bytes) -> str:
    """Decode what is whole, show the rest as ``<0xNN>`` (an emoji cut in two shows as its byte halves)."""
    out: list[str] = []
    index = 0
    while index < len(piece):
        for end in range(min(len(piece), index + 4), index, -1):
            try:
                out.append(piece[index:end].decode("utf-8").translate(_WHITESPACE))
            except UnicodeDecodeError:
                continue
            index = end
            break
        else:
            out.append(f"<0x{piece[index]:02X}>")
            index += 1
    return drawable(visible_text("".join(out)))

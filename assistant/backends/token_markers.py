"""A GGUF vocabulary's marker tokens, which untrusted text must not be read as.

llama.cpp keeps its *control* tokens (``<|im_start|>``, ``<start_of_turn>``) out
of text tokenized without ``parse_special``, but it always matches *user-defined*
tokens, whatever the flag says. Gemma 3's vocabulary makes its image markers
(``<start_of_image>``, ``<end_of_image>``, ``[multimodal]``) user-defined, so a
user message or a pasted file holding ``<start_of_image>`` reached the model as
the image marker itself. Hugging Face's tokenizer marks these "special" (and
``split_special_tokens`` splits them); the GGUF does not carry that flag.

So the user-defined tokens that are *markers* are told apart here from the ones
that are ordinary text the model's own tokenizer always reads whole: runs of
whitespace (Gemma's ``\\n\\n``, spaces, tabs) and HTML tags (``<table>``, ``<b>``).
Untrusted text is cut inside every occurrence of a marker's text and the pieces
are tokenized one by one, so none of them can hold the marker whole: the
characters come out as ordinary tokens. The chat template's own markers are
still found (the backend names them as control tokens for
:meth:`~assistant.backends.base.TokenLoopBackend.tokenize_segments`).
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable

HTML_TAG = re.compile(r"</?([a-z][a-z0-9]*)>")
HTML_ELEMENTS = frozenset(
    """a abbr address area article aside audio b bdi bdo blockquote body br button canvas caption cite code
    col colgroup data datalist dd del details dfn dialog div dl dt em embed fieldset figcaption figure footer
    form h1 h2 h3 h4 h5 h6 head header hr html i iframe img input ins kbd label legend li link main map mark
    menu meta meter nav noscript object ol optgroup option output p param picture pre progress q rp rt ruby s
    samp script section select small source span strong style sub summary sup table tbody td template
    textarea tfoot th thead time title tr track u ul var video wbr""".split()
)
"""Tag names that are markup in text, not markers (Gemma's vocabulary has ``<table>`` … ``</footer>``)."""


def is_marker(text: str) -> bool:
    """Whether a user-defined token's text is a marker, which untrusted text must not turn into.

    Not a marker: one character (nothing to cut inside), whitespace, an HTML tag,
    or text with none of the brackets and bars markers are written with.
    """
    if len(text) < 2 or text.isspace():
        return False
    tag = HTML_TAG.fullmatch(text)
    if tag is not None and tag.group(1) in HTML_ELEMENTS:
        return False
    return any(c in text for c in "<>[]{}|")


def find_markers(tokens: Iterable[tuple[int, str]]) -> dict[int, str]:
    """The marker tokens among ``(id, text)`` pairs of user-defined tokens."""
    return {token_id: text for token_id, text in tokens if is_marker(text)}


DETECTED = 16
"""Characters of a marker's text that :class:`MarkerCutter` looks for (a cut where only they occur: harmless)."""


class MarkerCutter:
    """Cuts text inside each occurrence of a marker's text, so no piece holds one whole.

    ``markers``: the marker tokens, id to text (:func:`vocab_markers`), kept as :attr:`ids`.
    """

    def __init__(self, markers: dict[int, str]) -> None:
        self.ids = dict(markers)
        # Found by their first characters, then looked up: no alternation of every marker, which
        # a regular expression tries at each position (a hostile GGUF's 100,000 markers took 30 s
        # to compile). A cut where only those characters occur changes text no model reads whole.
        self._heads = {text[:DETECTED] for text in markers.values() if len(text) >= 2}
        self._lengths = sorted({len(head) for head in self._heads})
        firsts = sorted({head[0] for head in self._heads})
        self._starts = re.compile("[" + "".join(map(re.escape, firsts)) + "]") if firsts else None

    def cut(self, text: str) -> list[str]:
        """``text`` in pieces that join to it, cut one character into each marker occurrence."""
        if self._starts is None:
            return [text]
        pieces: list[str] = []
        start = 0
        heads, lengths = self._heads, self._lengths
        for found in self._starts.finditer(text):  # overlapping starts too: "<<start_of_image>"
            at = found.start()
            if any(text[at : at + size] in heads for size in lengths):
                pieces.append(text[start : at + 1])
                start = at + 1
        pieces.append(text[start:])
        return [piece for piece in pieces if piece]

    def tokenize(self, text: str, tokenize: Callable[[str], list[int]]) -> list[int]:
        """The ids of ``text``, each piece of :meth:`cut` tokenized on its own."""
        ids: list[int] = []
        for piece in self.cut(text):
            ids.extend(tokenize(piece))
        return ids


def vocab_markers(lib: Any, vocab: Any, piece: Callable[[int], bytes]) -> dict[int, str]:
    """The marker tokens of a loaded llama.cpp vocabulary (``piece``: a token's text, special ones included).

    Only user-defined tokens that are not also control tokens: llama.cpp already
    keeps control tokens out of text tokenized without ``parse_special``. One pass
    over the vocabulary (a quarter of a second for Gemma's 262,144 tokens), once per load.
    """
    user_defined, control = lib.LLAMA_TOKEN_ATTR_USER_DEFINED, lib.LLAMA_TOKEN_ATTR_CONTROL
    get_attr = lib.llama_vocab_get_attr
    found = (
        token_id
        for token_id in range(int(lib.llama_vocab_n_tokens(vocab)))
        if get_attr(vocab, token_id) & (user_defined | control) == user_defined
    )
    return find_markers((token_id, piece(token_id).decode("utf-8", "replace")) for token_id in found)

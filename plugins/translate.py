"""First-party tool ``translate``: paragraph by paragraph, so the layout survives.

Each paragraph is translated on its own and put back with exactly the
whitespace that separated it from the next one; a paragraph too long for the
context is translated in sentence-bounded pieces. Small models given a whole
document tend to merge paragraphs, drop some, or stop early — one paragraph at
a time avoids all three.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping, Sequence

from assistant import hookimpl
from assistant.errors import ToolError
from assistant.tools import BaseTool, Parameter, Progress, TranslationResult
from assistant.tools.context import SAFETY_MARGIN, context_window, token_counter
from assistant.tools.generate import generate_checked
from assistant.tools.languages import language_name
from assistant.tools.prompts import render
from assistant.tools.text import PARAGRAPH_BREAK, chunk_text, split_paragraphs
from assistant.types import GenerationParams

MAX_PIECE_TOKENS = 512
"""Longest piece translated at once; longer paragraphs are split on sentences."""

_PREAMBLE = re.compile(
    r"^\s*(?:(?:here(?:'s| is) )?(?:the |a )?translation(?: (?:in|into|to) [\w ]+)?\s*:|[\w ]+ translation:)\s*",
    re.I,
)
_QUOTES = [('"', '"'), ("“", "”"), ("«", "»"), ("'", "'")]
_REMARK = re.compile(
    r"^[\s(\[*]*(?:[\w']+ )?(?:translation|translated text|explanation|notes?|pronunciation|transliteration)"
    r"\s*\**\s*:",
    re.IGNORECASE,
)
"""A line where the model labels its own remark ("Note: …", "Explanation: …", "Literal translation: …")."""
_LABELLED = re.compile(r"^\s*[^\W\d_][\w' ()-]{0,40}?\s*:(?!//)")
"""A line that starts with a label of some kind ("Remarque :", "English:"), in any language."""


class Cleaner:
    """Strips the chatter small models add to a translation of ``source`` (one piece of input).

    Removed: an introduction ("Here is the translation:", "Translation:"), a leading label
    naming the target or source language ("French: Bonjour.", "In Italian: …"), wrapping
    quotes, and a remark after the translation — any later line for a one-line piece, a line
    labelled as the model's own ("Note: …", "Explanation: …") and the lines after it for a longer one.
    ``dropped_tail`` says whether the last call removed text after the translation: a reply
    cut at its token budget there still holds a whole translation.
    """

    def __init__(self, source: str, languages: Sequence[str] = ()) -> None:
        self.source = source
        names = "|".join(re.escape(name) for name in languages if name)
        self._label = re.compile(rf"^\s*(?:in\s+)?(?:{names})\s*:\s*", re.IGNORECASE) if names else None
        self.dropped_tail = False

    def __call__(self, text: str) -> str | None:
        source = self.source.strip()
        out = self._unlabel(text.strip())
        if "\n" not in source:
            out, self.dropped_tail = _one_line(out)
        else:
            out, self.dropped_tail = _drop_remarks(out, source)
        for left, right in _QUOTES:
            wrapped = out.startswith(left) and out.endswith(right) and len(out) > 1
            if wrapped and not source.startswith(left):
                out = out[len(left) : -len(right)].strip()
        if not PARAGRAPH_BREAK.search(self.source):  # one paragraph in, one paragraph out
            out = PARAGRAPH_BREAK.sub("\n", out)
        return out or None

    def _unlabel(self, reply: str) -> str:
        """The reply without its introduction and leading language label, in either order."""
        keep_label = _LABELLED.match(self.source) is not None  # "English: a language" labels itself
        for _ in range(2):
            reply = _PREAMBLE.sub("", reply, count=1).strip()
            if self._label is not None and not keep_label:
                reply = self._label.sub("", reply, count=1).strip()
        return reply


def make_cleaner(source: str, languages: Sequence[str] = ()) -> Cleaner:
    """The cleaner of replies translating ``source``; ``languages``: the target's (and source's) names."""
    return Cleaner(source, languages)


def _one_line(reply: str) -> tuple[str, bool]:
    """The translation of a one-line piece: the reply's first line that is not an introduction.

    Small models follow a translation with a remark on a line of its own ("Good
    morning." -> "おはよう…\nIn Japanese, the phrase "Good morning" is often…");
    a line of input has a line of translation, so later lines are that remark. A
    first line ending in ":" introduces what follows ("Sure! Here it is:").
    The flag says whether lines after the translation were dropped.
    """
    lines = [line.strip() for line in reply.splitlines() if line.strip()]
    while len(lines) > 1 and lines[0].endswith(":"):
        lines = lines[1:]
    return (lines[0], len(lines) > 1) if lines else ("", False)


def _drop_remarks(reply: str, source: str) -> tuple[str, bool]:
    """A multi-line translation without the labelled remark the model wrote after it ("Note: …").

    A line of the reply is a remark when it carries a remark label and comes after as
    many lines as ``source`` has: one of the first lines may be the translation of a line
    of the input ("Remarque : …" → "Note: …"), or the model's echo of the input before its
    "Translation:", and neither may be lost. The remark and every line after it are
    dropped; the flag says whether any were.
    """
    wanted = sum(1 for line in source.splitlines() if line.strip())
    lines = reply.splitlines()
    seen = 0
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        if seen >= wanted and _REMARK.match(line):
            return "\n".join(lines[:index]).rstrip(), True
        seen += 1
    return reply, False


def _source_language(value: str) -> None:
    """``auto`` (detect it) or a language :func:`language_name` knows."""
    if value.strip().lower() != "auto":
        language_name(value)


class Translate(BaseTool):
    name = "translate"
    description = "Translate text into another language, keeping its paragraphs."
    parameters = (
        Parameter("to", "str", help="target language (name or code, e.g. French or fr)", required=True,
                  aliases=("target",), check=language_name),
        Parameter("source", "str", help="source language (default: auto-detect)", default="auto",
                  aliases=("from",), check=_source_language),
    )
    templates = ("translate",)

    def run(
        self, text: str, params: Mapping[str, Any], backend: Any, progress: Progress | None = None
    ) -> TranslationResult:
        target = language_name(params["to"])
        raw_source = str(params["source"] or "auto")
        source = None if raw_source.lower() == "auto" else language_name(raw_source)
        lead, paragraphs = split_paragraphs(text)
        todo = [p for p in paragraphs if p.text.strip()]
        if not todo:
            raise ToolError("nothing to translate: the input is empty")
        report = progress or (lambda done, total, message: None)
        out = [lead]
        done = 0
        cut: list[int] = []
        for paragraph in paragraphs:
            if paragraph.text.strip():
                if len(todo) > 1:
                    report(done, len(todo), f"translating paragraph {done + 1} of {len(todo)}")
                translated, whole = self._paragraph(backend, paragraph.text, target, source)
                out.append(translated)
                done += 1
                if not whole:
                    cut.append(done)
            else:
                out.append(paragraph.text)
            out.append(paragraph.separator)
        if len(todo) > 1:
            report(done, len(todo), "done")
        return TranslationResult(
            translation="".join(out), source=source or "auto", target=target, paragraphs=len(todo), cut=cut
        )

    def _paragraph(self, backend: Any, paragraph: str, target: str, source: str | None) -> tuple[str, bool]:
        """The paragraph's translation, and whether it is whole (no piece's reply cut at max tokens)."""
        count = token_counter(backend)
        overhead = backend.count_tokens(render("translate", {"input": "", "target": target, "source": source or ""}))
        # input + a reply up to twice as long must fit: overhead + n + (2n + 32) <= context
        window = context_window(backend)
        room = (window - overhead - 32 - SAFETY_MARGIN) // 3
        if room < 8:
            raise ToolError(f"the context window ({window} tokens) is too small to translate; raise n_ctx")
        pieces = chunk_text(paragraph, count, min(room, MAX_PIECE_TOKENS))
        translated = [self._piece(backend, piece, target, source) for piece in pieces]
        return " ".join(text for text, _ in translated), all(whole for _, whole in translated)

    def _piece(self, backend: Any, piece: str, target: str, source: str | None) -> tuple[str, bool]:
        """A piece's translation, and whether it is whole.

        A reply cut at max tokens is unfinished unless the cut fell in a remark the
        cleaner dropped after a finished translation.
        """
        messages = render("translate", {"input": piece, "target": target, "source": source or ""})
        params = GenerationParams(
            max_tokens=2 * backend.count_tokens(piece) + 32, temperature=0.0, repeat_penalty=1.05
        )
        clean = make_cleaner(piece, (target, source or ""))
        step = generate_checked(backend, messages, params, clean, "translation")
        return step.text, step.complete or clean.dropped_tail


@hookimpl
def register_tools(register: Callable[[Any], None]) -> None:
    register(Translate())

"""First-party tool ``translate``: paragraph by paragraph, so the layout survives.

Each paragraph is translated on its own and put back with exactly the
whitespace that separated it from the next one; a paragraph too long for the
context is translated in sentence-bounded pieces. Small models given a whole
document tend to merge paragraphs, drop some, or stop early — one paragraph at
a time avoids all three.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping

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


def make_cleaner(source: str) -> Callable[[str], str | None]:
    """Strip the chatter small models add ("Here is the translation:", wrapping quotes, a remark after it)."""

    def clean(text: str) -> str | None:
        out = _PREAMBLE.sub("", text.strip(), count=1).strip()
        if "\n" not in source.strip():
            out = _one_line(out)
        for left, right in _QUOTES:
            wrapped = out.startswith(left) and out.endswith(right) and len(out) > 1
            if wrapped and not source.strip().startswith(left):
                out = out[len(left) : -len(right)].strip()
        if not PARAGRAPH_BREAK.search(source):  # one paragraph in, one paragraph out
            out = PARAGRAPH_BREAK.sub("\n", out)
        return out or None

    return clean


def _one_line(reply: str) -> str:
    """The translation of a one-line piece: the reply's first line that is not an introduction.

    Small models follow a translation with a remark on a line of its own ("Good
    morning." -> "おはよう…\nIn Japanese, the phrase "Good morning" is often…");
    a line of input has a line of translation, so later lines are that remark. A
    first line ending in ":" introduces what follows ("Sure! Here it is:").
    """
    lines = [line.strip() for line in reply.splitlines() if line.strip()]
    while len(lines) > 1 and lines[0].endswith(":"):
        lines = lines[1:]
    return lines[0] if lines else ""


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
        for paragraph in paragraphs:
            if paragraph.text.strip():
                if len(todo) > 1:
                    report(done, len(todo), f"translating paragraph {done + 1} of {len(todo)}")
                out.append(self._paragraph(backend, paragraph.text, target, source))
                done += 1
            else:
                out.append(paragraph.text)
            out.append(paragraph.separator)
        if len(todo) > 1:
            report(done, len(todo), "done")
        return TranslationResult(
            translation="".join(out), source=source or "auto", target=target, paragraphs=len(todo)
        )

    def _paragraph(self, backend: Any, paragraph: str, target: str, source: str | None) -> str:
        count = token_counter(backend)
        overhead = backend.count_tokens(render("translate", {"input": "", "target": target, "source": source or ""}))
        # input + a reply up to twice as long must fit: overhead + n + (2n + 32) <= context
        window = context_window(backend)
        room = (window - overhead - 32 - SAFETY_MARGIN) // 3
        if room < 8:
            raise ToolError(f"the context window ({window} tokens) is too small to translate; raise n_ctx")
        pieces = chunk_text(paragraph, count, min(room, MAX_PIECE_TOKENS))
        translated = [self._piece(backend, piece, target, source) for piece in pieces]
        return " ".join(translated)

    def _piece(self, backend: Any, piece: str, target: str, source: str | None) -> str:
        messages = render("translate", {"input": piece, "target": target, "source": source or ""})
        params = GenerationParams(
            max_tokens=2 * backend.count_tokens(piece) + 32, temperature=0.0, repeat_penalty=1.05
        )
        return generate_checked(backend, messages, params, make_cleaner(piece), "translation").text


@hookimpl
def register_tools(register: Callable[[Any], None]) -> None:
    register(Translate())

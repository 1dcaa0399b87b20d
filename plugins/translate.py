"""First-party tool ``translate``: paragraph by paragraph, so the layout survives.

Each paragraph is translated on its own and put back with exactly the
whitespace that separated it from the next one; a paragraph too long for the
context is translated in pieces split between its lines (each line break kept), and
a line too long in sentence-bounded pieces. Markdown's fenced code blocks are code, not
language, and are kept as they are (:func:`code_blocks`). Small models given a whole
document tend to merge paragraphs, drop some, or stop early — one paragraph at
a time avoids all three.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping, Sequence

from assistant import hookimpl
from assistant.errors import ConfigError, ToolError
from assistant.tools import BaseTool, Parameter, Progress, TranslationResult
from assistant.tools.context import SAFETY_MARGIN, context_window, token_counter
from assistant.tools.generate import TokenProgress, generate_checked, ticker
from assistant.tools.languages import (
    answered_in,
    given_back,
    language_or_auto,
    names_for_itself,
    one_language,
)
from assistant.tools.prompts import render
from assistant.tools.spans import shown_text
from assistant.tools.text import PARAGRAPH_BREAK, Paragraph, chunk_text, split_paragraphs
from assistant.types import GenerationParams

MAX_PIECE_TOKENS = 512
"""Longest piece translated at once; longer paragraphs are split between lines, then on sentences."""

LONG_REPLY_FACTOR = 8
"""Tokens of reply per token of a piece allowed on a second try, when the first (twice the piece) was cut.

A translation into another script can take far more tokens than its source: SmolLM2's tokenizer
spends about four times as many on Hindi, Japanese or Russian as on the English they translate
("Good morning, how are you today?": 8 tokens; in Japanese 37), so at twice the piece every
such translation was cut. The first try stays at twice, which holds any translation between Latin
scripts and bounds a reply that loops; only a reply cut there gets the longer budget (greedy
decoding repeats the first try's text and goes on), within the room the context leaves."""

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
_NEWLINE = re.compile(r"\r\n|\r|\n")
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

    A reply is refused (None, with ``refused`` saying why) when it is surely not in the target
    language, the first of ``languages`` (:func:`~assistant.tools.languages.answered_in`: SmolLM2
    asked for French answered a text mostly of emoji in Spanish), is the input given back in its own language
    (:func:`~assistant.tools.languages.given_back`: asked for English, SmolLM2 printed the Dutch input as it
    was), or has no letter for a piece that
    has (SmolLM2 gave "😀😀😀😀😀 ok 😀😀😀" back as emoji alone, "ok" lost, to its token budget), or lost a web
    or e-mail address of the piece (:func:`addresses`):
    :func:`~assistant.tools.generate.generate_checked` asks once more, then says why in one line.
    """

    def __init__(self, source: str, languages: Sequence[str] = ()) -> None:
        self.source = source
        self.target = languages[0] if languages else ""
        self.source_language = languages[1] if len(languages) > 1 else ""
        self.refused: str | None = None
        # "Chinese (Traditional)" is labelled by the model as that or as plain "Chinese:", and German as
        # "Deutsch:", its name for itself (kept before: "Deutsch: Guten Morgen." was the translation).
        spelled = [
            form for name in languages if name for form in (name, name.split(" (")[0], *names_for_itself(name))
        ]
        names = "|".join(re.escape(name) for name in sorted(set(spelled), key=len, reverse=True))
        # a full-width colon too, as Chinese and Japanese write it ("日本語：")
        self._label = re.compile(rf"^\s*(?:in\s+)?(?:{names})\s*[:：]\s*", re.IGNORECASE) if names else None
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
        # The reply's line breaks are the source's: a CRLF file came back with LF inside its
        # paragraphs and CRLF between them, mixed line ends in one file. (A source that mixes
        # them gives no one line end to follow, and the reply keeps the model's.)
        ends = set(_NEWLINE.findall(self.source))
        if len(ends) == 1:
            out = _NEWLINE.sub(ends.pop(), out)
        self.refused = self._refusal(out)
        return out if out and self.refused is None else None

    def _refusal(self, out: str) -> str | None:
        """Why ``out`` is no translation of the source into the target, where that can be told; else None."""
        if any(char.isalpha() for char in self.source) and out and not any(char.isalpha() for char in out):
            return "the reply had no words, only symbols or emoji"
        lost = next((address for address in addresses(self.source) if address not in out), None)
        if lost is not None:
            return f"the reply lost the address {lost[:60]!r}"
        kept = given_back(out, self.source, self.target) if self.target else None
        if kept is not None:
            return f"the reply was the input given back in {kept}, not a translation into {self.target}"
        other = answered_in(out, self.source, self.target, self.source_language) if self.target else None
        if other is not None:
            return f"the reply was in {other}, not {self.target}"
        return None

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


_LINE = re.compile(r"[^\r\n]*(?:\r?\n|\r|$)")


def pieces_of(paragraph: str, count: Callable[[str], int], budget: int) -> list[tuple[str, str, str]]:
    """A paragraph in pieces of at most ``budget`` tokens, as (lead, piece, after) triples:
    ``"".join(lead + piece + after)`` is the paragraph, so putting each piece's translation
    between its ``lead`` and ``after`` keeps the layout.

    A paragraph of several lines (a list, a poem, a table without blank lines) too long for one
    piece is split between its lines, with each line break and indentation kept: pieces cut at
    sentences or words and joined with spaces would make a long list one line. Only a single
    line too long for a piece is cut inside it (:func:`chunk_text`), its pieces joined by spaces.
    """
    if count(paragraph) <= budget:
        return [("", paragraph, "")]
    lines = [m.group() for m in _LINE.finditer(paragraph) if m.group()]
    if len(lines) == 1:
        parts = chunk_text(paragraph, count, budget)
        return [("", part, " " if index < len(parts) - 1 else "") for index, part in enumerate(parts)]
    pieces: list[tuple[str, str, str]] = []
    group: list[str] = []

    def flush() -> None:
        if group:
            joined = "".join(group)
            body = joined.strip()
            if body:
                lead = joined[: len(joined) - len(joined.lstrip())]
                pieces.append((lead, body, joined[len(lead) + len(body) :]))
            elif pieces:
                lead, body, after = pieces[-1]
                pieces[-1] = (lead, body, after + joined)
            group.clear()

    for line in lines:
        if count(line.strip()) > budget:
            flush()
            group.append(line)
            joined = "".join(group)
            lead = joined[: len(joined) - len(joined.lstrip())]
            body = joined.strip()
            parts = chunk_text(body, count, budget)
            pieces.extend(("" if i else lead, part, " ") for i, part in enumerate(parts))
            pieces[-1] = (pieces[-1][0], pieces[-1][1], joined[len(lead) + len(body) :])
            group.clear()
        elif group and count("".join([*group, line]).strip()) > budget:
            flush()
            group.append(line)
        else:
            group.append(line)
    flush()
    return pieces


_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")
"""A Markdown code fence: three or more backticks or tildes (an info string may follow an opening one)."""


def code_blocks(paragraphs: Sequence[Paragraph]) -> list[tuple[Paragraph, bool]]:
    """The paragraphs with Markdown's fenced code blocks split off, each marked whether it is code.

    Code is not language: it is kept as it is. Translating a README, SmolLM2 turned
    ``print("hi")`` inside a fence into a French sentence and left the closing fence, so the rest of
    the document rendered as code. A block may hold blank lines (it then spans paragraphs) and may
    start or end inside a paragraph ("Example:" / a fence): the lines before and after it are
    translated as paragraphs of their own, with the line breaks between them kept. A block left
    open runs to the end, as Markdown reads it. ``"".join(p.text + p.separator)`` is unchanged.
    """
    units: list[tuple[Paragraph, bool]] = []
    fence = ""  # the opening fence of the block the lines are in
    for paragraph in paragraphs:
        groups: list[tuple[str, bool]] = []
        for line in (m.group() for m in _LINE.finditer(paragraph.text) if m.group()):
            opener = _FENCE.match(line)
            code = bool(fence) or opener is not None
            if fence:
                closes = opener is not None and opener.group(1)[0] == fence[0] and len(opener.group(1)) >= len(fence)
                if closes and not line[opener.end() :].strip():
                    fence = ""
            elif opener is not None:
                fence = opener.group(1)
            if groups and groups[-1][1] == code:
                groups[-1] = (groups[-1][0] + line, code)
            else:
                groups.append((line, code))
        for index, (body, code) in enumerate(groups):
            last = index == len(groups) - 1
            core = body if last else body.rstrip("\r\n")
            separator = body[len(core) :] + (paragraph.separator if last else "")
            lead = core[: len(core) - len(core.lstrip())]
            if lead and units:  # an indented line after a fence: its indentation is layout, not text
                before, was_code = units[-1]
                units[-1] = (Paragraph(before.text, before.separator + lead), was_code)
                core = core[len(lead) :]
            units.append((Paragraph(core, separator), code))
        if not groups:
            units.append((paragraph, bool(fence)))
    return units


LOOP_WINDOW = 60
"""Fewest characters of a reply's end that must repeat one unit for :func:`looping` to call it a loop."""


def looping(text: str, longest: int = 400) -> bool:
    """Whether ``text`` ends going round in a loop: one unit of up to ``longest`` characters repeated
    at least three times, over at least :data:`LOOP_WINDOW` characters ("le début de la lumière, le
    début de la lumière, …"). The unit may be cut anywhere, as a reply cut at its token budget is.
    """
    tail = text.rstrip()[-3 * longest :]
    for period in range(1, longest + 1):
        window = max(3 * period, LOOP_WINDOW)
        if window > len(tail):
            return False
        end = tail[-window:]
        if end[:-period] == end[period:]:
            return True
    return False


_ADDRESS = re.compile(
    r"(?<![\w@])(?:[a-z][a-z0-9+.-]*://|www\.)[^\s<>\"`]+|(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+",
    re.IGNORECASE,
)
"""A web address (``https://…``, ``www.…``) or an e-mail address: a name for a machine, never translated."""


def addresses(text: str) -> list[str]:
    """The web and e-mail addresses in ``text`` (:data:`_ADDRESS`), without the punctuation of the sentence after
    them ("https://example.com/start." ends a sentence): each must come back as it is in a translation.

    Why: asked for Spanish, SmolLM2 gave "Write to help@example.org if you have a question." as "Eligo de esta
    manera para ayudar a @example.org.", and a wrong address printed as the translation is data lost unseen."""
    return [match.group().rstrip(".,;:!?)]}'\"»”’") for match in _ADDRESS.finditer(text)]


def _has_letter(text: str) -> bool:
    """Whether ``text`` shows a letter (:func:`~assistant.tools.spans.shown_text`) outside web and e-mail addresses
    (:data:`_ADDRESS`): a terminal escape sequence's letters are none. A coloured "!!!" (ESC [31m!!! ESC [0m)
    went to SmolLM2, which made it "À la foi,", and a coloured word reached the prompt with its escape sequences
    (the sentiment tool reads text so too). A README's line that is a link alone came back from SmolLM2 as
    "L'utilisateur avec le projet "Getting started" est préférable…", the address lost: it is kept as it is."""
    return any(char.isalpha() for char in _ADDRESS.sub(" ", shown_text(text)[0]))


def _source_language(value: str) -> str | None:
    """``auto`` or nothing (detect it: :func:`_languages` reads both so) or one language (:func:`one_language`).

    Nothing is the translate template's own word for "unknown" (its ``source`` variable checks its value
    with this: ``check: translate.source``), which the tool itself renders when the source is detected."""
    return language_or_auto(value)  # its name, as the tool and the template receive it


def _target_language(value: str) -> str:
    """One language (:func:`one_language`: not a group of them, "Germanic languages"), never ``auto``.

    Why: ``auto`` means "detect it" for the source only; as a target it passed as a language
    named "Auto", the model was asked to translate "to Auto", and the result said ``"target": "Auto"``.
    """
    if value.strip().lower() == "auto":
        raise ConfigError("the target language cannot be 'auto' (only the source is detected); name it, e.g. 'French'")
    return one_language(value)  # its name ("French" for "fr"), as the tool and the template receive it


def _languages(params: Mapping[str, Any]) -> tuple[str, str | None]:
    """The target language's name and the source's (None: detect it), from the resolved parameters.

    A source named as the target is refused: the text is already in it. Asked ``--from fr --to fr``,
    SmolLM2 rewrote "Bonjour mon ami." as "Bonjour, monsieur.", printed as its translation. A region or
    script that tells the two apart (``--from en --to en-GB``, ``zh-Hans`` to ``zh-Hant``) is a translation.
    """
    target = one_language(params["to"])
    source = language_or_auto(str(params["source"] or ""))
    if source is not None and source.casefold() == target.casefold():
        raise ConfigError(f"the source and the target language are both {target}: nothing to translate; name another target")
    return target, source


class Translate(BaseTool):
    name = "translate"
    description = "Translate text into another language, keeping its paragraphs."
    parameters = (
        Parameter("to", "str", help="target language (name or code, e.g. French, fr, pt-BR; a script or region is kept: zh-Hant is Chinese (Traditional))", required=True,
                  aliases=("target",), check=_target_language),
        Parameter("source", "str", help="source language (default: auto-detect)", default="auto",
                  aliases=("from",), check=_source_language),
    )
    templates = ("translate",)

    tick_seconds = 5.0
    """How often a long piece reports its token count (a 512-token piece can take a minute on a CPU)."""

    def run(
        self, text: str, params: Mapping[str, Any], backend: Any, progress: Progress | None = None
    ) -> TranslationResult:
        early = self.answer_without_model(text, params)
        if early is not None:
            return early
        target, source = _languages(params)
        lead, blocks = split_paragraphs(text)
        units = code_blocks(blocks)
        paragraphs = [paragraph for paragraph, _ in units]
        todo = [paragraph for paragraph, code in units if not code and paragraph.text.strip()]
        report = progress or (lambda done, total, message: None)
        budget = self._piece_budget(backend, target, source)
        count = token_counter(backend)
        # Progress counts pieces: a long paragraph (a file that is one enormous line) is many
        # model calls, and reported by paragraph it showed nothing for minutes.
        split = [pieces_of(p.text, count, budget) if p.text.strip() and not code else [] for p, code in units]
        total = sum(len(pieces) for pieces in split)
        out = [lead]
        done = 0
        translated_paragraphs = 0
        cut: list[int] = []
        for paragraph, pieces in zip(paragraphs, split):
            if pieces:
                translated_paragraphs += 1
                parts: list[str] = []
                whole = True
                for before, piece, after in pieces:
                    what = f"translating paragraph {translated_paragraphs} of {len(todo)}"
                    if total > len(todo):
                        what = f"translating piece {done + 1} of {total}" + (
                            f" (paragraph {translated_paragraphs} of {len(todo)})" if len(todo) > 1 else ""
                        )
                    if total > 1:
                        report(done, total, what)
                    tick = ticker(report, done, total, what, self.tick_seconds)
                    translation, finished = self._piece(backend, piece, target, source, tick)
                    parts.append(f"{before}{translation}{after}")
                    whole = whole and finished
                    done += 1
                out.append("".join(parts))
                if not whole:
                    cut.append(translated_paragraphs)
            else:
                out.append(paragraph.text)
            out.append(paragraph.separator)
        if total > 1:
            report(done, total, "done")
        return TranslationResult(
            translation="".join(out), source=source or "auto", target=target, paragraphs=len(todo), cut=cut
        )

    def answer_without_model(self, text: str, params: Mapping[str, Any]) -> TranslationResult | None:
        """Input with no words outside code blocks is its own translation; empty input is refused; else None.

        Decided before any model is loaded (every front end asks this first): a file of only
        code, or "2024", loaded the model for seconds and made no call to it (code is kept as
        it is, and so is a piece without a letter: :meth:`_piece`).
        """
        target, source = _languages(params)  # a source named as the target: refused before any model loads
        units = code_blocks(split_paragraphs(text)[1])
        if not any(paragraph.text.strip() for paragraph, _ in units):
            raise ToolError("nothing to translate: the input is empty")
        prose = [paragraph for paragraph, code in units if not code and paragraph.text.strip()]
        if any(_has_letter(paragraph.text) for paragraph in prose):
            return None
        return TranslationResult(translation=text, source=source or "auto", target=target, paragraphs=len(prose), cut=[])

    def _piece_budget(self, backend: Any, target: str, source: str | None) -> int:
        """Most tokens of input translated at once: the piece, a reply up to twice as long and the prompt fit."""
        overhead = backend.count_tokens(render("translate", {"input": "", "target": target, "source": source or ""}))
        # input + a reply up to twice as long must fit: overhead + n + (2n + 32) <= context
        window = context_window(backend)
        room = (window - overhead - 32 - SAFETY_MARGIN) // 3
        if room < 8:
            raise ToolError(f"the context window ({window} tokens) is too small to translate; raise n_ctx")
        return min(room, MAX_PIECE_TOKENS)

    def _piece(
        self, backend: Any, piece: str, target: str, source: str | None, on_tokens: TokenProgress | None = None
    ) -> tuple[str, bool]:
        """A piece's translation, and whether it is whole.

        A piece without a letter is its own translation. A reply cut at max tokens is unfinished
        unless the cut fell in a remark the
        cleaner dropped after a finished translation; a reply cut at twice the piece's
        tokens is asked for again with :data:`LONG_REPLY_FACTOR` times them.
        """
        if not _has_letter(piece):
            # Nothing to translate (a number, punctuation, emoji): kept as it is. Asked anyway,
            # SmolLM2 turned "!!!" into a German sentence cut at its budget.
            return piece, True
        piece = shown_text(piece)[0]  # what it says: a colour's escape sequence is no text to translate
        messages = render("translate", {"input": piece, "target": target, "source": source or ""})
        size = backend.count_tokens(piece)
        room = context_window(backend) - backend.count_tokens(messages) - SAFETY_MARGIN
        for budget in (2 * size + 32, LONG_REPLY_FACTOR * size + 32):
            params = GenerationParams(max_tokens=min(budget, room), temperature=0.0, repeat_penalty=1.05)
            clean = make_cleaner(piece, (target, source or ""))
            step = generate_checked(backend, messages, params, clean, "translation", on_tokens)
            whole = step.complete or clean.dropped_tail
            if whole or budget >= room or (looping(step.text) and not looping(piece)):
                # A greedy reply that went round in a loop to its budget repeats the same loop
                # given four times the budget: the retry only made a cut piece take five times as long.
                break
        return step.text, whole


@hookimpl
def register_tools(register: Callable[[Any], None]) -> None:
    register(Translate())

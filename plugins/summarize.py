"""First-party tool ``summarize``: any length of text, in a sentence, a short paragraph or bullets.

Input that does not fit the model's context is split into chunks that do
(counted with the backend's tokenizer), each chunk is summarised, and the
summaries are combined — in several rounds if even they do not fit together
(map-reduce). Every prompt is measured before it is sent, so long input never
meets a context overflow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from assistant import hookimpl
from assistant.errors import ConfigError, ToolError
from assistant.tools import BaseTool, Parameter, Progress, SummaryResult
from assistant.tools.context import SAFETY_MARGIN, context_window, input_budget, token_counter
from assistant.tools.figures import stated_figures, unstated
from assistant.tools.generate import Generated, TokenProgress, generate_checked, ticker
from assistant.tools.language_words import text_language
from assistant.tools.languages import AUTO, language_or_auto
from assistant.tools.prompts import render
from assistant.tools.spans import shown_text
from assistant.tools.text import chunk_text, split_sentences, word_count
from assistant.types import GenerationParams

MAX_SUMMARY_TOKENS = {"sentence": 80, "short": 200, "bullets": 250}

DEFAULT_CHUNK_TOKENS = 2048
"""Small models summarise a couple of thousand tokens far better than a full 8k window."""

COMBINE_REPLY_FACTOR = 2
"""A combine step's reply may be this many times the length's own budget, however much the parts hold.

Its parts may hold more than one step's budget (a 5,000-word story's were cut mid-sentence at it),
but not without bound: on a 50-page document (18 parts) SmolLM2 filled a budget of the parts' 3,000
tokens with one paragraph repeated, five minutes for a "short paragraph"."""

SHORTEST_INPUT_WORDS = 12
"""Input of fewer words (:func:`word_count`) is too short to summarize, and is its own summary.

Asked anyway, SmolLM2 invented one: "x y z" became "a new employee wellness program that focuses
on mental health", "我喜欢猫" (I like cats) "I love spending time with them [lions and tigers] in their
natural habitats", "The cat sat on the mat." "…, a classic scene in literature". The input comes
back as it is, with a note, rather than as an error: in a batch of reviews a three-word one is
not a failed row, and every front end (CLI, chat app, Python API) gets the same result."""

SHORT_INPUT_CHARACTERS = 200
"""...and fewer characters: a few "words" thousands of characters long (base64, a minified line)
are no short text, and go through the chunking that keeps their prompts within the context."""

TOO_SHORT_NOTE = f"the input is too short to summarize (under {SHORTEST_INPUT_WORDS} words): shown as it is"

LANGUAGE = ("language",)
"""The variable of the summarize prompts a user's own template may lack (:func:`~assistant.tools.prompts.render`)."""

MIN_CHUNK_TOKENS = 64
"""Fewer input tokens per part than a sentence or two: a document becomes thousands of model calls."""


def _check_chunk_tokens(value: int) -> None:
    if 0 < value < MIN_CHUNK_TOKENS:
        raise ConfigError(
            f"chunk_tokens must be 0 (as many as the context holds) or at least {MIN_CHUNK_TOKENS}, not {value}"
        )


_PREAMBLE = re.compile(r"^\s*(?:here(?:'s| is) (?:a |the )?(?:short |brief )?summary[^:\n]*:|summary:)\s*", re.I)
_BULLET = re.compile(r"^\s*(?:(?:[-*•‣]|\d+[.)])\s+)+")
"""A list item's marker (repeated markers, "*  *   text", are one marker)."""
_NUMBERED = re.compile(r"^\s*\d+[.)]\s+")
_RULE = re.compile(r"^\s*(?:-{3,}|={3,})\s*$")
"""A line of only ``---`` or ``===``: a heading's underline ("1. Definitions" / "-----") or a rule."""
_NOT_PROSE = re.compile(r"^\s*(?:```|#|\||(?:-{3,}|={3,})\s*$)|^(?: {2,}|\t)\S|[{};]\s*$|\):\s*$", re.MULTILINE)
"""Code fences, headings (``#`` or underlined), table rows, and code without a fence (an indented
line, a line ending in ``{``, ``}``, ``;`` or ``):``): a reply with them is a copy of a document,
not prose sentences. Asked for bullets on a Python file, SmolLM2 copied it ("def add(a, b):" /
"    return a + b"), and each line of code became a bullet "the model wrote as prose"."""
PROSE_SENTENCES = (2, 8)
"""A prose reply of this many sentences becomes one bullet per sentence (fewer is no list; more, no summary)."""
_SENTENCE_DONE = re.compile(r"[.!?…。！？]['\")\]」』）”’]*\s*$")
"""Text whose last sentence is finished (closing punctuation, perhaps a quote or bracket)."""


def summary_language(text: str, named: str | None = None) -> str:
    """The language a summary of ``text`` is asked for in: the text's own, when that is sure and not English; else "".

    Why: the prompt is in English, and SmolLM2-135M summarised 6 of 9 short French, German and Spanish
    news texts in English, each invented ("the German Alps", "the island of El Hierro ... in March 2018");
    told "Write it in German, the language of the text." it wrote all 9 in their language, on the text's
    topic but for two garbled ones (often close to a copy of the text). English input gets the prompt as before. Told by function words
    (:func:`~assistant.tools.language_words.text_language`), so only the languages listed there are asked for.

    ``named`` is the ``language`` parameter's value: a language it names is the one asked for
    (:func:`~assistant.tools.languages.language_or_auto`, the check translate's ``--from`` has too);
    ``auto`` or nothing tells it from the text.
    """
    given = language_or_auto(named or "")
    if given is not None:
        return given
    language = text_language(text)
    return "" if language in (None, "English") else language


def grounded(reply: str, source: str) -> str:
    """``reply`` without its sentences that state a figure its ``source`` does not.

    A figure the input never gave is invented: summarising a 96-token news story whose only
    figures were "$124 billion", "3%" and "2,000 jobs", SmolLM2 added "up to 1,500 jobs created
    within the next five years" and "$3 million" for a platform the story never mentions. A figure
    is a number with its scale and unit (:mod:`assistant.tools.figures`): "3%" does not state "$3
    million", and "three million" or "a dozen" in words is checked as "3,000,000" or "12" would be.
    Such a sentence is dropped, the others kept (a list item keeps its marker, and its number is no
    figure); a reply that would lose every sentence is kept as it is, since nothing of it is sure.
    """
    known = stated_figures(source)  # read as its language writes numbers too: "1.234 Millionen"
    lines: list[str] = []
    for line in reply.splitlines():
        marker = _BULLET.match(line)
        head = marker.group() if marker else ""
        sentences = split_sentences(line[len(head):])
        kept = [sentence for sentence in sentences if not unstated(sentence, known)]
        if len(kept) == len(sentences):
            lines.append(line)
        elif kept:
            lines.append(head + " ".join(kept))
    result = "\n".join(lines)
    return result if result.strip() else reply


def clean_summary(text: str) -> str | None:
    cleaned = _PREAMBLE.sub("", text.strip()).strip()
    return cleaned or None


def clean_sentence(text: str) -> str | None:
    """One sentence was asked for: small models often add more, so keep the first."""
    body = clean_summary(text)
    if body is None:
        return None
    sentences = split_sentences(body)
    return sentences[0] if sentences else None


def clean_bullets(text: str) -> str | None:
    """Normalise any list style to "- " bullets; a reply without list items is rejected.

    An item the model wrapped onto further lines ("1. The right to copy any work you create or" /
    "   modify.") keeps them, so no bullet is cut off mid-sentence: a line right after an item
    continues it when it is indented or the item has not finished its sentence. Lines before the
    list, and a remark after it (unindented, after a finished item or a blank line), are not items;
    nor is a numbered heading the model copied from the document ("1. Definitions" underlined with
    "-----"), and an underline or rule ends an item instead of joining it.
    """
    body = clean_summary(text)
    if body is None:
        return None
    items: list[str] = []
    in_item = False
    previous = ""
    for line in body.splitlines():
        if _RULE.match(line):
            if in_item and _NUMBERED.match(previous):  # "1. Definitions" underlined: a copied heading
                items.pop()
            in_item = False
        elif _BULLET.match(line):
            items.append(_BULLET.sub("", line).strip())
            in_item = True
        elif not line.strip():
            in_item = False
        elif in_item and (line[:1].isspace() or not _SENTENCE_DONE.search(items[-1])):
            items[-1] = f"{items[-1]} {line.strip()}".strip()
        else:
            in_item = False
        previous = line
    items = [item for item in items if item]
    return "\n".join(f"- {item}" for item in items) if items else None


def prose_bullets(text: str) -> str | None:
    """Last resort for ``bullets``: a short prose reply, one "- " bullet per sentence of it.

    SmolLM2-135M answers the bullets prompt with a paragraph nine times in ten
    (greedy); the paragraph is usually a faithful summary, while the sampled retry
    that follows it mostly invents. So the model's own sentences become the bullets
    (:class:`BulletSummary` says so). A reply of one sentence, of more than
    ``PROSE_SENTENCES`` or with code, headings or tables is not converted.
    """
    body = clean_summary(text)
    if body is None or _NOT_PROSE.search(body):
        return None
    sentences = [s.strip(" \"'“”") for s in split_sentences(body)]
    sentences = [s for s in sentences if s]
    low, high = PROSE_SENTENCES
    if not low <= len(sentences) <= high:
        return None
    return "\n".join(f"- {sentence}" for sentence in sentences)


class BulletCheck:
    """The ``bullets`` validator: the model's list (:func:`clean_bullets`), else its prose by sentence.

    ``from_sentences`` tells which the last accepted reply was.
    """

    def __init__(self) -> None:
        self.from_sentences = False

    def __call__(self, text: str) -> str | None:
        listed = clean_bullets(text)
        if listed is not None:
            self.from_sentences = False
            return listed
        converted = prose_bullets(text)
        self.from_sentences = converted is not None
        return converted


@dataclass
class BulletSummary(SummaryResult):
    """A ``bullets`` summary, and whether the model wrote the list or prose split into one bullet per sentence."""

    from_sentences: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "bullets": "sentences" if self.from_sentences else "list"}

    def to_text(self) -> str:
        text = super().to_text()
        if self.from_sentences:
            return f"{text}\n[the model wrote prose: each bullet is one of its sentences]"
        return text


class Summarize(BaseTool):
    name = "summarize"
    description = (
        "Summarize text of any length as one sentence, a short paragraph or bullet points "
        f"(input of under {SHORTEST_INPUT_WORDS} words is too short: it comes back as it is, with a note)."
    )
    parameters = (
        Parameter(
            "length",
            "choice",
            help="sentence, short (a paragraph) or bullets",
            default="short",
            choices=("sentence", "short", "bullets"),
        ),
        Parameter(
            "chunk_tokens",
            "int",
            help=f"most input tokens summarised at once (0: as many as the context holds; else at least {MIN_CHUNK_TOKENS})",
            default=DEFAULT_CHUNK_TOKENS,
            minimum=0,
            check=_check_chunk_tokens,
        ),
        Parameter(
            "language",
            "str",
            help="the text's language, which the summary is asked to be written in (name or code: French, fr); "
            "auto: told from the text's words where they are sure, else not asked",
            default=AUTO,
            check=language_or_auto,
        ),
    )
    templates = ("summarize", "summarize-combine")
    tick_seconds = 5.0
    """How often a long step reports its token count (one part can take minutes on a CPU)."""

    def run(
        self, text: str, params: Mapping[str, Any], backend: Any, progress: Progress | None = None
    ) -> SummaryResult:
        length: str = params["length"]
        early = self.answer_without_model(text, params)
        if early is not None:
            return early
        # What the text says: coloured input (`git log --color`, a pasted terminal) sent the model its escape
        # sequences, tokens of no meaning that count against every part, as ner, sentiment and translate read it.
        text = shown_text(text)[0]
        limit = min(MAX_SUMMARY_TOKENS[length], max(16, context_window(backend) // 8))
        language = summary_language(text, params.get("language"))
        count = token_counter(backend)
        budget = min(
            input_budget(backend, lambda t, how=how: render("summarize", self._values(t, how, language), LANGUAGE), limit)
            for how in {length, "short"}
        )
        if params["chunk_tokens"]:
            budget = min(budget, params["chunk_tokens"])
        chunks = chunk_text(text, count, budget)
        report = progress or (lambda done, total, message: None)
        check = self._validator(length)  # the final step's: BulletCheck tells how a bullet list was made
        if len(chunks) == 1:
            tick = self._ticker(report, 0, 1, "summarizing")
            step = self._summarize(backend, chunks[0], length, limit, tick, check, language)
            return _result(step, length, check, chunks=1, rounds=1, source=text)

        summaries: list[str] = []
        for index, chunk in enumerate(chunks):
            what = f"summarizing part {index + 1} of {len(chunks)}"
            report(index, len(chunks), what)
            tick = self._ticker(report, index, len(chunks), what)
            part = self._summarize(backend, chunk, "short", limit, tick, language=language)
            summaries.append(_whole_sentences(part))
        report(len(chunks), len(chunks), "combining the summaries")
        rounds = 1
        while True:
            rounds += 1
            final = self._groups(backend, summaries, length, limit, language)
            if len(final) == 1:
                tick = self._ticker(report, len(chunks), len(chunks), "combining the summaries")
                step = self._combine(backend, final[0], length, limit, tick, check, language)
                return _result(step, length, check, chunks=len(chunks), rounds=rounds, source=text)
            groups = self._groups(backend, summaries, "short", limit, language)
            if len(groups) >= len(summaries):
                raise ToolError("the context window is too small to combine the partial summaries; raise n_ctx")
            # Each group of a further round is reported and ticks like a part: a 6,000-line document's
            # groups ran for minutes after "combining the summaries" with nothing on stderr.
            combined: list[str] = []
            for number, group in enumerate(groups, 1):
                what = f"combining the summaries: group {number} of {len(groups)} (round {rounds})"
                report(len(chunks), len(chunks), what)
                tick = self._ticker(report, len(chunks), len(chunks), what)
                step = self._combine(backend, group, "short", limit, tick, language=language)
                combined.append(_whole_sentences(step))
            summaries = combined
            report(len(chunks), len(chunks), "combining the summaries")

    def answer_without_model(self, text: str, params: Mapping[str, Any]) -> SummaryResult | None:
        """Input too short to summarize is its own summary; input without words is refused; else None.

        Decided here, before any model is loaded: every front end asks this first
        (:meth:`~assistant.tools.registry.RegisteredTool.answer_without_model`), so
        ``assistant summarize "x y z"`` answers at once instead of after a model load.
        """
        if not text.strip():
            raise ToolError("nothing to summarize: the input is empty")
        if not any(char.isalnum() for char in shown_text(text)[0]):  # an escape sequence's "[31m" is no word
            # "😀" or "!!!" was "summarised" as a paragraph about a company's carbon emissions.
            raise ToolError("nothing to summarize: the input has no words, only symbols or punctuation")
        # The length first: counting the words of a 30 MB document took seconds, and this is asked
        # before the model loads and again as the tool runs.
        if len(text.strip()) < SHORT_INPUT_CHARACTERS and word_count(text) < SHORTEST_INPUT_WORDS:
            return SummaryResult(
                summary=text.strip(), length=params["length"], chunks=0, rounds=0, finish_reason="stop",
                note=TOO_SHORT_NOTE,
            )
        return None

    # ---- steps ------------------------------------------------------------------
    def _ticker(self, report: Progress, done: int, total: int, what: str) -> TokenProgress:
        """Reports ``what (N tokens)`` at most every ``tick_seconds`` while one step generates."""
        return ticker(report, done, total, what, self.tick_seconds)

    @staticmethod
    def _values(text: str | list[str], length: str, language: str) -> dict[str, Any]:
        """The prompt's variables: a part's text (``input``) or the parts' summaries to combine (``summaries``)."""
        return {"input" if isinstance(text, str) else "summaries": text, "length": length, "language": language}

    def _params(self, limit: int) -> GenerationParams:
        return GenerationParams(max_tokens=limit, temperature=0.0, repeat_penalty=1.1)

    def _validator(self, length: str) -> Callable[[str], str | None]:
        if length == "bullets":
            return BulletCheck()
        return clean_sentence if length == "sentence" else clean_summary

    def _summarize(
        self, backend: Any, chunk: str, length: str, limit: int, on_tokens: TokenProgress | None = None,
        check: Callable[[str], str | None] | None = None, language: str = "",
    ) -> Generated:
        messages = render("summarize", self._values(chunk, length, language), LANGUAGE)
        validate = _grounded_in(chunk, check or self._validator(length))
        return generate_checked(backend, messages, self._params(limit), validate, "summary", on_tokens)

    def _combine(
        self, backend: Any, summaries: list[str], length: str, limit: int, on_tokens: TokenProgress | None = None,
        check: Callable[[str], str | None] | None = None, language: str = "",
    ) -> Generated:
        """Combine partial summaries, with a reply budget taken from the parts.

        A summary of summaries may need as many tokens as its parts hold (a
        5,000-word story's parts overran the per-step ``limit`` and were cut
        mid-sentence), so the budget is the parts' size, bounded by the room the
        context window leaves after the prompt and by :data:`COMBINE_REPLY_FACTOR`
        times ``limit`` (a summary, not a reply as long as all the parts).
        """
        messages = render("summarize-combine", self._values(summaries, length, language), LANGUAGE)
        count = token_counter(backend)
        room = context_window(backend) - backend.count_tokens(messages) - SAFETY_MARGIN
        parts = sum(count(summary) for summary in summaries)
        budget = max(16, min(room, COMBINE_REPLY_FACTOR * limit, max(limit, parts)))
        validate = _grounded_in("\n".join(summaries), check or self._validator(length))
        return generate_checked(backend, messages, self._params(budget), validate, "summary", on_tokens)

    def _groups(
        self, backend: Any, summaries: list[str], length: str, limit: int, language: str = ""
    ) -> list[list[str]]:
        """Consecutive summaries packed so each group's combine prompt fits with room for the reply."""
        room = context_window(backend) - limit - SAFETY_MARGIN
        groups: list[list[str]] = [[]]
        for summary in summaries:
            trial = [*groups[-1], summary]
            prompt = render("summarize-combine", self._values(trial, length, language), LANGUAGE)
            if backend.count_tokens(prompt) <= room:
                groups[-1] = trial
            elif groups[-1]:
                groups.append([summary])
            else:
                raise ToolError("the context window is too small to combine the partial summaries; raise n_ctx")
        return groups


def _grounded_in(source: str, check: Callable[[str], str | None]) -> Callable[[str], str | None]:
    """``check`` applied to a reply without the sentences that invent numbers (:func:`grounded`).

    Before the check, so ``sentence`` keeps the first sentence that is faithful to its source.
    """
    return lambda reply: check(grounded(reply, source))


def _whole_sentences(step: Generated) -> str:
    """A step cut at max tokens loses its unfinished last sentence (kept whole when it is the only one)."""
    if step.complete:
        return step.text
    sentences = split_sentences(step.text)
    if len(sentences) > 1 and not _SENTENCE_DONE.search(step.text):
        kept = step.text[: step.text.rfind(sentences[-1])].rstrip()
        return kept or step.text
    return step.text


def _result(
    step: Generated, length: str, check: Callable[[str], str | None], chunks: int, rounds: int, source: str
) -> SummaryResult:
    """The summary, with ``finish_reason: length`` when the last step was cut: never passed off as complete.

    A ``sentence`` summary is the reply's first sentence (:func:`clean_sentence`): when that
    sentence is finished, the cut fell in the text thrown away after it, and the summary is whole.
    A figure ``source`` (the whole input) never gives is named in the result's note (:func:`invented_note`).
    """
    finish = step.finish_reason
    if length == "sentence" and _SENTENCE_DONE.search(step.text):
        finish = "stop"
    summary = _whole_sentences(step)
    note = invented_note(summary, source)
    if isinstance(check, BulletCheck):
        return BulletSummary(
            summary=summary, length=length, chunks=chunks, rounds=rounds, finish_reason=finish,
            from_sentences=check.from_sentences, note=note,
        )
    return SummaryResult(
        summary=summary, length=length, chunks=chunks, rounds=rounds, finish_reason=finish, note=note
    )


def invented_note(summary: str, source: str) -> str | None:
    """A note naming the figures ``summary`` states that ``source`` never gives, or None when there are none.

    :func:`grounded` drops such sentences, but keeps a reply whose every sentence has one: asked for
    one sentence about a park's ten-acre expansion "paid by a state grant", SmolLM2 wrote "a $1.2 million
    expansion", printed as the summary with no word that the figure was the model's own.
    """
    known = stated_figures(source)
    shown: dict[str, None] = {}
    for line in summary.splitlines():
        marker = _BULLET.match(line)  # a list item's own number is no figure, as in grounded()
        body = line[marker.end() :] if marker else line
        for figure in unstated(body, known):
            before = body[max(0, figure.start - len(figure.unit)) : figure.start]  # "$1.2 million", its sign with it
            start = figure.start - len(before) if figure.unit and before == figure.unit else figure.start
            shown[body[start : figure.end]] = None
    if not shown:
        return None
    return f"the summary states figures its input does not give, check them: {', '.join(shown)}"


@hookimpl
def register_tools(register: Callable[[Any], None]) -> None:
    register(Summarize())

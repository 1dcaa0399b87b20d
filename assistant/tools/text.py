"""Splitting text into paragraphs, sentences and token-bounded chunks.

Tools that must fit a model's context window (summarize's map step, translate's
long paragraphs) split on the largest natural boundary that works — paragraph,
then sentence, then word, then raw characters — and measure with the backend's
own tokenizer, never a characters-per-token guess, so a chunk that is said to
fit does fit.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Callable

PARAGRAPH_BREAK = re.compile(r"\n[ \t\r]*\n\s*")
"""A blank line between paragraphs, with LF or CRLF line ends: a file written on Windows has
paragraphs too ("\\r\\n\\r\\n"), and its layout must survive a translation like any other."""
_SENTENCE_END = re.compile(
    r"(?<=[.!?…。！？])((?:[\"'”’)\]」』）]|\x1b\[[0-?]*[ -/]*[@-~])*)(?:\s+|(?<=[。！？」』）”’])(?=\S))"
)
"""The end of a sentence: closing punctuation, perhaps quotes or brackets, then a space — or nothing
after a CJK full stop ("…です。山田さんは…"), since Chinese and Japanese put no space between sentences.
A terminal colour code after the stop ("Obama.\\x1b[0m Then") is closing matter too: it hid the break."""


ABBREVIATED_TITLES = frozenset("dr mr mrs ms mx prof gen col lt sgt capt maj adm cmdr gov sen rep rev".split())
"""Titles written short with a dot ("Sen. Warren"): the dot ends no sentence, and a name follows
(:data:`assistant.tools.spans.TITLES` includes them)."""

_ABBREVIATIONS = ABBREVIATED_TITLES | frozenset(
    "st mt ft sr jr inc ltd co corp vs etc e.g i.e approx dept".split()
)


def _ends_abbreviation(before: str) -> bool:
    """Whether the dot ending ``before`` belongs to an abbreviation ("Dr.", "U.S.", "J.") rather than a sentence."""
    if not before.endswith("."):
        return False
    word = before.rsplit(None, 1)[-1].lstrip("(\"'“‘[")
    core = word[:-1]
    if core.lower() in _ABBREVIATIONS:
        return True
    return (len(core) == 1 and core.isupper()) or ("." in core and all(len(p) <= 2 for p in core.split(".")))


_MONTH_ABBREVIATIONS = frozenset("jan feb mar apr jun jul aug sep sept oct nov dec".split())
"""Months written short ("Mar. 5"): their dot ends no sentence where a day number follows. Only
there: "Jan." alone may be a name's initial or a sentence's last word."""
_NUMBER_ABBREVIATIONS = _MONTH_ABBREVIATIONS | {"no", "fig"}
"""Words written short before a number: months, "No. 10", "Fig. 3". Only there: "He said no. The bank
…" ends a sentence, which, taken for "No.", joined the next sentence to it (a sentence all in capitals
after it was then not recased for NER)."""


def _ends_number_abbreviation(before: str, after: str) -> bool:
    if not (before.endswith(".") and after[:1].isdigit()):
        return False
    return before.rsplit(None, 1)[-1].lstrip("(\"'“‘[")[:-1].lower() in _NUMBER_ABBREVIATIONS


CHAPTER_AND_VERSE = re.compile(
    r"[1-9]\d{0,2}:[1-9]\d{0,2}(?:[-–][1-9]\d{0,2}(?::[1-9]\d{0,2})?)?(?![\w:]|[.,]\d|\s?[ap]\.?m\b)", re.IGNORECASE
)
"""A chapter and verse ("3:16", "1:1", "5:3-12", "3:16-4:2"). Neither number starts with 0 ("15:00",
"08:30" are times), and no "pm", decimal ("3:31.18", a race time) or second colon ("2:04:26") follows.
After a book's name it cites the book (NER: :mod:`assistant.tools.span_dates`)."""

SHORTENED_BOOK = 4
"""Letters at most in a word shortened with a full stop before a chapter and verse ("Rom.", "Matt.",
"Gen."): a longer word with a full stop ends its sentence ("He left Paris. 3:16 came" is a time)."""


def shortened_book(word: str) -> bool:
    """A word of a few letters shortened with a full stop, as a book's name before a chapter and verse."""
    core = word[:-1]
    return word.endswith(".") and 1 < len(core) <= SHORTENED_BOOK and core.isalpha() and core[0].isupper()


def _ends_book_abbreviation(before: str, after: str) -> bool:
    """A book's name written short ("Rom. 8:28"): its dot ends no sentence where a chapter and verse follows."""
    if not (before.endswith(".") and CHAPTER_AND_VERSE.match(after)):
        return False
    return shortened_book(before.rsplit(None, 1)[-1].lstrip("(\"'“‘["))


_ORDINAL_DAY = re.compile(r"\d{1,2}\.")
"""A day of the month written as German writes it, its number and a dot ("am 3. März")."""


@functools.cache
def _capital_months() -> frozenset[str]:
    """The months written capitalised inside a sentence (German's, :data:`~assistant.tools.span_words.MONTH_NAMES`)."""
    from .span_words import MONTH_NAMES  # that module reads this one: imported where first needed

    return frozenset(name for names in MONTH_NAMES.values() for name in names.split() if name[0].isupper())


def _ends_ordinal_day(before: str, after: str) -> bool:
    """A day's number with its dot before a month's name ("Am 3. März 2024 kam Hans."): the dot makes the
    number an ordinal and ends no sentence. The NER tool found "März 2024" in a sentence of its own, not the date."""
    if not before.endswith(".") or not _ORDINAL_DAY.fullmatch(before.rsplit(None, 1)[-1]):
        return False
    word = re.match(r"\w+", after)
    return word is not None and word.group() in _capital_months()


def _sentence_breaks(line: str) -> list[re.Match[str]]:
    return [
        m for m in _SENTENCE_END.finditer(line)
        if not _ends_abbreviation(line[: m.start()])
        and not _ends_number_abbreviation(line[: m.start()], line[m.end():])
        and not _ends_book_abbreviation(line[: m.start()], line[m.end():])
        and not _ends_ordinal_day(line[: m.start()], line[m.end():])
    ]


@dataclass(frozen=True)
class Paragraph:
    """A paragraph and the exact whitespace that followed it, so joining restores the layout."""

    text: str
    separator: str


def split_paragraphs(text: str) -> tuple[str, list[Paragraph]]:
    """(leading whitespace, paragraphs): ``lead + "".join(p.text + p.separator)`` == ``text``."""
    stripped = text.lstrip()
    lead = text[: len(text) - len(stripped)]
    paragraphs: list[Paragraph] = []
    position = 0
    for match in PARAGRAPH_BREAK.finditer(stripped):
        body = stripped[position : match.start()]
        core = body.rstrip()
        paragraphs.append(Paragraph(core, body[len(core) :] + match.group()))
        position = match.end()
    tail = stripped[position:]
    core = tail.rstrip()
    if core or not paragraphs:
        paragraphs.append(Paragraph(core, tail[len(core) :]))
    else:  # the text ended with a paragraph break: its whitespace belongs to the last paragraph
        last = paragraphs.pop()
        paragraphs.append(Paragraph(last.text, last.separator + tail))
    return lead, paragraphs


def split_sentences(text: str) -> list[str]:
    """Sentences (with their closing punctuation); line breaks also end a sentence."""
    sentences: list[str] = []
    for line in text.splitlines():
        position = 0
        for match in _sentence_breaks(line):
            piece = line[position : match.end()].strip()
            if piece:
                sentences.append(piece)
            position = match.end()
        rest = line[position:].strip()
        if rest:
            sentences.append(rest)
    return sentences


_UNSPACED = re.compile(r"[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
"""A character of a script written without spaces between words (Han, kana, Thai, Lao, Myanmar, Khmer)."""


def word_count(text: str) -> int:
    """How many words ``text`` has, in any script: what a person means by "a text of five words".

    A word is a run between spaces with a letter or digit in it ("!!!" is none); in the scripts
    written without spaces (:data:`_UNSPACED`) each character counts as one, so "我喜欢猫" is
    four words, not one. (A Thai or Khmer word of several characters counts as several: the
    count errs on the long side there, never calling a real text short.)
    """
    total = 0
    for run in text.split():
        unspaced = len(_UNSPACED.findall(run))
        rest = _UNSPACED.sub(" ", run)
        total += unspaced + sum(1 for part in rest.split() if any(char.isalnum() for char in part))
    return total


def chunk_text(text: str, count_tokens: Callable[[str], int], budget: int) -> list[str]:
    """Split ``text`` into pieces of at most ``budget`` tokens, on the largest boundary possible.

    Every piece is checked with ``count_tokens`` itself (token counts are not
    additive across joins), so no piece exceeds the budget — provided the
    budget holds at least one character, which every real prompt budget does.
    """
    if budget < 1:
        raise ValueError("budget must be at least 1 token")
    text = text.strip()
    if not text:
        return []
    if count_tokens(text) <= budget:
        return [text]
    _, paragraphs = split_paragraphs(text)
    units = [p.text for p in paragraphs if p.text.strip()]
    if len(units) > 1:
        return _pack(units, "\n\n", count_tokens, budget)
    sentences = split_sentences(text)
    if len(sentences) > 1:
        return _pack(sentences, " ", count_tokens, budget)
    words = text.split()
    if len(words) > WORD_BLOCKS_FROM:
        # One huge line (a log, minified text): counting its 200,000 words one by one took
        # 34 s of tokenizer calls before the first model call. Runs of words sized by the
        # text's own tokens per word, about an eighth of the budget each, are packed instead;
        # a run that comes out over the budget is split by its words as before.
        per_word = count_tokens(text) / len(words)
        run = max(2, min(WORD_BLOCKS_FROM // 2, int(budget / 8 / max(per_word, 1e-9))))
        runs = [" ".join(words[i : i + run]) for i in range(0, len(words), run)]
        return _pack(runs, " ", count_tokens, budget)
    if len(words) > 1:
        return _pack(words, " ", count_tokens, budget)
    return _split_characters(text, count_tokens, budget)


WORD_BLOCKS_FROM = 2000
"""From this many words in one sentence, :func:`chunk_text` packs runs of words, not single words."""


def _pack(units: list[str], joiner: str, count_tokens: Callable[[str], int], budget: int) -> list[str]:
    """Greedily group consecutive units while their summed token counts fit; oversized units split further.

    Each unit is counted once, less the tokens every count carries (a BOS). A
    finished group is counted again as joined text (joins can tokenize
    differently); if that is over budget, units move from its end to the next
    group until it fits, so groups stay as full as the budget allows.
    """
    fixed = count_tokens("")
    join_cost = max(1, count_tokens(joiner) - fixed)
    sizes = [count_tokens(unit) - fixed for unit in units]
    chunks: list[str] = []
    group: list[int] = []
    group_tokens = fixed
    index = 0
    while index < len(units):
        size = sizes[index]
        if size + fixed > budget:
            index -= _flush(group, units, joiner, count_tokens, budget, chunks)
            group, group_tokens = [], fixed
            chunks.extend(chunk_text(units[index], count_tokens, budget))
            index += 1
            continue
        if group and group_tokens + join_cost + size > budget:
            index -= _flush(group, units, joiner, count_tokens, budget, chunks)
            group, group_tokens = [], fixed
            continue
        group_tokens += size + (join_cost if group else 0)
        group.append(index)
        index += 1
    _flush(group, units, joiner, count_tokens, budget, chunks)
    return chunks


def _flush(
    group: list[int], units: list[str], joiner: str, count_tokens: Callable[[str], int], budget: int,
    chunks: list[str],
) -> int:
    """Append the group's joined text to ``chunks``; returns how many units it handed back."""
    if not group:
        return 0
    handed_back = 0
    joined = joiner.join(units[i] for i in group)
    while len(group) > 1 and count_tokens(joined) > budget:
        group = group[:-1]
        handed_back += 1
        joined = joiner.join(units[i] for i in group)
    chunks.append(joined)
    return handed_back


def _split_characters(text: str, count_tokens: Callable[[str], int], budget: int) -> list[str]:
    """Last resort for a single huge "word" (base64, a URL list): halve until each half fits."""
    if count_tokens(text) <= budget or len(text) <= 1:
        return [text]
    middle = len(text) // 2
    return _split_characters(text[:middle], count_tokens, budget) + _split_characters(
        text[middle:], count_tokens, budget
    )


WRAPPED_LINE = 40
"""A line at least this long that runs straight on into the next is one hard-wrapped paragraph's
(a ``.txt`` file, an e-mail): its sentence, and a name in it ("Richard" / "Stallman"), go on.
Shorter lines are joined only to a line that starts in lower case; a column of short lines
("Alice Smith" / "Bob Jones") stays a line each."""
_NOT_RUN_ON = re.compile(r"^\s*(?:[-*•>|#]|\d+[.)]\s)")
"""A line that starts a list item, a quote, a table row or a heading starts something new."""


def _runs_on(line: str, following: str) -> bool:
    """Whether ``following`` continues the sentence of ``line`` (the line before it, no blank line between)."""
    start = following.lstrip()[:1]
    return (
        (len(line.strip()) >= WRAPPED_LINE or start.islower())
        and not line.lstrip().startswith(("|", "#"))
        and bool(start)
        and not _NOT_RUN_ON.match(following)
    )


def _wrapped_blocks(text: str) -> list[tuple[int, int]]:
    """(start, end) of each line, with a hard-wrapped paragraph's lines joined into one block."""
    blocks: list[tuple[int, int]] = []
    previous: re.Match[str] | None = None
    for line in re.finditer(r"[^\n]+", text):
        joined = previous is not None and previous.end() + 1 == line.start() and _runs_on(previous.group(), line.group())
        if joined:
            blocks[-1] = (blocks[-1][0], line.end())
        else:
            blocks.append((line.start(), line.end()))
        previous = line
    return blocks


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of each sentence in ``text``, for tools that must report offsets.

    A line break ends a sentence, except inside a hard-wrapped paragraph (:data:`WRAPPED_LINE`):
    there a sentence may hold line breaks, which a caller showing it to a model should make spaces.
    """
    spans: list[tuple[int, int]] = []
    for block_start, block_end in _wrapped_blocks(text):
        base = block_start
        body = text[block_start:block_end]
        position = 0
        for match in _sentence_breaks(body):
            _append_trimmed(spans, body, base, position, match.end(1))
            position = match.end()
        _append_trimmed(spans, body, base, position, len(body))
    return spans


def _append_trimmed(spans: list[tuple[int, int]], body: str, base: int, start: int, end: int) -> None:
    piece = body[start:end]
    stripped = piece.strip()
    if not stripped:
        return
    offset = start + (len(piece) - len(piece.lstrip()))
    spans.append((base + offset, base + offset + len(stripped)))


_SPACE_BEFORE = re.compile(r"\s+(?=[,.;:!?%)\]}]|n['’]t\b|['’](?:s|re|ve|ll|d|m)\b)", re.IGNORECASE)
_SPACE_AFTER = re.compile(r"(?<=[(\[{$])\s+")


def tidy_spacing(text: str) -> str:
    """Text as it is usually written, from tokenized text: no space before punctuation or a clitic.

    Corpora and tools that split text into tokens write "it 's not , " and
    "does n't"; a model reads that as unusual text and, at 135M parameters,
    misses the negation in "n't" more often. Only spacing changes — the words
    are the same — so the model sees the text a person would have written.
    """
    return _SPACE_AFTER.sub("", _SPACE_BEFORE.sub("", " ".join(text.split())))

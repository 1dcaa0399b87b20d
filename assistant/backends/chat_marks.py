"""Marking message contents in a chat template's render, to tell its data from the template's own text.

:meth:`assistant.backends.chat_format.ChatFormat.render_segments` renders the
template a second time with each content between two marks; these are the marks,
the ways a content is marked when a template rewrites it (tests its ends, splits
it, measures it, prints its ``repr``), and the reading of a marked render back
into the plain one and where its data lies. Kept apart from the template
rendering so each module stays small.
"""

from __future__ import annotations

import bisect
import secrets
from collections import Counter
from typing import Sequence

from ..types import Message

_MARKS = [chr(c) for c in range(0xFDD0, 0xFDF0)]
"""Unicode noncharacters (never text): two that no content holds mark where each content starts and ends."""

_RANDOM_MARK_LENGTH = 16
"""Noncharacters in a random mark: 32**16 = 2**80 sequences, so no content can hold one by design."""


def marks_for(messages: Sequence[Message], template: str) -> tuple[str, str]:
    """Two marks that neither the template nor any content holds.

    A single free noncharacter each when there are two; a content can hold all
    32 (anyone can paste them), and then the marks are random runs of them. A
    content that defeated the marks used to send the render to a look-up over the
    whole prompt, where a user message equal to nearby template text
    (``<|im_end|>`` … ``user``) was found in the template's markup and its own
    markers parsed as control tokens.
    """

    def unused(mark: str) -> bool:
        return mark not in template and not any(mark in message.content for message in messages)

    free = [m for m in _MARKS if unused(m)]
    if len(free) >= 2:
        return free[0], free[1]
    while True:  # a content holding a random 16-noncharacter run: 2**-80 per try
        open_mark, close_mark = ("".join(secrets.choice(_MARKS) for _ in range(_RANDOM_MARK_LENGTH)) for _ in "oc")
        if open_mark != close_mark and unused(open_mark) and unused(close_mark):
            return open_mark, close_mark


def other_marks(messages: Sequence[Message], template: str, taken: tuple[str, str]) -> list[tuple[str, str]]:
    """Pairs of single noncharacters that neither the template, any content nor ``taken`` holds: one pair for
    each content of a render, so its data is told apart from the others' (none where ``taken`` are runs)."""
    if any(len(mark) != 1 for mark in taken):
        return []
    free = [
        m for m in _MARKS
        if m not in taken and m not in template and not any(m in message.content for message in messages)
    ]
    return list(zip(free[0::2], free[1::2]))


def read_pairs(text: str, pairs: Sequence[tuple[str, str]]) -> tuple[str, list[list[tuple[int, int]]], bool]:
    """:func:`read_marks` for a render with several pairs of single-character marks: the text without any, the
    spans of each pair in it, and whether a mark lost its partner."""
    found: list[list[tuple[int, int]]] = []
    lost = False
    for pair in pairs:
        removed = [at for at, char in enumerate(text) if char in pair]
        text, spans, pair_lost = read_marks(text, *pair)
        lost = lost or pair_lost

        def moved(position: int, removed: list[int] = removed) -> int:
            return position - bisect.bisect_left(removed, position)

        found = [[(moved(a), moved(b)) for a, b in earlier] for earlier in found]
        found.append(spans)
    return text, found, lost


Keep = tuple[int, int]
"""Characters of a content's core left outside its marks: (at the start, at the end)."""


def marked(content: str, open_mark: str, close_mark: str, keep: Keep = (0, 0)) -> str:
    """``content`` with its stripped core between the marks: a template that trims content trims the same.

    ``keep``: characters of the core left outside the marks at its start and end
    (:func:`kept`), so a template testing the content's first or last characters
    (``startswith('/')``, ``content[-1]``) sees the same ones.
    """
    core = content.strip()
    if not core:
        return content  # whitespace only: nothing a tokenizer could read as a control token
    start = content.index(core)
    head, tail = kept(core, keep)
    inside = core[len(head) : len(core) - len(tail)]
    return f"{content[:start]}{head}{open_mark}{inside}{close_mark}{tail}{content[start + len(core):]}"


def kept(core: str, keep: Keep) -> tuple[str, str]:
    """The characters of ``core`` that ``keep`` leaves outside the marks (never overlapping)."""
    head = core[: keep[0]]
    rest = core[len(head) :]
    return head, rest[len(rest) - min(keep[1], len(rest)) :]


def read_marks(text: str, open_mark: str, close_mark: str) -> tuple[str, list[tuple[int, int]], bool]:
    """A render made with marked contents, without its marks, where each open…close pair's data lies in it,
    and whether a mark lost its partner.

    A mark without its partner belongs to a content the template rewrote (sliced
    off its end, or split it as Qwen3's template splits off reasoning at
    ``</think>``): the part of that content it marked is template text, so the
    caller must not trust the spans (a reply's ``<|im_end|>`` after its
    ``</think>`` was parsed as a control token). A pair with nothing between (a
    content kept whole outside its marks) is an empty span. The caller checks that
    the text is the plain render.
    """
    pieces: list[str] = []
    spans: list[tuple[int, int]] = []
    length = 0
    lost = False

    def add(piece: str) -> None:
        nonlocal length
        pieces.append(piece)
        length += len(piece)

    def template_text(piece: str) -> None:
        nonlocal lost
        unmarked = piece.replace(open_mark, "").replace(close_mark, "")
        lost = lost or len(unmarked) != len(piece)
        add(unmarked)

    position = 0
    while True:
        start = text.find(open_mark, position)
        if start == -1:
            template_text(text[position:])
            break
        inside = start + len(open_mark)
        end = text.find(close_mark, inside)
        if end == -1:
            template_text(text[position:])
            break
        reopened = text.find(open_mark, inside, end)
        if reopened != -1:  # this open mark lost its close: not data
            template_text(text[position:reopened])
            position = reopened
            continue
        template_text(text[position:start])
        spans.append((length, length + end - inside))
        add(text[inside:end])
        position = end + len(close_mark)
    return "".join(pieces), spans, lost


def grown(text: str, spans: Sequence[tuple[int, int]], head: str, tail: str) -> list[tuple[int, int]]:
    """``spans`` with a content's kept characters (:func:`kept`) where they lie, whole, right beside its marks.

    Only whole: where the template cut some off (``content[15:-16]``), what lies
    beside the marks is partly the template's own text, and text equal to the
    cut characters (``<`` of ``</tool_response>``, then of the template's
    ``<|im_end|>``) was taken for data. The fewest characters are kept
    (:meth:`ChatFormat._fewest_kept`), so a template that cuts off what it tests
    leaves none of them beside the marks.
    """
    grown = []
    for start, end in spans:
        if head and text[max(0, start - len(head)) : start] == head:
            start -= len(head)
        if tail and text[end : end + len(tail)] == tail:
            end += len(tail)
        if end > start:
            grown.append((start, end))
    return grown


def looked_up(text: str, core: str, low: int, high: int, taken: Sequence[tuple[int, int]]) -> tuple[int, int] | None:
    """The first place in ``text[low:high]`` that holds ``core`` and no data already placed."""
    at = text.find(core, low, high)
    while at != -1:
        end = at + len(core)
        if not any(start < end and at < stop for start, stop in taken):
            return at, end
        at = text.find(core, at + 1, high)
    return None


PRINTABLE_MARKS = [chr(c) for c in range(0x2FF0, 0x2FFC)]
"""Ideographic description characters: printable symbols without case, for a template that prints a content's
``repr`` (``{{ [content]|string }}``, ``{{ message|string }}``), which writes a noncharacter as ``\\ufdd0``:
the marks were lost, and the content, its ``<|im_end|>`` kept as is by ``repr``, parsed as template text."""


def printable_marks(messages: Sequence[Message], template: str) -> tuple[str, str] | None:
    """Two of :data:`PRINTABLE_MARKS` that neither the template nor any content holds (None if not two)."""
    free = [m for m in PRINTABLE_MARKS if m not in template and not any(m in msg.content for msg in messages)]
    return (free[0], free[1]) if len(free) >= 2 else None


def marked_pieces(
    content: str,
    open_mark: str,
    close_mark: str,
    separators: Sequence[str],
    *,
    empty_pairs: str = "",
    own_pairs: Sequence[tuple[str, str]] = (),
) -> str | None:
    """``content`` cut at each of ``separators`` in it (a template's own string literals), every piece marked.

    For a template that splits the content (Qwen3's ``content.split('</think>')[0]`` for the reasoning and
    ``[-1]`` for the answer): marked whole, one piece kept the open mark and the other the close, and
    neither was data. Cut at the separators, each piece carries its own pair through the split; the
    separators stay outside the marks, so the template finds them as before. Each piece's whitespace stays
    outside too, as :func:`marked` leaves it (a template strips pieces). None where no separator is in it.

    ``empty_pairs`` (``"before"`` or ``"after"`` the blank's whitespace; ``"ends"``: only at the start and
    end of the content; ``"last"``: only at its end): a pair with nothing between where a piece is blank (the content starts or ends with
    a separator, or two meet), so a part of separators only (the ``<|im_end|>`` after ``</think>`` that Qwen3
    writes as the answer) still marks where it lands: without, the answer was template text. Tried first,
    on either side of the blank's whitespace (a ``lstrip('\\n')`` stops at a pair before it), then at the
    ends, then at the end only (a pair makes the empty reasoning of ``<think></think>`` a true value, and
    the template took another branch); without them where the pairs change the render (a pair at the start changes
    ``startswith``).

    ``own_pairs``: a pair for each piece (blanks included, :func:`pairs_needed`), in place of the one
    pair: where a piece lands then says which piece it is (:func:`exact_spans`), so it is grown only as
    the content goes on from there. None if there are fewer.
    """
    core = content.strip()
    cuts = _cuts(core, separators)
    if not cuts or (empty_pairs and len(_blanks(core, separators, empty_pairs)) > MOST_BLANKS):
        return None
    if own_pairs and len(own_pairs) < len(cuts) + 1:
        return None
    out: list[str] = []
    position = blanks = 0
    for number, (start, end) in enumerate([*cuts, (len(core), len(core))]):
        piece = core[position:start]
        if own_pairs:
            open_mark, close_mark = own_pairs[number]
        if piece.strip() or not empty_pairs:
            out.append(marked(piece, open_mark, close_mark))
        elif not _paired_blank(empty_pairs, position, start, len(core)):
            out.append(piece)
        else:  # the k-th blank gets k pairs (one of its own), so :func:`joined` knows which blank landed where
            blanks += 1
            pairs = (open_mark + close_mark) * (1 if own_pairs else blanks)
            out.append(pairs + piece if empty_pairs == "before" else piece + pairs)
        out.append(core[start:end])
        position = end
    at = content.index(core)
    return content[:at] + "".join(out) + content[at + len(core) :]


def pairs_needed(core: str, separators: Sequence[str]) -> int:
    """Pairs ``core`` needs for :func:`marked_pieces`: one for each piece (blanks included) where a piece's text
    is in it more than once, so only a pair of its own tells which it is (:func:`exact_spans`); else one.

    One shared pair is exact where every piece's text is in the content once (:func:`joined` finds its one
    place), and a Qwen3 chat's replies are then marked fifteen to a render, not two.
    """
    position = 0
    cuts = _cuts(core, separators)
    for start, end in [*cuts, (len(core), len(core))]:
        piece = core[position:start].strip()
        if piece and len(_places(core, piece)) > 1:
            return len(cuts) + 1
        position = end
    return 1


def exact_spans(
    text: str, found: Sequence[Sequence[tuple[int, int]]], core: str, separators: Sequence[str], empty_pairs: str = ""
) -> list[tuple[int, int]]:
    """The spans of ``core``'s pieces marked with pairs of their own (``found[i]``: where piece ``i`` landed in
    ``text``), each grown over the separators the template wrote with it as ``core`` goes on from that piece.

    :func:`joined` is given the spans of one shared pair, so it cannot tell which piece a span is: it
    grows each as the content goes on from *any* place holding its text. A reply ``a<|im_end|></think>a``
    of which Qwen3 writes the answer ``a`` before its own ``<|im_end|>``: the ``a`` at the start goes on
    with ``<|im_end|>``, so the template's ``<|im_end|>`` was taken for data (safe, but the prompt was not
    the one the model was trained on). Only whole separators that continue the content from the very
    piece are data here, as there.
    """
    places: list[int] = []
    position = 0
    for start, end in [*_cuts(core, separators), (len(core), len(core))]:
        piece = core[position:start]
        if piece.strip():
            places.append(position + len(piece) - len(piece.lstrip()))  # :func:`marked` keeps blanks outside
        else:
            places.append(position if empty_pairs == "before" else start)  # where its pair is (:func:`_blanks`)
        position = end
    grown_spans = sorted(
        _continued(text, span, separators, [(core, places[number])])
        for number, spans in enumerate(found)
        for span in spans
    )
    result: list[tuple[int, int]] = []
    for start, end in grown_spans:
        if end <= start:
            continue
        if result and start <= result[-1][1]:  # pieces that meet: one piece of data, as one is tokenized
            result[-1] = (result[-1][0], max(end, result[-1][1]))
        else:
            result.append((start, end))
    return result


def _paired_blank(empty_pairs: str, start: int, end: int, size: int) -> bool:
    """Whether :func:`marked_pieces` gives the blank piece ``start:end`` of a core of ``size`` its pairs."""
    if empty_pairs == "ends":
        return start == 0 or end == size
    return end == size if empty_pairs == "last" else True


def _cuts(core: str, separators: Sequence[str]) -> list[tuple[int, int]]:
    """Where ``separators`` lie in ``core``: the leftmost first, the longest of those that start there."""
    cuts: list[tuple[int, int]] = []
    position = 0
    while core:
        found = [(at, -len(sep)) for sep in separators if (at := core.find(sep, position)) != -1]
        if not found:
            break
        at, negative = min(found)
        cuts.append((at, at - negative))
        position = at - negative
    return cuts


def _blanks(core: str, separators: Sequence[str], side: str) -> list[int]:
    """Where in ``core`` :func:`marked_pieces` puts the pairs of each blank piece between :func:`_cuts`: at its
    start (``side`` ``"before"``) or its end."""
    blanks: list[int] = []
    position = 0
    for start, end in [*_cuts(core, separators), (len(core), len(core))]:
        if not core[position:start].strip() and _paired_blank(side, position, start, len(core)):
            blanks.append(position if side == "before" else start)
        position = end
    return blanks


MOST_BLANKS = 64
"""Most blank pieces a content is marked with empty pairs for: the k-th gets k pairs (4,160 marks for 64), so
a reply of a thousand ``</think>`` in a row would have made a million (no real reply has more than a few)."""


def joined(
    text: str, spans: Sequence[tuple[int, int]], cores: Sequence[str], separators: Sequence[str], empty_pairs: str = ""
) -> list[tuple[int, int]]:
    """``spans`` of the pieces of ``cores`` (:func:`marked_pieces`), grown over the separators the template wrote
    with them: each whole separator (and blank) on either side that goes on as a content does there.

    The separators stay outside the marks, so a template that wrote them with a piece (the content whole,
    or a split's last part ``a<|im_start|>``) wrote them as template text, and a ``<|im_start|>`` among them
    was parsed as a control token. Only whole: a piece followed by the template's ``<|im_end|>`` where the
    content goes on with ``</think>`` took the ``<`` and broke the control token. Text the template wrote
    itself that equals a separator of a content there (Qwen3's ``\\n</think>\\n\\n`` between the
    reasoning and answer it echoes) becomes data too: a control token read as text, never text as one.
    """
    result: list[tuple[int, int]] = []
    for start, end in sorted(span for span in spans if span[0] != span[1]):
        if result and start >= result[-1][1] and any(text[result[-1][0] : end] in core for core in cores):
            result[-1] = (result[-1][0], end)
        else:
            result.append((start, end))
    grown = [
        _continued(text, span, separators, [(core, at) for core in cores for at in _places(core, text[slice(*span)])])
        for span in result
    ]
    pairs = Counter(start for start, end in spans if start == end)  # k pairs at one place: the k-th blank
    blanks = [(core, _blanks(core, separators, empty_pairs)) for core in cores] if empty_pairs else []
    for at, k in pairs.items():
        grown.append(_continued(text, (at, at), separators, [(core, b[k - 1]) for core, b in blanks if k <= len(b)]))
    return sorted(span for span in grown if span[1] > span[0])


_MOST_PLACES = 64
"""Places in a content a piece is tried at when it is grown: a short piece can be in a long content often."""


def _places(core: str, piece: str) -> list[int]:
    """Where ``piece`` is in ``core`` (at most :data:`_MOST_PLACES` of them)."""
    places: list[int] = []
    at = core.find(piece)
    while at != -1 and len(places) < _MOST_PLACES:
        places.append(at)
        at = core.find(piece, at + 1)
    return places


def _continued(
    text: str, span: tuple[int, int], separators: Sequence[str], places: Sequence[tuple[str, int]]
) -> tuple[int, int]:
    """``span`` grown on each side over whole separators and blanks that continue it as a content does from one
    of ``places`` (a content, and where in it the span's text begins)."""
    start, end = span
    size = end - start
    reversed_separators = [sep[::-1] for sep in separators]
    left = right = 0
    for core, at in places:
        after, before = core[at + size :], core[:at][::-1]
        right = max(right, _over_separators(text[end : end + len(after)], after, separators))
        left = max(left, _over_separators(text[max(0, start - len(before)) : start][::-1], before, reversed_separators))
    return start - left, end + right


def _over_separators(shown: str, content: str, separators: Sequence[str]) -> int:
    """How much of ``shown`` is the same whole separators (and blanks between them) that ``content`` starts with.

    Blanks alone are left where they are: a blank moved from the template's text to the data beside it
    changes how both are tokenized.
    """
    position = taken = 0
    while position < len(content):
        if content[position].isspace():
            step = 1
        else:
            step = max((len(sep) for sep in separators if content.startswith(sep, position)), default=0)
            if not step:
                break
        if shown[position : position + step] != content[position : position + step]:
            break
        position += step
        if not content[position - 1].isspace():
            taken = position
    return taken


def replaced(content: str, open_mark: str, close_mark: str) -> str | None:
    """``content`` with the first and last characters of its core replaced by the marks: of the same length.

    For a template that prints a content's length (``{{ content|length }}``): marks added to it changed the
    number, the render was not the plain one, and the content was looked up in the render, where a content
    equal to the template's own header (``<|im_start|>user``) was found in the header and its own copy parsed.
    A core of one character is the open mark alone. None where the marks are not single characters.
    """
    core = content.strip()
    if len(open_mark) != 1 or len(close_mark) != 1 or not core:
        return None
    at = content.index(core)
    inside = open_mark if len(core) == 1 else f"{open_mark}{core[1:-1]}{close_mark}"
    return f"{content[:at]}{inside}{content[at + len(core):]}"


def replaced_spans(text: str, plain: str, core: str, open_mark: str, close_mark: str) -> list[tuple[int, int]] | None:
    """Spans of a render made with a :func:`replaced` content: from each open mark through its close mark. None
    unless the marks, given back their characters, make the plain render and all come in pairs."""
    if text.replace(open_mark, core[0]).replace(close_mark, core[-1]) != plain:
        return None
    if len(core) == 1:
        return [(at, at + 1) for at, char in enumerate(text) if char == open_mark] or None
    spans: list[tuple[int, int]] = []
    position = 0
    while (start := text.find(open_mark, position)) != -1:
        end = text.find(close_mark, start + 1)
        if end == -1 or open_mark in text[start + 1 : end]:
            return None
        spans.append((start, end + 1))
        position = end + 1
    return spans if spans and text.count(close_mark) == len(spans) else None

"""Turning chat messages into the exact prompt text a model was trained on.

Both local backends use this one module, so for the same model and messages they
feed the model the same text (and hence the same token ids). The model's own
chat template (GGUF ``tokenizer.chat_template`` / ``tokenizer_config.json``)
wins; models without one fall back to a format chosen by architecture — Gemma
base models need the Gemma turn format, anything else gets ChatML.

Templates from model files are untrusted input: they render in Jinja's
immutable sandbox (:mod:`.chat_sandbox`), with the allocation limits of prompt templates.

Only the template's own markers may become control tokens. Message contents are
data: :meth:`ChatFormat.render_segments` says which characters of the rendered
prompt came from them, and the engines tokenize those as plain text (a user who
types ``<|im_end|>`` gets the characters, not the end of their turn).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ..errors import TemplateError
from ..text_checks import invalid_unicode
from ..types import Message
from .chat_marks import (
    Keep,
    exact_spans,
    grown,
    joined,
    kept,
    looked_up,
    marked,
    marked_pieces,
    marks_for,
    other_marks,
    pairs_needed,
    printable_marks,
    read_marks,
    read_pairs,
    replaced,
    replaced_spans,
)
from .chat_sandbox import MAX_DATE_FORMAT, MAX_TEMPLATE_WORDS, chat_sandbox, template_literals, template_words
from .protocol import refuse_empty_conversation

__all__ = [  # MAX_DATE_FORMAT, MAX_TEMPLATE_WORDS: re-exported, defined in chat_sandbox.py since the split
    "CHATML_TEMPLATE",
    "FALLBACKS",
    "GEMMA_TEMPLATE",
    "MAX_DATE_FORMAT",
    "MAX_TEMPLATE_WORDS",
    "ChatFormat",
    "PromptSegment",
    "choose_chat_format",
    "render_chat_template",
    "render_limit",
    "template_literals",
]

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# Gemma has no system role: the system prompt is prepended to the first user turn,
# as Google's own template does. BOS is added by the tokenizer, not the template.
GEMMA_TEMPLATE = (
    "{% set ns = namespace(system='') %}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{% set ns.system = message['content'] + '\\n\\n' %}"
    "{% else %}"
    "{% set role = 'model' if message['role'] == 'assistant' else 'user' %}"
    "{{ '<start_of_turn>' + role + '\\n' + (ns.system if role == 'user' else '') + message['content'] | trim + '<end_of_turn>\\n' }}"
    "{% if role == 'user' %}{% set ns.system = '' %}{% endif %}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}"
)

FALLBACKS: dict[str, tuple[str, list[str]]] = {
    # architecture prefix -> (template, extra end-of-turn markers)
    "gemma": (GEMMA_TEMPLATE, ["<end_of_turn>"]),
    "chatml": (CHATML_TEMPLATE, ["<|im_end|>"]),
}


@dataclass(frozen=True)
class PromptSegment:
    """A piece of a rendered prompt: template text (may hold control tokens) or data (never does)."""

    text: str
    data: bool


def _batches(
    messages: Sequence[Message], split: Sequence[int], pairs: Sequence[tuple[str, str]], separators: Sequence[str]
) -> list[dict[int, list[tuple[str, str]]]]:
    """The contents ``split`` (each holds a template literal) in renders of ``pairs`` each: a pair for each of a
    content's pieces where its pieces repeat and they all fit one render (:func:`pairs_needed`), else one."""
    batches: list[dict[int, list[tuple[str, str]]]] = []
    batch: dict[int, list[tuple[str, str]]] = {}
    free = 0
    for index in split:
        need = pairs_needed(messages[index].content.strip(), separators)
        need = need if need <= len(pairs) else 1
        if need > len(pairs) - free:
            batches.append(batch)
            batch, free = {}, 0
        batch[index] = list(pairs[free : free + need])
        free += need
    return [*batches, batch] if batch else batches


def _from_spans(text: str, spans: Sequence[tuple[int, int]]) -> list[PromptSegment]:
    """``text`` cut into template text and the data at ``spans`` (sorted; overlapping data is one piece)."""
    segments: list[PromptSegment] = []

    def add(piece: str, data: bool) -> None:
        if not piece:
            return
        if segments and not data and not segments[-1].data:
            segments[-1] = PromptSegment(segments[-1].text + piece, data=False)
        else:
            segments.append(PromptSegment(piece, data))

    position = 0
    for start, end in spans:
        if start < position:  # overlaps the data before it: one piece of data
            if end > position:
                segments[-1] = PromptSegment(segments[-1].text + text[position:end], data=True)
                position = end
            continue
        add(text[position:start], data=False)
        add(text[start:end], data=True)
        position = max(position, end)
    add(text[position:], data=False)
    return segments


MAX_KEPT = 64
"""Most characters kept outside a content's marks at each end: more than the longest prefix real templates
test (``<tool_response>``, 15). Each try is a render of the whole conversation, so the tries are few."""


@dataclass(frozen=True)
class ChatFormat:
    """A chat template plus the special-token strings it may reference."""

    template: str
    bos_token: str = ""
    eos_token: str = ""
    source: str = "model"  # "model" or "fallback:<name>"
    end_markers: tuple[str, ...] = ()

    def render(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> str:
        """Every backend's rendering of messages: an empty list is refused here as in a prompt."""
        refuse_empty_conversation(messages)
        return render_chat_template(
            self.template,
            messages,
            bos_token=self.bos_token,
            eos_token=self.eos_token,
            add_generation_prompt=add_generation_prompt,
        )

    def render_segments(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> list[PromptSegment]:
        """The same text as :meth:`render`, cut into template text and message contents (data).

        The template renders a second time with each content's core between two
        marks that neither the template nor any content holds (:func:`marks_for`);
        where the marks land is where the data is. If the marked render differs
        from the plain one (a template that tests a content's length or first
        characters), or a mark lost its partner (a template that slices or splits a
        content), the messages are marked one at a time (:meth:`_spans_one_by_one`).
        """
        plain = self.render(messages, add_generation_prompt)
        marks = marks_for(messages, self.template)
        segments = self._marked_segments(plain, messages, range(len(messages)), marks, add_generation_prompt)
        if segments is not None:
            return segments
        spans = self._pieces_at_once(plain, messages, marks, add_generation_prompt)
        if spans is None:
            spans = self._spans_one_by_one(plain, messages, marks, add_generation_prompt)
        return _from_spans(plain, spans)

    def _pieces_at_once(
        self, plain: str, messages: Sequence[Message], marks: tuple[str, str], add_generation_prompt: bool
    ) -> list[tuple[int, int]] | None:
        """Data spans of a few renders in which every content that holds a template literal is cut there and
        marked piece by piece (:func:`marked_pieces`), each with a pair of marks of its own, the others
        marked whole; None if one is not the plain render.

        A Qwen3 conversation splits every reply that has reasoning: marked one message at a time, each prompt
        of an 81-message chat took 33 renders (1.3 s, growing with the square of its length); this takes
        one render for every 15 such replies. A pair of its own tells whose data is whose: grown over
        separators as any split content goes on (:func:`joined`), a user's ``<|im_end|>`` took the
        template's own after a reply's blank answer for data.
        """
        separators = template_literals(self.template)
        split = [i for i, m in enumerate(messages) if any(s in m.content.strip() for s in separators)]
        pairs = other_marks(messages, self.template, marks) if split else []
        if not pairs:
            return None
        spans: list[tuple[int, int]] = []
        for number, batch in enumerate(_batches(messages, split, pairs, separators)):
            found = self._pieces_of(plain, messages, marks, batch, separators, add_generation_prompt, first=number == 0)
            if found is None:
                return None
            spans.extend(found)
        return sorted(spans)

    def _pieces_of(
        self,
        plain: str,
        messages: Sequence[Message],
        marks: tuple[str, str],
        batch: dict[int, list[tuple[str, str]]],
        separators: Sequence[str],
        add_generation_prompt: bool,
        *,
        first: bool,
    ) -> list[tuple[int, int]] | None:
        """One render of :meth:`_pieces_at_once`: the contents of ``batch`` cut with their own pairs (a pair
        for each piece where it has as many, :func:`exact_spans`, else one for them all); the contents that
        hold no literal marked whole (their spans kept from the ``first`` render only)."""
        whole = [i for i, m in enumerate(messages) if i not in batch and not any(s in m.content for s in separators)]
        for empty_pairs in ("before", "after", "ends", "last"):
            dicts = []
            for i, m in enumerate(messages):
                content = m.content
                if i in batch:
                    own = batch[i] if len(batch[i]) > 1 else ()
                    content = (
                        marked_pieces(content, *batch[i][0], separators, empty_pairs=empty_pairs, own_pairs=own)
                        or content
                    )
                elif i in whole:
                    content = marked(content, *marks)
                dicts.append(content)
            text = self._render_contents(messages, dicts, add_generation_prompt)
            if text is None:
                return None
            unmarked, found, lost = read_pairs(text, [marks, *(pair for own in batch.values() for pair in own)])
            if unmarked != plain or lost:
                continue
            spans = list(found[0]) if first else []
            position = 1
            for index, own in batch.items():
                pieces, core = found[position : position + len(own)], messages[index].content.strip()
                position += len(own)
                if len(own) > 1:
                    spans += exact_spans(plain, pieces, core, separators, empty_pairs)
                else:
                    spans += joined(plain, pieces[0], [core], separators, empty_pairs)
            return spans
        return None

    def _marked_segments(
        self,
        plain: str,
        messages: Sequence[Message],
        which: Sequence[int],
        marks: tuple[str, str],
        add_generation_prompt: bool,
    ) -> list[PromptSegment] | None:
        """The render with the contents of messages ``which`` marked, split; None if it is not the plain text."""
        spans = self._marked_spans(plain, messages, which, marks, (0, 0), add_generation_prompt)
        return None if spans is None else _from_spans(plain, spans)

    def _marked_spans(
        self,
        plain: str,
        messages: Sequence[Message],
        which: Sequence[int],
        marks: tuple[str, str],
        keep: Keep,
        add_generation_prompt: bool,
        mark: Callable[[str], str | None] | None = None,
    ) -> list[tuple[int, int]] | None:
        """Data spans of the render with the contents of ``which`` marked (:func:`marked`, or ``mark``).

        None if its text, marks taken out, is not ``plain``, or a mark lost its partner.
        """
        mark = mark or (lambda content: marked(content, *marks, keep))
        text = self._render_marked(messages, which, marks, add_generation_prompt, mark)
        if text is None:
            return None
        unmarked, spans, lost = read_marks(text, *marks)
        return spans if unmarked == plain and not lost else None

    def _render_marked(
        self,
        messages: Sequence[Message],
        which: Sequence[int],
        marks: tuple[str, str],
        add_generation_prompt: bool,
        mark: Callable[[str], str | None],
    ) -> str | None:
        """The render with the contents of ``which`` made by ``mark``; None if ``mark`` has no way for one, or the
        template fails on the marked contents (the plain render did not: that marking is no way either, and a
        content of many separators must not make the conversation's every prompt an error)."""
        contents = []
        for i, m in enumerate(messages):
            content = mark(m.content) if i in which else m.content
            if content is None:
                return None
            contents.append(content)
        return self._render_contents(messages, contents, add_generation_prompt)

    def _render_contents(
        self, messages: Sequence[Message], contents: Sequence[str], add_generation_prompt: bool
    ) -> str | None:
        """The render of ``messages`` with ``contents`` (marked) in their place; None if the template fails on them."""
        added = sum(len(content) - len(m.content) for m, content in zip(messages, contents))
        dicts = [{"role": m.role, "content": content} for m, content in zip(messages, contents)]
        try:
            return _render_dicts(
                self.template,
                dicts,
                render_limit(messages) + 2 * added,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
                add_generation_prompt=add_generation_prompt,
            )
        except TemplateError:
            return None

    def _spans_one_by_one(
        self, plain: str, messages: Sequence[Message], marks: tuple[str, str], add_generation_prompt: bool
    ) -> list[tuple[int, int]]:
        """Data spans for a template whose output the marks change (one that tests a content's first characters).

        Each message is marked on its own, so one content the marks perturb
        leaves the others exact. A content whose marks still change the render,
        or are lost, is marked another way (:meth:`_rewritten_spans`): cut at the
        template's separators, with characters kept outside the marks, with
        printable marks, or with marks in place of its end characters. Looking such a
        content up in the render instead found the first text equal to it, which
        could be the template's copy of it (``<|im_start|>command /x…``), and the
        content's own copy further on was parsed for control tokens; a content the
        template sliced was not found at all, and all of it was parsed.

        Only the contents that still cannot be marked are looked up in the plain
        render, and only between the data of the messages around them: a content
        equal to nearby markup (``<|im_end|>`` … ``user``) was once found in the
        markup, and its own markers parsed.
        """
        spans: dict[int, list[tuple[int, int]]] = {}
        for index, message in enumerate(messages):
            core = message.content.strip()
            if not core:
                continue
            found = self._marked_spans(plain, messages, (index,), marks, (0, 0), add_generation_prompt)
            if found is None:  # changed the render, or lost
                found = self._rewritten_spans(plain, messages, index, marks, add_generation_prompt)
            if found:
                spans[index] = found
        for index, message in enumerate(messages):
            core = message.content.strip()
            if index in spans or not core:
                continue
            taken = [span for found in spans.values() for span in found]
            low = max((end for i, found in spans.items() if i < index for _, end in found), default=0)
            high = min((start for i, found in spans.items() if i > index for start, _ in found), default=len(plain))
            span = looked_up(plain, core, low, high, taken)
            if span is not None:
                spans[index] = [span]
        return sorted(span for found in spans.values() for span in found)

    def _rewritten_spans(
        self, plain: str, messages: Sequence[Message], index: int, marks: tuple[str, str], add_generation_prompt: bool
    ) -> list[tuple[int, int]]:
        """Data spans of message ``index``, whose plainly marked content the template changed or split.

        Tried in turn, each a render or a few, for this content only:

        * cut at the template's own string literals (:func:`marked_pieces`): a split (Qwen3's ``</think>``);
        * its first and last characters kept outside the marks (:meth:`_fewest_kept`): a test of its ends;
        * printable marks (:func:`printable_marks`): a template printing its ``repr``;
        * marks in place of its first and last characters (:func:`replaced`): one printing its length.
        """
        core = messages[index].content.strip()
        separators = [s for s in template_literals(self.template) if s in core]
        need = pairs_needed(core, separators) if separators else 1
        own = other_marks(messages, self.template, marks)[:need] if need > 1 else []
        for empty_pairs in ("before", "after", "ends", "last", "") if separators else ():
            if len(own) == need > 1:  # its pieces repeat: a pair for each tells which landed where
                text = self._render_marked(
                    messages, (index,), marks, add_generation_prompt,
                    lambda content, pairs=empty_pairs: marked_pieces(
                        content, *marks, separators, empty_pairs=pairs, own_pairs=own
                    ),
                )  # fmt: skip
                unmarked, pieces, lost = read_pairs(text, own) if text is not None else ("", [], True)
                if unmarked == plain and not lost and any(pieces):
                    return exact_spans(plain, pieces, core, separators, empty_pairs)
            found = self._marked_spans(
                plain, messages, (index,), marks, (0, 0), add_generation_prompt,
                lambda content, pairs=empty_pairs: marked_pieces(content, *marks, separators, empty_pairs=pairs),
            )
            if found:
                return joined(plain, found, [core], separators, empty_pairs)
        keep, found = self._fewest_kept(plain, messages, index, marks, add_generation_prompt)
        if found:
            return grown(plain, found, *kept(core, keep))
        printable = printable_marks(messages, self.template)
        if printable is not None:
            found = self._marked_spans(plain, messages, (index,), printable, (0, 0), add_generation_prompt)
            if found:
                return found
        text = self._render_marked(messages, (index,), marks, add_generation_prompt, lambda c: replaced(c, *marks))
        return (text is not None and replaced_spans(text, plain, core, *marks)) or []

    def _fewest_kept(
        self, plain: str, messages: Sequence[Message], index: int, marks: tuple[str, str], add_generation_prompt: bool
    ) -> tuple[Keep, list[tuple[int, int]]]:
        """The fewest characters of message ``index``'s core kept outside its marks that they survive, and the spans.

        They survive when the marked render is the plain one and holds a pair of
        marks. One kept at both ends is tried, then :data:`MAX_KEPT` (a template's
        test or slice of a prefix or suffix needs that many), then each end is cut
        back to the fewest that still works: a template that slices off exactly
        what it tested (``content[15:-16]`` after ``startswith('<tool_response>')``)
        then leaves none of the kept characters in the render, and one that wrote
        the content whole leaves them all beside the marks (:func:`grown`).
        Two renders more for a content the plain marks fail on (no spans if none
        survive), about fifteen where a long prefix must be kept.
        """
        core = messages[index].content.strip()
        tried: dict[Keep, list[tuple[int, int]] | None] = {}

        def survives(keep: Keep) -> bool:
            if keep not in tried:
                tried[keep] = self._marked_spans(plain, messages, (index,), marks, keep, add_generation_prompt)
            return bool(tried[keep])

        most = min(MAX_KEPT, (len(core) + 1) // 2)
        both = next((n for n in (1, most) if survives((n, n))), None)
        if both is None:  # a template that tests more than the ends (``content|length``): no further renders
            return (0, 0), []

        def fewest(works: Callable[[int], bool]) -> int:
            low, high = -1, both  # works(high); works(low) is not known
            while high - low > 1:
                middle = (low + high) // 2
                low, high = (low, middle) if works(middle) else (middle, high)
            return high

        head = fewest(lambda n: survives((n, both)))
        tail = fewest(lambda n: survives((head, n)))
        return (head, tail), tried[head, tail] or []


def choose_chat_format(
    template: str | None, architecture: str, bos_token: str = "", eos_token: str = ""
) -> ChatFormat:
    """The model's own template if it has one, else the fallback for its architecture."""
    if template:
        return ChatFormat(template, bos_token, eos_token, source="model")
    key = "gemma" if architecture.lower().startswith("gemma") else "chatml"
    fallback, markers = FALLBACKS[key]
    return ChatFormat(fallback, bos_token, eos_token, source=f"fallback:{key}", end_markers=tuple(markers))


_compiled: dict[str, Any] = {}


def render_limit(messages: Sequence[Message]) -> int:
    """How much text a chat template may build for ``messages``: markup around them, not multiples of them.

    A conversation can be longer than a prompt template's cap, so the limit grows
    with the messages (twice their text, for templates that repeat the system
    prompt or wrap each turn), on top of the prompt templates' fixed cap.
    """
    from ..templates.sandbox import MAX_RENDERED_CHARS

    return MAX_RENDERED_CHARS + 2 * sum(len(m.content) + len(m.role) for m in messages)


def render_chat_template(
    template: str,
    messages: Sequence[Message],
    *,
    bos_token: str = "",
    eos_token: str = "",
    add_generation_prompt: bool = True,
) -> str:
    """Render a Hugging Face–style chat template in the sandbox, size-bounded like prompt templates."""
    return _render_dicts(
        template,
        [m.to_dict() for m in messages],
        render_limit(messages),
        bos_token=bos_token,
        eos_token=eos_token,
        add_generation_prompt=add_generation_prompt,
    )


def _render_dicts(
    template: str, messages: list[dict[str, Any]], limit: int, **variables: Any
) -> str:
    import jinja2

    from ..templates.sandbox import MAX_RENDERED_CHARS, RenderLimitError, render_bounded

    if len(template) > MAX_RENDERED_CHARS:
        # Checked before Jinja compiles it: compiling takes ~7 s per million characters, and a GGUF header
        # may hold 64 MB of it (minutes before the first reply). Real chat templates are a few kilobytes;
        # the limit is the prompt template files' own (``read_template_text``).
        raise TemplateError(
            f"model chat template is {len(template):,} characters, past the {MAX_RENDERED_CHARS:,} a template may have"
        )
    try:
        compiled = _compiled.get(template)
        if compiled is None:
            compiled = _compiled[template] = chat_sandbox().from_string(template)
        text = render_bounded(compiled, {"messages": messages, **variables}, limit, allocation_limit=limit)
    except RenderLimitError as exc:
        raise TemplateError(f"model chat template refused by the template sandbox: {exc}") from None
    except TemplateError:
        raise  # raise_exception(): the template's own words
    except jinja2.TemplateError as exc:
        raise TemplateError(f"model chat template failed: {template_words(exc)}") from exc
    except RecursionError:
        raise TemplateError("model chat template failed: it nests or recurses too deeply") from None
    except Exception as exc:
        # A template from a model file is untrusted: `{{ 1/0 }}`, `{{ 1 + 'a' }}` or a
        # `|sort` of mixed types is its bug, one line, not a traceback in our code.
        message = template_words(exc)  # not str.split(): it turned VT, FS… into spaces, silently
        raise TemplateError(f"model chat template failed: {type(exc).__name__}: {message}") from exc
    problem = invalid_unicode(text)
    if problem:  # `{{ '\\ud800' }}`: no tokenizer can encode it
        raise TemplateError(f"the prompt the model chat template rendered is not valid Unicode ({problem})")
    return text

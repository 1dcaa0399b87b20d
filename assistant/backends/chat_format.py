"""Turning chat messages into the exact prompt text a model was trained on.

Both local backends use this one module, so for the same model and messages they
feed the model the same text (and hence the same token ids). The model's own
chat template (GGUF ``tokenizer.chat_template`` / ``tokenizer_config.json``)
wins; models without one fall back to a format chosen by architecture — Gemma
base models need the Gemma turn format, anything else gets ChatML.

Templates from model files are untrusted input: they render in Jinja's
immutable sandbox, with the allocation limits of prompt templates.

Only the template's own markers may become control tokens. Message contents are
data: :meth:`ChatFormat.render_segments` says which characters of the rendered
prompt came from them, and the engines tokenize those as plain text (a user who
types ``<|im_end|>`` gets the characters, not the end of their turn).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date
from typing import Any, Callable, Sequence

from ..errors import TemplateError
from ..terminal_text import one_line
from ..text_checks import invalid_unicode
from ..types import Message

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


_MARKS = [chr(c) for c in range(0xFDD0, 0xFDF0)]
"""Unicode noncharacters (never text): two that no content holds mark where each content starts and ends."""

_RANDOM_MARK_LENGTH = 16
"""Noncharacters in a random mark: 32**16 = 2**80 sequences, so no content can hold one by design."""


def _marks(messages: Sequence[Message], template: str) -> tuple[str, str]:
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


Keep = tuple[int, int]
"""Characters of a content's core left outside its marks: (at the start, at the end)."""


def _marked(content: str, open_mark: str, close_mark: str, keep: Keep = (0, 0)) -> str:
    """``content`` with its stripped core between the marks: a template that trims content trims the same.

    ``keep``: characters of the core left outside the marks at its start and end
    (:func:`_kept`), so a template testing the content's first or last characters
    (``startswith('/')``, ``content[-1]``) sees the same ones.
    """
    core = content.strip()
    if not core:
        return content  # whitespace only: nothing a tokenizer could read as a control token
    start = content.index(core)
    head, tail = _kept(core, keep)
    inside = core[len(head) : len(core) - len(tail)]
    return f"{content[:start]}{head}{open_mark}{inside}{close_mark}{tail}{content[start + len(core):]}"


def _kept(core: str, keep: Keep) -> tuple[str, str]:
    """The characters of ``core`` that ``keep`` leaves outside the marks (never overlapping)."""
    head = core[: keep[0]]
    rest = core[len(head) :]
    return head, rest[len(rest) - min(keep[1], len(rest)) :]


def _marked_spans(text: str, open_mark: str, close_mark: str) -> tuple[str, list[tuple[int, int]]]:
    """A render made with marked contents, without its marks, and where each open…close pair's data lies in it.

    A mark without its partner belongs to a content the template rewrote (sliced
    off its end, or split it): that mark is dropped and that content stays
    template text, but every other content is still found exactly where the
    marks put it. A pair with nothing between (a content kept whole outside its
    marks) is an empty span. The caller checks that the text is the plain render.
    """
    pieces: list[str] = []
    spans: list[tuple[int, int]] = []
    length = 0

    def add(piece: str) -> None:
        nonlocal length
        pieces.append(piece)
        length += len(piece)

    def template_text(piece: str) -> None:
        add(piece.replace(open_mark, "").replace(close_mark, ""))

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
    return "".join(pieces), spans


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


def _grown(text: str, spans: Sequence[tuple[int, int]], head: str, tail: str) -> list[tuple[int, int]]:
    """``spans`` with a content's kept characters (:func:`_kept`) where they lie, whole, right beside its marks.

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


def _looked_up(text: str, core: str, low: int, high: int, taken: Sequence[tuple[int, int]]) -> tuple[int, int] | None:
    """The first place in ``text[low:high]`` that holds ``core`` and no data already placed."""
    at = text.find(core, low, high)
    while at != -1:
        end = at + len(core)
        if not any(start < end and at < stop for start, stop in taken):
            return at, end
        at = text.find(core, at + 1, high)
    return None


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
        marks that neither the template nor any content holds (:func:`_marks`);
        where the marks land is where the data is. A content the template
        rewrites beyond trimming (slicing, splitting) loses a mark and stays
        template text; the others are still data. If the marked render differs
        from the plain one (a template that tests a content's length or first
        characters), the messages are marked one at a time
        (:meth:`_spans_one_by_one`).
        """
        plain = self.render(messages, add_generation_prompt)
        marks = _marks(messages, self.template)
        segments = self._marked_segments(plain, messages, range(len(messages)), marks, add_generation_prompt)
        if segments is not None:
            return segments
        return _from_spans(plain, self._spans_one_by_one(plain, messages, marks, add_generation_prompt))

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
    ) -> list[tuple[int, int]] | None:
        """Data spans of the render with the contents of ``which`` marked (:func:`_marked`).

        None if its text, marks taken out, is not ``plain``.
        """
        marked = [
            {"role": m.role, "content": _marked(m.content, *marks, keep) if i in which else m.content}
            for i, m in enumerate(messages)
        ]
        text = _render_dicts(
            self.template,
            marked,
            render_limit(messages) + sum(map(len, marks)) * len(which),
            bos_token=self.bos_token,
            eos_token=self.eos_token,
            add_generation_prompt=add_generation_prompt,
        )
        unmarked, spans = _marked_spans(text, *marks)
        return spans if unmarked == plain else None

    def _spans_one_by_one(
        self, plain: str, messages: Sequence[Message], marks: tuple[str, str], add_generation_prompt: bool
    ) -> list[tuple[int, int]]:
        """Data spans for a template whose output the marks change (one that tests a content's first characters).

        Each message is marked on its own, so one content the marks perturb
        leaves the others exact. A content whose marks still change the render,
        or are lost (``content[1:]`` cuts the open mark off), is marked again
        with its first or last characters outside the marks, as few as the
        template needs (:meth:`_fewest_kept`): a test of ``content[0]`` or
        ``startswith('<tool_response>')`` then sees what it saw, and the kept
        characters are data where the template wrote them beside the marks.
        Looking such a content up in the render instead found the first text
        equal to it, which could be the template's copy of it (``<|im_start|>command
        /x…``), and the content's own copy further on was parsed for control tokens;
        a content the template sliced was not found at all, and all of it was parsed.

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
            if not found:  # changed the render, or lost
                keep, found = self._fewest_kept(plain, messages, index, marks, add_generation_prompt)
                found = _grown(plain, found, *_kept(core, keep))
            if found:
                spans[index] = found
        for index, message in enumerate(messages):
            core = message.content.strip()
            if index in spans or not core:
                continue
            taken = [span for found in spans.values() for span in found]
            low = max((end for i, found in spans.items() if i < index for _, end in found), default=0)
            high = min((start for i, found in spans.items() if i > index for start, _ in found), default=len(plain))
            span = _looked_up(plain, core, low, high, taken)
            if span is not None:
                spans[index] = [span]
        return sorted(span for found in spans.values() for span in found)

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
        the content whole leaves them all beside the marks (:func:`_grown`).
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


MAX_TEMPLATE_WORDS = 300
"""Most terminal cells of a template's own words (``raise_exception``'s message, a Jinja error quoting a
name it built) an error keeps: a GGUF template's ``raise_exception('ab' * 400000)`` was an 800 KB
"one-line" error, printed whole and stored as the failed turn's error in the history."""


def _template_words(text: object) -> str:
    """What a template said, on one line and at most :data:`MAX_TEMPLATE_WORDS` cells, "…" where it was cut.

    Cut by characters first (no cell count over a megabyte), so a cut can hide in a run of spaces that
    one line makes one: the "…" is added then too.
    """
    said = str(text)
    kept = said[: MAX_TEMPLATE_WORDS * 2]
    shown = one_line(kept, width=MAX_TEMPLATE_WORDS)
    return shown if len(kept) == len(said) or shown.endswith("…") else shown + "…"


def _raise_exception(message: str) -> None:
    raise TemplateError(f"chat template refused the messages: {_template_words(message)}")


_environment: Any = None


def _generation_tags() -> Any:
    """A Jinja extension reading ``{% generation %}…{% endgeneration %}`` as its body, as is.

    Fine-tuned models' templates mark the assistant's part this way for training
    (transformers' ``return_assistant_tokens_mask``); transformers and
    llama-cpp-python both accept the tags, and render the body unchanged. Without
    them, such a model's chat failed with "Encountered unknown tag 'generation'".
    """
    from jinja2.ext import Extension

    class GenerationTags(Extension):
        tags = {"generation"}

        def parse(self, parser: Any) -> Any:
            next(parser.stream)  # the tag's name
            return parser.parse_statements(("name:endgeneration",), drop_needle=True)

    return GenerationTags


MAX_DATE_FORMAT = 100
"""Most characters of a format ``strftime_now`` takes. Real templates pass a few (``"%d %b %Y"``). The
sandbox bounds the format, not what strftime makes of it (``%c`` makes 24 characters of two), nor the
work: a loop over ``strftime_now('%c' * 500000)`` ran for over five minutes."""


def _strftime_now(fmt: str) -> str:
    """Today's date in ``fmt``, the ``strftime_now`` of transformers' chat templates (Llama 3.x calls it).

    Each ``%`` directive is charged as a step of the render's budget, as the sandbox charges its own
    work: one call with 50 of them costs what 50 loop iterations do (measured: about as long).
    """
    if isinstance(fmt, str):
        if len(fmt) > MAX_DATE_FORMAT:
            raise TemplateError(
                f"model chat template failed: strftime_now takes a date format of at most {MAX_DATE_FORMAT} "
                f"characters, not {len(fmt):,}"
            )
        sandbox = _sandbox()
        for _ in range(fmt.count("%")):
            sandbox.step()
    return date.today().strftime(fmt)


def _sandbox() -> Any:
    global _environment
    if _environment is None:
        from ..templates.sandbox import bounded_environment

        # Same whitespace settings as transformers' apply_chat_template (trim_blocks,
        # lstrip_blocks, loopcontrols), with the allocation limits of prompt templates.
        env = bounded_environment()
        env.add_extension(_generation_tags())
        env.globals["raise_exception"] = _raise_exception
        env.globals["strftime_now"] = _strftime_now
        _environment = env
    return _environment


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
            compiled = _compiled[template] = _sandbox().from_string(template)
        text = render_bounded(compiled, {"messages": messages, **variables}, limit, allocation_limit=limit)
    except RenderLimitError as exc:
        raise TemplateError(f"model chat template refused by the template sandbox: {exc}") from None
    except TemplateError:
        raise  # raise_exception(): the template's own words
    except jinja2.TemplateError as exc:
        raise TemplateError(f"model chat template failed: {_template_words(exc)}") from exc
    except RecursionError:
        raise TemplateError("model chat template failed: it nests or recurses too deeply") from None
    except Exception as exc:
        # A template from a model file is untrusted: `{{ 1/0 }}`, `{{ 1 + 'a' }}` or a
        # `|sort` of mixed types is its bug, one line, not a traceback in our code.
        message = _template_words(exc)  # not str.split(): it turned VT, FS… into spaces, silently
        raise TemplateError(f"model chat template failed: {type(exc).__name__}: {message}") from exc
    problem = invalid_unicode(text)
    if problem:  # `{{ '\\ud800' }}`: no tokenizer can encode it
        raise TemplateError(f"the prompt the model chat template rendered is not valid Unicode ({problem})")
    return text

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

from dataclasses import dataclass
from datetime import date
from typing import Any, Sequence

from ..errors import TemplateError
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


def _marks(messages: Sequence[Message], template: str) -> tuple[str, str] | None:
    free = [m for m in _MARKS if m not in template and not any(m in message.content for message in messages)]
    return (free[0], free[1]) if len(free) >= 2 else None


def _marked(content: str, open_mark: str, close_mark: str) -> str:
    """``content`` with its stripped core between the marks: a template that trims content trims the same."""
    core = content.strip()
    if not core:
        return content  # whitespace only: nothing a tokenizer could read as a control token
    start = content.index(core)
    return f"{content[:start]}{open_mark}{core}{close_mark}{content[start + len(core):]}"


def _split_marked(text: str, open_mark: str, close_mark: str) -> list[PromptSegment] | None:
    """Segments of a render made with marked contents; None if the marks are not well nested."""
    segments: list[PromptSegment] = []
    position = 0
    while position < len(text):
        start = text.find(open_mark, position)
        end = text.find(close_mark, position)
        if start == -1:
            if end != -1:
                return None
            segments.append(PromptSegment(text[position:], data=False))
            break
        if end < start or open_mark in text[start + 1 : end]:
            return None
        segments.append(PromptSegment(text[position:start], data=False))
        segments.append(PromptSegment(text[start + 1 : end], data=True))
        position = end + 1
    return [s for s in segments if s.text]


def _located(text: str, messages: Sequence[Message]) -> list[PromptSegment]:
    """Fallback for templates that rewrite contents: each content found in order in the render is data.

    A content the template rewrote is not found, and stays template text: such
    templates (rare; slicing or splitting contents) are not protected fully.
    """
    segments: list[PromptSegment] = []
    position = 0
    for message in messages:
        core = message.content.strip()
        at = text.find(core, position) if core else -1
        if at == -1:
            continue
        segments += [PromptSegment(text[position:at], data=False), PromptSegment(core, data=True)]
        position = at + len(core)
    segments.append(PromptSegment(text[position:], data=False))
    return [s for s in segments if s.text]


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
        noncharacter marks (two that neither the template nor any content holds);
        where the marks land is where the data is. A template
        that rewrites contents beyond trimming them (slicing, replacing) moves or
        drops the marks: then each content is looked up in the plain render instead.
        """
        plain = self.render(messages, add_generation_prompt)
        marks = _marks(messages, self.template)
        if marks is not None:
            marked = [{"role": m.role, "content": _marked(m.content, *marks)} for m in messages]
            text = _render_dicts(
                self.template,
                marked,
                render_limit(messages) + 2 * len(messages),
                bos_token=self.bos_token,
                eos_token=self.eos_token,
                add_generation_prompt=add_generation_prompt,
            )
            segments = _split_marked(text, *marks)
            if segments is not None and "".join(s.text for s in segments) == plain:
                return segments
        return _located(plain, messages)


def choose_chat_format(
    template: str | None, architecture: str, bos_token: str = "", eos_token: str = ""
) -> ChatFormat:
    """The model's own template if it has one, else the fallback for its architecture."""
    if template:
        return ChatFormat(template, bos_token, eos_token, source="model")
    key = "gemma" if architecture.lower().startswith("gemma") else "chatml"
    fallback, markers = FALLBACKS[key]
    return ChatFormat(fallback, bos_token, eos_token, source=f"fallback:{key}", end_markers=tuple(markers))


def _raise_exception(message: str) -> None:
    raise TemplateError(f"chat template refused the messages: {message}")


_environment: Any = None


def _sandbox() -> Any:
    global _environment
    if _environment is None:
        from ..templates.sandbox import bounded_environment

        # Same whitespace settings as transformers' apply_chat_template (trim_blocks,
        # lstrip_blocks, loopcontrols), with the allocation limits of prompt templates.
        env = bounded_environment()
        env.globals["raise_exception"] = _raise_exception
        env.globals["strftime_now"] = lambda fmt: date.today().strftime(fmt)
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

    from ..templates.sandbox import RenderLimitError, render_bounded

    try:
        compiled = _compiled.get(template)
        if compiled is None:
            compiled = _compiled[template] = _sandbox().from_string(template)
        return render_bounded(compiled, {"messages": messages, **variables}, limit, allocation_limit=limit)
    except RenderLimitError as exc:
        raise TemplateError(f"model chat template refused by the template sandbox: {exc}") from None
    except jinja2.TemplateError as exc:
        raise TemplateError(f"model chat template failed: {exc}") from exc

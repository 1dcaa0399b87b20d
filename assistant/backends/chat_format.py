"""Turning chat messages into the exact prompt text a model was trained on.

Both local backends use this one module, so for the same model and messages they
feed the model the same text (and hence the same token ids). The model's own
chat template (GGUF ``tokenizer.chat_template`` / ``tokenizer_config.json``)
wins; models without one fall back to a format chosen by architecture — Gemma
base models need the Gemma turn format, anything else gets ChatML.

Templates from model files are untrusted input: they render in Jinja's
immutable sandbox.
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
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        # Same settings as transformers' apply_chat_template, so both agree on whitespace.
        env = ImmutableSandboxedEnvironment(
            trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
        )
        env.globals["raise_exception"] = _raise_exception
        env.globals["strftime_now"] = lambda fmt: date.today().strftime(fmt)
        _environment = env
    return _environment


_compiled: dict[str, Any] = {}


def render_chat_template(
    template: str,
    messages: Sequence[Message],
    *,
    bos_token: str = "",
    eos_token: str = "",
    add_generation_prompt: bool = True,
) -> str:
    """Render a Hugging Face–style chat template in the sandbox."""
    import jinja2

    try:
        compiled = _compiled.get(template)
        if compiled is None:
            compiled = _compiled[template] = _sandbox().from_string(template)
        return str(
            compiled.render(
                messages=[m.to_dict() for m in messages],
                add_generation_prompt=add_generation_prompt,
                bos_token=bos_token,
                eos_token=eos_token,
            )
        )
    except jinja2.TemplateError as exc:
        raise TemplateError(f"model chat template failed: {exc}") from exc

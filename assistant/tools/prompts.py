"""How tools render their prompts: template files, through the templates API.

Each first-party tool names its templates (``Tool.templates``); the wording lives
in ``prompts/*.jinja``, where a user can override it with a template of the same
name in their templates directory and a plugin can ship its own with
``register_template_dirs``. The templates package (Jinja, YAML) is imported only
when a prompt is rendered, so loading the tool plugins stays cheap.

Scoring prompts (sentiment, NER) are *completion* prompts: a few-shot text that
the model continues with a label, fed raw (no chat template), because SmolLM2
classifies far better that way (100 % vs 50 % sentiment accuracy on the dev set
with the examples as chat turns). :func:`completion_text` turns rendered
messages into that text the way the templates' ``scoring: text`` does.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ..errors import TemplateError
from ..types import Message


def render(name: str, variables: Mapping[str, Any]) -> list[Message]:
    """The messages of template ``name`` filled with ``variables``."""
    from ..templates import render_template

    return render_template(name, dict(variables))


def completion_text(messages: Sequence[Message]) -> str:
    """The plain text of a completion-style prompt: message contents joined by blank lines."""
    if any(m.role == "assistant" for m in messages):
        raise TemplateError("a completion prompt cannot contain assistant turns (lay examples out inline)")
    return "\n\n".join(m.content for m in messages)

"""Prompt templates: Jinja bodies under a YAML front matter, rendered to chat messages.

The public API (also re-exported from :mod:`assistant`)::

    from assistant.templates import load_template, render_template, run_template

    messages = render_template("few-shot", {"task": "Classify the sentiment."}, input="Great film!")
    result = run_template("few-shot-sentiment", input="Great film!")   # loads the default model
    inline = template_from_string("---\nsystem: Be brief.\n---\n{{ input }}")

See ``docs/templates.md`` for the file format and the strategies.
"""

from __future__ import annotations

from .listing import TemplateListing, list_templates
from .loader import load_template, template_from_string
from .render import prompt_hash, render_template
from .run import TemplateResult, run_template
from .search import TemplateDir, template_dirs, user_templates_dir
from .spec import OutputSpec, PromptTemplate, Variable
from .strategies import extract_answer

__all__ = [
    "OutputSpec",
    "PromptTemplate",
    "TemplateDir",
    "TemplateListing",
    "TemplateResult",
    "Variable",
    "extract_answer",
    "list_templates",
    "load_template",
    "prompt_hash",
    "render_template",
    "run_template",
    "template_dirs",
    "template_from_string",
    "user_templates_dir",
]

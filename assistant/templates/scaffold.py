"""Writing templates into the user's directory: ``templates new`` starters and imports."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import TemplateError
from ..files import write_replacing
from .search import SUFFIX, not_a_directory, template_dirs, template_name, user_templates_dir

_COMMON_HEAD = """---
description: {description}
strategy: {strategy}
variables:
  - name: input
    description: The text to work on.
"""

STARTERS: dict[str, str] = {
    "chat": """---
description: A chat persona.
strategy: chat
variables:
  - name: input
    description: The user's message (empty gives only the system prompt).
    default: ""
system: You are a helpful assistant.
tests:
  - input: What is the capital of France?
    expect:
      contains: Paris
---
{{ input }}
""",
    "zero-shot": _COMMON_HEAD.format(description="Describe what this template does.", strategy="zero-shot")
    + """system: You are a helpful assistant.
params:
  temperature: 0.2
tests:
  - input: What is the capital of France?
    expect:
      contains: Paris
---
Answer the question.

{{ input }}
""",
    "few-shot": _COMMON_HEAD.format(description="Classify text by following the examples.", strategy="few-shot")
    + """system: Classify the sentiment of each review as positive or negative.
examples_as: inline       # all examples in one user message (label scoring reads them as text)
examples:
  - input: I loved every minute of it.
    output: positive
  - input: A dull, tedious mess.
    output: negative
output:
  type: choice           # the label is picked by scoring each one (log-likelihood)
  labels: [positive, negative]
tests:
  - input: What a wonderful, moving story.
    expect:
      equals: positive
---
Review: {{ input }}
Sentiment:
""",
    "chain-of-thought": _COMMON_HEAD.format(description="Reason step by step, then answer.", strategy="chain-of-thought")
    + """system: >-
  Reason step by step. End with a last line of the form "Answer: <answer>".
# Worked examples show a small model the format; without them a 135M model
# rarely writes the "Answer:" line the answer is read from.
examples:
  - input: Sara has 4 pencils and gets 3 more. How many pencils does she have?
    output: |-
      Sara starts with 4 pencils.
      She gets 3 more, so 4 + 3 = 7.
      Answer: 7
  - input: A box holds 10 eggs. 2 eggs break. How many eggs are left?
    output: |-
      The box starts with 10 eggs.
      2 eggs break, so 10 - 2 = 8.
      Answer: 8
output:
  type: text
  answer_prefix: "Answer:"
params:
  temperature: 0
  max_tokens: 384
tests:
  - input: Tom has 3 apples and buys 2 more. How many apples does he have?
    expect:
      regex: '\\b5\\b'
---
{{ input }}
""",
}


def write_user_template(name: str, text: str, *, force: bool = False) -> Path:
    """Write ``NAME.jinja`` into the user templates directory; never overwrite unless ``force``.

    ``name`` may end in ``.jinja`` (``templates new x.jinja`` writes ``x.jinja``).
    """
    name = template_name(name)
    directory = user_templates_dir()
    path = directory / f"{name}{SUFFIX}"
    if os.path.lexists(path) and not force:  # a dangling link is something there too
        raise TemplateError(f"{path} already exists (pass --force to overwrite it)")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # mkdir's own words, "…/templates: File exists", named no problem
        raise not_a_directory(directory) from None
    except OSError as exc:
        raise TemplateError(f"cannot create the templates directory {directory}: {exc.strerror or exc}") from None
    # Written beside it and renamed over it: the name is replaced, never followed, so
    # a NAME.jinja that is a link (a cloned template pack) cannot make this write
    # land on the file it points to, and a failed write leaves the old file whole.
    try:
        write_replacing(path, text, through_link=False)
    except OSError as exc:
        raise TemplateError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def write_new_template(name: str, strategy: str, *, force: bool = False) -> Path:
    """A starter template for ``strategy`` that loads, renders and has a test case."""
    if strategy not in STARTERS:
        raise TemplateError(f"unknown strategy {strategy!r}")
    return write_user_template(name, STARTERS[strategy], force=force)


def override_note(name: str) -> str | None:
    """What the user template ``name`` now hides (a plugin's or built-in template of its name), or None.

    The first match wins, so ``templates new translate`` silently became what the
    translate tool renders, and a starter without the tool's variables made the
    tool fail (``unknown variable(s) language``) with nothing to connect the two.
    """
    hidden = next((d for d in template_dirs() if d.source != "user" and (d.path / f"{name}{SUFFIX}").exists()), None)
    if hidden is None:
        return None
    try:
        from ..tools.registry import available_tools

        tools = sorted(tool.name for tool in available_tools().values() if name in tool.templates)
    except Exception:  # noqa: BLE001 -- a broken tool plugin must not fail a file already written
        tools = []
    users = ""
    if tools:
        users = f", which the {', '.join(tools)} tool{'s' if len(tools) > 1 else ''} render{'' if len(tools) > 1 else 's'}"
    return f"{name}{SUFFIX} overrides the {hidden.source} template {name!r}{users}; delete it or choose another name to undo that"

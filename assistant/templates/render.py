"""Rendering a template into chat messages, according to its strategy.

The result is a list of :class:`~assistant.types.Message`, never one string, so
every backend applies its model's own chat template on top (ChatML for SmolLM2,
Gemma turns for Gemma, the server's for a remote model).

What each strategy produces::

    chat / zero-shot   [system] user(body)
    few-shot           [system] user(body ← example 1) assistant(output 1) … user(body)   examples_as: turns
                       [system] user(example 1 … example n, body)                        examples_as: inline
    chain-of-thought   [system] (examples as above) user(body + answer-line instruction if absent)

Variables are checked before anything renders: unknown names and every missing
required variable are reported together in one error.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Mapping, Sequence

from ..errors import TemplateError
from ..types import Message
from .diagnostics import translate_error
from .sandbox import MAX_RENDERED_CHARS, OutputLimitError, render_bounded, step_budget, value_size
from .spec import PromptTemplate

COT_INSTRUCTION = (
    "Think step by step and write out your reasoning. "
    "Then give the final answer on its own last line, starting with '{prefix}'."
)


INPUT_HINT = "pass input=TEXT"
"""How the ``input`` variable is given to :func:`render_template` itself; commands pass their own."""
VARIABLES_HINT = "pass them with -v NAME=VALUE"


def resolve_variables(
    template: PromptTemplate,
    variables: Mapping[str, Any] | None = None,
    input: str | None = None,
    *,
    input_hint: str = INPUT_HINT,
    variables_hint: str = VARIABLES_HINT,
) -> dict[str, Any]:
    """Declared defaults overlaid with the given values; all problems reported at once.

    ``input_hint`` says how the caller's user gives the input text (``--input``
    for ``templates render``, TEXT or stdin for ``prompt -t``), and
    ``variables_hint`` the other variables (``-v``, a batch row's fields, a test
    case's ``vars``): only the caller knows, and a hint naming another command's
    way sends the user astray.
    """
    given = dict(variables or {})
    # A variable read only in an included or parent template is not inferred from the body:
    # "it takes no input" would send the user to the command line, not to the template.
    declare = (
        "; a variable read only through an include or a parent template must be declared under 'variables'"
        if template.compiled is not None and template.compiled.reads_other_templates
        else ""
    )
    if input is not None:
        if template.variable("input") is None:
            raise TemplateError(
                f"template {template.name!r} has no 'input' variable, so it takes no input text{declare}"
            )
        if given.get("input") is not None:
            raise TemplateError("the 'input' variable was given twice (as a variable and as input text)")
        given["input"] = input
    problems: list[str] = []
    unknown = sorted(name for name in given if template.variable(name) is None)
    if unknown:
        takes = ", ".join(template.variable_names) or "no variables"
        problems.append(f"unknown variable(s) {', '.join(unknown)} (it takes: {takes}){declare}")
    missing = [v.name for v in template.variables if v.required and given.get(v.name) is None]
    if missing:
        if missing == ["input"]:
            hint = input_hint
        elif "input" in missing:
            hint = f"input: {input_hint}; the others: {variables_hint}"
        else:
            hint = variables_hint
        problems.append(f"missing required variable(s) {', '.join(missing)} ({hint})")
    if problems:
        raise TemplateError(f"template {template.name!r}: " + "; ".join(problems))
    values = {v.name: v.default for v in template.variables if not v.required}
    # None (JSON null, YAML ~) means "not given", as it does for a required variable
    # above and as an empty CSV cell does: the default applies, never the text "None".
    values.update({name: value for name, value in given.items() if value is not None})
    return values


class _Budget:
    """Characters left before the whole rendered prompt passes the size cap."""

    def __init__(self, limit: int) -> None:
        self.left = limit
        self.limit = limit

    def render(self, compiled: Any, context: dict[str, Any], where: str) -> str:
        try:
            text = render_bounded(compiled, context, self.left)
        except OutputLimitError:
            raise TemplateError(f"{where}: rendered prompt exceeds {self.limit:,} characters") from None
        except Exception as exc:
            raise translate_error(exc, where) from None
        self.left -= len(text)
        return text.strip()

    def take(self, text: str, where: str) -> str:
        self.left -= len(text)
        if self.left < 0:
            raise TemplateError(f"{where}: rendered prompt exceeds {self.limit:,} characters")
        return text

    def take_value(self, value: Any, where: str) -> str:
        """``value`` as text, measured before ``str()`` builds it.

        An example's ``output`` comes from YAML, where aliases make a nested list
        of a billion references out of a few lines; ``str()`` of it would exhaust
        memory before :meth:`take` could count it.
        """
        if value_size(value, self.left) > self.left:
            raise TemplateError(f"{where}: rendered prompt exceeds {self.limit:,} characters")
        return self.take(str(value).strip(), where)


def render_template(
    template: PromptTemplate | str | os.PathLike[str],
    variables: Mapping[str, Any] | None = None,
    *,
    input: str | None = None,
    examples_as: str | None = None,
    max_chars: int = MAX_RENDERED_CHARS,
    input_hint: str = INPUT_HINT,
    system: str | None = None,
    variables_hint: str = VARIABLES_HINT,
) -> list[Message]:
    """Render a template (object, name or path) into the chat messages to send.

    ``input`` fills the ``input`` variable (what ``assistant prompt`` reads from
    TEXT or stdin). ``examples_as`` (``"turns"`` or ``"inline"``) overrides the
    template's choice of how few-shot examples are laid out. ``input_hint`` is
    how the caller's user gives the input, and ``variables_hint`` the other
    variables, for the error when one is missing. ``system`` replaces the
    template's system prompt (``-s``; ``""`` drops it). It is applied here, not
    to the rendered messages, because what the system prompt says decides
    whether a chain-of-thought template appends its answer-line instruction: a
    replacement that does not ask for the answer line must get the instruction.
    """
    if not isinstance(template, PromptTemplate):
        from .loader import load_template

        template = load_template(template)
    if template.compiled is None:
        raise TemplateError("build templates with load_template() or template_from_string(), not by hand")
    mode = examples_as or template.examples_as
    if mode not in ("turns", "inline"):
        raise TemplateError(f"examples_as must be 'turns' or 'inline', not {mode!r}")
    values = resolve_variables(
        template, variables, input, input_hint=input_hint, variables_hint=variables_hint
    )
    with step_budget():  # one for the system prompt, every example and the query together
        return _render_messages(template, values, mode, system, max_chars)


def _render_messages(
    template: PromptTemplate, values: dict[str, Any], mode: str, system: str | None, max_chars: int
) -> list[Message]:
    """The messages of :func:`render_template`, once its variables are resolved."""
    compiled = template.compiled
    budget = _Budget(max_chars)
    where = str(template.path)
    messages: list[Message] = []
    context = {**values, "examples": template.examples}

    if system is not None:
        if system:
            messages.append(Message("system", budget.take(system, f"{where} (system)")))
    elif compiled.system is not None:
        rendered = budget.render(compiled.system, context, f"{where} (system)")
        if rendered:
            messages.append(Message("system", rendered))

    example_turns, example_block = _render_examples(template, values, mode, budget)
    messages.extend(example_turns)

    user = budget.render(compiled.body, context, where)
    if example_block:
        user = f"{example_block}\n\n{user}" if user else example_block
    prefix = template.answer_prefix
    if template.strategy == "chain-of-thought" and prefix:
        said = " ".join(m.content for m in messages if m.role == "system") + user
        if prefix.lower() not in said.lower():
            instruction = budget.take(COT_INSTRUCTION.format(prefix=prefix), where)
            user = f"{user}\n\n{instruction}" if user else instruction
    if user:
        messages.append(Message("user", user))
    if not messages:
        raise TemplateError(f"template {template.name!r} rendered nothing")
    return messages


def _render_examples(
    template: PromptTemplate, values: dict[str, Any], mode: str, budget: _Budget
) -> tuple[list[Message], str]:
    """Example turns (``turns``) or one text block (``inline``); an example's unset
    variables take this call's values, so examples and query read alike."""
    if not template.examples:
        return [], ""
    compiled = template.compiled
    if mode == "inline" and compiled.body_uses_examples:
        return [], ""  # the body lays the examples out itself
    turns: list[Message] = []
    blocks: list[str] = []
    for index, example in enumerate(template.examples, 1):
        where = f"{template.path} (example #{index})"
        example_values = {**values, **{k: v for k, v in example.items() if k != "output"}}
        context = {**example_values, "examples": template.examples}
        prompt = budget.render(compiled.body, context, where)
        output = budget.take_value(example["output"], where)
        if mode == "turns":
            turns += [Message("user", prompt), Message("assistant", output)]
        else:
            blocks.append(budget.render(compiled.example, {**context, "prompt": prompt, "output": output}, where))
    return turns, "\n\n".join(blocks)


def prompt_hash(messages: Sequence[Message]) -> str:
    """A stable id of exactly what was sent (batch results, resume, caching)."""
    canonical = json.dumps([m.to_dict() for m in messages], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

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
import math
import os
import re
from typing import Any, Mapping, Sequence, get_args

from ..errors import TemplateError
from ..option_values import float_from_text, int_from_text
from ..text_checks import invalid_unicode, invalid_unicode_in
from ..types import Message, Role
from .diagnostics import translate_error
from .sandbox import MAX_RENDERED_CHARS, OutputLimitError, render_bounded, step_budget, value_size
from .spec import PromptTemplate
from .value_checks import checked_default, checked_value, listed

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
    if variables is not None and not isinstance(variables, Mapping):
        # run_template("t", backend) puts the backend here: name what this argument is.
        raise TypeError(f"variables must be a mapping of name to value, not {type(variables).__name__}")
    given = dict(variables or {})
    for name, value in [("input", input), *given.items()]:
        # A name that is no text failed deep inside with "sequence item 0: expected str
        # instance"; bytes rendered as their repr, ``b'...'``, and that went to the model.
        if not isinstance(name, str):
            raise TypeError(f"variable names must be text, not {type(name).__name__} ({name!r})")
        if isinstance(value, (bytes, bytearray)):
            raise TypeError(f"variable {name!r} is bytes; decode it to text first")
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
    bad_text = invalid_unicode_in({name: value for name, value in given.items() if value is not None})
    if bad_text:  # a lone surrogate (an undecodable argv byte, "\ud800" in JSON) has no UTF-8: no model takes it
        raise TemplateError(f"template {template.name!r}: a value is not valid Unicode ({bad_text})")
    problems: list[str] = []
    unknown = sorted(name for name in given if template.variable(name) is None)
    if unknown:
        takes = listed(template.variable_names) or "no variables"
        problems.append(f"unknown variable(s) {listed(unknown)} (it takes: {takes}){declare}")
    missing = [v.name for v in template.variables if v.required and given.get(v.name) is None]
    if missing:
        if missing == ["input"]:
            hint = input_hint
        elif "input" in missing:
            hint = f"input: {input_hint}; the others: {variables_hint}"
        else:
            hint = variables_hint
        problems.append(f"missing required variable(s) {listed(missing)} ({hint})")
    if problems:
        raise TemplateError(f"template {template.name!r}: " + "; ".join(problems))
    # A default left empty in YAML (``default:``, null) is the empty text, never the word "None".
    # Defaults are checked and spelt as given values are (``default: FORMAL`` renders the choice ``formal``).
    values = {
        v.name: checked_default(template, v)
        for v in template.variables
        if not v.required and given.get(v.name) is None
    }
    # None (JSON null, YAML ~) means "not given", as it does for a required variable
    # above and as an empty CSV cell does: the default applies, never the text "None".
    values.update(checked_values(template, given))
    return values


def checked_values(template: PromptTemplate, given: Mapping[str, Any]) -> dict[str, Any]:
    """The given values (None: not given) of declared variables, each typed as its default
    (:func:`typed_value`) and checked against its ``choices`` and ``check``.

    Apart from :func:`resolve_variables` so a batch's shared ``-v`` values are refused
    before the model loads: checked only per row, a ``-v tone=formel`` loaded the model
    to fail every row with the same error.
    """
    return {
        name: checked_value(template, template.variable(name), typed_value(template, name, value))
        for name, value in given.items()
        if value is not None
    }


_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def typed_value(template: PromptTemplate, name: str, value: Any) -> Any:
    """``value`` as the type of the variable's default, when it is text and the default is
    a boolean, a number, a list or a mapping (given as JSON: ``-v labels='["yes", "no"]'``).

    ``-v`` values and CSV cells are always text, and the text ``"false"`` is true in
    Jinja: ``-v brief=false`` turned on the very ``{% if brief %}`` it meant to turn
    off, and ``-v count=5`` failed ``{{ count + 1 }}`` with a TypeError. Text that is
    not of that type is an error naming the variable, not a guess.
    """
    default = template.variable(name).default  # resolve_variables refused unknown names
    if default is None or (isinstance(default, str) and not isinstance(value, (bool, list, tuple, Mapping))):
        return value  # a number is fine as text; no default (or a null one) says no type: a list may be looped
    if not isinstance(value, str):
        return _typed_json_value(template, name, value, default)
    text = value.strip()
    if isinstance(default, bool):
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        kind = "true or false (also yes/no, on/off, 1/0)"
    elif isinstance(default, int):
        try:
            return int_from_text(text)
        except ValueError:
            kind = "a whole number"
    elif isinstance(default, float):
        kind = "a number"
        try:
            number = float_from_text(text)
        except ValueError:
            pass
        else:  # "nan", "inf" and "1e999" are floats to Python, not numbers a prompt means
            if math.isfinite(number):
                return number
    else:  # a list or mapping: JSON text of that kind (a plain text would be looped over letter by letter)
        kind = "a JSON list" if isinstance(default, list) else "a JSON object"
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError):
            parsed = None
        if isinstance(parsed, type(default)):
            return parsed
    raise TemplateError(
        f"template {template.name!r}: variable {name!r} takes {kind} "
        f"(its default is {_clipped(json.dumps(default, ensure_ascii=False))}), not {_clipped(repr(value))}"
    )


def _typed_json_value(template: PromptTemplate, name: str, value: Any, default: Any) -> Any:
    """A value already typed (a JSON batch row's ``"count": 5``, a Python caller's) checked against
    the type of the variable's default, as text is in :func:`typed_value`.

    JSON's ``true`` is Python's ``True``, and ``bool`` is an ``int``: ``"count": true`` rendered
    ``{{ count + 1 }}`` as 2, ``"brief": 1`` passed for a yes/no, and ``"count": [1]`` failed inside
    the template with a TypeError. A whole number is a number (``"ratio": 1`` for a default of 0.5).
    """
    if isinstance(default, str):
        # A JSON row's ``true``, list or object for a text variable: Jinja wrote Python's
        # ``True`` / ``['a']`` / ``{'a': 1}`` into the prompt, and ``false`` or ``[]`` turned
        # its ``{% if %}`` off where any text it meant would have turned it on.
        ok, kind = False, "text"
    elif isinstance(default, bool):
        ok, kind = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok, kind = isinstance(value, int) and not isinstance(value, bool), "a whole number"
    elif isinstance(default, float):
        ok, kind = isinstance(value, (int, float)) and not isinstance(value, bool) and _finite(value), "a number"
    elif isinstance(default, list):
        ok, kind = isinstance(value, (list, tuple)), "a list"
    elif isinstance(default, dict):
        ok, kind = isinstance(value, Mapping), "a mapping"
    else:  # a default of a type YAML has no more of (a date): taken as given, as before
        return value
    if ok:
        return float(value) if isinstance(default, float) else value
    raise TemplateError(
        f"template {template.name!r}: variable {name!r} takes {kind} "
        f"(its default is {_clipped(json.dumps(default, ensure_ascii=False, default=str))}), "
        f"not {_clipped(json.dumps(value, ensure_ascii=False, default=str))}"
    )


def _finite(number: float) -> bool:
    try:
        return math.isfinite(number)
    except OverflowError:  # a whole number past any float's range (10**400)
        return False


def _clipped(text: str, limit: int = 60) -> str:
    """``text`` cut to ``limit`` characters for an error line (a value may be a whole file's)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
        return self.take(text, where).strip()

    def take(self, text: str, where: str) -> str:
        """``text`` counted against the cap, and checked to be text a model can take.

        The values were checked (:func:`resolve_variables`), but a template can still write
        a lone surrogate itself (``{{ "\\ud800" }}``, ``"%c"|format(55296)``, a Python caller's
        ``system=``): it rendered, and then the prompt's hash, or the engine, failed on it with
        a traceback ("surrogates not allowed").
        """
        self.left -= len(text)
        if self.left < 0:
            raise TemplateError(f"{where}: rendered prompt exceeds {self.limit:,} characters")
        problem = invalid_unicode(text)
        if problem:
            raise TemplateError(f"{where}: the rendered text is not valid Unicode ({problem}); no model can take it")
        return text

    def take_value(self, value: Any, where: str) -> str:
        """``value`` as text (JSON unless it is a string), measured before it is built.

        An example's ``output`` comes from YAML, where aliases make a nested list
        of a billion references out of a few lines; ``str()`` of it would exhaust
        memory before :meth:`take` could count it.
        """
        if value_size(value, self.left) > self.left:
            raise TemplateError(f"{where}: rendered prompt exceeds {self.limit:,} characters")
        if isinstance(value, str):
            return self.take(value.strip(), where)
        # A mapping, list, number or boolean (a JSON template's example output) is written as
        # JSON, what the model is to answer: Python's str() taught it {'x': True} instead.
        return self.take(json.dumps(value, ensure_ascii=False), where)


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


def examples_as_turns(template: PromptTemplate, examples_as: str | None = None) -> bool:
    """Whether :func:`render_template` lays ``template``'s examples out as chat turns (user and
    assistant messages) with this ``examples_as`` (None: the template's own choice)."""
    return bool(template.examples) and (examples_as or template.examples_as) == "turns"


def _example_where(template: PromptTemplate, index: int) -> str:
    return f"{template.path} (example #{index})"


def checked_example(template: PromptTemplate, index: int, example: Mapping[str, Any]) -> dict[str, Any]:
    """The values few-shot example ``index`` (1-based) gives, typed and checked as a call's are
    (:func:`checked_values`); a :class:`TemplateError` naming the file and the example if one is refused.

    None (JSON null, YAML ~) is "not given" here too: the call's value or the default applies.
    Typed as a call's values are: ``{task: [a, b]}`` for a text variable wrote Python's ``['a', 'b']``
    into the example, and ``count: "5"`` stayed text where the query's ``-v count=5`` is a number.
    Checked too: ``{tone: rude}`` against ``choices: [formal, casual]`` (or a value its ``check``
    refuses) showed the model an example of what the template refuses, and ``tone: CASUAL`` was
    not spelt ``casual`` as the query's ``-v tone=CASUAL`` is.
    """
    try:
        return checked_values(template, {k: v for k, v in example.items() if k != "output"})
    except TemplateError as exc:
        raise TemplateError(f"{_example_where(template, index)}: {exc}") from None


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
        where = _example_where(template, index)
        example_values = {**values, **checked_example(template, index, example)}
        context = {**example_values, "examples": template.examples}
        prompt = budget.render(compiled.body, context, where)
        output = budget.take_value(example["output"], where)
        if mode == "turns":
            turns += [Message("user", prompt), Message("assistant", output)]
        else:
            blocks.append(budget.render(compiled.example, {**context, "prompt": prompt, "output": output}, where))
    return turns, "\n\n".join(blocks)


_MARKER_LIKE = re.compile(
    r"^([^\S\n]*)(\\*\[(?:" + "|".join(get_args(Role)) + r")\][^\S\n]*)$", re.MULTILINE
)  # any blank around it (a no-break space, a CR of a CRLF line end) prints as nothing, so " [user]\xa0" reads as a marker too


def format_messages(messages: Sequence[Message]) -> str:
    """The messages as ``templates render`` prints them: a ``[role]`` line, then the content.

    Contents are data (a value of ``-v``, a few-shot example, model output), so a
    content line that reads as a marker (``[assistant]``) gets a backslash in
    front: otherwise a value could show a turn that will never be sent. A line
    that already starts with backslashes before such a marker gets one more, so
    the marker lines the renderer writes are the only bare ones and the escape
    is reversible (drop one leading backslash from each such line).
    """
    return "\n\n".join(
        f"[{m.role}]\n" + _MARKER_LIKE.sub(lambda found: found.group(1) + "\\" + found.group(2), m.content) for m in messages
    )


def prompt_hash(messages: Sequence[Message]) -> str:
    """A stable id of exactly what was sent (batch results, resume, caching)."""
    canonical = json.dumps([m.to_dict() for m in messages], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

"""Checking a template variable's value against what its front matter allows: ``choices`` and ``check``.

A template that is a tool's prompt takes the same value the tool takes as a
parameter (translate.jinja's ``target`` is ``tool translate --to``), and the
value must be refused the same way from both front ends: ``prompt -t translate
-v target=Klingonese`` sent "Translate … to Klingonese" to the model while
``tool translate --to Klingonese`` was refused with a did-you-mean. So a variable
may declare ``check: TOOL.PARAMETER``, and its value is checked by that tool
parameter's own check (:meth:`assistant.tools.base.Parameter.coerce`), and the
template receives the value as the tool would use it: the check is defined once,
in the plugin that owns the tool, and the core names no tool.

``choices`` is the plain case: a fixed list, matched ignoring case and given back
as the template wrote it (``-v tone=FORMAL`` renders ``formal``).
"""

from __future__ import annotations

import difflib
from dataclasses import replace
from typing import Any, Sequence

from ..errors import AssistantError, TemplateError, exception_text
from .spec import PromptTemplate, TestCase, Variable


def checked_value(template: PromptTemplate, variable: Variable, value: Any) -> Any:
    """``value`` (already typed) as the template receives it, or :class:`TemplateError` saying why not."""
    return _checked(f"template {template.name!r}: variable {variable.name!r}", variable, value)


def checked_default(template: PromptTemplate, variable: Variable) -> Any:
    """The default of a variable that is not required, as the template receives it, checked as a given value is.

    Why: unchecked, a default went to the model as the author wrote it while the same
    text given with ``-v`` came out in the check's spelling (``default: FORMAL`` rendered
    ``FORMAL``, ``-v tone=FORMAL`` rendered ``formal``), and a default its own ``check``
    refuses was sent as it was. A default left empty (null or ``""``) is the empty text,
    never a choice: ``choices`` allow it (``check`` still sees it, as the tool would).
    """
    value = "" if variable.default is None else variable.default
    where = f"template {template.name!r}: the default of variable {variable.name!r}"
    if value == "":
        variable = replace(variable, choices=())
    return _checked(where, variable, value)


def declaration_problem(template: PromptTemplate) -> str | None:
    """What makes the template's own declaration unusable, in one line, or None.

    A ``check`` naming a tool or parameter that is not there, or a default its ``check``
    refuses (a default outside its ``choices`` is refused when the file loads,
    :func:`.spec.parse_variables`): found only when a user ran the template, and then
    as if the user had erred. Asked by ``templates list``, which marks such a
    template ``INVALID`` as it does any broken one (rendering refuses it too), and by
    ``templates test`` before it loads a model. Not asked when a template
    loads: a check needs the plugins, and a template that names a tool of a plugin left
    out must still open for ``templates show``.

    So is a few-shot example whose values the template refuses (every render fails on it), and a
    test case whose values it refuses (``vars: {tone: rude}`` against ``choices: [formal, casual]``,
    a ``check`` that refuses it, a required variable left out) or expects what no label of an
    ``output: choice`` is: that case can only fail, whatever the model answers. Both are named in
    the line (``… (example #2): …``, ``test 'rude': …``).
    """
    return render_problem(template) or test_case_problem(template)


def render_problem(template: PromptTemplate) -> str | None:
    """What in the declaration makes every render fail, in one line, or None: :func:`declaration_problem`
    less a test case that can only fail (``prompt -t`` and the chat app still run such a template)."""
    try:
        for variable in template.variables:
            if variable.check:
                _parameter(f"template {template.name!r}: variable {variable.name!r}", variable.check)
            if not variable.required and (variable.check or variable.choices):
                checked_default(template, variable)
    except TemplateError as exc:
        return str(exc)
    return example_problem(template)


def example_problem(template: PromptTemplate) -> str | None:
    """The first few-shot example whose values the template refuses, in one line naming the file, the
    example and the variable, or None: such a template fails every render (:func:`~.render.checked_example`)."""
    from .render import checked_example  # render imports this module

    try:
        for index, example in enumerate(template.examples, 1):
            checked_example(template, index, example)
    except TemplateError as exc:
        return str(exc)
    return None


def test_case_problem(template: PromptTemplate) -> str | None:
    """The first test case whose values the template refuses, in one line naming the template,
    the test and the variable (``template 't': test 'rude': variable 'tone' takes one of …``), or None.

    The values are resolved as :func:`~.testing.run_tests` resolves them (one definition of what a
    value may be: typed as its default, ``choices``, ``check``, required variables), so what this
    passes the run takes. A case of an ``output: choice`` template whose expectation no label meets
    is named too (:func:`_no_label_meets`).
    """
    from .render import resolve_variables  # render imports this module

    lead = f"template {template.name!r}"
    for case in template.tests:
        try:
            resolve_variables(
                template, case.vars, case.input, input_hint=TEST_INPUT_HINT, variables_hint=TEST_VARIABLES_HINT
            )
        except TemplateError as exc:
            message = exception_text(exc)
            rest = message[len(lead) :] if message.startswith(lead) else f": {message}"
            return f"{lead}: test {case.name!r}{rest}"
        if _no_label_meets(template, case):
            return (
                f"{lead}: test {case.name!r}: no label ({listed(template.output.labels)}) meets its expectation, "
                "so it can only fail"
            )
    return None


def _no_label_meets(template: PromptTemplate, case: TestCase) -> bool:
    """Whether the answer of an ``output: choice`` template, always one of its labels, can never meet the
    case's expectation (``equals: neutral`` for labels positive and negative), judged by the run's own
    check (:func:`~.testing.check_expectation`). A ``regex`` is left out: it runs in a child process
    with a time limit, too slow for a listing, and a case that only it could fail is not judged."""
    from .testing import check_expectation  # testing imports this module

    if template.output.type != "choice" or not template.output.labels:
        return False
    loose = replace(case.expect, regex=None)
    return all(check_expectation(loose, label) is not None for label in template.output.labels)


TEST_INPUT_HINT = "give the test case an 'input'"
TEST_VARIABLES_HINT = "set them in the test case's 'vars'"
"""How a test case gives its values, for the errors :func:`~.render.resolve_variables` words."""


def _checked(where: str, variable: Variable, value: Any) -> Any:
    if variable.choices:
        value = _choice(where, variable.choices, value)
    if variable.check:
        value = _check_as_parameter(where, variable.check, value)
    return value


def _choice(where: str, choices: tuple[str, ...], value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise TemplateError(f"{where} takes one of {listed(choices)}, not {type(value).__name__}")
    text = str(value)
    by_fold = {choice.casefold(): choice for choice in choices}
    found = by_fold.get(text.strip().casefold())
    if found is not None:
        return found if isinstance(value, str) else value  # a number keeps its type
    close = difflib.get_close_matches(text.strip().casefold(), list(by_fold), n=1)
    hint = f"; did you mean {by_fold[close[0]]!r}?" if close else ""
    shown = text if len(text) <= 60 else text[:59] + "…"
    raise TemplateError(f"{where} takes one of {listed(choices)}, not {shown!r}{hint}")


def listed(names: Sequence[str], limit: int = 12) -> str:
    """``a, b, c``: names for one error line, the first ``limit`` of them and how many in all.

    Every list of a template's names in an error goes through here (choices, the variables it
    takes, the ones missing): a template of 20,000 variables made "it takes: v0, v1, …" one
    line of 130,000 characters.
    """
    shown = ", ".join(names[:limit])
    return shown + (f", … ({len(names)} in all)" if len(names) > limit else "")


def _check_as_parameter(where: str, check: str, value: Any) -> Any:
    """``value`` as the tool's parameter named by ``check`` takes it, refused as that parameter refuses it.

    What the template receives is the value the tool would use (a choice in its
    declared spelling: ``-v length=BULLETS`` is ``bullets``, so the template need not
    compare ignoring case), as ``choices`` gives back its own spelling.

    A tool or parameter that is not there (its plugin failed, or is left out by
    ``ASSISTANT_PLUGINS``) refuses the value too, saying so: passed unchecked, the
    value the template declared a check for would reach the model unnoticed.
    """
    tool, parameter = _parameter(where, check)
    try:
        coerced = parameter.coerce(value)
    except AssistantError as exc:  # ConfigError: the tool's own words ("unknown language 'Klingonese' …")
        raise TemplateError(_as_variable(where, exception_text(exc), parameter.name)) from None
    except Exception as exc:  # noqa: BLE001 - a bug in the plugin's check: named, not a traceback
        raise TemplateError(
            f"{where}: the check {check} (plugin {tool.plugin!r}) failed: {type(exc).__name__}: {exception_text(exc)}"
        ) from exc
    return value if coerced is None else coerced


def _parameter(where: str, check: str) -> tuple[Any, Any]:
    """The registered tool and the parameter ``check`` (``TOOL.PARAMETER``) names, or TemplateError saying
    why it cannot be used (the tool is not loaded, or has no such parameter)."""
    from ..tools.registry import get_tool

    tool_name, _, parameter_name = check.rpartition(".")
    try:
        tool = get_tool(tool_name)
    except AssistantError as exc:
        raise TemplateError(f"{where} is checked by {check}, which cannot be used: {exception_text(exc)}") from None
    parameter = next((p for p in tool.parameters if parameter_name in p.names), None)
    if parameter is None:
        known = ", ".join(p.name for p in tool.parameters) or "none"
        raise TemplateError(
            f"{where} is checked by {check}, but tool {tool_name!r} has no parameter {parameter_name!r} "
            f"(parameters: {known})"
        )
    return tool, parameter


def _as_variable(where: str, message: str, name: str) -> str:
    """The tool's refusal said of the variable: its ``parameter 'to'`` names the tool's option,
    which the template's user never wrote (``parameter 'to' is required`` for ``-v target=``)."""
    lead = f"parameter {name!r}"
    if message.startswith(lead + ": "):
        return f"{where}: {message[len(lead) + 2:]}"
    if message.startswith(lead + " "):
        return f"{where}{message[len(lead):]}"
    return f"{where}: {message}"

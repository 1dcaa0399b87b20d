"""Prompt templates in a conversation: each turn rendered through the chosen template.

With a template selected, what the user types fills the template's ``input``
variable for that turn. The prompt is the template's system prompt (else the
chat's), then the conversation so far, then the template's example turns and
its rendered user message. The conversation (and the history) keeps what the
user actually typed, so switching templates mid-conversation stays readable;
the prompt inspector shows the rendered result.

Choice templates (``output.type: choice``, e.g. few-shot sentiment) are not
generated token by token: the label is picked by scoring each candidate, as
``assistant prompt -t`` does (:func:`assistant.templates.run.execute`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from ..context import FittedPrompt
from ..errors import AssistantError, TemplateError
from ..session import ChatSession
from ..types import Message

if TYPE_CHECKING:
    from ..templates import PromptTemplate
    from ..templates.strategies import Extraction


@dataclass
class TemplatedSession(ChatSession):
    """A :class:`ChatSession` whose new user turn goes through a prompt template."""

    template: PromptTemplate | None = None
    variables: dict[str, str] = field(default_factory=dict)

    def prompt_messages(self, user_text: str | None = None) -> list[Message]:
        if self.template is None or user_text is None:
            return super().prompt_messages(user_text)
        from ..templates import render_template

        rendered = render_template(
            self.template, self.variables, input=user_text, variables_hint=VARIABLES_HINT
        )
        head_len = 0
        while head_len < len(rendered) and rendered[head_len].role == "system":
            head_len += 1
        system = rendered[:head_len] or ([Message("system", self.system)] if self.system else [])
        return [*system, *self.messages, *rendered[head_len:]]

    def fit_as_sent(self, user_text: str, prompt_tokens: int | None) -> FittedPrompt:
        """The prompt a stored reply was written after: trimmed, as then, to the ``prompt_tokens`` it had.

        A long conversation was fitted to the window of its day (oldest turns
        left out); rebuilt whole, it is another prompt, and numbers computed
        after it are not the ones the model wrote with (nor is the window now
        the same: ``-o n_ctx`` is not remembered). Dropping the oldest turns
        until the count is the stored one is the same cut, since each turn
        dropped only shrinks it. Unknown (an old row): the whole rebuild; so too when even
        that cut is over the window now (computing its numbers then says so).
        """
        from ..context import fit_to_context
        from ..errors import ContextOverflowError
        from ..session import _CompletionCounter  # the count fit_prompt uses, one definition

        messages = self.prompt_messages(user_text)
        if not prompt_tokens:
            return FittedPrompt(messages, None)
        counter = self.backend if self.mode == "chat" else _CompletionCounter(self.backend)
        reserve = self.backend.context_length - prompt_tokens  # budget: exactly the tokens it had
        try:
            return fit_to_context(counter, messages, reserve)  # type: ignore[arg-type]
        except ContextOverflowError:
            return FittedPrompt(messages, None)


def load_chat_template(name: str) -> PromptTemplate:
    """A template usable in the chat: it must take the user's text as ``input``, and render.

    One whose declaration every render refuses (a few-shot example its own ``choices`` refuse, a
    ``check`` naming no loaded tool) is refused here, as ``prompt -t`` refuses it before a model
    loads: ``chat -t`` opened with it and failed each message. A test case that can only fail
    does not stop the template from running (:func:`failing_test_note`).
    """
    from ..templates import load_template
    from ..templates.value_checks import render_problem

    template = load_template(name)
    if template.variable("input") is None:
        raise TemplateError(f"template {name!r} has no 'input' variable, so it cannot take chat messages")
    if (problem := render_problem(template)) is not None:
        raise TemplateError(problem)
    return template


PLAIN_CHAT = "chat"
"""The built-in template that is plain chat: the list's first entry already is that, so it is not listed twice."""


FAILING_TEST_MARK = "⚠ a test case can only fail"
"""How the pickers label a template whose only problem is a test case of its own
(:func:`failing_test_note`)."""


def template_choices() -> list[tuple[str, str]]:
    """(label, name) for every template a chat can use, plain chat first (a user's own ``chat`` listed once).

    One without an ``input`` variable (``summarize-combine``, the summarize tool's
    own step) cannot take a message: offered, it was only refused once picked. One that
    ``templates list`` marks INVALID is left out, unless what it marks is only a test case
    that can only fail: ``prompt -t`` runs that template, so the chat offers it too, marked
    (:data:`FAILING_TEST_MARK`; picked, :func:`failing_test_note` says which case and why).
    """
    from ..templates import list_templates

    choices = [("chat (no template)", "")]
    for listing in list_templates():
        if listing.name == PLAIN_CHAT and listing.source == "builtin":
            continue
        if listing.shadowed_by is not None or not _takes_messages(listing.name):
            continue
        strategy = f" [{listing.strategy}]" if listing.strategy else ""
        if listing.error is None:
            choices.append((f"{listing.name}{strategy}", listing.name))
        elif listing.error == _failing_test(listing.name):  # it loads for the chat: its only problem
            choices.append((f"{listing.name}{strategy} {FAILING_TEST_MARK}", listing.name))
    return choices


def _failing_test(name: str) -> str | None:
    """The problem of a test case of template ``name`` that can only fail, as ``templates list`` words it."""
    from ..templates.value_checks import test_case_problem

    return test_case_problem(load_chat_template(name))  # loaded once already by the listing: cached


def failing_test_note(template: PromptTemplate | None) -> str | None:
    """One line saying that a test case of ``template`` can only fail (and why), or None.

    The template itself runs (as ``prompt -t`` runs it): the chat uses it, and says what
    ``templates list`` marks it INVALID for, so the user can fix the case.
    """
    from ..templates.value_checks import test_case_problem

    problem = None if template is None else test_case_problem(template)
    return None if problem is None else f"{problem} (the template runs; fix the test case)"


def _takes_messages(name: str) -> bool:
    try:
        load_chat_template(name)  # loaded once already by the listing: cached
    except TemplateError:
        return False
    return True


def parse_variables(text: str) -> dict[str, str]:
    """``key=value`` pairs separated by ``;`` or newlines (the settings panel's field)."""
    variables: dict[str, str] = {}
    for item in text.replace("\n", ";").split(";"):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise TemplateError(f"template variables must look like name=value; got {item.strip()!r}")
        if key == "input":
            raise TemplateError("'input' is what you type in the chat; it cannot be set here")
        variables[key] = value.strip()
    return variables


VARIABLES_FIELD = "Template vars"
"""The settings panel's field for a template's variables: its errors name it."""

VARIABLES_HINT = f"set them in the settings (F2), field {VARIABLES_FIELD}: name=value"
"""Where the chat's user gives a template's variables (the app has no ``-v``): a render's error says so."""


def missing_variables(template: PromptTemplate | None, variables: Mapping[str, str]) -> list[str]:
    """The variables ``template`` requires that ``variables`` leaves out (``input`` is the message itself)."""
    if template is None:
        return []
    return [
        v.name for v in template.variables if v.required and v.name != "input" and v.name not in variables
    ]


def missing_variables_note(template: PromptTemplate | None, variables: Mapping[str, str]) -> str | None:
    """One line saying which required variables are unset and where to set them; None when none is."""
    missing = missing_variables(template, variables)
    if not missing or template is None:
        return None
    wanted = "; ".join(f"{name}=…" for name in missing)
    return f"template {template.name!r} needs a value for {', '.join(missing)} ({wanted})"


def check_variables(template: PromptTemplate, variables: Mapping[str, str]) -> None:
    """Refuse ``variables`` that ``template`` could not render every turn with (TemplateError naming the field).

    Every message is rendered through the template, so a variable it does not
    take (left over from another template) or a required one left out would
    fail each turn; the panel refuses them instead, while they can be fixed.
    Unknown names are judged by :func:`~assistant.templates.render.resolve_variables`,
    the one check ``prompt -t`` uses; missing ones are said here, in the panel's
    terms (its field, not ``-v``).
    """
    from ..templates.render import resolve_variables

    note = missing_variables_note(template, variables)
    try:
        if note is not None:
            raise TemplateError(note)
        resolve_variables(template, variables, input="")
    except TemplateError as exc:
        raise TemplateError(f"{VARIABLES_FIELD}: {exc}") from None


def variables_taken(template: PromptTemplate | None, variables: Mapping[str, str]) -> dict[str, str]:
    """The ``variables`` ``template`` takes: what carries over when the template is switched without the panel.

    Plain chat (None) renders no template and keeps them all, so switching back
    to the template they were set for finds them again.
    """
    if template is None:
        return dict(variables)
    return {name: value for name, value in variables.items() if template.variable(name) is not None}


def format_variables(variables: dict[str, Any]) -> str:
    return "; ".join(f"{key}={value}" for key, value in variables.items())


def is_choice(template: PromptTemplate | None) -> bool:
    return template is not None and template.output.type == "choice"


def extraction_of(template: PromptTemplate | None, text: str) -> Extraction | None:
    """The answer (and reasoning) ``template`` asks for, from a finished reply; None when it asks none.

    One rule for the live reply and a stored one drawn again (a reopened chain-of-thought
    turn folds its reasoning as it did when it was written).
    """
    if template is None or (template.answer_prefix is None and template.output.type != "json"):
        return None
    from ..templates import extract_answer

    return extract_answer(template, text)


def stored_extraction(
    template_name: str | None, text: str, loaded: dict[str, PromptTemplate | None] | None = None
) -> Extraction | None:
    """:func:`extraction_of` for a stored reply, by its template's name (None if it cannot be loaded now).

    ``loaded`` keeps the templates read so far, so a long conversation reads each file once.
    """
    if not template_name or template_name == PLAIN_CHAT:
        return None
    loaded = {} if loaded is None else loaded
    if template_name not in loaded:
        try:
            loaded[template_name] = load_chat_template(template_name)
        except AssistantError:  # deleted or broken since: the reply is drawn as it was written
            loaded[template_name] = None
    try:
        return extraction_of(loaded[template_name], text)
    except AssistantError:
        return None


def answer_view(extraction: Extraction | None) -> tuple[tuple[str, str] | None, str]:
    """How a finished reply shows its template's answer: (reasoning, answer) to fold, and a status.

    The status is ``no answer: …`` when the answer could not be found in the reply; the
    fold is None when there is nothing to fold (no reasoning, or no template answer at all).
    """
    import json

    if extraction is None:
        return None, ""
    if extraction.error is not None:
        return None, f"no answer: {extraction.error}"
    if not extraction.reasoning:
        return None, ""
    answer = extraction.answer if isinstance(extraction.answer, str) else json.dumps(extraction.answer, indent=2)
    return (extraction.reasoning, answer), ""

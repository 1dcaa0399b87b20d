"""Running a template against a model: render, generate (or score), extract the answer.

One function serves the CLI (single runs and batches), ``templates test`` and
scripts::

    from assistant import run_template
    result = run_template("sentiment", input="What a lovely film.")
    result.answer        # "positive"

JSON output with a schema is decoded under the schema where the backend can
(:func:`constrained_schema`), so the reply is the document and a reply cut at
``max_tokens`` is an error; elsewhere it is validated (:func:`constraint_note`).
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

from ..backends import backend_failure
from ..backends.base import Backend
from ..backends.streaming import collect
from ..errors import AssistantError, ConfigError, NotSupportedError, TemplateError
from ..types import Chunk, Completion, GenerationParams, Message, Timings, TokenLogprob, Usage, length_note
from .render import INPUT_HINT, prompt_hash, render_template
from .spec import OutputSpec, PromptTemplate
from .strategies import (
    Extraction,
    answer_runs_to_end,
    extract_answer,
    scoring_prompt,
    text_scoring_needs_inline,
)


@dataclass
class TemplateResult:
    """One run of a template. ``answer`` is None exactly when ``error`` says why."""

    template: str
    messages: list[Message]
    prompt_hash: str
    output: str
    answer: Any = None
    reasoning: str | None = None
    scores: dict[str, float] | None = None
    error: str | None = None
    finish_reason: str = "stop"
    usage: Usage = field(default_factory=Usage)
    timings: Timings = field(default_factory=Timings)
    model: str = ""
    backend: str = ""
    token_ids: list[int] = field(default_factory=list)
    """The reply's token ids (kept in the history, as a plain prompt's are); none for a scored choice."""
    tokens: list[TokenLogprob] = field(default_factory=list)
    """Each token's numbers, with ``logprobs=N`` (``--json`` shows them as ``tokens``, as ``prompt`` does)."""

    @property
    def ok(self) -> bool:
        return self.error is None

    def completion(self) -> Completion:
        """The reply as the history records it: text, numbers and the token ids."""
        return Completion(
            text=self.output,
            model=self.model,
            backend=self.backend,
            finish_reason=self.finish_reason,  # type: ignore[arg-type]
            usage=self.usage,
            timings=self.timings,
            token_ids=list(self.token_ids),
            logprobs=list(self.tokens),
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "template": self.template,
            "prompt_hash": self.prompt_hash,
            "output": self.output,
            "answer": self.answer,
        }
        if self.reasoning is not None:
            data["reasoning"] = self.reasoning
        if self.scores is not None:
            data["scores"] = self.scores
        data.update(
            error=self.error,
            finish_reason=self.finish_reason,
            model=self.model,
            backend=self.backend,
            usage=self.usage.to_dict(),
            timings=self.timings.to_dict(),
        )
        if self.tokens:
            data["tokens"] = [token.to_dict() for token in self.tokens]
        return data


def _resolve_template(template: PromptTemplate | str | os.PathLike[str]) -> PromptTemplate:
    if isinstance(template, PromptTemplate):
        return template
    from .loader import load_template

    return load_template(template)


def resolve_params(
    template: PromptTemplate,
    params: GenerationParams | Mapping[str, Any] | None,
    backend: Backend | None = None,
) -> GenerationParams:
    """A GenerationParams is used as given; a mapping overrides the template's ``params``.

    With the ``backend`` that will run it, a setting of the template's own that the backend
    lacks (``repeat_penalty: 1.1`` on a server without it) is dropped, as a tool's are: the
    template's params are defaults, and they made every run fail on such a server. A setting
    given in ``params`` is the caller's, and stays for the backend to refuse.
    """
    if isinstance(params, GenerationParams):
        return params
    given = dict(params or {})
    resolved = template.generation_params(given)
    if backend is None:
        return resolved
    from ..backends.capabilities import within_reach

    return within_reach(resolved, backend.capabilities, kept=given.keys())


def refuse_before_load(template: PromptTemplate, examples_as: str | None, backend_name: str) -> None:
    """Refuse, before the model loads, a run that would fail once loaded whatever the input.

    A ``scoring: text`` template with its examples as turns (``--examples-as turns``) cannot be
    scored, and :func:`execute` scores wherever ``capabilities.score``: on a backend whose
    unloaded capabilities already say it scores, whatever model it loads
    (:func:`~assistant.backends.capabilities.known_before_load`), the run failed only after the
    load. A backend that knows only once loaded (a server) is not refused here: one that cannot
    score generates the label instead, turns and all.
    """
    from .render import examples_as_turns

    if not (template.scores_text and examples_as_turns(template, examples_as)):
        return
    from ..backends import create_backend
    from ..backends.capabilities import known_before_load

    if known_before_load(create_backend(backend_name), "score") is True:
        raise text_scoring_needs_inline(template)


def run_template(
    template: PromptTemplate | str | os.PathLike[str],
    variables: Mapping[str, Any] | None = None,
    *,
    input: str | None = None,
    backend: Backend | str | None = None,
    model: str | None = None,
    params: GenerationParams | Mapping[str, Any] | None = None,
    system: str | None = None,
    examples_as: str | None = None,
    on_text: Callable[[str], None] | None = None,
) -> TemplateResult:
    """Render ``template`` with ``variables``/``input`` and run it on a model.

    ``backend`` is a loaded :class:`Backend` (reused, left loaded), or a backend
    name / None, in which case ``model`` (default: the configured one) is loaded
    for this call and unloaded after. ``params`` overrides the template's default
    sampling parameters. ``system`` replaces the template's system prompt.
    ``on_text`` receives the reply as it streams (nothing, for a choice the
    backend scores: no reply is written). Output problems (no answer line,
    invalid JSON) are reported in ``result.error``; rendering and backend
    failures raise.
    """
    _check_arguments(backend, params, system, on_text)
    spec = _resolve_template(template)
    messages = render_template(spec, variables, input=input, examples_as=examples_as, system=system)
    require_user_message(spec, messages)  # before a model is loaded for nothing
    resolve_params(spec, params)  # a bad setting is refused before a model loads
    if backend is None or isinstance(backend, str):
        from ..backends import default_model_for
        from ..config import default_backend
        from ..session import open_backend

        name = backend or default_backend()
        engine = open_backend(model or default_model_for(name), name)
        try:
            return execute(spec, messages, engine, resolve_params(spec, params, engine), on_text)
        finally:
            engine.unload()
    return execute(spec, messages, backend, resolve_params(spec, params, backend), on_text)


def _check_arguments(backend: object, params: object, system: object, on_text: object) -> None:
    """A script's wrong argument, refused in one line before anything runs, as ``ChatSession``'s are:
    ``params=[1]`` was a raw ``TypeError``, ``backend=5`` an ``AttributeError``, ``system=5`` "object of
    type 'int' has no len()", and ``on_text=5`` a failure blamed on the backend."""
    from ..session import PLAIN_DATA, shown_argument

    if backend is not None and not isinstance(backend, str) and isinstance(backend, PLAIN_DATA):
        shown = shown_argument(backend)
        raise ConfigError(f"run_template's backend must be a loaded backend or a backend's name, not {shown}")
    if params is not None and not isinstance(params, (GenerationParams, Mapping)):
        shown = shown_argument(params)
        raise ConfigError(f"run_template's params must be a GenerationParams or a mapping, not {shown}")
    if system is not None and not isinstance(system, str):
        raise ConfigError(f"run_template's system must be text or None, not {shown_argument(system)}")
    if on_text is not None and not callable(on_text):
        shown = shown_argument(on_text)
        raise ConfigError(f"run_template's on_text must be a function taking text, not {shown}")


def constrained_schema(template: PromptTemplate) -> dict[str, Any] | None:
    """The schema the decoder is held to for ``template`` on a backend that can constrain, or None.

    JSON output with a schema, unless ``constrain: false``, and not after a
    chain-of-thought: its reasoning comes before the answer line, so the reply
    as a whole is no JSON document (the answer is validated instead).
    """
    output = template.output
    if output.type != "json" or output.schema is None or not output.constrain or template.answer_prefix:
        return None
    return output.schema


def constraint_note(template: PromptTemplate, backend: Backend) -> str | None:
    """The one-line note for a schema that will be validated but not enforced (None when enforced or absent)."""
    from ..structured.output import unconstrained_note

    output = template.output
    if output.type != "json" or output.schema is None or not output.constrain:
        return None
    if template.answer_prefix:
        return unconstrained_note(
            backend.name, f"template {template.name!r} reasons before its answer line, so decoding is not held to the schema"
        )
    return None if backend.capabilities.constrained else unconstrained_note(backend.name)


def with_schema(template: PromptTemplate, schema: dict[str, Any]) -> PromptTemplate:
    """``template`` answering in JSON matching ``schema`` (``prompt -t NAME --schema S``)."""
    if template.output.type == "choice":
        raise TemplateError(f"template {template.name!r} picks one of its labels; it takes no --schema")
    output = dataclasses.replace(template.output, type="json", schema=schema, constrain=True)
    return dataclasses.replace(template, output=output)


def schema_template(schema: dict[str, Any]) -> PromptTemplate:
    """A template that sends the input as it is and answers in JSON matching ``schema`` (``--schema --batch``).

    It has no system prompt: the caller passes one that shows the model the
    schema (:func:`~assistant.structured.output.schema_instruction`).
    """
    from .loader import template_from_string

    template = template_from_string("{{ input }}", name="schema")
    return dataclasses.replace(template, output=OutputSpec("json", schema))


def require_user_message(template: PromptTemplate, messages: list[Message], input_hint: str = INPUT_HINT) -> None:
    """Refuse to run messages with nothing for the model to answer.

    A template whose body rendered empty (the built-in ``chat`` with no input)
    is a system prompt alone: right for a chat session to start from, but run
    as a prompt the model answered a question nobody asked, and the made-up
    reply was recorded as the answer.
    """
    if not any(m.role == "user" for m in messages):
        raise TemplateError(
            f"template {template.name!r} rendered no user message, so there is nothing to answer ({input_hint})"
        )


CHOICE_REPLY_TOKENS = 32
"""The most a choice template's reply may run where labels are generated rather than scored."""


def execute(
    template: PromptTemplate,
    messages: list[Message],
    backend: Backend,
    params: GenerationParams,
    on_text: Callable[[str], None] | None = None,
) -> TemplateResult:
    """Run already-rendered messages on a loaded backend and extract the answer."""
    require_user_message(template, messages, "give it an input text")  # a batch row, a test case
    result = TemplateResult(
        template=template.name,
        messages=messages,
        prompt_hash=prompt_hash(messages),
        output="",
        model=backend.model_name,
        backend=backend.name,
    )
    if template.output.type == "choice" and backend.capabilities.score:
        try:
            return _choose_by_score(template, messages, backend, result)
        except NotSupportedError:
            pass  # a server whose profile promised echoed logprobs refused them: generate and match instead
    schema = constrained_schema(template) if backend.capabilities.constrained else None
    params = params.replace(json_schema=schema)
    if template.output.type == "choice" and params.max_tokens > CHOICE_REPLY_TOKENS:
        # Not scored (the backend cannot): a label is a few words, and a reply let run to 512 tokens
        # was mostly babble ("however, however, ...") that named none of the labels, at 512 tokens' cost.
        params = params.replace(max_tokens=CHOICE_REPLY_TOKENS)
    def shown(stream: Iterator[Chunk]) -> Iterator[Chunk]:
        for chunk in stream:
            if chunk.text and on_text is not None:
                on_text(chunk.text)
            yield chunk

    try:
        # collect(): the one place a stream becomes a reply, its token ids and numbers included
        completion = collect(shown(backend.stream(messages, params)), backend.model_name, backend.name)
    except AssistantError:
        raise
    except Exception as exc:  # a backend's bug: one line naming it (see backend_failure)
        raise backend_failure(backend.name, "generate", exc) from exc
    result.output = completion.text
    result.finish_reason = completion.finish_reason
    result.usage, result.timings = completion.usage, completion.timings
    result.token_ids, result.tokens = list(completion.token_ids), list(completion.logprobs)
    if schema is not None:  # the reply is the document itself, or a prefix of one cut at max_tokens
        from ..structured.output import check_reply

        value, problem = check_reply(result.output, result.finish_reason, schema)
        _apply(result, Extraction(answer=value, error=problem))
        return result
    extraction = extract_answer(template, result.output)
    prefix = template.answer_prefix
    if result.finish_reason == "length" and prefix and extraction.error is None and answer_runs_to_end(result.output, prefix):
        # "Answer: 1" of a reply cut on its way to "Answer: 111": never a truncated answer, as for JSON.
        extraction = Extraction(
            reasoning=extraction.reasoning,
            error=f"the reply was cut inside its final {prefix!r} line, so the answer may be incomplete",
        )
    _apply(result, extraction)
    if result.error and result.finish_reason == "length":
        result.error += f" ({length_note(result.usage.prompt_tokens, result.usage.completion_tokens, backend.context_length)})"
    return result


def _choose_by_score(
    template: PromptTemplate,
    messages: list[Message],
    backend: Backend,
    result: TemplateResult,
) -> TemplateResult:
    """The label the backend scores best. Nothing streams (``on_text`` is not called): no reply is written."""
    start = time.perf_counter()
    prompt, candidates = scoring_prompt(template, messages)
    labels = list(template.output.labels)
    scores = backend.score(prompt, candidates)
    best = max(range(len(labels)), key=lambda i: scores[i])
    result.scores = {label: float(score) for label, score in zip(labels, scores)}
    result.output = result.answer = labels[best]
    result.usage = Usage(prompt_tokens=backend.count_tokens(prompt), completion_tokens=0)
    result.timings = Timings(duration_ms=(time.perf_counter() - start) * 1000)
    return result


def _apply(result: TemplateResult, extraction: Extraction) -> None:
    result.answer = extraction.answer
    result.reasoning = extraction.reasoning
    result.error = extraction.error

"""Template batches: one template, one row of variables per run (``prompt -t NAME --batch FILE``).

Rows, resuming, overwrite protection, the progress bar and the summary are the
shared batch runner's (:mod:`assistant.batch`); this module turns a row into a
template run. Each result line records the row number and ``id``, the variables
used, the shared ``-v`` values (``shared_vars``), ``-o`` sampling settings
(``sampling``), JSON schema (``schema``), ``-s`` system prompt (``system``) and examples' layout
(``examples_as``) every row ran with, a hash of the rendered prompt, the output, the
extracted answer, usage and timings. A row that fails (bad JSON, a missing variable, a backend error) is
recorded with its ``error`` and the batch goes on.

A row's input text (``text`` or ``input``, or the ``--input-field``) fills the
template's ``input`` variable; its other fields fill variables of the same name.
Its ``params`` object, as in a tool batch, overrides the sampling parameters for
that row alone (over the template's ``params`` and ``-o``), and is copied into
its result line so the line says how it was produced.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any, Callable, Mapping

from ..backends.base import Backend
from ..batch import (
    DEFAULT_INPUT_FIELDS,
    BackendFailure,
    BatchSummary,
    ProgressBar,
    Row,
    backend_failure,
    run_rows,
)
from ..batch.provenance import (
    check_resume_inputs,
    check_resume_kind,
    check_resume_made,
    check_resume_model,
    made_by,
)
from ..errors import AssistantError
from ..types import GenerationParams, Message
from .render import prompt_hash, render_template
from .run import execute
from .spec import PromptTemplate

ROW_VARIABLES_HINT = "give the row a field of that name, or -v NAME=VALUE for every row"
"""How a batch row gives a variable, for the error when one is missing (not "-v" alone: rows differ)."""


SHARED_FLAGS = {
    "shared_vars": "-v", "sampling": "-o", "schema": "--schema", "system": "-s", "examples_as": "--examples-as"
}
"""The fields of a result line that record the settings every row shared, and the option giving each."""


class _NotGiven:
    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Any = _NotGiven()
"""A ``system``/``examples_as`` of :func:`check_resume` its caller did not pass (as against ``None``,
"no ``-s``"): that setting is then not compared there, only by :func:`run_batch`, which has it."""


def shared_settings(
    template: PromptTemplate,
    variables: Mapping[str, Any] | None = None,
    sampling: Mapping[str, Any] | None = None,
    system: str | None = None,
    examples_as: str | None = None,
) -> dict[str, Any]:
    """What every row of a batch shares, as each result line records it (:data:`SHARED_FLAGS`).

    ``schema`` is the JSON schema the answers are held to (``--schema``, or the template's own),
    null for an answer that is not JSON. ``system`` is the ``-s`` text as given (null: the
    template's own system prompt), without the schema's instruction that a ``--schema --batch``
    without a template adds to it: the schema is its own field, and a resume with another one is
    told so, not that its ``-s`` differs. ``examples_as`` is the layout the examples get
    (``--examples-as``, else the template's choice), null for a template without examples:
    there is nothing to lay out, so the flag changes no prompt and a resume that adds it is the
    same run.
    """
    from ..structured.output import without_schema_instruction

    return {
        "shared_vars": dict(variables or {}),
        "sampling": dict(sampling or {}),
        "schema": template.output.schema if template.output.type == "json" else None,
        "system": without_schema_instruction(system),
        "examples_as": (examples_as or template.examples_as) if template.examples else None,
    }


def check_resume(
    template: PromptTemplate,
    out: Path | None,
    resume: bool,
    *,
    variables: Mapping[str, Any] | None = None,
    sampling: Mapping[str, Any] | None = None,
    system: str | None = NOT_GIVEN,
    examples_as: str | None = NOT_GIVEN,
) -> str | None:
    """Refuse a ``--resume`` whose results file a tool batch, another template's batch, or this
    template's batch with other ``-v`` values, ``-o`` sampling settings, ``--schema``, ``-s``
    system prompt or ``--examples-as`` layout wrote.

    ``--resume`` keeps the finished lines and runs only the rest: onto a sentiment tool's file,
    every row looked done; onto another template's, two templates' answers shared one file with
    nothing to tell them apart; with ``-o temperature=0.9`` (or another ``-s``) onto a file made
    at 0.2, two ways of answering did. Checked before the model loads, on finished lines (a failed
    one is run again anyway); a line from a version that did not record its template is not checked.
    ``system`` and ``examples_as`` left out (:data:`NOT_GIVEN`) are not compared here.

    Returns a note when finished lines do not record some of the shared settings (an older
    version wrote them): they are resumed, not refused, since refusing would leave ``--force``
    (running every row again) as the only way on, and nothing on those lines says they differ.
    """
    check_resume_kind(out, resume, "template", template.name)
    made = shared_settings(
        template, variables, sampling, None if system is NOT_GIVEN else system,
        None if examples_as is NOT_GIVEN else examples_as,
    )
    for field, left_out in (("system", system), ("examples_as", examples_as)):
        if left_out is NOT_GIVEN:
            del made[field]
    unrecorded = check_resume_made(out, resume, made, SHARED_FLAGS, whole={"schema"})
    if unrecorded:
        named = [SHARED_FLAGS[field] for field in unrecorded]
        flags = " and ".join(named) if len(named) < 3 else ", ".join(named[:-1]) + " and " + named[-1]
        return (
            f"note: finished rows in {out} do not record the {flags} values they ran with (an older "
            "version wrote them); they are kept as they are, unchecked"
        )
    return None


def check_batch_resume(
    template: PromptTemplate,
    rows: list[Row],
    out: Path | None,
    resume: bool,
    *,
    variables: Mapping[str, Any] | None = None,
    sampling: Mapping[str, Any] | None = None,
    system: str | None = None,
    examples_as: str | None = None,
    input_field: str | None = None,
) -> str | None:
    """Every check of a template batch's ``--resume`` that needs no model: the results file is this
    template's with these shared settings (:func:`check_resume`, whose note it returns), and its finished
    lines ran on the rows as they are now (:func:`~assistant.batch.provenance.check_resume_inputs`).

    The one place both run, once per run: the CLI calls it before the model loads and tells
    :func:`run_batch` so (``resume_checked``), which otherwise runs it itself. Each reads every line
    of the results file, and both ran twice for a CLI batch (a 100,000-row file: seconds each).
    """
    note = check_resume(
        template, out, resume, variables=variables, sampling=sampling, system=system, examples_as=examples_as
    )
    check_resume_inputs(rows, out, resume, input_field)  # nor answers to rows that have changed since
    return note


def run_batch(
    template: PromptTemplate,
    rows: list[Row],
    backend: Backend,
    *,
    out: Path | None = None,
    resume: bool = False,
    force: bool = False,
    params: GenerationParams | None = None,
    variables: Mapping[str, Any] | None = None,
    sampling: Mapping[str, Any] | None = None,
    examples_as: str | None = None,
    system: str | None = None,
    input_field: str | None = None,
    progress: ProgressBar | Callable[[int], ProgressBar] | None = None,
    stdout: IO[str] | None = None,
    on_record: Callable[[dict[str, Any], list[Message] | None], None] | None = None,
    parallel: int = 1,
    conversation: Callable[[], int | None] | None = None,
    check_interrupt: Callable[[], None] | None = None,
    resume_checked: bool = False,
    turn: Callable[[], int | None] | None = None,
) -> BatchSummary:
    """Run every row not yet done; ``variables`` are shared values a row's own fields override.

    ``sampling`` names the settings of ``params`` the caller gave over the template's (``-o``);
    each line records them, ``variables``, ``system`` and the examples' layout
    (:func:`shared_settings`), which :func:`check_resume` compares on a ``--resume``.

    ``system`` replaces the template's system prompt for every row (as ``-s`` does).
    ``on_record(record, messages)`` sees each row's result just before it is written
    (the CLI records it in the history; ``messages`` is None if rendering failed);
    ``conversation`` names the history conversation on each line, ``turn`` the message holding the row's
    reply (:func:`~assistant.batch.run_rows`).
    ``parallel`` rows run at once (the backend's ``cancel`` stops them on Ctrl-C).
    ``check_interrupt()`` runs after each row's work and raises :class:`KeyboardInterrupt` for a
    Ctrl-C the engine swallowed (llama.cpp's ctypes callbacks drop the exception, and the cancel
    it set ends the reply early): the row is then not written, not taken as done with a cut reply.
    ``resume_checked``: the caller ran :func:`check_batch_resume` with these arguments (before loading
    the model, and gave its note); otherwise it runs here.
    """
    check_resume_model(out, resume, backend)  # another model's answers are not added to this one's
    if not resume_checked:
        check_batch_resume(
            template, rows, out, resume, variables=variables, sampling=sampling, system=system,
            examples_as=examples_as, input_field=input_field,
        )  # fmt: skip
    generation = params or template.generation_params()
    declared = set(template.variable_names)
    shared = shared_settings(template, variables, sampling, system, examples_as)
    model_ref = made_by(backend)["model_ref"]  # the model's file where its name is only the file's name
    rendered: dict[int, list[Message] | None] = {}

    def work(row: Row) -> dict[str, Any]:
        record, rendered[row.number] = _run_row(
            template, row, backend, generation, shared, declared, examples_as, system, input_field, model_ref
        )
        if check_interrupt is not None:
            check_interrupt()
        return record

    def seen(record: dict[str, Any]) -> None:
        assert on_record is not None
        messages = rendered.pop(record["row"], None)
        if messages is None and record.get("prompt_hash") is not None:
            # a line an earlier run could not record, recorded now without running its row again
            messages = rendered_again(template, record, examples_as, system)
        on_record(record, messages)

    return run_rows(
        rows, work, out=out, resume=resume, force=force, progress=progress, stdout=stdout,
        on_record=seen if on_record is not None else None,
        parallel=parallel, cancel=backend.cancel, conversation=conversation, turn=turn,
    )


def _run_row(
    template: PromptTemplate,
    row: Row,
    backend: Backend,
    params: GenerationParams,
    made: Mapping[str, Any],
    declared: set[str],
    examples_as: str | None,
    system: str | None,
    input_field: str | None,
    model_ref: str | None,
) -> tuple[dict[str, Any], list[Message] | None]:
    given = dict(row.values)
    text = row.input_text(input_field)
    if text is not None and not text.strip():
        # Blank text is no input, as for `prompt -t NAME ""`: taken as given, a few-shot template's
        # messages ended with its last example's answer, and the model's reply to nobody was the row's.
        text = None
        given = {k: v for k, v in given.items() if k not in ((input_field,) if input_field else DEFAULT_INPUT_FIELDS)}
    if text is not None and "input" in declared:
        given["input"] = text
    # A null field is "not given", as an empty CSV cell is: the shared -v value or the default applies.
    values = {**made["shared_vars"], **{k: v for k, v in given.items() if k in declared and v is not None}}
    # "template" on a failed line too: the file says which template every row was for (``jq .template``).
    record: dict[str, Any] = {"vars": values, **made, "prompt_hash": None, "template": template.name}
    if row.error is not None:
        return _failed(record, row.error), None
    input_variable = template.variable("input")
    needs_input = input_variable is not None and input_variable.required and values.get("input") is None
    if text is None and (input_field or needs_input):  # the same message as a tool batch's
        return _failed(record, row.missing_input(input_field)), None
    if row.params:
        record["params"] = row.params
    messages: list[Message] | None = None
    try:
        row_params = _row_params(row, params)
        messages = render_template(
            template, values, examples_as=examples_as, system=system, variables_hint=ROW_VARIABLES_HINT
        )
        record["prompt_hash"] = prompt_hash(messages)
        result = execute(template, messages, backend, row_params)
    except AssistantError as exc:  # one bad row must not end the batch ...
        failed = _failed(record, str(exc))
        # ... but a backend that fails as a whole (a refused key, no server) stops it, as a tool batch's.
        return (BackendFailure(failed) if backend_failure(exc) else failed), messages
    except Exception as exc:  # an engine's own exception type: still only this row's failure
        return _failed(record, f"{type(exc).__name__}: {exc}"), messages
    # its "template" lets --resume tell batches apart, its "model_ref" two files of one name
    return {**record, **result.to_dict(), "model_ref": model_ref}, messages


def rendered_again(
    template: PromptTemplate, record: Mapping[str, Any], examples_as: str | None, system: str | None
) -> list[Message] | None:
    """The messages a result line's row was sent, rendered again from the variables the line keeps
    (None where they no longer render): the history turn of a line written but not recorded."""
    values = record.get("vars")
    try:
        return render_template(
            template, dict(values) if isinstance(values, Mapping) else {}, examples_as=examples_as, system=system,
            variables_hint=ROW_VARIABLES_HINT,
        )  # fmt: skip
    except AssistantError:
        return None


def _row_params(row: Row, params: GenerationParams) -> GenerationParams:
    """``params`` with the row's own ``params`` over them, checked as a template's ``params`` are."""
    if not row.params:
        return params
    from .spec import parse_params

    return params.replace(**parse_params(f"row {row.number}", row.params))


def row_generation_params(record: dict[str, Any], params: GenerationParams) -> GenerationParams:
    """The parameters a result line was produced with: ``params`` under the row's own (for the history)."""
    given = record.get("params")
    return params.replace(**given) if isinstance(given, dict) and given else params


def _failed(record: dict[str, Any], error: str) -> dict[str, Any]:
    return {**record, "output": None, "answer": None, "error": error, "usage": None, "timings": None}

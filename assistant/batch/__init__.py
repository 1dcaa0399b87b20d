"""One batch runner for template and tool batches (``--batch FILE``).

:mod:`.rows` reads the input file (JSONL or CSV, the same row format for both:
an optional ``id`` kept in the results, per-row ``params``, the input text in
``text`` or ``input`` or a field named with ``--input-field``); :mod:`.runner`
runs each pending row through a caller's function, appends one JSON line per
row as it goes, resumes (``--resume``), refuses to overwrite (``--force``),
draws a progress bar on a terminal and ends with one summary line;
:mod:`.history` records the rows as one conversation, which ``--resume`` continues;
:mod:`.provenance` refuses a ``--resume`` on another model, or with other shared settings (a template
batch's ``-o``, ``-v``, ``--schema``, ``-s``, ``--examples-as``; a tool batch's parameters), than those
that wrote the lines.
"""

from .progress import ProgressBar, format_duration
from .rows import DEFAULT_INPUT_FIELDS, Row, check_input_field, read_rows
from .runner import (
    BackendFailure,
    BatchSummary,
    already_done,
    backend_failure,
    check_output,
    completed_rows,
    done_rows,
    iter_results,
    recorded_conversation,
    run_rows,
)

__all__ = [
    "DEFAULT_INPUT_FIELDS",
    "BackendFailure",
    "BatchSummary",
    "ProgressBar",
    "Row",
    "already_done",
    "backend_failure",
    "check_input_field",
    "check_output",
    "completed_rows",
    "done_rows",
    "format_duration",
    "iter_results",
    "read_rows",
    "recorded_conversation",
    "run_rows",
]

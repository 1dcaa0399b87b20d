"""What made a results file's lines, so ``--resume`` never mixes results made two ways.

Template and tool batches alike write ``model`` and ``backend`` on every finished line. A
``--resume`` on another model would add its answers to the first model's with nothing on the
file to say the batch is two results, so it is refused once the model is loaded (the name on the
lines is the loaded backend's: a remote's served model, the reference as given), before any row runs.
A model given by path is named by its file alone (``-m /a/x.gguf`` is ``x.gguf``), so each line also
keeps ``model_ref``, the history's reference for loading it again
(:func:`~assistant.history.model_refs.model_ref_of`: the absolute path, null where the name loads
it): ``/b/x.gguf`` is another model than ``/a/x.gguf``, though both are ``x.gguf``.

The same holds for the settings a batch shares across its rows (a template batch's ``-o``, ``-v``,
``--schema``, ``-s`` and ``--examples-as``; a tool batch's parameters): :func:`check_resume_made` is the one test
of "a finished line of this file recorded another value", run before the model loads, with one
message naming what differs. Which kind of batch wrote a file (a tool's, a template's) is
:func:`check_resume_kind`'s, for both.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Collection, Iterator, Mapping

from ..errors import ConfigError
from .runner import done_lines, iter_results

if TYPE_CHECKING:
    from ..backends.base import Backend
    from .rows import Row

_ABSENT = object()
"""A setting a line (or this run) does not have, as against one set to null."""

SHOWN_LIMIT = 60
"""The most characters of one value an error line shows (a ``-v NAME=@file`` value is a whole file)."""


def made_by(backend: Backend | None) -> dict[str, Any]:
    """The ``model``, ``backend`` and ``model_ref`` of a result line (null for a tool that uses no model)."""
    if backend is None:
        return {"model": None, "backend": None, "model_ref": None}
    from ..history.model_refs import model_ref_of

    return {"model": backend.model_name, "backend": backend.name, "model_ref": model_ref_of(backend)}


def finished_lines(out: Path | None, resume: bool) -> Iterator[dict[str, Any]]:
    """The lines of ``out`` whose rows ``--resume`` keeps (those without an ``error``); none unless resuming.

    A failed row is run again, so what made its line does not matter.
    """
    if not resume or out is None or not out.exists():
        return
    for record in iter_results(out):
        if record.get("error") is None:
            yield record


def line_input(record: Mapping[str, Any]) -> str | None:
    """What a result line's row said: a tool batch's ``input``, a template batch's ``input`` variable.

    Not a template's other variables: one may be used only in the system prompt, which is not the
    turn's user text, and a batch of the right conversation would be taken for another's."""
    text = record.get("input")
    if not isinstance(text, str):
        variables = record.get("vars")
        text = variables.get("input") if isinstance(variables, dict) else None
    return text if isinstance(text, str) and text.strip() else None


def check_resume_inputs(rows: list[Row], out: Path | None, resume: bool, input_field: str | None) -> None:
    """Refuse a ``--resume`` where a finished row's line records another input than the row now has.

    Rows are matched with their lines by ``id``, else by number
    (:func:`~assistant.batch.runner.done_rows`): a row inserted at the top of a file without ids,
    or a row's text corrected, and every finished line after it was kept as the result of the row
    now standing at its number, with another text — each line's input (:func:`line_input`) said
    so, and nothing else did. Compared where both the line and the row have an input text (a
    template's ``-v input=…`` fills rows without one; a line of an older version may have none).
    A results file none of whose finished lines is a row of ``rows`` is another batch's: refused too.
    """
    if not resume or out is None or not out.exists():
        return
    by_number = {row.number: row for row in rows}
    done = done_lines(rows, out)
    if not done and (finished := sum(1 for _ in finished_lines(out, resume))):
        # Not one finished line is a row of the --batch file (each row has an "id" no line names): the results of
        # another --batch file, which the resume appended to and went on with in that batch's conversation.
        raise ConfigError(
            f"--resume: none of the {finished} finished line(s) in {out} is a row of this --batch file (rows are "
            "matched by their \"id\", else by number): it holds another batch's results; --force to start it "
            "again, or choose another --out"
        )
    for number, line in done.items():
        there, here = line_input(line), by_number[number].input_text(input_field)
        if there is not None and here is not None and here.strip() and there != here:
            raise ConfigError(
                f"--resume: row {number}'s finished line in {out} ran on {_clipped(there)}, the row now says "
                f"{_clipped(here)}: the --batch file changed since (rows are matched by their \"id\", else by "
                "number); --force to run every row again, or choose another --out"
            )


def _clipped(text: str) -> str:
    """An input as an error line quotes it: as JSON, at most :data:`SHOWN_LIMIT` characters."""
    shown = as_json(text)
    return shown if len(shown) <= SHOWN_LIMIT else shown[: SHOWN_LIMIT - 2] + '…"'


def line_maker(record: Mapping[str, Any]) -> tuple[str, str | None] | None:
    """What kind of batch wrote a result line: ``("tool", name)``, ``("template", name)`` (the name
    None on a line that does not say it), or None for a line of an older version that says neither."""
    if record.get("tool") is not None:
        return "tool", str(record["tool"])
    if isinstance(record.get("template"), str):
        return "template", record["template"]
    if "prompt_hash" in record or "vars" in record:
        return "template", None
    return None


def check_resume_kind(out: Path | None, resume: bool, kind: str, name: str) -> None:
    """Refuse a ``--resume`` onto the results of another tool or template (``kind`` and ``name``: this run's).

    ``--resume`` keeps the finished lines and runs only the rest: onto a sentiment tool's file a
    template batch found every row done; onto another template's or tool's, two kinds of answer
    shared one file with nothing to tell them apart.
    """
    for record in finished_lines(out, resume):
        found = line_maker(record)
        if found is None or found == (kind, name):
            continue
        other_kind, other = found
        if kind == "tool":
            held = (
                f"holds a template batch's results, not tool {name!r}'s" if other_kind == "template"
                else f"holds results of tool {other!r}, not {name!r}"
            )
        elif other_kind == "tool":
            held = f"holds results of tool {other!r}, not of template {name!r}"
        elif other is None:
            continue  # a template's line that does not name its template: nothing to compare
        else:
            held = f"holds results of template {other!r}, not {name!r}"
        raise ConfigError(f"--resume: {out} {held}; choose another --out")


def check_resume_model(out: Path | None, resume: bool, backend: Backend | None) -> None:
    """Refuse a ``--resume`` on another model than the one the finished lines of ``out`` came from.

    A catalog alias counts as its entry (:func:`model_key`). A batch half answered by one model
    and half by another, with nothing on the lines to tell which, is not one result. Two files of
    one name differ by their ``model_ref`` (:func:`made_by`); a line without the field (an older
    version's) is compared by name alone. One file named two ways (``-m smollm2``, then
    ``-m ~/.local/share/assistant/models/SmolLM2-….gguf``) is one model (:func:`_one_file`).
    """
    if backend is None:
        return
    here = made_by(backend)
    seen: set[tuple[str, str, str]] = set()  # what was already compared: a batch repeats one model
    for record in finished_lines(out, resume):
        if record.get("model") is None:
            continue  # a line of an older version says nothing
        there = {"model": record.get("model"), "backend": record.get("backend")}
        there["model_ref"] = record["model_ref"] if "model_ref" in record else here["model_ref"]
        key = (str(there["model"]), str(there["backend"]), str(there["model_ref"]))  # all that is compared
        if key in seen:
            continue
        seen.add(key)
        same = model_key(there) == model_key(here) and _same_file(there["model_ref"], here["model_ref"])
        if not same and not ("model_ref" in record and _one_file(there, here)):
            raise ConfigError(
                f"--resume: the rows in {out} ran on {_model_shown(there)} ({there['backend']}), this run on "
                f"{_model_shown(here)} ({here['backend']}); resume with that model, or --force to start again, "
                "or choose another --out"
            )


def _same_file(there: Any, here: str | None) -> bool:
    """Whether a line's ``model_ref`` and this run's name one model: equal, or one file by two paths."""
    if there == here:
        return True
    if not isinstance(there, str) or here is None:
        return False
    try:
        return os.path.samefile(there, here)
    except (OSError, ValueError):  # a file gone since, or a name no file system takes
        return False


def _one_file(there: Mapping[str, Any], here: Mapping[str, Any]) -> bool:
    """Whether a line and this run, named differently, ran one backend on one file of this machine.

    Each side's file is its ``model_ref``, else the one its name loads without a download (a
    catalog model's, a file of the models directory: :func:`~assistant.models.refs.files_here`).
    Only for a line that records ``model_ref``: an older version's path-given model kept its file
    name alone, which could name a file of the current directory.
    """
    if there["backend"] != here["backend"]:
        return False
    there_file, here_file = _file_of(there), _file_of(here)
    return there_file is not None and here_file is not None and _same_file(there_file, here_file)


def _file_of(made: Mapping[str, Any]) -> str | None:
    """Where a line's model is on this machine (no network), or None when that is not known."""
    ref = made.get("model_ref")
    if isinstance(ref, str) and ref:
        return ref
    from ..errors import AssistantError
    from ..models.refs import files_here, parse

    try:
        found = files_here(parse(str(made["model"])))
    except (AssistantError, OSError):  # a server's model name, a reference of nothing here
        return None
    return str(found) if found is not None else None


def _model_shown(made: Mapping[str, Any]) -> str:
    """The model as an error line names it: its path where the name alone is ambiguous (``x.gguf``)."""
    ref = made.get("model_ref")
    return ref if isinstance(ref, str) and ref else str(made["model"])


def check_resume_made(
    out: Path | None,
    resume: bool,
    made: Mapping[str, Any],
    flags: Mapping[str, str],
    *,
    partial: Collection[str] = (),
    whole: Collection[str] = (),
    compared: Callable[[dict[str, Any]], bool] | None = None,
    as_now: Callable[[str, Any], Any] | None = None,
) -> list[str]:
    """Refuse a ``--resume`` when a finished line of ``out`` recorded one of ``made``'s settings otherwise.

    The one test of "this results file was made by the same run" for template and tool batches.
    ``made`` maps a line's field to what this run has under it: a mapping of settings
    (``sampling``: ``{"temperature": 0.2}``), compared setting by setting, or one value (``system``:
    the ``-s`` text, null when not given; a field in ``whole``, such as a JSON schema, is one value
    even when it is an object). ``flags`` maps the field to the option that gives it
    (``-o``; ``""`` for settings named as they are given, a tool's ``labels=…``), for the message.
    Values compare as their JSON (a tuple and the list read back are one value; ``1`` and ``true`` are
    not), a set-valued setting (:data:`SET_VALUED`) in any order. The error names the first setting
    that differs.

    A field in ``partial`` is compared only on the settings both sides name: it records every
    setting, defaults included (a tool's parameters), so one named on one side alone is another
    version's parameter, not another value. ``compared(line)`` says which finished lines are
    compared at all (a tool row with its own ``params`` ran with other settings by design).
    ``as_now(field, value)`` gives a recorded value as this version spells it (a tool's ``to=fr``,
    recorded before its check named it "French"), so a file an older version wrote resumes.

    Returns the fields some compared line does not record (an older version wrote it), in
    ``made``'s order: nothing on it to compare, which the caller may say.
    """
    unrecorded: set[str] = set()
    passed: dict[str, Any] = {}  # per field, a value already found the same as this run's
    settings_of = {field: isinstance(here, Mapping) and field not in whole for field, here in made.items()}
    for record in finished_lines(out, resume):
        if compared is not None and not compared(record):
            continue
        for field, here in made.items():
            settings = settings_of[field]
            if not (isinstance(record.get(field), dict) if settings else field in record):
                unrecorded.add(field)
                continue
            recorded = record[field]
            if field in passed and _identical(recorded, passed[field]):
                continue  # the lines of one batch repeat one value: compared once, not 100,000 times
            there = recorded if as_now is None else as_now(field, recorded)
            difference = (
                _difference(field, there, here, field in partial)
                if settings
                else (None if _comparable(field, there) == _comparable(field, here) else (None, there, here))
            )
            if difference is None:
                passed[field] = recorded
            else:
                name, old, new = difference
                flag = flags.get(field, field)
                raise ConfigError(
                    f"--resume: the rows in {out} ran with {_setting(flag, name, old)}, this run has "
                    f"{_setting(flag, name, new)}; give the same, or --force to start again, or choose another --out"
                )
    return [field for field in made if field in unrecorded]


def _identical(a: Any, b: Any) -> bool:
    """Whether two values read from JSON are the same JSON: equal, and of the same types throughout
    (Python's ``1 == True == 1.0`` is three JSON values)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_identical(value, b[key]) for key, value in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(map(_identical, a, b))
    return bool(a == b)


SET_VALUED: Mapping[str, frozenset[str]] = {"sampling": frozenset({"stop"})}
"""Per line field, the settings whose value is a set in meaning, compared in any order and without
repeats: a reply ends where any stop sequence comes, whichever ``-o stop=…`` was given first."""


def as_json(value: Any) -> str:
    """A value as its results-file JSON, for comparing what a line recorded with this run's."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _comparable(field: str, value: Any, name: str | None = None) -> str:
    """``value`` as compared on ``--resume``: its JSON, a set-valued setting's items sorted and unique."""
    if name is not None and name in SET_VALUED.get(field, ()) and isinstance(value, (list, tuple)):
        return as_json(sorted({as_json(item) for item in value}))
    return as_json(value)


def _difference(
    field: str, there: Mapping[str, Any], here: Mapping[str, Any], partial: bool
) -> tuple[str, Any, Any] | None:
    for name in sorted(set(there) | set(here)):
        old, new = there.get(name, _ABSENT), here.get(name, _ABSENT)
        if old is _ABSENT or new is _ABSENT:
            if partial:
                continue
            return name, old, new
        if _comparable(field, old, name) != _comparable(field, new, name):
            return name, old, new
    return None


def _setting(flag: str, name: str | None, value: Any) -> str:
    """``-o temperature=0.2``, ``no -o temperature``, ``labels=a,b`` (no flag), ``-s 'text'`` (no name)."""
    option = " ".join(part for part in (flag, name) if part)
    if value is _ABSENT or (name is None and value is None):
        return f"no {option}"
    if isinstance(value, (list, tuple)):  # as given: -o stop=a -o stop=b, --labels a,b
        shown = ",".join(item if isinstance(item, str) else as_json(item) for item in value)
    else:
        shown = value if isinstance(value, str) else as_json(value)
    if len(shown) > SHOWN_LIMIT:
        shown = shown[: SHOWN_LIMIT - 1] + "…"
    return f"{option}={shown}" if name is not None else f"{option} {shlex.quote(shown)}"


def model_key(made: dict[str, Any]) -> tuple[str, str]:
    """A line's model and backend, a catalog alias read as its entry's name (``smollm2`` is
    ``smollm2-135m-instruct``), so the same model named two ways is one model."""
    from ..models.catalog import find_entry

    name = str(made["model"])
    entry = find_entry(name)
    return (entry.name if entry is not None else name, str(made["backend"]))

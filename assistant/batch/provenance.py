"""What made a results file's lines, so ``--resume`` never mixes results made two ways.

Template and tool batches alike write ``model`` and ``backend`` on every finished line. A
``--resume`` on another model would add its answers to the first model's with nothing on the
file to say the batch is two results, so it is refused once the model is loaded (the name on the
lines is the loaded backend's: a remote's served model, the reference as given), before any row runs.

The same holds for the settings a batch shares across its rows (a template batch's ``-o`` and
``-v`` values): :func:`check_resume_made` is the one test of "a finished line of this file
recorded another value", run before the model loads, with one message naming what differs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from ..errors import ConfigError
from .runner import iter_results

if TYPE_CHECKING:
    from ..backends.base import Backend

_ABSENT = object()
"""A setting a line (or this run) does not have, as against one set to null."""

SHOWN_LIMIT = 60
"""The most characters of one value an error line shows (a ``-v NAME=@file`` value is a whole file)."""


def made_by(backend: Backend | None) -> dict[str, Any]:
    """The ``model`` and ``backend`` of a result line (null for a tool that uses no model)."""
    return {"model": backend.model_name if backend else None, "backend": backend.name if backend else None}


def finished_lines(out: Path | None, resume: bool) -> Iterator[dict[str, Any]]:
    """The lines of ``out`` whose rows ``--resume`` keeps (those without an ``error``); none unless resuming.

    A failed row is run again, so what made its line does not matter.
    """
    if not resume or out is None or not out.exists():
        return
    for record in iter_results(out):
        if record.get("error") is None:
            yield record


def check_resume_model(out: Path | None, resume: bool, backend: Backend | None) -> None:
    """Refuse a ``--resume`` on another model than the one the finished lines of ``out`` came from.

    A catalog alias counts as its entry (:func:`model_key`). A batch half answered by one model
    and half by another, with nothing on the lines to tell which, is not one result.
    """
    if backend is None:
        return
    here = made_by(backend)
    for record in finished_lines(out, resume):
        if record.get("model") is None:
            continue  # a line of an older version says nothing
        there = {"model": record.get("model"), "backend": record.get("backend")}
        if model_key(there) != model_key(here):
            raise ConfigError(
                f"--resume: the rows in {out} ran on {there['model']} ({there['backend']}), this run on "
                f"{here['model']} ({here['backend']}); resume with that model, or --force to start again, "
                "or choose another --out"
            )


def check_resume_made(out: Path | None, resume: bool, made: Mapping[str, Mapping[str, Any]], flags: Mapping[str, str]) -> bool:
    """Refuse a ``--resume`` when a finished line of ``out`` recorded one of ``made``'s settings otherwise.

    ``made`` maps a line's field (``sampling``) to this run's settings under it (``{"temperature":
    0.2}``); ``flags`` maps the field to the option that gives them (``-o``), for the message. Values
    compare as their JSON (a tuple and the list read back are one value; ``1`` and ``true`` are not).
    The error names the first setting that differs. Returns True when some finished line has none of
    the fields (an older version wrote it): nothing on it to compare, which the caller says.
    """
    unrecorded = False
    for record in finished_lines(out, resume):
        recorded = [field for field in made if isinstance(record.get(field), dict)]
        if not recorded:
            unrecorded = True
            continue
        for field in recorded:
            difference = _difference(record[field], made[field])
            if difference is not None:
                name, there, here = difference
                flag = flags.get(field, field)
                raise ConfigError(
                    f"--resume: the rows in {out} ran with {_setting(flag, name, there)}, this run has "
                    f"{_setting(flag, name, here)}; give the same, or --force to start again, or choose another --out"
                )
    return unrecorded


def as_json(value: Any) -> str:
    """A value as its results-file JSON, for comparing what a line recorded with this run's."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _difference(there: Mapping[str, Any], here: Mapping[str, Any]) -> tuple[str, Any, Any] | None:
    for name in sorted(set(there) | set(here)):
        old, new = there.get(name, _ABSENT), here.get(name, _ABSENT)
        if old is _ABSENT or new is _ABSENT or as_json(old) != as_json(new):
            return name, old, new
    return None


def _setting(flag: str, name: str, value: Any) -> str:
    if value is _ABSENT:
        return f"no {flag} {name}"
    shown = value if isinstance(value, str) else as_json(value)
    if len(shown) > SHOWN_LIMIT:
        shown = shown[: SHOWN_LIMIT - 1] + "…"
    return f"{flag} {name}={shown}"


def model_key(made: dict[str, Any]) -> tuple[str, str]:
    """A line's model and backend, a catalog alias read as its entry's name (``smollm2`` is
    ``smollm2-135m-instruct``), so the same model named two ways is one model."""
    from ..models.catalog import find_entry

    name = str(made["model"])
    entry = find_entry(name)
    return (entry.name if entry is not None else name, str(made["backend"]))

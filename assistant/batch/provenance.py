"""Which model made a results file's lines, so ``--resume`` never mixes two models' results.

Template and tool batches alike write ``model`` and ``backend`` on every finished line. A
``--resume`` on another model would add its answers to the first model's with nothing on the
file to say the batch is two results, so it is refused once the model is loaded (the name on the
lines is the loaded backend's: a remote's served model, the reference as given), before any row runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .runner import iter_results

if TYPE_CHECKING:
    from ..backends.base import Backend


def made_by(backend: Backend | None) -> dict[str, Any]:
    """The ``model`` and ``backend`` of a result line (null for a tool that uses no model)."""
    return {"model": backend.model_name if backend else None, "backend": backend.name if backend else None}


def check_resume_model(out: Path | None, resume: bool, backend: Backend | None) -> None:
    """Refuse a ``--resume`` on another model than the one the finished lines of ``out`` came from.

    A catalog alias counts as its entry (:func:`model_key`). A batch half answered by one model
    and half by another, with nothing on the lines to tell which, is not one result.
    """
    if not resume or out is None or backend is None or not out.exists():
        return
    here = made_by(backend)
    for record in iter_results(out):
        if record.get("error") is not None or record.get("model") is None:
            continue  # a failed row re-runs; a line of an older version says nothing
        there = {"model": record.get("model"), "backend": record.get("backend")}
        if model_key(there) != model_key(here):
            raise ConfigError(
                f"--resume: the rows in {out} ran on {there['model']} ({there['backend']}), this run on "
                f"{here['model']} ({here['backend']}); resume with that model, or --force to start again, "
                "or choose another --out"
            )


def model_key(made: dict[str, Any]) -> tuple[str, str]:
    """A line's model and backend, a catalog alias read as its entry's name (``smollm2`` is
    ``smollm2-135m-instruct``), so the same model named two ways is one model."""
    from ..models.catalog import find_entry

    name = str(made["model"])
    entry = find_entry(name)
    return (entry.name if entry is not None else name, str(made["backend"]))

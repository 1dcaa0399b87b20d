"""What the pickers (settings panel, command palette) offer: models, backends, templates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SettingsOptions:
    """What the pickers offer, as (label, value) pairs."""

    models: list[tuple[str, str]]
    backends: list[tuple[str, str]]
    templates: list[tuple[str, str]]


def model_choices() -> list[tuple[str, str]]:
    """Every model by the names ``assistant models list`` shows (catalog, pulled, local files)."""
    from ..models.inventory import inventory

    choices: list[tuple[str, str]] = []
    for row in inventory(read_headers=False):
        marks = [mark for mark, on in (("not downloaded", not row.installed), ("base", row.base)) if on]
        choices.append((row.name + (f" ({', '.join(marks)})" if marks else ""), row.name))
    return choices


def picker_name(model: str) -> str:
    """The picker's name for ``model`` as configured (``smollm2`` → ``smollm2-135m-instruct``)."""
    from ..errors import AssistantError
    from ..models.inventory import find_row

    try:
        return find_row(model).name
    except AssistantError:
        return model


def same_model(first: str, second: str) -> bool:
    """Whether two references name one model (``smollm2`` and ``smollm2-135m-instruct`` do).

    The chat keeps the name the user gave (``-m smollm2``, the config's default),
    while the pickers list a model by its inventory name: compared as strings,
    the model already loaded looked like another one, so the palette offered to
    load it again under the other name, and the token view refused to score the
    replies it had written.
    """
    return first == second or (bool(first) and bool(second) and picker_name(first) == picker_name(second))


def shown_model(backend: Any) -> str:
    """The loaded model as the status line names it: a file outside the models directory with its folder.

    The engine names a model loaded from a path by its file name alone, so two ``m.gguf`` in two
    folders (a conversation reopened from the sidebar loads the one it was written with) read the
    same. The file name comes first: a narrow status line cuts the folder, not the name.
    """
    import os

    from ..history.model_refs import model_ref_of

    name = backend.model_name
    path = model_ref_of(backend)
    if path is None:
        return name
    folder, home = os.path.dirname(path), os.path.expanduser("~")
    if home not in ("", "~", os.sep) and (folder == home or folder.startswith(home + os.sep)):
        folder = "~" + folder[len(home) :]
    return f"{name} from {folder}"


def backend_choices() -> list[tuple[str, str]]:
    from ..backends import available_backends

    return [
        (f"{name} — {info.description}" if info.description else name, name)
        for name, info in available_backends().items()
    ]

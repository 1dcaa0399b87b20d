"""What the pickers (settings panel, command palette) offer: models, backends, templates."""

from __future__ import annotations

from dataclasses import dataclass


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


def backend_choices() -> list[tuple[str, str]]:
    from ..backends import available_backends

    return [
        (f"{name} — {info.description}" if info.description else name, name)
        for name, info in available_backends().items()
    ]

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
    """Catalog models (marked when downloaded) and other model files in the models dir."""
    from ..config import paths
    from ..models import CATALOG

    choices: list[tuple[str, str]] = []
    known_files = set()
    for entry in CATALOG:
        known_files.add(entry.filename)
        mark = "" if entry.installed else " (not downloaded)"
        short = entry.aliases[0] if entry.aliases else entry.name
        choices.append((f"{short}{mark}", short))
    models_dir = paths().models_dir
    if models_dir.is_dir():
        for path in sorted(models_dir.glob("*.gguf")):
            if path.name not in known_files:
                choices.append((path.name, str(path)))
    return choices


def backend_choices() -> list[tuple[str, str]]:
    from ..backends import available_backends

    return [
        (f"{name} — {info.description}" if info.description else name, name)
        for name, info in available_backends().items()
    ]

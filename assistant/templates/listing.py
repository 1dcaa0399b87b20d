"""Listing every template on the search path, broken ones included, with what overrides what.

Apart from :mod:`.loader` because a listing loads every template (one broken
file is listed with its error instead of hiding the rest), while the loader
finds and compiles one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import TemplateError
from .loader import load_template
from .search import SUFFIX, template_dirs, template_name
from .value_checks import declaration_problem


@dataclass
class TemplateListing:
    name: str
    path: Path
    source: str
    description: str = ""
    strategy: str = ""
    error: str | None = None
    shadowed_by: str | None = None  # source of the template that overrides this one

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path),
            "source": self.source,
            "description": self.description,
            "strategy": self.strategy,
            "error": self.error,
            "shadowed_by": self.shadowed_by,
        }


def list_templates(include_shadowed: bool = False) -> list[TemplateListing]:
    """Templates in search order; a broken one is listed with its error instead of hiding the rest."""
    dirs = template_dirs()
    winners: dict[str, str] = {}
    out: list[TemplateListing] = []
    for directory in dirs:
        if not directory.path.is_dir():
            continue
        for path in sorted(directory.path.glob(f"*{SUFFIX}")):
            name = path.stem
            # Partials, and hidden files: an editor's lock file (emacs `.#x.jinja`, a broken link),
            # macOS's `._x.jinja` resource forks. No lookup reaches a name starting with '.'.
            if name.startswith(("_", ".")):
                continue
            shadowed_by = winners.get(name)
            if shadowed_by is not None and not include_shadowed:
                continue
            winners.setdefault(name, directory.source)
            entry = TemplateListing(name, path, directory.source, shadowed_by=shadowed_by)
            try:
                if path.name.endswith(SUFFIX * 2):  # x.jinja.jinja: no lookup could reach it by name
                    raise TemplateError(f"{path.name} ends in {SUFFIX} twice; rename it to {name}")
                template_name(name)  # any other name no lookup accepts says why
                template = load_template(str(path) if shadowed_by else name, dirs)
                entry.description, entry.strategy = template.description, template.strategy
                # a check naming no loaded tool, or a default its check refuses: unusable, so listed as such
                entry.error = declaration_problem(template)
            except TemplateError as exc:
                entry.error = str(exc)
            out.append(entry)
    return sorted(out, key=lambda e: (e.name, e.shadowed_by is not None))

"""Registers the shipped ``prompts/`` directory as the last place templates are found."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable

from ..hookspecs import hookimpl


@functools.lru_cache(maxsize=1)
def builtin_prompts_dir() -> Path:
    """``prompts/`` inside the wheel, or at the repository root in a checkout."""
    here = Path(__file__).resolve().parent.parent
    packaged = here / "_prompts"
    return packaged if packaged.is_dir() else here.parent / "prompts"


@hookimpl(trylast=True)
def register_template_dirs(register: Callable[[Path], None]) -> None:
    register(builtin_prompts_dir())

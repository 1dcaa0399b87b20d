"""The public Python API: ``from assistant import …`` as README and docs show it."""

from __future__ import annotations

import assistant


def test_every_public_name_resolves_and_is_listed_by_dir() -> None:
    for name in assistant.__all__:
        getattr(assistant, name)
    assert set(assistant.__all__) <= set(dir(assistant))

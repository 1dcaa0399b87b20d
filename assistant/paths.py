"""File names given by users: the one rule for a name that can only mean a directory.

``Path("exports/")`` drops the trailing separator, so a name written as a
directory (``--out results/``, ``--db backups/``, ``history export -o exports/``)
would otherwise create a *file* named like the directory. Every place that takes
a file name to write checks it with :func:`names_a_directory` first.
"""

from __future__ import annotations

import os


def names_a_directory(text: str | os.PathLike[str]) -> bool:
    """Whether ``text`` ends in a path separator, so it cannot name a file."""
    name = os.fspath(text)
    return name.endswith(("/", os.sep)) or (os.altsep is not None and name.endswith(os.altsep))

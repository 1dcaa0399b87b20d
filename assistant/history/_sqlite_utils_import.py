"""Import sqlite-utils without making it import numpy and pandas.

sqlite-utils imports numpy and pandas as it is imported, only to add their
scalar types to the column types it infers when it creates a table from values.
The history creates every table from an explicit schema and stores plain Python
values, so it never uses that mapping, yet numpy alone (installed for the model
backends) adds ~0.14 s to every command that opens the history and to the
chat's first frame.

While sqlite-utils is imported, :class:`SkipInThisThread` makes *this thread's*
imports of those names fail as if they were not installed; sqlite-utils catches
that and carries on without them. Other threads import them as usual, and once
numpy is imported (a backend loaded it), sqlite-utils gets it as usual. If
something sqlite-utils loads at import time (one of its own plugins) needs
them after all, the import is retried the ordinary way.
"""

from __future__ import annotations

import importlib
import sys
import threading
from types import ModuleType
from typing import TYPE_CHECKING, Iterable, Sequence

if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec

#: Optional imports of sqlite-utils that the history has no use for.
SKIPPED = ("numpy", "pandas")


class SkipInThisThread:
    """A meta-path finder under which the creating thread cannot import ``names``.

    Duck-typed: subclassing ``importlib.abc.MetaPathFinder`` would cost more
    import time (importlib.resources) than it saves elsewhere.
    """

    def __init__(self, names: Iterable[str]) -> None:
        self.names = frozenset(names)
        self.thread = threading.get_ident()

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: ModuleType | None = None,
    ) -> ModuleSpec | None:
        if fullname in self.names and threading.get_ident() == self.thread:
            message = f"No module named {fullname!r} (not needed by the history)"
            raise ModuleNotFoundError(message, name=fullname)
        return None  # not ours: the next finder looks


def import_without(module: str, skipped: Iterable[str]) -> ModuleType:
    """``import module`` while this thread cannot import ``skipped``, unless already imported.

    If ``module`` fails to import that way (it needs one of them after all),
    it is imported the ordinary way.
    """
    already = sys.modules.get(module)
    if already is not None:
        return already
    finder = SkipInThisThread(name for name in skipped if name not in sys.modules)
    sys.meta_path.insert(0, finder)
    try:
        try:
            return importlib.import_module(module)
        finally:
            sys.meta_path.remove(finder)
    except ImportError:
        return importlib.import_module(module)


def import_sqlite_utils() -> ModuleType:
    """``import sqlite_utils``, minus the array libraries it does not need here."""
    return import_without("sqlite_utils", SKIPPED)

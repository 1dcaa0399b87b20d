"""What start-up does not import: numpy under sqlite-utils, Markdown before the first frame."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from assistant.history._sqlite_utils_import import SkipInThisThread, import_without


def _python(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_history_does_not_import_numpy() -> None:
    code = (
        "import sys\n"
        "import assistant.history\n"
        "import sqlite_utils.db\n"
        "print('numpy' in sys.modules, 'pandas' in sys.modules, sqlite_utils.db.np,\n"
        "      sys.meta_path[0].__class__.__name__)\n"
    )
    numpy, pandas, np, first_finder = _python(code).split()
    assert (numpy, pandas, np) == ("False", "False", "None")
    assert first_finder != "SkipInThisThread"  # removed once sqlite-utils is imported


def test_numpy_imported_first_is_used_by_sqlite_utils() -> None:
    code = "import numpy, assistant.history, sqlite_utils.db\nprint(sqlite_utils.db.np is numpy)\n"
    assert _python(code) == "True"


def test_history_works_without_numpy_in_sqlite_utils(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from assistant.history import HistoryStore, TurnMeta\n"
        f"store = HistoryStore.open({str(tmp_path / 'h.db')!r})\n"
        "conversation = store.create_conversation(system=None, meta=TurnMeta('m', 'fake', None, {}))\n"
        "print('numpy' in sys.modules, len(store.list_conversations()))\n"
    )
    assert _python(code) == "False 1"


@pytest.fixture
def probe_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Two modules using the stdlib's ``colorsys``: one optionally, one not."""
    (tmp_path / "probe_optional.py").write_text(
        "try:\n    import colorsys\nexcept ImportError:\n    colorsys = None\n"
    )
    (tmp_path / "probe_required.py").write_text("import colorsys\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("colorsys", "probe_optional", "probe_required"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return "colorsys"


def test_skipped_only_in_the_importing_thread(probe_modules: str) -> None:
    finder = SkipInThisThread([probe_modules])
    sys.meta_path.insert(0, finder)
    imported_elsewhere: list[object] = []
    try:
        with pytest.raises(ModuleNotFoundError):
            __import__(probe_modules)
        worker = threading.Thread(target=lambda: imported_elsewhere.append(__import__(probe_modules)))
        worker.start()
        worker.join()
    finally:
        sys.meta_path.remove(finder)
    assert imported_elsewhere and imported_elsewhere[0] is sys.modules[probe_modules]


def test_import_without_skips_an_optional_import(probe_modules: str) -> None:
    module = import_without("probe_optional", [probe_modules])
    assert module.colorsys is None
    assert probe_modules not in sys.modules
    assert not any(isinstance(finder, SkipInThisThread) for finder in sys.meta_path)


def test_import_without_falls_back_when_the_import_is_required(probe_modules: str) -> None:
    module = import_without("probe_required", [probe_modules])
    assert module.colorsys is sys.modules[probe_modules]
    assert not any(isinstance(finder, SkipInThisThread) for finder in sys.meta_path)


def test_the_chat_app_imports_markdown_only_when_needed() -> None:
    code = (
        "import sys\n"
        "import assistant.tui\n"
        "heavy = ('markdown_it', 'textual.widgets._markdown', 'pygments')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "from assistant.tui.widgets.chat_log import prefetch_markdown\n"
        "prefetch_markdown()\n"
        "print('textual.widgets._markdown' in sys.modules)\n"
    )
    assert _python(code).splitlines() == ["[]", "True"]

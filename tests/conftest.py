"""Shared fixtures.

Every test runs with ``ASSISTANT_HOME`` in a fresh temporary directory, so no test
reads or writes the user's config, history or plugins. Model files are shared
(``ASSISTANT_MODELS_DIR``): ``make test`` pulls them before pytest runs, and the
real-model tests fail (not skip) when they are missing, so CI cannot go green
without exercising them.
"""

from __future__ import annotations

import functools
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from assistant.config import paths

REAL_MODELS_DIR = Path(os.environ.get("ASSISTANT_MODELS_DIR") or paths().models_dir)

try:  # hypothesis explores new examples on every local run; CI runs the same ones each time
    from hypothesis import settings as _hypothesis_settings

    _hypothesis_settings.register_profile("ci", derandomize=True, database=None)
    if os.environ.get("CI"):
        _hypothesis_settings.load_profile("ci")
except ImportError:  # hypothesis is a test dependency; its tests are skipped without it
    pass


@pytest.fixture(autouse=True)
def assistant_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    from assistant.plugins import reset_plugins

    home = tmp_path / "home"
    monkeypatch.setenv("ASSISTANT_HOME", str(home))
    monkeypatch.setenv("ASSISTANT_MODELS_DIR", str(REAL_MODELS_DIR))
    monkeypatch.setenv("ASSISTANT_OFFLINE", "1")
    for var in ("ASSISTANT_PLUGINS", "ASSISTANT_STRICT_PLUGINS", "ASSISTANT_MODEL", "ASSISTANT_BACKEND"):
        monkeypatch.delenv(var, raising=False)
    reset_plugins()
    yield home
    reset_plugins()


@pytest.fixture
def models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty models directory (``ASSISTANT_MODELS_DIR``) and conversion cache for this test."""
    directory = tmp_path / "models"
    directory.mkdir()
    monkeypatch.setenv("ASSISTANT_MODELS_DIR", str(directory))
    monkeypatch.setenv("ASSISTANT_TRANSFORMERS_CACHE", str(tmp_path / "converted"))
    return directory


@pytest.fixture
def fake_backend() -> Iterator[None]:
    """Register the deterministic fake backend under the name ``fake``."""
    from assistant.backends.fake import FakeBackendPlugin
    from assistant.plugins import register_plugin

    register_plugin(FakeBackendPlugin(), name="fake-backend-plugin")
    yield


def _model_file(name: str) -> Path:
    from assistant.models import get_entry

    entry = get_entry(name)
    path = REAL_MODELS_DIR / entry.filename
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `make test-models` (or `assistant models pull {name}`)")
    _check_llama_cpp_decodes(path)
    return path


_LLAMA_DECODE_CHECK = """
import sys, llama_cpp
llm = llama_cpp.Llama(sys.argv[1], n_ctx=64, verbose=False)
llm.eval(llm.tokenize(b"one two three four"))
"""


@functools.cache
def _check_llama_cpp_decodes(path: Path) -> None:
    """Fail clearly if this llama.cpp build crashes on a prompt of more than one token.

    A crash inside llama.cpp takes the whole pytest process down with it, with
    no word of which test or why; checked once per model, in a process of its
    own, it is one clear failure instead (seen: AMX kernels on Intel Xeon VMs).
    """
    done = subprocess.run(
        [sys.executable, "-c", _LLAMA_DECODE_CHECK, str(path)], capture_output=True, text=True, timeout=120
    )
    if done.returncode < 0:
        pytest.fail(
            f"llama-cpp-python was killed by {signal.Signals(-done.returncode).name} evaluating a short prompt "
            f"with {path.name}: rebuild it with `make rebuild-llama` (the Makefile leaves out the CPU kernels "
            "that crashed here before)"
        )


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    return _model_file("smollm2")


@pytest.fixture(scope="session")
def gemma_path() -> Path:
    return _model_file("gemma3-270m")


REPO_ROOT = Path(__file__).resolve().parent.parent


def run_cli(
    *args: str, input: str | bytes | None = None, env: dict[str, str] | None = None, timeout: float = 300
) -> "subprocess.CompletedProcess[str]":
    """Run ``python -m assistant ARGS`` in a subprocess against this checkout.

    Uses the test's ``ASSISTANT_HOME`` (inherited from os.environ). Returns the
    completed process with text stdout/stderr.
    """
    import subprocess
    import sys

    full_env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})}
    data = input.encode() if isinstance(input, str) else input
    proc = subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        input=data if data is not None else b"",
        capture_output=True,
        env=full_env,
        timeout=timeout,
    )
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")
    )


FAKE_BACKEND_PLUGIN_SOURCE = """\
from assistant.backends.fake import FakeBackendPlugin

_plugin = FakeBackendPlugin()
register_backends = _plugin.register_backends
"""


@pytest.fixture
def fake_backend_plugin_file(assistant_home: Path) -> Path:
    """Make the ``fake`` backend available to subprocess CLI runs (``run_cli``).

    Writes a user plugin file into the test's ``<ASSISTANT_HOME>/config/plugins``,
    which every ``python -m assistant`` started with that home loads.
    """
    plugin_dir = assistant_home / "config" / "plugins"
    plugin_dir.mkdir(parents=True, exist_ok=True)
    path = plugin_dir / "fake_backend.py"
    path.write_text(FAKE_BACKEND_PLUGIN_SOURCE, encoding="utf-8")
    return path


@pytest.fixture
def fakes() -> list:  # list[FakeBackend]
    """The fake backend registered as ``fake`` in this process; every instance the CLI loads a model into is
    kept to look at, in the order they were loaded (one made only to read its capabilities is not)."""
    from assistant.backends.fake import FakeBackend, FakeBackendPlugin
    from assistant.plugins import register_plugin

    made: list[FakeBackend] = []

    def factory() -> FakeBackend:
        return recorded_on_load(FakeBackend(), made)

    register_plugin(FakeBackendPlugin(factory), name="fake-recorded")
    return made


def recorded_on_load(backend: Any, made: list) -> Any:
    """``backend``, appended to ``made`` when a model is loaded into it."""
    load = backend.load

    def recording_load(model: str, **options: Any) -> None:
        made.append(backend)
        load(model, **options)

    backend.load = recording_load
    return backend


# ---- prompt templates (issue 4) -----------------------------------------------------


@pytest.fixture
def user_templates(assistant_home: Path) -> Path:
    """The user templates directory of the test's ASSISTANT_HOME (created)."""
    directory = assistant_home / "config" / "templates"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture
def write_file() -> Callable[[Path, str, str], Path]:
    """``write_file(directory, name, text)``: write dedented text, creating directories."""
    import textwrap

    def write(directory: Path, name: str, text: str) -> Path:
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write


# Converted GGUF -> safetensors copies (transformers backend) are shared like model
# files, so each machine converts a model once, not once per test run.
REAL_TRANSFORMERS_CACHE = Path(
    os.environ.get("ASSISTANT_TRANSFORMERS_CACHE") or paths().cache_dir / "transformers"
)


@pytest.fixture(scope="session", autouse=True)
def shared_transformers_cache() -> Iterator[Path]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ASSISTANT_TRANSFORMERS_CACHE", str(REAL_TRANSFORMERS_CACHE))
        yield REAL_TRANSFORMERS_CACHE


@pytest.fixture
def lock_on(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], list[sqlite3.Connection]]:
    """Another program takes the history database just as the turn of the row saying ``word`` is stored
    (once): that turn fails as a locked database does, after the row's result was made."""
    from assistant.history import resolve_db_path
    from assistant.history.store import HistoryStore

    monkeypatch.setattr("assistant.history.db.BUSY_TIMEOUT_S", 0.05)
    original = HistoryStore.start_turn
    held: list[sqlite3.Connection] = []
    words: list[str] = []

    def start_turn(self: Any, conversation_id: int, user_text: str, *args: Any, **kwargs: Any) -> Any:
        if user_text in words:
            words.remove(user_text)
            lock = sqlite3.connect(resolve_db_path(None), isolation_level=None)
            lock.execute("BEGIN EXCLUSIVE")
            held.append(lock)
        return original(self, conversation_id, user_text, *args, **kwargs)

    monkeypatch.setattr(HistoryStore, "start_turn", start_turn)

    def arm(word: str) -> list[sqlite3.Connection]:
        words.append(word)
        return held

    return arm

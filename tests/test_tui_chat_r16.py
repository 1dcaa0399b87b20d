"""The chat app as a demanding user found it (round 16): each test failed before its fix."""

from __future__ import annotations

import importlib
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("textual")

from .conftest import REPO_ROOT  # noqa: E402
from .tui_support import make_app, run_pilot, wait_until  # noqa: E402


def _kept_drafts() -> list[str]:
    import json

    from assistant.tui.remembered import drafts_path

    path = drafts_path()
    return list(json.loads(path.read_text(encoding="utf-8")).values()) if path.exists() else []


# ---- 1. chat.py split by job: no module of the app past ~500 lines ---------------------------------
def test_the_chat_screen_is_split_by_job_and_keeps_every_handler() -> None:
    """chat.py held the layout, model loading and the send / stream flow in 595 lines; the loading
    and the reply flow are mixins of their own, and the screen still has each of their handlers.
    No module of the app is past ~500 lines."""
    from assistant.tui.screens import chat
    from assistant.tui.screens.chat_loading import ModelLoading
    from assistant.tui.screens.chat_replies import ReplyFlow

    screen = chat.ChatScreen
    assert issubclass(screen, ModelLoading) and issubclass(screen, ReplyFlow)
    for name in ("on_model_loaded", "on_model_load_failed", "on_reply_progress", "on_reply_finished", "send"):
        assert callable(getattr(screen, name))
    tui = Path(chat.__file__).parent.parent
    for path in tui.rglob("*.py"):  # chat_log.py (583) and token_view.py (560) were split as well
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 520, path.relative_to(tui)


# ---- 2. a quit signal: the draft kept, and the exit status of a killed program ----------------------
def _spawn_chat_in_a_pty(home: Path) -> tuple[Any, int, list[bytes], threading.Thread]:
    """``assistant chat -b fake`` in a pseudo-terminal (it refuses to run without one); its output is read
    on a thread, so the app never blocks on a full terminal."""
    import pty
    import subprocess

    master, slave = pty.openpty()
    os.set_blocking(master, True)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "ASSISTANT_HOME": str(home), "TERM": "xterm-256color"}
    env.pop("TEXTUAL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant", "chat", "-b", "fake", "-m", "fake"],
        stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True, start_new_session=True,
    )  # fmt: skip
    os.close(slave)
    seen: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # the app exited: the pty closed
                return
            if not data:
                return
            seen.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return proc, master, seen, reader


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="needs a Unix pseudo-terminal")
@pytest.mark.parametrize("name, status", [("SIGTERM", 143), ("SIGHUP", 129)])
def test_a_quit_signal_exits_as_killed_and_keeps_the_draft(
    assistant_home: Path, fake_backend_plugin_file: Path, name: str, status: int
) -> None:
    """``kill`` of a running chat kept the message being written, and then exited with status 0, as if
    the user had quit: a script or service manager could not tell. It exits with 128 + the signal."""
    import subprocess

    proc, master, seen, reader = _spawn_chat_in_a_pty(assistant_home)
    try:
        # Drawn and the model loaded: the status line says so (the only wait; no timing asserted).
        deadline_polls = 0
        while b"fake on fake" not in b"".join(seen) and proc.poll() is None and deadline_polls < 1200:
            threading.Event().wait(0.05)
            deadline_polls += 1
        assert proc.poll() is None, b"".join(seen).decode("utf-8", "replace")[-2000:]
        os.write(master, "a draft to keep \u4e16".encode())
        while b"a draft to keep" not in b"".join(seen) and deadline_polls < 1400:
            threading.Event().wait(0.05)
            deadline_polls += 1
        proc.send_signal(getattr(signal, name))
        returncode = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    finally:
        reader.join(timeout=10)
        os.close(master)
    assert returncode == status, b"".join(seen).decode("utf-8", "replace")[-2000:]
    assert _kept_drafts() == ["a draft to keep \u4e16"]


def test_a_signal_caught_before_the_app_is_up_quits_once_it_is_keeping_the_old_draft() -> None:
    """A signal before the screen was up ended the process on the spot (or, once the loop had it, quit
    with an empty box before the draft kept last time was back in it, forgetting that draft). It is
    recorded, the app quits as soon as the draft is in the box, keeps it again, and reports 128 + N."""
    from assistant.tui.quit_signals import QuitSignals

    first = make_app(reply="ok")

    async def leave_a_draft(pilot: Any) -> None:
        first.chat_screen.prompt_input.load_text("left from last time")
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: not first.is_running, what="the app to quit")

    run_pilot(first, leave_a_draft)
    assert _kept_drafts() == ["left from last time"]

    before = signal.getsignal(signal.SIGTERM)
    signals = QuitSignals()
    signals.catch()  # as ChatApp.run does before Textual starts
    try:
        os.kill(os.getpid(), signal.SIGTERM)  # recorded, not acted on: the app is not up yet
        assert signals.received == signal.SIGTERM
        app = make_app(reply="ok")
        app.quit_signals = signals

        async def scenario(pilot: Any) -> None:
            await wait_until(pilot, lambda: not app.is_running, what="the app to quit on its own")

        scenario.no_wait = True  # type: ignore[attr-defined]
        run_pilot(app, scenario)
    finally:
        signals.release()
    assert signals.exit_status == 143
    assert _kept_drafts() == ["left from last time"]
    assert signal.getsignal(signal.SIGTERM) == before


def test_quitting_while_the_engine_module_is_still_being_imported_is_no_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Ctrl+Q (or a signal) in the first second, while the loading thread still imported the engine
    process module, ended the app in a traceback: the controller found the module half initialised
    ("has no attribute 'abort_loads'"). It waits for that import and ends the load under way."""
    from assistant.tui import controller as controller_module

    name = "tui_chat_r16_slow_engine"
    (tmp_path / f"{name}.py").write_text(
        "import builtins\n"
        "builtins._r16_importing.set()\n"
        "builtins._r16_release.wait()\n"
        "def abort_loads():\n"
        "    builtins._r16_aborted.append(True)\n"
        "    return 1\n",
        encoding="utf-8",
    )
    import builtins

    importing, release, aborted = threading.Event(), threading.Event(), []
    monkeypatch.setattr(builtins, "_r16_importing", importing, raising=False)
    monkeypatch.setattr(builtins, "_r16_release", release, raising=False)
    monkeypatch.setattr(builtins, "_r16_aborted", aborted, raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(controller_module, "ENGINE_PROCESS_MODULE", name, raising=False)
    monkeypatch.delitem(sys.modules, name, raising=False)

    loader = threading.Thread(target=importlib.import_module, args=(name,), daemon=True)
    loader.start()
    assert importing.wait(timeout=60)  # the module is in sys.modules, half initialised

    main_id = threading.get_ident()
    finished = threading.Event()

    def release_once_the_quit_waits_for_the_import() -> None:
        from importlib import _bootstrap  # type: ignore[attr-defined]

        while not finished.is_set() and not _bootstrap._blocking_on.get(main_id):
            finished.wait(0.01)
        release.set()

    controller = make_app().controller  # before the releaser watches this thread's imports
    releaser = threading.Thread(target=release_once_the_quit_waits_for_the_import, daemon=True)
    releaser.start()
    controller._load_lock.acquire()  # a load is under way
    try:
        controller.abort_loading()
    finally:
        finished.set()
        release.set()
        controller._load_lock.release()
        loader.join(timeout=60)
        releaser.join(timeout=60)
        sys.modules.pop(name, None)
    assert aborted == [True]


# ---- 3. the token view on a tall screen: no blank rows between the tokens and their candidates -----
@pytest.mark.parametrize("size", [(200, 50), (100, 30)])
def test_a_short_reply_s_candidates_follow_its_tokens_on_a_tall_screen(size: tuple[int, int]) -> None:
    """At 200x50 a one-line reply with five candidates a step stood ~28 blank rows between the
    tokens and the candidates under them: the strip (1fr) took every row the panel left. It takes
    what the reply needs; the panel follows it under the detail line."""
    from assistant.tui.screens.token_view import TokenViewScreen
    from assistant.tui.widgets.token_panel import TokenPanel
    from assistant.types import GenerationParams

    from .tui_support import type_and_send, wait_idle

    app = make_app(reply="Paris.", params=GenerationParams(temperature=0.7, top_k=3, logprobs=5))

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "Capital of France?")
        await wait_idle(pilot)
        reply = app.chat_screen.log_view.last_assistant()
        reply.focus()
        await pilot.pause()
        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(app.screen, TokenViewScreen), what="the token view")
        screen = app.screen
        strip, panel, detail = screen.strip, screen.query_one(TokenPanel), screen.query_one("#detail")
        await wait_until(pilot, lambda: strip.region.height == 2, what="the strip to fit the one-line reply")
        gap = panel.region.y - strip.region.bottom
        assert gap == detail.region.height + 1  # the detail line and its blank line, nothing more
        assert panel.region.height == panel.heights[-1]  # every candidate in sight

    run_pilot(app, scenario, size=size)


def test_what_chat_needs_before_the_app_opens_imports_no_textual() -> None:
    """``assistant chat`` reads the remembered settings (and can catch the quit signals) before the
    app opens; importing either module imported the whole app and Textual with it (the package's
    ``__init__``), a second or more in which a ``kill`` still ended the process on the spot."""
    import subprocess

    code = (
        "import sys\n"
        "import assistant.tui.quit_signals, assistant.tui.remembered\n"
        "print('textual' in sys.modules)\n"
        "from assistant.tui import ChatApp\n"
        "print(ChatApp.__name__, 'textual' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )  # fmt: skip
    assert done.stdout.splitlines() == ["False", "ChatApp True"], done.stderr

"""A real terminal: tmux runs `assistant chat` on SmolLM2, we type a question and read the screen."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from .conftest import REPO_ROOT

pytestmark = [pytest.mark.model, pytest.mark.slow]


def tmux(socket: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True, timeout=30)


def capture(socket: str) -> str:
    return tmux(socket, "capture-pane", "-p", "-t", "chat").stdout


def wait_for_screen(socket: str, needle: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = capture(socket)
        if needle in screen:
            return screen
        time.sleep(0.5)
    raise AssertionError(f"{needle!r} did not appear within {timeout:.0f} s; the screen was:\n{screen}")


def test_chat_in_tmux_answers_a_question(smollm2_path: Path, tmp_path: Path) -> None:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is missing: `make test` installs it (apt-get install -y tmux)")
    socket = f"assistant-test-{uuid.uuid4().hex[:8]}"
    env = {
        "ASSISTANT_HOME": os.environ["ASSISTANT_HOME"],
        "ASSISTANT_MODELS_DIR": os.environ["ASSISTANT_MODELS_DIR"],
        "ASSISTANT_OFFLINE": "1",
        "PYTHONPATH": str(REPO_ROOT),
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
    }
    exports = " ".join(f"{key}={shlex.quote(value)}" for key, value in env.items())
    command = (
        f"cd {shlex.quote(str(tmp_path))} && env {exports} {shlex.quote(sys.executable)} -m assistant chat "
        "-m smollm2 -o temperature=0 -o max_tokens=48; echo EXITED-$?; sleep 30"
    )
    started = tmux(socket, "new-session", "-d", "-s", "chat", "-x", "110", "-y", "32", command)
    assert started.returncode == 0, started.stderr
    try:
        wait_for_screen(socket, "idle", timeout=120)  # the model has loaded
        tmux(socket, "send-keys", "-t", "chat", "-l", "What is the capital of France?")
        tmux(socket, "send-keys", "-t", "chat", "Enter")
        screen = wait_for_screen(socket, "Paris", timeout=180)
        assert "What is the capital of France?" in screen
        wait_for_screen(socket, "tok/s", timeout=60)
        # Ctrl+Q quits cleanly and gives the terminal back.
        tmux(socket, "send-keys", "-t", "chat", "C-q")
        wait_for_screen(socket, "EXITED-0", timeout=30)
    finally:
        tmux(socket, "kill-server")

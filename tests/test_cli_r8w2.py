"""Round 8 (second wave) core CLI fixes: closed standard streams (``<&-``, ``>&-``, ``2>&-``).

Each test fails without its fix: the subprocess runs are the shell redirections a user types.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO_ROOT


def run_closed(*args: str, close: int, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -m assistant ARGS`` with file descriptor ``close`` closed, as the shell's ``N>&-`` does."""
    proc = subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        timeout=timeout,
        stdin=None if close == 0 else subprocess.DEVNULL,
        preexec_fn=lambda: os.close(close),
    )
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")
    )


def test_closed_stdout_is_a_one_line_error(fake_backend_plugin_file: Path) -> None:
    # Was: the reply streamed into nothing, then a traceback (AttributeError: 'NoneType' ... 'write').
    done = run_closed("prompt", "-b", "fake", "-m", "x", "hello", close=1)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: stdout is closed (>&-): the output would be lost; redirect it to a file, or to /dev/null to drop it"
    ]


def test_closed_stdin_reads_as_no_input_in_chat() -> None:
    # Was: a traceback (AttributeError: 'NoneType' object has no attribute 'isatty').
    done = run_closed("chat", close=0)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        "error: assistant chat needs an interactive terminal; use `assistant prompt` for piped input or scripts"
    )


def test_closed_stdin_prompt_answers_text(fake_backend_plugin_file: Path) -> None:
    done = run_closed("prompt", "-b", "fake", "-m", "x", "hello", close=0)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


def test_closed_descriptors_are_filled_so_no_file_takes_them(tmp_path: Path) -> None:
    """A file opened after start-up must not get fd 2: C code writing "stderr" would write into it."""
    script = (
        "import os, sys\n"
        "from assistant.cli import _fill_closed_std_streams\n"
        "closed = _fill_closed_std_streams()\n"
        f"fd = os.open({str(tmp_path / 'history.db')!r}, os.O_CREAT | os.O_RDWR)\n"
        "sys.stderr.write('dropped\\n'); sys.stderr.flush()\n"
        "print(closed, fd)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, preexec_fn=lambda: os.close(2),
    )  # fmt: skip
    assert done.returncode == 0
    closed, fd = done.stdout.rsplit(" ", 1)
    assert closed == "['stderr']"
    assert int(fd) > 2
    assert (tmp_path / "history.db").read_bytes() == b""


@pytest.mark.model
def test_closed_stderr_still_answers_with_llama_cpp(smollm2_path: Path) -> None:
    # Was: "error: the llama-cpp backend failed to load smollm2: AttributeError: 'NoneType' ... 'flush'"
    # (unseen, stderr being closed) and exit 1: `assistant prompt hi 2>&-` printed nothing at all.
    done = run_closed("prompt", "-m", str(smollm2_path), "-o", "max_tokens=3", "-o", "temperature=0", "hi", close=2)
    assert done.returncode == 0
    assert done.stdout.strip()


def test_chat_system_prompt_must_be_valid_unicode() -> None:
    # Was: `assistant chat -s $'caf\xe9'` opened the app with a lone surrogate as the system prompt,
    # which no tokenizer or database takes; `assistant prompt -s` refused it already.
    from click.testing import CliRunner

    from assistant.cli import main

    result = CliRunner().invoke(main, ["chat", "-s", "caf\udce9"])
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: -s/--system is not valid UTF-8 (byte 0xe9 at character 4); check the terminal's encoding"


@pytest.mark.parametrize("env", [{"NO_COLOR": "1"}, {"TERM": "dumb"}])
def test_probs_on_a_terminal_without_colours_prints_no_escapes(
    fakes: list, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    # Was: `NO_COLOR=1 assistant prompt --probs hi` (or TERM=dumb) wrapped every token in ^[[30;4Nm … ^[[0m.
    import click.testing
    from click.testing import CliRunner

    from assistant.cli import main

    monkeypatch.setattr(click.testing._NamedTextIOWrapper, "isatty", lambda self: True, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, ["prompt", "-b", "fake", "-m", "x", "--probs", "hello"], color=True)
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout and "\x1b" not in result.stderr
    assert result.stdout.strip()
    reason = "NO_COLOR is set" if "NO_COLOR" in env else "TERM is dumb"
    assert f"(--probs: no shading, {reason}; --json shows each token's probability)" in result.stderr


def test_probs_on_a_colour_terminal_still_shades(fakes: list, monkeypatch: pytest.MonkeyPatch) -> None:
    import click.testing
    from click.testing import CliRunner

    from assistant.cli import main

    monkeypatch.setattr(click.testing._NamedTextIOWrapper, "isatty", lambda self: True, raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    result = CliRunner().invoke(main, ["prompt", "-b", "fake", "-m", "x", "--probs", "hello"], color=True)
    assert result.exit_code == 0, result.output
    assert "\x1b[30;" in result.stdout
    assert result.stderr.startswith("shade = sampled probability:")


class DroppingCallbackBackend:
    """A fake engine whose decoding runs Python callbacks that drop exceptions, as ctypes does for llama.cpp.

    At the fourth token it receives a real SIGINT inside such a callback.
    """

    at = 3

    @classmethod
    def make(cls) -> object:
        import signal
        import time

        from assistant.backends.fake import FakeBackend

        class Backend(FakeBackend):
            def sample_tokens(self, prompt_ids, params):  # type: ignore[no-untyped-def]
                for position, token in enumerate(super().sample_tokens(prompt_ids, params)):
                    if position == at:
                        try:  # the abort callback: llama.cpp calls it from C while decoding
                            os.kill(os.getpid(), signal.SIGINT)
                            time.sleep(0.05)  # the handler runs here
                        except KeyboardInterrupt:
                            pass  # "Exception ignored on calling ctypes callback function"
                    yield token

        at = cls.at
        return Backend(reply="one two three four five six seven eight nine ten " * 20)


def test_ctrl_c_inside_an_engine_callback_still_stops_the_reply() -> None:
    # Was: the KeyboardInterrupt was dropped in llama.cpp's callback, the reply went on to
    # max_tokens and the command exited 0; now the engine is cancelled and the turn kept as interrupted.
    import json

    from click.testing import CliRunner

    from assistant.backends.fake import FakeBackendPlugin
    from assistant.cli import main
    from assistant.plugins import register_plugin

    register_plugin(FakeBackendPlugin(DroppingCallbackBackend.make), name="fake-dropping")
    result = CliRunner().invoke(main, ["prompt", "-b", "fake", "-m", "x", "hello"])
    assert result.exit_code == 130, result.output
    assert result.stderr.endswith("interrupted\n")
    assert len(result.stdout) < 20  # stopped within a token or so, not 200 words later
    shown = CliRunner().invoke(main, ["history", "show", "1", "--json"])
    reply = json.loads(shown.stdout)["messages"][-1]
    assert (reply["status"], reply["finish_reason"]) == ("interrupted", "cancelled")


def test_ctrl_c_handler_is_put_back_after_the_reply(fakes: list) -> None:
    import signal

    from click.testing import CliRunner

    from assistant.cli import main

    before = signal.getsignal(signal.SIGINT)
    assert CliRunner().invoke(main, ["prompt", "-b", "fake", "-m", "x", "hello"]).exit_code == 0
    assert signal.getsignal(signal.SIGINT) is before


def test_the_notes_after_a_reply_do_not_ask_the_unloaded_engine() -> None:
    """llama-cpp's context_length raises once unloaded ("no model loaded"): the notes use the one read before."""
    from click.testing import CliRunner

    from assistant.backends.fake import FakeBackend, FakeBackendPlugin
    from assistant.cli import main
    from assistant.errors import BackendError
    from assistant.plugins import register_plugin

    class StrictBackend(FakeBackend):
        @property
        def context_length(self) -> int:
            if not self._loaded:
                raise BackendError("no model loaded")
            return self._context_length

    register_plugin(FakeBackendPlugin(StrictBackend), name="fake-strict")
    result = CliRunner().invoke(main, ["prompt", "-b", "fake", "-m", "x", "-o", "max_tokens=3", "hello"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "Ech\n"
    assert "stopped at max_tokens" in result.stderr


def test_ctrl_c_before_the_first_token_leaves_stdout_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    # Was: a lone "\n" on stdout (in `> answer.txt` too) for a reply that never began.
    from click.testing import CliRunner

    from assistant.backends.fake import FakeBackendPlugin
    from assistant.cli import main
    from assistant.plugins import register_plugin

    monkeypatch.setattr(DroppingCallbackBackend, "at", 0)
    register_plugin(FakeBackendPlugin(DroppingCallbackBackend.make), name="fake-dropping-first")
    result = CliRunner().invoke(main, ["prompt", "-b", "fake", "-m", "x", "hello"])
    assert result.exit_code == 130, result.output
    assert result.stdout == ""

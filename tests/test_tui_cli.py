"""`assistant chat` / bare `assistant` on the command line (the app itself is tested with Pilot)."""

from __future__ import annotations

import pytest

from .conftest import run_cli


@pytest.mark.parametrize("args", [(), ("chat",), ("chat", "-m", "smollm2", "-c")])
def test_without_a_terminal_it_says_so_and_exits(args: tuple[str, ...]) -> None:
    proc = run_cli(*args, input="hello\n", timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: assistant chat needs an interactive terminal; use `assistant prompt` for piped input or scripts"
    )
    assert proc.stdout == ""


def test_a_bad_engine_process_setting_is_an_error_before_the_app_opens() -> None:
    proc = run_cli("chat", env={"ASSISTANT_ENGINE_PROCESS": "maybe"}, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == "error: engine_process must be true or false, not 'maybe'"


def test_chat_help_lists_its_options() -> None:
    proc = run_cli("chat", "--help")
    assert proc.returncode == 0
    for option in (
        "--model",
        "--backend",
        "--template",
        "--continue",
        "--cid",
        "--db",
        "--no-log",
        "--system",
    ):
        assert option in proc.stdout

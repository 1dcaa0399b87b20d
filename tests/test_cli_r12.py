"""Round 12, the CLI as a user: a stdin that cannot be read is one line naming stdin; Ctrl-C between the
model's load and the reply's start stops the reply; listings cut long titles to their column in terminal
cells (one shared definition of "one line, cut to a width")."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from assistant.backends.fake import FakeBackend
from assistant.cli import main
from assistant.history import ConversationRecorder, HistoryStore, TurnMeta
from assistant.terminal_text import cell_width, one_line, padded
from assistant.types import Completion, Timings, Usage

FAKE = ("-b", "fake", "-m", "fake-model")


def cli(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


# -- a stdin that cannot be read -------------------------------------------------------------


def test_a_stdin_opened_for_writing_is_one_line_naming_stdin(tmp_path: Path) -> None:
    """``assistant prompt hi 0>file`` said only "error: Bad file descriptor"."""
    with open(tmp_path / "written", "wb") as write_only:
        done = subprocess.run(
            [sys.executable, "-m", "assistant", "prompt", *FAKE, "hi"],
            stdin=write_only, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: cannot read the input on stdin:") and "Bad file descriptor" in line


# -- Ctrl-C after the load, before the reply starts --------------------------------------------


def _interrupted_while_fitting() -> Any:
    """A backend that gets Ctrl-C while the prompt is counted (after the load, before ``stream`` starts)."""

    class Backend(FakeBackend):
        pressed = False

        def count_tokens(self, prompt: Any) -> int:
            if not type(self).pressed:
                type(self).pressed = True
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)  # the handler runs here: the engine is cancelled
            return super().count_tokens(prompt)

    return lambda: Backend(reply="one two three four five six seven eight nine ten " * 50)


def test_ctrl_c_before_the_reply_starts_stops_the_reply(assistant_home: Path) -> None:
    """The engine clears its cancel as a reply starts: the press was lost, and the whole reply
    (to max_tokens, minutes on a CPU) was generated before the command said "interrupted"."""
    from assistant.backends.fake import FakeBackendPlugin
    from assistant.plugins import register_plugin

    register_plugin(FakeBackendPlugin(_interrupted_while_fitting()), name="fake-interrupted-fitting")
    result = CliRunner().invoke(main, ["prompt", *FAKE, "--json", "-o", "max_tokens=400", "hello"])
    assert result.exit_code == 130, result.output
    assert result.stderr.endswith("interrupted\n")
    record = json.loads(result.stdout)
    assert record["finish_reason"] == "cancelled"
    assert record["usage"]["completion_tokens"] <= 1


# -- one line, cut to a column's width -----------------------------------------------------------


def test_one_line_cuts_to_terminal_cells_not_characters() -> None:
    assert one_line("a\n b\tc") == "a b c"
    assert one_line("short", 60) == "short"
    assert one_line("x" * 61, 60) == "x" * 59 + "…"
    cut = one_line("日本語のタイトル" * 10, 20)
    assert cut.endswith("…") and cell_width(cut) <= 20 and cell_width(cut) >= 19
    # an accent (a combining mark) stays with its letter, and takes no cell
    assert cell_width("e\u0301") == 1
    assert one_line("ab" + "e\u0301" + "xyz", 4) == "abe\u0301…"
    assert padded("日本", 6) == "日本  "


def _record(store: HistoryStore, title: str, model: str) -> None:
    recorder = ConversationRecorder(store)
    turn = recorder.start_turn("hello", TurnMeta(model=model, backend="fake"))
    recorder.finish(turn, Completion("fine", model, "fake", "stop", Usage(), Timings()))
    assert recorder.conversation_id is not None
    store.rename(recorder.conversation_id, title)


def test_history_list_keeps_wide_titles_and_escapes_in_their_columns(assistant_home: Path) -> None:
    """A Japanese title cut at 60 characters took 120 cells and wrapped the row; a control shown as
    an escape (``\\u202e``, six cells) was counted as one character, so the shown title overflowed."""
    store = HistoryStore.open()
    _record(store, "日本語" * 40, "モデル" * 10)
    _record(store, "\u202e" * 30 + "x" * 40, "m\x1bodel")
    store.close()
    result = cli("history", "list")
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout and "\u202e" not in result.stdout
    rows = result.stdout.splitlines()
    assert len(rows) == 2
    for row in rows:
        title_at = row.index("chat ") + len("chat ") + 2  # `kind` is a column of 5
        assert cell_width(row[title_at:title_at + 7]) >= 7  # the model column: padded in cells
        model_and_title = row[title_at:]
        assert cell_width(model_and_title) <= 20 + 2 + 60, row
        assert model_and_title.endswith("…")


# -- a config saved as UTF-16 -----------------------------------------------------------------------


def test_a_config_saved_as_utf16_without_a_mark_is_named_so(assistant_home: Path) -> None:
    """Windows PowerShell's ``>`` writes UTF-16 with no byte order mark: every byte is valid UTF-8, and
    the error was TOML's "Expected '=' after a key (at line 1, column 2)" of a file that looked right."""
    from assistant.config import paths

    path = paths().config_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes('default_model = "smollm2"\n'.encode("utf-16-le"))
    result = cli("prompt", *FAKE, "hi")
    assert result.exit_code == 1
    assert result.stderr == f"error: cannot read config {path}: it is UTF-16 text, not UTF-8; save it as UTF-8\n"
    assert path.read_bytes() == 'default_model = "smollm2"\n'.encode("utf-16-le")  # never damaged


# -- chat: an option typed on the command line ------------------------------------------------------


class _Terminal:
    def isatty(self) -> bool:
        return True


def test_chat_refuses_an_unknown_backend_option_before_the_app_opens(monkeypatch: Any) -> None:
    """``assistant chat -o bogus=1`` opened the app and said "Could not load smollm2: unknown llama-cpp
    option(s)" in a box over an empty chat; every other command refuses it on the command line."""
    import types

    import assistant.cli.chat as chat_module
    from assistant.tui import ChatApp

    def opened(self: Any) -> None:
        raise AssertionError("the app opened")

    monkeypatch.setattr(ChatApp, "run", opened)
    monkeypatch.setattr(chat_module, "sys", types.SimpleNamespace(stdin=_Terminal(), stdout=_Terminal()))
    result = CliRunner().invoke(main, ["chat", "-b", "llama-cpp", "-o", "bogus=1", "--no-log"])
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: unknown llama-cpp option(s): bogus")
    assert len(result.stderr.splitlines()) == 1


# -- a default backend that does not exist ------------------------------------------------------------


def test_an_unknown_default_backend_names_where_it_was_set(assistant_home: Path, monkeypatch: Any) -> None:
    """``ASSISTANT_BACKEND=lama-cpp`` in a profile was "unknown backend 'lama-cpp'" for a command
    with no -b at all; said with its source, the user knows what to fix."""
    from assistant.config import paths

    monkeypatch.setenv("ASSISTANT_BACKEND", "lama-cpp")
    result = cli("prompt", "hi")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: unknown backend 'lama-cpp', set by ASSISTANT_BACKEND (available: ")
    monkeypatch.delenv("ASSISTANT_BACKEND")
    path = paths().config_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('default_backend = "lama-cpp"\n', encoding="utf-8")
    result = cli("prompt", "-m", "m", "hi")
    assert result.stderr.startswith(f"error: unknown backend 'lama-cpp', set by default_backend in {path} (")
    result = cli("prompt", "-b", "nope", "hi")  # typed: said as before
    assert result.stderr.startswith("error: unknown backend 'nope' (available: ")


def test_config_show_keeps_non_ascii_text_readable_and_controls_escaped(assistant_home: Path) -> None:
    """``config show`` printed a French system prompt as "R\\u00e9ponds en fran\\u00e7ais"."""
    from assistant.config import paths

    path = paths().config_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('default_system = "Réponds en français, 日本語 \\u001b]0;x\\u0007"\n', encoding="utf-8")
    result = cli("config", "show")
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert '"Réponds en français, 日本語 \\u001b]0;x\\u0007"' in result.stdout
    assert json.loads(result.stdout)["config"]["default_system"] == "Réponds en français, 日本語 \x1b]0;x\x07"


def test_ctrl_c_before_a_template_reply_starts_stops_the_reply(assistant_home: Path) -> None:
    """The same lost press on ``prompt -t``: the template's reply ran to max_tokens before "interrupted"."""
    from assistant.backends.fake import FakeBackendPlugin
    from assistant.plugins import register_plugin

    class Backend(FakeBackend):
        def stream(self, messages: Any, params: Any) -> Any:  # pressed just before the engine clears its cancel
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            return super().stream(messages, params)

    reply = "one two three four five six seven eight nine ten " * 50
    register_plugin(FakeBackendPlugin(lambda: Backend(reply=reply)), name="fake-interrupted-template")
    result = CliRunner().invoke(main, ["prompt", *FAKE, "-t", "chat", "--json", "-o", "max_tokens=400", "hello"])
    assert result.exit_code == 130, result.output
    record = json.loads(result.stdout)
    assert record["finish_reason"] == "cancelled", record
    assert len(record.get("text") or record.get("reply") or "") < 40, record

"""The chat app as a demanding user found it (round 17): each test failed before its fix."""

from __future__ import annotations

import json
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
    from assistant.tui.remembered import drafts_path

    path = drafts_path()
    return list(json.loads(path.read_text(encoding="utf-8")).values()) if path.exists() else []


# ---- 1. a second quit signal while the process shuts down -----------------------------------------
SLOW_UNLOAD_PLUGIN = """\
import os, time
from pathlib import Path

from assistant.backends.fake import FakeBackend, FakeBackendPlugin

HOME = Path(os.environ["ASSISTANT_HOME"])


class SlowUnload(FakeBackend):
    '''Unloading says so (a file) and waits for the test's go-ahead (another file): the window a second
    signal must not cut short is open exactly as long as the test needs, with no timing involved.'''

    def unload(self) -> None:
        (HOME / "unloading").write_text("now", encoding="utf-8")
        for _ in range(1200):  # a test gone wrong still ends
            if (HOME / "go-on").exists():
                break
            time.sleep(0.05)
        super().unload()


_plugin = FakeBackendPlugin(SlowUnload)
register_backends = _plugin.register_backends
"""


def _poll(condition: Any, what: str, proc: Any, seen: list[bytes], polls: int = 1200) -> None:
    """Wait (polling, nothing timed is asserted) until ``condition()``; the app's screen if it never is."""
    for _ in range(polls):
        if condition():
            return
        threading.Event().wait(0.05)
    raise AssertionError(f"{what}: " + b"".join(seen).decode("utf-8", "replace")[-2000:])


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="needs a Unix pseudo-terminal")
@pytest.mark.parametrize(
    "first, again, status",
    [("SIGTERM", "SIGTERM", 143), ("SIGHUP", "SIGTERM", 129), ("SIGTERM", "SIGINT", 143)],
)
def test_a_second_signal_while_the_model_unloads_loses_no_save_and_keeps_the_first_status(
    assistant_home: Path, first: str, again: str, status: int
) -> None:
    """``kill`` twice (or a kill, then the terminal closing): the second signal came after the app had
    closed, while the model was being unloaded, and ended the process the default way (status -15)
    before the settings were saved. It is recorded and the shutdown finishes; the first one's status."""
    import pty
    import subprocess

    plugins = assistant_home / "config" / "plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    (plugins / "slow_unload.py").write_text(SLOW_UNLOAD_PLUGIN, encoding="utf-8")
    master, slave = pty.openpty()
    env = {
        **os.environ, "PYTHONPATH": str(REPO_ROOT), "ASSISTANT_HOME": str(assistant_home),
        "TERM": "xterm-256color", "ASSISTANT_ENGINE_PROCESS": "0",  # the unload runs in the app's process
    }  # fmt: skip
    env.pop("TEXTUAL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant", "chat", "-b", "fake", "-m", "fake", "-o", "temperature=0.25"],
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
    try:
        _poll(lambda: b"fake on fake" in b"".join(seen) or proc.poll() is not None, "the app to open", proc, seen)
        assert proc.poll() is None, b"".join(seen).decode("utf-8", "replace")[-2000:]
        os.write(master, "kept through two kills".encode())
        _poll(lambda: b"kept through two kills" in b"".join(seen), "the draft on screen", proc, seen)
        proc.send_signal(getattr(signal, first))
        _poll(lambda: (assistant_home / "unloading").exists() or proc.poll() is not None, "the unload", proc, seen)
        proc.send_signal(getattr(signal, again))  # the app has closed; the model is being unloaded
        proc.send_signal(getattr(signal, again))
        (assistant_home / "go-on").write_text("", encoding="utf-8")
        returncode = proc.wait(timeout=120)
    except BaseException:
        proc.kill()
        raise
    finally:
        reader.join(timeout=10)
        os.close(master)
    assert returncode == status, b"".join(seen).decode("utf-8", "replace")[-2000:]
    assert _kept_drafts() == ["kept through two kills"]
    from assistant.tui.remembered import load_last_used

    remembered = load_last_used()  # saved after the unload: the second signal did not cut it short
    assert remembered is not None and remembered.params.get("temperature") == 0.25


def test_quit_signals_held_after_the_app_closed_are_recorded_then_given_back() -> None:
    """What the app does between closing and the end of the shutdown: the loop's handlers go (asyncio puts
    the default ones back, which kill), recorded-only ones come instead; the first signal decides the
    status; release gives the handlers the process had before."""
    import asyncio

    from assistant.tui.quit_signals import QuitSignals

    before = signal.getsignal(signal.SIGTERM)
    signals = QuitSignals()
    quits: list[int] = []
    loop = asyncio.new_event_loop()
    try:
        signals.catch()
        signals.hand_to(loop, lambda: quits.append(1))
        signals.hold()
        loop.close()  # closing the loop put the default handler back for every signal it still had
        os.kill(os.getpid(), signal.SIGHUP)
        os.kill(os.getpid(), signal.SIGTERM)
        assert signals.received == signal.SIGHUP and signals.exit_status == 129
        assert quits == []
    finally:
        if not loop.is_closed():
            loop.close()
        signals.release()
    assert signal.getsignal(signal.SIGTERM) == before


# ---- 3. a conversation's remembered model is the file it was written with --------------------------
def test_a_conversation_s_remembered_model_is_its_file_not_the_bare_name(tmp_path: Path) -> None:
    """Two ``x.gguf`` in two directories: the settings remembered of a conversation named ``x.gguf``,
    which loads the models directory's (or none); they name the file its reply was written with."""
    from assistant.history.records import StoredMessage
    from assistant.tui.remembered import of_conversation

    chosen = str(tmp_path / "b" / "x.gguf")
    stored = [
        StoredMessage(1, 1, "user", "hi", "2026-01-01"),
        StoredMessage(2, 1, "assistant", "hello", "2026-01-01", model="x.gguf", backend="llama-cpp",
                      params={"temperature": 0.5}, model_ref=chosen),
    ]  # fmt: skip
    remembered = of_conversation(stored)
    assert remembered is not None and remembered.model == chosen and remembered.backend == "llama-cpp"
    plain = of_conversation([StoredMessage(3, 2, "assistant", "ok", "2026-01-01", model="smollm2", backend="fake")])
    assert plain is not None and plain.model == "smollm2"  # a name that loads it stays the name


# ---- 4. the token view's "longer than the window" with the prompt and the reply counted apart ------
def test_the_window_named_for_a_reply_too_long_to_score_holds_prompt_and_reply() -> None:
    """The engine now names the prompt's tokens and the reply's apart (ContextOverflowError's
    ``continuation_tokens``); the token view still took the reply's off the prompt's count, and asked
    for a window too small to hold them (``-o n_ctx=41`` for a 40-token prompt and a 30-token reply)."""
    from assistant.backends.fake import FakeBackend
    from assistant.errors import ContextOverflowError
    from assistant.tui.reply_inspection import longer_than_window
    from assistant.types import GenerationParams

    backend = FakeBackend(context_length=64)
    backend.load("fake")
    prompt = "p" * 39  # with BOS: 40 tokens, one a byte
    reply = list(b"r" * 30)
    with pytest.raises(ContextOverflowError) as raised:
        list(backend.token_logprobs(prompt, reply, GenerationParams(), 3))
    prompt_tokens = len(backend.prompt_token_ids(prompt))
    error = longer_than_window(raised.value, scored=len(reply), whole=len(reply))
    needed = prompt_tokens + len(reply)
    assert f"take {needed} tokens" in str(error) and f"-o n_ctx={needed} " in str(error), error
    assert "(64 tokens)" in str(error), error


# ---- 2. the sidebar search marks matches with a style, not with brackets ---------------------------
def test_sidebar_search_matches_are_styled_and_the_text_s_own_brackets_stay_as_they_are() -> None:
    """A search's matches were shown in brackets (``[zebra]``): a message with brackets of its own
    (``a[i]``, ``[note]``) could not be told from a match. Matches are styled; the brackets shown are
    the message's own, and a title's markup is shown as text."""
    from assistant.tui.widgets.sidebar import MATCH_STYLE, ConversationList

    from .test_tui_history import seed_history

    seed_history([("[bold red]pets[/] list", "see a[i] and [note] about a zebra [zebra] here")])
    app = make_app()
    found: dict[str, Any] = {}

    async def scenario(pilot: Any) -> None:
        listing = app.chat_screen.query_one(ConversationList)
        await pilot.press("ctrl+f")
        await pilot.press(*"zebra")
        await wait_until(
            pilot, lambda: listing.option_count == 1 and "zebra" in str(listing.get_option_at_index(0).prompt),
            what="the search's hit",
        )
        found["prompt"] = listing.get_option_at_index(0).prompt

    run_pilot(app, scenario)
    prompt = found["prompt"]
    title, detail = prompt.plain.split("\n")
    assert title.strip() == "[bold red]pets[/] list"
    # The match was past the row's 27 cells: the line starts a word before it; the brackets are the text's.
    assert detail.strip() == "…about a zebra [zebra] here", detail
    marked = [prompt.plain[span.start : span.end] for span in prompt.spans if span.style == MATCH_STYLE]
    assert marked == ["zebra", "zebra"], (marked, detail)


def test_a_bracketed_word_of_the_text_that_matches_keeps_its_own_brackets() -> None:
    """A ``[zebra]`` of the text that matches keeps its brackets, and ``[note]`` (no match) is text.

    (Round 18: through the sidebar's library; the helper that took the history's brackets back out,
    ``search_marks.matched_parts``, is gone: the history says where it matched.)"""
    from assistant.history import HistoryStore
    from assistant.tui.conversations import ConversationLibrary

    from .test_tui_history import seed_history

    seed_history([("a [note] on a [zebra] and Zebras x[i]", "ok")], [("look zebra and [zebra] a[1]", "ok")])
    library = ConversationLibrary(HistoryStore.open())
    try:
        [row] = library.search("zebra* note")
        assert row.detail == "a [note] on a [zebra] and Zebras x[i]"
        assert [row.detail[a:b] for a, b in row.found] == ["note", "zebra", "Zebras"]
        [phrase] = library.search('"and zebra"')  # a phrase over a "["
        assert phrase.detail == "look zebra and [zebra] a[1]"
        assert [phrase.detail[a:b] for a, b in phrase.found] == ["and [zebra"]
    finally:
        library.close()


def test_the_status_line_says_which_folder_a_model_file_outside_the_models_directory_is_from(
    tmp_path: Path,
) -> None:
    """Two ``m.gguf`` in two folders: the status line said ``m.gguf`` for either (the conversation
    reopened from the sidebar loads the right one, and nothing on screen said which it was)."""
    from assistant.backends.fake import FakeBackend

    class FromAFile(FakeBackend):
        def info(self) -> dict[str, Any]:
            return {**super().info(), "path": str(tmp_path / "b" / "m.gguf")}

    app = make_app()
    backend = FromAFile()
    backend.load("m.gguf")
    app.controller.backend = backend
    try:
        status = app.controller.status()
    finally:
        app.controller.backend = None
    assert status is not None and status.model == f"m.gguf from {tmp_path / 'b'}"
    plain = FakeBackend()
    plain.load("smollm2")  # no file of its own: named as loaded
    app.controller.backend = plain
    try:
        assert app.controller.status().model == "smollm2"
    finally:
        app.controller.backend = None


def test_a_reply_whose_prompt_alone_outgrows_the_window_names_a_window_that_holds_both() -> None:
    """Started again with a window smaller than the stored reply's prompt: the engine counts the prompt
    alone then, and the window named took the reply's tokens off that count, one too small that failed
    again. The one named holds prompt and reply, and the one under it does not."""
    from assistant.errors import BackendError
    from assistant.inspect.token_view import ReplyTokens
    from assistant.types import GenerationParams, Message

    app = make_app()
    controller = app.controller
    controller.load()
    try:
        backend = controller.backend
        prompt = (Message("user", "a question long enough to fill a small window " * 3),)
        reply = ReplyTokens(list(b"a reply of thirty bytes, or so"), GenerationParams(), prompt=prompt, model=backend.model_name, backend=backend.name)  # fmt: skip
        backend._context_length = 40  # the prompt alone is longer
        with pytest.raises(BackendError) as refused:
            list(controller.reply_token_logprobs(reply, 3))
        needed = int(str(refused.value).split("-o n_ctx=")[1].split()[0])
        backend._context_length = needed
        assert len(list(controller.reply_token_logprobs(reply, 3))) == len(reply.token_ids)
        backend._context_length = needed - 1
        with pytest.raises(BackendError):
            list(controller.reply_token_logprobs(reply, 3))
    finally:
        controller.unload()


def test_a_search_that_cannot_run_leaves_no_earlier_results_to_open() -> None:
    """A search refused (over 1000 characters, a pasted page) kept the list of the search before it,
    rows that did not match what the box held, and Enter opened one. The list says the search did not run."""
    from assistant.tui.widgets.sidebar import ConversationList, Sidebar

    from .test_tui_history import seed_history

    seed_history([("Tell me about zebras", "Zebras have stripes.")])
    app = make_app()
    seen: dict[str, Any] = {}

    async def scenario(pilot: Any) -> None:
        listing = app.chat_screen.query_one(ConversationList)
        sidebar = app.chat_screen.query_one(Sidebar)
        await pilot.press("ctrl+f")
        await pilot.press(*"zebras")
        await wait_until(pilot, lambda: "Zebras" in str(listing.get_option_at_index(0).prompt), what="a hit")
        sidebar.search_box.value = "zebras " * 200
        sidebar.refresh_rows()
        await pilot.pause()
        seen["rows"] = [listing.get_option_at_index(i) for i in range(listing.option_count)]
        seen["errors"] = [n.message for n in app._notifications if n.severity == "error"]

    run_pilot(app, scenario)
    rows = seen["rows"]
    assert len(rows) == 1 and rows[0].disabled and "could not run" in str(rows[0].prompt), rows
    assert any("at most 1000" in message for message in seen["errors"]), seen["errors"]

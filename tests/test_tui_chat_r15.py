"""The chat app's everyday paths as a demanding user found them (round 15): each test failed before its fix."""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

import pytest

pytest.importorskip("textual")

from assistant.errors import BackendError  # noqa: E402

from .tui_support import make_app, run_pilot, type_and_send, wait_idle, wait_until  # noqa: E402


def _kept_drafts() -> list[str]:
    """The drafts ``chat_drafts.json`` keeps (of any conversation)."""
    import json

    from assistant.tui.remembered import drafts_path

    path = drafts_path()
    return list(json.loads(path.read_text(encoding="utf-8")).values()) if path.exists() else []


# ---- 1. the terminal closes (SIGHUP) or the app is told to end (SIGTERM) --------------------------
@pytest.mark.parametrize("name", ["SIGHUP", "SIGTERM", "SIGINT"])
def test_a_quit_signal_keeps_the_draft_and_gives_back_the_old_handler(name: str) -> None:
    """Closing the terminal (SIGHUP: ``tmux kill-session``, a dropped ssh link) or ``kill`` (SIGTERM)
    ended the process on the spot: the message being written was lost, and so were the settings;
    ``kill -INT`` quit without keeping it. The app quits as Ctrl+Q does, and the signal's handler
    from before the app ran is back after it.

    The test's own handler stands in for the default one (which would end pytest): without the fix
    it took the signal, and the app went on running."""
    number = getattr(signal, name, None)
    if number is None:
        pytest.skip(f"no {name} here")
    taken_by_the_old_handler: list[int] = []

    def old_handler(signum: int, frame: Any) -> None:
        taken_by_the_old_handler.append(signum)

    app = make_app()
    before = signal.signal(number, old_handler)
    try:

        async def scenario(pilot: Any) -> None:
            app.chat_screen.prompt_input.load_text("half a thought \u4e16\u754c")
            os.kill(os.getpid(), number)
            await wait_until(pilot, lambda: not app.is_running or bool(taken_by_the_old_handler),
                             timeout=10, what="the app to quit")  # fmt: skip

        run_pilot(app, scenario)
        assert taken_by_the_old_handler == []
        assert not app.is_running
        assert _kept_drafts() == ["half a thought \u4e16\u754c"]
        assert signal.getsignal(number) is old_handler
    finally:
        signal.signal(number, before)


# ---- 2. a draft parked in the input history (Up, e, a refused send) ----------------------------
def test_up_with_a_draft_then_quit_keeps_the_draft_not_the_recalled_message() -> None:
    """Up with a draft in the box shows the previous message and parks the draft; Ctrl+Q then kept
    the recalled message (sent already) as the draft, and the draft was lost. It is the draft that
    comes back with the conversation."""
    app = make_app(reply="ok")

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "Hello there")
        await wait_idle(pilot)
        box = app.chat_screen.prompt_input
        box.load_text("my draft, not sent")
        box.move_cursor((0, 0))
        await pilot.press("up")
        assert box.text == "Hello there"
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: not app.is_running, what="the app to quit")

    run_pilot(app, scenario)
    assert _kept_drafts() == ["my draft, not sent"]

    resumed = make_app(continue_latest=True)

    async def reopened(pilot: Any) -> None:
        assert resumed.chat_screen.prompt_input.text == "my draft, not sent"

    run_pilot(resumed, reopened)


def test_a_recalled_message_left_unchanged_is_no_draft() -> None:
    app = make_app(reply="ok")

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "Hello there")
        await wait_idle(pilot)
        await pilot.press("up")
        assert app.chat_screen.prompt_input.text == "Hello there"
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: not app.is_running, what="the app to quit")

    run_pilot(app, scenario)
    assert _kept_drafts() == []


def test_a_recalled_message_changed_keeps_its_change_through_up_and_down_and_quit() -> None:
    """A message recalled with Up and changed lost the change on the next Up or Down (Down brought
    the old text back), as a shell without readline does. The change stays with it, and quitting
    while another message is shown keeps the change as well as the draft."""
    app = make_app(reply="ok")

    async def scenario(pilot: Any) -> None:
        for text in ("first question", "second question"):
            await type_and_send(pilot, text)
            await wait_idle(pilot)
        box = app.chat_screen.prompt_input
        box.load_text("draft")
        box.move_cursor((0, 0))
        await pilot.press("up")
        assert box.text == "second question"
        await pilot.press("end", *"!!")
        assert box.text == "second question!!"
        box.move_cursor((0, 0))
        await pilot.press("up")
        assert box.text == "first question"
        await pilot.press("down")
        assert box.text == "second question!!"  # the change is kept with it
        box.move_cursor((0, 0))
        await pilot.press("up")
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: not app.is_running, what="the app to quit")

    run_pilot(app, scenario)
    assert _kept_drafts() == ["draft\n\nsecond question!!"]


def test_a_draft_set_aside_by_an_edit_is_kept_on_quit_and_the_unchanged_edit_is_not() -> None:
    """``e`` on a message parks the draft and puts the message in the box; Ctrl+Q there kept the old
    message's text as the draft and lost the draft."""
    from assistant.tui.widgets.chat_log import UserMessage

    app = make_app(reply="ok")

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "Hello there")
        await wait_idle(pilot)
        box = app.chat_screen.prompt_input
        box.load_text("my draft")
        message = app.chat_screen.query(UserMessage).last()
        message.focus()
        await pilot.pause()
        await pilot.press("e")
        assert box.text == "Hello there" and app.chat_screen.editing is message
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: not app.is_running, what="the app to quit")

    run_pilot(app, scenario)
    assert _kept_drafts() == ["my draft"]


def test_escape_on_an_edit_then_a_changed_draft_is_kept_once() -> None:
    """Esc gives the parked draft back to the box: changed there, only the changed one is kept."""
    from assistant.tui.widgets.chat_log import UserMessage

    app = make_app(reply="ok")

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "Hello there")
        await wait_idle(pilot)
        box = app.chat_screen.prompt_input
        box.load_text("my draft")
        app.chat_screen.query(UserMessage).last().focus()
        await pilot.pause()
        await pilot.press("e")
        await pilot.press("escape")
        assert box.text == "my draft"
        await pilot.press("end", *" grown")
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: not app.is_running, what="the app to quit")

    run_pilot(app, scenario)
    assert _kept_drafts() == ["my draft grown"]


def test_a_message_refused_while_the_box_holds_another_is_parked_and_kept() -> None:
    """A reply failed before writing anything while the user was writing the next message: the
    failed message could not go back into the box (it held the new text) and stayed only in the Up
    history, as if sent, lost when the app closed. It is parked: Up brings it back, the notice says
    so, and quitting keeps both texts."""
    release = threading.Event()

    def failing(prompt: str) -> str:
        release.wait(10)
        raise BackendError("the engine went away")

    app = make_app(reply=failing, history=True)

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "the first message")
        await wait_until(pilot, lambda: app.chat_screen.generating, what="the reply to start")
        box = app.chat_screen.prompt_input
        box.load_text("the next one")
        release.set()
        await wait_idle(pilot)
        assert box.text == "the next one"
        assert any("Up brings it back" in n.message for n in app._notifications)
        box.move_cursor((0, 0))
        await pilot.press("up")
        assert box.text == "the first message"
        await pilot.press("down")
        assert box.text == "the next one"
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: not app.is_running, what="the app to quit")

    run_pilot(app, scenario)
    assert _kept_drafts() == ["the first message\n\nthe next one"]


def test_a_draft_parked_then_sent_is_no_longer_kept() -> None:
    """A draft parked by Up and later sent (recalled, or back after the newest) is not kept again."""
    from assistant.tui.widgets.prompt_input import InputHistory

    history = InputHistory(["old"])
    assert history.previous("my draft") == "old"
    history.add("old")  # the recalled message sent again: the draft left behind is parked
    assert history.unsent("") == ["my draft"]
    assert history.previous("") == "old"  # the one sent last is the newest
    assert history.previous("") == "my draft"
    history.add("my draft")
    assert history.unsent("") == []
    history.park("aside")
    history.take_back("aside")
    assert history.unsent("aside") == ["aside"]  # the box's text, once
    history.refuse("old")  # Enter took it, then it was not sent after all: in the box, it is unsent
    assert history.unsent("old") == ["old"]


# ---- a reply that failed before writing anything -------------------------------------------------
def test_a_reply_that_fails_before_any_text_leaves_no_stream_task_behind() -> None:
    """A reply that failed before its first token (a template missing a variable, an engine that
    went away) is taken off the screen, and its stream's updater task was left waiting for text
    forever: one more per failed reply, and quitting printed "Task was destroyed but it is pending!
    ... ReplyStream._run()" over the shell."""
    import asyncio

    def failing(prompt: str) -> str:
        raise BackendError("the engine went away")

    app = make_app(reply=failing)

    def stream_tasks() -> list[asyncio.Task[Any]]:
        return [task for task in asyncio.all_tasks()
                if getattr(task.get_coro(), "__qualname__", "") == "ReplyStream._run" and not task.done()]  # fmt: skip

    async def scenario(pilot: Any) -> None:
        for attempt in range(3):
            await type_and_send(pilot, f"message {attempt}")
            await wait_idle(pilot)
            app.chat_screen.prompt_input.clear()
        await wait_until(pilot, lambda: not stream_tasks(), timeout=5, what="the streams to end")

    run_pilot(app, scenario)


def test_an_entry_changed_left_and_sent_changed_again_leaves_no_stale_copy() -> None:
    """Only what was written and not sent is kept: the version of an entry the box has since changed
    and sent is not parked beside it."""
    from assistant.tui.widgets.prompt_input import InputHistory

    history = InputHistory(["one", "two"])
    assert history.previous("") == "two"
    history.leave("two, changed")
    assert history.previous("two, changed") == "one"
    history.leave("one")
    assert history.next() == "two, changed"
    history.leave("two, changed")
    assert history.unsent("two, changed and sent") == ["two, changed and sent"]
    history.add("two, changed and sent")
    assert history.unsent("") == []


# ---- a small (60x20) terminal -------------------------------------------------------------------
@pytest.mark.parametrize("yes", ["Delete", "Quit"])
def test_a_dialog_fits_a_60_column_terminal(yes: str) -> None:
    """The dialogs were 70 columns wide whatever the terminal: at 60 the question was cut mid-sentence
    and the button that answers it read "Dele", the dialog's right edge off the screen."""
    from assistant.tui.screens.dialogs import Confirm

    from .tui_support import screen_lines

    app = make_app()
    question = "Delete the conversation 'a title that goes on and on'? This cannot be undone."

    async def scenario(pilot: Any) -> None:
        app.push_screen(Confirm(question, yes=yes))
        await wait_until(pilot, lambda: isinstance(app.screen, Confirm), what="the dialog")
        await pilot.pause()
        lines = screen_lines(app)
        top = next(line for line in lines if "╭" in line)
        assert top.rstrip().endswith("╮")  # the right edge is on the screen
        text = " ".join(" ".join(line.strip("│ ").split()) for line in lines)
        assert "This cannot be undone." in text and f" {yes} " in f"{text} "

    run_pilot(app, scenario, size=(60, 20))


def test_editing_one_message_then_another_sets_no_copy_of_the_first_aside() -> None:
    """``e`` on a message while another was being edited set the first one's text aside as if it were
    a draft of the user's (when it was not in this run's Up history: a conversation of an older run),
    and quitting kept it: the next chat opened with an old message in the box."""
    from assistant.tui.widgets.chat_log import UserMessage
    from assistant.tui.widgets.prompt_input import InputHistory

    app = make_app(reply="ok")

    async def scenario(pilot: Any) -> None:
        for text in ("hello", "again"):
            await type_and_send(pilot, text)
            await wait_idle(pilot)
        box = app.chat_screen.prompt_input
        box.sent_history = InputHistory()  # as when the conversation was written long ago
        box.load_text("my draft")
        first, second = app.chat_screen.query(UserMessage)
        for message, text in ((first, "hello"), (second, "again")):
            message.focus()
            await pilot.pause()
            await pilot.press("e")
            assert box.text == text
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: not app.is_running, what="the app to quit")

    run_pilot(app, scenario)
    assert _kept_drafts() == ["my draft"]


def test_leaving_an_untouched_edit_by_ctrl_n_or_r_gives_the_box_back_its_draft() -> None:
    """``e`` on a message, then Ctrl+N (or ``r`` on a reply): edit mode ended and the box kept the old
    message's text, which Enter then sent as a new message of the new chat. The box gets back what was
    being written before ``e``, as Esc gives it."""
    from assistant.tui.widgets.chat_log import AssistantMessage, UserMessage

    app = make_app(reply="ok")

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "Hello there")
        await wait_idle(pilot)
        box = app.chat_screen.prompt_input
        box.load_text("my draft")
        app.chat_screen.query(UserMessage).last().focus()
        await pilot.pause()
        await pilot.press("e")
        assert box.text == "Hello there"
        app.chat_screen.query(AssistantMessage).last().focus()
        await pilot.pause()
        await pilot.press("r")
        await wait_idle(pilot)
        assert app.chat_screen.editing is None and box.text == "my draft"
        app.chat_screen.query(UserMessage).last().focus()
        await pilot.pause()
        await pilot.press("e")
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert box.text == ""  # the draft went into the Up history, as Ctrl+N puts any draft there
        box.move_cursor((0, 0))
        await pilot.press("up")
        assert box.text == "my draft"

    run_pilot(app, scenario)

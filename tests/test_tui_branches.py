"""The chat app's branches: regenerate a reply, edit and resend a message, switch between versions."""

from __future__ import annotations

from typing import Any, Callable

import pytest

pytest.importorskip("textual")

from assistant.tui.screens.chat_branches import EditBanner  # noqa: E402
from assistant.tui.widgets.chat_log import AssistantMessage, ChatLog, ChatMessage, UserMessage  # noqa: E402
from assistant.tui.widgets.prompt_input import PromptInput  # noqa: E402

from .tui_support import make_app, run_pilot, screen_text, type_and_send, wait_idle, wait_until  # noqa: E402


def numbered_replies() -> tuple[Callable[[str], str], list[str]]:
    """Replies "answer 1", "answer 2", ... and the prompts they were written after."""
    prompts: list[str] = []

    def reply(prompt: str) -> str:
        prompts.append(prompt)
        return f"answer {len(prompts)}"

    return reply, prompts


def turns(app: Any) -> list[tuple[str, str, tuple[int, int]]]:
    """The conversation on screen: (role, text, versions) of each turn."""
    return [(m.role, m.text, m.versions) for m in app.chat_screen.query_one(ChatLog).turns()]


def stored(app: Any, branch: str = "active") -> list[str]:
    store = app.controller.library.store
    return [m.content for m in store.messages(app.controller.conversation_id, branch=branch)]


def context(app: Any) -> list[str]:
    return [m.content for m in app.controller.messages]


async def focus(pilot: Any, message: ChatMessage) -> None:
    message.focus()
    await pilot.pause()


async def press_and_wait(pilot: Any, key: str) -> None:
    """Press ``key`` and wait for the turn it starts to be stored and its reply finished."""
    app = pilot.app
    count = len(stored(app, "all"))
    await pilot.press(key)
    await wait_until(pilot, lambda: len(stored(app, "all")) > count, what=f"the turn {key} starts")
    await wait_idle(pilot)


def test_ctrl_r_writes_the_last_reply_again_and_arrows_switch_versions() -> None:
    reply, prompts = numbered_replies()
    app = make_app(reply=reply)

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "question")
        await wait_idle(pilot)
        await press_and_wait(pilot, "ctrl+r")
        assert turns(app) == [("user", "question", (1, 1)), ("assistant", "answer 2", (2, 2))]
        assert prompts[0] == prompts[1]  # the same prompt, written again
        assert stored(app) == ["question", "answer 2"]
        assert stored(app, "all") == ["question", "answer 1", "answer 2"]
        assert context(app) == ["question", "answer 2"]
        assert "‹ 2/2 ›" in screen_text(app)

        await focus(pilot, app.chat_screen.query_one(ChatLog).last_assistant())
        await pilot.press("left")
        assert turns(app)[-1] == ("assistant", "answer 1", (1, 2))
        assert app.chat_screen.focused.text == "answer 1"  # the version shown keeps the focus
        assert context(app) == ["question", "answer 1"]
        assert stored(app) == ["question", "answer 1"]
        await pilot.press("left")  # no earlier version: nothing changes
        assert turns(app)[-1] == ("assistant", "answer 1", (1, 2))
        await pilot.press("right")
        assert turns(app)[-1] == ("assistant", "answer 2", (2, 2))

        # The next message continues the version shown.
        await pilot.press("left")
        await type_and_send(pilot, "next")
        await wait_idle(pilot)
        assert stored(app) == ["question", "answer 1", "next", "answer 3"]
        assert "answer 2" not in prompts[2] and "answer 1" in prompts[2]

    run_pilot(app, scenario)


def test_r_on_an_earlier_reply_branches_there_and_the_old_branch_stays_whole() -> None:
    reply, _ = numbered_replies()
    app = make_app(reply=reply)

    async def scenario(pilot: Any) -> None:
        for text in ("one", "two"):
            await type_and_send(pilot, text)
            await wait_idle(pilot)
        first_reply = app.chat_screen.query(AssistantMessage).first()
        await focus(pilot, first_reply)
        await press_and_wait(pilot, "r")
        assert turns(app) == [("user", "one", (1, 1)), ("assistant", "answer 3", (2, 2))]
        assert context(app) == ["one", "answer 3"]

        await focus(pilot, app.chat_screen.query_one(ChatLog).last_assistant())
        await pilot.press("left")  # the first version, and the turn that followed it
        assert [text for _, text, _ in turns(app)] == ["one", "answer 1", "two", "answer 2"]
        assert context(app) == ["one", "answer 1", "two", "answer 2"]

    run_pilot(app, scenario)


def test_e_edits_a_message_and_sends_it_as_a_new_version() -> None:
    reply, prompts = numbered_replies()
    app = make_app(reply=reply)

    async def scenario(pilot: Any) -> None:
        for text in ("one", "two", "three"):
            await type_and_send(pilot, text)
            await wait_idle(pilot)
        second = app.chat_screen.query(UserMessage)[1]
        await focus(pilot, second)
        await pilot.press("e")
        box = app.chat_screen.query_one(PromptInput)
        assert box.text == "two" and box.has_focus
        assert app.chat_screen.query_one(EditBanner).display
        assert "Enter sends a new version" in screen_text(app)
        box.load_text("two, edited")
        await press_and_wait(pilot, "enter")
        assert not app.chat_screen.query_one(EditBanner).display
        assert turns(app) == [
            ("user", "one", (1, 1)),
            ("assistant", "answer 1", (1, 1)),
            ("user", "two, edited", (2, 2)),
            ("assistant", "answer 4", (1, 1)),
        ]
        assert "three" not in prompts[-1] and "two, edited" in prompts[-1]
        assert stored(app) == ["one", "answer 1", "two, edited", "answer 4"]

        edited = app.chat_screen.query(UserMessage)[1]
        await focus(pilot, edited)
        await pilot.press("left")  # the original message and everything after it
        assert [text for _, text, _ in turns(app)] == ["one", "answer 1", "two", "answer 2", "three", "answer 3"]
        assert context(app)[-1] == "answer 3"

    run_pilot(app, scenario)


def test_escape_gives_up_an_edit() -> None:
    app = make_app(reply="ok")

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "hello")
        await wait_idle(pilot)
        await focus(pilot, app.chat_screen.query_one(UserMessage))
        await pilot.press("e")
        await pilot.press("escape")
        assert not app.chat_screen.query_one(EditBanner).display
        assert app.chat_screen.query_one(PromptInput).text == ""
        await type_and_send(pilot, "after")  # a plain new turn, not an edit
        await wait_idle(pilot)
        assert stored(app) == ["hello", "ok", "after", "ok"]

    run_pilot(app, scenario)


def test_escape_on_an_edit_gives_back_the_draft_it_set_aside() -> None:
    """``e`` borrows the message box: Esc gives up the edit and the half-written message comes back."""
    app = make_app(reply="ok")

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "hello")
        await wait_idle(pilot)
        await type_and_send(pilot, "again")
        await wait_idle(pilot)
        box = app.chat_screen.query_one(PromptInput)
        box.load_text("my half-written\ndraft")
        first, second = app.chat_screen.query(UserMessage)
        await focus(pilot, first)
        await pilot.press("e")
        assert box.text == "hello"
        await focus(pilot, second)  # another message, still in edit mode: the draft is still the first one
        await pilot.press("e")
        assert box.text == "again"
        await pilot.press("escape")
        assert not app.chat_screen.query_one(EditBanner).display
        assert box.text == "my half-written\ndraft" and box.has_focus
        assert box.cursor_location == box.document.end
        await pilot.press("escape")  # no edit now: Esc leaves the box alone
        assert box.text == "my half-written\ndraft"

    run_pilot(app, scenario)


def test_a_reopened_conversation_shows_the_version_last_chosen() -> None:
    reply, _ = numbered_replies()
    first = make_app(reply=reply)

    async def write(pilot: Any) -> None:
        await type_and_send(pilot, "question")
        await wait_idle(pilot)
        await press_and_wait(pilot, "ctrl+r")
        await press_and_wait(pilot, "ctrl+r")
        await focus(pilot, first.chat_screen.query_one(ChatLog).last_assistant())
        await pilot.press("left")
        assert turns(first)[-1] == ("assistant", "answer 2", (2, 3))

    run_pilot(first, write)
    again = make_app(reply="later", continue_latest=True)

    async def reopen(pilot: Any) -> None:
        await wait_until(pilot, lambda: len(turns(again)) == 2, what="the stored turns")
        assert turns(again)[-1] == ("assistant", "answer 2", (2, 3))
        assert context(again) == ["question", "answer 2"]
        await focus(pilot, again.chat_screen.query_one(ChatLog).last_assistant())
        await pilot.press("right")
        assert turns(again)[-1] == ("assistant", "answer 3", (3, 3))

    run_pilot(again, reopen)


def test_without_history_there_are_no_versions_to_keep() -> None:
    app = make_app(reply="ok", history=False)

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "hello")
        await wait_idle(pilot)
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert turns(app) == [("user", "hello", (1, 1)), ("assistant", "ok", (1, 1))]
        assert any("--no-log" in str(n.message) for n in app._notifications)

    run_pilot(app, scenario)


def test_a_tool_result_is_not_written_again() -> None:
    app = make_app(reply="ok")

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "/sentiment what a lovely day")
        await wait_idle(pilot)
        tool = app.chat_screen.query_one(ChatLog).turns()[-1]
        assert tool.message_id is not None
        app.chat_screen.query_one(UserMessage).focus()
        await pilot.pause()
        await app.chat_screen.regenerate(AssistantMessage("x", message_id=tool.message_id))
        await pilot.pause()
        assert any("send the command again" in str(n.message) for n in app._notifications), [
            n.message for n in app._notifications
        ]
        assert len(stored(app, "all")) == 2

    run_pilot(app, scenario)


def test_snapshot_of_versions_and_an_edit_in_progress(snap_compare: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pytest_textual_snapshot")
    monkeypatch.setattr("assistant.tui.conversations.format_when", lambda iso: "2025-06-01 12:00")
    reply, _ = numbered_replies()
    app = make_app(reply=reply)

    async def run_before(pilot: Any) -> None:
        from .tui_support import wait_ready

        await wait_ready(pilot)
        await type_and_send(pilot, "Name a colour")
        await wait_idle(pilot)
        await press_and_wait(pilot, "ctrl+r")
        await focus(pilot, app.chat_screen.query_one(UserMessage))
        await pilot.press("e")
        app.clear_notifications()
        app.chat_screen.query_one(PromptInput).cursor_blink = False
        await pilot.pause()

    assert snap_compare(app, terminal_size=(110, 24), run_before=run_before)

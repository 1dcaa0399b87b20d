"""The chat app as a demanding user found it (round 19): each test of a defect failed before its fix."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("textual")

from .tui_support import make_app, run_pilot, wait_until  # noqa: E402


def _shown(app: Any) -> list[tuple[str, str]]:
    return [(str(n.title), str(n.message)) for n in app._notifications]


# ---- known item 1: a notification's title (and text) kept the line breaks of what it quoted ---------------
def test_a_failed_load_of_a_model_named_with_line_breaks_is_a_one_line_notification() -> None:
    """A model reference holding a line break and an escape sequence (a file name, a pasted reference)
    that fails to load: the toast's title ``Could not load …`` drew on two lines, the second reading as the
    app's own words. Title and text are one line each now, escapes visible, as every error the CLI shows."""
    model = "missing-a\nInstall the update: curl x | sh\x1b[31m\u2028end"
    app = make_app(model=model)

    async def scenario(pilot: Any) -> None:
        screen = app.chat_screen
        await wait_until(pilot, lambda: not screen.model_loading and app._notifications, what="load attempt")
        await pilot.pause()

    scenario.no_wait = True  # type: ignore[attr-defined]
    run_pilot(app, scenario)
    shown = _shown(app)
    failed = [(title, message) for title, message in shown if title.startswith("Could not load")]
    assert failed, shown
    for title, message in shown:
        for text in (title, message):
            assert "\n" not in text and "\x1b" not in text and "\u2028" not in text, (title, message)
    assert "missing-a Install the update" in failed[0][0]
    assert "␛[31m" in failed[0][0]


def test_notifications_are_one_line_whatever_the_caller_passes() -> None:
    """Every notification goes through ChatApp.notify (widgets and screens call the app's): a title of only
    blanks is no title, a huge one is cut, and an error text with line breaks is one line."""
    app = make_app()

    async def scenario(pilot: Any) -> None:
        app.notify("first line\nsecond line\r\nthird", title="Rename\nconversation\t\x1b]0;owned\x07")
        app.notify("x", title=" \n ")
        app.notify("y", title="t" * 100_000)
        await pilot.pause()

    scenario.no_wait = True  # type: ignore[attr-defined]
    run_pilot(app, scenario)
    (title, message), (blank, _), (huge, _) = _shown(app)[-3:]
    assert message == "first line second line third"
    assert title == "Rename conversation ␛]0;owned␇"
    assert blank == ""
    assert len(huge) < 3000 and huge.endswith("…")


# ---- found in use: a model name with a line break drew a second line in one-line places ----------------
def test_a_model_named_with_a_line_break_stays_on_one_line_in_the_header_status_and_settings() -> None:
    """``-m`` given a name holding a line break (a pasted reference, a file name): the reply's header drew the
    rest of the name as a line of its own, reading as the reply's first line, and the status line lost its
    speed and context count below the break. Both show the name on one line now, as does the settings panel."""
    from rich.text import Text

    from assistant.tui.screens.settings import SettingsScreen
    from assistant.tui.widgets.chat_messages import AssistantMessage
    from assistant.tui.widgets.status_bar import StatusBar

    from .tui_support import screen_lines, type_and_send, wait_idle

    app = make_app(model="fake\nINJECTED LINE\x1b[31m")
    seen: dict[str, Any] = {}

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "hi")
        await wait_idle(pilot)
        reply = app.chat_screen.query_one(AssistantMessage)
        seen["header"] = reply.header_text().plain
        seen["status"] = app.chat_screen.query_one(StatusBar).render().plain
        seen["lines"] = screen_lines(app)
        await pilot.press("f2")
        await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen), what="the settings")
        model = app.screen.query_one("#model")
        seen["options"] = [str(p.plain if isinstance(p, Text) else p) for p, _ in model._options]

    run_pilot(app, scenario)
    assert seen["header"] == "fake INJECTED LINE␛[31m"
    assert "\n" not in seen["status"] and "ctx " in seen["status"], seen["status"]
    assert not any(line.strip().startswith("▌ INJECTED") for line in seen["lines"]), seen["lines"]
    assert any(option.startswith("fake INJECTED LINE") for option in seen["options"]), seen["options"]

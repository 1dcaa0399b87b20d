"""The chat app as a user found it (round 8b): each test failed before its fix."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("textual")

from .tui_support import make_app, run_pilot, type_and_send, wait_idle  # noqa: E402


def test_a_paste_while_a_message_is_focused_goes_into_the_message_box() -> None:
    """Tab onto a reply (to copy it, or see its tokens), then paste: the text vanished, since Textual
    gives a paste to the focused widget only and a message has no use for it. Now it lands in the
    message box, made safe as a paste typed there is (ESC shown as ␛), and the box takes the focus."""
    from textual import events

    from assistant.tui.widgets.chat_log import AssistantMessage
    from assistant.tui.widgets.prompt_input import PromptInput

    app = make_app(reply="Hello there.")

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "Hi")
        await wait_idle(pilot)
        reply = app.chat_screen.query(AssistantMessage).last()
        reply.focus()
        await pilot.pause()
        box = app.chat_screen.query_one(PromptInput)
        box.load_text("draft ")
        box.move_cursor(box.document.end)
        app.post_message(events.Paste("pasted \x1b[31mred\x1b[0m text"))
        await pilot.pause()
        await pilot.pause()
        assert box.text == "draft pasted ␛[31mred␛[0m text"
        assert app.focused is box
        # The sidebar's list of conversations, too.
        from assistant.tui.widgets.sidebar import ConversationList

        app.chat_screen.query_one(ConversationList).focus()
        await pilot.pause()
        assert app.focused is not box
        app.post_message(events.Paste(" more"))
        await pilot.pause()
        await pilot.pause()
        assert box.text.endswith("text more"), box.text

    run_pilot(app, scenario)


def test_a_paste_into_the_box_itself_is_inserted_once() -> None:
    """The box takes its own pastes; the app's forwarding of stray ones must not insert them again."""
    from textual import events

    from assistant.tui.widgets.prompt_input import PromptInput

    app = make_app(reply="Hello there.")

    async def scenario(pilot: Any) -> None:
        box = app.chat_screen.query_one(PromptInput)
        box.focus()
        await pilot.pause()
        app.post_message(events.Paste("once"))
        await pilot.pause()
        await pilot.pause()
        assert box.text == "once"

    run_pilot(app, scenario)


def test_a_paste_into_a_settings_field_shows_its_escape_sequences_instead_of_running_them() -> None:
    """F2, paste a path copied from coloured terminal output into "…or reference": the field drew the
    ESC as is, so the rest of the screen turned red and an OSC in it set the window title. Every paste
    now comes in as the message box takes one (ESC shown as ␛), whichever text box has the focus."""
    from textual import events
    from textual.widgets import Input

    from assistant.tui.screens.settings import SettingsScreen

    from .tui_support import screen_text

    app = make_app(reply="Hello there.")

    async def scenario(pilot: Any) -> None:
        app.action_settings()
        await pilot.pause()
        assert isinstance(app.screen, SettingsScreen)
        field = app.screen.query_one("#model_path", Input)
        field.focus()
        await pilot.pause()
        app.post_message(events.Paste("/tmp/x\x1b[31mRED\x1b]0;TITLE\x07.gguf"))
        await pilot.pause()
        await pilot.pause()
        assert field.value == "/tmp/x␛[31mRED␛]0;TITLE␇.gguf"
        assert "\x1b" not in screen_text(app)

    run_pilot(app, scenario)


def test_a_system_prompt_with_an_escape_shows_it_in_settings_and_an_untouched_panel_keeps_it() -> None:
    """``assistant chat -s "$(…)"`` with an ESC in the prompt: F2 drew it as is (the panel turned red and
    its border moved). The field shows ␛ now; Apply with the field untouched keeps the prompt exactly."""
    from textual.widgets import Input

    from assistant.tui.screens.settings import SettingsScreen

    from .tui_support import screen_text

    system = "Be brief. \x1b[31mRED\x1b[0m end"
    app = make_app(reply="Hello there.", system=system)

    async def scenario(pilot: Any) -> None:
        app.action_settings()
        await pilot.pause()
        assert isinstance(app.screen, SettingsScreen)
        assert app.screen.query_one("#system", Input).value == "Be brief. ␛[31mRED␛[0m end"
        assert "\x1b" not in screen_text(app)
        app.screen.query_one("#temperature", Input).value = "0.5"
        app.screen.action_apply()
        await pilot.pause()
        assert app.controller.settings.system == system
        assert app.controller.settings.params.temperature == 0.5

    run_pilot(app, scenario)


def test_recalling_or_editing_a_stored_message_with_an_escape_does_not_draw_it() -> None:
    """A message sent from a script (``assistant prompt "$(…)"``) holds an ESC. In the chat app, Up
    brought it back into the message box, which drew it as is: the terminal turned red and the box's
    border was left broken. Editing it (``e``) did the same. The box shows it as ␛, as a paste."""
    from assistant.tui.widgets.chat_log import UserMessage
    from assistant.tui.widgets.prompt_input import PromptInput

    from .tui_support import screen_text

    app = make_app(reply="Hello there.")

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "esc \x1b[31mred")
        await wait_idle(pilot)
        box = app.chat_screen.query_one(PromptInput)
        box.focus()
        await pilot.press("up")
        assert box.text == "esc ␛[31mred"
        assert "\x1b" not in screen_text(app)
        box.clear()
        app.chat_screen.start_edit(app.chat_screen.query(UserMessage).last())
        await pilot.pause()
        assert box.text == "esc ␛[31mred"
        assert "\x1b" not in screen_text(app)

    run_pilot(app, scenario)


def test_a_search_that_finds_nothing_says_so() -> None:
    """Ctrl+F, a word in no conversation: the list just went blank, which looked the same as a search
    still running, or a history that had lost everything. It says there is no match now, and the
    note is no row: Enter, r and Delete on it do nothing."""
    from assistant.tui.widgets.sidebar import ConversationList, Sidebar

    from .tui_support import screen_text, wait_until

    app = make_app(reply="Hello there.")

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "Tell me about zebras")
        await wait_idle(pilot)
        sidebar = app.chat_screen.query_one(Sidebar)
        listing = sidebar.query_one(ConversationList)
        await pilot.press("ctrl+f")
        await pilot.press(*"zzqx")
        await wait_until(pilot, lambda: "No conversation matches" in screen_text(app), what="the note")
        assert "zzqx" in screen_text(app)
        assert listing.option_count == 1 and listing.selected_id() is None
        await pilot.press("enter")  # to the list
        await pilot.press("enter", "d", "r")
        await pilot.pause()
        assert app.screen is app.chat_screen and len(app.controller.library.recent()) == 1
        # A search that finds it lists it, without the note.
        sidebar.search_box.value = "zebras"
        await wait_until(pilot, lambda: "No conversation matches" not in screen_text(app), what="a hit")
        assert listing.option_count == 1 and listing.selected_id() is not None

    run_pilot(app, scenario)


def test_export_pressed_twice_while_the_first_picture_draws_writes_two_pictures(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In the attention view, "e" twice in a row (the first picture takes seconds to draw): both got
    the same free name, so the second overwrote the first while both were being written, and the
    notifications said "Wrote" one file twice. A name being drawn is taken now."""
    import threading

    from assistant.inspect import pictures
    from assistant.tui.screens.attention import AttentionScreen

    from .test_tui_attention import attention_app, open_view, wait_map
    from .tui_support import wait_until

    folder = tmp_path / "pictures"
    folder.mkdir()
    monkeypatch.chdir(folder)
    release = threading.Event()
    drawn: list[str] = []

    def slow_picture(maps: Any, path: Any, layer: int, head: Any, model: str) -> None:
        release.wait(10)
        drawn.append(path.name)
        path.write_bytes(b"\x89PNG fake")

    monkeypatch.setattr(pictures, "save_attention_picture", slow_picture)
    app = attention_app()

    async def scenario(pilot: Any) -> None:
        screen = await open_view(pilot)
        await wait_map(pilot, screen)
        assert isinstance(screen, AttentionScreen)
        await pilot.press("e")
        await pilot.press("e")
        release.set()
        await wait_until(pilot, lambda: len(drawn) == 2 and not screen.exporting, what="two pictures")
        assert sorted(drawn) == ["attention-fake-model-layer3-mean-2.png", "attention-fake-model-layer3-mean.png"]
        assert sorted(p.name for p in folder.iterdir()) == sorted(drawn)

    run_pilot(app, scenario, size=(110, 40))


@pytest.mark.parametrize("where", ["search", "list"])
def test_esc_in_the_sidebar_stops_a_reply_being_written(where: str) -> None:
    """Ctrl+F while the model wrote, then Esc to stop it: the sidebar's own Esc (back to the message
    box) took the key, so the reply went on, and the footer did not offer "esc Stop reply" there.
    While a reply runs, Esc stops it from the sidebar too; when idle it still goes back to the box."""
    from assistant.tui.widgets.chat_log import AssistantMessage
    from assistant.tui.widgets.prompt_input import PromptInput
    from assistant.tui.widgets.sidebar import ConversationList, Sidebar

    from .tui_support import wait_until

    app = make_app(reply="word " * 400, token_delay=0.02)

    async def scenario(pilot: Any) -> None:
        screen = app.chat_screen
        await type_and_send(pilot, "Write a lot")
        await wait_until(pilot, lambda: screen.reply is not None and screen.reply.text, what="the reply")
        await pilot.press("ctrl+f")
        sidebar = screen.query_one(Sidebar)
        target = sidebar.search_box if where == "search" else sidebar.query_one(ConversationList)
        target.focus()
        await pilot.pause()
        assert "Stop reply" in [b.binding.description for b in app.active_bindings.values()]
        await pilot.press("escape")
        await wait_idle(pilot)
        reply = screen.query(AssistantMessage).last()
        assert reply.status == "interrupted" and len(reply.text) < len("word " * 400)
        assert target.has_focus
        await pilot.press("escape")  # idle: back to the message box
        assert isinstance(app.focused, PromptInput)

    run_pilot(app, scenario)


def test_a_settings_error_is_scrolled_into_sight_in_a_short_terminal() -> None:
    """F2 in a 50x14 terminal, "abc" as the temperature, Ctrl+S: nothing seemed to happen. The panel
    scrolls there, and its error line (under the fields) was out of sight. It is scrolled into view."""
    from textual.widgets import Input

    from assistant.tui.screens.settings import SettingsScreen

    from .tui_support import screen_text, wait_until

    app = make_app(reply="Hello there.")

    async def scenario(pilot: Any) -> None:
        app.action_settings()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SettingsScreen)
        field = screen.query_one("#temperature", Input)
        field.value = "abc"
        field.focus()
        await pilot.pause()
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: "must be a number" in screen_text(app), timeout=5, what="the error")
        assert app.screen is screen and field.has_focus

    run_pilot(app, scenario, size=(50, 14))

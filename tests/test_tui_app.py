"""The chat app driven through Textual's Pilot, over the fake backend."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("textual")

from assistant.tui.screens.chat import ChatScreen  # noqa: E402
from assistant.tui.widgets.chat_log import AssistantMessage, ChatLog, UserMessage  # noqa: E402
from assistant.tui.widgets.prompt_input import PromptInput  # noqa: E402
from assistant.tui.widgets.status_bar import StatusBar  # noqa: E402

from .tui_support import make_app, run_pilot, screen_text, type_and_send, wait_idle, wait_until  # noqa: E402


def chat(app: Any) -> ChatScreen:
    return app.chat_screen


def count_pieces_at_cancel(screen: ChatScreen) -> dict[str, int]:
    """Record how many text pieces had reached the screen when the controller was asked to cancel."""
    controller = screen.controller
    original_cancel = controller.cancel
    at_cancel: dict[str, int] = {}

    def counting_cancel() -> None:
        original_cancel()
        at_cancel["pieces"] = screen.buffer.pieces_in

    controller.cancel = counting_cancel  # type: ignore[method-assign]
    return at_cancel


def test_send_streams_reply_and_records_turn() -> None:
    app = make_app(reply="Hello **there**, friend.")

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "hi", press_enter=True)
        await wait_idle(pilot)
        log = chat(app).query_one(ChatLog)
        assert [type(m) for m in log.turns()] == [UserMessage, AssistantMessage]
        reply = log.last_assistant()
        assert reply is not None and reply.text == "Hello **there**, friend."
        assert reply.shown_markdown == "Hello **there**, friend."
        assert reply.status == ""
        assert [(m.role, m.content) for m in app.controller.messages] == [
            ("user", "hi"),
            ("assistant", "Hello **there**, friend."),
        ]
        text = screen_text(app)
        assert "Hello there, friend." in text  # bold markers rendered, not shown
        status = chat(app).query_one(StatusBar).info
        assert status.state == "idle" and status.tokens_per_second == pytest.approx(345.6)
        assert status.context_used == app.controller.last.usage.total_tokens
        assert chat(app).query_one(PromptInput).text == ""

    run_pilot(app, scenario)


def test_reply_streams_through_markdown_stream_in_pieces() -> None:
    reply = "word " * 100
    app = make_app(reply=reply, token_delay=0.004, stable=False)
    seen: list[int] = []

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "go")
        await wait_until(pilot, lambda: chat(app).reply is not None and len(chat(app).reply.text) > 0)
        while chat(app).generating:
            current = chat(app).reply
            if current is not None:
                seen.append(len(current.text))
            await pilot.pause(0.01)
        await wait_idle(pilot)
        assert chat(app).query_one(ChatLog).last_assistant().text == reply
        # The screen saw the reply grow, i.e. it was drawn while being generated.
        assert len({n for n in seen if 0 < n < len(reply)}) >= 2

    run_pilot(app, scenario)


def test_markup_and_escape_sequences_are_shown_literally() -> None:
    nasty = "[bold red]not bold[/] \x1b[31mnot red\x1b[0m"
    app = make_app(reply=lambda prompt: "reply " + nasty)

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, nasty)
        await wait_idle(pilot)
        text = screen_text(app)
        assert "[bold red]not bold[/]" in text
        assert "\x1b" not in text
        assert "␛[31mnot red␛[0m" in text
        # The conversation keeps the exact text; only the drawing is escaped.
        assert app.controller.messages[0].content == nasty

    run_pilot(app, scenario)


def test_escape_stops_reply_within_one_token_and_keeps_partial() -> None:
    full = "x" * 400
    app = make_app(reply=full, token_delay=0.01, stable=False)
    async def scenario(pilot: Any) -> None:
        screen = chat(app)
        controller = app.controller
        original_cancel = controller.cancel
        at_cancel = count_pieces_at_cancel(screen)
        await type_and_send(pilot, "long please")
        await wait_until(pilot, lambda: screen.buffer.pieces_in >= 5, what="some tokens")
        await pilot.press("escape")
        await wait_idle(pilot)
        reply = screen.query_one(ChatLog).last_assistant()
        assert reply is not None
        assert reply.status == "interrupted"
        assert "[interrupted]" in screen_text(app)
        assert 0 < len(reply.text) < len(full)
        assert screen.buffer.pieces_in - at_cancel["pieces"] <= 1
        assert controller.last.finish_reason == "cancelled"
        assert controller.messages[-1].content == reply.text
        # The app keeps working: the next message gets a full reply.
        controller.cancel = original_cancel  # type: ignore[method-assign]
        controller.backend.token_delay = 0.0
        await type_and_send(pilot, "again")
        await wait_idle(pilot)
        assert screen.query_one(ChatLog).last_assistant().text == full

    run_pilot(app, scenario)


def test_multiline_input_and_history() -> None:
    app = make_app()

    async def scenario(pilot: Any) -> None:
        box = chat(app).query_one(PromptInput)
        await pilot.press("a", "ctrl+j", "b")
        assert box.text == "a\nb"
        await pilot.press("enter")
        await wait_idle(pilot)
        assert app.controller.messages[0].content == "a\nb"
        await type_and_send(pilot, "second")
        await wait_idle(pilot)
        await pilot.press("d", "r", "a", "f", "t")
        await pilot.press("up")
        assert box.text == "second"
        await pilot.press("up")
        assert box.text == "a\nb"
        await pilot.press("down")  # cursor is on the last line of "a\nb"
        assert box.text == "second"
        await pilot.press("down")
        assert box.text == "draft"

    run_pilot(app, scenario)


def test_sending_while_generating_keeps_the_text() -> None:
    app = make_app(reply="y" * 300, token_delay=0.01, stable=False)

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "first")
        await wait_until(pilot, lambda: chat(app).buffer.pieces_in > 2)
        await type_and_send(pilot, "second")
        assert chat(app).query_one(PromptInput).text == "second"
        await pilot.press("escape")
        await wait_idle(pilot)
        assert [m.content for m in app.controller.messages if m.role == "user"] == ["first"]

    run_pilot(app, scenario)


def test_missing_model_is_a_notification_and_app_keeps_running() -> None:
    app = make_app(model="missing-model")

    async def scenario(pilot: Any) -> None:
        screen = chat(app)
        await wait_until(pilot, lambda: not screen.model_loading, what="load attempt")
        await pilot.pause()
        assert not app.controller.ready
        assert any("missing-model" in str(n.title) for n in app._notifications)
        assert screen.query_one(StatusBar).info.state == "no model"
        await type_and_send(pilot, "hello?")
        await pilot.pause()
        # Refused but not lost.
        assert screen.query_one(PromptInput).text == "hello?"
        screen.query_one(PromptInput).clear()
        # Loading a good model from the app works.
        screen.load_model("fake-model", "fake")
        await wait_until(pilot, lambda: app.controller.ready and not screen.model_loading)
        await type_and_send(pilot, "hello?")
        await wait_idle(pilot)
        assert screen.query_one(ChatLog).last_assistant().text == "Echo: hello?"

    scenario.no_wait = True  # type: ignore[attr-defined]
    run_pilot(app, scenario)


def test_context_overflow_is_reported_and_message_returned() -> None:
    """A message the model never saw (it could not fit) is not kept as if sent: its text is back in the box."""
    app = make_app(reply="Hi!", context_length=120)

    async def scenario(pilot: Any) -> None:
        screen = chat(app)
        await type_and_send(pilot, "Hello")
        await wait_idle(pilot)
        conversation_id = app.controller.conversation_id
        store = app.controller.library.store
        kept = [(m.role, m.content) for m in store.messages(conversation_id)]
        for _ in range(2):  # retrying piles nothing up
            screen.query_one(PromptInput).clear()
            await type_and_send(pilot, "z" * 500)
            await wait_idle(pilot)
            assert screen.query_one(PromptInput).text == "z" * 500
        assert sum("context" in n.message.lower() for n in app._notifications) == 2
        assert [m.content for m in app.controller.messages] == ["Hello", "Hi!"]
        assert [u.text for u in screen.query(UserMessage)] == ["Hello"]
        assert [a.text for a in screen.query(AssistantMessage)] == ["Hi!"]
        assert [(m.role, m.content) for m in store.messages(conversation_id)] == kept
        assert not any("z" * 500 in text for text in app.controller.library.recent_inputs())

    run_pilot(app, scenario)


def test_an_edit_over_the_context_window_leaves_the_conversation_as_it_was() -> None:
    app = make_app(reply="Hi!", context_length=120)

    async def scenario(pilot: Any) -> None:
        screen = chat(app)
        await type_and_send(pilot, "Hello")
        await wait_idle(pilot)
        user = screen.query_one(UserMessage)
        user.focus()
        await pilot.press("e")
        screen.query_one(PromptInput).load_text("z" * 500)
        await pilot.press("enter")
        await wait_idle(pilot)
        assert any("context" in n.message.lower() for n in app._notifications)
        assert [u.text for u in screen.query(UserMessage)] == ["Hello"]
        assert [a.text for a in screen.query(AssistantMessage)] == ["Hi!"]
        assert screen.query_one(PromptInput).text == "z" * 500
        stored = app.controller.library.store.messages(app.controller.conversation_id)
        assert [m.content for m in stored] == ["Hello", "Hi!"]

    run_pilot(app, scenario)


def test_help_lists_every_binding() -> None:
    from assistant.tui.keys import KEY_HELP
    from assistant.tui.screens.help import HelpScreen

    app = make_app()

    async def scenario(pilot: Any) -> None:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        for entry in KEY_HELP[:6]:
            assert entry.keys in text
        await pilot.press("escape")
        assert isinstance(app.screen, ChatScreen)

    run_pilot(app, scenario, size=(110, 50))


def test_prompt_inspector_shows_exact_prompt_and_token_count() -> None:
    from assistant.tui.screens.help import HelpScreen
    from assistant.tui.screens.inspector import PromptInspector

    app = make_app()

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "first question")
        await wait_idle(pilot)
        chat(app).query_one(PromptInput).load_text("draft question")
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, PromptInspector), what="inspector")
        preview = app.screen.preview
        backend = app.controller.backend
        expected = backend.render_prompt(app.controller.prompt_messages("draft question"))
        assert preview.text == expected
        assert "<|im_start|>user\nfirst question<|im_end|>" in preview.text
        assert preview.text.endswith("<|im_start|>user\ndraft question<|im_end|>\n<|im_start|>assistant\n")
        assert preview.tokens == backend.count_tokens(expected)
        assert f"{preview.tokens} tokens of 2048" in screen_text(app)
        inspector = app.screen
        await pilot.press("f1")  # a modal screen hides the app's F1: the inspector binds it itself
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), timeout=5, what="the help")
        assert "Copy the prompt" in screen_text(app)  # the inspector's own keys come first, on screen
        await pilot.press("escape")
        assert app.screen is inspector
        await pilot.press("c")
        assert app.clipboard == expected
        await pilot.press("escape")
        assert isinstance(app.screen, ChatScreen)

    run_pilot(app, scenario)


def test_settings_panel_changes_params_and_they_are_used() -> None:
    from textual.widgets import Input

    from assistant.tui.screens.settings import SettingsScreen

    app = make_app()

    async def scenario(pilot: Any) -> None:
        await pilot.press("f2")
        assert isinstance(app.screen, SettingsScreen)
        settings_screen = app.screen
        settings_screen.query_one("#temperature", Input).value = "0"
        settings_screen.query_one("#top_k", Input).value = "7"
        settings_screen.query_one("#max_tokens", Input).value = "64"
        settings_screen.query_one("#seed", Input).value = "42"
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, ChatScreen)
        params = app.controller.settings.params
        assert (params.temperature, params.top_k, params.max_tokens, params.seed) == (0.0, 7, 64, 42)
        assert "temp 0 (greedy)" in screen_text(app) and "seed 42" in screen_text(app)
        await type_and_send(pilot, "hi")
        await wait_idle(pilot)
        used = app.controller.backend.calls[-1]["params"]
        assert (used.temperature, used.top_k, used.max_tokens, used.seed) == (0.0, 7, 64, 42)

    run_pilot(app, scenario, size=(100, 40))


def test_settings_panel_works_from_the_keyboard_from_its_first_field() -> None:
    from textual.widgets import Select

    from assistant.tui.screens.settings import SettingsScreen

    app = make_app()
    switched: list[tuple[str | None, str | None]] = []

    async def scenario(pilot: Any) -> None:
        chat(app).load_model = lambda model=None, backend=None: switched.append((model, backend))
        await pilot.press("f2")
        assert isinstance(app.screen, SettingsScreen)
        assert app.focused is app.screen.query_one("#model", Select)
        await pilot.press("tab", "tab")  # the model path, then the backend
        backend = app.screen.query_one("#backend", Select)
        assert app.focused is backend
        options = [value for _, value in backend._options]
        await pilot.press("enter", "down", "enter")  # open the list, the next backend, choose it
        chosen = options[options.index("fake") + 1]
        assert backend.value == chosen
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, ChatScreen)
        assert switched and switched[-1][1] == chosen

    run_pilot(app, scenario, size=(100, 40))


def test_settings_panel_rejects_bad_values_without_closing() -> None:
    from textual.widgets import Input, Static

    from assistant.tui.screens.settings import SettingsScreen

    app = make_app()

    async def scenario(pilot: Any) -> None:
        await pilot.press("f2")
        screen = app.screen
        screen.query_one("#top_p", Input).value = "1.5"
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, SettingsScreen)
        assert "Top-p must be in (0, 1]" in str(screen.query_one("#error", Static).render())
        assert screen.focused is screen.query_one("#top_p", Input)  # the field to fix
        screen.query_one("#temperature", Input).value = "warm"
        await pilot.press("ctrl+s")
        assert "Temperature must be a number" in str(screen.query_one("#error", Static).render())
        await pilot.press("escape")
        assert isinstance(app.screen, ChatScreen)
        assert app.controller.settings.params.top_p == 0.95

    run_pilot(app, scenario, size=(100, 40))


def test_f1_opens_the_help_from_the_settings_and_the_dialogs_with_their_keys_first() -> None:
    """A modal screen hides the app's F1: settings, the yes/no and the text dialog bind it themselves."""
    from textual.widgets import Input

    from assistant.tui.screens.dialogs import AskText, Confirm
    from assistant.tui.screens.help import HelpScreen
    from assistant.tui.screens.settings import SettingsScreen

    app = make_app()

    async def help_over(pilot: Any, screen: Any, first_section: str) -> None:
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), timeout=5, what="the help")
        assert app.screen.first == first_section
        text = screen_text(app)
        assert first_section in text and text.index(first_section) < text.index("Message box")
        await pilot.press("escape")
        assert app.screen is screen

    async def scenario(pilot: Any) -> None:
        await pilot.press("f2")
        settings = app.screen
        assert isinstance(settings, SettingsScreen)
        settings.query_one("#temperature", Input).focus()  # a text field: F1 must still reach the screen
        await pilot.pause()
        await help_over(pilot, settings, "Settings")
        await pilot.press("escape")
        assert isinstance(app.screen, ChatScreen)

        confirm = Confirm("Delete it?")
        await app.push_screen(confirm)
        await pilot.pause()
        await help_over(pilot, confirm, "Dialogs")
        await pilot.press("n")
        assert isinstance(app.screen, ChatScreen)

        ask = AskText("Rename", "old title")
        await app.push_screen(ask)
        await pilot.pause()
        await help_over(pilot, ask, "Dialogs")
        assert ask.query_one(Input).value == "old title"  # F1 typed nothing into the field
        await pilot.press("escape")
        assert isinstance(app.screen, ChatScreen)

    run_pilot(app, scenario, size=(100, 40))


def test_switching_model_mid_conversation_keeps_messages() -> None:
    app = make_app()

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "before")
        await wait_idle(pilot)
        first_backend = app.controller.backend
        app.switch_engine(model="other-model")
        await wait_until(pilot, lambda: app.controller.backend is not first_backend and not chat(app).model_loading)
        await type_and_send(pilot, "after")
        await wait_idle(pilot)
        assert app.controller.backend.model_name == "other-model"
        prompt = app.controller.backend.calls[-1]["prompt"]
        assert "before" in prompt and "after" in prompt
        assert "other-model" in screen_text(app)

    run_pilot(app, scenario)


def test_switching_model_counts_the_context_again_and_drops_the_old_engines_speed() -> None:
    """The status line after a switch: the new engine's count of the conversation, no old tok/s or TTFT.

    The last reply's usage was counted in the previous engine's tokens; the
    engine switched to here reads the chat template's markers as one token
    each, so the old count is far off what the new model is sent.
    """
    from .tui_support import StableFakeBackend, register_fake

    app = make_app(reply="Hello there, how are you?")

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "before the switch")
        await wait_idle(pilot)
        screen = chat(app)
        assert screen.status.tokens_per_second is not None and screen.status.ttft_ms is not None
        old_count = screen.status.context_used
        register_fake(lambda: StableFakeBackend(reply="ok", special_tokens=("<|im_start|>", "<|im_end|>")))
        first_backend = app.controller.backend
        app.switch_engine(model="other-model")
        await wait_until(
            pilot, lambda: app.controller.backend is not first_backend and not screen.model_loading
        )
        await wait_until(pilot, lambda: not screen.status_pending, what="the status line")
        backend = app.controller.backend
        fitted = app.controller.fit()
        assert fitted is not None
        assert screen.status.context_used == fitted.prompt_tokens == backend.count_tokens(fitted.messages)
        assert screen.status.context_used != old_count
        assert screen.status.tokens_per_second is None and screen.status.ttft_ms is None
        assert "other-model" in screen_text(app) and "345.6" not in screen_text(app)

    run_pilot(app, scenario)


def test_copy_last_reply_and_code_block() -> None:
    reply = "Here:\n\n```python\nprint('a')\n```\n\nand\n\n```\nsecond\n```\n"
    app = make_app(reply=reply)

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "code please")
        await wait_idle(pilot)
        await pilot.press("f4")
        assert app.clipboard == reply
        message = chat(app).query_one(ChatLog).last_assistant()
        message.focus()
        await pilot.press("b")
        assert app.clipboard == "print('a')\n"
        await pilot.press("b")
        assert app.clipboard == "second\n"
        await pilot.press("c")
        assert app.clipboard == reply

    run_pilot(app, scenario)


def test_new_conversation_clears_the_view_and_messages() -> None:
    app = make_app()

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "hello")
        await wait_idle(pilot)
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.controller.messages == []
        assert not chat(app).query_one(ChatLog).turns()

    run_pilot(app, scenario)


def test_theme_toggle() -> None:
    app = make_app()

    async def scenario(pilot: Any) -> None:
        before = app.theme
        await pilot.press("ctrl+t")
        assert app.theme != before
        await pilot.press("ctrl+t")
        assert app.theme == before

    run_pilot(app, scenario)


def test_backend_switch_from_the_command_palette_next_reply_from_other_engine() -> None:
    from assistant.backends.fake import FakeBackend
    from assistant.hookspecs import hookimpl
    from assistant.plugins import register_plugin

    class OtherEngine(FakeBackend):
        name = "fake-b"

    class OtherPlugin:
        @hookimpl
        def register_backends(self, register: Any) -> None:
            register("fake-b", lambda: OtherEngine(reply="from engine B"), description="second fake")

    app = make_app(reply="from engine A")
    register_plugin(OtherPlugin(), name="other-engine")

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "first")
        await wait_idle(pilot)
        await pilot.press("ctrl+p")
        await pilot.press(*"Backend: fake-b")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.controller.backend.name == "fake-b" and not chat(app).model_loading)
        await type_and_send(pilot, "second")
        await wait_idle(pilot)
        replies = [m.text for m in chat(app).query(AssistantMessage)]
        assert replies == ["from engine A", "from engine B"]
        assert app.controller.settings.backend == "fake-b"
        # The second engine got the whole conversation.
        assert "from engine A" in app.controller.backend.calls[-1]["prompt"]
        assert "on fake-b" in screen_text(app)

    run_pilot(app, scenario)


def test_message_sent_while_the_model_loads_goes_when_it_is_ready() -> None:
    import time as _time

    from assistant.backends.fake import FakeBackend

    from .tui_support import register_fake

    class SlowLoading(FakeBackend):
        def load(self, model: str, **options: Any) -> None:
            _time.sleep(0.5)
            super().load(model, **options)

    app = make_app()
    register_fake(SlowLoading)

    async def scenario(pilot: Any) -> None:
        screen = chat(app)
        assert screen.model_loading
        await type_and_send(pilot, "early bird")
        assert screen.queued == "early bird"
        await type_and_send(pilot, "second")  # only one waits; this one goes back into the box
        assert screen.query_one(PromptInput).text == "second"
        await wait_until(pilot, lambda: app.controller.ready and not screen.model_loading)
        await wait_idle(pilot)
        assert screen.query_one(ChatLog).last_assistant().text == "Echo: early bird"
        # The loading state never covers the screen (Textual's own `loading` overlay is not used).
        assert not screen.query("LoadingIndicator")

    scenario.no_wait = True  # type: ignore[attr-defined]
    run_pilot(app, scenario)


def test_reply_from_an_engine_process_streams_and_stops_on_escape(fake_backend_plugin_file: Any) -> None:
    """The backend in a process of its own, as `assistant chat` runs it (a plugin file finds it there)."""
    from assistant.tui import ChatApp, ChatController, ChatSettings

    settings = ChatSettings(model="m", backend="fake", backend_options={"token_delay": 0.02})
    app = ChatApp(ChatController(settings))
    async def scenario(pilot: Any) -> None:
        import os

        screen = chat(app)
        controller = app.controller
        assert controller.backend.info()["engine_process"] != os.getpid()
        at_cancel = count_pieces_at_cancel(screen)
        await type_and_send(pilot, "hi")
        await wait_idle(pilot)
        assert screen.query_one(ChatLog).last_assistant().text == "Echo: hi"
        long_text = "x" * 400
        await type_and_send(pilot, long_text)
        await wait_until(pilot, lambda: screen.buffer.pieces_in >= 20, what="some tokens")
        await pilot.press("escape")
        await wait_idle(pilot)
        reply = screen.query_one(ChatLog).last_assistant()
        assert reply.status == "interrupted" and controller.last.finish_reason == "cancelled"
        assert 0 < len(reply.text) < len("Echo: " + long_text)
        assert screen.buffer.pieces_in - at_cancel["pieces"] <= 2  # one token may be in the pipe already
        assert controller.messages[-1].content == reply.text

    run_pilot(app, scenario)
    assert app.controller.backend is None  # unloaded: the engine process has ended


def test_the_switch_interval_is_shortest_only_while_the_model_shares_the_apps_process(
    fake_backend_plugin_file: Any,
) -> None:
    import sys

    from assistant.tui import ChatApp, ChatController, ChatSettings
    from assistant.tui.app import GIL_SWITCH_INTERVAL, GIL_SWITCH_INTERVAL_MODEL_HERE

    before = sys.getswitchinterval()
    seen: dict[str, float] = {}
    for where, make in (
        ("engine process", lambda: ChatApp(ChatController(ChatSettings(model="m", backend="fake")))),
        ("here", make_app),  # registers its fake at run time, which loads in this process
    ):
        app = make()

        async def scenario(pilot: Any, where: str = where, app: Any = app) -> None:
            await wait_until(pilot, lambda: app.controller.ready and not chat(app).model_loading, what="the model")
            assert app.controller.model_in_this_process == (where == "here")
            seen[where] = sys.getswitchinterval()

        run_pilot(app, scenario)
        assert sys.getswitchinterval() == before  # put back when the app ends
    assert seen == pytest.approx({"engine process": GIL_SWITCH_INTERVAL, "here": GIL_SWITCH_INTERVAL_MODEL_HERE})


def test_an_engine_crash_mid_reply_keeps_the_partial_reply_and_the_next_message_works(
    fake_backend_plugin_file: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import signal

    from assistant.tui import ChatApp, ChatController, ChatSettings
    from assistant.tui.screens.chat import ChatScreen

    progress: list[str] = []
    shown = ChatScreen.on_model_load_progress

    def on_model_load_progress(self: ChatScreen, message: Any) -> None:
        progress.append(message.text)
        shown(self, message)

    monkeypatch.setattr(ChatScreen, "on_model_load_progress", on_model_load_progress)

    settings = ChatSettings(model="m", backend="fake", backend_options={"token_delay": 0.01})
    app = ChatApp(ChatController(settings))

    async def scenario(pilot: Any) -> None:
        screen = chat(app)
        controller = app.controller
        await type_and_send(pilot, "y" * 300)
        await wait_until(pilot, lambda: screen.buffer.pieces_in >= 10, what="some tokens")
        os.kill(controller.backend.engine.pid, signal.SIGKILL)
        await wait_idle(pilot)
        reply = screen.query_one(ChatLog).last_assistant()
        assert reply.text.startswith("Echo: yyy") and len(reply.text) < 306
        assert any("killed by SIGKILL" in n.message for n in app._notifications)
        await type_and_send(pilot, "hi")  # a new engine process loads the model again (or has already)
        await wait_idle(pilot)
        assert screen.query_one(ChatLog).last_assistant().text == "Echo: hi"
        # In the status bar meanwhile, then not "loading" any more once it has loaded.
        assert progress == ["the engine stopped: loading m again", "m is loaded again"]
        info = screen.query_one(StatusBar).info
        assert "loading" not in f"{info.state}: {info.detail}"

    run_pilot(app, scenario)


def test_ctrl_c_says_how_to_quit_in_words_and_ctrl_d_quits_only_an_empty_box() -> None:
    app = make_app(reply="ok")

    async def scenario(pilot: Any) -> None:
        await pilot.press("ctrl+c")
        await pilot.pause()
        shown = [n.message for n in app._notifications]
        assert any("Press Ctrl+Q to quit" in m for m in shown) and not any("[b]" in m for m in shown)
        box = chat(app).query_one(PromptInput)
        box.load_text("keep me")
        box.move_cursor((0, 0))
        await pilot.press("ctrl+d")  # with text: deletes the character to the right, does not quit
        await pilot.pause()
        assert box.text == "eep me" and app.is_running
        box.clear()
        await pilot.press("ctrl+d")
        await pilot.pause()
        assert not app.is_running

    run_pilot(app, scenario)


def test_no_model_named_is_the_servers_own_in_the_settings_panel_and_the_default_elsewhere() -> None:
    """`chat -b openai` without -m leaves the model "" (the server's own): F2 must show it, not crash,
    and a local backend picked from there loads its own default instead of an empty name."""
    import dataclasses

    from textual.widgets import Select

    from assistant.backends import default_model_for
    from assistant.tui.screens.settings import SERVERS_OWN_MODEL, SettingsScreen

    from .tui_support import StableFakeBackend, register_fake

    class ServerLike(StableFakeBackend):
        capabilities_default = dataclasses.replace(StableFakeBackend.capabilities_default, catalog_models=False)

    app = make_app(model="")
    register_fake(lambda: ServerLike(reply="ok"))
    loaded: list[tuple[str, str]] = []

    async def scenario(pilot: Any) -> None:
        assert app.controller.settings.model == ""
        await pilot.press("f2")
        assert isinstance(app.screen, SettingsScreen)
        assert app.screen.query_one("#model", Select).value == "" and SERVERS_OWN_MODEL in screen_text(app)
        await pilot.press("escape")
        register_fake(lambda: StableFakeBackend(reply="ok"))  # a backend of catalog models from here on
        loader = app.controller._loader

        def recording(backend: str, name: str, **options: Any) -> Any:
            loaded.append((backend, name))
            return loader(backend, name, **options)

        app.controller._loader = recording
        app.controller.load(backend="fake")

    run_pilot(app, scenario, size=(100, 40))
    assert loaded == [("fake", default_model_for("fake"))] and loaded[0][1]

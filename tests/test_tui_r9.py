"""The chat app as a demanding user found it (round 9): each test failed before its fix."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("textual")

from .tui_support import make_app, run_pilot, screen_lines, type_and_send, wait_idle, wait_until  # noqa: E402

RLO = "\u202e"


def test_the_rename_dialog_shows_a_titles_bidi_override_instead_of_drawing_it() -> None:
    """A conversation titled with a right-to-left override (an `assistant prompt` line, kept by the
    history) showed as ``\\u202e`` in the sidebar, but ``r`` put the raw character in the rename
    field, which reordered the dialog's line on the terminal. OK on the untouched field still keeps
    the title as it was."""
    from assistant.tui.screens.dialogs import AskText

    app = make_app(reply="ok")
    title = f"report {RLO}fdp.exe"

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "hello")
        await wait_idle(pilot)
        controller = app.controller
        conversation_id = controller.conversation_id
        controller.library.rename(conversation_id, title)
        assert controller.library.title(conversation_id) == title  # the history keeps it
        app.chat_screen.refresh_sidebar()
        await pilot.press("ctrl+f")
        await pilot.press("down")
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, AskText), what="the rename dialog")
        await pilot.pause()
        lines = screen_lines(app)
        assert not any(RLO in line for line in lines), [line for line in lines if RLO in line]
        assert any("report \\u202efdp.exe" in line for line in lines)
        await pilot.press("enter")  # untouched: nothing changes
        await wait_until(pilot, lambda: not isinstance(app.screen, AskText), what="the dialog to close")
        assert controller.library.title(conversation_id) == title

    run_pilot(app, scenario)


def test_a_rename_typed_in_the_dialog_is_kept_as_typed() -> None:
    """The untouched check must not swallow a real change."""
    from textual.widgets import Input

    from assistant.tui.screens.dialogs import AskText

    app = make_app(reply="ok")

    async def scenario(pilot: Any) -> None:
        results: list[str | None] = []
        app.push_screen(AskText("Rename conversation", f"old {RLO}x"), results.append)
        await pilot.pause()
        field = app.screen.query_one("#answer", Input)
        field.value = "new title"
        await pilot.press("enter")
        await pilot.pause()
        assert results == ["new title"]

    scenario.no_wait = True  # type: ignore[attr-defined]
    run_pilot(app, scenario)


@pytest.mark.parametrize("colour", [True, False])
def test_the_attention_legend_explains_the_cells_as_they_are_drawn(colour: bool) -> None:
    """The map is drawn in colour (backgrounds, no glyphs), yet its legend was the glyph scale
    (``· <1%  ░ <10%  ▒ <50% …``): a key to characters found nowhere on the screen. Drawn in colour
    the legend now shows colour swatches; drawn in glyphs (no colour), the glyph scale."""
    from rich.text import Text
    from textual.widgets import Static

    from assistant.inspect.attention import heatmap_text
    from assistant.tui.screens.attention import AttentionScreen

    from .test_tui_attention import attention_app, open_view, wait_map

    app = attention_app()
    glyphs = "░▒▓█"

    async def scenario(pilot: Any) -> None:
        if not colour:
            original = AttentionScreen.__init__

            def glyph_screen(self: Any, *args: Any, **kwargs: Any) -> None:
                original(self, *args, **{**kwargs, "colour": False})

            AttentionScreen.__init__ = glyph_screen  # type: ignore[method-assign]
        try:
            screen = await open_view(pilot)
        finally:
            if not colour:
                AttentionScreen.__init__ = original  # type: ignore[method-assign]
        state = await wait_map(pilot, screen)
        drawn = heatmap_text(state.view(), colour=colour).plain
        legend = screen.query_one(".legend", Static).content
        assert isinstance(legend, Text)
        explained = {glyph for glyph in glyphs if glyph in legend.plain}
        if colour:
            assert not any(glyph in drawn for glyph in glyphs)
            assert not explained, legend.plain
            assert "colour = attention weight" in legend.plain
            assert any(span.style and getattr(span.style, "bgcolor", None) for span in legend.spans)
        else:
            assert explained == set(glyphs)
            assert "shade = attention weight" in legend.plain

    run_pilot(app, scenario)


class GatedLoads:
    """Fake backends whose loads wait for their model's gate (a load under way) when it has one."""

    def __init__(self, *gated: str) -> None:
        import threading

        self.gates = {model: threading.Event() for model in gated}
        self.entered = {model: threading.Event() for model in gated}
        self.loaded: list[str] = []

    def factory(self) -> Any:
        from assistant.backends.fake import FakeBackend

        loads = self

        class Gated(FakeBackend):
            def load(self, model: str, **options: Any) -> None:
                if model in loads.gates:
                    loads.entered[model].set()
                    assert loads.gates[model].wait(20), "the test never let the load finish"
                super().load(model, **options)
                loads.loaded.append(model)

        return Gated(reply="ok")


def test_a_model_chosen_while_another_loads_is_loaded_after_it_and_the_app_waits_for_both() -> None:
    """F2 → gemma, and while it loads (tens of seconds on a busy CPU) F2 → back to smollm2: the first
    load's end said "idle" with the first model while the second still loaded, so a message sent then
    went to the first model, whose engine the second load then unloaded under it. Now the newest choice
    loads once the running load ends, the app stays "loading" until then, and a message sent
    meanwhile waits for it."""
    from .tui_support import register_fake

    app = make_app(reply="ok")
    loads = GatedLoads("first", "second")
    register_fake(loads.factory)

    async def scenario(pilot: Any) -> None:
        screen = app.chat_screen
        controller = app.controller
        screen.load_model("first", "fake")
        await wait_until(pilot, loads.entered["first"].is_set, what="the first switch to be loading")
        screen.load_model("second", "fake")  # chosen while the first is loading
        await type_and_send(pilot, "hello")  # waits for the model
        loads.gates["first"].set()
        await wait_until(pilot, lambda: "first" in loads.loaded, what="the first load")
        await pilot.pause(0.2)
        assert screen.model_loading and screen.queued == "hello"  # the second is still to come
        assert not controller.messages
        loads.gates["second"].set()
        await wait_until(pilot, lambda: not screen.model_loading and screen.queued is None, what="the loads")
        await wait_idle(pilot)
        assert loads.loaded[-2:] == ["first", "second"]
        assert controller.settings.model == "second"
        assert controller.require_backend().model_name == "second"
        turn = controller.library.store.messages(controller.conversation_id)[-1]
        assert turn.status != "error" and turn.model == "second", (turn.model, turn.status)

    run_pilot(app, scenario)


def test_one_remembered_value_no_longer_valid_drops_only_itself() -> None:
    """chat_settings.json with ``top_k: -5`` (hand-edited, or allowed by an older version) beside the
    temperature the user chose: every remembered parameter fell back to the defaults."""
    from assistant.tui.remembered import Remembered
    from assistant.types import GenerationParams

    base = GenerationParams()
    remembered = Remembered(params={"temperature": 0.3, "top_k": -5, "max_tokens": "many", "seed": 7})
    kept = remembered.params_over(base)
    assert (kept.temperature, kept.top_k, kept.max_tokens, kept.seed) == (0.3, base.top_k, base.max_tokens, 7)


def test_ctrl_r_after_a_choice_templates_result_says_what_it_is() -> None:
    """`-t few-shot-sentiment`, one message, Ctrl+R: "There is no reply to write again yet", under the
    result on screen, as if the message had not been answered."""
    from assistant.tui.widgets.chat_log import ToolMessage

    app = make_app()
    notes: list[str] = []

    async def scenario(pilot: Any) -> None:
        app.switch_template("few-shot-sentiment")
        await type_and_send(pilot, "What a wonderful film, I loved it.")
        await wait_idle(pilot)
        assert app.chat_screen.log_view.query(ToolMessage)
        notify = app.chat_screen.notify
        def noting(message: str, **kw: Any) -> None:
            notes.append(message)
            notify(message, **kw)

        app.chat_screen.notify = noting  # type: ignore[method-assign]
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert notes and "choice template's result" in notes[-1] and "no reply" not in notes[-1], notes

    run_pilot(app, scenario)


@pytest.mark.parametrize(
    ("keys", "own"),
    [
        (["f2"], "Apply"),
        (["f1"], "Close"),
        (["ctrl+f", "down", "r"], "Cancel"),
        (["ctrl+f", "down", "delete"], "Yes"),
    ],
)
def test_a_panel_or_dialog_footer_shows_its_own_keys_not_the_focused_replys(
    keys: list[str], own: str
) -> None:
    """Focus a reply, then F2: the footer under the settings still offered "t Tokens  a Attention
    r Regenerate" (the chat's, for the reply focused behind the panel), none of which works there;
    the help and the sidebar's rename and delete dialogs showed the chat's F2, F3 and Ctrl+N."""
    from textual.widgets import Footer

    from assistant.tui.screens.chat import ChatScreen

    app = make_app(reply="Hello there.")

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "hello")
        await wait_idle(pilot)
        app.chat_screen.log_view.last_assistant().focus()
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        await wait_until(pilot, lambda: not isinstance(app.screen, ChatScreen), what="the panel")
        await pilot.pause(0.2)
        assert app.screen.query(Footer)
        footer = screen_lines(app)[-1]
        assert own in footer, footer
        assert not any(word in footer for word in ("Regenerate", "Tokens", "New chat", "Prompt")), footer

    run_pilot(app, scenario)


def test_a_running_tool_holds_the_engine_as_a_reply_does() -> None:
    """`/summarize` on a long text, then `t` on an earlier reply: the token view's scoring ran on the
    engine beside the tool's generation (two requests at once in one llama.cpp context), since only a
    streamed reply held the engine; closing the app mid-tool likewise freed the engine under the tool.
    Now the scoring is refused as it is during a reply ("the model is busy"), and unloading waits."""
    import threading

    from assistant.errors import BackendError, ToolError

    app = make_app(reply="a short reply")

    async def scenario(pilot: Any) -> None:
        controller = app.controller
        await type_and_send(pilot, "first question")
        await wait_idle(pilot)
        tokens = app.chat_screen.log_view.last_assistant().reply_tokens
        assert tokens is not None
        started, release = threading.Event(), threading.Event()

        def run(_: None) -> Any:
            started.set()
            assert release.wait(20)
            raise ToolError("stopped (Esc)")

        def tool() -> None:
            try:
                controller.run_exchange("/summarize a long text", run, lambda: None, tool_name="summarize")
            except ToolError:
                pass

        worker = threading.Thread(target=tool)
        worker.start()
        try:
            assert started.wait(20)
            with pytest.raises(BackendError, match="busy"):
                next(controller.reply_token_logprobs(tokens, 5))
        finally:
            release.set()
            worker.join(20)
        assert next(controller.reply_token_logprobs(tokens, 5)) is not None  # free again afterwards

    run_pilot(app, scenario)


def test_esc_in_a_token_view_opened_during_a_tool_does_not_stop_the_tool() -> None:
    """`t` on an earlier reply while `/summarize` runs: the view's scoring is refused (the engine is
    busy), but an Esc pressed before that answer came called the controller's cancel, which stopped
    the summary instead (its turn failed "stopped (Esc)")."""
    import threading

    from assistant.backends.fake import FakeBackend
    from assistant.tui.screens.token_view import TokenViewScreen
    from assistant.tui.widgets.chat_log import ToolMessage, UserMessage

    from .tui_support import register_fake

    started, gate = threading.Event(), threading.Event()

    class GatedSummaries(FakeBackend):
        def stream(self, prompt: Any, params: Any) -> Any:
            if "ummar" in str(prompt):  # the summary's generation waits until the test lets it go
                started.set()
                assert gate.wait(20)
            yield from super().stream(prompt, params)

    app = make_app(reply="A reply to summarise later.")
    register_fake(lambda: GatedSummaries(reply="A reply to summarise later."))

    async def scenario(pilot: Any) -> None:
        screen = app.chat_screen
        await type_and_send(pilot, "first question")
        await wait_idle(pilot)
        reply = screen.log_view.last_assistant()
        await type_and_send(pilot, "/summarize The tides rise and fall twice a day. The moon pulls the sea.")
        await wait_until(pilot, started.is_set, what="the summary to start")
        view = TokenViewScreen(reply.reply_tokens, reply.label)
        await app.push_screen(view)
        view.computing = True  # Esc before the scoring's "busy" came back
        view.cancel_computation()
        gate.set()
        view.dismiss(None)
        await wait_idle(pilot)
        result = screen.log_view.query(ToolMessage)
        assert result, "the summary was stopped"
        users = list(screen.log_view.query(UserMessage))
        assert users[-1].status != "failed"

    try:
        run_pilot(app, scenario)
    finally:
        gate.set()


@pytest.mark.parametrize("switch", ["new", "open"])
def test_a_message_waiting_for_the_model_is_not_sent_into_another_conversation(switch: str) -> None:
    """A message sent while a model loads waits for it; Ctrl+N (or opening another conversation from
    the sidebar) meanwhile, and it went, once the model was ready, into that other conversation. It
    comes back into the message box instead."""
    from assistant.tui.widgets.prompt_input import PromptInput

    from .tui_support import register_fake

    app = make_app(reply="ok")
    loads = GatedLoads("second")

    async def scenario(pilot: Any) -> None:
        screen = app.chat_screen
        controller = app.controller
        await type_and_send(pilot, "an older conversation")
        await wait_idle(pilot)
        older = controller.conversation_id
        await pilot.press("ctrl+n")
        await pilot.pause()
        register_fake(loads.factory)
        screen.load_model("second", "fake")
        await wait_until(pilot, loads.entered["second"].is_set, what="the load")
        await type_and_send(pilot, "written for the new chat")
        assert screen.queued == "written for the new chat"
        if switch == "new":
            await pilot.press("ctrl+n")
        else:
            await screen.open_conversation(older)
        await pilot.pause()
        loads.gates["second"].set()
        await wait_until(pilot, lambda: not screen.model_loading, what="the load to end")
        await wait_idle(pilot)
        assert screen.query_one(PromptInput).text == "written for the new chat"
        assert all(m.content != "written for the new chat" for m in controller.messages)
        for row in controller.library.recent():
            stored = controller.library.store.messages(row.id)
            assert all(m.content != "written for the new chat" for m in stored)

    try:
        run_pilot(app, scenario)
    finally:
        for gate in loads.gates.values():
            gate.set()


def test_the_attention_cursor_stays_in_sight_on_a_narrow_terminal() -> None:
    """At 60 columns the map of 64 tokens is wider than the view: the arrows moved the cursor (its
    weight changed under the map) while its cell stayed out of sight on the right, since only its
    row was followed. Its column is followed too, both ways."""
    from assistant.backends.fake import FakeAttentionBackend

    from .test_tui_attention import open_view, wait_map
    from .tui_support import register_fake

    reply = "Paris is the capital of France. " * 3
    app = make_app(reply=reply)
    register_fake(lambda: FakeAttentionBackend(reply=reply))

    def cursor_shown() -> bool:
        return any("◆" in line for line in screen_lines(app))

    async def scenario(pilot: Any) -> None:
        screen = await open_view(pilot)
        state = await wait_map(pilot, screen)
        assert state.column > 50  # the diagonal of the last row: beyond 60 columns with the labels
        await pilot.pause(0.2)
        assert cursor_shown()
        last = state.column
        state.column = 1  # all the way left (as ← pressed 50 times), then one more key
        await pilot.press("left")
        await pilot.pause(0.2)
        assert state.column == 0 and cursor_shown()
        state.column = last - 1  # and back to the right
        await pilot.press("right")
        await pilot.pause(0.2)
        assert state.column == last and cursor_shown()

    run_pilot(app, scenario, size=(60, 20))


def test_quitting_stops_a_load_that_was_waiting_for_another() -> None:
    """`a` (attention) on a reply, Esc, `a` again while the transformers engine still loads ("waiting
    for a model load under way"), then Ctrl+Q: quitting ended the load under way, but the waiting one
    then got its turn and started a new engine, and the program waited a minute more to exit."""
    import threading

    from assistant.errors import BackendError
    from assistant.tui import ChatController, ChatSettings

    gate, entered = threading.Event(), threading.Event()
    loaded: list[str] = []

    def loader(backend: str, model: str, **options: Any) -> Any:
        from assistant.backends.fake import FakeBackend

        if model == "first":
            entered.set()
            assert gate.wait(20)
        loaded.append(model)
        engine = FakeBackend(reply="ok")
        engine.load(model)
        return engine

    controller = ChatController(ChatSettings(model="first", backend="fake"), loader=loader)
    errors: list[Exception] = []

    def load(model: str) -> None:
        try:
            controller.load(model, "fake")
        except BackendError as exc:
            errors.append(exc)

    first = threading.Thread(target=load, args=("first",))
    first.start()
    assert entered.wait(20)
    second = threading.Thread(target=load, args=("second",))
    second.start()  # waits for the first load's lock
    controller.abort_loading()  # the app quits
    gate.set()
    first.join(20)
    second.join(20)
    assert "second" not in loaded
    assert errors and "closing" in str(errors[-1])
    controller.unload()

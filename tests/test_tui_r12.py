"""The chat app as a demanding user found it (round 12): each test failed before its fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("textual")

from .tui_support import make_app, run_pilot, type_and_send, wait_idle, wait_until  # noqa: E402


def test_a_remembered_model_file_since_deleted_is_forgotten(tmp_path: Path) -> None:
    """`assistant chat` with a .gguf path, the file deleted, and every later `assistant chat` opened with
    "Could not load ...: model file not found" and no model at all ("no model: F2 to choose one").
    Like a template since deleted, a model file that is gone is no longer remembered: the config's
    default model loads. Other names stay (a catalog name to pull, a server's model)."""
    from assistant.tui.remembered import Remembered, load_last_used, save_last_used

    model = tmp_path / "mine.gguf"
    model.write_bytes(b"GGUF")
    path = tmp_path / "chat_settings.json"
    save_last_used(Remembered(str(model), "llama-cpp", None, {"top_k": 5}), path)
    assert load_last_used(path) == Remembered(str(model), "llama-cpp", None, {"top_k": 5})
    model.unlink()
    remembered = load_last_used(path)
    assert remembered is not None
    assert (remembered.model, remembered.backend, remembered.params) == (None, "llama-cpp", {"top_k": 5})
    for kept in ("smollm2", "gpt-4o-mini", "hf:org/repo/file.gguf", "https://example.com/x.gguf"):
        path.write_text(json.dumps({"model": kept}))
        assert load_last_used(path).model == kept  # type: ignore[union-attr]
    path.write_text(json.dumps({"model": "gone-from-the-models-dir.gguf"}))
    assert load_last_used(path).model is None  # type: ignore[union-attr]


def test_a_message_waiting_for_the_model_is_not_sent_after_its_conversation_is_deleted() -> None:
    """A message sent while a model loads waits for it; the conversation it was written in deleted from
    the sidebar meanwhile, and the message went, once the model was ready, into a new conversation the
    user never started. It comes back into the message box, as after Ctrl+N."""
    from assistant.tui.widgets.prompt_input import PromptInput

    from .test_tui_r9 import GatedLoads
    from .tui_support import register_fake

    app = make_app(reply="ok")
    loads = GatedLoads("second")

    async def scenario(pilot: Any) -> None:
        screen = app.chat_screen
        controller = app.controller
        await type_and_send(pilot, "the conversation to delete")
        await wait_idle(pilot)
        doomed = controller.conversation_id
        register_fake(loads.factory)
        screen.load_model("second", "fake")
        await wait_until(pilot, loads.entered["second"].is_set, what="the load")
        await type_and_send(pilot, "written for the doomed chat")
        assert screen.queued == "written for the doomed chat"
        screen.delete_conversation(doomed)
        await pilot.pause()
        await pilot.press("y")
        await wait_until(pilot, lambda: controller.conversation_id is None, what="the delete")
        loads.gates["second"].set()
        await wait_until(pilot, lambda: not screen.model_loading, what="the load to end")
        await wait_idle(pilot)
        assert screen.query_one(PromptInput).text == "written for the doomed chat"
        assert controller.conversation_id is None and not controller.messages
        assert controller.library.recent() == []

    try:
        run_pilot(app, scenario)
    finally:
        for gate in loads.gates.values():
            gate.set()


def test_help_with_a_name_shows_that_command_and_refuses_a_name_that_is_none() -> None:
    """`/help translate` listed every command, and `/help nosuch` too, as if the word were not there.
    A name shows that command alone; one that is no command is a notification, the line goes back."""
    from assistant.tui.widgets.chat_log import ChatLog, ToolMessage, UserMessage
    from assistant.tui.widgets.prompt_input import PromptInput

    app = make_app()

    async def scenario(pilot: Any) -> None:
        log = app.chat_screen.query_one(ChatLog)
        await type_and_send(pilot, "/help translate")
        await pilot.pause()
        shown = log.query(ToolMessage).last().text
        assert "/translate TO" in shown and "/summarize" not in shown and "//text" not in shown
        await type_and_send(pilot, "/help /Summarize")
        await pilot.pause()
        shown = log.query(ToolMessage).last().text
        assert "/summarize" in shown and "/translate" not in shown
        before = len(log.query(UserMessage))
        await type_and_send(pilot, "/help nosuch")
        await pilot.pause()
        assert any("unknown tool 'nosuch'" in n.message for n in app._notifications)
        assert app.chat_screen.query_one(PromptInput).text == "/help nosuch"
        assert len(log.query(UserMessage)) == before  # nothing drawn for it
        app.chat_screen.query_one(PromptInput).clear()
        await type_and_send(pilot, "/help translate fr")
        await pilot.pause()
        assert any("/help takes one command's name" in n.message for n in app._notifications)
        app.chat_screen.query_one(PromptInput).clear()
        await type_and_send(pilot, "/help")
        await pilot.pause()
        shown = log.query(ToolMessage).last().text
        assert "/translate TO" in shown and "/summarize" in shown and "//text" in shown
        assert app.controller.messages == []  # /help is no turn

    run_pilot(app, scenario, size=(120, 40))


class _Explodes:
    """A tool that fails as it runs (a mistake only the tool sees)."""

    name = "explode"
    description = "Always fails (test tool)."
    parameters = ()

    def run(self, text: str, params: Any, backend: Any) -> Any:
        from assistant.errors import ToolError

        raise ToolError("the input has no sentences to work on")


def test_a_failed_tool_turn_says_why_live_and_reopened() -> None:
    """A slash command that failed as it ran was `You [failed]`: the reason was in a notification that
    went after 10 s, and reopened the turn said nothing at all of it (the history kept the error). The
    line says it now, live and reopened: `[failed: the input has no sentences to work on]`."""
    from assistant import tools
    from assistant.hookspecs import hookimpl
    from assistant.plugins import register_plugin, unregister_plugin
    from assistant.tui.widgets.chat_log import ChatLog, UserMessage, stored_widgets

    explodes = type("Explodes", (_Explodes, tools.BaseTool), {})

    class Plugin:
        @hookimpl
        def register_tools(self, register: Any) -> None:
            register(explodes())

    register_plugin(Plugin(), name="tui-r12-explodes")
    app = make_app(reply="ok")

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "/explode some text")
        await wait_idle(pilot)
        user = app.chat_screen.query_one(ChatLog).query(UserMessage).last()
        assert user.status == "failed"
        assert "[failed: the input has no sentences to work on]" in str(user.header_text())
        store = app.controller.library.store
        widgets = stored_widgets(store.messages(app.controller.conversation_id))
        assert [type(w) for w in widgets] == [UserMessage] and widgets[0].status == "failed"
        assert "[failed: the input has no sentences to work on]" in str(widgets[0].header_text())

    try:
        run_pilot(app, scenario)
    finally:
        unregister_plugin("tui-r12-explodes")


def test_a_live_reply_is_headed_by_the_models_name_as_it_is_reopened() -> None:
    """`assistant chat -m ~/models/x.gguf`: the live reply was headed by the whole path, while the status
    line and the same reply reopened (or another version shown) said "x.gguf", the engine's name for it."""
    from pathlib import PurePath

    from assistant.backends.fake import FakeBackend
    from assistant.tui.widgets.chat_log import AssistantMessage, ChatLog, stored_widgets

    from .tui_support import register_fake

    class NamedByFile(FakeBackend):
        def load(self, model: str, **options: Any) -> None:
            super().load(model, **options)
            self._model_name = PurePath(model).name

    app = make_app(reply="ok", model="/models/dir/x.gguf")
    register_fake(lambda: NamedByFile(reply="ok"))

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "hello")
        await wait_idle(pilot)
        live = app.chat_screen.query_one(ChatLog).query(AssistantMessage).last()
        stored = stored_widgets(app.controller.library.store.messages(app.controller.conversation_id))
        assert live.label == stored[-1].label == "x.gguf"

    run_pilot(app, scenario)


def test_a_lone_slash_lists_the_tools_instead_of_going_to_the_model() -> None:
    """The message box says "/ for tools": `/` and Enter sent "/" to the model as a message, and its
    answer became a turn of the conversation. It lists the tools, as /help does, and is no turn."""
    from assistant.tui.widgets.chat_log import ChatLog, ToolMessage

    app = make_app(reply="ok")

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "/")
        await wait_idle(pilot)
        await pilot.pause()
        shown = app.chat_screen.query_one(ChatLog).query(ToolMessage).last().text
        assert "/translate TO" in shown and "//text" in shown
        assert app.controller.messages == []
        assert app.controller.conversation_id is None  # nothing stored either

    run_pilot(app, scenario)

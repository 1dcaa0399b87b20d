"""The chat app, round 8: each test failed before its fix."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("textual")

from assistant.types import GenerationParams  # noqa: E402

from .tui_support import make_app, run_pilot, type_and_send, wait_idle, wait_until  # noqa: E402


def test_a_loaded_model_has_its_status_shown_or_pending_before_the_handler_first_yields() -> None:
    """CI saw an empty model name in the status line: the loaded handler awaited the spinner's removal
    after marking the model loaded but before starting the status refresh, so for a moment the app
    said 'ready, nothing pending' with no model named."""
    app = make_app(reply="Hi")
    seen: list[tuple[bool, bool, str]] = []

    async def scenario(pilot: Any) -> None:
        from assistant.tui.widgets.chat_log import ChatLog

        screen = app.chat_screen
        log = screen.query_one(ChatLog)
        remove = log.remove_children

        def watching_remove(*args: Any, **kwargs: Any) -> Any:
            seen.append((screen.model_loading, screen.status_pending, screen.status.model))
            return remove(*args, **kwargs)

        log.remove_children = watching_remove  # type: ignore[method-assign]
        screen.load_model("fake-model", "fake")
        await wait_until(pilot, lambda: bool(seen) and not screen.status_pending, what="load")
        assert seen and all(pending or model for _, pending, model in seen)

    scenario.no_wait = True  # type: ignore[attr-defined]
    run_pilot(app, scenario)


@pytest.mark.parametrize("line", ["hello there", "/sentiment what a lovely day"])
def test_the_app_turns_idle_only_once_the_reply_or_result_is_drawn(line: str) -> None:
    """The finish handlers set 'not generating' first and then awaited the reply's last drawing, so
    a test (or anything keyed to the idle state) could see the app idle with a half-finished reply."""
    from assistant.tui.screens.chat import ChatScreen

    app = make_app(reply="Hello! **Bold** reply.")
    seen: list[tuple[int, bool]] = []
    prop = ChatScreen.generating

    def setter(screen: Any, value: bool) -> None:
        if not value and prop.fget(screen):
            from assistant.tui.widgets.chat_log import ChatLog, ToolMessage

            log = screen.query_one(ChatLog)
            seen.append((len(log.query(ToolMessage)), screen.reply is None and screen.pending_user is None))
            last = log.last_assistant()
            seen.append((0, last is None or (last.shown_markdown == last.text and last.message_id is not None)))
        prop.fset(screen, value)

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, line)
        await wait_idle(pilot)

    ChatScreen.generating = property(prop.fget, setter)  # type: ignore[method-assign]
    try:
        run_pilot(app, scenario)
    finally:
        ChatScreen.generating = prop  # type: ignore[method-assign]
    assert seen and all(done for _, done in seen)
    if line.startswith("/"):
        assert seen[0][0] == 1  # the tool's result was on screen when the app went idle


def test_a_stored_reply_is_inspected_under_its_own_system_prompt_with_its_own_token_ids() -> None:
    """Reopened, a reply written before the system prompt changed was scored under the conversation's
    newest system prompt, and a reply stored without logprobs was re-tokenized from its text though the
    history now keeps its ids."""
    from assistant.tui.widgets.chat_log import ChatLog

    app = make_app(reply="a short reply")

    async def scenario(pilot: Any) -> None:
        controller = app.controller
        controller.settings.system = "You are terse."
        await type_and_send(pilot, "first question")
        await wait_idle(pilot)
        first = app.chat_screen.query_one(ChatLog).last_assistant()
        live_ids = list(first.reply_tokens.token_ids)
        controller.settings.system = "You are chatty."
        await type_and_send(pilot, "second question")
        await wait_idle(pilot)
        controller._written_here.clear()  # as reopened after a restart: only the history knows the reply
        stored = controller.stored_reply_tokens(first.message_id)
        assert stored is not None and stored.prompt is not None
        assert stored.prompt[0].role == "system" and stored.prompt[0].content == "You are terse."
        assert live_ids and stored.token_ids == live_ids and not stored.tokens

    run_pilot(app, scenario)


@pytest.mark.parametrize(("model", "shown"), [("gemma3-270m", "template completion"), ("fake-model", "template chat")])
def test_the_settings_bar_says_completion_for_a_base_model(model: str, shown: str) -> None:
    """With gemma3-270m (a base model: completion mode, no chat turns) the bar said "template chat"."""
    from assistant.tui.widgets.status_bar import SettingsBar

    app = make_app(model=model)

    async def scenario(pilot: Any) -> None:
        assert app.controller.prompt_mode() == ("completion" if model.startswith("gemma") else "chat")
        assert shown in app.chat_screen.query_one(SettingsBar).render().plain

    run_pilot(app, scenario)


def test_a_failed_tool_run_reopens_as_it_was_shown_live() -> None:
    """`/summarize` stopped with Esc showed the slash line marked failed; reopened, it was an empty
    "[error: stopped (Esc)]" reply, since the stored turn did not say a tool had run."""
    from assistant.errors import ToolError
    from assistant.tui.widgets.chat_log import AssistantMessage, UserMessage, stored_widgets

    app = make_app(reply="Hi")

    async def scenario(pilot: Any) -> None:
        controller = app.controller

        def run(_: None) -> Any:
            raise ToolError("stopped (Esc)")

        with pytest.raises(ToolError):
            controller.run_exchange("/summarize a long text", run, lambda: None, tool_name="summarize")
        stored = controller.library.store.messages(controller.conversation_id)
        assert stored[-1].tool_name == "summarize" and stored[-1].status == "error"
        widgets = stored_widgets(stored)
        assert [type(w) for w in widgets] == [UserMessage]
        assert widgets[0].status == "failed"
        assert not any(isinstance(w, AssistantMessage) for w in widgets)

    run_pilot(app, scenario)


def test_the_settings_bar_does_not_show_a_top_k_the_server_does_not_apply() -> None:
    """On a server without top_k (a generic OpenAI-compatible one) the bar said "top-k 40" while the
    server sampled without it (the backend's warning went to stderr, hidden by the app)."""
    import dataclasses

    from assistant.tui.widgets.status_bar import SettingsBar

    from .tui_support import StableFakeBackend, register_fake

    class NoTopK(StableFakeBackend):
        @property
        def capabilities(self):  # type: ignore[no-untyped-def]
            return dataclasses.replace(super().capabilities, top_k=False, seed=False)

    app = make_app(params=GenerationParams(top_k=40, seed=3, temperature=0.7))
    register_fake(lambda: NoTopK(reply="Hi"))

    async def scenario(pilot: Any) -> None:
        shown = app.chat_screen.query_one(SettingsBar).render().plain
        assert "top-k none here" in shown and "seed none here" in shown and "top-k 40" not in shown

    run_pilot(app, scenario)

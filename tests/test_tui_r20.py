"""The chat app as an adversarial user found it (round 20): each test of a defect failed before its fix."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("textual")

from .tui_support import make_app, run_pilot, type_and_send, wait_idle, wait_until  # noqa: E402


def _delete_conversation_elsewhere(conversation_id: int) -> None:
    """What `assistant history delete ID` in another terminal does, through a connection of its own."""
    from assistant.history import HistoryStore

    with HistoryStore.open() as store:
        store.delete(conversation_id)


def test_a_conversation_deleted_by_another_process_during_a_reply_does_not_crash_the_app() -> None:
    """`assistant history delete ID` in another terminal while the chat app streamed a reply into conversation
    ID: at the end of the reply the app looked up the turn's versions, found no message, and died with a
    traceback (HistoryError), losing the screen. Now the reply stays drawn, a warning says the turn is not
    stored, and the next message is refused with the store's one-line reason and goes back into the box."""
    from assistant.tui.widgets.prompt_input import PromptInput

    app = make_app(reply="word " * 40, token_delay=0.02)
    seen: dict[str, Any] = {}

    async def scenario(pilot: Any) -> None:
        screen = app.chat_screen
        await type_and_send(pilot, "hello")
        await wait_until(pilot, lambda: screen.generating, what="reply to start")
        cid = app.controller.conversation_id
        seen["cid"] = cid
        _delete_conversation_elsewhere(cid)
        await wait_idle(pilot)
        seen["reply"] = list(screen.log_view.children)[-1].text
        await type_and_send(pilot, "and again")
        await wait_idle(pilot)
        seen["box"] = screen.query_one(PromptInput).text

    run_pilot(app, scenario)
    assert app.return_code in (None, 0), app.return_code
    assert seen["reply"].startswith("word word"), seen
    shown = [(str(n.title), str(n.message)) for n in app._notifications]
    assert any(title == "History" and "not stored" in message for title, message in shown), shown
    assert any(f"no conversation with id {seen['cid']} (deleted?)" in message for _, message in shown), shown
    assert seen["box"] == "and again"


def test_regenerating_a_reply_of_a_conversation_deleted_elsewhere_names_the_deletion() -> None:
    """`r` on a reply after `history delete` removed its conversation in another terminal said "message 4
    is not on the branch shown", which reads as a bug of the app; it now says what happened, in the
    store's own words for it (as the next message sent there does)."""
    app = make_app(reply="hello there")

    async def scenario(pilot: Any) -> None:
        screen = app.chat_screen
        await type_and_send(pilot, "one")
        await wait_idle(pilot)
        _delete_conversation_elsewhere(app.controller.conversation_id)
        screen.log_view.last_assistant().focus()
        await pilot.pause()
        await pilot.press("r")
        await wait_idle(pilot)

    run_pilot(app, scenario)
    shown = [(str(n.title), str(n.message)) for n in app._notifications]
    assert ("Regenerate", "no conversation with id 1 (deleted?); start a new conversation") in shown, shown


def test_esc_takes_back_a_message_waiting_for_the_model_to_load() -> None:
    """Sent while the model loads, a message waits for it ("your message goes as soon as it is ready").
    Esc, the key that stops a reply, did nothing then, and the message went once the model was ready:
    a message sent by mistake could not be taken back. Esc now gives it back into the message box,
    unsent, and nothing is sent when the load ends."""
    from assistant.tui.widgets.prompt_input import PromptInput

    from .test_tui_r9 import GatedLoads
    from .tui_support import register_fake

    app = make_app(reply="ok")
    loads = GatedLoads("second")

    async def scenario(pilot: Any) -> None:
        screen = app.chat_screen
        register_fake(loads.factory)
        screen.load_model("second", "fake")
        await wait_until(pilot, loads.entered["second"].is_set, what="the load")
        await type_and_send(pilot, "sent by mistake")
        assert screen.queued == "sent by mistake"
        assert screen.query_one(PromptInput).text == ""
        await pilot.press("escape")
        assert screen.queued is None
        assert screen.query_one(PromptInput).text == "sent by mistake"
        loads.gates["second"].set()
        await wait_until(pilot, lambda: not screen.model_loading, what="the load to end")
        await wait_idle(pilot)
        assert screen.query_one(PromptInput).text == "sent by mistake"
        assert app.controller.conversation_id is None and not app.controller.messages

    try:
        run_pilot(app, scenario)
    finally:
        for gate in loads.gates.values():
            gate.set()


def test_the_token_and_attention_views_name_a_model_with_a_line_break_on_one_line() -> None:
    """A model named with a line break (a pasted reference, a file name): the token view's and the
    attention view's frame titles showed only its first line (``Tokens of fa␛ke``), the rest of the
    name silently gone, and the attention view's "Getting … ready" line broke in two. Each is one line
    now, as the reply's header and the status line show the name."""
    from assistant.types import GenerationParams

    from .tui_support import screen_lines

    app = make_app(reply="hello world", model="fa\x1bke\nINJECT\u2028X", params=GenerationParams(logprobs=5))
    seen: dict[str, list[str]] = {}

    async def scenario(pilot: Any) -> None:
        screen = app.chat_screen
        await type_and_send(pilot, "hi")
        await wait_idle(pilot)
        for key, screen_name in (("t", "TokenViewScreen"), ("a", "AttentionScreen")):
            screen.log_view.last_assistant().focus()
            await pilot.pause()
            await pilot.press(key)
            await wait_until(pilot, lambda: type(app.screen).__name__ == screen_name, what=screen_name)
            await wait_until(pilot, lambda: any("INJECT" in line for line in screen_lines(app)), what="the name")
            seen[key] = screen_lines(app)
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.screen is screen, what="back to the chat")

    run_pilot(app, scenario, size=(80, 24))
    assert "Tokens of fa␛ke INJECT X" in seen["t"][1], seen["t"][:3]
    assert "Attention — fa␛ke INJECT X" in seen["a"][1], seen["a"][:3]
    named = [line for line in seen["a"] if "INJECT" in line]
    assert all("fa␛ke INJECT X" in line for line in named), named

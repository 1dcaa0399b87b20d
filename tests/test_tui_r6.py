"""The chat app as a demanding user found it (round 6): each test failed before its fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("textual")

from assistant.backends.fake import FakeBackend  # noqa: E402
from assistant.tui import ChatController, ChatSettings  # noqa: E402
from assistant.tui.widgets.prompt_input import PromptInput  # noqa: E402

from .hub_server import cached_hf_model  # noqa: E402
from .tui_support import make_app, run_pilot, screen_text, type_and_send, wait_idle, wait_until  # noqa: E402


def test_a_models_mode_is_read_again_once_a_load_has_downloaded_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``-b openai -m org/base`` (nothing downloaded: chat), then F2 → transformers, which downloads it.

    The mode was cached by (setting, model name), both unchanged by the backend switch, so the
    base model went on being wrapped in chat turns after its files (no chat template) arrived.
    """
    pytest.importorskip("huggingface_hub")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)

    def loader(backend: str, model: str, **options: Any) -> FakeBackend:
        if backend == "downloading":  # what transformers does on load: the repository lands in the cache
            files = {"config.json": b"{}", "model.safetensors": b"w", "tokenizer_config.json": b"{}"}
            cached_hf_model(tmp_path / "hf-home", model, files)  # a base model: no chat template
        engine = FakeBackend()
        engine.load(model)
        return engine

    controller = ChatController(ChatSettings(model="org/base", backend="remote"), loader=loader)
    controller.load()
    assert controller.prompt_mode() == "chat"  # a server's model: nothing on disk to read
    controller.load(backend="downloading")
    assert controller.prompt_mode() == "completion"
    assert controller.session().mode == "completion"


def test_the_prompt_inspector_counts_a_completion_prompts_own_tokens() -> None:
    """In completion mode F3 counted the messages as chat turns (template and all), not the text sent."""
    from assistant.tui.screens.inspector import PromptInspector

    app = make_app(system=None)

    async def scenario(pilot: Any) -> None:
        app.controller.settings.mode = "completion"
        app.chat_screen.query_one(PromptInput).load_text("The capital of France is")
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, PromptInspector), what="inspector")
        preview = app.screen.preview
        backend = app.controller.backend
        assert preview.text == "The capital of France is"
        assert preview.tokens == backend.count_tokens("The capital of France is")
        assert preview.tokens < backend.count_tokens(list(preview.messages))  # the chat template's tokens
        text = screen_text(app)
        assert f"{preview.tokens} tokens of 2048" in text
        assert "· 1 message ·" in text  # not "1 messages"

    run_pilot(app, scenario)


def test_escape_before_the_first_token_leaves_the_message_out_and_gives_it_back() -> None:
    """Esc while the model still read the prompt: the model had answered nothing.

    The live chat kept the message and an empty reply in the conversation (the next message was
    sent after them, a 6,000-token paste included) while the same conversation resumed with -c
    or from the sidebar left them out; the pasted text was gone from the message box too.
    """
    from assistant.tui.widgets.chat_log import ChatLog, UserMessage

    app = make_app(reply="late answer", token_delay=1.0, stable=False)

    async def scenario(pilot: Any) -> None:
        screen = app.chat_screen
        controller = app.controller
        await type_and_send(pilot, "a long pasted text")
        await wait_until(pilot, lambda: screen.reply is not None, what="the reply to start")
        await pilot.press("escape")
        await wait_idle(pilot)
        assert screen.buffer.pieces_in == 0  # nothing was written: stopped before the first token
        assert controller.messages == []
        assert screen.prompt_input.text == "a long pasted text"
        log = screen.query_one(ChatLog)
        assert log.last_assistant() is None
        assert [m.status for m in log.query(UserMessage)] == ["not sent"]
        # The history keeps the attempt, and a resumed conversation leaves it out as the live one does.
        stored = controller.library.open(controller.conversation_id)
        assert [m.status for m in stored.stored] == ["complete", "interrupted"]
        assert stored.context == []
        controller.backend.token_delay = 0.0
        screen.prompt_input.load_text("")
        await type_and_send(pilot, "next")
        await wait_idle(pilot)
        assert [m.content for m in controller.messages] == ["next", "late answer"]

    run_pilot(app, scenario)


def test_a_reopened_chain_of_thought_reply_is_folded_as_it_was_live() -> None:
    """Live, a chain-of-thought reply folds its reasoning and shows the answer (or `no answer`).

    Reopened from the sidebar or with -c, the same reply was drawn raw, reasoning and
    "Answer:" line and all, and one without an answer line lost its `[no answer: …]`.
    """
    from textual.widgets import Collapsible, Markdown

    from assistant.tui.widgets.chat_log import AssistantMessage, ChatLog

    replies = iter(["Tom starts with 3 apples.\nHe buys 2 more, so 3 + 2 = 5.\nAnswer: 5", "I am not sure."])
    app = make_app(reply=lambda _prompt: next(replies))

    async def scenario(pilot: Any) -> None:
        screen = app.chat_screen
        app.switch_template("chain-of-thought")
        for question in ("Tom has 3 apples and buys 2 more. How many?", "2 + 2?"):
            await type_and_send(pilot, question)
            await wait_idle(pilot)
        live = [(len(r.query(Collapsible)), r.status) for r in screen.query_one(ChatLog).query(AssistantMessage)]
        conversation = app.controller.conversation_id
        await screen.action_new_conversation()
        await pilot.pause()
        await screen.open_conversation(conversation)
        await pilot.pause()
        replies_shown = list(screen.query_one(ChatLog).query(AssistantMessage))
        assert [(len(r.query(Collapsible)), r.status) for r in replies_shown] == live
        assert live[0] == (1, "") and live[1][1].startswith("no answer")
        folded = replies_shown[0]
        assert folded.query_one(Collapsible).collapsed
        assert folded.query_one(".answer", Markdown).source == "5"
        assert "3 + 2 = 5" in folded.query_one(Collapsible).query_one(Markdown).source
        assert folded.text.endswith("Answer: 5")  # copying it gives the whole reply, as live

    run_pilot(app, scenario, size=(100, 40))


def test_ctrl_r_after_a_tool_turn_does_not_write_an_earlier_reply_again() -> None:
    """Ctrl+R right after `/sentiment …` wrote the reply *before* it again, and the tool's turns
    vanished from the conversation shown (left on the other branch) — not what "the last reply" means."""
    from assistant.tui.widgets.chat_log import ChatLog

    app = make_app(reply="ok")

    async def scenario(pilot: Any) -> None:
        screen = app.chat_screen
        await type_and_send(pilot, "hello")
        await wait_idle(pilot)
        await type_and_send(pilot, "/sentiment what a lovely day")
        await wait_idle(pilot)
        store = app.controller.library.store
        conversation = app.controller.conversation_id
        before = [m.content for m in store.messages(conversation, branch="all")]
        shown = [(m.role, m.text) for m in screen.query_one(ChatLog).turns()]
        assert len(shown) == 4
        await pilot.press("ctrl+r")
        await pilot.pause(0.3)
        await wait_idle(pilot)
        assert [(m.role, m.text) for m in screen.query_one(ChatLog).turns()] == shown
        assert [m.content for m in store.messages(conversation, branch="all")] == before
        assert any("tool's result" in str(n.message) for n in app._notifications)

    run_pilot(app, scenario)


def test_a_stored_completion_mode_reply_is_scored_after_the_text_the_model_continued() -> None:
    """A base model's reply (completion mode), reopened: the token view rebuilt its prompt as chat
    turns (system prompt and chat template), so the numbers were computed after a prompt the
    model never saw, unlike the same reply's live view."""
    from assistant.tui.widgets.chat_log import ChatLog

    app = make_app(reply="there was a cat.")

    async def scenario(pilot: Any) -> None:
        screen = app.chat_screen
        controller = app.controller
        controller.settings.mode = "completion"
        await type_and_send(pilot, "Once upon a time")
        await wait_idle(pilot)
        await type_and_send(pilot, " And then")
        await wait_idle(pilot)
        live = screen.query_one(ChatLog).last_assistant()
        assert live.reply_tokens is not None
        assert live.reply_tokens.prompt == "Once upon a timethere was a cat. And then"
        stored = controller.stored_reply_tokens(live.message_id)
        assert stored is not None and stored.prompt == live.reply_tokens.prompt

    run_pilot(app, scenario)


def test_escape_stops_a_tool_that_makes_many_generations() -> None:
    """Esc during `/summarize` of a long text stopped only the generation running then: the tool
    retried the part it could not use, went on with the next parts, and the turn ran to its end
    (or failed with "the model did not produce a usable summary" after a second Esc)."""
    from assistant.tui.widgets.chat_log import ChatLog, ToolMessage, UserMessage

    app = make_app(reply="The text is about a fox.", token_delay=0.05, stable=False)
    text = " ".join(f"Sentence {i} says that the quick brown fox jumps over the lazy dog." for i in range(60))

    async def scenario(pilot: Any) -> None:
        screen = app.chat_screen
        backend = app.controller.backend
        await type_and_send(pilot, f"/summarize chunk_tokens=64 {text}")
        await wait_until(pilot, lambda: len(backend.calls) >= 1, what="the first part")
        await pilot.press("escape")
        await wait_idle(pilot)
        assert len(backend.calls) <= 3  # the part running, at most one more: not every part and the combining
        assert not screen.query_one(ChatLog).query(ToolMessage)
        # A stop is the user's choice, not a failure (round 14): marked stopped, no error notification.
        assert [m.status for m in screen.query_one(ChatLog).query(UserMessage)] == ["stopped"]
        assert any(str(n.message).startswith("Stopped") for n in app._notifications)
        assert not any(n.severity == "error" for n in app._notifications)
        assert screen.prompt_input.text.startswith("/summarize chunk_tokens=64")  # the line is back
        # The next tool runs to its end: the stop was this run's.
        screen.prompt_input.load_text("")
        backend.token_delay = 0.0
        await type_and_send(pilot, "/summarize The quick brown fox jumps over the lazy dog.")
        await wait_idle(pilot)
        assert len(screen.query_one(ChatLog).query(ToolMessage)) == 1

    run_pilot(app, scenario)

"""Slash commands in the chat app: tools on the text after the command or on the last message."""

from __future__ import annotations

from typing import Any, Mapping

import pytest

pytest.importorskip("textual")

from assistant.hookspecs import hookimpl  # noqa: E402
from assistant.plugins import register_plugin  # noqa: E402
from assistant.tui.widgets.chat_log import ChatLog, ToolMessage, UserMessage  # noqa: E402
from assistant.tui.widgets.prompt_input import PromptInput  # noqa: E402
from assistant.tui.widgets.tool_results import EntityView, SentimentView  # noqa: E402

from .tui_support import make_app, run_pilot, screen_text, type_and_send, wait_idle, wait_until  # noqa: E402

tools = pytest.importorskip("assistant.tools")


class FindCapitalised(tools.BaseTool):
    """A deterministic NER-like tool: every capitalised word is a PERSON."""

    name = "caps"
    description = "Capitalised words as entities (test tool)."
    parameters = (tools.Parameter("types", "list", default=("PERSON", "LOCATION")),)

    def run(self, text: str, params: Mapping[str, Any], backend: Any) -> Any:
        import re

        entities = [
            tools.Entity(m.group(), "PERSON", m.start(), m.end()) for m in re.finditer(r"\b[A-Z]\w+", text)
        ]
        return tools.EntitiesResult(entities, list(params["types"]))


class Explodes(tools.BaseTool):
    name = "explode"
    description = "Always fails (test tool)."

    def run(self, text: str, params: Mapping[str, Any], backend: Any) -> Any:
        raise RuntimeError("kaboom")


class TestTools:
    @hookimpl
    def register_tools(self, register: Any) -> None:
        register(FindCapitalised())
        register(Explodes())


@pytest.fixture
def test_tools() -> None:
    register_plugin(TestTools(), name="tui-test-tools")


def last_tool_message(app: Any) -> ToolMessage:
    return app.chat_screen.query_one(ChatLog).query(ToolMessage).last()


def test_sentiment_on_the_text_after_the_command_draws_bars() -> None:
    app = make_app()

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "/sentiment I loved this film, it was wonderful.")
        await wait_idle(pilot)
        message = last_tool_message(app)
        bars = str(message.query_one(SentimentView).render())
        assert "positive" in bars and "negative" in bars and "%" in bars
        stored = app.controller.library.store.messages(app.controller.conversation_id)
        assert stored[-1].tool_name == "sentiment"
        probabilities = stored[-1].tool_result["probabilities"]
        assert set(probabilities) == {"positive", "negative"}
        assert abs(sum(probabilities.values()) - 1) < 1e-3
        assert stored[-2].content == "/sentiment I loved this film, it was wonderful."

    run_pilot(app, scenario)


def test_after_a_tool_the_status_counts_the_conversation_with_the_tool_turn() -> None:
    from assistant.tui.widgets.status_bar import StatusBar

    app = make_app()

    async def scenario(pilot: Any) -> None:
        screen = app.chat_screen
        await type_and_send(pilot, "hello there")
        await wait_idle(pilot)
        after_reply = screen.query_one(StatusBar).info.context_used
        await type_and_send(pilot, "/sentiment I loved this film, it was wonderful.")
        await wait_idle(pilot)
        await wait_until(pilot, lambda: not screen.status_pending, what="the status refresh")
        used = screen.query_one(StatusBar).info.context_used
        fitted = app.controller.fit()
        assert fitted is not None and used == fitted.prompt_tokens  # what F3 counts for the next turn
        assert used > after_reply  # the tool turn is part of the conversation now

    run_pilot(app, scenario)


def test_tool_on_the_last_message_highlights_entities(test_tools: None) -> None:
    reply = "Ada Lovelace met Charles Babbage in London."
    app = make_app(reply=reply)

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "tell me a story")
        await wait_idle(pilot)
        await type_and_send(pilot, "/caps")
        await wait_idle(pilot)
        message = last_tool_message(app)
        assert "on the last message" in message.label
        view = message.query_one(EntityView)
        text = view.render()
        assert "Ada PERSON" in str(text) and "Legend:" in str(text)
        assert "LOCATION" in str(text)  # every requested type is in the legend, even with no hits
        # Resuming the conversation draws the same highlights from the stored result.
        conversation = app.controller.conversation_id
        await app.chat_screen.action_new_conversation()
        await app.chat_screen.open_conversation(conversation)
        await pilot.pause()
        resumed = app.chat_screen.query_one(ChatLog).query(ToolMessage).last()
        assert resumed.query(EntityView)
        assert resumed.label == message.label == "/caps (on the last message)"  # as it was when it ran

    run_pilot(app, scenario)


def test_translate_takes_the_language_as_a_word_and_needs_it() -> None:
    app = make_app(reply="Bonjour le monde")

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "/translate")
        await pilot.pause()
        # Refused before any model runs: the line goes back into the box, nothing was sent.
        assert app.chat_screen.query_one(PromptInput).text == "/translate"
        assert any("to" in n.message and n.severity == "error" for n in app._notifications)
        assert not app.chat_screen.query_one(ChatLog).turns()
        app.chat_screen.query_one(PromptInput).clear()
        await type_and_send(pilot, "/translate fr Hello world")
        await wait_idle(pilot)
        message = last_tool_message(app)
        assert message.label == "/translate to=fr"
        stored = app.controller.library.store.messages(app.controller.conversation_id)
        assert stored[-1].tool_name == "translate" and stored[-1].tool_result["target"] == "French"
        conversation = app.controller.conversation_id
        await app.chat_screen.action_new_conversation()
        await app.chat_screen.open_conversation(conversation)
        await pilot.pause()
        assert last_tool_message(app).label == "/translate to=fr"

    run_pilot(app, scenario)


def test_a_language_code_translate_does_not_know_keeps_the_typed_line() -> None:
    """The language is checked with the declared parameters, before the tool runs: nothing is sent or stored."""
    app = make_app(reply="Bonjour")

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "/translate zz Hello")
        await wait_idle(pilot)
        assert any("unknown language code 'zz'" in n.message for n in app._notifications)
        assert app.chat_screen.query_one(PromptInput).text == "/translate zz Hello"
        assert not list(app.chat_screen.query(UserMessage))  # refused, not a failed turn

    run_pilot(app, scenario)


def test_failing_tool_is_a_notification_and_the_app_keeps_working(test_tools: None) -> None:
    app = make_app()

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "/explode some text")
        await wait_idle(pilot)
        assert any("kaboom" in n.message for n in app._notifications)
        users = list(app.chat_screen.query(UserMessage))
        assert users[-1].status == "failed"
        stored = app.controller.library.store.messages(app.controller.conversation_id)
        assert stored[-1].status == "error" and "kaboom" in stored[-1].error
        await type_and_send(pilot, "still there?")
        await wait_idle(pilot)
        assert app.chat_screen.query_one(ChatLog).last_assistant().text == "Echo: still there?"

    run_pilot(app, scenario)


def test_unknown_command_and_help(test_tools: None) -> None:
    app = make_app()

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "/nosuchtool hi")
        await pilot.pause()
        assert any("unknown tool" in n.message for n in app._notifications)
        app.chat_screen.query_one(PromptInput).clear()
        await type_and_send(pilot, "/help")
        await pilot.pause()
        assert "//text" in screen_text(app)  # the end of the list, in view
        # Every installed tool with its parameters, from the registry (not a fixed table).
        shown = last_tool_message(app).text
        assert "/summarize [length=sentence|short|bullets] [chunk_tokens=…] [language=…] [TEXT]" in shown
        assert "/translate TO [source=…] [TEXT]" in shown
        assert "/caps [types=…] [TEXT]" in shown and "(plugin tui-test-tools)" in shown
        lines = [" ".join(line.split()) for line in shown.splitlines()]
        assert "length sentence, short (a paragraph) or bullets (default short)" in lines
        assert any(line.startswith("to ") and "required" in line for line in lines)
        assert any(line.startswith("source ") and "also from=" in line for line in lines)
        assert "//text" in shown
        # A doubled slash sends the text as a message.
        await type_and_send(pilot, "//etc/hosts is a file")
        await wait_idle(pilot)
        assert app.chat_screen.query_one(ChatLog).last_assistant().text == "Echo: /etc/hosts is a file"

    run_pilot(app, scenario, size=(120, 40))


def test_slash_command_with_nothing_to_work_on(test_tools: None) -> None:
    app = make_app()

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "/caps")
        await pilot.pause()
        assert any("needs text" in n.message for n in app._notifications)
        assert app.chat_screen.query_one(PromptInput).text == "/caps"

    run_pilot(app, scenario)


def test_tool_results_snapshot(test_tools: None, snap_compare: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Entities highlighted with a legend, sentiment as labelled bars (fake backend: deterministic)."""
    from .test_tui_snapshots import prepared

    monkeypatch.setattr("assistant.tui.conversations.format_when", lambda iso: "2025-06-01 12:00")
    app = make_app()
    run_before = prepared(
        "/caps Ada Lovelace met Charles Babbage in London.",
        "/sentiment I loved this film, it was wonderful.",
    )
    assert snap_compare(app, terminal_size=(110, 32), run_before=run_before)


def test_a_bare_slash_command_after_a_tool_result_uses_the_last_model_reply() -> None:
    from assistant.tui.tool_calls import last_conversation_message
    from assistant.types import Message

    messages = [
        Message("user", "Tell me about the film."),
        Message("assistant", "It was a dreadful, boring film."),
        Message("user", "/summarize"),
        Message("assistant", "A summary."),
        Message("user", "/sentiment"),
        Message("assistant", '{"label": "negative"}'),
    ]
    assert last_conversation_message(messages).content == "It was a dreadful, boring film."
    assert last_conversation_message(messages[:1]).content == "Tell me about the film."
    assert last_conversation_message([Message("user", "/help")]) is None

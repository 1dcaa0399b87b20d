"""Templates in the chat app: rendered turns, chain-of-thought folding, scored choices, pickers."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("textual")

from textual.widgets import Collapsible, Input, Markdown, Select  # noqa: E402

from assistant.tui.screens.settings import SettingsScreen  # noqa: E402
from assistant.tui.widgets.chat_log import ChatLog, ToolMessage  # noqa: E402
from assistant.tui.widgets.tool_results import SentimentView  # noqa: E402

from .tui_support import make_app, run_pilot, screen_text, type_and_send, wait_idle, wait_until  # noqa: E402

COT_REPLY = "Tom starts with 3 apples.\nHe buys 2 more, so 3 + 2 = 5.\nAnswer: 5"


def test_chain_of_thought_folds_reasoning_and_shows_the_answer() -> None:
    app = make_app(reply=COT_REPLY)

    async def scenario(pilot: Any) -> None:
        app.switch_template("chain-of-thought")
        settings = app.controller.settings
        assert settings.template == "chain-of-thought"
        assert (settings.params.temperature, settings.params.max_tokens) == (0, 256)  # the template's params
        assert "template chain-of-thought" in screen_text(app) and "temp 0 (greedy)" in screen_text(app)
        await type_and_send(pilot, "Tom has 3 apples and buys 2 more. How many?")
        await wait_idle(pilot)
        reply = app.chat_screen.query_one(ChatLog).last_assistant()
        collapsible = reply.query_one(Collapsible)
        assert collapsible.collapsed and collapsible.title == "Reasoning"
        assert reply.query_one(".answer", Markdown).source == "5"
        assert "3 + 2 = 5" in collapsible.query_one(Markdown).source
        # The model saw the template: its system prompt, worked examples, and the question.
        prompt = app.controller.backend.calls[-1]["prompt"]
        assert "Think step by step" in prompt and "Sara has 4 pencils" in prompt
        # The conversation keeps what was typed and the whole reply; the history knows the template.
        assert app.controller.messages[-2].content == "Tom has 3 apples and buys 2 more. How many?"
        assert app.controller.messages[-1].content == COT_REPLY
        stored = app.controller.library.store.messages(app.controller.conversation_id)
        assert stored[-1].template == "chain-of-thought" and stored[-1].content == COT_REPLY

    run_pilot(app, scenario)


def test_reply_without_answer_line_is_marked() -> None:
    app = make_app(reply="I am not sure.")

    async def scenario(pilot: Any) -> None:
        app.switch_template("chain-of-thought")
        await type_and_send(pilot, "2 + 2?")
        await wait_idle(pilot)
        reply = app.chat_screen.query_one(ChatLog).last_assistant()
        assert reply.status.startswith("no answer")
        assert not reply.query(Collapsible)

    run_pilot(app, scenario)


def test_choice_template_scores_labels_and_draws_bars() -> None:
    app = make_app()

    async def scenario(pilot: Any) -> None:
        app.switch_template("few-shot-sentiment")
        await type_and_send(pilot, "What a wonderful film, I loved it.")
        await wait_idle(pilot)
        message = app.chat_screen.query_one(ChatLog).query(ToolMessage).last()
        bars = message.query_one(SentimentView)
        text = str(bars.render())
        assert "positive" in text and "negative" in text and "%" in text
        label = app.controller.messages[-1].content
        assert label in ("positive", "negative")
        stored = app.controller.library.store.messages(app.controller.conversation_id)
        assert stored[-1].content == label and stored[-1].template == "few-shot-sentiment"
        assert set(stored[-1].tool_result["scores"]) == {"positive", "negative"}

    run_pilot(app, scenario)


def test_a_choice_prompt_over_the_context_window_is_no_turn() -> None:
    """As a streamed message whose prompt cannot be built: nothing stored, the line back in the box.

    It was stored as a failed turn before the template was run, although the
    model never saw it; sending it again then left a failed copy each time.
    """
    from assistant.tui.widgets.chat_log import UserMessage
    from assistant.tui.widgets.prompt_input import PromptInput

    app = make_app()  # a 2048-token window
    long_text = "What a wonderful film. " * 400

    async def scenario(pilot: Any) -> None:
        app.switch_template("few-shot-sentiment")
        await type_and_send(pilot, "Fine.")
        await wait_idle(pilot)
        conversation = app.controller.conversation_id
        stored_before = app.controller.library.store.messages(conversation)
        await type_and_send(pilot, long_text)
        await wait_idle(pilot)
        assert any("context" in n.message for n in app._notifications)
        assert app.controller.library.store.messages(conversation) == stored_before
        assert [m.text for m in app.chat_screen.query(UserMessage)] == ["Fine."]
        assert app.chat_screen.query_one(PromptInput).text == long_text
        assert app.controller.messages[-2].content == "Fine."  # the conversation as it was

    run_pilot(app, scenario)


def test_template_from_settings_with_variables_and_inspector() -> None:
    from assistant.tui.screens.inspector import PromptInspector
    from assistant.tui.widgets.prompt_input import PromptInput

    app = make_app()

    async def scenario(pilot: Any) -> None:
        await pilot.press("f2")
        screen = app.screen
        assert isinstance(screen, SettingsScreen)
        screen.query_one("#template", Select).value = "zero-shot"
        screen.query_one("#variables", Input).value = "task=Translate the text to French."
        await pilot.press("ctrl+s")
        assert app.controller.settings.template == "zero-shot"
        assert app.controller.settings.template_variables == {"task": "Translate the text to French."}
        app.chat_screen.query_one(PromptInput).load_text("Good morning")
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, PromptInspector))
        assert "Translate the text to French.\n\nGood morning" in app.screen.preview.text

    run_pilot(app, scenario, size=(100, 40))


def test_bad_template_variables_are_refused_in_the_panel() -> None:
    from textual.widgets import Static

    app = make_app()

    async def scenario(pilot: Any) -> None:
        await pilot.press("f2")
        screen = app.screen
        screen.query_one("#variables", Input).value = "no equals sign"
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, SettingsScreen)
        assert "name=value" in str(screen.query_one("#error", Static).render())

    run_pilot(app, scenario, size=(100, 40))


def test_unknown_template_is_a_notification() -> None:
    app = make_app()

    async def scenario(pilot: Any) -> None:
        app.switch_template("no-such-template")
        await pilot.pause()
        assert app.controller.settings.template is None
        assert any(n.severity == "error" and "no-such-template" in n.message for n in app._notifications)

    run_pilot(app, scenario)


def test_palette_lists_templates() -> None:
    app = make_app()

    async def scenario(pilot: Any) -> None:
        from textual.content import Content

        # As the palette shows them: it reads a title as markup (the strategy in brackets is escaped).
        titles = [Content.from_markup(command.title).plain for command in app.get_system_commands(app.screen)]
        assert "Template: few-shot [few-shot]" in titles
        assert "Template: chain-of-thought [chain-of-thought]" in titles

    run_pilot(app, scenario)


def test_back_to_plain_chat_takes_the_templates_params_back() -> None:
    from assistant.types import GenerationParams

    app = make_app(params=GenerationParams(temperature=0.9, max_tokens=100, top_k=7))

    async def scenario(pilot: Any) -> None:
        settings = app.controller.settings
        app.switch_template("chain-of-thought")
        assert (settings.params.temperature, settings.params.max_tokens) == (0, 256)
        app.controller.settings.params = settings.params.replace(top_k=3)  # the user's own change meanwhile
        app.switch_template("")
        assert settings.template is None
        assert (settings.params.temperature, settings.params.max_tokens, settings.params.top_k) == (0.9, 100, 3)

    run_pilot(app, scenario)


def test_the_template_list_has_plain_chat_once() -> None:
    from assistant.tui.templating import template_choices

    choices = template_choices()
    assert choices[0] == ("chat (no template)", "")
    assert [name for _, name in choices].count("chat") == 0 and len(choices) > 3


def test_variables_left_from_another_template_are_refused_with_the_field_named() -> None:
    """zero-shot's ``task`` kept in the field while switching to few-shot (which takes only ``input``)."""
    from textual.widgets import Static

    from assistant.tui.widgets.chat_log import UserMessage

    app = make_app()

    async def scenario(pilot: Any) -> None:
        await pilot.press("f2")
        screen = app.screen
        screen.query_one("#template", Select).value = "zero-shot"
        screen.query_one("#variables", Input).value = "task=Answer in French."
        await pilot.press("ctrl+s")
        assert app.controller.settings.template == "zero-shot"
        await pilot.press("f2")
        screen = app.screen
        assert isinstance(screen, SettingsScreen)
        assert screen.query_one("#variables", Input).value == "task=Answer in French."
        screen.query_one("#template", Select).value = "few-shot"
        await pilot.press("ctrl+s")
        assert app.screen is screen, "the panel stays open until the field is fixed"
        error = str(screen.query_one("#error", Static).render())
        assert error.startswith("Template vars:") and "task" in error and "it takes: input" in error
        assert screen.focused is screen.query_one("#variables", Input)
        assert app.controller.settings.template == "zero-shot"  # nothing changed
        assert app.controller.settings.template_variables == {"task": "Answer in French."}
        screen.query_one("#variables", Input).value = ""
        await pilot.press("ctrl+s")
        assert app.controller.settings.template == "few-shot"
        assert app.controller.settings.template_variables == {}
        await type_and_send(pilot, "What is 2 + 2?")
        await wait_idle(pilot)
        assert not any(n.severity == "error" for n in app._notifications)
        assert [m.status for m in app.chat_screen.query(UserMessage)] == [""]

    run_pilot(app, scenario, size=(100, 40))


def test_a_required_variable_left_out_is_refused_in_the_panel() -> None:
    from textual.widgets import Static

    app = make_app()

    async def scenario(pilot: Any) -> None:
        await pilot.press("f2")
        screen = app.screen
        screen.query_one("#template", Select).value = "translate"  # needs target=…
        await pilot.press("ctrl+s")
        assert app.screen is screen
        error = str(screen.query_one("#error", Static).render())
        assert error.startswith("Template vars:") and "target=…" in error
        screen.query_one("#variables", Input).value = "target=French"
        await pilot.press("ctrl+s")
        assert app.controller.settings.template == "translate"

    run_pilot(app, scenario, size=(100, 40))


def test_switching_template_from_the_palette_drops_variables_the_new_one_does_not_take() -> None:
    from assistant.tui.widgets.chat_log import UserMessage

    app = make_app()

    async def scenario(pilot: Any) -> None:
        app.controller.set_template("zero-shot", {"task": "Answer in French."})
        app.switch_template("few-shot")
        assert app.controller.settings.template_variables == {}
        await type_and_send(pilot, "What is 2 + 2?")
        await wait_idle(pilot)
        assert not any(n.severity == "error" for n in app._notifications)
        assert [m.status for m in app.chat_screen.query(UserMessage)] == [""]
        # Plain chat renders no template: the variables wait there for the template they were set for.
        app.controller.set_template("zero-shot", {"task": "Answer in French."})
        app.switch_template("")
        app.switch_template("zero-shot")
        assert app.controller.settings.template_variables == {"task": "Answer in French."}

    run_pilot(app, scenario)

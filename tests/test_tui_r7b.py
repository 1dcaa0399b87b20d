"""The chat app as a user found it (round 7b: tools, templates, settings): each test failed before its fix."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("textual")

from .tui_support import make_app, run_pilot, type_and_send, wait_idle, wait_until  # noqa: E402

CHOICE_WITH_VARIABLE = """---
description: Pick a label about a topic.
variables:
  - name: input
  - name: topic
output:
  type: choice
  labels: [related, unrelated]
  scoring: text
---
Is this about {{ topic }}? {{ input }}
Answer:"""


def _messages(app: Any) -> list[str]:
    return [n.message for n in app._notifications]


def test_a_template_switched_from_the_palette_says_at_once_which_variable_it_still_needs() -> None:
    """Ctrl+P, "Template: translate": the switch said nothing, and every message then failed with
    "missing required variable(s) target (pass them with -v NAME=VALUE)", an option the chat app
    does not have. Now the switch warns, naming the variable and the settings field, and a message
    sent anyway fails saying where to set it."""
    app = make_app(reply="Bonjour.")

    async def scenario(pilot: Any) -> None:
        app.switch_template("translate")
        await pilot.pause()
        warnings = [n.message for n in app._notifications if n.severity == "warning"]
        assert any("target" in m and "F2" in m and "Template vars" in m for m in warnings), warnings
        app._notifications.clear()
        await type_and_send(pilot, "Good morning.")
        await wait_idle(pilot)
        failed = [m for m in _messages(app) if "target" in m]
        assert failed and all("-v" not in m and "F2" in m for m in failed), _messages(app)

    run_pilot(app, scenario)


def test_a_choice_template_missing_a_variable_says_where_to_set_it_in_the_app(assistant_home: Any) -> None:
    """A choice template (labels scored, not generated) rendered without a required variable told
    the chat's user to "pass them with -v NAME=VALUE", as the other templates did."""
    from assistant.templates import user_templates_dir

    folder = user_templates_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "topic-check.jinja").write_text(CHOICE_WITH_VARIABLE, encoding="utf-8")
    app = make_app(reply="related")

    async def scenario(pilot: Any) -> None:
        app.switch_template("topic-check")
        await pilot.pause()
        assert any("topic" in m and "F2" in m for m in _messages(app)), _messages(app)
        app._notifications.clear()
        await type_and_send(pilot, "Cats purr.")
        await wait_idle(pilot)
        failed = [m for m in _messages(app) if "topic" in m]
        assert failed and all("-v" not in m and "Template vars" in m for m in failed), _messages(app)

    run_pilot(app, scenario)


def test_a_template_that_needs_nothing_more_switches_without_a_warning() -> None:
    """The warning is for a missing variable only: zero-shot's ``task`` has a default."""
    app = make_app(reply="Paris.")

    async def scenario(pilot: Any) -> None:
        app.switch_template("zero-shot")
        await pilot.pause()
        assert not [n for n in app._notifications if n.severity == "warning"]

    run_pilot(app, scenario)


@pytest.mark.parametrize(
    "line", ["/translate to=fr to=de Good morning.", "/translate fr to=de Good morning."]
)
def test_a_tool_parameter_given_twice_is_refused_before_the_tool_runs(line: str) -> None:
    """`/translate to=fr to=de Good morning.` translated into German: the last value silently won
    (the `tool` command refuses a doubled parameter). Now it is a notification naming the
    parameter, no turn is kept, and the line goes back into the message box."""
    from assistant.tui.widgets.prompt_input import PromptInput

    app = make_app(reply="Guten Morgen.")

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, line)
        await wait_idle(pilot)
        assert any("'to' given twice" in m for m in _messages(app)), _messages(app)
        assert app.controller.messages == []
        assert app.chat_screen.query_one(PromptInput).text == line

    run_pilot(app, scenario)


def test_a_stored_line_with_a_doubled_word_still_draws() -> None:
    """Parsing a stored line for its text (no tool's parameters at hand) never refuses it."""
    from assistant.tui.widgets.tool_results import stored_source_text

    assert stored_source_text(["/translate to=fr to=de hi"]) == "hi"


@pytest.mark.parametrize("reference", ["/nonexistent/model.gguf", "hf:", "https://example.com/"])
def test_a_bad_model_reference_in_the_settings_names_its_field_and_focuses_it(reference: str) -> None:
    """F2, "…or reference" = a file that is not there: the panel said "model file not found: …"
    but left the focus where it was (the docs promise the field named and focused, as for the
    sampling fields), so Ctrl+S from the model list gave no hint which field was wrong."""
    from textual.widgets import Input, Static

    from assistant.tui.screens.settings import SettingsScreen

    app = make_app()

    async def scenario(pilot: Any) -> None:
        await pilot.press("f2")
        screen = app.screen
        screen.query_one("#model_path", Input).value = reference
        screen.query_one("#temperature", Input).focus()
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, SettingsScreen)
        error = str(screen.query_one("#error", Static).render())
        assert error.startswith("…or reference:"), error
        assert screen.focused is screen.query_one("#model_path", Input)
        await pilot.press("escape")
        assert app.controller.settings.model == "fake-model"

    run_pilot(app, scenario, size=(100, 40))


def test_the_pull_entry_without_a_reference_focuses_the_reference_field() -> None:
    from textual.widgets import Input, Select, Static

    from assistant.tui.screens.settings import PULL_CHOICE

    app = make_app()

    async def scenario(pilot: Any) -> None:
        await pilot.press("f2")
        screen = app.screen
        screen.query_one("#model", Select).value = PULL_CHOICE
        await pilot.pause()
        screen.query_one("#seed", Input).focus()
        await pilot.press("ctrl+s")
        assert "type the model to pull" in str(screen.query_one("#error", Static).render())
        assert screen.focused is screen.query_one("#model_path", Input)

    run_pilot(app, scenario, size=(100, 40))


def test_applying_the_settings_unchanged_keeps_a_precise_temperature() -> None:
    """`-o temperature=0.123456789 -o top_p=0.987654321`, F2, Ctrl+S: the panel showed six
    digits and applying it set temperature 0.123457 and top-p 0.987654, values never chosen."""
    from assistant.types import GenerationParams

    app = make_app(params=GenerationParams(temperature=0.123456789, top_p=0.987654321))

    async def scenario(pilot: Any) -> None:
        await pilot.press("f2")
        await pilot.press("ctrl+s")
        await pilot.pause()
        params = app.controller.settings.params
        assert (params.temperature, params.top_p) == (0.123456789, 0.987654321)

    run_pilot(app, scenario, size=(100, 40))


def test_a_model_chosen_in_the_settings_while_a_reply_streams_loads_when_it_ends() -> None:
    """F2 during a reply, another model, Ctrl+S: the panel closed with "The model switches after
    this reply: press F2 again then", and after the reply nothing switched: the choice was lost
    and had to be made again. Now it is kept and loaded as the reply ends (Esc included)."""
    from assistant.tui.screens.settings import SettingsChoice

    app = make_app(reply="word " * 400, token_delay=0.01)

    async def scenario(pilot: Any) -> None:
        controller = app.controller
        await type_and_send(pilot, "Tell me a long story.")
        await pilot.pause(0.2)
        assert app.chat_screen.generating
        settings = controller.settings
        app.apply_settings(
            SettingsChoice(model="other-model", backend="fake", template=None, params=settings.params,
                           system=settings.system)
        )
        await pilot.pause()
        assert settings.model == "fake-model"  # not while the engine writes
        assert any("other-model" in m for m in _messages(app)), _messages(app)
        await pilot.press("escape")
        await wait_idle(pilot)
        await pilot.pause(0.2)
        await wait_until(pilot, lambda: controller.ready and not app.chat_screen.model_loading, what="load")
        assert controller.settings.model == "other-model"
        assert controller.messages[0].content == "Tell me a long story."  # the conversation carried over

    run_pilot(app, scenario)


def test_a_chat_started_with_a_template_that_needs_a_variable_says_so_at_once() -> None:
    """`assistant chat -t translate` (or the app reopened with the translate template it closed
    with: its variables are not remembered) opened silently; the first message then failed."""
    app = make_app(reply="Bonjour.")
    app.controller.set_template("translate")

    async def scenario(pilot: Any) -> None:
        await pilot.pause()
        assert any("target" in m and "Template vars" in m for m in _messages(app)), _messages(app)

    run_pilot(app, scenario)


def test_leaving_the_template_of_a_reopened_conversation_takes_its_parameters_back() -> None:
    """A chain-of-thought conversation (greedy, 256 new tokens: the template's own parameters)
    opened from the sidebar, then plain chat from the palette: the chat stayed greedy with 256
    new tokens, as if the user had chosen them, where switching templates otherwise takes a
    template's parameters back."""
    from assistant.types import GenerationParams

    app = make_app(reply="Reasoning.\nAnswer: 2", params=GenerationParams(temperature=0.7, max_tokens=512))

    async def scenario(pilot: Any) -> None:
        controller = app.controller
        app.switch_template("chain-of-thought")
        await type_and_send(pilot, "1 + 1?")
        await wait_idle(pilot)
        conversation_id = controller.conversation_id
        app.switch_template(None)
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert (controller.settings.params.temperature, controller.settings.params.max_tokens) == (0.7, 512)
        await app.chat_screen.open_conversation(conversation_id)
        await pilot.pause()
        assert controller.settings.template == "chain-of-thought"
        assert (controller.settings.params.temperature, controller.settings.params.max_tokens) == (0, 256)
        app.switch_template(None)
        assert (controller.settings.params.temperature, controller.settings.params.max_tokens) == (0.7, 512)

    run_pilot(app, scenario)


def test_a_parameter_named_by_its_other_name_leaves_the_text_alone() -> None:
    """`/translate target=fr Good morning.` (`target=` is the help's "also target=") failed with
    "parameter 'to' given twice": `target=fr` did not count as `to`, so the text's first word was
    taken for the leading `to` word as well. `from=` the same way for `source`."""
    from assistant.tui.tool_calls import prepare_tool_call

    app = make_app(reply="Bonjour.")

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "/translate target=fr from=en Good morning.")
        await wait_idle(pilot)
        assert not [n for n in app._notifications if n.severity == "error"], _messages(app)
        assert app.controller.messages[0].content == "/translate target=fr from=en Good morning."
        assert len(app.controller.messages) == 2  # the line and its result

    run_pilot(app, scenario)
    call = prepare_tool_call("/translate target=fr from=en Good morning.", [])
    assert (call.params["to"], call.params["source"], call.text) == ("French", "English", "Good morning.")


def test_templates_that_cannot_take_a_message_are_not_offered() -> None:
    """F2's template list and the palette offered `summarize-combine` (no `input` variable):
    picking it only said "has no 'input' variable, so it cannot take chat messages"."""
    from assistant.tui.templating import template_choices

    names = [name for _, name in template_choices()]
    assert "summarize-combine" not in names
    assert {"translate", "zero-shot", "few-shot", "chain-of-thought"} <= set(names)


def test_a_backend_picked_in_the_palette_while_a_reply_streams_loads_when_it_ends() -> None:
    """The palette's "Backend: …" during a reply said "Stop the reply first (Esc)" and dropped the
    choice, where F2 now keeps it: one rule for both, the load waits for the reply's end."""
    app = make_app(reply="word " * 400, token_delay=0.01)

    async def scenario(pilot: Any) -> None:
        controller = app.controller
        await type_and_send(pilot, "Tell me a long story.")
        await pilot.pause(0.2)
        assert app.chat_screen.generating
        app.switch_engine(model="third-model")
        await pilot.pause()
        assert controller.settings.model == "fake-model"
        await wait_idle(pilot)
        await pilot.pause(0.2)
        await wait_until(pilot, lambda: controller.ready and not app.chat_screen.model_loading, what="load")
        assert controller.settings.model == "third-model"

    run_pilot(app, scenario)

"""Chat app, round 9 (second wave): line breaks in replies, completion-mode turns, F2 during a switch."""

from __future__ import annotations

import threading
from typing import Any

import pytest

pytest.importorskip("textual")

from assistant.session import ChatSession, completion_text  # noqa: E402
from assistant.types import Message  # noqa: E402

from .tui_support import (  # noqa: E402
    make_app,
    register_fake,
    run_pilot,
    screen_lines,
    screen_text,
    type_and_send,
    wait_idle,
    wait_until,
)

POEM = (
    "Roses are red,\n"
    "Violets are blue.\n"
    "\n"
    "- one item\n"
    "- two item\n"
    "\n"
    "```\n"
    "code line a\n"
    "code line b\n"
    "```\n"
    "\n"
    "221B Baker Street\n"
    "London"
)


def _lines_with(text: str, *needles: str) -> list[str]:
    return [line for line in text.splitlines() if any(needle in line for needle in needles)]


# ---- 1. a model's single newlines are line breaks ------------------------------------------


def test_the_reply_parser_breaks_lines_in_paragraphs_only() -> None:
    """A poem's lines were joined into one paragraph; code, lists and tables must stay what they are."""
    from assistant.tui.widgets.line_breaks import reply_parser

    def inline_kinds(source: str) -> list[list[str]]:
        tokens = reply_parser().parse(source)
        return [[c.type for c in t.children or []] for t in tokens if t.type == "inline"]

    assert inline_kinds("a\nb\nc") == [["text", "hardbreak", "text", "hardbreak", "text"]]
    assert inline_kinds("a\n\nb") == [["text"], ["text"]]  # a blank line is still a new paragraph
    assert inline_kinds("- a\n  b\n- c") == [["text", "hardbreak", "text"], ["text"]]
    assert inline_kinds("> q1\n> q2") == [["text", "hardbreak", "text"]]
    fence = [t for t in reply_parser().parse("```\nx\ny\n```") if t.type == "fence"]
    assert fence and fence[0].content == "x\ny\n"
    indented = [t for t in reply_parser().parse("para\n\n    code1\n    code2\n") if t.type == "code_block"]
    assert indented and indented[0].content == "code1\ncode2\n"
    table = reply_parser().parse("| a | b |\n|---|---|\n| 1 | 2 |")
    assert any(t.type == "table_open" for t in table)
    assert [t.type for t in reply_parser().parse("Title\n===")][0] == "heading_open"


def test_a_poem_keeps_its_lines_streamed_and_reopened() -> None:
    """A poem or an address lost its line breaks in the chat log ("Roses are red, Violets are blue.")
    while the token view showed them. Live and reopened, each line is a line; the list and the code
    block still draw as Markdown."""

    def check(text: str) -> None:
        assert not _lines_with(text, "red, Violets"), text
        assert _lines_with(text, "Roses are red,") and _lines_with(text, "Violets are blue.")
        assert not _lines_with(text, "Street London"), text
        assert _lines_with(text, "London")
        assert not _lines_with(text, "code line a code line b")
        assert any("•" in line and "one item" in line for line in text.splitlines()), text
        assert not _lines_with(text, "```"), text  # the fence is drawn as a code block

    app = make_app(reply=POEM)
    seen: dict[str, str] = {}

    async def live(pilot: Any) -> None:
        await type_and_send(pilot, "a poem please")
        await wait_idle(pilot)
        await wait_until(pilot, lambda: "London" in screen_text(app), what="the reply drawn")
        seen["live"] = screen_text(app)

    run_pilot(app, live, size=(100, 50))
    check(seen["live"])

    reopened = make_app(reply=POEM, continue_latest=True)

    async def stored(pilot: Any) -> None:
        await wait_until(pilot, lambda: "London" in screen_text(reopened), what="the stored reply drawn")
        seen["stored"] = screen_text(reopened)

    run_pilot(reopened, stored, size=(100, 50))
    check(seen["stored"])


def test_every_segment_of_a_long_streamed_reply_keeps_line_breaks() -> None:
    """The live tail is replaced by fresh segments as a long reply streams: each must keep the rule."""
    import asyncio

    from textual.app import App, ComposeResult
    from textual.containers import VerticalScroll

    from assistant.tui.widgets.chat_log import AssistantMessage

    reply_text = "".join(f"line {i} first\nline {i} second\n\n" for i in range(12))

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            with VerticalScroll():
                yield AssistantMessage()

    async def main() -> list[str]:
        app = Host()
        async with app.run_test(size=(80, 200)) as pilot:
            message = app.query_one(AssistantMessage)
            for start in range(0, len(reply_text), 7):
                await message.write(reply_text[start : start + 7])
                await pilot.pause()
            await message.finish()
            await pilot.pause()
            assert message._stream is None and message.body.source == reply_text
            assert len(message.body.segments) > 1  # sealed segments as well as the tail
            return screen_lines(app)

    lines = "\n".join(asyncio.run(main()))
    for i in range(12):
        assert f"line {i} first line" not in lines, i
        assert f"line {i} second" in lines


# ---- 2. completion mode: a finished reply and the next text are not glued together ----------


def test_completion_text_separates_a_reply_from_the_next_user_text() -> None:
    """gemma3-270m in completion mode: "…the sea." then the user's "In the abyss" was sent (and shown)
    as "…the sea.In the abyss". A reply continues the text before it as the model wrote it; the user's
    next text gets one space when neither side has whitespace where they meet."""
    turns = [
        Message("system", "ignored"),
        Message("user", "Once upon a time"),
        Message("assistant", " there was the sea."),
        Message("user", "In the abyss"),
    ]
    assert completion_text(turns) == "Once upon a time there was the sea. In the abyss"
    # Whitespace either side is the separator already: nothing is added.
    user, model = "user", "assistant"
    assert completion_text([Message(user, "a"), Message(model, "b\n"), Message(user, "c")]) == "ab\nc"
    assert completion_text([Message(user, "a"), Message(model, "b"), Message(user, "\nc")]) == "ab\nc"
    # The reply itself is never separated from the text it continues (a word cut in the middle).
    assert completion_text([Message("user", "The ca"), Message("assistant", "t sat")]) == "The cat sat"
    # An empty reply adds nothing, and the separator still goes where text meets text.
    assert completion_text([Message("user", "a."), Message("assistant", ""), Message("user", "b")]) == "a. b"
    assert completion_text([]) == "" and completion_text([Message("user", "")]) == ""


def test_completion_mode_sends_what_the_inspector_shows() -> None:
    """The chat app in completion mode: the second turn's prompt holds the separator, and the
    prompt inspector's text for a next turn is exactly what the model is then sent."""
    prompts: list[str] = []

    def reply(prompt_text: str) -> str:
        prompts.append(prompt_text)
        return "the sea."

    app = make_app(reply=reply, system=None)
    app.controller.settings.mode = "completion"
    shown: dict[str, str] = {}

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "Tell me about")
        await wait_idle(pilot)
        shown["preview"] = app.controller.preview("In the abyss").text
        await type_and_send(pilot, "In the abyss")
        await wait_idle(pilot)

    run_pilot(app, scenario)
    assert prompts[-1] == "Tell me aboutthe sea. In the abyss"
    assert shown["preview"] == prompts[-1]


def test_a_continued_cli_completion_uses_the_same_text() -> None:
    """`assistant prompt -m gemma3-270m -c` goes through ChatSession: the same separator."""
    from assistant.backends.fake import FakeBackend

    sent: list[str] = []

    def reply(prompt_text: str) -> str:
        sent.append(prompt_text)
        return "It ended."

    backend = FakeBackend(reply=reply)
    backend.load("fake-model")
    session = ChatSession(backend, mode="completion")
    for _ in session.send("Begin:"):
        pass
    for _ in session.send("Then"):
        pass
    assert sent[-1] == "Begin:It ended. Then"
    assert session.prompt_for(session.fit_prompt("x")) == "Begin:It ended. ThenIt ended. x"


# ---- 3. F2 during a model switch ---------------------------------------------------------------


class _GatedLoads:
    """Fake backends whose load of ``gated`` waits for ``gate``."""

    def __init__(self, gated: str) -> None:
        self.gated = gated
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.loaded: list[str] = []

    def factory(self) -> Any:
        from assistant.backends.fake import FakeBackend

        loads = self

        class Gated(FakeBackend):
            def load(self, model: str, **options: Any) -> None:
                if model == loads.gated:
                    loads.entered.set()
                    assert loads.gate.wait(20), "the test never let the load finish"
                super().load(model, **options)
                loads.loaded.append(model)

        return Gated(reply="ok")


def test_settings_during_a_switch_show_the_model_being_loaded() -> None:
    """F2 → gemma, then F2 again while it loads: the panel showed the old model (the settings changed
    only once the load ended), and Apply on it left gemma loading while it claimed the old one. It shows
    the model chosen, says it is loading and who answers meanwhile; applying it unchanged loads nothing
    more, and the old engine keeps answering until the new one is ready."""
    from assistant.tui.screens.settings import SettingsScreen

    app = make_app(reply="ok")
    loads = _GatedLoads("next-model")

    async def scenario(pilot: Any) -> None:
        register_fake(loads.factory)
        screen = app.chat_screen
        first = app.controller.require_backend()
        screen.load_model("next-model", "fake")
        await wait_until(pilot, loads.entered.is_set, what="the switch to be loading")
        app.action_settings()
        await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen), what="the settings panel")
        panel = app.screen
        assert isinstance(panel, SettingsScreen)
        assert panel.current_model == "next-model"
        await wait_until(pilot, lambda: bool(panel.query("#model")), what="the panel's fields")
        note = str(panel.query_one("#note").render())
        assert "next-model on fake is loading" in note and "fake-model answers until then" in note
        assert app.controller.settings.model == "fake-model"  # nothing applied to the old engine
        panel.action_apply()
        await wait_until(pilot, lambda: not isinstance(app.screen, SettingsScreen), what="the panel to close")
        assert screen.load_after_load is None  # the unchanged panel queued no other load
        assert app.controller.require_backend() is first
        loads.gate.set()
        await wait_until(pilot, lambda: not screen.model_loading, what="the switch")
        await wait_idle(pilot)
        assert app.controller.settings.model == "next-model"
        assert loads.loaded.count("next-model") == 1
        app.action_settings()
        await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen), what="the settings panel")
        assert app.screen.current_model == "next-model"  # type: ignore[attr-defined]
        await wait_until(pilot, lambda: bool(app.screen.query("#model")), what="the panel's fields")
        assert not app.screen.query_one("#note").display  # nothing under way: no note

    run_pilot(app, scenario)


def test_choosing_the_loading_model_again_drops_a_choice_queued_before_it() -> None:
    """Switching to A, then B (queued after A), then A again: B still loaded after A, though A was
    the newest choice."""
    app = make_app(reply="ok")
    loads = _GatedLoads("model-a")

    async def scenario(pilot: Any) -> None:
        register_fake(loads.factory)
        screen = app.chat_screen
        screen.load_model("model-a", "fake")
        await wait_until(pilot, loads.entered.is_set, what="the switch to be loading")
        screen.load_model("model-b", "fake")
        assert screen.engine_choice == ("model-b", "fake")
        screen.load_model("model-a", "fake")
        assert screen.load_after_load is None and screen.engine_choice == ("model-a", "fake")
        loads.gate.set()
        await wait_until(pilot, lambda: not screen.model_loading, what="the switch")
        await wait_idle(pilot)
        assert "model-b" not in loads.loaded
        assert app.controller.settings.model == "model-a"

    run_pilot(app, scenario)


def test_the_open_panels_note_follows_the_switch_to_its_end() -> None:
    """F2 opened during a switch still said "is loading" after the model was loaded; and after a failed
    load it showed the model that failed with no word that applying it tries again."""
    from assistant.errors import BackendError
    from assistant.tui.screens.settings import SettingsScreen

    app = make_app(reply="ok")
    loads = _GatedLoads("good-model")
    failing = _GatedLoads("bad-model")

    def factory() -> Any:
        backend = loads.factory()
        original = backend.load

        def load(model: str, **options: Any) -> None:
            if model == "bad-model":
                failing.entered.set()
                assert failing.gate.wait(20), "the test never let the load finish"
                raise BackendError("no such model: bad-model")
            original(model, **options)

        backend.load = load
        return backend

    async def open_panel(pilot: Any) -> SettingsScreen:
        app.action_settings()
        await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen), what="the settings panel")
        panel = app.screen
        assert isinstance(panel, SettingsScreen)
        await wait_until(pilot, lambda: bool(panel.query("#note")), what="the panel's fields")
        return panel

    def note_of(panel: SettingsScreen) -> str:
        widget = panel.query_one("#note")
        return str(widget.render()) if widget.display else ""

    async def scenario(pilot: Any) -> None:
        register_fake(factory)
        screen = app.chat_screen
        screen.load_model("good-model", "fake")
        await wait_until(pilot, loads.entered.is_set, what="the switch to be loading")
        panel = await open_panel(pilot)
        assert "good-model on fake is loading" in note_of(panel)
        loads.gate.set()
        await wait_until(pilot, lambda: not screen.model_loading, what="the switch")
        await wait_until(pilot, lambda: note_of(panel) == "", what="the note to go")
        panel.action_cancel()
        await wait_until(pilot, lambda: not isinstance(app.screen, SettingsScreen), what="the panel to close")

        screen.load_model("bad-model", "fake")
        await wait_until(pilot, failing.entered.is_set, what="the failing switch to be loading")
        panel = await open_panel(pilot)
        assert "bad-model on fake is loading; good-model answers until then" in note_of(panel)
        failing.gate.set()
        await wait_until(pilot, lambda: not screen.model_loading, what="the failed switch")
        await wait_until(pilot, lambda: "could not be loaded" in note_of(panel), what="the failure noted")
        assert app.controller.settings.model == "good-model"

    run_pilot(app, scenario)


def test_a_choice_waiting_for_the_reply_is_noted_then_said_to_load() -> None:
    """F2 → another model while a reply is written: the panel says it loads when the reply ends, and
    once the reply has ended (here: stopped), that it is loading."""
    from assistant.tui.screens.settings import SettingsScreen

    app = make_app(reply="word " * 400, token_delay=0.02)
    loads = _GatedLoads("later-model")

    async def scenario(pilot: Any) -> None:
        register_fake(loads.factory)
        screen = app.chat_screen
        await type_and_send(pilot, "go")
        await wait_until(pilot, lambda: screen.generating, what="the reply to start")
        screen.load_model("later-model", "fake")
        assert screen.engine_after_reply == ("later-model", "fake")
        app.action_settings()
        await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen), what="the settings panel")
        panel = app.screen
        assert isinstance(panel, SettingsScreen)
        await wait_until(pilot, lambda: bool(panel.query("#note")), what="the panel's fields")
        assert "later-model on fake loads when the reply being written ends" in str(
            panel.query_one("#note").render()
        )
        screen.action_stop()
        await wait_until(pilot, loads.entered.is_set, what="the switch to start")
        await wait_until(
            pilot, lambda: "later-model on fake is loading" in str(panel.query_one("#note").render()),
            what="the note to follow",
        )
        loads.gate.set()
        await wait_until(pilot, lambda: not screen.model_loading, what="the switch")
        await wait_until(pilot, lambda: not panel.query_one("#note").display, what="the note to go")

    run_pilot(app, scenario)

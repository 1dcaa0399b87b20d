"""The chat app as a demanding user found it (round 10): each test failed before its fix."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("textual")

from .tui_support import make_app, run_pilot, screen_text, type_and_send, wait_idle, wait_ready  # noqa: E402

# What a model wrote → what must be on the screen (each vanished, or changed what it said, before).
VANISHING = {
    "1. 1.": "1. 1.",  # an empty nested list: nothing was drawn
    "- -": "• -",
    "1. first\n2. 1.\n3. third": "2. 1.",  # the second step vanished, number and all
    "[]()": "[]()",  # an empty link
    "see [](http://example.org) here": "see http://example.org here",
    "look ![](http://example.org/cat.png)": "(http://example.org/cat.png)",  # an image with no alt text
    "a <b>bold</b> <x> c": "a <b>bold</b> <x> c",  # inline HTML dropped: "a bold  c"
    "<div>kept</div>": "<div>kept</div>",  # an HTML block: the whole line vanished
    "[1]: https://example.org/source": "[1]: https://example.org/source",  # a reference definition
}


@pytest.mark.parametrize("reply", sorted(VANISHING))
def test_no_text_of_a_reply_vanishes_from_the_screen(reply: str) -> None:
    """Textual draws nothing for an empty nested list (``1. 1.``), HTML, a link reference definition
    or a link with no text; a model's reply is untrusted text and none of it may disappear."""
    app = make_app(reply=reply, history=False)

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "hi")
        await wait_idle(pilot)
        assert VANISHING[reply] in screen_text(app)

    run_pilot(app, scenario)


def test_a_dashed_line_under_a_line_keeps_the_line_text_and_the_dashes() -> None:
    """``Summary`` then ``---`` (a model's separator) made ``Summary`` a heading (setext) and the
    dashes vanished; both stay, as one paragraph (a streamed list nested under a line passes through
    this shape, so it must stay one block). A line underlined with ``===`` is still a heading."""
    from assistant.tui.widgets.line_breaks import reply_parser

    tokens = reply_parser().parse("Summary\n---\nmore")
    assert [t.type for t in tokens if t.level == 0] == ["paragraph_open", "paragraph_close"] * 2
    assert [c.content for c in tokens[1].children or [] if c.type == "text"] == ["Summary", "---"]
    quoted = reply_parser().parse("> Summary\n>  -----  ")
    assert [c.content for c in quoted[2].children or [] if c.type == "text"] == ["Summary", "-----"]
    assert reply_parser().parse("Title\n=====")[0].type == "heading_open"  # underlined: a heading


def test_a_dashed_line_shows_on_screen() -> None:
    app = make_app(reply="Summary\n---\nmore", history=False)

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "hi")
        await wait_idle(pilot)
        lines = [line.strip(" ▌▕") for line in screen_text(app).splitlines()]
        assert "Summary" in lines and "---" in lines and "more" in lines

    run_pilot(app, scenario)


def test_markdown_a_model_means_is_still_drawn_as_markdown() -> None:
    """The rule spells out only what would vanish: real lists, links, headings and rules stay."""
    from assistant.tui.widgets.line_breaks import reply_parser

    types = [
        t.type for t in reply_parser().parse("# Head\n\n1. one\n2. two\n\n- a\n\n***\n\n[x](http://e.org)")
    ]
    for kind in ("heading_open", "ordered_list_open", "bullet_list_open", "hr", "paragraph_open"):
        assert kind in types
    inline = reply_parser().parse("[x](http://e.org)")[1]
    assert [c.type for c in inline.children or []] == ["link_open", "text", "link_close"]


def test_switching_the_model_keeps_the_conversation_on_screen_and_the_message_box_focused() -> None:
    """The chat screen kept the engine being loaded in ``self.loading`` — Textual's own reactive of
    that name — so every load covered the whole screen with a loading indicator (the conversation
    and the message box vanished), and the focus fell from the message box onto the last reply:
    the next words typed after F2 → another model went to the reply's keys (``c`` copied it)."""
    from assistant.tui.widgets.prompt_input import PromptInput

    app = make_app(reply="hello there")

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "hi")
        await wait_idle(pilot)
        screen = app.chat_screen
        screen.load_model("other-model", "fake")
        assert screen.model_loading
        assert not screen.loading  # Textual's loading indicator over the whole screen
        await wait_ready(pilot)
        assert isinstance(app.focused, PromptInput), app.focused
        assert "hello there" in screen_text(app)

    run_pilot(app, scenario)


def test_a_remembered_mode_or_template_that_no_longer_works_is_no_memory(tmp_path: Any) -> None:
    """``chat_settings.json`` is "no memory, never an error" when broken, yet a mode it held that is
    no mode (a hand edit, an older version) crashed `assistant chat` with a traceback
    (``ConfigError: mode must be one of chat, completion``), and a template since deleted stopped
    every `assistant chat` with "no template named ..." before the app opened. Those values are
    dropped; the good ones are kept."""
    import json

    from assistant.tui.remembered import load_last_used

    path = tmp_path / "chat_settings.json"
    path.write_text(
        json.dumps(
            {"model": "smollm2", "mode": "bogus", "template": "no-such-template", "params": {"top_k": 5}}
        )
    )
    remembered = load_last_used(path)
    assert remembered is not None
    assert (remembered.model, remembered.mode, remembered.template) == ("smollm2", None, None)
    assert remembered.params == {"top_k": 5}
    path.write_text(json.dumps({"mode": "completion", "template": "translate"}))
    remembered = load_last_used(path)
    assert remembered is not None and (remembered.mode, remembered.template) == ("completion", "translate")


def test_a_conversation_opened_from_the_sidebar_in_a_narrow_window_gets_the_room() -> None:
    """Below 80 columns the sidebar starts hidden; shown with Ctrl+F, it kept its 34 columns after a
    conversation was opened from it, and at 40 columns the conversation got 6: nothing readable."""
    from assistant.tui.widgets.prompt_input import PromptInput

    app = make_app(reply="the stored answer")

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "first question")
        await wait_idle(pilot)
        await pilot.press("ctrl+n")
        await pilot.pause()
        await pilot.press("ctrl+f")
        await pilot.pause()
        assert not app.chat_screen.sidebar.has_class("-hidden")
        await pilot.press("down")
        await pilot.press("enter")
        await wait_idle(pilot)
        await pilot.pause()
        assert app.chat_screen.sidebar.has_class("-hidden")
        assert "the stored answer" in screen_text(app)
        assert isinstance(app.focused, PromptInput)

    run_pilot(app, scenario, size=(40, 14))


def test_searching_a_sidebar_already_shown_does_not_pin_it_in_a_narrower_window() -> None:
    """Ctrl+F in a wide window (the sidebar shown anyway) counted as the user choosing to show it,
    so a window narrowed later kept its 34 columns beside a 6-column conversation."""
    app = make_app(reply="an answer")

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "question")
        await wait_idle(pilot)
        await pilot.press("ctrl+f")
        await pilot.press("escape")
        await pilot.pause()
        await pilot.resize_terminal(40, 14)
        await pilot.pause(0.2)
        assert app.chat_screen.sidebar.has_class("-hidden")
        assert "an answer" in screen_text(app)

    run_pilot(app, scenario)


@pytest.mark.parametrize(
    ("href", "opened"),
    [("run.sh", False), ("ssh://host/x", False), ("mailto:x@y.org", False), ("https://example.org/a", True)],
)
def test_a_click_on_a_models_link_opens_only_a_web_address(href: str, opened: bool) -> None:
    """A click on a link in a reply went to ``webbrowser.open`` as is: ``[notes](run.sh)`` had
    xdg-open open a file of the working folder with its default program; other schemes start
    whatever handles them. Only http(s) addresses open; the others are named in a warning."""
    from textual.widgets import Markdown

    app = make_app(reply=f"see [the notes]({href})", history=False)

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "hi")
        await wait_idle(pilot)
        asked: list[str] = []
        app._driver.open_url = lambda url, new_tab=True: asked.append(url)  # type: ignore[union-attr]
        markdown = app.chat_screen.query(Markdown).last()
        markdown.post_message(Markdown.LinkClicked(markdown, href))
        await pilot.pause(0.2)
        assert asked == ([href] if opened else [])
        if not opened:
            assert any(href in n.message for n in app._notifications)

    run_pilot(app, scenario)


def test_a_number_too_large_for_a_float_is_named_as_typed_in_the_settings_panel() -> None:
    """Temperature ``1e999`` was refused as "must be a finite number, not inf": a value the user
    never typed. The error quotes what was typed; ``inf`` typed is still named as such."""
    from assistant.tui.screens.settings import FieldError, parse_params
    from assistant.types import GenerationParams

    values = {"temperature": "1e999", "top_k": "40", "top_p": "0.9", "max_tokens": "64", "seed": ""}
    with pytest.raises(FieldError) as caught:
        parse_params(values, GenerationParams())
    assert "'1e999'" in str(caught.value) and caught.value.field == "temperature"
    with pytest.raises(FieldError, match="inf"):
        parse_params({**values, "temperature": "inf", "top_p": "1e400"}, GenerationParams())


@pytest.mark.parametrize("reply", ["", "  \n\n "])
def test_a_reply_with_no_text_says_so_live_and_reopened(reply: str) -> None:
    """A model that ended at once (or wrote only blanks) left its name over nothing: the same as a
    reply still waiting for its first token. Its header says "empty reply", and so does the
    conversation reopened."""
    app = make_app(reply=reply)

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "hi")
        await wait_idle(pilot)
        assert "fake-model  [empty reply]" in screen_text(app)
        conversation_id = app.controller.conversation_id
        await pilot.press("ctrl+n")
        await pilot.pause()
        await app.chat_screen.open_conversation(conversation_id)
        await pilot.pause()
        assert "fake-model  [empty reply]" in screen_text(app)

    run_pilot(app, scenario)


def test_a_conversation_whose_template_was_deleted_opens_as_plain_chat() -> None:
    """Opening a conversation made with a template since deleted kept whichever template was in
    force (chain-of-thought here) instead of plain settings: its next turns went through a template
    the conversation never had."""
    app = make_app(reply="an answer")

    async def scenario(pilot: Any) -> None:
        controller = app.controller
        controller.settings.template = "deleted-template"  # as if it existed when the turn was made
        assert controller.recorder is not None
        controller.recorder.template = "deleted-template"
        await type_and_send(pilot, "question")
        await wait_idle(pilot)
        conversation_id = controller.conversation_id
        await pilot.press("ctrl+n")
        await pilot.pause()
        controller.set_template("chain-of-thought")
        await app.chat_screen.open_conversation(conversation_id)
        await pilot.pause()
        assert controller.settings.template is None and controller.template is None

    run_pilot(app, scenario)

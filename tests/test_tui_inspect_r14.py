"""Round 14 of user testing the look-inside-the-model screens in the chat app (Pilot, over the fake backends):
the token view on a small terminal, the prompt inspector's share of the context window, and numbers asked of a
stored reply longer than the model's context window now."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("textual")

from assistant.inspect.token_view import ReplyTokens  # noqa: E402
from assistant.tui.screens.token_view import TokenViewScreen  # noqa: E402
from assistant.tui.widgets.token_panel import TokenPanel  # noqa: E402
from assistant.types import GenerationParams  # noqa: E402

from .test_tui_inspect_r13 import open_token_view  # noqa: E402
from .test_tui_token_view_state import alt, step  # noqa: E402
from .tui_support import make_app, run_pilot, screen_lines, wait_until  # noqa: E402


def paris_reply() -> ReplyTokens:
    """Seven steps, each with five candidates and both numbers, as ``-o logprobs=5`` records them."""
    words = ["The", " capital", " of", " France", " is", " Paris", "."]
    tokens = []
    for index, word in enumerate(words):
        others = [alt(f"w{index}{n}", 200 + 10 * index + n, 0.05, 0.06) for n in range(4)]
        top = [alt(word, 100 + index, 0.6, 0.7), *others]
        tokens.append(step(word, 100 + index, 0.6, top, 0.7))
    params = GenerationParams(temperature=0.7, top_k=40, top_p=0.95, logprobs=5)
    return ReplyTokens([t.token_id for t in tokens], params, tokens, model="another-model")


@pytest.mark.parametrize("size", [(40, 12), (60, 20), (80, 24)])
def test_on_a_small_terminal_the_candidates_stay_on_screen(size: tuple[int, int]) -> None:
    """At 40x12 the source line, the legend and the blank lines took every row: the panel of candidates and
    the detail line were pushed off the screen. The legend and the rest now give way to the candidates."""
    app = make_app(reply="ok")

    async def scenario(pilot: Any) -> None:
        screen = await open_token_view(pilot, paris_reply())
        panel = screen.query_one(TokenPanel)
        await wait_until(pilot, lambda: bool(panel.border_title), what="the panel drawn")
        await pilot.pause()
        await pilot.pause()
        lines = screen_lines(app)
        text = "\n".join(lines)
        assert "token 1: The" in text, text  # the detail line
        assert "step 1 of 7" in text, text  # the panel's top border
        header = next(i for i, line in enumerate(lines) if "model" in line and "sampled" in line)
        assert lines[header + 1].strip(" │").startswith("The"), text  # the first candidate, under the header
        assert "◀" in lines[header + 1], text  # marked chosen, even where "◀ chosen" does not fit
        assert panel.region.bottom <= size[1] - 1, text  # its lower border above the footer
        assert "more below" in str(panel.border_subtitle) or "w03" in text, text

    run_pilot(app, scenario, size=size)


def test_rows_go_to_the_candidates_before_the_legend() -> None:
    """What gives way on a short screen: the blank lines, the legend, the source line; then candidates."""
    from assistant.inspect.token_view import share_rows

    panel = [5, 6, 7, 8, 9, 11]  # borders, header and 1..5 candidates, then a note
    roomy = share_rows(30, 1, (1, 1), 2, 2, panel)
    assert (roomy.source, roomy.legend, roomy.margins) == (True, True, True)
    short = share_rows(9, 1, (2, 1), 3, 2, panel)  # 40x12: one line of tokens, the panel, the detail line
    assert (short.source, short.legend, short.margins) == (False, False, False)
    assert short.panel == 6  # two candidates in sight
    middle = share_rows(15, 1, (2, 1), 2, 2, panel)
    assert middle.legend and not middle.margins
    assert middle.panel >= 7  # three candidates before the blank lines


@pytest.mark.parametrize(
    ("tokens", "shown"),
    [(30, "(0.4%)"), (3, "(<0.1%)"), (4096, "(50.0%)"), (8191, "(>99.9%)"), (8192, "(100.0%)")],
)
def test_the_prompt_inspector_shows_a_small_share_of_the_context(tokens: int, shown: str) -> None:
    """A 30-token prompt in an 8192-token window read "(0%)", and one of 8191 tokens "(100%)"."""
    from assistant.tui.screens.inspector import PromptInspector
    from assistant.tui.state import PromptPreview
    from assistant.types import Message

    app = make_app(reply="ok")
    preview = PromptPreview(text="hi", tokens=tokens, context_length=8192, messages=(Message("user", "hi"),))

    async def scenario(pilot: Any) -> None:
        screen = PromptInspector(preview)
        await pilot.app.push_screen(screen)
        await wait_until(pilot, lambda: pilot.app.screen is screen, what="the inspector")
        assert f"{tokens} tokens of 8192 context {shown}" in screen.summary().plain

    run_pilot(app, scenario, size=(100, 30))


def test_a_stored_reply_longer_than_the_window_now_says_so_and_names_the_window() -> None:
    """A conversation written with a larger n_ctx (``-c`` does not remember ``-o n_ctx``): computing a stored
    reply's numbers said "prompt is 742 tokens but the context window is 512 tokens; shorten the input or
    raise n_ctx", advice for a prompt being typed. It now says the reply and its conversation are longer than
    the window now, and names the window that holds them, one that then computes them."""
    from assistant.tui.widgets.chat_log import ChatLog

    app = make_app(reply="a reply of some forty bytes, or about.", context_length=2048)

    async def scenario(pilot: Any) -> None:
        from .tui_support import type_and_send, wait_idle

        controller = app.controller
        await type_and_send(pilot, "a question long enough to need a window of some size " * 4)
        await wait_idle(pilot)
        live = app.chat_screen.query_one(ChatLog).last_assistant()
        assert live.message_id is not None
        controller._written_here.clear()  # reopened after a restart: only the history knows the reply
        controller.backend._context_length = 200  # started again with a smaller -o n_ctx
        reply = controller.stored_reply_tokens(live.message_id)
        assert reply is not None and not reply.has_numbers
        screen = TokenViewScreen(reply)
        await pilot.app.push_screen(screen)
        await wait_until(pilot, lambda: "Could not compute" in screen.note, what="the computation to fail")
        note = screen.note
        assert "shorten the input" not in note, note
        assert "longer" in note or "more than" in note, note
        needed = int(note.split("-o n_ctx=")[1].split()[0])
        assert "(200 tokens)" in note, note
        controller.backend._context_length = needed  # the window named takes the reply and its conversation
        await pilot.press("r")
        done = lambda: bool(screen.state.tokens) or "Could not" in screen.note  # noqa: E731
        await wait_until(pilot, done, what="the numbers")
        assert screen.state.tokens, screen.note
        controller.backend._context_length = needed - 1  # and it is the least one that does
        await pilot.press("r")
        await wait_until(pilot, lambda: not screen.computing and "Could not" in screen.note, what="refusal")

    run_pilot(app, scenario)


@pytest.mark.parametrize("size", [(80, 24), (60, 20), (200, 50)])
def test_the_attention_views_keys_on_its_border_are_never_cut(size: tuple[int, int]) -> None:
    """At 80 columns the keys on the attention view's lower border were cut to "… e export PNG · Esc c…"."""
    from .test_tui_attention import attention_app, open_view, wait_map

    app = attention_app()

    async def scenario(pilot: Any) -> None:
        screen = await open_view(pilot)
        await wait_map(pilot, screen)
        await pilot.pause()
        bottom = next(line for line in reversed(screen_lines(app)) if "╰" in line)
        assert "…" not in bottom, bottom
        assert "F1" in bottom or "Esc close" in bottom, bottom  # where to find the keys, or all of them

    run_pilot(app, scenario, size=size)


@pytest.mark.parametrize("size", [(100, 30), (80, 26)])
def test_the_settings_fit_a_30_row_screen(size: tuple[int, int]) -> None:
    """A blank line between every field made the settings 36 rows: on a 30-row screen Apply and the hint were
    out of sight, and at 80x24 every field under top-k, until scrolled to."""
    import re

    from assistant.tui.screens.settings import SettingsScreen

    app = make_app(reply="ok")

    async def scenario(pilot: Any) -> None:
        await pilot.press("f2")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, SettingsScreen), what="the settings")
        await pilot.pause()
        await pilot.pause()
        text = "\n".join(screen_lines(app))
        assert "Seed" in text and "Max new tokens" in text, text
        assert re.search(r"Cancel {5,}Apply", text), text  # the buttons (the footer's are "Cancel  ^s Apply")

    run_pilot(app, scenario, size=size)


def test_the_token_views_note_never_carries_an_escape_sequence() -> None:
    """A stored reply's model name (from the history) is quoted in the note saying why there are no numbers:
    an escape sequence in it reached the terminal as is."""
    app = make_app(reply="ok")
    reply = ReplyTokens([], GenerationParams(), [], prompt="hi", model="evil\x1b[2J\x1b[31mmodel", text="ok")

    async def scenario(pilot: Any) -> None:
        screen = TokenViewScreen(reply)
        await pilot.app.push_screen(screen)
        await wait_until(pilot, lambda: "evil" in screen.note, what="the note")
        await pilot.pause()
        text = "\n".join(screen_lines(app))
        assert "evil" in text, text
        assert "\x1b" not in text, repr(text)

    run_pilot(app, scenario, size=(100, 30))


def test_terminal_output_pasted_into_a_settings_field_shows_no_escape_sequence() -> None:
    """A field draws its value as is: terminal output pasted into one (``\\e[31m0.9``) restyled the terminal.
    The paste's control characters are made visible, and the field's check names the value."""
    from textual import events
    from textual.widgets import Input

    from assistant.tui.screens.settings import SettingsScreen

    app = make_app(reply="ok")

    async def scenario(pilot: Any) -> None:
        await pilot.press("f2")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, SettingsScreen), what="the settings")
        screen = pilot.app.screen
        field = screen.query_one("#temperature", Input)
        field.focus()
        field.value = ""
        field.post_message(events.Paste("\x1b[31m0.9\x1b[0m"))
        await wait_until(pilot, lambda: "0.9" in field.value, what="the paste")
        text = "\n".join(screen_lines(app))
        assert "\x1b" not in text, repr(text)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert pilot.app.screen is screen  # refused, the panel still open
        assert "Temperature" in str(screen.query_one("#error").render())
        assert "\x1b" not in "\n".join(screen_lines(app))

    run_pilot(app, scenario, size=(100, 40))


def test_the_prompt_inspector_on_a_small_terminal_shows_the_prompt() -> None:
    """At 40x12 the inspector's rim, blank line and the text area's frame left one line of the prompt, under
    a title cut to "Esc to close…"."""
    from assistant.tui.screens.inspector import PromptInspector
    from assistant.tui.state import PromptPreview
    from assistant.types import Message

    app = make_app(reply="ok")
    text = "\n".join(f"line {n}" for n in range(1, 30))
    preview = PromptPreview(text=text, tokens=60, context_length=8192, messages=(Message("user", text),))

    async def scenario(pilot: Any) -> None:
        screen = PromptInspector(preview)
        await pilot.app.push_screen(screen)
        await wait_until(pilot, lambda: pilot.app.screen is screen, what="the inspector")
        await pilot.pause()
        await pilot.pause()
        lines = screen_lines(app)
        shown = [line for line in lines if "line " in line]
        assert len(shown) >= 5, "\n".join(lines)
        assert "…" not in lines[0], lines[0]

    run_pilot(app, scenario, size=(40, 12))


@pytest.mark.parametrize("size", [(40, 12), (60, 20)])
def test_on_a_small_terminal_the_attention_views_weight_in_words_stays_on_screen(size: tuple[int, int]) -> None:
    """At 40x12 the summary over the map, the detail line and the colour legend wrapped over every row but
    three: the weight under the cursor, the number colour must never be the only carrier of, was off the
    screen. The view takes the whole screen, the summary is one line and the legend gives way."""
    from .test_tui_attention import attention_app, open_view, wait_map

    app = attention_app()

    async def scenario(pilot: Any) -> None:
        screen = await open_view(pilot)
        state = await wait_map(pilot, screen)
        await pilot.pause()
        text = "\n".join(screen_lines(app))
        first = state.maps.window_start
        assert f"token {first + state.row} " in text and "%" in text, text  # the weight in words
        assert "layer" in text, text  # the title: which map this is
        assert screen.heatmap.region.height >= 4, text

    run_pilot(app, scenario, size=size)


def test_a_narrow_panel_still_says_which_row_was_chosen_and_what_cut_the_others() -> None:
    """At 40 columns (a panel 32 cells wide) the table had no room for its last column: "◀ chosen" and
    "cut by top-p 0.95" were not drawn at all; a long token now gives way (it is shown whole above the
    panel) and the notes are said shortly, the setting's value being in the panel's title."""
    from rich.console import Console

    from assistant.inspect.token_view import StepRow
    from assistant.tui.widgets.token_panel import step_table

    rows = [
        StepRow("<0xE4><0xBD>", 1, 0.089, 0.719, True, None, True),
        StepRow("<0xF0><0x9F>", 2, 0.081, 0.281, True, None, False),
        StepRow("<0xE7>", 3, 0.05, 0.0, False, "top-p 0.95", False),
        StepRow("<0xE6>", 4, 0.04, 0.0, False, "temperature 0 (greedy)", False),
    ]
    console = Console(width=32, force_terminal=False)
    with console.capture() as captured:
        console.print(step_table(rows, lambda token_id, text: text, 32))
    lines = captured.get().splitlines()
    assert all(len(line.rstrip()) <= 32 for line in lines), lines
    assert "◀" in lines[1], lines  # the chosen row
    assert "✗ top-p" in lines[3] and "✗ temp" in lines[4], lines
    assert "0.719" in lines[1] and "0.000" in lines[3], lines  # the numbers are never what gives way
    wide = Console(width=100, force_terminal=False)
    with wide.capture() as captured:
        wide.print(step_table(rows, lambda token_id, text: text, 100))
    assert "◀ chosen" in captured.get() and "cut by top-p 0.95" in captured.get()  # in full where they fit


def test_the_sampling_panels_one_step_names_the_window_of_the_whole_reply() -> None:
    """The sampling panel scores the reply up to one step: the window it names must hold every step."""
    from assistant.errors import ContextOverflowError
    from assistant.tui.reply_inspection import longer_than_window

    # A 100-token prompt and the first 5 of 20 tokens: the engine counted 100 + 5 - 1.
    error = longer_than_window(ContextOverflowError(104, 64), scored=5, whole=20)
    assert "take 120 tokens" in str(error) and "-o n_ctx=120 " in str(error), error
    assert "(64 tokens)" in str(error) and "shorten" not in str(error), error

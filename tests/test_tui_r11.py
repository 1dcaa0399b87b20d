"""The chat app as a demanding user found it (round 11): each test failed before its fix."""

from __future__ import annotations

import math
from typing import Any

import pytest

pytest.importorskip("textual")

from assistant.inspect.token_view import ReplyTokens  # noqa: E402
from assistant.types import GenerationParams, TokenLogprob, TopAlternative  # noqa: E402

from .tui_support import make_app, run_pilot, screen_text, wait_until  # noqa: E402

LONG = "supercalifragilisticexpialidocious_" * 4
"""One token wider than the panel's token column (20 cells) and than the strip's line."""


def step_with(count: int, chosen: str = "a", long_candidate: bool = False) -> TokenLogprob:
    """One step with ``count`` alternatives (the chosen one outside them), ids -1 as a server's tokens."""
    weights = [0.5 / (index + 1) for index in range(count)]
    top = [
        TopAlternative(LONG if long_candidate and index == 3 else f"c{index:02d}", -1, math.log(weight), None)
        for index, weight in enumerate(weights)
    ]
    return TokenLogprob(chosen, -1, math.log(0.001), top=top, p_sampled=None)


def open_view(app: Any, tokens: list[TokenLogprob], params: GenerationParams) -> Any:
    from assistant.tui.screens.token_view import TokenViewScreen

    reply = ReplyTokens([], params, tokens=tokens, prompt=None, model="fake-model", text="")
    screen = TokenViewScreen(reply, "fake-model")
    app.push_screen(screen)
    return screen


def detail_text(screen: Any) -> str:
    from textual.widgets import Static

    return str(screen.query_one("#detail", Static).content)


def test_the_panel_lists_every_candidate_top_k_20_keeps() -> None:
    """The panel listed the first 10 of a top-20 (5 on a narrow screen), so a user trying top-k 20
    could not see what it kept. Every candidate is listed now; the panel scrolls, and its subtitle
    says how many are out of sight and which keys bring them in."""
    from assistant.tui.widgets.token_panel import TokenPanel

    app = make_app(reply="ok", history=False)

    async def scenario(pilot: Any) -> None:
        screen = open_view(app, [step_with(20)], GenerationParams(top_k=20, top_p=1.0))
        await wait_until(pilot, lambda: app.screen is screen and screen.is_mounted, what="token view")
        await pilot.pause(0.3)
        panel = screen.query_one(TokenPanel)
        assert len(panel.rows) == 21  # 20 alternatives and the chosen token
        text = screen_text(app)
        assert "c00" in text and " more below: [ ] or the wheel scroll" in text  # 24 rows: not all fit
        for _ in range(21):
            await pilot.press("right_square_bracket")
        await pilot.pause(0.3)
        text = screen_text(app)
        assert "c19" in text, text  # the last candidates scrolled into view
        assert "candidate 21 of 21" in text  # the picked one named on the detail line
        assert " above: [ ] or the wheel scroll" in text

    run_pilot(app, scenario, size=(60, 24))


def test_a_tall_screen_shows_all_twenty_one_candidates_at_once() -> None:
    from assistant.tui.widgets.token_panel import TokenPanel

    app = make_app(reply="ok", history=False)

    async def scenario(pilot: Any) -> None:
        screen = open_view(app, [step_with(20)], GenerationParams(top_k=20, top_p=1.0))
        await wait_until(pilot, lambda: app.screen is screen and screen.is_mounted, what="token view")
        await pilot.pause(0.3)
        text = screen_text(app)
        for index in range(20):
            assert f"c{index:02d}" in text
        assert screen.query_one(TokenPanel).hidden_rows() == (0, 0)
        assert "wheel scroll" not in text

    run_pilot(app, scenario, size=(100, 50))


def test_an_over_wide_token_can_be_read_whole_on_the_detail_line() -> None:
    """A token wider than its column was cut with "…" in the panel and in the strip, and could not
    be read whole anywhere. The detail line shows the token at the cursor, and the candidate
    picked with ``]``, whole, with its id and byte length."""
    app = make_app(reply="ok", history=False)

    async def scenario(pilot: Any) -> None:
        steps = [step_with(5, chosen=LONG), step_with(5, long_candidate=True)]
        screen = open_view(app, steps, GenerationParams(top_k=5, top_p=1.0))
        await wait_until(pilot, lambda: app.screen is screen and screen.is_mounted, what="token view")
        await pilot.pause(0.3)
        strip = [line.strip("│ ") for line in screen_text(app).splitlines() if "supercal" in line]
        assert strip[0].startswith("supercal") and strip[0].endswith("…")  # cut in the strip
        detail = detail_text(screen)
        assert detail.startswith(f"token 1: {LONG}  ·  ")
        assert f"{len(LONG)} bytes as text" in detail and "id not known" in detail
        assert "".join(detail.split()) in "".join(screen_text(app).replace("│", " ").split())  # shown
        await pilot.press("right")  # the second step: the long token is a candidate there
        for _ in range(4):
            await pilot.press("right_square_bracket")
        await pilot.pause(0.2)
        assert f"candidate 4 of 6: {LONG}  ·  " in detail_text(screen)
        await pilot.press("left")  # another step: no candidate picked there
        await pilot.pause(0.2)
        assert "candidate " not in detail_text(screen)

    run_pilot(app, scenario, size=(100, 30))


def test_token_detail_names_a_control_token_and_counts_exact_bytes() -> None:
    from assistant.inspect.pieces import TokenPiece
    from assistant.tui.widgets.token_panel import token_detail

    control = token_detail("token 3", TokenPiece(2, b"", "<|im_end|>"), 2, "")
    assert control.plain == "token 3: ⟦<|im_end|>⟧  ·  id 2 · control token"
    half = token_detail("token 1", TokenPiece(9, b"\xe2"), 9, "\ufffd")  # half of a character
    assert half.plain == "token 1: <0xE2>  ·  id 9 · 1 byte"
    escape = token_detail("token 2", None, 5, "\x1b[31mred")
    assert "\x1b" not in escape.plain and "␛" in escape.plain


def test_the_attention_view_shows_both_tokens_of_the_cursor_whole() -> None:
    """The attention map's labels and the line under it cut tokens to ten cells with "…": a long
    token could not be read whole in the view. The detail names both tokens whole, id and bytes."""
    from assistant.backends.fake import FakeAttentionBackend
    from assistant.tui.screens.attention import AttentionScreen
    from textual.widgets import Static

    from .tui_support import register_fake, type_and_send, wait_idle

    reply = "Paris."
    app = make_app(reply=reply)
    register_fake(lambda: FakeAttentionBackend(reply=reply))

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "hi")
        await wait_idle(pilot)
        app.chat_screen.log_view.last_assistant().focus()
        await pilot.pause()
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, AttentionScreen), what="the attention view")
        screen = app.screen
        await wait_until(pilot, lambda: screen.state is not None, what="the attention map")
        await pilot.pause()
        import dataclasses

        from assistant.inspect.attention import AttentionViewState
        from assistant.inspect.pieces import TokenPiece

        maps = screen.state.maps
        pieces = [TokenPiece(token_id, bytes([token_id % 256])) for token_id in maps.token_ids]
        pieces[-1] = TokenPiece(maps.token_ids[-1], LONG.encode() + b"\x1b[31m")  # the cursor's row and column
        screen.state = state = AttentionViewState(dataclasses.replace(maps, pieces=pieces), model="fake-model")
        screen._refresh()
        await pilot.pause()
        detail = str(screen.query_one(".detail", Static).content)
        row = maps.window_start + state.row
        assert "…" in detail.splitlines()[0]  # the line naming the cell cuts both labels
        whole = f"{LONG}␛[31m  ·  id {maps.token_ids[-1]} · {len(LONG) + 5} bytes"
        assert f"row and column: token {row}: {whole}" in detail  # the token looking at itself
        shown = "".join(c for c in screen_text(app) if not c.isspace() and not "\u2500" <= c <= "\u257f")
        assert "".join(f"row and column: token {row}: {whole}".split()) in shown
        await pilot.press("left")  # the column one token back: both named, each whole
        await pilot.pause()
        detail = str(screen.query_one(".detail", Static).content)
        assert f"row: token {row}: {whole}" in detail and f"looks at token {row - 1}: " in detail
        assert "\x1b" not in detail

    run_pilot(app, scenario, size=(110, 40))


def test_ctrl_c_while_a_reply_is_written_says_that_esc_stops_it() -> None:
    """Ctrl+C during a reply (what stops a program in a shell) only asked "Do you want to quit?",
    and the reply went on: the note now says that Esc stops the reply. Idle, it still says how to quit."""
    from .tui_support import type_and_send, wait_idle

    app = make_app(reply="word " * 400, token_delay=0.02, history=False)

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "hi")
        await wait_until(pilot, lambda: app.chat_screen.generating, what="the reply to start")
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert any("Esc stops the reply" in n.message for n in app._notifications)
        await pilot.press("escape")
        await wait_idle(pilot)
        app.clear_notifications()
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert any("Ctrl+Q to quit" in n.message for n in app._notifications)

    run_pilot(app, scenario)


@pytest.mark.parametrize(
    "command, closes",
    [
        ("toggle light", False),
        ("template: zero", False),
        ("template: chain", False),
        ("template: sentiment-q", False),
        ("settings", True),
        ("prompt insp", True),
        ("token view", False),  # refused while the last reply is still being written (else opened, closed)
        ("help", True),
    ],
)
def test_after_a_palette_command_the_keys_go_where_they_went_before(command: str, closes: bool) -> None:
    """Reported: after a command-palette action the focus was on the reply, whose keys (``r``
    writes it again, ``c`` copies) then took what the user typed for the message box. The
    focus comes back to the message box (a narrow screen, the sidebar hidden), with or without
    a view opened and closed by the command, and while a reply streams under the palette."""
    from assistant.tui.widgets.prompt_input import PromptInput

    from .tui_support import type_and_send, wait_idle

    app = make_app(reply="a reply " * 40, token_delay=0.01, history=False)

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "hi")
        await wait_idle(pilot)
        await type_and_send(pilot, "again")  # streams while the palette is open
        app.chat_screen.prompt_input.focus()
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        for key in command:
            await pilot.press("space" if key == " " else key)
        await pilot.pause(0.4)
        await pilot.press("enter")
        await pilot.pause(0.4)
        if closes:
            await wait_until(pilot, lambda: app.screen is not app.chat_screen, what="the command's screen")
        if app.screen is not app.chat_screen:  # the token view opens if the reply ended meanwhile
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.screen is app.chat_screen, what="back to the chat")
        await wait_idle(pilot)
        assert isinstance(app.focused, PromptInput), app.focused
        await pilot.press("r", "c")
        assert app.chat_screen.prompt_input.text.endswith("rc")

    run_pilot(app, scenario, size=(60, 30))


@pytest.mark.parametrize("width", [60, 40, 100, 120])
def test_the_message_box_hint_is_whole_on_a_narrow_screen(width: int) -> None:
    """At 60 columns the hint read "Message (Enter to send, Shift+Enter/Ctrl+J for a": cut in the
    middle of how to add a line. A shorter hint is shown whole."""
    from assistant.tui.widgets.prompt_input import PromptInput

    app = make_app(reply="ok", history=False)

    async def scenario(pilot: Any) -> None:
        await pilot.pause(0.2)
        box = app.chat_screen.query_one(PromptInput)
        assert box.placeholder in PromptInput.PLACEHOLDERS
        assert box.placeholder in screen_text(app)  # whole, its closing bracket included
        if width == 120:  # room for the whole hint beside the sidebar
            assert box.placeholder == PromptInput.PLACEHOLDERS[0]

    run_pilot(app, scenario, size=(width, 24))


@pytest.mark.parametrize("width", [40, 46, 52])
def test_the_status_line_keeps_state_and_context_count_at_40_columns(width: int) -> None:
    """At 40 columns the status line read "● …  │  56.3 tok/s  TTFT 232 ms  │" : the context count
    cropped off its end and the state cut to "…". The speed gives way (TTFT first) instead."""
    from assistant.tui.widgets.status_bar import StatusBar

    from .tui_support import screen_lines, type_and_send, wait_idle

    app = make_app(reply="Paris.", history=False)

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "Capital of France?")
        await wait_idle(pilot)
        await wait_until(pilot, lambda: app.chat_screen.query_one(StatusBar).info.context_used is not None)
        await pilot.pause()
        line = next(line for line in screen_lines(app) if line.lstrip().startswith("●"))
        assert line.lstrip().startswith("● idle"), line
        assert "ctx " in line and "/2048" in line, line
        if width >= 52:
            assert "tok/s" in line, line  # room for the speed: it stays

    run_pilot(app, scenario, size=(width, 20))


def test_the_help_on_a_narrow_screen_wraps_the_keys_not_every_action() -> None:
    """At 60 columns the keys column kept the width of its longest entry (31 cells), leaving the
    actions 16: "Send the message (or run the /command)" took four lines, and the help ran to
    hundreds of lines. The keys column gives way on a narrow screen; it stays whole on a wide one."""
    from assistant.tui.screens.help import help_renderable

    app = make_app(reply="ok", history=False)

    async def scenario(pilot: Any) -> None:
        await pilot.pause(0.2)
        await pilot.press("f1")
        await pilot.pause(0.5)
        text = screen_text(app)
        assert "Enter         Send the message (or run the" in text, text

    run_pilot(app, scenario, size=(60, 24))

    def lines(width: int) -> list[str]:
        drawn = app.console.render_lines(help_renderable(None, width), app.console.options.update_width(width))
        return ["".join(segment.text for segment in line) for line in drawn]

    assert not any("Esc (in the search or the list)" in line for line in lines(52))  # wrapped in its column
    assert any("Esc (in the search or the list)" in line for line in lines(120))

"""Round 13 of user testing the look-inside-the-model screens in the chat app (Pilot, over the fake backends):
the token panel with candidates that start with a space other than ASCII's, its "may keep more" line under
top-k, the view's token count, the attention map's header, and the status bar's context figures."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

pytest.importorskip("textual")

from assistant.inspect.token_view import ReplyTokens  # noqa: E402
from assistant.tui.screens.token_view import TokenViewScreen  # noqa: E402
from assistant.tui.widgets.status_bar import SettingsBar, SettingsInfo, StatusBar, StatusInfo  # noqa: E402
from assistant.tui.widgets.token_panel import TokenPanel  # noqa: E402
from assistant.types import GenerationParams  # noqa: E402

from .test_tui_token_view_state import alt, step  # noqa: E402
from .tui_support import make_app, run_pilot, screen_text, wait_until  # noqa: E402


def wide_space_reply(count: int = 20) -> ReplyTokens:
    """One step whose candidates all start with an ideographic space (U+3000), as Japanese tokens of gemma do."""
    top = [alt(f"\u3000word{i}", 1000 + i, 0.5 / (i + 1), None) for i in range(count)]
    first = top[0]
    token = step(first.token, first.token_id, 0.5, top, None)
    return ReplyTokens(
        [token.token_id],
        GenerationParams(temperature=0.7, top_k=0, top_p=1.0),
        [token],
        model="another-model",
    )


async def open_token_view(pilot: Any, reply: ReplyTokens) -> TokenViewScreen:
    screen = TokenViewScreen(reply)
    await pilot.app.push_screen(screen)
    await wait_until(pilot, lambda: pilot.app.screen is screen, what="the token view")
    await pilot.pause()
    await pilot.pause()
    return screen


def test_candidates_starting_with_an_ideographic_space_are_counted_and_picked() -> None:
    """A candidate whose label starts with U+3000 (or a no-break space) was taken for the wrapped end of the
    row above (the row finder stripped every kind of space): the panel said nothing of the 15 candidates out
    of sight, and ``]`` highlighted rows the list never scrolled to."""
    app = make_app(reply="ok")

    async def scenario(pilot: Any) -> None:
        screen = await open_token_view(pilot, wide_space_reply())
        panel = screen.query_one(TokenPanel)
        await wait_until(pilot, lambda: bool(panel.border_subtitle), what="the out-of-sight note")
        assert "more below" in str(panel.border_subtitle)
        await pilot.press(*["right_square_bracket"] * 20)  # the first press picks the first
        await pilot.pause()
        await pilot.pause()
        assert panel.picked == 19
        assert panel.scroll_y > 0  # scrolled to the last candidate
        assert "above" in str(panel.border_subtitle)

    run_pilot(app, scenario, size=(100, 30))


def status_line(width: int, info: StatusInfo) -> str:
    """The status bar drawn alone at ``width`` columns, as the chat shows it."""
    import asyncio

    from textual.app import App, ComposeResult

    class Bar(App[None]):
        def compose(self) -> ComposeResult:
            yield StatusBar()

    async def main() -> str:
        app = Bar()
        async with app.run_test(size=(width, 3)) as pilot:
            bar = app.query_one(StatusBar)
            bar.info = info
            await pilot.pause()
            return str(app.screen._compositor.render_strips()[0].text)

    return asyncio.run(main())


LEFT_OUT = StatusInfo(
    model="smollm2",
    backend="llama-cpp",
    device="cpu",
    state="generating",
    tokens_per_second=35.1,
    ttft_ms=614,
    context_used=8100,
    context_length=8192,
    dropped=1,
)


def test_one_message_left_out_is_one_msg() -> None:
    """The status bar said "(1 older msgs left out)"."""
    line = status_line(120, LEFT_OUT)
    assert "ctx 8100/8192 (1 older msg left out)" in line, line
    assert "(3 older msgs left out)" in status_line(120, replace(LEFT_OUT, dropped=3))


@pytest.mark.parametrize("width", [40, 30])
def test_on_a_narrow_terminal_the_left_out_note_gives_way_to_the_state_and_the_count(width: int) -> None:
    """At 40 columns the note of messages left out, in full, cut the state to "● …" (generating or idle: gone)
    and ran past the end of the line; at 30 the context count itself was cropped to "8100/81…"."""
    line = status_line(width, LEFT_OUT).rstrip()
    assert "ctx 8100/8192" in line, line
    assert "gen" in line, line  # the state, shortened at most
    assert "…" not in line.split("│")[-1], line  # nothing after the last rule is cropped


def five_listed_reply(top_k: int) -> ReplyTokens:
    """A step written with ``-o logprobs=5`` under ``top_k``: the five listed all kept (recorded p_sampled > 0)."""
    probabilities = [0.4, 0.2, 0.1, 0.05, 0.05]
    sampled = [0.5, 0.25, 0.12, 0.07, 0.06]
    top = [alt(f"w{i}", 10 + i, p, s) for i, (p, s) in enumerate(zip(probabilities, sampled))]
    token = step("w0", 10, 0.4, top, 0.5)
    params = GenerationParams(temperature=0.7, top_k=top_k, top_p=1.0, logprobs=5)
    return ReplyTokens([10], params, [token], model="another-model")


@pytest.mark.parametrize(("top_k", "said"), [(5, False), (40, True)])
def test_top_k_five_over_five_listed_does_not_say_it_may_keep_more(top_k: int, said: bool) -> None:
    """Under top-k 5 with the five listed all kept, the panel said "All 5 listed are kept; the settings may
    keep more": top-k 5 keeps five at most. Under top-k 40 it may, and the line stays."""
    app = make_app(reply="ok")

    async def scenario(pilot: Any) -> None:
        await open_token_view(pilot, five_listed_reply(top_k))
        await pilot.pause()
        text = screen_text(app)
        assert "top-k" in text, text  # the panel is drawn
        assert ("may keep more" in text) is said, text

    run_pilot(app, scenario, size=(120, 30))


def test_a_one_token_reply_is_one_token() -> None:
    """The view's first line said "1 tokens · numbers recorded while the reply was generated"."""
    app = make_app(reply="ok")

    async def scenario(pilot: Any) -> None:
        await open_token_view(pilot, five_listed_reply(40))
        text = screen_text(app)
        assert "1 token · numbers recorded" in text, text

    run_pilot(app, scenario, size=(100, 30))


def test_the_maps_first_row_brings_its_header_back_into_sight() -> None:
    """The map opens scrolled to its last row; walked up to the first, it showed the row but never again the
    header line above it (the column numbers and the │ where the reply starts)."""
    from .test_tui_attention import open_view, wait_map
    from .test_tui_inspect_r12 import attention_app

    app = attention_app()

    async def scenario(pilot: Any) -> None:
        screen = await open_view(pilot)
        state = await wait_map(pilot, screen)
        assert screen.heatmap.scroll_y > 0  # the map is taller than the view
        await pilot.press(*["up"] * state.row)
        await pilot.pause()
        await pilot.pause()
        assert state.row == 0
        lines = screen_text(app).splitlines()
        first = state.maps.window_start
        row = next(i for i, line in enumerate(lines) if line.lstrip(" │").startswith(f"{first} "))
        header = lines[row - 1].strip(" │")
        assert str((first // 10 + 1) * 10) in header.split(), lines[row - 1]  # the column numbers

    run_pilot(app, scenario, size=(80, 24))


def settings_lines(width: int, info: SettingsInfo) -> list[str]:
    """The settings bar drawn at ``width`` columns above another line, as the chat shows it."""
    import asyncio

    from textual.app import App, ComposeResult
    from textual.widgets import Static

    class Bars(App[None]):
        def compose(self) -> ComposeResult:
            yield SettingsBar()
            yield Static("next line")

    async def main() -> list[str]:
        app = Bars()
        async with app.run_test(size=(width, 8)) as pilot:
            app.query_one(SettingsBar).info = info
            await pilot.pause()
            lines = [str(strip.text) for strip in app.screen._compositor.render_strips()]
            return lines[: next(i for i, line in enumerate(lines) if line.startswith("next line"))]

    return asyncio.run(main())


@pytest.mark.parametrize("width", [60, 40])
def test_a_template_given_as_a_long_path_leaves_the_settings_in_sight(width: int) -> None:
    """`chat -t /tmp/ti_tpl/my-own-summarize-template-for-meeting-notes.jinja` on 60 columns: the path wrapped
    over the bar's lines and temperature, top-k, top-p, max and seed were all out of sight."""
    path = "/tmp/ti_tpl/my-own-summarize-template-for-meeting-notes.jinja"
    info = SettingsInfo(template=path, params=GenerationParams(temperature=0.3, top_k=7, seed=42))
    lines = settings_lines(width, info)
    text = " ".join(lines)
    for shown in ("temp 0.3", "top-k 7", "top-p 0.95", "max 512", "seed 42"):
        assert shown in text, lines
    assert "notes.jinja" in lines[0], lines  # the template's file name, its path cut at the start
    assert all(len(line.rstrip()) <= width for line in lines), lines

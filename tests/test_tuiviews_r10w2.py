"""The look-inside-the-model views as a demanding user found them (round 10): each test failed before its fix."""

from __future__ import annotations

import re
from typing import Any

import pytest

pytest.importorskip("textual")

from assistant.history import HistoryStore  # noqa: E402
from assistant.inspect.token_view import ReplyTokens  # noqa: E402
from assistant.tui.screens.token_view import TokenViewScreen  # noqa: E402
from assistant.tui.widgets.status_bar import StatusBar  # noqa: E402
from assistant.types import GenerationParams, TokenLogprob  # noqa: E402

from .tui_support import (  # noqa: E402
    make_app,
    run_pilot,
    screen_lines,
    screen_text,
    type_and_send,
    wait_idle,
    wait_until,
)


def stored_reply(texts: list[str]) -> ReplyTokens:
    """A reply whose tokens are ``texts``, each with its numbers (as stored with ``-o logprobs=N``)."""
    tokens = [TokenLogprob(token=t, token_id=i, logprob=-0.5, top=[], p_sampled=0.6) for i, t in enumerate(texts)]
    return ReplyTokens(token_ids=list(range(len(texts))), params=GenerationParams(), tokens=tokens, model="m")


def test_a_token_wider_than_the_view_leaves_the_rest_of_its_page_in_sight() -> None:
    """A page is drawn as two rows a line (tokens, glyphs), but a token wider than the view wrapped
    onto more rows (a run of ``=`` or spaces is one token in most vocabularies): the page's last
    lines, the cursor's with them, were pushed out of sight below the view, and a click picked the
    token rows above the one under the mouse. The token is cut with ``…`` on its line instead."""
    texts = [f"line{i}\n" for i in range(3)] + ["=" * 2000, "\n", "last"]
    app = make_app(history=False)

    async def scenario(pilot: Any) -> None:
        await app.push_screen(TokenViewScreen(stored_reply(texts), "m"))
        await pilot.pause()
        await pilot.press("end")  # the cursor on "last", the reply's last line
        await pilot.pause()
        lines = screen_lines(app)
        assert any(re.search(r"│ last +│", line) for line in lines), "\n".join(lines)  # the strip's line
        long_rows = [line for line in lines if "====" in line]
        assert len(long_rows) == 1 and "=…" in long_rows[0]

    run_pilot(app, scenario)


def test_a_stored_reply_that_failed_shows_its_whole_reason_on_a_narrow_screen() -> None:
    """``[error: why]`` on a reopened failed turn is the only place saying why it failed, but the
    header was one row high: on a 60-column screen the reason lost its end at the edge."""
    from assistant.history.records import TurnMeta
    from assistant.types import Completion, Timings, Usage

    with HistoryStore.open() as store:
        conversation = store.create_conversation(system="You are a helpful assistant.")
        completion = Completion("Hi!", "fake-model", "fake", "stop", Usage(10, 5), Timings())
        store.record_turn(conversation.id, "Hello", completion)
        turn = store.start_turn(conversation.id, "again", TurnMeta(model="fake-model", backend="fake"))
        store.fail_turn(turn, "", status="error", error="prompt is 12097 tokens but the context window is 8192 tokens")
    app = make_app(continue_latest=True)

    async def scenario(pilot: Any) -> None:
        await pilot.pause()
        words = " ".join(screen_text(app).replace("▌", " ").split())
        assert "[error: prompt is 12097 tokens but the context window is 8192 tokens]" in words

    run_pilot(app, scenario, size=(60, 30))


@pytest.mark.parametrize("size", [(80, 24), (60, 20)])
def test_the_status_line_keeps_the_context_count_on_a_narrow_screen(size: tuple[int, int]) -> None:
    """Cropped at its end, the status line lost ``ctx USED/LENGTH`` (how full the context window is)
    at 80 columns behind the model's name, backend and device; the name gives way instead."""
    app = make_app(reply="Paris.", model="smollm2-135m-instruct-q8_0-with-a-long-name")

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "Capital of France?")
        await wait_idle(pilot)
        await wait_until(pilot, lambda: app.chat_screen.query_one(StatusBar).info.context_used is not None)
        await pilot.pause()
        line = next(line for line in screen_lines(app) if line.lstrip().startswith("● idle"))
        assert "ctx " in line and "/2048" in line, line
        assert "TTFT" in line, line

    run_pilot(app, scenario, size=size)


def test_r_in_the_token_view_says_why_it_cannot_compute_the_numbers_now() -> None:
    """F1 lists ``r`` (compute the probabilities again), but over a reply with stored numbers whose
    model is not the one loaded it did nothing at all: nothing on screen said why. It says so."""
    reply = stored_reply(["Hello", " world"])
    reply.model, reply.prompt = "another-model", ()
    app = make_app(history=False)

    async def scenario(pilot: Any) -> None:
        screen = TokenViewScreen(reply, "another-model")
        await app.push_screen(screen)
        await pilot.pause()
        await pilot.press("r")
        await pilot.pause()
        assert not screen.computing
        assert any("came from another-model" in n.message for n in app._notifications)

    run_pilot(app, scenario)


def test_a_reply_with_versions_keeps_its_view_keys_in_an_80_column_footer() -> None:
    """A regenerated reply's footer listed "← Previous version  → Next version" before the reply's
    own keys, and at 80 columns ``t Tokens`` and ``a Attention`` (the views) fell off its end."""
    from assistant.tui.widgets.chat_log import AssistantMessage

    app = make_app(reply="Paris.")

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "Capital of France?")
        await wait_idle(pilot)
        await pilot.press("ctrl+r")
        await wait_idle(pilot)
        reply = app.chat_screen.log_view.last_assistant()
        assert isinstance(reply, AssistantMessage) and reply.versions == (2, 2)
        reply.focus()
        await pilot.pause()
        footer = screen_lines(app)[-1]
        assert "←/→ version" in footer and "t Tokens" in footer and "a Attention" in footer, footer
        await pilot.press("left")  # still switches versions
        await wait_until(pilot, lambda: app.chat_screen.log_view.last_assistant().versions == (1, 2))

    run_pilot(app, scenario, size=(80, 24))


def test_ctrl_t_toggles_the_theme_in_a_view_too() -> None:
    """F1 and the docs list Ctrl+T (light / dark theme) as working anywhere, but in the token view,
    the attention view, the prompt inspector, settings and dialogs it did nothing."""
    app = make_app(history=False)

    async def scenario(pilot: Any) -> None:
        await app.push_screen(TokenViewScreen(stored_reply(["a", "b"]), "m"))
        await pilot.pause()
        theme = app.theme
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert app.theme != theme and isinstance(app.screen, TokenViewScreen)

    run_pilot(app, scenario)


def test_a_wide_cjk_title_keeps_to_one_row_of_the_sidebar() -> None:
    """Titles were cut to the row's number of characters, but a CJK character is two cells wide:
    a Japanese title took twice the row and wrapped onto a second, misaligned line."""
    from assistant.types import Completion, Timings, Usage

    title = "日本語のタイトルがとても長いです。日本語のタイトルがとても長いです"
    with HistoryStore.open() as store:
        conversation = store.create_conversation(system="s")
        completion = Completion("はい", "fake-model", "fake", "stop", Usage(10, 5), Timings())
        store.record_turn(conversation.id, title, completion)
    app = make_app(reply="ok")

    async def scenario(pilot: Any) -> None:
        await pilot.pause()
        lines = screen_lines(app)
        row = next(index for index, line in enumerate(lines) if "日本語" in line)
        assert "…" in lines[row] and "msgs" in lines[row + 1], "\n".join(lines[: row + 2])

    run_pilot(app, scenario)


def test_probability_bars_line_up_under_wide_and_odd_labels() -> None:
    """``/sentiment labels=正面,负面,neutral``: labels were padded by characters, but a CJK character
    takes two cells (and ``\\u202e`` is drawn as six), so each bar started at another column."""
    from rich.cells import cell_len

    from assistant.tui.widgets.tool_results import probability_bars

    lines = probability_bars({"正面": 0.5, "neutral": 0.3, "bad\u202e": 0.2}, chosen="正面").plain.split("\n")
    starts = {cell_len(line[: line.index("█")]) for line in lines}
    assert len(starts) == 1, lines


def test_the_settings_line_keeps_every_value_in_sight_on_a_narrow_screen() -> None:
    """The line above the status line is where "the values in force are always visible", but at
    60 columns it was cropped after ``max``: the maximum tokens and the seed were not on screen."""
    from assistant.tui.widgets.status_bar import SettingsBar

    app = make_app(params=GenerationParams(max_tokens=345, seed=6789), history=False)

    async def scenario(pilot: Any) -> None:
        await pilot.pause()
        bar = app.chat_screen.query_one(SettingsBar)
        words = " ".join(" ".join(screen_lines(app)[bar.region.y : bar.region.bottom]).split())
        for shown in ("temp 0.7", "top-k 40", "top-p 0.95", "max 345", "seed 6789"):
            assert shown in words, words
        await pilot.resize_terminal(120, 20)  # wide again: one line, with no blank one left under it
        await pilot.pause()
        assert bar.region.height == 1 and "seed 6789   F2 to change" in screen_lines(app)[bar.region.y]

    run_pilot(app, scenario, size=(60, 20))

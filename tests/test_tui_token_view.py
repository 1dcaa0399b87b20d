"""The token view and its sampling panel, driven through Pilot over the fake backend.

The fake backend forms real logits (:func:`assistant.backends.fake.fake_logits`),
so the numbers shown are the ones the sampler math gives, and teacher-forced
scoring reproduces generation's numbers exactly when it is fed the right prompt.
"""

from __future__ import annotations

import time
from typing import Any, Iterator, Sequence

import pytest

pytest.importorskip("textual")

from assistant.backends.base import Capabilities  # noqa: E402
from assistant.backends.fake import FakeBackend  # noqa: E402
from assistant.tui.screens.chat import ChatScreen  # noqa: E402
from assistant.tui.screens.token_view import TokenViewScreen  # noqa: E402
from assistant.tui.widgets.chat_log import AssistantMessage  # noqa: E402
from assistant.tui.widgets.token_strip import TokenStrip  # noqa: E402
from assistant.types import GenerationParams  # noqa: E402

from .tui_support import (  # noqa: E402
    StableFakeBackend,
    make_app,
    register_fake,
    run_pilot,
    screen_text,
    type_and_send,
    wait_idle,
    wait_until,
)

PARAMS = GenerationParams(temperature=0.7, top_k=3, top_p=1.0, logprobs=5)


class SlowScoring(StableFakeBackend):
    """Scores a given reply at one token per ``delay`` seconds, so progress and Esc can be seen."""

    delay = 0.05

    def iter_logits(self, prompt_ids: list[int], token_ids: Sequence[int]) -> Iterator[Any]:
        for row in super().iter_logits(prompt_ids, token_ids):
            time.sleep(self.delay)
            yield row


class RemoteLike(StableFakeBackend):
    """A backend that can neither score given tokens nor know sampled probabilities (like openai)."""

    capabilities_default = Capabilities(sampled_probs=False, next_token=False)


def view(app: Any) -> TokenViewScreen:
    screen = app.screen
    assert isinstance(screen, TokenViewScreen), f"the token view is not open ({screen!r})"
    return screen


async def send_and_open(pilot: Any, text: str = "Paris?") -> TokenViewScreen:
    """Send ``text``, focus the reply and press ``t`` on it."""
    await type_and_send(pilot, text)
    await wait_idle(pilot)
    reply = pilot.app.chat_screen.log_view.last_assistant()
    assert isinstance(reply, AssistantMessage)
    reply.focus()
    await pilot.pause()
    await pilot.press("t")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, TokenViewScreen), what="the token view")
    await pilot.pause()
    return view(pilot.app)


def generated(text: str, params: GenerationParams, system: str = "You are a helpful assistant.") -> Any:
    """The fake's own generation with logprobs, for comparing numbers against."""
    from assistant.types import Message

    backend = FakeBackend()
    backend.load("fake-model")
    return backend.complete([Message("system", system), Message("user", text)], params)


def test_t_on_a_reply_opens_its_tokens_and_the_cursor_walks_them() -> None:
    app = make_app(params=PARAMS)

    async def scenario(pilot: Any) -> None:
        screen = await send_and_open(pilot, "Paris?")
        state = screen.state
        reply_text = "Echo: Paris?"
        assert "".join(t.token for t in state.tokens) == reply_text
        assert state.reply.origin == "recorded while the reply was generated"
        expected = generated("Paris?", PARAMS)
        assert [t.p_sampled for t in state.tokens] == [t.p_sampled for t in expected.logprobs]
        assert state.cursor == 0
        await pilot.press("right", "right")
        assert state.cursor == 2
        text = screen_text(app)
        assert f"step 3 of {len(reply_text)}" in text
        assert "◀ chosen" in text and "sampled" in text and "shade = sampled probability" in text
        await pilot.press("end")
        assert state.cursor == len(reply_text) - 1
        await pilot.press("home")
        assert state.cursor == 0
        # A click on a token moves the cursor there (each fake token is one cell wide).
        await pilot.click(TokenStrip, offset=(4, 0))
        assert state.cursor == 4
        await pilot.press("escape")
        assert isinstance(app.screen, ChatScreen)

    run_pilot(app, scenario)


def test_f1_in_the_token_view_lists_its_keys_and_esc_comes_back_to_the_view() -> None:
    """F1 is the app's, but a modal view hides the app's bindings: the view binds F1 itself."""
    from assistant.tui.screens.help import HelpScreen

    app = make_app(params=PARAMS)

    async def scenario(pilot: Any) -> None:
        screen = await send_and_open(pilot)
        await pilot.press("s")  # the sampling panel open: F1 still helps, and Esc leaves the panel as it was
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), timeout=5, what="the help")
        text = screen_text(app)
        assert "Token view" in text and "Sampling panel" in text
        await pilot.press("escape")
        assert app.screen is screen and screen.state.what_if is not None
        assert "f1 Help" in screen_text(app).splitlines()[-1]  # the footer says so, at 100 columns too

    run_pilot(app, scenario)


def test_a_narrow_terminal_keeps_the_numbers_the_cuts_the_settings_and_the_legend() -> None:
    """At 50 columns the bar gives way, not the sampled number, the setting that cut a candidate,
    the settings being tried (the panel's border would crop them) or the legend's last levels."""
    app = make_app(params=PARAMS)

    async def scenario(pilot: Any) -> None:
        screen = await send_and_open(pilot)
        await pilot.press("right", "s", "k")  # the sampling panel at top-k 2
        await pilot.pause()
        text = screen_text(app)
        rows = screen.state.step_rows()
        chosen = next(row for row in rows if row.chosen)
        assert chosen.p_sampled is not None
        line = next(line for line in text.splitlines() if "◀ chosen" in line)
        assert f"{chosen.p_model:.3f}" in line and f"{chosen.p_sampled:.3f}" in line
        lines = text.splitlines()
        cuts = [index for index, line in enumerate(lines) if "cut by top-k" in line]
        assert cuts
        for index in cuts:  # wrapped onto the next line where the note has little room, never cropped
            column = lines[index].index("cut by top-k")
            value = lines[index][column + 12 :].strip(" │╮╯") or lines[index + 1][column : column + 12].strip()
            assert value == "2", lines[index : index + 2]
        assert "top-k 2" in text and "top-p off" in text and "what if" in text
        for label in ("<10%", "<50%", "<90%", "≥90%", "unknown"):
            assert label in text, label

    run_pilot(app, scenario, size=(50, 34))


def test_sampling_panel_redraws_the_candidates_under_new_settings() -> None:
    app = make_app(params=PARAMS)

    async def scenario(pilot: Any) -> None:
        screen = await send_and_open(pilot)
        state = screen.state
        await pilot.press("right")
        as_generated = state.step_rows()
        assert sum(1 for row in as_generated if row.kept) == 3  # top-k 3 of the 5 listed
        await pilot.press("s")
        assert state.what_if is not None
        assert "what if (sampling panel)" in screen_text(app)
        await pilot.press("T")  # temperature 0.7 -> 0.8
        assert state.settings.temperature == 0.8
        hotter = state.step_rows()
        chosen_before = next(row for row in as_generated if row.chosen)
        chosen_after = next(row for row in hotter if row.chosen)
        assert chosen_after.p_sampled is not None and chosen_before.p_sampled is not None
        assert chosen_after.p_sampled < chosen_before.p_sampled  # a flatter distribution
        assert f"{chosen_after.p_sampled:.3f}" in screen_text(app)
        await pilot.press("k")  # top-k 3 -> 2
        assert state.settings.top_k == 2
        assert "cut by top-k 2" in screen_text(app)
        await pilot.press("t", "t", "t", "t", "t", "t", "t", "t")  # down to 0: greedy
        assert state.settings.greedy
        rows = state.step_rows()
        assert [row.p_sampled for row in rows][:2] == [1.0, 0.0]
        assert "temperature 0 (greedy)" in screen_text(app)
        await pilot.press("equals_sign")
        assert state.settings == state.reply.params
        await pilot.press("escape")  # closes the panel only
        assert state.what_if is None and isinstance(app.screen, TokenViewScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, ChatScreen)

    run_pilot(app, scenario)


def test_the_sampling_panel_asks_the_engine_when_the_listed_candidates_cannot_tell() -> None:
    """top-k 40 over 5 recorded candidates: the panel's numbers come from the whole distribution."""
    wide = GenerationParams(temperature=0.7, top_k=40, top_p=1.0, logprobs=5)
    app = make_app(params=wide)

    async def scenario(pilot: Any) -> None:
        screen = await send_and_open(pilot)
        state = screen.state
        await pilot.press("right", "s", "T")  # temperature 0.8: what would each candidate get?
        await wait_until(pilot, lambda: state.exact_key in state.exact, what="the engine's numbers")
        await pilot.pause()
        rows = state.step_rows()
        assert all(row.p_sampled is not None for row in rows) and len(rows) > 5
        # The same numbers the engine gives when it generates with those settings (teacher-forced here).
        expected = app.controller.backend.token_logprobs(
            state.reply.prompt and list(state.reply.prompt), state.reply.token_ids[:2], state.what_if, 20
        )
        last = list(expected)[-1]
        chosen = next(row for row in rows if row.chosen)
        assert chosen.p_sampled == pytest.approx(last.p_sampled)
        assert "—" not in screen_text(app).split("what if")[1]

    run_pilot(app, scenario)


def test_a_reply_without_numbers_gets_them_computed_with_progress_and_esc_cancels() -> None:
    app = make_app(params=PARAMS.replace(logprobs=0))
    register_fake(lambda: SlowScoring())

    async def scenario(pilot: Any) -> None:
        user_text = "What is the capital of France, in one word please?"
        screen = await send_and_open(pilot, user_text)
        assert screen.computing and not screen.state.tokens
        assert "Computing the probabilities of" in screen_text(app)
        progress = screen.query_one("#progress")
        await wait_until(pilot, lambda: (progress.progress or 0) > 0, what="progress")  # type: ignore[attr-defined]
        await pilot.press("escape")  # cancels the computation, keeps the view
        await wait_until(pilot, lambda: not screen.computing, what="the cancel")
        assert isinstance(app.screen, TokenViewScreen) and not screen.state.tokens
        assert "Cancelled" in screen_text(app)
        SlowScoring.delay = 0.0
        try:
            await pilot.press("r")
            await wait_until(pilot, lambda: not screen.computing, what="the computation")
        finally:
            SlowScoring.delay = 0.05
        state = screen.state
        assert state.reply.origin.startswith("computed by teacher-forced scoring")
        expected = generated(user_text, PARAMS.replace(logprobs=10))
        assert [t.token_id for t in state.tokens] == expected.token_ids[: len(state.tokens)]
        assert [t.p_sampled for t in state.tokens] == pytest.approx([t.p_sampled for t in expected.logprobs])
        assert [t.logprob for t in state.tokens] == pytest.approx([t.logprob for t in expected.logprobs])
        await pilot.press("escape")
        # Opening it again shows the numbers at once: they stay with the reply.
        await pilot.press("t")
        assert view(app).state.tokens and not view(app).computing

    run_pilot(app, scenario)


def test_a_backend_that_cannot_score_says_so_in_the_view() -> None:
    app = make_app(params=PARAMS.replace(logprobs=0))
    register_fake(lambda: RemoteLike())

    async def scenario(pilot: Any) -> None:
        screen = await send_and_open(pilot)
        assert not screen.computing and not screen.state.tokens
        text = " ".join(screen_text(app).split())
        assert "cannot be computed" in screen.note and "cannot score given tokens" in screen.note
        assert "cannot be computed" in text
        await pilot.press("r")  # not offered: nothing happens
        assert not screen.computing
        await pilot.press("escape")
        assert isinstance(app.screen, ChatScreen)

    run_pilot(app, scenario)


def test_reopened_stored_turn_shows_its_stored_tokens() -> None:
    first = make_app(params=PARAMS)

    async def record(pilot: Any) -> None:
        await type_and_send(pilot, "Paris?")
        await wait_idle(pilot)

    run_pilot(first, record)
    recorded = first.controller.last_tokens
    assert recorded is not None and recorded.tokens

    again = make_app(params=PARAMS.replace(logprobs=0), continue_latest=True)

    async def reopen(pilot: Any) -> None:
        reply = pilot.app.chat_screen.log_view.last_assistant()
        assert reply is not None and reply.message_id is not None
        reply.focus()
        await pilot.pause()
        await pilot.press("t")
        state = view(pilot.app).state
        assert state.reply.origin == "stored with the reply in the history"
        assert [t.to_dict() for t in state.tokens] == [t.to_dict() for t in recorded.tokens]
        assert state.reply.params.top_k == 3  # the settings the reply was written with

    run_pilot(again, reopen)


def test_reopened_stored_turn_without_tokens_is_scored_after_its_own_prompt() -> None:
    first = make_app(params=PARAMS.replace(logprobs=0))

    async def record(pilot: Any) -> None:
        await type_and_send(pilot, "first question")
        await wait_idle(pilot)
        await type_and_send(pilot, "second one")
        await wait_idle(pilot)

    run_pilot(first, record)

    again = make_app(params=PARAMS, continue_latest=True)

    async def reopen(pilot: Any) -> None:
        replies = list(pilot.app.chat_screen.log_view.query(AssistantMessage))
        assert len(replies) == 2
        replies[0].focus()  # the first reply: its prompt is the conversation's first turn only
        await pilot.pause()
        await pilot.press("t")
        screen = view(pilot.app)
        await wait_until(pilot, lambda: not screen.computing, what="the computation")
        state = screen.state
        expected = generated("first question", PARAMS.replace(logprobs=10))
        assert "".join(t.token for t in state.tokens) == "Echo: first question"
        assert [t.p_sampled for t in state.tokens] == pytest.approx([t.p_sampled for t in expected.logprobs])

    run_pilot(again, reopen)


def test_palette_offers_the_token_view() -> None:
    app = make_app(params=PARAMS)

    async def scenario(pilot: Any) -> None:
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Token view" in titles
        app.action_token_view()  # no reply yet: a warning, nothing opens
        await pilot.pause()
        assert isinstance(app.screen, ChatScreen)
        await type_and_send(pilot, "hi")
        await wait_idle(pilot)
        pilot.app.chat_screen.prompt_input.focus()
        app.action_token_view()  # the last reply, whatever is focused
        await pilot.pause()
        assert "".join(t.token for t in view(app).state.tokens) == "Echo: hi"

    run_pilot(app, scenario)


def test_numbers_are_computed_only_by_the_model_that_wrote_the_reply() -> None:
    from assistant.inspect.token_view import ReplyTokens
    from assistant.tui import ChatController, ChatSettings

    register_fake(lambda: StableFakeBackend())
    controller = ChatController(ChatSettings(model="fake-model", backend="fake"))
    reply = ReplyTokens([1, 2], PARAMS, prompt=(), model="fake-model")
    assert controller.token_numbers_unavailable(reply) == "no model is loaded"
    controller.load()
    try:
        assert controller.token_numbers_unavailable(reply) is None
        other = ReplyTokens([1, 2], PARAMS, prompt=(), model="gemma3-270m")
        assert "came from gemma3-270m" in (controller.token_numbers_unavailable(other) or "")
        unknown = ReplyTokens([1, 2], PARAMS, prompt=None, model="fake-model")
        assert "prompt" in (controller.token_numbers_unavailable(unknown) or "")
    finally:
        controller.unload()


def test_a_model_under_another_of_its_names_is_the_model_that_wrote_the_reply() -> None:
    """``-m smollm2`` wrote the reply; the pickers load it as ``smollm2-135m-instruct``: one model."""
    from assistant.inspect.token_view import ReplyTokens
    from assistant.tui import ChatController, ChatSettings

    register_fake(lambda: StableFakeBackend())
    controller = ChatController(ChatSettings(model="smollm2-135m-instruct", backend="fake"))
    controller.load()
    try:
        reply = ReplyTokens([1, 2], PARAMS, prompt=(), model="smollm2")
        assert controller.token_numbers_unavailable(reply) is None
        assert controller.token_pieces(reply, [1, 2])  # its vocabulary too: drawn from the exact pieces
        other = ReplyTokens([1, 2], PARAMS, prompt=(), model="gemma3-270m")
        assert "came from gemma3-270m" in (controller.token_numbers_unavailable(other) or "")
    finally:
        controller.unload()


def test_the_palette_does_not_offer_the_loaded_model_again_under_its_listed_name() -> None:
    """Picking it reloaded the same model and renamed it in the status line (smollm2 → smollm2-135m-instruct)."""
    app = make_app(model="smollm2")

    async def scenario(pilot: Any) -> None:
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Model: gemma3-270m" in titles
        assert not any(title.startswith("Model: smollm2") for title in titles), titles

    run_pilot(app, scenario)


def test_a_long_reply_is_paged() -> None:
    long_reply = " ".join(f"word{i:03d}" for i in range(200))  # 1,599 one-byte tokens
    app = make_app(reply=long_reply, params=PARAMS.replace(max_tokens=2000))

    async def scenario(pilot: Any) -> None:
        screen = await send_and_open(pilot)
        state, strip = screen.state, screen.strip
        width, lines = strip.line_width, strip.lines_per_page
        pages = state.page_count(width, lines)
        assert pages > 2
        box = screen.query_one("#box")
        assert box.border_subtitle == f"page 1 of {pages}"
        await pilot.press("pagedown")
        assert state.page(width, lines)[0] == lines  # the second page
        assert box.border_subtitle == f"page 2 of {pages}"
        await pilot.press("end")
        assert box.border_subtitle == f"page {pages} of {pages}"
        assert long_reply[-7:] in screen_text(app)  # the last page is drawn
        await pilot.press("pageup")
        assert box.border_subtitle == f"page {pages - 1} of {pages}"

    run_pilot(app, scenario)


class SlowWhatIf(StableFakeBackend):
    """Re-reads a reply slowly (``delay`` a token), so sampling-panel keys pressed meanwhile pile up."""

    delay = 0.1

    def iter_logits(self, prompt_ids: list[int], token_ids: Sequence[int]) -> Iterator[Any]:
        for row in super().iter_logits(prompt_ids, token_ids):
            time.sleep(self.delay)
            yield row


def test_quick_sampling_keys_get_the_numbers_of_the_newest_settings() -> None:
    """Keys pressed while the engine works on an older setting: the setting shown last gets its numbers."""
    wide = GenerationParams(temperature=0.7, top_k=40, top_p=1.0, logprobs=5)
    app = make_app(params=wide)
    register_fake(lambda: SlowWhatIf())

    async def scenario(pilot: Any) -> None:
        screen = await send_and_open(pilot)
        state = screen.state
        await pilot.press("end", "s", "equals_sign")
        for key in "TTPTP":  # each press asks for other exact numbers while the first ask still runs
            await pilot.press(key)
            await pilot.pause(0.05)
        await wait_until(pilot, lambda: state.exact_key in state.exact, timeout=15, what="the newest numbers")
        await pilot.pause()
        assert "—" not in screen_text(app).split("what if")[1]
        assert not any(n.severity == "error" for n in app._notifications)

    run_pilot(app, scenario)


class FailingWhatIf(StableFakeBackend):
    """Generates with logprobs, but cannot re-read a reply (the sampling panel's exact numbers fail)."""

    def iter_logits(self, prompt_ids: list[int], token_ids: Sequence[int]) -> Iterator[Any]:
        from assistant.errors import BackendError

        raise BackendError("the engine fell over")
        yield  # pragma: no cover


def test_exact_numbers_that_fail_say_why() -> None:
    wide = GenerationParams(temperature=0.7, top_k=40, top_p=1.0, logprobs=5)
    app = make_app(params=wide)
    register_fake(lambda: FailingWhatIf())

    async def scenario(pilot: Any) -> None:
        await send_and_open(pilot)
        await pilot.press("right", "s", "T")
        await wait_until(
            pilot,
            lambda: any("the engine fell over" in n.message for n in app._notifications),
            timeout=10,
            what="the error",
        )
        assert isinstance(app.screen, TokenViewScreen)

    run_pilot(app, scenario)


class NamedEnd(StableFakeBackend):
    """The fake whose end token is a named control token, as ``<|im_end|>`` is on a real chat model."""

    def control_token_name(self, token_id: int) -> str:
        from assistant.backends.fake import EOS

        return "<|im_end|>" if token_id == EOS else super().control_token_name(token_id)


def test_byte_tokens_and_control_tokens_are_drawn_as_the_cli_draws_them() -> None:
    """"☑" is three byte tokens: <0xE2><0x98><0x91>, not three "�"; the end token by its name, not "∅"."""
    app = make_app(params=PARAMS.replace(logprobs=10))
    register_fake(lambda: NamedEnd(reply="☑ ok"))

    async def scenario(pilot: Any) -> None:
        from assistant.backends.fake import EOS

        screen = await send_and_open(pilot, "tick")
        state = screen.state
        await wait_until(pilot, lambda: not state.missing_piece_ids(), what="the tokens' pieces")
        await pilot.pause()
        text = screen_text(app)
        assert "<0xE2><0x98><0x91> ok" in text and "\ufffd" not in text
        await pilot.press("right")  # step 2: the end token is among the candidates
        assert any(alt.token_id == EOS for alt in state.current.top)  # type: ignore[union-attr]
        panel = screen_text(app).split("step 2 of")[1]
        assert "<0x98>" in panel and "<|im_end|>" in panel and "∅" not in panel

    run_pilot(app, scenario)

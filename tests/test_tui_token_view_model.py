"""The token view on the real SmolLM2 model (llama-cpp, in its engine process).

Greedy decoding makes the reply repeatable, so the numbers recorded while a
reply was generated (``-o logprobs=5``) can be compared with the numbers the
view computes for the same reply written without them (teacher-forced scoring
after the prompt the controller rebuilt): both must describe the same steps.
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("textual")

from assistant.config import default_system_prompt  # noqa: E402
from assistant.types import GenerationParams  # noqa: E402

from .tui_support import run_pilot, type_and_send, wait_idle, wait_until  # noqa: E402

pytestmark = pytest.mark.model

QUESTION = "What is the capital of France?"


async def open_view(pilot: Any) -> Any:
    from assistant.tui.screens.token_view import TokenViewScreen

    reply = pilot.app.chat_screen.log_view.last_assistant()
    reply.focus()
    await pilot.pause()
    await pilot.press("t")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, TokenViewScreen), what="the token view")
    screen = pilot.app.screen
    await wait_until(pilot, lambda: not screen.computing, timeout=120, what="the numbers")
    return screen


def test_recorded_and_recomputed_numbers_agree_on_a_greedy_reply(smollm2_path: Any) -> None:
    from assistant.tui import ChatApp, ChatController, ChatSettings

    greedy = GenerationParams(temperature=0, max_tokens=12, logprobs=5)
    settings = ChatSettings(
        model="smollm2",
        backend="llama-cpp",
        system=default_system_prompt(),
        params=greedy,
        backend_options={"n_ctx": 2048},
    )
    app = ChatApp(ChatController(settings))

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, QUESTION)
        await wait_idle(pilot)
        recorded_view = await open_view(pilot)
        recorded = list(recorded_view.state.tokens)
        assert recorded and recorded_view.state.reply.origin.startswith("recorded")
        reply_text = app.chat_screen.log_view.last_assistant().text
        assert "".join(t.token for t in recorded) == reply_text
        for token in recorded:  # greedy: the pick is the model's top-1, with all the sampled mass
            assert token.top[0].token_id == token.token_id
            assert token.p_sampled == 1.0
        await pilot.press("escape")

        # The same question in a new conversation, without logprobs: the view computes them.
        await pilot.press("ctrl+n")
        app.controller.settings.params = greedy.replace(logprobs=0)
        await type_and_send(pilot, QUESTION)
        await wait_idle(pilot)
        assert app.chat_screen.log_view.last_assistant().text == reply_text
        computed_view = await open_view(pilot)
        computed = computed_view.state.tokens
        assert computed_view.state.reply.origin.startswith("computed")
        assert [t.token_id for t in computed] == [t.token_id for t in recorded]
        for mine, theirs in zip(computed, recorded):
            assert mine.logprob == pytest.approx(theirs.logprob, abs=2e-3)
            assert mine.p_sampled == theirs.p_sampled == 1.0
            assert [a.token_id for a in mine.top[:3]] == [a.token_id for a in theirs.top[:3]]
        # The sampling panel on a real step: top-k 1 leaves the chosen token alone, at probability 1.
        await pilot.press("s", *["k"] * 8)
        rows = computed_view.state.step_rows()
        assert computed_view.state.settings.top_k == 1
        assert [row.p_sampled for row in rows if row.kept] == [1.0]

    run_pilot(app, scenario)

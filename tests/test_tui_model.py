"""End to end through the chat app with the real SmolLM2 model on llama-cpp."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("textual")

from assistant.config import default_system_prompt  # noqa: E402
from assistant.types import GenerationParams  # noqa: E402

from .tui_support import run_pilot, type_and_send, wait_idle  # noqa: E402

pytestmark = pytest.mark.model


def test_real_model_answers_and_reports_speed(smollm2_path: Path) -> None:
    from assistant.tui import ChatApp, ChatController, ChatSettings
    from assistant.tui.widgets.chat_log import ChatLog
    from assistant.tui.widgets.status_bar import StatusBar

    settings = ChatSettings(
        model="smollm2",
        backend="llama-cpp",
        system=default_system_prompt(),
        params=GenerationParams(temperature=0, max_tokens=48),
        backend_options={"n_ctx": 2048},
    )
    app = ChatApp(ChatController(settings))

    async def scenario(pilot: Any) -> None:
        screen = app.chat_screen
        status = screen.query_one(StatusBar).info
        assert status.model == "smollm2" and status.backend == "llama-cpp" and status.context_length == 2048
        assert app.controller.backend.info()["engine_process"] != os.getpid()  # the model has its own
        await type_and_send(pilot, "What is the capital of France?", press_enter=True)
        await wait_idle(pilot)
        reply = screen.query_one(ChatLog).last_assistant()
        assert reply is not None and "Paris" in reply.text
        assert reply.shown_markdown == reply.text
        status = screen.query_one(StatusBar).info
        assert status.tokens_per_second and status.tokens_per_second > 0
        assert status.ttft_ms and status.ttft_ms > 0
        assert status.context_used == app.controller.last.usage.total_tokens
        # The inspector's token count is the backend's own count of the exact prompt, message contents
        # counted as data (so it is the ids the engine is fed) and never more than the text's tokens
        # with every marker parsed as text.
        preview = app.controller.preview("And of Italy?")
        backend = app.controller.backend
        assert preview.tokens == backend.count_tokens(list(preview.messages)) == len(
            backend.prompt_token_ids(list(preview.messages))
        )
        assert preview.tokens < backend.count_tokens(preview.text)
        assert "The capital of France is Paris." in preview.text

    run_pilot(app, scenario)

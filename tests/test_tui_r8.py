"""The chat app, round 8: each test failed before its fix."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("textual")

from .tui_support import make_app, run_pilot, wait_until  # noqa: E402


def test_a_loaded_model_has_its_status_shown_or_pending_before_the_handler_first_yields() -> None:
    """CI saw an empty model name in the status line: the loaded handler awaited the spinner's removal
    after marking the model loaded but before starting the status refresh, so for a moment the app
    said 'ready, nothing pending' with no model named."""
    app = make_app(reply="Hi")
    seen: list[tuple[bool, bool, str]] = []

    async def scenario(pilot: Any) -> None:
        from assistant.tui.widgets.chat_log import ChatLog

        screen = app.chat_screen
        log = screen.query_one(ChatLog)
        remove = log.remove_children

        def watching_remove(*args: Any, **kwargs: Any) -> Any:
            seen.append((screen.model_loading, screen.status_pending, screen.status.model))
            return remove(*args, **kwargs)

        log.remove_children = watching_remove  # type: ignore[method-assign]
        screen.load_model("fake-model", "fake")
        await wait_until(pilot, lambda: bool(seen) and not screen.status_pending, what="load")
        assert seen and all(pending or model for _, pending, model in seen)

    scenario.no_wait = True  # type: ignore[attr-defined]
    run_pilot(app, scenario)

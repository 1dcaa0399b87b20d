"""Snapshots of the token view and its sampling panel (pytest-textual-snapshot).

The fake backend's logits are varied per position here, so the shading shows
every level of the scale. Update after an intended change with
``pytest tests/test_tui_token_view_snapshots.py --snapshot-update`` and review the SVGs.
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("pytest_textual_snapshot")

from assistant.types import GenerationParams  # noqa: E402

from .test_tui_snapshots import SIZE, fixed_dates, prepared  # noqa: E402,F401
from .tui_support import make_app, wait_until  # noqa: E402

REPLY = "The capital of France is Paris.\nIt is known for the Eiffel Tower."
PARAMS = GenerationParams(temperature=0.7, top_k=3, top_p=0.95, logprobs=5)
TARGET_LOGITS = (4.0, 1.0, 2.5, 0.2, 6.0, 3.0)
"""The reply token's logit by position (the rest of the fake's logits spread over [-8, 0])."""


@pytest.fixture(autouse=True)
def varied_logits(monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.backends import fake

    original = fake.fake_logits

    def logits(position: int, target: int) -> Any:
        out = original(position, target)
        out[target] = TARGET_LOGITS[position % len(TARGET_LOGITS)]
        return out

    monkeypatch.setattr(fake, "fake_logits", logits)


async def open_token_view(pilot: Any) -> None:
    from assistant.tui.screens.token_view import TokenViewScreen

    reply = pilot.app.chat_screen.log_view.last_assistant()
    reply.focus()
    await pilot.pause()
    await pilot.press("t")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, TokenViewScreen), what="token view")
    await pilot.press(*["right"] * 27)  # the cursor on " Paris"'s first letter
    await pilot.pause()


def test_token_view(snap_compare: Any) -> None:
    app = make_app(reply=REPLY, params=PARAMS)
    assert snap_compare(
        app, terminal_size=SIZE, run_before=prepared("Capital of France?", after=open_token_view)
    )


def test_token_view_sampling_panel(snap_compare: Any) -> None:
    async def sampling(pilot: Any) -> None:
        await open_token_view(pilot)
        await pilot.press("s", "T", "T", "k")  # temperature 0.7 -> 1.0, top-k 3 -> 2

    app = make_app(reply=REPLY, params=PARAMS)
    assert snap_compare(app, terminal_size=SIZE, run_before=prepared("Capital of France?", after=sampling))


def test_token_view_light_theme(snap_compare: Any) -> None:
    async def light(pilot: Any) -> None:
        await pilot.press("ctrl+t")
        await open_token_view(pilot)

    app = make_app(reply=REPLY, params=PARAMS)
    assert snap_compare(app, terminal_size=SIZE, run_before=prepared("Capital of France?", after=light))

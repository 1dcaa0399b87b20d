"""Snapshot of the attention view (pytest-textual-snapshot), over the fake backend's deterministic maps.

Update after an intended change with
``pytest tests/test_tui_attention_snapshots.py --snapshot-update`` and review the SVG.
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("pytest_textual_snapshot")

from assistant.backends.fake import FakeAttentionBackend  # noqa: E402

from .test_tui_snapshots import SIZE, fixed_dates, prepared  # noqa: E402,F401
from .tui_support import FixedTimings, make_app, register_fake, wait_until  # noqa: E402

REPLY = "Paris is the capital."


class StableAttention(FixedTimings, FakeAttentionBackend):
    """Maps as the fake forms them, with fixed timings: the chat's status line shows above the view's footer."""


async def open_attention_view(pilot: Any) -> None:
    from assistant.tui.screens.attention import AttentionScreen

    reply = pilot.app.chat_screen.log_view.last_assistant()
    reply.focus()
    await pilot.pause()
    await pilot.press("a")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, AttentionScreen), what="attention view")
    screen = pilot.app.screen
    await wait_until(pilot, lambda: screen.state is not None, what="the map")
    await pilot.press("L", "h", "up", "left", "left")  # layer 2, head 0, the cursor inside the map
    await pilot.pause()


def test_attention_view(snap_compare: Any) -> None:
    app = make_app(reply=REPLY)
    register_fake(lambda: StableAttention(reply=REPLY))
    assert snap_compare(
        app, terminal_size=SIZE, run_before=prepared("Capital of France?", after=open_attention_view)
    )

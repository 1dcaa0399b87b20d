"""The chat app, round 11, found while integrating: each test failed before its fix."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("textual")

from .tui_support import make_app, run_pilot, type_and_send, wait_idle  # noqa: E402


def test_a_stored_completion_replys_token_view_uses_the_text_recorded_with_it() -> None:
    """Completion mode records the exact text each reply continued (round 11); the token view of a stored
    reply still rebuilt it from the turns with today's joining rule, so an older reply was shown after a
    prompt the model never saw."""
    from assistant.tui.widgets.chat_log import ChatLog

    app = make_app(reply="bonjour")
    app.controller.settings.mode = "completion"

    async def scenario(pilot: Any) -> None:
        controller = app.controller
        assert controller.prompt_mode() == "completion"
        await type_and_send(pilot, "hello")
        await wait_idle(pilot)
        live = app.chat_screen.query_one(ChatLog).last_assistant()
        assert live.message_id is not None
        store = controller.library.store
        recorded = "An older joining rule:\n\nhello"  # as written by a version that joined turns otherwise
        store.db.execute("UPDATE messages SET completion_prompt = ? WHERE id = ?", [recorded, live.message_id])
        store.db.conn.commit()
        controller._written_here.clear()  # as reopened after a restart: only the history knows the reply
        stored = controller.stored_reply_tokens(live.message_id)
        assert stored is not None
        assert stored.prompt == recorded

    run_pilot(app, scenario)


def test_a_label_results_note_is_drawn_under_its_bars() -> None:
    """`/sentiment --examples similar` with a label the pool lacks: the CLI printed the note, the app only bars."""
    from assistant.tui.widgets import tool_results

    drawn: list[tuple] = []
    real = tool_results.noted_bars
    tool_results.noted_bars = lambda *a: drawn.append(a) or real(*a)  # type: ignore[assignment]
    try:
        data = {"label": "happy", "probabilities": {"happy": 0.7, "sad": 0.3}, "note": "no examples for 'happy'\x1b[2J"}
        widget, _plain = tool_results.result_view(data)
        assert isinstance(widget, tool_results.SentimentView)
        tool_results.result_view({"label": "happy", "probabilities": {"happy": 0.7, "sad": 0.3}})
    finally:
        tool_results.noted_bars = real  # type: ignore[assignment]
    assert [a[2] for a in drawn] == ["no examples for 'happy'\x1b[2J", None]
    shown = real(*drawn[0]).plain
    assert "happy" in shown and "note: no examples for 'happy'" in shown
    assert "\x1b" not in shown  # untrusted: a plugin's note is data
    assert "note" not in real(*drawn[1]).plain


def test_a_cli_style_flag_in_a_slash_command_is_refused_not_analysed_as_text() -> None:
    """`/ner --types PERSON Obama …` silently analysed "--types PERSON" as part of the text."""
    from assistant.errors import ToolError
    from assistant.tui.tool_calls import prepare_tool_call

    for line in ("/ner --types PERSON Barack Obama visited Paris.", "/ner --types=PERSON Barack Obama visited Paris."):
        with pytest.raises(ToolError, match=r"^/ner: write types=VALUE here, not --types"):
            prepare_tool_call(line, [])
    call = prepare_tool_call("/ner types=PERSON Barack Obama visited Paris.", [])
    assert call.name == "ner"
    text = prepare_tool_call("/summarize --verbose is not a parameter, so this is text to summarize", [])
    assert text.name == "summarize"  # an unknown --word is text, as before

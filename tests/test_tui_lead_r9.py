"""The chat app, round 9, found while integrating: each test failed before its fix."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("textual")

from assistant.types import Message  # noqa: E402

from .tui_support import make_app, run_pilot, type_and_send, wait_idle  # noqa: E402


def test_a_stored_template_runs_token_view_uses_the_prompt_it_was_sent_not_a_new_rendering() -> None:
    """A `prompt -t zero-shot -v task=…` run reopened in the app: the token view rendered the typed text
    through the template again, with the app's variables (the default task), not what the model saw."""
    from assistant.history.records import rendered_json
    from assistant.tui.widgets.chat_log import ChatLog

    app = make_app(reply="bonjour")

    async def scenario(pilot: Any) -> None:
        controller = app.controller
        await type_and_send(pilot, "hello")
        await wait_idle(pilot)
        live = app.chat_screen.query_one(ChatLog).last_assistant()
        assert live.message_id is not None
        store, conversation_id = controller.library.store, controller.conversation_id
        user = store.messages(conversation_id)[0]
        sent = [Message("user", "Say hi."), Message("assistant", "hi"), Message("user", "Translate to French.\n\nhello")]
        store.db.execute("UPDATE messages SET rendered = ? WHERE id = ?", [rendered_json(sent), user.id])
        # The stored count was of the live prompt (no examples): a real run's counts its rendering.
        store.db.execute("UPDATE messages SET prompt_tokens = NULL WHERE id = ?", [live.message_id])
        store.db.conn.commit()
        controller._written_here.clear()  # as reopened after a restart: only the history knows the reply
        stored = controller.stored_reply_tokens(live.message_id)
        assert stored is not None
        prompt = stored.prompt
        assert isinstance(prompt, tuple)
        assert [m for m in prompt if m.role != "system"] == sent

    run_pilot(app, scenario)

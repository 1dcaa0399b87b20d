"""The chat app's everyday paths as a demanding user found them (round 14): each test failed before its fix."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("textual")

from assistant.types import GenerationParams  # noqa: E402

from .tui_support import make_app, run_pilot, type_and_send, wait_idle, wait_until  # noqa: E402


def _reopened_reply_status(app: Any) -> str:
    """The header status of the last reply once the conversation is drawn again from the history."""
    from assistant.tui.widgets.chat_log import AssistantMessage, stored_widgets

    conversation_id = app.controller.conversation_id
    stored = app.controller.library.open(conversation_id).stored
    return [w for w in stored_widgets(stored) if isinstance(w, AssistantMessage)][-1].status


def test_a_reply_cut_by_the_full_context_window_says_so_live_and_reopened() -> None:
    """A reply that filled the context window was headed "[stopped at max tokens]", live and reopened:
    the user raised max tokens, which changed nothing. It says the window ended it (the CLI's rule,
    ``length_note``); reopened, the stored counts and max tokens tell the same."""
    from assistant.tui.reply_status import STOPPED_AT_CONTEXT_END
    from assistant.tui.widgets.chat_log import AssistantMessage

    app = make_app(reply="word " * 200, context_length=200, params=GenerationParams(max_tokens=500))

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "Hello there")
        await wait_idle(pilot)
        reply = app.chat_screen.log_view.query(AssistantMessage).last()
        assert reply.status == STOPPED_AT_CONTEXT_END
        assert _reopened_reply_status(app) == STOPPED_AT_CONTEXT_END

    run_pilot(app, scenario)


def test_a_reply_cut_at_max_tokens_still_says_max_tokens() -> None:
    from assistant.tui.reply_status import STOPPED_AT_MAX_TOKENS
    from assistant.tui.widgets.chat_log import AssistantMessage

    app = make_app(reply="word " * 200, context_length=2048, params=GenerationParams(max_tokens=8))

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "Hello there")
        await wait_idle(pilot)
        reply = app.chat_screen.log_view.query(AssistantMessage).last()
        assert reply.status == STOPPED_AT_MAX_TOKENS
        assert _reopened_reply_status(app) == STOPPED_AT_MAX_TOKENS

    run_pilot(app, scenario)


def test_length_status_says_only_what_the_counts_tell() -> None:
    """Without the counts (a server that reports no usage, a row stored without them) neither limit is claimed."""
    from assistant.tui.reply_status import (
        STOPPED_AT_A_LIMIT,
        STOPPED_AT_CONTEXT_END,
        STOPPED_AT_MAX_TOKENS,
        length_status,
    )

    assert length_status(0, 0, 2048, 512) == STOPPED_AT_A_LIMIT
    assert length_status(None, None, None, None) == STOPPED_AT_A_LIMIT
    assert length_status(None, 100, None, None) == STOPPED_AT_A_LIMIT
    assert length_status(2000, 48, 2048, 512) == STOPPED_AT_CONTEXT_END
    assert length_status(20, 512, 2048, 512) == STOPPED_AT_MAX_TOKENS
    assert length_status(None, 48, None, 512) == STOPPED_AT_CONTEXT_END  # stored: shorter than its max
    assert length_status(None, 512, None, 512) == STOPPED_AT_MAX_TOKENS


def test_esc_during_a_tool_is_a_stop_not_a_failure_live_and_reopened() -> None:
    """Esc during `/summarize` was reported as "/summarize failed: stopped" at error severity, the
    line marked "[failed: stopped]" and the turn stored as an error. The user stopped it: the line
    says "stopped", the notification is no error, the history keeps the turn interrupted, and the
    conversation reopened draws it the same."""
    from assistant.tui.reply_status import TOOL_STOPPED_STATUS
    from assistant.tui.widgets.chat_log import UserMessage, stored_widgets

    app = make_app(reply="The text is about a fox.", token_delay=0.05, stable=False)
    text = " ".join(f"Sentence {i} says that the quick brown fox jumps over the lazy dog." for i in range(40))

    async def scenario(pilot: Any) -> None:
        screen = app.chat_screen
        backend = app.controller.backend
        await type_and_send(pilot, f"/summarize chunk_tokens=64 {text}")
        await wait_until(pilot, lambda: len(backend.calls) >= 1, what="the first part")
        await pilot.press("escape")
        await wait_idle(pilot)
        line = screen.log_view.query(UserMessage).last()
        assert line.status == TOOL_STOPPED_STATUS and line.why == ""
        assert not [n for n in app._notifications if n.severity == "error"]
        assert screen.prompt_input.text.startswith("/summarize")  # the line is back
        stored = app.controller.library.open(app.controller.conversation_id).stored
        assert [(m.role, m.status) for m in stored] == [("user", "complete"), ("assistant", "interrupted")]
        reopened = [w for w in stored_widgets(stored) if isinstance(w, UserMessage)]
        assert [(w.status, w.why) for w in reopened] == [(TOOL_STOPPED_STATUS, "")]

    run_pilot(app, scenario)


def test_an_esc_on_an_earlier_reply_does_not_stop_the_next_tool() -> None:
    """The stop flag Esc sets is this run's: a reply stopped before leaves the next tool running."""
    from assistant.tui.widgets.chat_log import ToolMessage

    app = make_app(reply="The text is about a fox.")

    async def scenario(pilot: Any) -> None:
        app.controller.cancel()  # as Esc on a reply that just ended does
        await type_and_send(pilot, "/sentiment I love this.")
        await wait_idle(pilot)
        assert len(app.chat_screen.log_view.query(ToolMessage)) == 1

    run_pilot(app, scenario)



def test_ctrl_q_keeps_the_unsent_message_for_the_next_chat_c() -> None:
    """Ctrl+Q with a message typed and not sent lost it. It is kept with its conversation and comes back
    into the message box when that conversation is opened again (`chat -c`); a new chat does not get it."""
    draft = "half a thought, \u00e9t\u00e9 \u4e16\u754c\nsecond line"
    first = make_app()

    async def write_and_quit(pilot: Any) -> None:
        await type_and_send(pilot, "Hello there")
        await wait_idle(pilot)
        first.chat_screen.prompt_input.load_text(draft)
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: not first.is_running, what="the app to quit")

    run_pilot(first, write_and_quit)

    fresh = make_app()

    async def new_chat(pilot: Any) -> None:
        assert fresh.chat_screen.prompt_input.text == ""  # that draft is the conversation's

    run_pilot(fresh, new_chat)

    resumed = make_app(continue_latest=True)

    async def reopened(pilot: Any) -> None:
        assert resumed.chat_screen.prompt_input.text == draft
        await type_and_send(pilot, resumed.chat_screen.prompt_input.text)
        await wait_idle(pilot)

    run_pilot(resumed, reopened)

    again = make_app(continue_latest=True)

    async def sent_since(pilot: Any) -> None:
        assert again.chat_screen.prompt_input.text == ""  # taken once: sent, it does not come back

    run_pilot(again, sent_since)


def test_ctrl_q_with_history_off_asks_before_losing_the_unsent_message() -> None:
    """With --no-log nothing typed is written to disk, so the draft cannot be kept: Ctrl+Q asks first."""
    from assistant.tui.screens.dialogs import Confirm

    app = make_app(history=False)

    async def scenario(pilot: Any) -> None:
        app.chat_screen.prompt_input.load_text("not sent yet")
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: isinstance(app.screen, Confirm), what="the question")
        await pilot.press("n")
        assert app.is_running and app.chat_screen.prompt_input.text == "not sent yet"
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: isinstance(app.screen, Confirm), what="the question")
        await pilot.press("y")
        await wait_until(pilot, lambda: not app.is_running, what="the app to quit")

    run_pilot(app, scenario)


def test_reopening_a_conversation_of_the_model_loaded_by_path_loads_nothing() -> None:
    """`assistant chat -m ~/models/x.gguf`: the replies store the engine's name for it, ``x.gguf``.
    Opening such a conversation from the sidebar (Ctrl+N, then the conversation) took ``x.gguf`` for
    another model, tried to load it from the models directory, and said "Could not load x.gguf: model
    file not found" over the model that was loaded and had written it."""
    from pathlib import PurePath

    from assistant.backends.fake import FakeBackend
    from assistant.errors import ModelLoadError

    from .tui_support import register_fake

    loads: list[str] = []

    class PathNamedFake(FakeBackend):
        def load(self, model: str, **options: Any) -> None:
            if not model.startswith("/"):  # the models directory has no such file
                raise ModelLoadError(model, "model file not found")
            super().load(model, **options)
            loads.append(model)
            self._model_name = PurePath(model).name  # as llama-cpp names a model given by path

    app = make_app(model="/somewhere/models/pathmodel.gguf")
    register_fake(lambda: PathNamedFake(reply="Hi."))

    async def scenario(pilot: Any) -> None:
        screen = app.chat_screen
        await type_and_send(pilot, "Hello there")
        await wait_idle(pilot)
        conversation_id = app.controller.conversation_id
        await screen.action_new_conversation()
        await screen.open_conversation(conversation_id)
        await pilot.pause()
        assert not screen.model_loading and screen.engine_choice is None
        assert loads == ["/somewhere/models/pathmodel.gguf"]
        assert not [n for n in app._notifications if n.severity == "error"]

    run_pilot(app, scenario)


def test_sentiment_bars_fit_beside_the_sidebar_on_an_80_column_terminal() -> None:
    """At 80 columns the sidebar is shown, and `/sentiment`'s 30-cell bars wrapped: the label on one row,
    its bar on the next, the chosen label's ◀ alone on a third. The bars narrow to the room there is."""
    from rich.cells import cell_len

    from assistant.tui.widgets.chat_log import ToolMessage
    from assistant.tui.widgets.tool_results import SentimentView

    from .tui_support import screen_lines

    app = make_app()

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "/sentiment I loved this film, it was wonderful.")
        await wait_idle(pilot)
        view = app.chat_screen.log_view.query(ToolMessage).last().query_one(SentimentView)
        await pilot.pause()
        lines = str(view.render()).split("\n")
        assert all(cell_len(line) <= view.content_size.width for line in lines)
        assert view.size.height == len(lines)  # no line wrapped
        chosen = [line for line in screen_lines(app) if "◀" in line]
        assert len(chosen) == 1 and "%" in chosen[0] and "█" in chosen[0]

    run_pilot(app, scenario, size=(80, 24))


def test_a_chain_of_thought_cut_at_max_tokens_says_so_beside_no_answer() -> None:
    """A chain-of-thought reply cut at max tokens before its "Answer:" line was headed only
    "[no answer: …]", live and reopened: nothing said that raising max tokens would let it finish."""
    from assistant.tui.reply_status import STOPPED_AT_MAX_TOKENS
    from assistant.tui.widgets.chat_log import AssistantMessage

    app = make_app(reply="Let us think step by step. " * 40)

    async def scenario(pilot: Any) -> None:
        app.switch_template("chain-of-thought")
        app.controller.settings.params = app.controller.settings.params.replace(max_tokens=40)
        await type_and_send(pilot, "What is 2 + 2?")
        await wait_idle(pilot)
        reply = app.chat_screen.log_view.query(AssistantMessage).last()
        assert reply.status.startswith(STOPPED_AT_MAX_TOKENS + "; no answer")
        assert _reopened_reply_status(app) == reply.status

    run_pilot(app, scenario)

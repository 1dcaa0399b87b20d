"""The chat app as a demanding user found it (round 7): each test failed before its fix."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("textual")

from assistant.types import GenerationParams  # noqa: E402

from .tui_support import make_app, run_pilot, screen_text, type_and_send, wait_idle  # noqa: E402


def test_a_stored_reply_of_a_conversation_past_the_window_is_scored_after_the_prompt_it_had() -> None:
    """A conversation longer than the window: its replies were written with the oldest turns left
    out, but reopened (`-c`, the sidebar) the token and attention views rebuilt the prompt whole.
    The sampling panel's exact numbers then disagreed with the recorded ones on the same step
    (SmolLM2, n_ctx 512: `␣can` 0.336 recorded, 0.285 "exact"), and `-c` forgets `-o n_ctx`, so
    the whole rebuild even fitted the bigger window and nothing said it was another prompt."""
    from assistant.tui.widgets.chat_log import ChatLog

    app = make_app(reply="a reply of some forty bytes, or about.", context_length=400,
                   params=GenerationParams(max_tokens=60))

    async def scenario(pilot: Any) -> None:
        controller = app.controller
        for n in range(6):
            await type_and_send(pilot, f"message number {n}, long enough to fill the window soon")
            await wait_idle(pilot)
        assert controller.last_fit is not None and controller.last_fit.dropped > 0  # the window was outgrown
        live = app.chat_screen.query_one(ChatLog).last_assistant()
        assert live.reply_tokens is not None and live.message_id is not None
        controller._written_here.clear()  # as reopened after a restart: only the history knows the reply
        stored = controller.stored_reply_tokens(live.message_id)
        assert stored is not None
        assert stored.prompt == live.reply_tokens.prompt
        # A bigger window now (-c does not remember -o n_ctx): still the prompt the reply had.
        controller.backend._context_length = 4000
        assert controller.stored_reply_tokens(live.message_id).prompt == live.reply_tokens.prompt
        # A window now too small for even that prompt: the view still opens (computing says why).
        controller.backend._context_length = 100
        assert controller.stored_reply_tokens(live.message_id) is not None

    run_pilot(app, scenario)


def test_a_reply_on_this_windows_branch_is_found_when_another_window_moved_the_stored_head() -> None:
    """Two windows on one conversation: the other one went back to an older version of the last
    reply (moving the stored head). `t` / `a` on a reply reopened from the history here looked it
    up on the stored head's branch, not on the branch this window shows, and said "The tokens of
    this reply are not known" (or rebuilt another branch's prompt)."""
    from assistant.tui.widgets.chat_log import ChatLog

    replies = iter(["first answer", "second answer"])
    app = make_app(reply=lambda prompt: next(replies))

    async def scenario(pilot: Any) -> None:
        controller = app.controller
        await type_and_send(pilot, "question")
        await wait_idle(pilot)
        await pilot.press("ctrl+r")
        await wait_idle(pilot)
        shown = app.chat_screen.query_one(ChatLog).last_assistant()
        assert shown.text == "second answer" and shown.message_id is not None
        store, conversation_id = controller.library.store, controller.conversation_id
        older = store.messages(conversation_id, "all")[1]
        assert older.content == "first answer"
        store.activate(conversation_id, older.id)  # what the other window's ← did
        controller._written_here.clear()  # a reply drawn from the history (reopened, say)
        stored = controller.stored_reply_tokens(shown.message_id)
        assert stored is not None and stored.text == "second answer"

    run_pilot(app, scenario)


def test_turns_folded_under_a_long_message_that_failed_come_back_when_it_leaves() -> None:
    """A 60 kB paste over the context window: while its prompt was counted the long message pushed
    the exchange before it a screen away, so it was folded out of the layout; the message failed
    and left the log, and that exchange, now the last two turns (never refolded), stayed on screen
    as empty bars until a resize."""
    import threading

    from assistant.tui.widgets.chat_log import ChatLog
    from assistant.tui.widgets.turn_folding import FOLDED

    from .tui_support import StableFakeBackend, register_fake, screen_text, wait_until

    counting = threading.Event()
    release = threading.Event()

    class SlowCounter(StableFakeBackend):
        def count_tokens(self, prompt: Any) -> int:
            count = super().count_tokens(prompt)
            if count > self.context_length:  # the long message: the engine takes its time
                counting.set()
                release.wait(20)
            return count

    app = make_app(reply="short answer", context_length=2000)
    register_fake(lambda: SlowCounter(reply="short answer", context_length=2000))

    async def scenario(pilot: Any) -> None:
        for n in range(3):
            await type_and_send(pilot, f"question {n}")
            await wait_idle(pilot)
        log = app.chat_screen.query_one(ChatLog)
        await type_and_send(pilot, "word\n" * 3000)
        await wait_until(pilot, counting.is_set, what="the long prompt being counted")
        await wait_until(
            pilot, lambda: log.turns()[-4].has_class(FOLDED), what="the exchange before it folded"
        )
        release.set()
        await wait_idle(pilot)
        await wait_until(pilot, lambda: len(log.turns()) == 6, what="the failed message leaving the log")
        await pilot.pause(0.1)
        assert not [turn for turn in log.turns()[-2:] if turn.has_class(FOLDED)]
        assert "question 2" in screen_text(app)

    run_pilot(app, scenario)


def test_a_stored_reply_scored_from_its_text_does_not_claim_to_be_the_models_own_tokens() -> None:
    """A stored reply whose token ids were not kept is scored after its text is tokenized again;
    SmolLM2 had written `שלום` a byte at a time, the text tokenizes as whole letters, and the view
    said "numbers computed by teacher-forced scoring of the same tokens" over a first token the
    model never chose (shaded 0.3%, where its own pick had 39%)."""
    from assistant.tui.screens.token_view import TokenViewScreen
    from assistant.tui.widgets.chat_log import AssistantMessage

    from .tui_support import wait_until

    first = make_app()

    async def record(pilot: Any) -> None:
        await type_and_send(pilot, "a question")
        await wait_idle(pilot)
        reply = app_reply(pilot)
        reply.focus()
        await pilot.pause()
        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, TokenViewScreen), what="the token view")
        screen = pilot.app.screen
        await wait_until(pilot, lambda: bool(screen.state.tokens), what="the computation")
        assert screen.state.reply.origin == "computed by teacher-forced scoring of the same tokens"

    def app_reply(pilot: Any) -> AssistantMessage:
        reply = pilot.app.chat_screen.log_view.last_assistant()
        assert isinstance(reply, AssistantMessage)
        return reply

    run_pilot(first, record)
    # The history keeps a reply's ids since round 8 (the reopened view then scores the same tokens);
    # a reply stored before that has none, as here.
    import sqlite3

    from assistant.history.db import default_db_path

    with sqlite3.connect(default_db_path()) as db:
        db.execute("UPDATE messages SET token_ids = NULL")
    again = make_app(continue_latest=True)

    async def reopen(pilot: Any) -> None:
        app_reply(pilot).focus()
        await pilot.pause()
        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, TokenViewScreen), what="the token view")
        screen = pilot.app.screen
        await wait_until(pilot, lambda: bool(screen.state.tokens), what="the computation")
        origin = screen.state.reply.origin
        assert "same tokens" not in origin and "tokenized again" in origin
        assert "tokenized again" in screen_text(again)

    run_pilot(again, reopen)


def test_r_on_a_focused_reply_leaves_the_focus_on_the_new_version() -> None:
    """`r` on a focused reply: the old widget left the log and the focus fell to the user message
    above, so the reply's own keys (`r` again for a third version, ←/→, `t`, `a`) did nothing
    and `e` started editing the question instead."""
    from assistant.tui.widgets.chat_log import AssistantMessage, ChatLog

    replies = iter(["first answer", "second answer", "third answer"])
    app = make_app(reply=lambda prompt: next(replies))

    async def scenario(pilot: Any) -> None:
        log = app.chat_screen.query_one(ChatLog)
        await type_and_send(pilot, "question")
        await wait_idle(pilot)
        log.last_assistant().focus()
        await pilot.pause()
        await pilot.press("r")
        await wait_idle(pilot)
        focused = app.focused
        assert isinstance(focused, AssistantMessage) and focused.text == "second answer"
        await pilot.press("r")  # the same key again: a third version
        await wait_idle(pilot)
        assert log.last_assistant().text == "third answer"

    run_pilot(app, scenario)


BRACKETED = "tiny[/b]-[Q4_K_M].gguf"
"""A model name Textual would read as markup: ``[Q4_K_M]`` a style, ``[/b]`` a closing tag with
nothing open (MarkupError: the app closed)."""


@pytest.mark.parametrize("key", ["t", "a", "f2"])
def test_a_model_name_with_brackets_is_shown_as_it_is_not_read_as_markup(key: str) -> None:
    """`-m "./tiny[/b]-[Q4_K_M].gguf"`: `t` (the token view's border title), `a` (the attention
    view's) and F2 (the model list) passed the name to Textual as a string, which it reads as
    markup: `[Q4_K_M]` vanished, and `[/b]` raised MarkupError, closing the app."""
    from textual.screen import ModalScreen

    from .tui_support import screen_text, wait_until

    app = make_app(model=BRACKETED)

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "hi")
        await wait_idle(pilot)
        reply = app.chat_screen.log_view.last_assistant()
        reply.focus()
        await pilot.pause()
        await pilot.press(key)
        await wait_until(pilot, lambda: isinstance(app.screen, ModalScreen), what="the view")
        await pilot.pause(0.3)
        assert BRACKETED in screen_text(app)

    run_pilot(app, scenario)


def test_the_command_palette_shows_bracketed_names_as_they_are() -> None:
    """The palette's "Model: …" / "Template: …" / "Backend: …" entries are Textual markup: a local
    file `llama[Q4_K_M].gguf` was listed as `llama.gguf`, and one with `[/b]` closed the app as
    the palette opened."""
    from assistant.tui.pickers import SettingsOptions

    from .tui_support import screen_text, wait_until

    app = make_app()

    async def scenario(pilot: Any) -> None:
        app.controller.settings_options = lambda: SettingsOptions(
            models=[(f"{BRACKETED} (base)", BRACKETED)],
            backends=[("odd — a plugin's [bold]description[/bold]", "odd")],
            templates=[("mine[x] [chat]", "mine[x]")],
        )
        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        shown = {
            "Model": [f"Model: {BRACKETED}", f"{BRACKETED} (base)"],
            "Backend": ["Backend: odd", "[bold]description[/bold]"],
            "Template": ["Template: mine[x] [chat]"],
        }
        for query, expected in shown.items():
            await pilot.press(*query)
            await wait_until(pilot, lambda: query + ":" in screen_text(app), what=f"the {query} entries")
            await pilot.pause(0.3)
            text = screen_text(app)
            assert all(line in text for line in expected), text
            for _ in query:
                await pilot.press("backspace")

    run_pilot(app, scenario)


def test_a_reply_written_here_keeps_its_own_tokens_when_drawn_again_from_the_history() -> None:
    """Switching a turn to another version and back draws its replies again from the history, which
    keeps token ids only with numbers: the token view of a reply written minutes before in the same
    window then scored its text tokenized again, not the tokens the model wrote."""
    from assistant.tui.widgets.chat_log import ChatLog

    replies = iter(["first answer", "second answer"])
    app = make_app(reply=lambda prompt: next(replies))

    async def scenario(pilot: Any) -> None:
        log = app.chat_screen.query_one(ChatLog)
        await type_and_send(pilot, "question")
        await wait_idle(pilot)
        written = log.last_assistant().reply_tokens
        assert written is not None and written.token_ids
        await pilot.press("ctrl+r")
        await wait_idle(pilot)
        log.last_assistant().focus()
        await pilot.pause()
        await pilot.press("left")  # back to the first version: drawn from the history
        await pilot.pause()
        again = log.last_assistant()
        assert again.text == "first answer" and again.reply_tokens is None
        tokens = app.controller.stored_reply_tokens(again.message_id)
        assert tokens is not None and tokens.token_ids == written.token_ids
        assert tokens.prompt == written.prompt

    run_pilot(app, scenario)

"""The chat app and the history: recording, the sidebar (search, open, rename, delete), resuming."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("textual")

from assistant.history import HistoryStore  # noqa: E402
from assistant.tui.screens.dialogs import AskText, Confirm  # noqa: E402
from assistant.tui.widgets.chat_log import AssistantMessage, ChatLog, UserMessage  # noqa: E402
from assistant.tui.widgets.sidebar import ConversationList, Sidebar  # noqa: E402
from assistant.tui.widgets.status_bar import StatusBar  # noqa: E402

from .tui_support import make_app, run_pilot, screen_text, type_and_send, wait_idle, wait_until  # noqa: E402


def sidebar_titles(app: Any) -> list[str]:
    listing = app.chat_screen.query_one(ConversationList)
    return [
        str(listing.get_option_at_index(i).prompt).split("\n")[0][2:] for i in range(listing.option_count)
    ]


def seed_history(*conversations: list[tuple[str, str]]) -> list[int]:
    """Store conversations of (user, reply) turns directly; returns their ids, oldest first."""
    from assistant.types import Completion, Timings, Usage

    ids = []
    with HistoryStore.open() as store:
        for turns in conversations:
            conversation = store.create_conversation(system="You are a helpful assistant.")
            for user, reply in turns:
                completion = Completion(reply, "fake-model", "fake", "stop", Usage(10, 5), Timings())
                store.record_turn(conversation.id, user, completion)
            ids.append(conversation.id)
    return ids


def test_turns_are_recorded_and_listed() -> None:
    app = make_app(reply="Paris.")

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "Capital of France?")
        await wait_idle(pilot)
        conversation_id = app.controller.conversation_id
        assert conversation_id is not None
        stored = app.controller.library.store.messages(conversation_id)
        assert [(m.role, m.content, m.status) for m in stored] == [
            ("user", "Capital of France?", "complete"),
            ("assistant", "Paris.", "complete"),
        ]
        assert sidebar_titles(app) == ["Capital of France?"]
        assert "▶ Capital of France?" in screen_text(app)

    run_pilot(app, scenario)


def test_interrupted_reply_is_stored_as_interrupted() -> None:
    app = make_app(reply="z" * 400, token_delay=0.01, stable=False)

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "long")
        await wait_until(pilot, lambda: app.chat_screen.buffer.pieces_in > 3)
        await pilot.press("escape")
        await wait_idle(pilot)
        shown = app.chat_screen.query_one(ChatLog).last_assistant().text
        stored = app.controller.library.store.messages(app.controller.conversation_id)
        assert stored[-1].status == "interrupted"
        assert stored[-1].content == shown and 0 < len(shown) < 400

    run_pilot(app, scenario)


def test_a_reply_stopped_at_max_tokens_reopens_saying_so() -> None:
    from assistant.types import GenerationParams

    app = make_app(reply="a reply longer than the budget", params=GenerationParams(max_tokens=4))

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "go")
        await wait_idle(pilot)
        live = app.chat_screen.query_one(ChatLog).last_assistant()
        assert live.status == "stopped at max tokens"
        conversation_id = app.controller.conversation_id
        stored = app.controller.library.store.messages(conversation_id)[-1]
        assert (stored.status, stored.finish_reason) == ("complete", "length")
        await app.chat_screen.action_new_conversation()
        log = await open_stored(app, pilot, conversation_id)
        reopened = log.last_assistant()
        assert reopened.text == "a re" and reopened.status == "stopped at max tokens"

    run_pilot(app, scenario)


def test_sidebar_search_and_open_resumes_conversation() -> None:
    old, other = seed_history(
        [("Tell me about zebras", "Zebras have stripes."), ("And lions?", "Lions roar.")],
        [("Best pasta shape?", "Rigatoni.")],
    )
    app = make_app()

    async def scenario(pilot: Any) -> None:
        screen = app.chat_screen
        assert sidebar_titles(app) == ["Best pasta shape?", "Tell me about zebras"]
        await pilot.press("ctrl+f")
        assert screen.query_one(Sidebar).search_box.has_focus
        await pilot.press(*"stripes")
        await wait_until(
            pilot, lambda: sidebar_titles(app) == ["Tell me about zebras"], what="search results"
        )
        await pilot.press("enter")  # to the list
        assert screen.query_one(ConversationList).has_focus
        await pilot.press("enter")  # open
        await wait_until(pilot, lambda: app.controller.conversation_id == old)
        log = screen.query_one(ChatLog)
        assert [type(m) for m in log.turns()] == [UserMessage, AssistantMessage] * 2
        assert "Lions roar." in screen_text(app)
        assert [m.content for m in app.controller.messages] == [
            "Tell me about zebras",
            "Zebras have stripes.",
            "And lions?",
            "Lions roar.",
        ]
        # The next turn continues it: the model sees the earlier turns, the store gets the new one.
        await type_and_send(pilot, "And giraffes?")
        await wait_idle(pilot)
        prompt = app.controller.backend.calls[-1]["prompt"]
        assert "Zebras have stripes." in prompt and "And giraffes?" in prompt
        assert len(app.controller.library.store.messages(old)) == 6
        assert len(app.controller.library.store.messages(other)) == 2

    run_pilot(app, scenario)


def long_turns(count: int) -> list[tuple[str, str]]:
    """(question, ~1500-character answer) turns: a few of them fill the screen."""
    return [(f"question {i}", f"answer {i}: " + "a long reply " * 120) for i in range(count)]


async def open_stored(app: Any, pilot: Any, conversation_id: int) -> ChatLog:
    """Open a stored conversation from the chat screen; its chat log once drawn."""
    await app.chat_screen.open_conversation(conversation_id)
    await pilot.pause()
    return app.chat_screen.query_one(ChatLog)


def test_a_long_conversation_opens_at_its_end_and_draws_earlier_turns_as_you_scroll_up() -> None:
    from assistant.tui.widgets.chat_log import EarlierMessages

    turns = long_turns(25)
    (conversation_id,) = seed_history(turns)
    stored = [text for turn in turns for text in turn]
    app = make_app()

    async def scenario(pilot: Any) -> None:
        log = await open_stored(app, pilot, conversation_id)
        drawn = log.turns()
        assert 2 <= len(drawn) < 10 and log.earlier_count == len(stored) - len(drawn)
        assert [m.text for m in drawn] == stored[-len(drawn) :]  # the end, in order
        assert log.max_scroll_y > 0 and log.scroll_y == log.max_scroll_y  # at the bottom
        assert len(app.controller.messages) == len(stored)  # the model still gets the whole conversation
        steps = 0
        while log.earlier_count:
            first = log.turns()[0]
            at_the_top = first.virtual_region.y  # where it shows once scrolled to the top
            count = len(log.turns())
            log.scroll_home(animate=False)  # reaching the top draws the next batch above
            await wait_until(pilot, lambda: len(log.turns()) > count, what="earlier turns")
            await pilot.pause()
            await pilot.pause()
            assert first.virtual_region.y > at_the_top  # the batch went above it...
            assert first.virtual_region.y - log.scroll_y == at_the_top  # ...and the view did not jump
            steps += 1
        assert steps >= 3
        assert [m.text for m in log.turns()] == stored
        assert not log.query(EarlierMessages)

    run_pilot(app, scenario)


def test_page_up_in_the_message_box_scrolls_the_conversation_up_to_its_earlier_turns() -> None:
    from assistant.tui.widgets.prompt_input import PromptInput

    turns = long_turns(8)
    (conversation_id,) = seed_history(turns)
    app = make_app()

    async def scenario(pilot: Any) -> None:
        screen = app.chat_screen
        log = await open_stored(app, pilot, conversation_id)
        earlier = log.earlier_count
        assert earlier and screen.query_one(PromptInput).has_focus
        bottom = log.scroll_y
        await pilot.press("pageup")
        await pilot.pause()
        assert log.scroll_y < bottom  # the conversation moved, not the cursor
        for _ in range(20):
            if log.earlier_count < earlier:
                break
            await pilot.press("pageup")
            await pilot.pause()
        assert log.earlier_count < earlier
        await pilot.press("pagedown")
        await pilot.pause()
        assert screen.query_one(PromptInput).has_focus

    run_pilot(app, scenario)


def test_earlier_turns_of_a_conversation_that_fits_on_screen_come_with_a_click(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from assistant.tui.widgets import chat_log
    from assistant.tui.widgets.chat_log import EarlierMessages

    monkeypatch.setattr(chat_log, "EARLIER_BATCH_MESSAGES", 2)
    (conversation_id,) = seed_history([("one?", "1"), ("two?", "2"), ("three?", "3")])
    app = make_app()

    async def scenario(pilot: Any) -> None:
        log = await open_stored(app, pilot, conversation_id)
        assert [m.text for m in log.turns()] == ["three?", "3"]
        assert "↑ 4 earlier messages: scroll up or click to show them" in screen_text(app)
        await pilot.click(EarlierMessages)
        await wait_until(pilot, lambda: log.earlier_count == 2, what="two more turns")
        await pilot.pause()
        assert [m.text for m in log.turns()] == ["two?", "2", "three?", "3"]
        assert "↑ 2 earlier messages" in screen_text(app)
        await pilot.click(EarlierMessages)
        await wait_until(pilot, lambda: log.earlier_count == 0, what="the first turn")
        await pilot.pause()
        assert [m.text for m in log.turns()] == ["one?", "1", "two?", "2", "three?", "3"]
        assert "earlier message" not in screen_text(app)

    run_pilot(app, scenario)


def test_search_with_awkward_text_does_not_fail() -> None:
    seed_history([('it\'s "quoted" AND (odd', "fine")])
    app = make_app()

    async def scenario(pilot: Any) -> None:
        box = app.chat_screen.query_one(Sidebar).search_box
        for query in ['"unbalanced', "it's", "AND", "(", "*"]:
            box.value = query
            app.chat_screen.refresh_sidebar()
            await pilot.pause()
        assert not [n for n in app._notifications if n.severity == "error"]

    run_pilot(app, scenario)


def test_rename_and_delete_from_the_sidebar() -> None:
    first, second = seed_history([("first question", "a")], [("second question", "b")])
    app = make_app()

    async def scenario(pilot: Any) -> None:
        screen = app.chat_screen
        listing = screen.query_one(ConversationList)
        listing.focus()
        listing.highlighted = 0  # "second question" (newest first)
        await pilot.press("r")
        assert isinstance(app.screen, AskText)
        app.screen.query_one("Input").value = "Renamed [bold]title[/]"
        await pilot.press("enter")
        await pilot.pause()
        assert app.controller.library.store.get_conversation(second).title == "Renamed [bold]title[/]"
        assert "Renamed [bold]title[/]" in sidebar_titles(app)
        # Delete asks first; "n" keeps it.
        listing.focus()
        listing.highlighted = sidebar_titles(app).index("first question")
        await pilot.press("delete")
        assert isinstance(app.screen, Confirm)
        # The question names the row Delete acts on (the highlighted one, not necessarily the open one).
        assert "Delete “first question” and all its messages?" in screen_text(app)
        await pilot.press("n")
        assert len(sidebar_titles(app)) == 2
        await pilot.press("delete")
        await pilot.press("y")
        await pilot.pause()
        assert sidebar_titles(app) == ["Renamed [bold]title[/]"]
        assert [c.id for c in app.controller.library.store.list_conversations()] == [second]
        assert first not in app.controller.library.store.conversation_ids()

    run_pilot(app, scenario)


def test_from_the_search_box_down_moves_to_the_results_where_r_renames() -> None:
    seed_history([("about dragons", "a")], [("about knights", "b")])
    app = make_app()

    async def scenario(pilot: Any) -> None:
        await pilot.press("ctrl+f")
        search = app.chat_screen.query_one(Sidebar).search_box
        assert app.focused is search
        await pilot.press(*"knights", "down")  # before the search has run: it runs now
        assert isinstance(app.focused, ConversationList)
        assert sidebar_titles(app) == ["about knights"]
        await pilot.press("r")  # renames the hit: not typed into the search
        assert isinstance(app.screen, AskText)
        assert search.value == "knights"

    run_pilot(app, scenario)


def test_deleting_the_open_conversation_starts_a_new_one() -> None:
    (conversation,) = seed_history([("hello", "hi")])
    app = make_app()

    async def scenario(pilot: Any) -> None:
        await app.chat_screen.open_conversation(conversation)
        assert app.controller.messages
        app.chat_screen.delete_conversation(conversation)
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert app.controller.messages == [] and app.controller.conversation_id is None
        assert not app.chat_screen.query_one(ChatLog).turns()

    run_pilot(app, scenario)


def test_resume_trims_to_the_context_window() -> None:
    turns = [(f"question {i} " + "x" * 150, f"answer {i} " + "y" * 150) for i in range(12)]
    (conversation,) = seed_history(turns)
    app = make_app(context_length=1024, continue_latest=True)

    async def scenario(pilot: Any) -> None:
        assert app.controller.conversation_id == conversation
        # Everything is on screen ...
        assert len(app.chat_screen.query_one(ChatLog).turns()) == 24
        # ... and the status line says how much the model gets.
        status = app.chat_screen.query_one(StatusBar).info
        assert status.dropped > 0 and status.context_used <= 1024
        assert "older msgs left out" in screen_text(app)
        await type_and_send(pilot, "latest question")
        await wait_idle(pilot)
        prompt = app.controller.backend.calls[-1]["prompt"]
        assert "latest question" in prompt and "answer 11" in prompt and "question 0 " not in prompt
        assert len(app.controller.backend.tokenize_text(prompt)) <= 1024

    run_pilot(app, scenario)


def test_no_log_records_nothing() -> None:
    app = make_app(history=False)

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "secret")
        await wait_idle(pilot)
        assert app.controller.conversation_id is None
        assert "History is off" in screen_text(app)

    run_pilot(app, scenario)
    with HistoryStore.open() as store:
        assert store.list_conversations() == []


def test_up_reaches_messages_of_earlier_runs_and_esc_leaves_the_search() -> None:
    seed_history([("from an earlier run", "ok")])
    app = make_app(reply="fine")

    async def scenario(pilot: Any) -> None:
        from assistant.tui.widgets.prompt_input import PromptInput

        box = app.chat_screen.query_one(PromptInput)
        await wait_until(pilot, lambda: box.has_focus)
        await pilot.press("up")
        assert box.text == "from an earlier run"
        box.clear()
        await pilot.press("ctrl+f")
        assert app.chat_screen.query_one(Sidebar).search_box.has_focus
        await pilot.press("escape")
        assert box.has_focus

    run_pilot(app, scenario)


def test_ctrl_n_clears_the_old_chats_figures_and_keeps_the_draft_in_the_input_history() -> None:
    app = make_app(reply="A reply.")

    async def scenario(pilot: Any) -> None:
        from assistant.tui.widgets.prompt_input import PromptInput

        await type_and_send(pilot, "first chat")
        await wait_idle(pilot)
        status = app.chat_screen.query_one(StatusBar)
        assert status.info.tokens_per_second is not None
        await wait_until(pilot, lambda: not app.chat_screen.status_pending)
        old_chat = status.info.context_used
        box = app.chat_screen.query_one(PromptInput)
        box.load_text("half-written thought")
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert box.text == "" and status.info.tokens_per_second is None
        await wait_until(pilot, lambda: not app.chat_screen.status_pending)
        assert status.info.context_used is not None and status.info.context_used < old_chat - 15
        await pilot.press("up")
        assert box.text == "half-written thought"

    run_pilot(app, scenario)


def test_the_sidebar_folds_away_on_a_narrow_terminal_and_comes_back_when_wide() -> None:
    app = make_app()

    async def scenario(pilot: Any) -> None:
        sidebar = app.chat_screen.query_one(Sidebar)
        assert sidebar.has_class("-hidden")  # 60 columns: the conversation keeps its room
        await pilot.resize_terminal(120, 30)
        await pilot.pause()
        assert not sidebar.has_class("-hidden")
        await pilot.press("ctrl+b")  # the user's choice holds over later resizes
        await pilot.resize_terminal(60, 30)
        await pilot.resize_terminal(130, 30)
        await pilot.pause()
        assert sidebar.has_class("-hidden")

    run_pilot(app, scenario, size=(60, 30))


def test_a_stored_reply_that_failed_before_any_text_reopens_saying_why() -> None:
    """Such a turn (an engine that stopped, or one stored by an older version) shows its error, not a bare [error]."""
    from assistant.types import Completion, Timings, Usage

    with HistoryStore.open() as store:
        conversation = store.create_conversation(system="You are a helpful assistant.")
        completion = Completion("Hi!", "fake-model", "fake", "stop", Usage(10, 5), Timings())
        store.record_turn(conversation.id, "Hello", completion)
        from assistant.history.records import TurnMeta

        turn = store.start_turn(conversation.id, "z" * 300, TurnMeta(model="fake-model", backend="fake"))
        store.fail_turn(turn, "", status="error", error="prompt is 12097 tokens but the context window is 8192 tokens")
    app = make_app(continue_latest=True)

    async def scenario(pilot: Any) -> None:
        replies = list(app.chat_screen.query(AssistantMessage))
        assert replies[-1].status.startswith("error: prompt is 12097 tokens")
        assert "[error: prompt is 12097 tokens" in screen_text(app)
        assert replies[-1].has_class("error")

    run_pilot(app, scenario, size=(120, 30))

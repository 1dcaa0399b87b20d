"""Issue #20, item 1 (chat app): a bracketed paste holding escape sequences arrives whole, visible, never sent."""

from __future__ import annotations

import time
from typing import Any

import pytest

pytest.importorskip("textual")

from textual import events  # noqa: E402

from assistant.tui.paste_parser import PasteSafeLinuxDriver, PasteSafeParser  # noqa: E402
from assistant.tui.widgets.prompt_input import PromptInput  # noqa: E402

from .tui_support import make_app, run_pilot, wait_until  # noqa: E402

# printf 'line1 \033[31mERR\033[0m\nline2\nline3' pasted with bracketed paste (the reproduction)
PASTED = "line1 \x1b[31mERR\x1b[0m\nline2\nline3"
WIRE = "\x1b[200~" + PASTED + "\x1b[201~"


def parse(*reads: str) -> list[Any]:
    parser = PasteSafeParser()
    out: list[Any] = []
    for data in reads:
        out += list(parser.feed(data))
    return out


def describe(tokens: list[Any]) -> list[tuple[str, str]]:
    return [("paste", t.text) if isinstance(t, events.Paste) else ("key", t.key) for t in tokens]


def test_a_paste_with_escape_sequences_is_one_paste_event() -> None:
    assert describe(parse(WIRE)) == [("paste", PASTED)]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7])
def test_reads_split_anywhere_give_the_same_paste(size: int) -> None:
    reads = [WIRE[i : i + size] for i in range(0, len(WIRE), size)]
    assert describe(parse(*reads)) == [("paste", PASTED)]


def test_keys_around_a_paste_keep_their_order() -> None:
    assert describe(parse("ab" + WIRE + "c")) == [("key", "a"), ("key", "b"), ("paste", PASTED), ("key", "c")]
    assert describe(parse(WIRE + WIRE)) == [("paste", PASTED), ("paste", PASTED)]


def test_a_lone_escape_key_is_still_delivered() -> None:
    parser = PasteSafeParser()
    tokens = list(parser.feed("\x1b"))
    deadline = time.monotonic() + 2
    while not tokens and time.monotonic() < deadline:
        time.sleep(0.05)
        tokens += list(parser.tick())
    assert describe(tokens) == [("key", "escape")]


def test_end_of_input_inside_a_paste_keeps_the_text() -> None:
    assert describe(parse("\x1b[200~half a paste\x1b[20", "")) == [("paste", "half a paste\x1b[20")]


def test_the_chat_app_reads_the_terminal_through_the_paste_safe_parser() -> None:
    from textual.drivers.linux_driver import LinuxDriver

    app = make_app()
    assert app.driver_class is PasteSafeLinuxDriver and issubclass(PasteSafeLinuxDriver, LinuxDriver)


def test_a_paste_lands_whole_in_the_message_box_and_is_not_sent() -> None:
    app = make_app()

    async def scenario(pilot: Any) -> None:
        box = app.chat_screen.query_one(PromptInput)
        box.focus()
        await pilot.press("a", "b", "space")
        box.post_message(events.Paste(PASTED + "\r\nline4"))
        await wait_until(pilot, lambda: "line4" in box.text, what="the paste")
        assert box.text == "ab line1 ␛[31mERR␛[0m\nline2\nline3\nline4"
        assert app.controller.messages == []  # nothing was sent
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(app.controller.messages) == 2, what="the reply")
        assert app.controller.messages[0].content == box.sent_history.entries[-1] == (
            "ab line1 ␛[31mERR␛[0m\nline2\nline3\nline4"
        )

    run_pilot(app, scenario)


def test_a_pasted_right_to_left_sentence_keeps_its_words_and_loses_its_invisible_marks() -> None:
    """Bidi marks copied with Hebrew text are dropped, not shown as ``\\u200f`` letters sent to the model."""
    app = make_app()

    async def scenario(pilot: Any) -> None:
        box = app.chat_screen.query_one(PromptInput)
        box.focus()
        box.post_message(events.Paste("\u200fשלום\u200f world \u202eevil"))
        await wait_until(pilot, lambda: "world" in box.text, what="the paste")
        assert box.text == "שלום world evil"

    run_pilot(app, scenario)

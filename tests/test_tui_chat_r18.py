"""The chat app as a demanding user found it (round 18): each test of a defect failed before its fix; the
others guard what the fix keeps (the CLI's ``[word]``, the text's own brackets, long messages)."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("textual")

from .tui_support import make_app, run_pilot, wait_until  # noqa: E402


def _sidebar_hit(query: str) -> Any:
    """The first search hit's row (a ``rich.text.Text``) after typing ``query`` into the sidebar's search."""
    from assistant.tui.widgets.sidebar import ConversationList

    app = make_app()
    found: dict[str, Any] = {}

    async def scenario(pilot: Any) -> None:
        listing = app.chat_screen.query_one(ConversationList)
        await pilot.press("ctrl+f")
        app.chat_screen.query_one("#search").value = query
        await wait_until(
            pilot,
            lambda: listing.option_count >= 1 and " msgs" not in str(listing.get_option_at_index(0).prompt),
            what="the search's hit",
        )
        found["prompt"] = listing.get_option_at_index(0).prompt

    run_pilot(app, scenario)
    return found["prompt"]


def _styled(prompt: Any) -> list[str]:
    from assistant.tui.widgets.sidebar import MATCH_STYLE

    return [prompt.plain[span.start : span.end] for span in prompt.spans if span.style == MATCH_STYLE]


# ---- known item 1: the sidebar's match marks, from the history's own offsets -------------------------
def test_a_match_followed_by_a_variation_selector_is_styled_whole_and_its_selector_stays_text() -> None:
    """``葛\\U000E0100`` (an ideograph and its ideographic variation selector) and ``[葛]\\U000E0100``: the
    selector was cut off its character by the match's style and shown as an escape (``\\U000e0100``). The
    row shows the text as :func:`visible_text` shows it whole (a selector after ``]`` is no text's)."""
    from assistant.terminal_text import visible_text

    from .test_tui_history import seed_history

    message = "葛\U000E0100 and [葛]\U000E0100"
    seed_history([(message, "noted")])
    prompt = _sidebar_hit("葛")
    detail = prompt.plain.split("\n")[1].strip()
    assert detail == visible_text(message) == "葛\U000E0100 and [葛]\\U000e0100", ascii(detail)
    assert _styled(prompt) == ["葛\U000E0100", "葛"], ascii(_styled(prompt))


def _library_rows(*messages: str, query: str) -> list[tuple[str, list[str]]]:
    """Each message stored in its own conversation; the sidebar's rows for ``query``: (detail, matches)."""
    from assistant.history import HistoryStore
    from assistant.tui.conversations import ConversationLibrary

    from .test_tui_history import seed_history

    seed_history(*[[(message, "noted")] for message in messages])
    library = ConversationLibrary(HistoryStore.open())
    try:
        rows = library.search(query)
    finally:
        library.close()
    return [(row.detail, [row.detail[a:b] for a, b in row.found]) for row in rows]


def test_a_keycap_s_selector_stays_with_its_digit_in_the_match() -> None:
    """VS16: ``1\\ufe0f\\u20e3`` (keycap one) found by ``1``: the tokenizer's match ends after the digit,
    the style cut the keycap in two."""
    [(detail, matches)] = _library_rows("press 1\ufe0f\u20e3 now", query="1")
    assert detail == "press 1\ufe0f\u20e3 now"
    assert matches == ["1\ufe0f\u20e3"]


@pytest.mark.parametrize(
    "message, query, matches",
    [
        # A decomposed accent ends the word before its "]": no mark was found, the brackets shown as text.
        ("cafe\u0301 [cafe\u0301] au lait", "cafe", ["cafe\u0301", "cafe\u0301"]),
        # A mark ending in combining marks took the text's next "]": "x́́] [y" was styled.
        ("x\u0301\u0301 [y] z", "x", ["x\u0301\u0301"]),
        # The text's own brackets around a match, and ones that are no match, stay the text's.
        ("a [note] on a [zebra] and Zebras x[i]", "zebra*", ["zebra", "Zebras"]),
        ("look zebra and [zebra] a[1]", '"and zebra"', ["and [zebra"]),
        ("葛\U000E0100 and [葛]\U000E0100", "葛", ["葛\U000E0100", "葛"]),
        # A message holding the characters the history marks with by default: others are taken.
        ("\ufdd0 zebra \ufdd1 [zebra] \ufdd0", "zebra", ["zebra", "zebra"]),
    ],
)
def test_sidebar_matches_are_where_the_history_matched_whatever_brackets_the_text_holds(
    message: str, query: str, matches: list[str]
) -> None:
    """The sidebar took the history's ``[word]`` marks back out of the snippet by guessing which brackets
    were marks; the history now says where it matched (marks no message holds)."""
    [(detail, found)] = _library_rows(message, query=query)
    assert detail == message
    assert found == matches


def test_history_search_still_prints_the_matches_in_brackets() -> None:
    """The CLI's form is FTS5's own ``[word]``, from the same marked snippet."""
    from assistant.history import HistoryStore

    from .test_tui_history import seed_history

    seed_history([("cafe\u0301 [cafe\u0301] au lait", "noted")], [("x " * 3000 + "[zebra] zebra", "long")])
    with HistoryStore.open() as store:
        assert [hit.snippet for hit in store.search("cafe")] == ["[cafe\u0301] [[cafe\u0301]] au lait"]
        [long] = store.search("zebra")
        assert long.snippet.endswith("x x x [[zebra]] [zebra]")


def test_a_snippet_over_several_lines_is_one_line_with_its_matches_on_the_same_words() -> None:
    """The sidebar's row is one line: runs of whitespace (lines, tabs) become one space, and the matches
    after them stay on their words."""
    [(detail, matches)] = _library_rows("first line\n\n  zebra\tstripes\r\n [zebra] ", query="zebra")
    assert detail == "first line zebra stripes [zebra]"
    assert matches == ["zebra", "zebra"]


# ---- found: a coloured query pasted into the sidebar's search found nothing ---------------------------
def test_a_query_pasted_with_escape_sequences_into_the_search_finds_its_words() -> None:
    """``\\x1b[31mzebra\\x1b[0m`` pasted into the search (a word copied out of a log with colours) was
    shown as ``␛[31mzebra␛[0m`` and searched for as such: "No conversation matches", where
    ``history search`` with the same text finds the message (a query is its words, as the index
    holds them). The search box gets the words; no ESC reaches the screen either way."""
    from textual import events

    from assistant.tui.widgets.sidebar import ConversationList

    from .test_tui_history import seed_history

    seed_history([("a zebra crossing", "noted")])
    app = make_app()
    found: dict[str, Any] = {}

    async def scenario(pilot: Any) -> None:
        listing = app.chat_screen.query_one(ConversationList)
        await pilot.press("ctrl+f")
        app.post_message(events.Paste("\x1b[31mzebra\x1b[0m"))
        await wait_until(
            pilot,
            lambda: listing.option_count >= 1 and " msgs" not in str(listing.get_option_at_index(0).prompt),
            what="the search's rows",
        )
        found["value"] = app.chat_screen.query_one("#search").value
        found["prompt"] = listing.get_option_at_index(0).prompt

    run_pilot(app, scenario)
    assert found["value"] == "zebra"
    assert found["prompt"].plain.split("\n")[1].strip() == "a zebra crossing"
    assert _styled(found["prompt"]) == ["zebra"]


def test_a_long_message_s_snippet_in_the_sidebar_marks_its_matches_too() -> None:
    """A message past the history's piece size gets its snippet a piece at a time: its matches are
    known there as well (here a match right after the text's own bracket)."""
    [(detail, matches)] = _library_rows("x " * 3000 + "a[zebra] [note] zebra", query="zebra")
    assert detail.endswith("x x a[zebra] [note] zebra")
    assert matches == ["zebra", "zebra"]


# ---- found: keys that came in one read were done out of order in the message box ---------------------
@pytest.mark.parametrize(
    "before, keys, after",
    [
        ("/help", [("ctrl+u", "\x15"), ("a", "a"), ("b", "b")], "ab"),  # the new text was deleted instead
        ("one two", [("ctrl+w", "\x17"), ("x", "x")], "one x"),
        ("abc", [("left", None), ("X", "X")], "abXc"),  # X went to the end, then the cursor moved
    ],
)
def test_keys_arriving_together_act_in_the_order_they_were_typed(
    before: str, keys: list[tuple[str, str | None]], after: str
) -> None:
    """A terminal read that holds a bound key and the text after it (a paste-fast typist, a laggy SSH
    link, a text expander, tmux ``send-keys``): the box's own bindings (Ctrl+U, Ctrl+W, ←) ran only once
    the key had bubbled up to the app, after the letters that followed it were already typed, so
    Ctrl+U and then ``ab`` left an empty box. They act in order now."""
    from textual import events

    app = make_app()
    found: dict[str, str] = {}

    async def scenario(pilot: Any) -> None:
        box = app.chat_screen.prompt_input
        box.focus()
        box.load_text(before)
        box.move_cursor(box.document.end)
        await pilot.pause()
        for key, character in keys:  # as the driver posts one read's keys: all at once
            app.post_message(events.Key(key, character))
        await wait_until(pilot, lambda: box.text != before, what="the keys")
        for _ in range(3):  # until every key (and one bubbling up to the app) has been handled
            await pilot.pause()
        found["text"] = box.text

    scenario.no_wait = True  # type: ignore[attr-defined]
    run_pilot(app, scenario)
    assert found["text"] == after

"""Round 10 user tests of ``ner`` (plugins/ner.py, assistant/tools/spans.py): each test fails without its fix.

1. ``assistant ner --types PERSON,DATE "Tuesday Weld starred in the film."`` gave DATE "Tuesday" (or,
   typed none, PERSON "Weld" alone): a weekday was always a date and always cut from the front of a
   name. The round-9 rule for month names ("April Ryan" is a name) now covers weekdays too: a
   weekday followed by a capitalised name word begins that name, unless a word before it says
   date ("On Tuesday Obama said", "Last Friday Mitchell won"), which for a weekday outweighs the name.
2. ``--types DATE,TIME`` typed times of day as DATE ("3pm", "10 a.m.") and ``--types TIME`` typed
   dates as TIME ("Friday", "March 2024"): the time pattern gave its spans the kind "date", so each
   was typed among every date type, and SmolLM2 (whose examples show only "date") picked "date"
   for times, or "time" for dates when that was the only choice. A time span now has the kind
   "time" and is typed only as a time (or none), a date span only as a date (or none).
3. With a date type asked for, a capitalised word that begins like a month, followed by a number,
   was one date: "Market 2024", "Augusta 2019", "Junior 2", "Janesville 3" (typed DATE, and the
   name in it lost): the month pattern took any letters after "Mar", "Aug", "Jun" or "Jan".
4. A text all in capitals had no weekday or month dates: "ON TUESDAY ... ON MARCH 5, 2024".
"""

from __future__ import annotations

from typing import Any, Sequence

import pytest

from assistant.backends.fake import FakeBackend
from assistant.tools import get_tool
from assistant.tools.spans import candidate_spans, date_spans, name_spans


def _found(text: str, dates: bool = True, times: bool = False) -> list[tuple[str, str]]:
    return [(s.text, s.kind) for s in candidate_spans(text, dates=dates, times=times)]


# ---- 1. a weekday that begins a name ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tuesday Weld starred in the film.", [("Tuesday Weld", "name")]),
        ("Critics loved Tuesday Weld in it.", [("Critics", "name"), ("Tuesday Weld", "name")]),
        ("On Tuesday March 5 we met.", [("Tuesday", "date"), ("March 5", "date")]),
        ("On Tuesday Obama met Merkel.", [("Tuesday", "date"), ("Obama", "name"), ("Merkel", "name")]),
        ("Last Friday Mitchell won the 100.", [("Friday", "date"), ("Mitchell", "name")]),
        ("Since Monday Smith has led.", [("Monday", "date"), ("Smith", "name")]),
        ("Tuesday was fine.", [("Tuesday", "date")]),
        ("See you on Friday.", [("See", "name"), ("Friday", "date")]),
        ("Friday President Obama spoke.", [("Friday", "date"), ("Obama", "name")]),  # a title is no name word
        ("Tuesday I left.", [("Tuesday", "date")]),
    ],
)
def test_a_weekday_followed_by_a_name_word_begins_a_name(text: str, expected: list[tuple[str, str]]) -> None:
    assert _found(text) == expected


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("Tuesday Weld starred in the film.", ["Tuesday Weld"]),
        ("On Tuesday Obama met Merkel.", ["Obama", "Merkel"]),
        ("Last Friday Mitchell won the 100.", ["Mitchell"]),
    ],
)
def test_names_alone_follow_the_same_rule(text: str, names: list[str]) -> None:
    """Without a date type (the CoNLL benchmark) the weekday is cut from a name's front by the same rule."""
    assert [s.text for s in name_spans(text)] == names
    assert [s.text for s in candidate_spans(text, dates=False)] == names


def test_weekdays_and_months_share_one_rule() -> None:
    """The same words after a month and after a weekday decide the same way."""
    for after in ("Ryan met us.", "President Obama spoke.", "I left.", "the rain came."):
        month, day = date_spans(f"April {after}"), date_spans(f"Tuesday {after}")
        assert bool(month) == bool(day), after


# ---- 2. a time is typed as a time, a date as a date --------------------------------------------------------
class PrefersOneWord(FakeBackend):
    """A fake backend that scores one answer word highest whenever it is offered (as SmolLM2 does " date"),
    else the first one offered, and records the answers offered for each span."""

    def __init__(self, word: str) -> None:
        super().__init__(context_length=2048)
        self.load("fake-model")
        self.word = word
        self.offered: dict[str, list[str]] = {}

    def score(self, prompt: Any, candidates: Sequence[str]) -> list[float]:
        self.offered[prompt.rsplit("\n", 1)[-1]] = list(candidates)
        return [0.0 if c.strip() == self.word else -1.0 - i for i, c in enumerate(candidates)]  # else the first


TEXT = "We met at 10:30 and at 3pm, then at 10 a.m. on Friday, 12 March 2024."


def test_time_spans_have_their_own_kind() -> None:
    assert _found(TEXT, times=True) == [
        ("10:30", "time"), ("3pm", "time"), ("10 a.m.", "time"), ("Friday", "date"), ("12 March 2024", "date"),
    ]
    assert _found(TEXT) == [("Friday", "date"), ("12 March 2024", "date")]


def test_a_model_that_says_date_still_gets_times_typed_time() -> None:
    backend = PrefersOneWord("date")
    result = get_tool("ner").run(TEXT, backend, types=["DATE", "TIME"])
    assert [(e.text, e.type) for e in result.entities] == [
        ("10:30", "TIME"), ("3pm", "TIME"), ("10 a.m.", "TIME"), ("Friday", "DATE"), ("12 March 2024", "DATE"),
    ]
    assert backend.offered["3pm:"] == [" time", " none"]
    assert backend.offered["Friday:"] == [" date", " none"]


def test_time_alone_never_makes_a_date_a_time() -> None:
    backend = PrefersOneWord("time")
    result = get_tool("ner").run(TEXT, backend, types=["TIME"])
    assert [(e.text, e.type) for e in result.entities] == [("10:30", "TIME"), ("3pm", "TIME"), ("10 a.m.", "TIME")]
    assert set(backend.offered) == {"10:30:", "3pm:", "10 a.m.:"}, "no date is typed when only TIME is asked for"


def test_date_alone_offers_no_times() -> None:
    backend = PrefersOneWord("date")
    result = get_tool("ner").run(TEXT, backend, types=["DATE"])
    assert [(e.text, e.type) for e in result.entities] == [("Friday", "DATE"), ("12 March 2024", "DATE")]


def test_names_with_times_keep_their_prompt() -> None:
    """Adding TIME to the name types changes nothing for the names: their answers are the name types."""
    backend = PrefersOneWord("person")
    result = get_tool("ner").run("Ana Lopez left at 9pm on Monday.", backend, types=["PERSON", "TIME"])
    assert [(e.text, e.type) for e in result.entities] == [("Ana Lopez", "PERSON"), ("9pm", "TIME")]
    assert backend.offered["Ana Lopez:"] == [" person", " place", " organization", " other", " none"]
    assert "Monday:" not in backend.offered


# ---- with the real model -----------------------------------------------------------------------------------
@pytest.mark.model
def test_the_real_model_types_times_and_a_weekday_name() -> None:
    from assistant.session import open_backend

    backend = open_backend("smollm2", "llama-cpp")
    ner = get_tool("ner")
    found = {(e.text, e.type) for e in ner.run(TEXT, backend, params={"types": "DATE,TIME"}).entities}
    assert {("10:30", "TIME"), ("3pm", "TIME"), ("10 a.m.", "TIME"), ("12 March 2024", "DATE")} <= found
    found = {(e.text, e.type) for e in ner.run(
        "Tuesday Weld starred in the film. On Tuesday March 5 we met.", backend, params={"types": "PERSON,DATE"}
    ).entities}
    assert ("Tuesday Weld", "PERSON") in found and ("March 5", "DATE") in found
    assert ("Tuesday", "DATE") in found, "the second sentence's weekday is a date"


# ---- 3. a month's name is a whole word -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Market 2024 report is out.", [("Market", "name"), ("2024", "date")]),
        ("He played Augusta 2019 well.", [("Augusta", "name"), ("2019", "date")]),
        ("Junior 2 won.", [("Junior", "name")]),
        ("Jane met Ann in Janesville 3 times.", [("Jane", "name"), ("Ann", "name"), ("Janesville", "name")]),
        (
            "It opened Sept. 5, closed Jun 3 and reopened Dec 2023.",
            [("Sept. 5", "date"), ("Jun 3", "date"), ("Dec 2023", "date")],
        ),
    ],
)
def test_a_word_that_begins_like_a_month_is_no_date(text: str, expected: list[tuple[str, str]]) -> None:
    assert _found(text) == expected


# ---- 4. text all in capitals --------------------------------------------------------------------------------
def test_weekdays_and_months_in_capitals_are_dates() -> None:
    found = _found("ON TUESDAY OBAMA MET MERKEL IN BERLIN ON MARCH 5, 2024.")
    assert ("TUESDAY", "date") in found and ("MARCH 5, 2024", "date") in found
    assert _found("we march in may") == [], "lower case is never a month"
    assert _found("YOU MAY GO IN MAY.")[-1] == ("MAY", "date")


# ---- (lead) a month's abbreviation before a day number ends no sentence ----------------------------------------
def test_a_month_abbreviation_before_a_day_ends_no_sentence() -> None:
    from assistant.tools.text import split_sentences

    assert split_sentences("The vote is on Mar. 5 in Paris. It was set in Jan. Then we left.") == [
        "The vote is on Mar. 5 in Paris.", "It was set in Jan.", "Then we left.",
    ]
    assert split_sentences("We met on Sept. 12, 2024. Done.") == ["We met on Sept. 12, 2024.", "Done."]
    from assistant.tools.spans import candidate_spans

    found = [(s.text, s.kind) for s in candidate_spans(split_sentences("The vote is on Mar. 5 in Paris. Done.")[0])]
    assert found == [("Mar. 5", "date"), ("Paris", "name")]

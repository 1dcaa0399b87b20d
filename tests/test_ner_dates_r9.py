"""Round 9: month names among the NER tool's DATE candidates (assistant/tools/spans.py).

"April Ryan met the minister" offered "April" as a date, and the person's name was lost with it
(a name overlapping a date is dropped); "June Carter" and "The August Review" the same. And
"in March" or "since May" were never dates: the two months are also common words, so they were
left out whatever stood around them. Only a request with a date type sees any of this: without
one, the candidates are the same as before (the CoNLL benchmark asks for names only).
"""

from __future__ import annotations

import pytest

from assistant.tools.spans import candidate_spans, date_spans


def _found(text: str, dates: bool = True) -> list[tuple[str, str]]:
    return [(s.text, s.kind) for s in candidate_spans(text, dates=dates)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("April Ryan met the minister.", [("April Ryan", "name")]),
        ("June Carter sang in early June.", [("June Carter", "name"), ("June", "date")]),
        ("The August Review came out in August.", [("August Review", "name"), ("August", "date")]),
        ("Until May Ann stayed.", [("Ann", "name")]),  # "May Ann": a name, no number near
    ],
)
def test_a_month_followed_by_a_name_word_is_part_of_a_name(text: str, expected: list[tuple[str, str]]) -> None:
    assert _found(text) == expected


@pytest.mark.parametrize(
    ("text", "date"),
    [
        ("We met on 3 May 2024 in the city.", "3 May 2024"),
        ("It opened May 3, 2024.", "May 3, 2024"),
        ("The law passed in March 2023.", "March 2023"),
        ("Sales fell in March.", "March"),
        ("Since May the rules have changed.", "May"),
        ("It was over by the end of May.", "May"),
        ("We left on the 3rd of May.", "3rd of May"),
        ("On the 12th of March, 2024 it rained.", "12th of March, 2024"),
        ("It snowed in mid-March.", "March"),
        ("Prices rose until March, then fell.", "March"),
        ("In May I moved.", "May"),  # "I" is no name word
        ("In June President Obama signed it.", "June"),  # nor is a title
        ("April showers bring flowers.", "April"),  # the other months need no context
    ],
)
def test_a_month_is_a_date_where_the_context_says_so(text: str, date: str) -> None:
    assert [s.text for s in date_spans(text)] == [date]


@pytest.mark.parametrize("text", ["Theresa May said no.", "March forward!", "May I ask?", "a letter from May"])
def test_march_and_may_without_context_are_not_dates(text: str) -> None:
    assert date_spans(text) == []


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("April Ryan met the minister.", [("April Ryan", "name")]),
        ("Sales fell in March.", [("Sales", "name")]),
        ("June Carter sang in early June.", [("June Carter", "name")]),
        ("Theresa May said no.", [("Theresa May", "name")]),
    ],
)
def test_without_a_date_type_the_candidates_are_unchanged(text: str, names: list[tuple[str, str]]) -> None:
    assert _found(text, dates=False) == names


def test_a_long_sentence_looks_back_a_bounded_way() -> None:
    text = "word " * 20_000 + "in May"
    assert [s.text for s in date_spans(text)] == ["May"]


@pytest.mark.model
def test_the_real_model_types_april_ryan_as_a_person() -> None:
    from assistant.session import open_backend
    from assistant.tools import get_tool

    backend = open_backend("smollm2", "llama-cpp")
    text = "April Ryan met the minister in Paris. Sales fell in March. June Carter sang in early June."
    result = get_tool("ner").run(text, backend, params={"types": "PERSON,DATE"})
    found = {(e.text, e.type) for e in result.entities}
    assert {("April Ryan", "PERSON"), ("March", "DATE"), ("June Carter", "PERSON")} <= found
    assert ("April", "DATE") not in found


@pytest.mark.parametrize(
    ("text", "dates"),
    [
        ("The White House is at 1600 Pennsylvania Avenue.", []),  # a house number
        ("She lives at 1815 Main St. now.", []),
        ("He scored 2000 points in 1998.", ["1998"]),  # a count, then a year
        ("It was built 1500 years ago.", []),
        ("In 2001 Ford Street closed.", ["2001"]),  # "in" says year, whatever follows
        ("In 1998 Clinton won.", ["1998"]),
        ("The 1998 elections were close.", ["1998"]),
        ("The 1990s were fun.", ["1990s"]),
    ],
)
def test_a_number_that_looks_like_a_year_but_counts_or_numbers_a_house(text: str, dates: list[str]) -> None:
    """ "1600 Pennsylvania Avenue" and "2000 points" were typed DATE: a date span is only ever typed
    among the date types, so whatever the pattern offered came out a date."""
    assert [s.text for s in date_spans(text)] == dates


def test_a_month_before_another_month_is_still_a_date() -> None:
    assert [s.text for s in date_spans("It rained in June July and August.")] == ["June", "July", "August"]


# ---- times of day (asked for with TIME) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "times"),
    [
        ("We meet at 10.30 am today.", ["10.30 am"]),  # was "30 am": a slice of the time
        ("Doors open at 9.15pm.", ["9.15pm"]),
        ("I am 25 am I not", []),  # no clock has 25 o'clock
        ("at 24:10 and at 23:59", ["23:59"]),
        ("It costs 12.5 pm units", []),
        ("at 10:30 PM, 09:15:00 and 3pm", ["10:30 PM", "09:15:00", "3pm"]),
    ],
)
def test_times_are_whole_and_on_a_clock(text: str, times: list[str]) -> None:
    from assistant.tools.spans import time_spans

    assert [s.text for s in time_spans(text)] == times

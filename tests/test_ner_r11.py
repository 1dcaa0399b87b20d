"""Round 11 user tests of ``ner`` (plugins/ner.py, assistant/tools/spans.py): each test fails without its fix.

1. ``assistant ner --types PERSON,TIME "Read John 3:16 today."`` gave PERSON "John" and TIME "3:16": a
   chapter and verse after a name word was a time of day. Now a number:number with no leading zero
   and no "pm" right after a capitalised name word is a reference, part of that name ("John 3:16",
   "Acts 17:28", "Matthew 5:3-12"); "at 3:16", "3:16 pm", "15:00", "Friday 3:30" stay times.
   And a race time was a time of day: "3:31.18" gave TIME "3:31".
2. ``--types MISC,DATE "Crowds came on Black Friday."`` gave DATE "Friday": a weekday was a date
   whatever stood before it, and the name run holding it was dropped with it ("Black Friday" lost).
   A weekday or a month after a capitalised name word that does not begin its sentence now ends that
   name ("Good Friday", "Cyber Monday", "Black September"); after a sentence's first word
   ("Starting Monday", "Happy Friday") it stays a date.
4. A line of a megabyte (one "sentence") took five minutes to find its candidates, before any prompt:
   each name and date was compared with every date. Now only with its neighbours (3 s).
3. Text copied from a coloured terminal: ``"\\x1b[1mObama\\x1b[0m"`` gave no name at all ("[1m" glued
   a digit to it) and ``"Barack \\x1b[31mObama"`` gave "Barack" alone. Spans are now found in the
   text as a terminal shows it, with offsets into the input, and the model is shown that text.
"""

from __future__ import annotations

from typing import Any, Sequence

import pytest

from assistant.backends.fake import FakeBackend
from assistant.tools import get_tool
from assistant.tools.spans import candidate_spans, name_spans, one_line, time_spans, shown_text


def _found(text: str, dates: bool = True, times: bool = True) -> list[tuple[str, str]]:
    return [(s.text, s.kind) for s in candidate_spans(text, dates=dates, times=times)]


class FirstType(FakeBackend):
    """A fake backend that scores the first answer offered highest, and records every prompt's last line."""

    def __init__(self) -> None:
        super().__init__(context_length=4096)
        self.load("fake-model")
        self.prompts: list[str] = []

    def score(self, prompt: Any, candidates: Sequence[str]) -> list[float]:
        self.prompts.append(str(prompt))
        return [-float(i) for i in range(len(candidates))]


# ---- 1. a chapter and verse is no time of day ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Read John 3:16 today.", [("Read John 3:16", "name")]),
        ("He quoted John 3:16 twice.", [("John 3:16", "name")]),
        ("John 3:16", [("John 3:16", "name")]),
        ("See Matthew 5:3-12 and Acts 17:28.", [("See Matthew 5:3-12", "name"), ("Acts 17:28", "name")]),
        ("We met at 3:16 pm.", [("3:16 pm", "time")]),
        ("The train left at 3:16.", [("3:16", "time")]),
        ("3:16 was the time.", [("3:16", "time")]),
        ("It was John at 3:16.", [("John", "name"), ("3:16", "time")]),
        ("Call John 3:16 pm.", [("Call John", "name"), ("3:16 pm", "time")]),
        ("Arsenal v Chelsea 15:00", [("Arsenal", "name"), ("Chelsea", "name"), ("15:00", "time")]),
        ("Lunch with Ann 08:30.", [("Lunch", "name"), ("Ann", "name"), ("08:30", "time")]),
        ("Meet me Friday 3:30.", [("Meet", "name"), ("Friday", "date"), ("3:30", "time")]),
        ("Meet Friday 3:30.", [("Meet", "name"), ("Friday", "date"), ("3:30", "time")]),  # r12: a date ends a name
        ("He left Paris. 3:16 came.", [("Paris", "name"), ("3:16", "time")]),
    ],
)
def test_a_chapter_and_verse_after_a_name_is_part_of_it(text: str, expected: list[tuple[str, str]]) -> None:
    assert _found(text) == expected


def test_the_reference_is_the_same_without_times() -> None:
    """Asked for names only (the CoNLL benchmark) the span is the same: one definition of a reference."""
    assert [s.text for s in name_spans("He quoted John 3:16 twice.")] == ["John 3:16"]
    assert [s.text for s in name_spans("Genesis 1:1 opens it.")] == ["Genesis 1:1"]
    assert [s.text for s in name_spans("He quoted John at 3:16 twice.")] == ["John"]


def test_a_race_time_is_no_time_of_day() -> None:
    assert [s.text for s in time_spans("Komen ran 7:20.67 and Morceli 3:31.18 at 10:30, 11:00.")] == [
        "10:30", "11:00",
    ]


def test_a_reference_is_typed_as_a_name_not_a_time() -> None:
    backend = FirstType()
    result = get_tool("ner").run("He quoted John 3:16 at 3:16 pm.", backend, types=["PERSON", "MISC", "TIME"])
    assert [(e.text, e.type) for e in result.entities] == [("John 3:16", "PERSON"), ("3:16 pm", "TIME")]


# ---- 2. a weekday or a month that ends a name ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Crowds came on Black Friday.", [("Crowds", "name"), ("Black Friday", "name")]),
        ("We mark Good Friday here.", [("Good Friday", "name")]),
        ("Its Cyber Monday deals sold out.", [("Cyber Monday", "name")]),
        ("The Super Tuesday results came in.", [("Super Tuesday", "name")]),
        ("A group named Black September struck.", [("Black September", "name")]),
        ("We shop on Small Business Saturday.", [("Small Business Saturday", "name")]),
        # not after a word that says date, an ordinal, a month or weekday, a sentence's end or a title
        ("It ends Early Friday.", [("Friday", "date")]),
        ("We meet the Fourth Thursday.", [("Thursday", "date")]),
        ("He left Paris. Friday was fine.", [("Paris", "name"), ("Friday", "date")]),
        ("Until President Friday left.", [("Friday", "date")]),
        ("On Friday Obama spoke.", [("Friday", "date"), ("Obama", "name")]),
    ],
)
def test_a_weekday_after_a_name_word_ends_the_name(text: str, expected: list[tuple[str, str]]) -> None:
    assert _found(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a sentence's first word is capitalised whatever it is ("Starting Monday", "Happy Friday")
        ("Starting Monday the shop opens.", [("Starting", "name"), ("Monday", "date")]),  # r12: the word stays
        ('"Effective Friday" it ends.', [("Effective", "name"), ("Friday", "date")]),
        ("Obama Friday said no.", [("Obama", "name"), ("Friday", "date")]),
        # in a headline or text in capitals, as in any other text, with the headline's common words
        ("Stores Open Black Friday", [("Stores Open Black Friday", "name")]),
        ("THEY FLEW TO NEW YORK ON BLACK FRIDAY.", [("FLEW", "name"), ("NEW YORK", "name"), ("BLACK FRIDAY", "name")]),
        ("ON TUESDAY OBAMA MET MERKEL.", [("TUESDAY", "date"), ("OBAMA MET MERKEL", "name")]),
        ("MEET ME FRIDAY.", [("MEET", "name"), ("FRIDAY", "date")]),
    ],
)
def test_a_weekday_after_a_sentence_first_word_stays_a_date(text: str, expected: list[tuple[str, str]]) -> None:
    assert _found(text) == expected


def test_a_named_day_is_typed_among_the_name_types() -> None:
    backend = FirstType()
    result = get_tool("ner").run("Crowds came on Black Friday.", backend, types=["PERSON", "DATE"])
    assert [(e.text, e.type) for e in result.entities] == [("Crowds", "PERSON"), ("Black Friday", "PERSON")]
    assert not any(prompt.endswith("\nFriday:") for prompt in backend.prompts), "no date span is typed"


# ---- 3. terminal control sequences in the input ---------------------------------------------------------------
ESCAPED = [
    ("\x1b[1mObama\x1b[0m won in \x1b[1m2024\x1b[0m.", [("Obama", "name"), ("2024", "date")]),
    ("Barack \x1b[31mObama\x1b[0m visited Paris.", [("Barack \x1b[31mObama", "name"), ("Paris", "name")]),
    ("Barack Ob\x1b[31mama visited.", [("Barack Ob\x1b[31mama", "name")]),
    ("Barack\x1b[31mObama visited.", [("Barack\x1b[31mObama", "name")]),
    ("Read \x1b]8;;https://x.org\x1b\\the Bible\x1b]8;;\x1b\\ now.", [("Read", "name"), ("Bible", "name")]),
    ("Visit \x9b1mRome\x9b0m on Friday.", [("Visit \x9b1mRome", "name"), ("Friday", "date")]),
]


@pytest.mark.parametrize(("text", "expected"), ESCAPED)
def test_spans_are_found_in_the_text_a_terminal_shows(text: str, expected: list[tuple[str, str]]) -> None:
    spans = candidate_spans(text, dates=True, times=True)
    assert [(s.text, s.kind) for s in spans] == expected
    assert all(text[s.start : s.end] == s.text for s in spans)


def test_the_model_is_shown_the_text_without_sequences() -> None:
    text = "Barack \x1b[31mObama\x1b[0m met\n  Angela \x1b[1mMerkel."
    shown, spans = one_line(text, candidate_spans(text))
    assert shown == "Barack Obama met Angela Merkel."
    assert [(s.text, shown[s.start : s.end]) for s in spans] == [
        ("Barack Obama", "Barack Obama"), ("Angela Merkel", "Angela Merkel"),
    ]
    assert shown_text("plain") == ("plain", None)
    visible, where = shown_text("a\x1b[0mb")
    assert (visible, where) == ("ab", [0, 5, 6])


def test_the_tool_reports_offsets_into_the_input_and_shows_the_model_no_escape() -> None:
    backend = FirstType()
    text = "Barack \x1b[31mObama\x1b[0m visited \x1b[1mParis\x1b[0m."
    result = get_tool("ner").run(text, backend, types=["PERSON"])
    assert [(e.text, e.start, e.end) for e in result.entities] == [
        ("Barack \x1b[31mObama", 0, 17), ("Paris", 34, 39),
    ]
    assert all(text[e.start : e.end] == e.text for e in result.entities)
    assert not any("\x1b" in prompt for prompt in backend.prompts)


def test_an_unterminated_string_sequence_keeps_the_rest_of_the_text() -> None:
    """An OSC without its terminator would swallow the text on a terminal; here only its introducer goes."""
    assert _found("x \x1b]0;Bob Smith left") == [("Bob Smith", "name")]



@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a soft hyphen (web pages), a right-to-left mark, a word joiner, tag characters: all draw nothing
        ("Ba\u00adrack Oba\u00adma spoke.", [("Ba\u00adrack Oba\u00adma", "name")]),
        ("We met \u200fAngela\u200f Merkel.", [("Angela\u200f Merkel", "name")]),
        ("Obama\U000e0041\U000e0042 won in Ber\u2060lin.", [("Obama", "name"), ("Ber\u2060lin", "name")]),
        ("\ufeffAngela Merkel", [("Angela Merkel", "name")]),
        ("New\u200bYork", [("New\u200bYork", "name")]),  # a zero-width space parts words, as before
    ],
)
def test_invisible_controls_inside_a_name_do_not_split_it(text: str, expected: list[tuple[str, str]]) -> None:
    spans = candidate_spans(text)
    assert [(s.text, s.kind) for s in spans] == expected
    assert all(text[s.start : s.end] == s.text for s in spans)
    shown, moved = one_line(text, spans)
    assert not any(c in shown for c in "\u00ad\u200f\u2060\ufeff\U000e0041")


# ---- a long line: overlaps are settled by neighbours, in linear time (the same spans as before) ---------------
def test_overlaps_are_settled_as_by_comparing_every_pair() -> None:
    import random

    from assistant.tools.span_dates import _without_overlaps
    from assistant.tools.spans import Span

    def every_pair(spans: list[Span]) -> list[Span]:  # the quadratic definition this replaced
        kept: list[Span] = []
        for span in sorted(spans, key=lambda s: (-(s.end - s.start), s.start)):
            if all(span.end <= k.start or span.start >= k.end for k in kept):
                kept.append(span)
        return sorted(kept, key=lambda s: s.start)

    rng = random.Random(11)
    for _ in range(300):
        spans = []
        for _ in range(rng.randrange(0, 30)):
            start = rng.randrange(0, 60)
            spans.append(Span(start, start + rng.randrange(1, 12), "x", "date"))
        assert _without_overlaps(spans) == every_pair(spans)


def test_a_long_line_keeps_every_name_and_date() -> None:
    unit = "Angela \x1b[1mMerkel\x1b[0m met Macron in Paris on Friday at 10:30, read John 3:16 on Black Friday; "
    spans = candidate_spans(unit * 2000, dates=True, times=True)  # one line, one "sentence"
    assert [(s.text, s.kind) for s in spans] == [
        ("Angela \x1b[1mMerkel", "name"), ("Macron", "name"), ("Paris", "name"), ("Friday", "date"),
        ("10:30", "time"), ("John 3:16", "name"), ("Black Friday", "name"),
    ] * 2000


# ---- with the real model -----------------------------------------------------------------------------------
@pytest.mark.model
def test_the_real_model_finds_a_coloured_name_and_a_named_day() -> None:
    from assistant.session import open_backend

    backend = open_backend("smollm2", "llama-cpp")
    text = "Barack \x1b[31mObama\x1b[0m visited Paris. Shoppers in Dallas lined up on Black Friday."
    entities = get_tool("ner").run(text, backend, types=["PERSON", "LOCATION", "DATE"]).entities
    found = {(e.text, e.type) for e in entities}
    assert ("Barack \x1b[31mObama", "PERSON") in found and ("Paris", "LOCATION") in found
    assert not any(e.text in ("Friday", "Black") for e in entities), "Black Friday is one name, never a date"

"""Round 20: the NER tool's dates and times in the six other languages. Each test failed before its fix.

The sentences are written for these tests (no data set's rows)."""

from __future__ import annotations

from typing import Any, Sequence

import pytest

from assistant.backends.fake import FakeBackend
from assistant.tools import get_tool
from assistant.tools.language_words import text_language
from assistant.tools.spans import candidate_spans
from assistant.tools.text import sentence_spans


class FirstType(FakeBackend):
    """A fake backend that scores the first answer offered highest (a date span's is its date type)."""

    def __init__(self) -> None:
        super().__init__(context_length=4096)
        self.load("fake-model")

    def score(self, prompt: Any, candidates: Sequence[str]) -> list[float]:
        return [-float(i) for i in range(len(candidates))]


def spans(text: str, language: str | None = "") -> list[tuple[str, str]]:
    """(text, kind) of each candidate, sentence by sentence as the NER tool reads them, dates and times asked for;
    ``language`` the whole text's as the tool tells it unless given."""
    if language == "":
        language = text_language(text)
    return [
        (s.text, s.kind)
        for a, b in sentence_spans(text)
        for s in candidate_spans(text[a:b], True, True, None, None, language)
    ]


# ---- 1. weekdays -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "weekday"),
    [
        ("Marie est arrivée à Paris lundi dernier avec son frère.", "lundi"),
        ("El lunes llegó Juan a Madrid con sus amigos.", "lunes"),
        ("Maria è arrivata a Roma sabato con la sua famiglia.", "sabato"),
        ("Na segunda-feira João chegou a Lisboa com os amigos.", "segunda-feira"),
        ("Op maandag kwam Jan naar Utrecht met zijn vrienden.", "maandag"),
        ("Hans ist am Montag nach Berlin gefahren, mit seiner Frau.", "Montag"),
    ],
)
def test_another_languages_weekday_is_a_date(text: str, weekday: str) -> None:
    """Before: the weekday patterns were English only, so no date was found ("Montag" not even as a name)."""
    assert (weekday, "date") in spans(text)


def test_a_capitalised_weekday_opening_a_sentence_is_a_date_not_a_name() -> None:
    """Before: "Lundi" and "Samstag" opening a sentence were names (SmolLM2 typed them); now dates, as "Monday"."""
    assert spans("Lundi 3 mars 2024, Marie est arrivée à Paris.")[:2] == [("Lundi", "date"), ("3 mars 2024", "date")]
    assert spans("Samstag kam Hans mit seiner Frau nach Berlin, und sie blieben dort bis Sonntag.")[0] == (
        "Samstag", "date",
    )
    found = spans("Jeden Montag fährt Hans nach Berlin. Letzten Freitag war er in Hamburg.")
    assert found == [
        ("Montag", "date"), ("Hans", "name"), ("Berlin", "name"), ("Freitag", "date"), ("Hamburg", "name"),
    ]


def test_a_weekday_that_is_a_name_stays_one() -> None:
    """Names that are another language's weekday: after a name word, in an English text, or before a name."""
    assert spans("Placido Domingo sang in Santo Domingo on Friday with the Mardi Gras band.") == [
        ("Placido Domingo", "name"), ("Santo Domingo", "name"), ("Friday", "date"), ("Mardi Gras", "name"),
    ]
    assert ("Herr Freitag", "name") in spans("Herr Freitag kam am Montag nach Berlin.")
    assert spans("Sabato Maria è arrivata a Roma.", "German")[0] == ("Sabato Maria", "name")
    # a text of no sure language is read as before: "Samstag" alone may be a name there
    assert spans("Samstag kam Hans nach Berlin.", None)[0] == ("Samstag", "name")


# ---- 2. the dates' glue words, and dates in capitals --------------------------------------------------------------
def test_a_spanish_year_after_del_is_part_of_its_date() -> None:
    """Before: "15 de marzo" and "2024" were two dates."""
    assert spans("Llegó Juan a Madrid el 15 de marzo del 2024.")[-1] == ("15 de marzo del 2024", "date")


def test_another_languages_date_in_capitals_is_one_date() -> None:
    """Before: "LUNDI" and "MARS" were names and "2024" a date of its own."""
    found = spans("LUNDI 3 MARS 2024, MARIE EST ARRIVÉE À PARIS AVEC SON FRÈRE.", "French")
    assert found[:2] == [("LUNDI", "date"), ("3 MARS 2024", "date")]
    # in an English text in capitals "MARS" is the planet, as before
    assert ("2 MARS", "date") not in spans("THE 2 MARS ROVERS LANDED ON MARCH 3 2024.", "English")


# ---- 3. times with the languages' word for o'clock ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "time"),
    [
        ("Am 3. März um 14:30 Uhr kam Hans nach Berlin.", "14:30 Uhr"),
        ("Um 15 Uhr fuhr Hans nach Berlin.", "15 Uhr"),
        ("Op 3 maart om 14.30 uur kwam Jan naar Utrecht.", "14.30 uur"),
        ("Le lundi 3 mars 2024 à 10h30, Marie est arrivée à Paris.", "10h30"),
    ],
)
def test_a_time_with_its_word_for_oclock_is_one_time(text: str, time: str) -> None:
    """Before: "Uhr" was a name ("14:30" a time), "14.30 uur" and "10h30" no time at all."""
    found = spans(text)
    assert (time, "time") in found
    assert ("Uhr", "name") not in found


def test_hours_are_no_time() -> None:
    assert [s for s in spans("It was a 2h drive and a 14h flight.") if s[1] == "time"] == []


# ---- 4. the tool -------------------------------------------------------------------------------------------------
def test_ner_gives_another_languages_weekday_and_time_as_date_and_time() -> None:
    text = "Am Montag, dem 3. März 2024, um 14:30 Uhr fuhr Angela Merkel nach Hamburg."
    result = get_tool("ner").run(text, FirstType(), types=["DATE", "TIME"])
    assert [(e.text, e.type) for e in result.entities] == [
        ("Montag", "DATE"), ("3. März 2024", "DATE"), ("14:30 Uhr", "TIME"),
    ]


class Prompts(FirstType):
    """:class:`FirstType` that records each prompt's last line."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []

    def score(self, prompt: Any, candidates: Sequence[str]) -> list[float]:
        self.asked.append(str(prompt).rstrip().splitlines()[-1])
        return super().score(prompt, candidates)


def test_the_model_is_asked_about_another_languages_weekday_with_its_english_day() -> None:
    """Before: SmolLM2 was asked about "Montag" alone and called it no date (0.03; "Montag (Monday)" 1.00), so
    ``--types DATE`` left it out; the entity is still the input's slice."""
    text = "Hans ist am Montag nach Berlin gefahren, mit seiner Frau. Am Sonnabend kam er zurück."
    backend = Prompts()
    result = get_tool("ner").run(text, backend, types=["DATE"])
    assert "Montag (Monday):" in backend.asked and "Sonnabend (Saturday):" in backend.asked
    assert [(e.text, text[e.start : e.end]) for e in result.entities] == [
        ("Montag", "Montag"), ("Sonnabend", "Sonnabend"),
    ]


def test_ner_on_text_without_capitals_says_why_it_finds_no_names() -> None:
    """Before: "barack obama visited paris" gave "(no entities)" and no word of why."""
    result = get_tool("ner").run("barack obama visited paris on monday with angela merkel.", FirstType())
    assert result.entities == [] and result.note is not None and "has none" in result.note
    assert get_tool("ner").run("Barack Obama visited Paris.", FirstType()).note is None
    assert get_tool("ner").run("2024-03-01 10:30", FirstType()).note is None  # no letters: nothing to say


def test_dutch_hours_are_no_time() -> None:
    """"uur" is also "hours": "3 uur lang" is a duration, "om 14.30 uur" a time."""
    assert [s for s in spans("Het duurde 3 uur lang, tot 14.30 uur.", "Dutch") if s[1] == "time"] == [
        ("14.30 uur", "time"),
    ]


def test_a_capitalised_weekday_before_its_date_is_one_in_a_text_of_no_sure_language() -> None:
    """Before (and with only the text's language to go by): "Giovedì" and "Vrijdag" opening these short
    sentences, whose language is not sure, were names; a name's word before it still makes it none."""
    assert spans("Giovedì 5 giugno 2025 alle 18:00 Sergio Mattarella ha incontrato Giorgia Meloni.", None)[:2] == [
        ("Giovedì", "date"), ("5 giugno 2025", "date"),
    ]
    assert spans("Vrijdag 6 juni kwam Mark Rutte aan.", None)[:2] == [("Vrijdag", "date"), ("6 juni", "date")]
    assert spans("Placido Domingo 3 mars 2024.", None)[0] == ("Placido Domingo", "name")


def test_a_spanish_first_of_the_month_with_its_dot_is_part_of_its_date() -> None:
    """Before: "el 1.º de marzo de 2024" gave the date "marzo de 2024", without its day."""
    assert ("1.º de marzo de 2024", "date") in spans("Juan llegó a Madrid el 1.º de marzo de 2024 con su hermana.")

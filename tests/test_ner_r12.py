"""Round 12 user tests of ``ner`` (assistant/tools/spans.py, assistant/tools/span_dates.py): each fails without its fix.

1. ``"Rom. 8:28"`` gave the name "Rom" and the time "8:28", where ``"John 3:16"`` is one name: a book's
   name written short with a full stop ("Rom.", "Matt.", "Gen.", "Cor.") was a sentence's last word,
   so the chapter and verse after it was a time of day. A capitalised word of at most four letters
   with a full stop now cites a book before a chapter and verse, a title's abbreviation too ("Gen.
   1:1", which alone is no candidate); "He left Paris. 3:16 came." stays a name and a time.
   (The sentence splitter, assistant/tools/text.py, still ends a sentence after "Rom.": see the report.)
2. A date inside a name run dropped the whole run with it: ``"We visited Paris March 5."`` gave only
   DATE "March 5" (Paris lost), ``"Paris Friday was cold."`` and ``"Smith Monday said no."`` only the
   weekday, ``"PARIS FRIDAY"`` only "FRIDAY". A date now ends (or begins) the name: the words of the
   run beside it stay a candidate, but for a word that says which date it is ("Early", "Fourth").
3. Text all in capitals: ``assistant ner "JOHN SMITH VISITED PARIS"`` gave PERSON "JOHN SMITH VISITED
   PARIS" (capitals mark no name there, so verbs joined the run). The NER tool's model now recases such
   a sentence (assistant/tools/span_case.py: each word lower-case or capitalised, whichever it scores
   likelier after the words before it) and names are found in the recased text, dates in the text as
   it is: "JOHN SMITH" and "PARIS". Any scoring backend, any cased script, no word list; a backend
   that cannot score keeps the run as before.
"""

from __future__ import annotations

from typing import Any, Sequence

import pytest

from assistant.backends.fake import FakeBackend
from assistant.errors import NotSupportedError
from assistant.tools import get_tool
from assistant.tools.span_case import in_capitals, recased
from assistant.tools.spans import candidate_spans, time_spans


def _found(text: str, dates: bool = True, times: bool = True) -> list[tuple[str, str]]:
    return [(s.text, s.kind) for s in candidate_spans(text, dates=dates, times=times)]


# ---- 1. an abbreviated book before a chapter and verse ------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Rom. 8:28 says so.", [("Rom. 8:28", "name")]),
        ("He read Rom. 8:28 aloud.", [("Rom. 8:28", "name")]),
        ("See Matt. 5:3-12 and Cor. 13:4.", [("See Matt. 5:3-12", "name"), ("Cor. 13:4", "name")]),
        ("Gen. 1:1 opens it.", [("Gen. 1:1", "name")]),  # a title's abbreviation alone is no candidate
        ("He quoted Rev. 3:20 twice.", [("Rev. 3:20", "name")]),
        ("ROM. 8:28 SAYS IT", [("ROM. 8:28", "name"), ("SAYS", "name")]),
        # as before: a longer word's full stop ends a sentence, a title goes before a name, "pm" is a time
        ("He left Paris. 3:16 came.", [("Paris", "name"), ("3:16", "time")]),
        ("He met Gen. Patton at 10:30.", [("Patton", "name"), ("10:30", "time")]),
        ("Read Rom. 8:28 pm.", [("Read Rom", "name"), ("8:28 pm", "time")]),
        ("Read John 3:16 today.", [("Read John 3:16", "name")]),
    ],
)
def test_an_abbreviated_book_before_a_chapter_and_verse_is_one_name(
    text: str, expected: list[tuple[str, str]]
) -> None:
    assert _found(text) == expected


def test_a_verse_after_an_abbreviated_book_is_no_time() -> None:
    assert time_spans("Read Rom. 8:28 today.") == []
    assert [s.text for s in time_spans("Read Rom. 8:28 pm today.")] == ["8:28 pm"]


# ---- 2. a date ends a name, it does not take the name with it ------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("We visited Paris March 5.", [("Paris", "name"), ("March 5", "date")]),
        ("Paris Friday was cold.", [("Paris", "name"), ("Friday", "date")]),
        ("Smith Monday said no.", [("Smith", "name"), ("Monday", "date")]),
        ("PARIS FRIDAY", [("PARIS", "name"), ("FRIDAY", "date")]),
        ("Visit Paris May 2020 please.", [("Visit Paris", "name"), ("May 2020", "date")]),
        ("Bank of England March 5 report", [("Bank of England", "name"), ("March 5", "date")]),
        ("She saw Smith and Jones of May 2020 fame.", [("Smith", "name"), ("Jones", "name"), ("May 2020", "date")]),
        # a word that says which date it is stays with the date, never a name of its own
        ("It ends Early Friday.", [("Friday", "date")]),
        ("We meet the Fourth Thursday.", [("Thursday", "date")]),
        # a run that is all date is none, as before
        ("March 5 was cold.", [("March 5", "date")]),
        ("In May 2020 Obama spoke.", [("May 2020", "date"), ("Obama", "name")]),
    ],
)
def test_a_date_in_a_name_run_ends_the_name(text: str, expected: list[tuple[str, str]]) -> None:
    assert _found(text) == expected


def test_names_beside_dates_in_a_long_line_stay_candidates() -> None:
    unit = "Smith Monday said no to Paris March 5. "
    found = _found(unit * 2000, times=False)
    assert found.count(("Smith", "name")) == 2000
    assert found.count(("Paris", "name")) == 2000
    assert found.count(("March 5", "date")) == 2000


# ---- 3. text all in capitals is recased by the model before its names are found -----------------------------
PROPER = {"john", "smith", "paris", "obama", "merkel", "berlin", "rom", "new", "york", "black", "friday"}


def _scorer(log: list[str] | None = None) -> Any:
    """Scores a word's capitalised spelling likelier only for the words of :data:`PROPER`."""

    def score(prompt: str, candidates: list[str]) -> list[float]:
        if log is not None:
            log.append(prompt)
        return [1.0 if c.strip()[:1].isupper() == (c.strip().rstrip(".").lower() in PROPER) else 0.0 for c in candidates]

    return score


def test_recased_keeps_the_length_and_changes_only_the_case() -> None:
    text = "JOHN SMITH VISITED PARIS, READ ROM. 8:28 AND İSTANBUL"
    result = recased(text, _scorer())
    assert result == "John Smith visited Paris, read Rom. 8:28 and İSTANBUL"
    assert len(result) == len(text) and result.lower() == text.lower()


def test_recased_shows_a_bounded_sentence_so_far() -> None:
    prompts: list[str] = []
    recased("WORD " * 500 + "PARIS", _scorer(prompts))
    assert prompts[0] == "Word" and max(map(len, prompts)) <= 600
    # the shown part keeps its start for many words (a KV cache reuses it), then moves on
    starts = [p[:20] for p in prompts]
    assert len(set(starts)) < len(prompts) // 50 and prompts[-1].endswith("word")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("JOHN SMITH VISITED PARIS", [("JOHN SMITH", "name"), ("PARIS", "name")]),
        ("ON TUESDAY OBAMA MET MERKEL IN BERLIN.", [("TUESDAY", "date"), ("OBAMA", "name"), ("MERKEL", "name"),
                                                    ("BERLIN", "name")]),
        ("THEY FLEW TO NEW YORK ON BLACK FRIDAY.", [("NEW YORK", "name"), ("BLACK FRIDAY", "name")]),
        ("HE READ ROM. 8:28 TODAY", [("ROM. 8:28", "name")]),
        ("\x1b[1mJOHN SMITH\x1b[0m VISITED PARIS", [("JOHN SMITH", "name"), ("PARIS", "name")]),
    ],
)
def test_names_in_capitals_are_found_in_the_recased_text(text: str, expected: list[tuple[str, str]]) -> None:
    recase = lambda sentence: recased(sentence, _scorer())  # noqa: E731
    assert [(s.text, s.kind) for s in candidate_spans(text, True, True, recase=recase)] == expected


def test_only_text_in_capitals_is_recased() -> None:
    calls: list[str] = []

    def recase(sentence: str) -> str:
        calls.append(sentence)
        return sentence.lower()

    assert in_capitals("JOHN SMITH") and not in_capitals("John Smith") and not in_capitals("JOHN")
    assert [s.text for s in candidate_spans("John Smith visited Paris", recase=recase)] == ["John Smith", "Paris"]
    assert calls == []
    # a recasing that changed more than the case is not used
    assert [s.text for s in candidate_spans("JOHN SMITH VISITED", recase=lambda t: "x")] == ["JOHN SMITH VISITED"]


class CapitalScores(FakeBackend):
    """A fake backend whose scores recase the words of :data:`PROPER` and type the first answer offered."""

    def __init__(self, can_score: bool = True) -> None:
        super().__init__(context_length=4096)
        self.load("fake-model")
        self.can_score = can_score

    def score(self, prompt: Any, candidates: Sequence[str]) -> list[float]:
        if not self.can_score:
            raise NotSupportedError("no scores here")
        if all(c.strip().lower() == candidates[0].strip().lower() for c in candidates):  # a recasing choice
            return _scorer()(str(prompt), list(candidates))
        return [-float(i) for i in range(len(candidates))]


def test_the_tool_recases_text_in_capitals() -> None:
    result = get_tool("ner").run("JOHN SMITH VISITED PARIS", CapitalScores(), types=["PERSON"])
    assert [(e.text, e.start, e.end) for e in result.entities] == [("JOHN SMITH", 0, 10), ("PARIS", 19, 24)]


@pytest.mark.model
def test_the_real_model_splits_a_sentence_in_capitals_at_its_verb() -> None:
    from assistant.session import open_backend

    backend = open_backend("smollm2", "llama-cpp")
    text = "JOHN SMITH VISITED PARIS. ON TUESDAY OBAMA MET MERKEL IN BERLIN."
    entities = get_tool("ner").run(text, backend, types=["PERSON", "LOCATION", "ORGANIZATION", "DATE"]).entities
    found = [e.text for e in entities]
    assert "JOHN SMITH" in found and "PARIS" in found and "OBAMA" in found and "BERLIN" in found
    assert not any("VISITED" in name or " MET " in name for name in found)

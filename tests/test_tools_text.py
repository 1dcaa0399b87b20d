"""Text splitting and candidate spans: the code that lets tools promise fits and offsets."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.tools.spans import candidate_spans, date_spans, name_spans
from assistant.tools.text import chunk_text, sentence_spans, split_paragraphs, split_sentences, tidy_spacing

WORDS = st.sampled_from(
    ["the", "Bank", "of", "England", "Dr.", "Ana", "Lopez", "went", "to", "Paris", "in", "1999", ".", ",",
     "Médecins", "Sans", "Frontières", "NASA", "iPhone", "Murakami's", "—", "漢字", "naïve", "U.S.", "\n", "\n\n",
     "!", "?", "Tuesday", "May", "12", "March", "2024", "Al-Sayed", "\"", "(", ")"]
)
TEXTS = st.lists(WORDS, max_size=60).map(" ".join) | st.text(max_size=200)


def byte_count(text: str) -> int:
    return len(text.encode("utf-8")) + 1  # +1: every count includes a BOS, like real tokenizers


@settings(deadline=None)
@given(TEXTS)
def test_paragraphs_rejoin_to_the_exact_input(text: str) -> None:
    lead, paragraphs = split_paragraphs(text)
    assert lead + "".join(p.text + p.separator for p in paragraphs) == text
    assert all(p.text == p.text.strip() for p in paragraphs)


def test_paragraph_separators_are_kept() -> None:
    lead, paragraphs = split_paragraphs("\n  One.\n\n \nTwo\nstill two.\n\n\nThree.\n")
    assert lead == "\n  "
    assert [p.text for p in paragraphs] == ["One.", "Two\nstill two.", "Three."]
    assert [p.separator for p in paragraphs] == ["\n\n \n", "\n\n\n", "\n"]


@settings(max_examples=60, deadline=None)
@given(TEXTS, st.integers(min_value=6, max_value=40))  # >= the cost of any one character
def test_chunks_fit_the_budget_and_keep_every_word(text: str, budget: int) -> None:
    chunks = chunk_text(text, byte_count, budget)
    assert all(byte_count(chunk) <= budget for chunk in chunks)
    assert "".join("".join(chunks).split()) == "".join(text.split())


def test_chunks_prefer_paragraphs_then_sentences() -> None:
    text = "First paragraph is here.\n\nSecond one. It has two sentences."
    assert chunk_text(text, byte_count, 40) == ["First paragraph is here.", "Second one. It has two sentences."]
    assert chunk_text(text, byte_count, 30) == ["First paragraph is here.", "Second one.", "It has two sentences."]
    assert chunk_text("   ", byte_count, 10) == []
    with pytest.raises(ValueError):
        chunk_text("x", byte_count, 0)


def test_a_single_huge_word_is_split_by_characters() -> None:
    chunks = chunk_text("x" * 1000, byte_count, 50)
    assert "".join(chunks) == "x" * 1000 and all(byte_count(c) <= 50 for c in chunks)


@settings(deadline=None)
@given(TEXTS)
def test_sentence_spans_are_ordered_trimmed_slices(text: str) -> None:
    previous_end = 0
    for start, end in sentence_spans(text):
        assert previous_end <= start < end <= len(text)
        assert text[start:end] == text[start:end].strip()
        previous_end = end


def test_sentences_do_not_end_at_abbreviations() -> None:
    text = 'Dr. J. R. Smith met the U.S. envoy in St. Louis. "Really?" she asked. Yes.'
    assert split_sentences(text) == ['Dr. J. R. Smith met the U.S. envoy in St. Louis.', '"Really?"', "she asked.", "Yes."]
    assert [text[a:b] for a, b in sentence_spans(text)] == split_sentences(text)


@settings(deadline=None)
@given(TEXTS)
def test_candidate_spans_are_non_overlapping_slices_of_the_input(text: str) -> None:
    spans = candidate_spans(text)
    for span in spans:
        assert text[span.start : span.end] == span.text and span.text.strip() == span.text and span.text
    for left, right in zip(spans, spans[1:]):
        assert left.end <= right.start


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The Bank of England raised rates.", ["Bank of England"]),
        ("Dr. Priya Raman joined Oxford University.", ["Priya Raman", "Oxford University"]),
        ("Professor Ahmed Khan of Stanford University spoke.", ["Ahmed Khan", "Stanford University"]),
        ("Leonardo da Vinci painted in Florence.", ["Leonardo da Vinci", "Florence"]),
        ("Haruki Murakami's novel sold well.", ["Haruki Murakami"]),
        ("Médecins Sans Frontières opened a clinic.", ["Médecins Sans Frontières"]),
        ("She won the US Open.", ["US Open"]),
        ("Toyota and Honda grew.", ["Toyota", "Honda"]),
        ("Yesterday it rained. However, nothing happened.", []),
        ("Fatima Al-Sayed, a nurse, met Paris Saint-Germain fans.", ["Fatima Al-Sayed", "Paris Saint-Germain"]),
        ("U.S. President Amara Diallo met Lieutenant-Colonel Ivo Brandt.", ["U.S.", "Amara Diallo", "Ivo Brandt"]),
        ("Porto of Portugal beat the Bank of Ghana team.", ["Porto", "Portugal", "Bank of Ghana"]),
        ("Former Minister Zine al-Abidine spoke to Marks & Spencer staff.", ["Zine al-Abidine", "Marks & Spencer"]),
        ("On Friday Okoro won; the Prime Minister said nothing.", ["Okoro"]),  # "Friday Okoro" alone is a name (r10)
    ],
)
def test_name_spans(text: str, expected: list[str]) -> None:
    assert [s.text for s in name_spans(text)] == expected


def test_dates_are_found_by_pattern_and_never_offered_as_names() -> None:
    text = "On Tuesday, 12 March 2024, IBM met officials; in 1999 it was 2024-01-05."
    assert [s.text for s in date_spans(text)] == ["Tuesday", "12 March 2024", "1999", "2024-01-05"]
    names = [s.text for s in candidate_spans(text, dates=False)]
    assert names == ["IBM"]
    kinds = {s.text: s.kind for s in candidate_spans(text, dates=True)}
    assert kinds["12 March 2024"] == "date" and kinds["IBM"] == "name"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("it 's not bad , but it does n't work ( really ) .", "it's not bad, but it doesn't work (really)."),
        ("they 're here ; we 've paid $ 5 for 20 % off !", "they're here; we've paid $5 for 20% off!"),
        ("Already   tidy text, with  spaces.", "Already tidy text, with spaces."),
        ("rock 'n' roll", "rock 'n' roll"),
    ],
)
def test_tidy_spacing_only_moves_spaces(text: str, expected: str) -> None:
    assert tidy_spacing(text) == expected
    assert tidy_spacing(text).replace(" ", "") == text.replace(" ", "")

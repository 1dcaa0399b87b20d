"""The scoring behind benchmarks/tools_eval.py: offsets from CoNLL surfaces, entity counts, confusion tables.

A benchmark whose arithmetic is wrong reports numbers nobody can trust, so the
counting is checked on hand-made cases (no model).
"""

from __future__ import annotations

import pytest

from benchmarks.tools_eval import CountingBackend, parse_params, public_slice
from benchmarks.tools_metrics import (
    MISSED,
    PUBLIC_DATA,
    Counts,
    NerReport,
    conll_rows,
    load_jsonl,
    locate_entities,
)


def test_entities_are_located_on_token_boundaries_and_in_order() -> None:
    text = "US troops left USA for US bases near Paris ."
    located = locate_entities(text, [["US", "LOCATION"], ["US", "LOCATION"], ["Paris", "LOCATION"]])
    assert [(e["start"], e["end"]) for e in located] == [(0, 2), (23, 25), (37, 42)]
    assert all(text[e["start"] : e["end"]] == e["text"] for e in located)


def test_an_entity_missing_from_its_text_is_an_error() -> None:
    with pytest.raises(ValueError, match="not found"):
        locate_entities("Paris is nice .", [["Rome", "LOCATION"]])


def test_the_public_sets_load_with_offsets_that_slice_the_text() -> None:
    rows = conll_rows()
    assert len(rows) == 300
    for row in rows:
        for entity in row["entities"]:
            assert row["text"][entity["start"] : entity["end"]] == entity["text"]
    sst = load_jsonl(PUBLIC_DATA / "sst2-dev.jsonl")
    assert len(sst) == 500 and {r["label"] for r in sst} == {"positive", "negative"}


def test_counts_precision_recall_f1() -> None:
    counts = Counts()
    counts.add({(0, 3, "PERSON"), (5, 9, "LOCATION")}, {(0, 3, "PERSON"), (5, 9, "ORGANIZATION"), (11, 12, "PERSON")})
    assert (counts.true_positives, counts.false_positives, counts.false_negatives) == (1, 2, 1)
    assert counts.precision == pytest.approx(1 / 3) and counts.recall == pytest.approx(1 / 2)
    assert counts.f1 == pytest.approx(0.4)
    assert Counts().f1 == 0.0


def test_ner_report_separates_typing_from_spans_and_ignores_unscored_types() -> None:
    report = NerReport()
    gold = [(0, 3, "PERSON"), (5, 9, "LOCATION"), (11, 15, "ORGANIZATION"), (20, 25, "MISC")]
    predicted = [(0, 3, "PERSON"), (5, 9, "ORGANIZATION"), (20, 25, "LOCATION"), (30, 33, "MISC")]
    report.add(gold, predicted)
    assert report.typed.true_positives == 1  # only PERSON is right with its type
    assert report.spans.true_positives == 2  # PERSON's and LOCATION's spans were found
    assert report.spans.false_positives == 1  # the MISC gold span predicted as LOCATION
    assert report.per_type["LOCATION"].false_negatives == 1 and report.per_type["LOCATION"].false_positives == 1
    assert report.confusion[("LOCATION", "ORGANIZATION")] == 1
    assert report.confusion[("ORGANIZATION", MISSED)] == 1
    assert report.confusion[(MISSED, "LOCATION")] == 1
    table = report.confusion_table()
    assert table.splitlines()[0] == "| gold \\ predicted | PERSON | LOCATION | ORGANIZATION | — |"
    assert "| LOCATION | 0 | 0 | 1 | 0 |" in table


def test_counting_backend_counts_prompt_evaluations_and_passes_the_rest_through(fake_backend: None) -> None:
    from assistant.backends.fake import FakeBackend

    backend = FakeBackend()
    backend.load("fake-model")
    counting = CountingBackend(backend)
    counting.score("prompt", [" a", " b"])
    counting.score("prompt", [" a"])
    assert counting.evaluations == 2
    assert counting.count_tokens("abc") == backend.count_tokens("abc")
    assert counting.name == backend.name


def test_tool_parameters_from_the_command_line() -> None:
    assert parse_params("calibrate=true, types=PERSON;DATE") == {"calibrate": "true", "types": "PERSON,DATE"}
    assert parse_params("") == {}


def test_the_halves_of_a_public_set_split_it_and_limit_applies_after() -> None:
    rows = list(range(7))
    assert public_slice(rows, None) == rows
    even, odd = public_slice(rows, None, "even"), public_slice(rows, None, "odd")
    assert even == [0, 2, 4, 6] and odd == [1, 3, 5]
    assert sorted(even + odd) == rows
    assert public_slice(rows, 2, "odd") == [1, 3]
    with pytest.raises(ValueError):
        public_slice(rows, None, "first")

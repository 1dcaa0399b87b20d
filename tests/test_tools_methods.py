"""The methods behind the scoring tools, on the fake backend: calibration, demonstration selection, consistency.

Each is checked against arithmetic done by hand here, so a change that quietly
alters what the method computes fails even when the tools' shapes stay valid.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant.backends.fake import FakeBackend
from assistant.tools import get_tool
from assistant.tools.classify import CONTENT_FREE_INPUTS, content_free_baseline, label_scores, softmax
from assistant.tools.prompts import DemonstrationPool
from assistant.tools.spans import Span


class TableBackend(FakeBackend):
    """Scores from ``table(prompt, candidate)``; records every scored prompt."""

    def __init__(self, table: Callable[[str, str], float]) -> None:
        super().__init__()
        self.load("fake-model")
        self.table = table
        self.prompts: list[str] = []

    def score(self, prompt: str, candidates: Sequence[str]) -> list[float]:
        self.prompts.append(prompt)
        return [self.table(prompt, c) for c in candidates]


# ---- contextual calibration -----------------------------------------------------------------------
def test_the_baseline_is_the_log_of_the_mean_content_free_distribution() -> None:
    rows = {"A": [math.log(0.8), math.log(0.2)], "B": [math.log(0.6), math.log(0.4)]}
    backend = TableBackend(lambda prompt, c: rows[prompt][[" x", " y"].index(c)])
    baseline = content_free_baseline(backend, ["A", "B"], [" x", " y"])
    assert baseline == pytest.approx([math.log(0.7), math.log(0.3)])


def test_calibration_removes_a_prior_the_model_has_whatever_the_input() -> None:
    # The model says 0.7 / 0.3 to content-free inputs; an input that it scores 0.6 / 0.4
    # is, relative to that prior, evidence for the second label: 0.6/0.7 < 0.4/0.3.
    backend = TableBackend(lambda prompt, c: math.log({" x": 0.6, " y": 0.4}[c]))
    baseline = [math.log(0.7), math.log(0.3)]
    calibrated = softmax(label_scores(backend, "input", [" x", " y"], baseline))
    expected = (0.6 / 0.7) / (0.6 / 0.7 + 0.4 / 0.3)
    assert calibrated == pytest.approx([expected, 1 - expected])


@given(st.lists(st.floats(-30, 0), min_size=2, max_size=5))
def test_calibrating_against_the_same_scores_gives_a_uniform_distribution(scores: list[float]) -> None:
    candidates = [f" c{i}" for i in range(len(scores))]
    backend = TableBackend(lambda prompt, c: scores[candidates.index(c)])
    baseline = content_free_baseline(backend, list(CONTENT_FREE_INPUTS), candidates)
    calibrated = softmax(label_scores(backend, "anything", candidates, baseline))
    assert calibrated == pytest.approx([1 / len(scores)] * len(scores), rel=1e-6)


def test_ner_calibration_measures_the_type_prior_once_per_type_set() -> None:
    def table(prompt: str, candidate: str) -> float:
        content_free = any(prompt.endswith(f"Sentence: {x}\n{x}:") for x in CONTENT_FREE_INPUTS)
        if content_free:  # the model calls everything a person...
            return {" person": -0.1}.get(candidate, -4.0)
        return {" person": -0.5, " place": -1.5}.get(candidate, -6.0)  # ...and leans person here too

    backend = TableBackend(table)
    tool = get_tool("ner")
    assert [e.type for e in tool.run("They flew to Kigali.", backend).entities] == ["PERSON"]
    calibrated = tool.run("They flew to Kigali.", backend, calibrate=True)
    assert [e.type for e in calibrated.entities] == ["LOCATION"]
    calls = len(backend.prompts)
    tool.run("They flew to Kigali.", backend, calibrate=True)
    assert len(backend.prompts) == calls + 1, "the content-free baseline is cached"


# ---- demonstration selection --------------------------------------------------------------------
POOL = [
    {"input": "The soup was cold and bland.", "output": "negative"},
    {"input": "A gripping film with a great cast.", "output": "positive"},
    {"input": "The film was boring and far too long.", "output": "negative"},
    {"input": "Lovely soup, friendly staff.", "output": "positive"},
    {"input": "Great battery life.", "output": "positive"},
]


def test_the_nearest_examples_of_each_label_are_chosen_nearest_last() -> None:
    pool = DemonstrationPool(POOL)
    chosen = pool.nearest("what a boring film", per_label=1, labels=["positive", "negative"])
    assert [e["input"] for e in chosen] == ["A gripping film with a great cast.", "The film was boring and far too long."]
    chosen = pool.nearest("the soup", per_label=1, labels=["positive", "negative"])
    assert {e["input"] for e in chosen} == {"The soup was cold and bland.", "Lovely soup, friendly staff."}


def test_similarity_weights_rare_words_over_common_ones() -> None:
    pool = DemonstrationPool(POOL)
    scores = pool.similarities("great soup")
    # "soup" occurs in two examples and "great" in two: equal weight; "battery" in one is rarer.
    assert scores[4] > 0 and scores[0] > 0
    assert pool.similarities("battery")[4] > pool.similarities("great")[4]
    assert pool.similarities("zebra") == [0.0] * len(POOL), "words the pool never saw carry no evidence"


@given(st.text(max_size=60), st.integers(1, 3))
def test_selection_is_balanced_deterministic_and_from_the_pool(text: str, per_label: int) -> None:
    pool = DemonstrationPool(POOL)
    chosen = pool.nearest(text, per_label, ["positive", "negative"])
    assert chosen == pool.nearest(text, per_label, ["positive", "negative"])
    counts = {label: sum(e["output"] == label for e in chosen) for label in ("positive", "negative")}
    assert counts == {"positive": min(per_label, 3), "negative": min(per_label, 2)}
    assert all(e in POOL for e in chosen)


# ---- one type per name within a text ------------------------------------------------------------
def typed(text: str, start: int, probabilities: list[float]) -> Any:
    plugin = get_tool("ner").tool
    module = __import__(type(plugin).__module__)
    span = Span(start, start + len(text), text)
    return module.TypedSpan(0, span, ["PERSON", "LOCATION", "ORGANIZATION", ""], probabilities)


def consistent(items: list[Any]) -> list[str]:
    module = __import__(type(get_tool("ner").tool).__module__)
    return [t.kind for t in module.consistent_types(items, "PERSON")]


def test_mentions_of_one_name_pool_their_evidence() -> None:
    items = [typed("Jordan", 0, [0.2, 0.7, 0.1, 0.0]), typed("Jordan", 30, [0.9, 0.05, 0.05, 0.0])]
    assert consistent(items) == ["PERSON", "PERSON"]  # 1.1 person vs 0.75 place


def test_a_surname_follows_the_full_name_typed_person() -> None:
    items = [
        typed("Maria Okonkwo", 0, [0.8, 0.1, 0.1, 0.0]),
        typed("Okonkwo", 40, [0.05, 0.05, 0.9, 0.0]),
        typed("Okonkwo Holdings", 60, [0.1, 0.1, 0.8, 0.0]),
    ]
    assert consistent(items) == ["PERSON", "PERSON", "ORGANIZATION"]
    module = __import__(type(get_tool("ner").tool).__module__)
    surname = module.consistent_types(items, "PERSON")[1]
    assert surname.probabilities == pytest.approx([0.8, 0.1, 0.1, 0.0]), "the full name's distribution"


def test_different_names_keep_their_own_types() -> None:
    items = [typed("Lima", 0, [0.1, 0.8, 0.1, 0.0]), typed("Peru", 10, [0.1, 0.1, 0.8, 0.0])]
    assert consistent(items) == ["LOCATION", "ORGANIZATION"]


# ---- sentiment: tokenized input, examples chosen per input -------------------------------------
def test_sentiment_shows_tokenized_input_with_its_usual_spacing() -> None:
    backend = TableBackend(lambda prompt, c: -1.0)
    get_tool("sentiment").run("it 's not bad , is n't it", backend)
    assert backend.prompts[-1].endswith("Review: it's not bad, isn't it\nSentiment:")


def test_sentiment_with_similar_examples_shows_the_pools_nearest_per_input() -> None:
    backend = TableBackend(lambda prompt, c: -1.0)
    tool = get_tool("sentiment")
    tool.run("The hotel shower was cold.", backend, examples="similar")
    tool.run("The concert sound was muddy.", backend, examples="similar")
    hotel, concert = backend.prompts[-2:]
    assert "Review: The shower was cold, the bed was hard" in hotel and "muddy" not in hotel.rsplit("Review:", 1)[0]
    assert "Review: The sound was muddy" in concert
    assert hotel.count("Review:") == concert.count("Review:") == 5, "2 per label, then the input"
    fixed = TableBackend(lambda prompt, c: -1.0)
    tool.run("The hotel shower was cold.", fixed)
    assert "Review: The staff were friendly" in fixed.prompts[-1], "the default keeps the template's examples"


def test_similar_examples_never_push_a_long_input_past_the_context() -> None:
    class Small(TableBackend):
        context_length = 600

    backend = Small(lambda prompt, c: -1.0)
    text = " ".join(f"the hotel room number {i} was fine but the shower was cold" for i in range(60))
    get_tool("sentiment").run(text, backend, examples="similar")
    assert len(backend.prompts) > 1
    assert max(backend.count_tokens(p) for p in backend.prompts) < 600


# ---- a name in its sentence and as a bare name (view=bare) -------------------------------------------
def ner_module() -> Any:
    return __import__(type(get_tool("ner").tool).__module__)


def test_the_two_views_of_a_name_are_averaged() -> None:
    mixed = ner_module().mix_views([0.7, 0.2, 0.1, 0.0], [0.1, 0.8, 0.0, 0.1])
    assert mixed == pytest.approx([0.4, 0.5, 0.05, 0.05])
    with pytest.raises(ValueError):
        ner_module().mix_views([0.5, 0.5], [1.0])


@given(st.lists(st.floats(0.01, 1.0), min_size=2, max_size=6), st.integers(0, 1000))
def test_the_average_of_two_distributions_is_one(weights: list[float], seed: int) -> None:
    first = softmax([math.log(w) for w in weights])
    second = softmax([math.log(w) for w in reversed(weights)])
    mixed = ner_module().mix_views(first, second)
    assert sum(mixed) == pytest.approx(1.0) and min(mixed) > 0


def test_a_bare_name_corrects_what_the_sentence_suggests_and_is_scored_once_per_backend() -> None:
    # In its sentence the model leans organization (a sports report); as a bare name it is a clear place.
    def table(prompt: str, candidate: str) -> float:
        bare = prompt.endswith("Sentence: Kigali\nKigali:")
        if bare:
            return {" place": -0.1}.get(candidate, -5.0)
        return {" organization": -0.6, " place": -0.9}.get(candidate, -5.0)

    backend = TableBackend(table)
    tool = get_tool("ner")
    text = "Kigali beat the visitors 2-1."
    assert [e.type for e in tool.run(text, backend, view="bare").entities] == ["LOCATION"]
    assert sum(p.endswith("Sentence: Kigali\nKigali:") for p in backend.prompts) == 1
    tool.run(text, backend, view="bare")
    assert sum(p.endswith("Sentence: Kigali\nKigali:") for p in backend.prompts) == 1, "cached for this backend"
    other = TableBackend(table)
    tool.run(text, other, view="bare")
    assert sum(p.endswith("Sentence: Kigali\nKigali:") for p in other.prompts) == 1, "another backend scores anew"
    assert [e.type for e in tool.run(text, TableBackend(table), view="none").entities] == ["ORGANIZATION"]


def test_a_name_the_sentence_makes_clear_is_not_scored_again() -> None:
    def table(prompt: str, candidate: str) -> float:
        return {" person": 0.0}.get(candidate, -6.0)  # ~0.99 person in its sentence

    backend = TableBackend(table)
    result = get_tool("ner").run("Yesterday Ana Lopez spoke.", backend, view="bare")
    assert [(e.text, e.type) for e in result.entities] == [("Ana Lopez", "PERSON")]
    assert not any(p.endswith("Sentence: Ana Lopez\nAna Lopez:") for p in backend.prompts)


def test_a_backend_that_cannot_be_hashed_still_gets_the_bare_name_view() -> None:
    class Unhashable(TableBackend):
        __hash__ = None  # type: ignore[assignment]

    def table(prompt: str, candidate: str) -> float:
        if prompt.endswith("Sentence: Kigali\nKigali:"):
            return {" place": -0.1}.get(candidate, -5.0)
        return {" organization": -0.6, " place": -0.9}.get(candidate, -5.0)

    backend = Unhashable(table)
    assert [e.type for e in get_tool("ner").run("Kigali beat the visitors 2-1.", backend, view="bare").entities] == [
        "LOCATION"
    ]
    kind = Unhashable(lambda prompt, c: {" city": -0.1}.get(c, -5.0) if prompt.endswith("Kigali is a") else -1.0)
    assert [e.type for e in get_tool("ner").run("Kigali beat the visitors 2-1.", kind).entities] == ["LOCATION"]


# ---- the kind view ("<name> is a" country, company, ...) -------------------------------------------
def test_a_types_share_is_the_sum_of_its_nouns_probabilities() -> None:
    scores = [math.log(0.1), math.log(0.2), math.log(0.3), math.log(0.4)]  # person | place, place | other
    assert ner_module().kind_distribution(scores, [1, 2, 1]) == pytest.approx([0.1, 0.5, 0.4])
    # Scores need not be normalised: only their differences count.
    shifted = [s - 7.0 for s in scores]
    assert ner_module().kind_distribution(shifted, [1, 2, 1]) == pytest.approx([0.1, 0.5, 0.4])
    with pytest.raises(ValueError):
        ner_module().kind_distribution(scores, [2, 1])
    with pytest.raises(ValueError):
        ner_module().kind_distribution(scores, [4, 0])


@given(st.lists(st.floats(-30.0, 0.0), min_size=2, max_size=12), st.integers(1, 4))
def test_the_kind_distribution_is_a_distribution(scores: list[float], groups: int) -> None:
    groups = min(groups, len(scores))
    sizes = [len(scores) // groups] * groups
    sizes[-1] += len(scores) - sum(sizes)
    shares = ner_module().kind_distribution(scores, sizes)
    assert len(shares) == groups and sum(shares) == pytest.approx(1.0) and min(shares) >= 0.0


def test_each_noun_counts_for_one_type_and_a_requested_type_keeps_its_own_word() -> None:
    module = ner_module()
    default = module.kind_nouns(["person", "place", "organization", "other"])
    assert [group[0] for group in default] == ["person", "place", "organization", "nationality"]
    assert "event" in default[3] and "country" in default[1] and "company" in default[2]
    with_event = module.kind_nouns(["person", "event", "other"])
    assert with_event[1] == ["event"] and "event" not in with_event[2] and with_event[2]
    assert module.kind_nouns(["animal"]) == [["animal"]], "a type without listed nouns is its own noun"
    everything = module.kind_nouns(
        ["nationality", "language", "religion", "event", "product", "title", "holiday", "day", "other"]
    )
    assert everything[-1] == ["other"], "a type left with no noun keeps its word"
    nouns = [n for group in everything for n in group]
    assert len(nouns) == len(set(nouns))


def test_the_kind_view_corrects_what_the_sentence_suggests_with_the_same_cached_prefix() -> None:
    # In its sentence the model leans organization; by itself the name is clearly a city (one of the
    # place nouns), and nationality/organization nouns share the rest.
    def table(prompt: str, candidate: str) -> float:
        if prompt.endswith("Kigali is a"):
            return {" city": -0.2, " country": -2.0, " company": -3.0}.get(candidate, -8.0)
        return {" organization": -0.6, " place": -0.9}.get(candidate, -5.0)

    backend = TableBackend(table)
    tool = get_tool("ner")
    text = "Kigali beat the visitors 2-1."
    assert [e.type for e in tool.run(text, backend).entities] == ["LOCATION"]
    kind_prompts = [p for p in backend.prompts if p.endswith("Kigali is a")]
    sentence_prompts = [p for p in backend.prompts if p.endswith("Kigali:")]
    assert len(kind_prompts) == 1 and len(sentence_prompts) == 1
    shared = sentence_prompts[0].rsplit("\n\nSentence: ", 1)[0]
    assert kind_prompts[0] == shared + "\n\nKigali is a", "the instructions and examples are shared, for the KV cache"
    tool.run(text, backend)
    assert sum(p.endswith("Kigali is a") for p in backend.prompts) == 1, "cached for this backend"
    assert [e.type for e in tool.run(text, TableBackend(table), view="none").entities] == ["ORGANIZATION"]


def test_a_name_the_sentence_makes_clear_is_not_asked_its_kind() -> None:
    def table(prompt: str, candidate: str) -> float:
        return {" person": 0.0}.get(candidate, -6.0)  # ~0.99 person in its sentence

    backend = TableBackend(table)
    result = get_tool("ner").run("Yesterday Ana Lopez spoke.", backend)
    assert [(e.text, e.type) for e in result.entities] == [("Ana Lopez", "PERSON")]
    assert not any(p.endswith("Ana Lopez is a") for p in backend.prompts)


def test_the_kind_view_is_averaged_with_the_sentence_and_has_no_none() -> None:
    # Sentence: person 0.5, none 0.5 (others ~0); by itself: all on "person" nouns. Average: person 0.75.
    def table(prompt: str, candidate: str) -> float:
        if prompt.endswith("Ana Lopez is a"):
            return {" person": 0.0, " woman": 0.0}.get(candidate, -40.0)
        return {" person": 0.0, " none": 0.0}.get(candidate, -40.0)

    result = get_tool("ner").run("Yesterday Ana Lopez spoke.", TableBackend(table))
    assert [(e.text, e.type) for e in result.entities] == [("Ana Lopez", "PERSON")]
    assert result.entities[0].probability == pytest.approx(0.75)

"""The sentiment and NER tools on slices of the public sets, with the real default model.

``benchmarks/tools_eval.py`` measures the full sets (docs/tools.md); these run
20 rows each and assert floors well under those numbers, so they catch a
broken prompt, scorer or span finder (which lands near chance) without making
CI slow or flaky.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from assistant import get_tool, load_backend
from benchmarks.tools_eval import ner_report, sentiment_accuracy
from benchmarks.tools_metrics import PUBLIC_DATA, conll_rows, load_jsonl

pytestmark = pytest.mark.model

SLICE = 20


@pytest.fixture(scope="module")
def smollm2(smollm2_path: Path) -> Iterator[Any]:
    backend = load_backend("llama-cpp", str(smollm2_path), n_ctx=2048, progress=lambda message: None)
    yield backend
    backend.unload()


def test_sst2_slice_accuracy_is_far_above_chance(smollm2: Any) -> None:
    rows = load_jsonl(PUBLIC_DATA / "sst2-dev.jsonl")[:SLICE]
    accuracy, cost = sentiment_accuracy(get_tool("sentiment"), smollm2, rows, ["positive", "negative"])
    assert accuracy >= 0.7, f"SST-2 accuracy {accuracy:.0%} on {SLICE} rows (full set: docs/tools.md)"
    assert cost.evaluations == 1.0, "one prompt evaluation per text"


def test_conll_slice_finds_and_types_entities(smollm2: Any) -> None:
    rows = conll_rows()[:SLICE]
    report, cost = ner_report(get_tool("ner"), smollm2, rows, ("PERSON", "LOCATION", "ORGANIZATION"))
    assert report.spans.f1 >= 0.7, f"span-only F1 {report.spans.f1:.2f}"
    assert report.typed.f1 >= 0.5, f"typed F1 {report.typed.f1:.2f}\n{report.confusion_table()}"
    assert cost.evaluations <= 8, "about two prompt evaluations per candidate span: in its sentence and its kind"


CORE_NAMES = {
    "Canada": "LOCATION", "Tokyo": "LOCATION", "Microsoft": "ORGANIZATION",
    "Toyota": "ORGANIZATION", "Angela Merkel": "PERSON", "John Smith": "PERSON",
}
"""Names whose usual type is clear, for the second views of plugins/ner.py."""


def _ner_offering_core_types() -> tuple[Any, list[str], list[str]]:
    """The ner plugin, the type words it offers for PERSON/LOCATION/ORGANIZATION, and the kinds ("" = none)."""
    plugin = get_tool("ner").tool
    module = __import__(type(plugin).__module__)
    types = module.offered_types(module.check_types(["PERSON", "LOCATION", "ORGANIZATION"]))
    return plugin, types, [*types, ""]


def test_bare_names_are_typed_as_what_they_usually_are(smollm2: Any) -> None:
    # The earlier second view of plugins/ner.py (view=bare): a name with no sentence around it.
    plugin, types, kinds = _ner_offering_core_types()
    names = CORE_NAMES
    typed = {}
    for name in names:
        probabilities = plugin._bare_name(smollm2, name, types, False)
        assert probabilities is not None and sum(probabilities) == pytest.approx(1.0)
        typed[name] = kinds[max(range(len(kinds)), key=lambda i: probabilities[i])]
    right = sum(typed[name] == expected for name, expected in names.items())
    assert right >= 4, typed


def test_the_kind_view_knows_places_companies_people_and_other_names(smollm2: Any) -> None:
    # The second view of plugins/ner.py (view=kind): "<name> is a" continued by nouns, summed per type.
    # Nationalities and events must go to "other" (MISC) often: the sentence view almost never says so.
    plugin, types, kinds = _ner_offering_core_types()
    core = CORE_NAMES
    other = ("Peruvian", "Icelandic", "Vietnamese", "Kenyan", "Buddhist", "Eurovision")
    typed = {}
    for name in (*core, *other):
        probabilities = plugin._kind(smollm2, name, types)
        assert probabilities is not None and sum(probabilities) == pytest.approx(1.0)
        assert probabilities[-1] == 0.0, "the kind view never says none"
        typed[name] = kinds[max(range(len(kinds)), key=lambda i: probabilities[i])]
    assert sum(typed[name] == expected for name, expected in core.items()) >= 5, typed
    assert sum(typed[name] == "MISC" for name in other) >= 3, typed

"""The four tools on the real default model (SmolLM2-135M, llama-cpp).

A handful of cases only: accuracy over the full evaluation sets is measured by
``benchmarks/tools_eval.py`` (docs/tools.md), not here.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterator

import pytest

from assistant import get_tool, load_backend

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def smollm2(smollm2_path: Path) -> Iterator[Any]:
    backend = load_backend("llama-cpp", str(smollm2_path), n_ctx=1024, progress=lambda message: None)
    yield backend
    backend.unload()


@pytest.mark.parametrize(
    "text, label",
    [
        ("The bakery's bread is fresh and the owners are lovely.", "positive"),
        ("My new kettle leaks and customer support ignored me.", "negative"),
    ],
)
def test_sentiment(smollm2: Any, text: str, label: str) -> None:
    result = get_tool("sentiment").run(text, smollm2)
    assert result.label == label
    assert math.isclose(sum(result.probabilities.values()), 1.0)
    assert result.probabilities[label] > 0.5


def test_ner_spans_and_types(smollm2: Any) -> None:
    text = "Jacinda Ardern met engineers from Siemens in Auckland. Later she flew to Oslo."
    result = get_tool("ner").run(text, smollm2)
    found = {(e.text, e.type) for e in result.entities}
    # (SmolLM2 calls "Auckland" an organization here: the model's error, measured in docs/tools.md.)
    assert {("Jacinda Ardern", "PERSON"), ("Siemens", "ORGANIZATION"), ("Oslo", "LOCATION")} <= found
    assert "Later" not in {e.text for e in result.entities}
    for entity in result.entities:
        assert text[entity.start : entity.end] == entity.text
        assert entity.type in ("PERSON", "LOCATION", "ORGANIZATION")


@pytest.mark.parametrize(
    "text, types, expected",
    [
        ("Marie Curie moved to Paris in 1891.", ["PERSON", "DATE"], {("Marie Curie", "PERSON"), ("1891", "DATE")}),
        (
            "On Monday Barack Obama met Angela Merkel in Berlin.",
            ["PER", "LOC", "DATE"],
            {("Monday", "DATE"), ("Barack Obama", "PER"), ("Angela Merkel", "PER"), ("Berlin", "LOC")},
        ),
        (
            "The World Health Organization said Ebola spread in Liberia.",
            ["LOCATION", "DISEASE"],
            {("Ebola", "DISEASE"), ("Liberia", "LOCATION")},
        ),
    ],
)
def test_ner_custom_type_sets(smollm2: Any, text: str, types: list[str], expected: set[tuple[str, str]]) -> None:
    result = get_tool("ner").run(text, smollm2, types=types)
    assert {(e.text, e.type) for e in result.entities} == expected
    assert result.types == types


def test_long_input_is_summarised_without_context_overflow(smollm2: Any) -> None:
    paragraph = (
        "The town council met on Monday to discuss the new library. Members agreed that the old building "
        "is too small and that a new one should open near the station. The budget will be decided next month."
    )
    text = "\n\n".join(f"{paragraph} (Section {i}.)" for i in range(50))
    assert smollm2.count_tokens(text) > 2 * smollm2.context_length
    result = get_tool("summarize").run(text, smollm2, length="sentence")
    assert result.chunks > 1 and result.rounds >= 2
    assert result.summary.strip()


def test_translate_keeps_paragraphs(smollm2: Any) -> None:
    result = get_tool("translate").run("Good morning.\n\nThank you very much.", smollm2, to="fr")
    assert result.target == "French" and result.paragraphs == 2
    first, second = result.translation.split("\n\n")
    assert first.strip() and second.strip()
    assert result.translation != "Good morning.\n\nThank you very much."


BULLET_TEXTS = [
    "The city council of Riverton voted 7-2 on Tuesday night to approve a new public library near the central "
    "railway station. The current library, built in 1962, has been described by staff as cramped and difficult to "
    "heat. The new building will have three floors, a children's wing and a small cafe, and is expected to cost 14 "
    "million dollars. Construction is scheduled to begin next spring and to finish in about two years.",
    "To make a simple tomato soup, first heat two tablespoons of olive oil in a large pot. Add one chopped onion "
    "and two cloves of garlic and cook them gently for five minutes until soft. Then add a kilo of chopped ripe "
    "tomatoes, a pinch of sugar and 500 millilitres of vegetable stock. Let the soup simmer for twenty minutes. "
    "Blend it until smooth, season with salt and pepper, and serve it hot with fresh bread.",
    "To reset your router, first unplug it from the power socket and wait thirty seconds. Plug it back in and wait "
    "until the power light turns solid green, which takes about two minutes. If you still cannot connect, press "
    "and hold the small reset button on the back for ten seconds with a paperclip.",
]


@pytest.mark.parametrize("text", BULLET_TEXTS, ids=["news", "recipe", "router"])
def test_bullets_succeed(smollm2: Any, text: str) -> None:
    result = get_tool("summarize").run(text, smollm2, length="bullets")
    lines = result.summary.splitlines()
    assert len(lines) >= 2 and all(line.startswith("- ") and line[2:].strip() for line in lines)
    assert result.to_dict()["bullets"] in ("list", "sentences")

"""A real SmolLM2 run of the few-shot sentiment template (label scoring through llama-cpp)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from assistant.backends import Backend, load_backend
from assistant.templates import load_template, run_template
from assistant.templates.testing import run_tests

pytestmark = pytest.mark.model

# Reviews that are not among the template's examples (docs/templates.md quotes this 12 of 12).
REVIEWS = [
    ("What a wonderful, moving story. I cried at the end.", "positive"),
    ("Terrible service, the room was dirty and smelled.", "negative"),
    ("The best pizza I have ever had!", "positive"),
    ("Boring plot and wooden acting; I walked out halfway.", "negative"),
    ("Fast shipping and the shoes fit perfectly.", "positive"),
    ("The app crashes every time I open it.", "negative"),
    ("I absolutely love this phone.", "positive"),
    ("This was a complete waste of money.", "negative"),
    ("Friendly staff and a lovely view from our balcony.", "positive"),
    ("The sequel is awful, a lazy cash grab.", "negative"),
    ("Not bad at all, I would buy it again.", "positive"),
    ("I wanted to like it, but it was disappointing.", "negative"),
]


@pytest.fixture(scope="module")
def smollm2(smollm2_path: Path) -> Iterator[Backend]:
    backend = load_backend("llama-cpp", str(smollm2_path), n_ctx=1024, progress=lambda _: None)
    yield backend
    backend.unload()


def test_few_shot_sentiment_on_smollm2(smollm2: Backend) -> None:
    template = load_template("few-shot-sentiment")
    answers = []
    for text, _ in REVIEWS:
        result = run_template(template, input=text, backend=smollm2)
        assert result.ok and result.scores is not None and set(result.scores) == {"positive", "negative"}
        assert result.answer == max(result.scores, key=lambda label: result.scores[label])
        assert result.usage.prompt_tokens > 50 and result.usage.completion_tokens == 0
        answers.append(result.answer)
    assert answers == [label for _, label in REVIEWS]


def test_few_shot_sentiment_ships_passing_tests_on_smollm2(smollm2: Backend) -> None:
    report = run_tests(load_template("few-shot-sentiment"), smollm2)
    assert [case.reason for case in report.cases if not case.passed] == []
    assert report.pass_rate == 1.0 and report.model


@pytest.mark.parametrize("strategy", ["chat", "zero-shot", "few-shot", "chain-of-thought"])
def test_every_starter_passes_its_own_tests_on_smollm2(
    smollm2: Backend, user_templates: Path, strategy: str
) -> None:
    """`templates new -s STRATEGY` writes a template whose shipped test passes on the default model."""
    from assistant.templates.scaffold import write_new_template

    write_new_template(f"starter-{strategy}", strategy)
    report = run_tests(load_template(f"starter-{strategy}"), smollm2)
    assert [case.reason for case in report.cases if not case.passed] == []


# Questions that are neither the few-shot template's examples nor its tests.
HELD_OUT = [
    ("What is the capital of Spain?", "Madrid"),
    ("What is the capital of Russia?", "Moscow"),
    ("What is the capital of China?", "Beijing"),
    ("What is the capital of Egypt?", "Cairo"),
    ("What is the capital of Japan?", "Tokyo"),
    ("What is the capital of England?", "London"),
    ("What color is grass?", "green"),
    ("What is the opposite of hot?", "cold"),
]


def test_few_shot_ships_passing_tests_on_smollm2(smollm2: Backend) -> None:
    report = run_tests(load_template("few-shot"), smollm2)
    assert [case.reason for case in report.cases if not case.passed] == []


def test_few_shot_generalises_beyond_its_tests_on_smollm2(smollm2: Backend) -> None:
    """The layout, not the tests' questions, makes the template work.

    With a completion-style ``Q: …\\nA:`` body inside chat turns SmolLM2 got half
    of these 8 (``Spain``, ``Saint Petersburg``…); with the bare question as the
    user turn, 8 of 8. One miss is tolerated, a layout regression is not.
    """
    template = load_template("few-shot")
    right = [
        expected.lower() in (run_template(template, input=question, backend=smollm2).answer or "").lower()
        for question, expected in HELD_OUT
    ]
    assert sum(right) >= len(HELD_OUT) - 1, right

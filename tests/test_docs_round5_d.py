"""Behaviour that docs/tools.md and docs/backends-transformers.md describe (round 5 check)."""

from __future__ import annotations

from typing import Sequence

from assistant.backends.fake import FakeBackend
from assistant.tools import get_tool


class PromptRecorder(FakeBackend):
    """A fake backend that keeps every prompt it is asked to score."""

    def __init__(self) -> None:
        super().__init__()
        self.load("fake-model")
        self.prompts: list[str] = []

    def score(self, prompt: str, candidates: Sequence[str]) -> list[float]:
        self.prompts.append(prompt)
        return super().score(prompt, candidates)


def test_ner_short_type_names_label_the_examples_like_the_full_ones() -> None:
    """`PER`/`LOC`/`ORG`/`GPE` are understood (docs/tools.md): the prompt is the one the full names give."""
    text = "Ana Lopez flew to Paris."
    full, short = PromptRecorder(), PromptRecorder()
    get_tool("ner").run(text, full, types=["PERSON", "LOCATION", "ORGANIZATION"])
    get_tool("ner").run(text, short, types=["PER", "GPE", "ORG"])
    assert short.prompts == full.prompts
    assert "Barack Obama: person" in short.prompts[0]

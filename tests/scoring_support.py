"""A fake backend whose label scores come from a table: tests of scoring tools and their arithmetic."""

from __future__ import annotations

from typing import Callable, Sequence

from assistant.backends.fake import FakeBackend


class TableBackend(FakeBackend):
    """Scores from ``table(prompt, candidate)`` (log-probabilities), loaded and ready."""

    def __init__(self, table: Callable[[str, str], float]) -> None:
        super().__init__()
        self.load("fake-model")
        self.table = table

    def score(self, prompt: str, candidates: Sequence[str]) -> list[float]:  # type: ignore[override]
        return [self.table(prompt, c) for c in candidates]

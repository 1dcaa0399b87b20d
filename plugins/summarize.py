"""First-party tool ``summarize``: any length of text, in a sentence, a short paragraph or bullets.

Input that does not fit the model's context is split into chunks that do
(counted with the backend's tokenizer), each chunk is summarised, and the
summaries are combined — in several rounds if even they do not fit together
(map-reduce). Every prompt is measured before it is sent, so long input never
meets a context overflow.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping

from assistant import hookimpl
from assistant.errors import ToolError
from assistant.tools import BaseTool, Parameter, Progress, SummaryResult
from assistant.tools.context import SAFETY_MARGIN, context_window, input_budget, token_counter
from assistant.tools.generate import generate_checked
from assistant.tools.prompts import render
from assistant.tools.text import chunk_text, split_sentences
from assistant.types import GenerationParams

MAX_SUMMARY_TOKENS = {"sentence": 80, "short": 200, "bullets": 250}
DEFAULT_CHUNK_TOKENS = 2048
"""Small models summarise a couple of thousand tokens far better than a full 8k window."""

_PREAMBLE = re.compile(r"^\s*(?:here(?:'s| is) (?:a |the )?(?:short |brief )?summary[^:\n]*:|summary:)\s*", re.I)
_BULLET = re.compile(r"^\s*(?:[-*•‣]|\d+[.)])\s+")


def clean_summary(text: str) -> str | None:
    cleaned = _PREAMBLE.sub("", text.strip()).strip()
    return cleaned or None


def clean_sentence(text: str) -> str | None:
    """One sentence was asked for: small models often add more, so keep the first."""
    body = clean_summary(text)
    if body is None:
        return None
    sentences = split_sentences(body)
    return sentences[0] if sentences else None


def clean_bullets(text: str) -> str | None:
    """Normalise any list style to "- " bullets; a reply without list items is rejected."""
    body = clean_summary(text)
    if body is None:
        return None
    items = [_BULLET.sub("", line).strip() for line in body.splitlines() if _BULLET.match(line)]
    items = [item for item in items if item]
    return "\n".join(f"- {item}" for item in items) if items else None


class Summarize(BaseTool):
    name = "summarize"
    description = "Summarize text of any length as one sentence, a short paragraph or bullet points."
    parameters = (
        Parameter(
            "length",
            "choice",
            help="sentence, short (a paragraph) or bullets",
            default="short",
            choices=("sentence", "short", "bullets"),
        ),
        Parameter(
            "chunk_tokens",
            "int",
            help="most input tokens summarised at once (0: as many as the context holds)",
            default=DEFAULT_CHUNK_TOKENS,
        ),
    )
    templates = ("summarize", "summarize-combine")

    def run(
        self, text: str, params: Mapping[str, Any], backend: Any, progress: Progress | None = None
    ) -> SummaryResult:
        length: str = params["length"]
        if not text.strip():
            raise ToolError("nothing to summarize: the input is empty")
        limit = min(MAX_SUMMARY_TOKENS[length], max(16, context_window(backend) // 8))
        count = token_counter(backend)
        budget = min(
            input_budget(backend, lambda t, how=how: render("summarize", {"input": t, "length": how}), limit)
            for how in {length, "short"}
        )
        if params["chunk_tokens"] and params["chunk_tokens"] > 0:
            budget = min(budget, params["chunk_tokens"])
        chunks = chunk_text(text, count, budget)
        if len(chunks) == 1:
            summary = self._summarize(backend, chunks[0], length, limit)
            return SummaryResult(summary=summary, length=length, chunks=1, rounds=1)

        report = progress or (lambda done, total, message: None)
        summaries: list[str] = []
        for index, chunk in enumerate(chunks):
            report(index, len(chunks), f"summarizing part {index + 1} of {len(chunks)}")
            summaries.append(self._summarize(backend, chunk, "short", limit))
        report(len(chunks), len(chunks), "combining the summaries")
        rounds = 1
        while True:
            rounds += 1
            final = self._groups(backend, summaries, length, limit)
            if len(final) == 1:
                summary = self._combine(backend, final[0], length, limit)
                return SummaryResult(summary=summary, length=length, chunks=len(chunks), rounds=rounds)
            groups = self._groups(backend, summaries, "short", limit)
            if len(groups) >= len(summaries):
                raise ToolError("the context window is too small to combine the partial summaries; raise n_ctx")
            summaries = [self._combine(backend, group, "short", limit) for group in groups]

    # ---- steps ------------------------------------------------------------------
    def _params(self, limit: int) -> GenerationParams:
        return GenerationParams(max_tokens=limit, temperature=0.0, repeat_penalty=1.1)

    def _validator(self, length: str) -> Callable[[str], str | None]:
        return {"bullets": clean_bullets, "sentence": clean_sentence}.get(length, clean_summary)

    def _summarize(self, backend: Any, chunk: str, length: str, limit: int) -> str:
        messages = render("summarize", {"input": chunk, "length": length})
        return generate_checked(backend, messages, self._params(limit), self._validator(length), "summary")

    def _combine(self, backend: Any, summaries: list[str], length: str, limit: int) -> str:
        messages = render("summarize-combine", {"summaries": summaries, "length": length})
        return generate_checked(backend, messages, self._params(limit), self._validator(length), "summary")

    def _groups(self, backend: Any, summaries: list[str], length: str, limit: int) -> list[list[str]]:
        """Consecutive summaries packed so each group's combine prompt fits with room for the reply."""
        room = context_window(backend) - limit - SAFETY_MARGIN
        groups: list[list[str]] = [[]]
        for summary in summaries:
            trial = [*groups[-1], summary]
            prompt = render("summarize-combine", {"summaries": trial, "length": length})
            if backend.count_tokens(prompt) <= room:
                groups[-1] = trial
            elif groups[-1]:
                groups.append([summary])
            else:
                raise ToolError("the context window is too small to combine the partial summaries; raise n_ctx")
        return groups


@hookimpl
def register_tools(register: Callable[[Any], None]) -> None:
    register(Summarize())

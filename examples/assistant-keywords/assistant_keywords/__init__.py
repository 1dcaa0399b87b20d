"""assistant-keywords: an example plugin adding a ``keywords`` tool.

Candidate phrases come from the text itself (runs of words between stop words
and punctuation, as in RAKE), so every keyword is really in the text; the model
ranks them by how likely each phrase is as the continuation of "The key topic
of this text is", averaged per token so long phrases are not penalised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from assistant import hookimpl
from assistant.errors import ToolError
from assistant.tools import BaseTool, Parameter, ToolResult
from assistant.tools.context import input_budget, token_counter
from assistant.tools.prompts import completion_text, render
from assistant.tools.text import chunk_text

STOPWORDS = frozenset(
    """a an the and or but if then than so of to in on at by for with from into over under about as is are
    was were be been being it its this that these those there here their they them we our you your he she
    his her i me my not no do does did done has have had will would can could should may might must also
    very more most much many some any each every all both just only such what which who whom when where why
    how while after before during because since until up down out off again further once""".split()
)
_SPLIT = re.compile(r"[^\w\s'-]+|\s+")


def candidate_phrases(text: str, max_words: int = 3) -> list[str]:
    """Runs of up to ``max_words`` non-stop words, first occurrence order, case-insensitively unique."""
    phrases: list[str] = []
    seen: set[str] = set()
    for segment in re.split(r"[.,;:!?()\[\]\"“”\n]+", text):
        run: list[str] = []
        for word in [w for w in _SPLIT.split(segment) if w]:
            if word.lower() in STOPWORDS or word.isdigit():
                _add(run, phrases, seen, max_words)
                run = []
            else:
                run.append(word)
        _add(run, phrases, seen, max_words)
    return phrases


def _add(run: list[str], phrases: list[str], seen: set[str], max_words: int) -> None:
    if not run or len(run) > max_words:
        return
    phrase = " ".join(run)
    if phrase.lower() not in seen and len(phrase) > 2:
        seen.add(phrase.lower())
        phrases.append(phrase)


@dataclass
class KeywordsResult(ToolResult):
    """Key phrases, best first, with the model's mean log-probability per token of each."""

    keywords: list[tuple[str, float]]

    def to_dict(self) -> dict[str, Any]:
        return {"keywords": [{"phrase": phrase, "score": round(score, 4)} for phrase, score in self.keywords]}

    def to_text(self) -> str:
        return "\n".join(phrase for phrase, _ in self.keywords) or "(no keywords)"


class Keywords(BaseTool):
    name = "keywords"
    description = "Rank the key phrases of a text with the model."
    parameters = (Parameter("top", "int", help="how many phrases to return", default=5),)
    templates = ("keywords",)  # prompts/keywords.jinja, registered below
    needs_model = True  # run scores phrases with the model (the default; False: none is loaded for the tool)

    def run(self, text: str, params: Mapping[str, Any], backend: Any) -> KeywordsResult:
        top = params["top"]
        if top < 1:
            raise ToolError("top must be at least 1")
        phrases = candidate_phrases(text)
        if not phrases:
            return KeywordsResult([])

        def prompt(body: str) -> str:
            return completion_text(render("keywords", {"input": body}))

        # Keep the prompt inside the context window: rank against the text's first part if it is long.
        budget = input_budget(backend, prompt, reserve=16)
        head = chunk_text(text, token_counter(backend), budget)[0]
        candidates = [f" {phrase}" for phrase in phrases]
        scores = backend.score(prompt(head), candidates)
        base = backend.count_tokens("")
        per_token = [score / max(1, backend.count_tokens(c) - base) for score, c in zip(scores, candidates)]
        ranked = sorted(zip(phrases, per_token), key=lambda item: -item[1])
        return KeywordsResult(ranked[:top])


@hookimpl
def register_tools(register: Callable[[Any], None]) -> None:
    register(Keywords())


@hookimpl
def register_template_dirs(register: Callable[[Path], None]) -> None:
    # The prompt's wording ships with the plugin; a user overrides it with their own keywords.jinja.
    register(Path(__file__).parent / "prompts")

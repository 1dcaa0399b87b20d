"""Choosing among fixed labels by their likelihood under the model.

Asking a small model to *write* a label is unreliable (it adds words, invents
labels, or says something else); asking it how likely each label is as the
continuation of a prompt is not: the answer is always one of the labels, and
the scores give a probability for each. ``Backend.score`` evaluates the prompt
once and reuses its KV cache for every candidate, so a classification costs
one prompt evaluation plus a few tokens per label.

Backends that cannot score (a remote server without logprobs) raise
:class:`NotSupportedError`; :func:`generate_label` is the fallback there —
the model writes the label, which is validated against the set, retried once,
and otherwise a :class:`ToolError`.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Sequence

from ..errors import ToolError
from ..types import GenerationParams, Message
from .generate import TOOL_STOPPED, within_reach

if TYPE_CHECKING:
    from ..backends.base import Backend, Prompt


def softmax(scores: Sequence[float]) -> list[float]:
    """Probabilities from log-scores (numerically safe for very negative scores)."""
    if not scores:
        return []
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    total = sum(exps)
    return [e / total for e in exps]


def label_scores(
    backend: Backend,
    prompt: Prompt,
    candidates: Sequence[str],
    baseline: Sequence[float] | None = None,
) -> list[float]:
    """Log-likelihood of each candidate after ``prompt``, minus ``baseline`` when given.

    ``baseline`` is the same candidates' scores after a content-free input
    (contextual calibration, Zhao et al. 2021): it removes the model's prior
    preference for a label regardless of the input.
    """
    scores = backend.score(prompt, list(candidates))
    if len(scores) != len(candidates) or not all(math.isfinite(s) for s in scores):
        raise ToolError(f"backend {backend.name!r} returned invalid label scores {scores!r}")
    if baseline is not None:
        scores = [s - b for s, b in zip(scores, baseline)]
    return scores


CONTENT_FREE_INPUTS = ("N/A", "", "[MASK]")
"""Inputs with no content, whose label scores measure the model's prior preference for each label."""


def content_free_baseline(backend: Backend, prompts: Sequence[str], candidates: Sequence[str]) -> list[float]:
    """The ``baseline`` for :func:`label_scores`: log of the mean label distribution over ``prompts``.

    ``prompts`` are the tool's prompt filled with content-free inputs
    (:data:`CONTENT_FREE_INPUTS`). Averaging *probabilities* and subtracting
    their log is Zhao et al.'s diag(p_cf)⁻¹ correction: a label the model
    favours whatever the input loses exactly that favour. (Averaging raw log
    scores instead would also carry each candidate's length, which softmax over
    one prompt already cancels.)
    """
    rows = [log_softmax(label_scores(backend, prompt, candidates)) for prompt in prompts]
    return [log_sum_exp(column) - math.log(len(rows)) for column in zip(*rows)]


def log_sum_exp(values: Sequence[float]) -> float:
    """log(sum(exp(v))), without underflow for very negative values."""
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def log_softmax(scores: Sequence[float]) -> list[float]:
    """Log-probabilities from log-scores (exact even where a probability underflows)."""
    total = log_sum_exp(scores)
    return [s - total for s in scores]


def match_label(text: str, labels: Sequence[str]) -> str | None:
    """The one label that a free-form answer names (first word match), or None if none/ambiguous."""
    words = re.findall(r"[\w-]+", text.lower())
    for word in words:
        hits = [label for label in labels if label.lower() == word]
        if len(hits) == 1:
            return hits[0]
    found = [label for label in labels if re.search(rf"\b{re.escape(label.lower())}\b", text.lower())]
    return found[0] if len(found) == 1 else None


def generate_label(backend: Backend, messages: Sequence[Message], labels: Sequence[str]) -> str:
    """Fallback for backends without ``score``: generate, validate against ``labels``, retry once."""
    attempts = [
        GenerationParams(max_tokens=8, temperature=0.0),
        within_reach(GenerationParams(max_tokens=8, temperature=0.7, seed=1), backend),
    ]
    answers = []
    for params in attempts:
        completion = backend.complete(list(messages), params)
        if completion.finish_reason == "cancelled":  # stopped by the user: no second attempt
            raise ToolError(TOOL_STOPPED)
        answer = completion.text
        answers.append(answer.strip())
        label = match_label(answer, labels)
        if label is not None:
            return label
    raise ToolError(
        f"the model did not answer with one of {', '.join(labels)} (it said {answers[-1][:60]!r}); "
        "try a larger model or a backend that supports scoring"
    )

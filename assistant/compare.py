"""Run one prompt through two backends and measure how far they agree.

Used by ``assistant compare``. The backends are loaded one after the other
(never both at once, so comparing needs no more memory than chatting), each
with the same messages and :class:`GenerationParams`; log-probabilities are
requested so that agreement can be measured beyond the text:

* ``first_difference`` — index of the first generated token that differs
  (``None`` when both produced the same tokens);
* ``top_overlap`` — at each step before that, the share of the top-k next-token
  candidates the two engines have in common (1.0 = the same k tokens).

Token ids are only comparable for the same model (the same vocabulary), which is
what the command is for: one model, two engines.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

from .backends import Prompt, load_backend
from .types import Completion, GenerationParams


@dataclass
class EngineRun:
    """One backend's answer and its measurements."""

    backend: str
    model: str
    text: str
    token_ids: list[int]
    tokens: list[str]
    prompt_token_ids: list[int]
    finish_reason: str
    ttft_ms: float | None
    tokens_per_second: float | None
    load_seconds: float
    top: list[list[int]] = field(default_factory=list)  # top-k candidate ids per step

    @property
    def prompt_tokens(self) -> int:
        return len(self.prompt_token_ids)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["prompt_tokens"] = self.prompt_tokens
        del data["prompt_token_ids"], data["top"]
        return data


@dataclass
class Agreement:
    same_prompt_ids: bool
    first_difference: int | None
    compared_steps: int
    top_k: int
    top_overlap: list[float]

    @property
    def mean_top_overlap(self) -> float | None:
        return sum(self.top_overlap) / len(self.top_overlap) if self.top_overlap else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "mean_top_overlap": self.mean_top_overlap}


def measure_agreement(a: EngineRun, b: EngineRun, top_k: int) -> Agreement:
    """First differing token and the top-k overlap of each step up to it."""
    first: int | None = None
    for index, (x, y) in enumerate(zip(a.token_ids, b.token_ids)):
        if x != y:
            first = index
            break
    else:
        if len(a.token_ids) != len(b.token_ids):
            first = min(len(a.token_ids), len(b.token_ids))
    steps = first if first is not None else len(a.token_ids)
    overlap = []
    for step in range(min(steps, len(a.top), len(b.top))):
        shared = set(a.top[step][:top_k]) & set(b.top[step][:top_k])
        overlap.append(len(shared) / top_k)
    return Agreement(
        same_prompt_ids=a.prompt_token_ids == b.prompt_token_ids,
        first_difference=first,
        compared_steps=steps,
        top_k=top_k,
        top_overlap=overlap,
    )


def run_engine(
    backend_name: str,
    model: str,
    prompt: Prompt,
    params: GenerationParams,
    options: dict[str, Any],
    progress: Callable[[str], None],
) -> EngineRun:
    import time

    started = time.perf_counter()
    engine = load_backend(backend_name, model, progress=progress, **options)
    loaded = time.perf_counter() - started
    try:
        prompt_ids = engine.prompt_token_ids(prompt)
        completion: Completion = engine.complete(prompt, params)
        tokens = [entry.token for entry in completion.logprobs] or [""] * len(completion.token_ids)
        return EngineRun(
            backend=backend_name,
            model=engine.model_name,
            text=completion.text,
            token_ids=list(completion.token_ids),
            tokens=tokens,
            prompt_token_ids=list(prompt_ids),
            finish_reason=completion.finish_reason,
            ttft_ms=completion.timings.ttft_ms,
            tokens_per_second=completion.timings.tokens_per_second,
            load_seconds=loaded,
            top=[[alt.token_id for alt in entry.top] for entry in completion.logprobs],
        )
    finally:
        engine.unload()


def compare(
    prompt: Prompt,
    params: GenerationParams,
    backends: Sequence[str],
    model: str,
    options: dict[str, Any] | None = None,
    top_k: int = 5,
    progress: Callable[[str], None] = lambda _: None,
) -> tuple[list[EngineRun], Agreement]:
    """Run ``prompt`` through both backends (one at a time) and measure their agreement."""
    if len(backends) != 2:
        raise ValueError("compare needs exactly two backends")
    params = params.replace(logprobs=max(params.logprobs, top_k))
    runs = [run_engine(name, model, prompt, params, dict(options or {}), progress) for name in backends]
    return runs, measure_agreement(runs[0], runs[1], top_k)

"""Benchmark: tokenizing a chat prompt with data kept as data (target: < 3x the engine's own tokenize).

``prompt_token_ids(messages)`` renders the chat template twice (plain, and with
each content marked), tokenizes the template segments to find their control
tokens, then every run between two of them with special-token parsing off
(docs/security.md). The baseline, in the same run, is what it replaced:
``render_prompt`` once and one llama.cpp ``tokenize(special=True)`` call over
the whole text. Conversations of 2, 40 and 200 messages on SmolLM2 (llama-cpp).

Run: ``python -m benchmarks.prompt_tokenize`` (results go to docs/performance.md).
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable

from ._report import machine, write_section

TITLE = "Prompt tokenization (data as plain text)"
TARGET_RATIO = 3.0
REPEATS = 7
SIZES = (2, 40, 200)


def _median_ms(func: Callable[[], object], calls: int) -> float:
    func()
    batches = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        for _ in range(calls):
            func()
        batches.append((time.perf_counter() - start) / calls * 1000)
    return statistics.median(batches)


def measure() -> dict[int, tuple[float, float]]:
    from assistant.backends import load_backend
    from assistant.models import resolve_model_path
    from assistant.types import Message

    backend: Any = load_backend("llama-cpp", str(resolve_model_path("smollm2")), n_ctx=8192, progress=lambda _: None)
    results: dict[int, tuple[float, float]] = {}
    try:
        for size in SIZES:
            text = "Some words of an ordinary message, with a question at the end? "
            messages = [Message("user" if i % 2 == 0 else "assistant", text * 3) for i in range(size)]

            def baseline(m: list[Message] = messages) -> object:
                rendered = backend.render_prompt(m)
                return backend._llm.tokenize(rendered.encode(), add_bos=True, special=True)

            assert list(baseline()) == backend.prompt_token_ids(messages)  # type: ignore[call-overload]
            calls = max(3, 200 // size)
            results[size] = (
                _median_ms(lambda m=messages: backend.prompt_token_ids(m), calls),
                _median_ms(baseline, calls),
            )
    finally:
        backend.unload()
    return results


def report(results: dict[int, tuple[float, float]]) -> str:
    rows = "\n".join(
        f"| {size} | {ours:.2f} | {base:.2f} | {ours / base:.2f}x |" for size, (ours, base) in results.items()
    )
    worst = max(ours / base for ours, base in results.values())
    verdict = "meets" if worst < TARGET_RATIO else "MISSES"
    return f"""Median of {REPEATS} batches (`python -m benchmarks.prompt_tokenize`). Machine: {machine()}.

| messages | segmented `prompt_token_ids` (ms) | baseline: render + one `tokenize(special=True)` (ms) | ratio |
| ---: | ---: | ---: | ---: |
{rows}

Worst ratio {worst:.2f}x. Target < {TARGET_RATIO:.0f}x: {verdict}. The ids are identical (checked).

The extra cost is the second, marked render of the chat template and one engine
tokenize call per run between two control tokens instead of one for the whole text.
"""


def main() -> None:
    body = report(measure())
    write_section(TITLE, body)
    print(body)


if __name__ == "__main__":
    main()

"""What per-token probabilities cost: llama-cpp decode tok/s with ``logprobs=5`` vs ``logprobs=0``.

Same loaded model, same prompt, same sampler settings and seed (the defaults:
temperature 0.7, top-k 40, top-p 0.95), so both runs decode the same tokens;
the only difference is the per-step work of :mod:`assistant.inspect.distribution`
(normalizer, top-k kept set, sampled probabilities, five alternatives) and the
``TokenLogprob`` records. Runs alternate so drift hits both equally; the median
of the per-pair ratios is reported. Target: >= 0.90.
"""

from __future__ import annotations

from assistant.backends import load_backend
from assistant.types import GenerationParams, Message

from ._report import machine, median, write_section

PROMPT = [
    Message("system", "You are a helpful assistant."),
    Message("user", "Write a long story about a dragon who learns to bake bread."),
]
TOKENS = 128
REPEATS = 7
PARAMS = GenerationParams(max_tokens=TOKENS, seed=1)  # default sampling settings, fixed seed


def decode_rate(backend, logprobs: int) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    completion = backend.complete(PROMPT, PARAMS.replace(logprobs=logprobs))
    assert len(completion.logprobs) == (completion.usage.completion_tokens if logprobs else 0)
    return float(completion.timings.tokens_per_second), completion.usage.completion_tokens


def main() -> None:
    backend = load_backend("llama-cpp", "smollm2", n_ctx=2048, progress=lambda _: None)
    decode_rate(backend, 0)  # warm-up
    decode_rate(backend, 5)
    ratios, plain, with_probs = [], [], []
    for _ in range(REPEATS):
        base, count = decode_rate(backend, 0)
        probs, same_count = decode_rate(backend, 5)
        assert count == same_count > 32, "both runs must decode the same tokens"
        plain.append(base)
        with_probs.append(probs)
        ratios.append(probs / base)
    ratio = median(ratios)
    verdict = "meets" if ratio >= 0.90 else "MISSES"
    write_section(
        "Per-token probabilities (logprobs) cost",
        f"""
SmolLM2-135M Q4_1 on llama-cpp, temperature 0.7 / top-k 40 / top-p 0.95, seed 1, up to {TOKENS}
tokens ({count} decoded), {REPEATS} alternating pairs (`python -m benchmarks.logprobs_cost`).
Machine: {machine()}.

| run | median decode tok/s |
| --- | --- |
| `-o logprobs=0` | {median(plain):.1f} |
| `-o logprobs=5` (model + sampled probability, 5 alternatives per token) | {median(with_probs):.1f} |

Median ratio logprobs=5 / logprobs=0: **{ratio:.3f}** (target >= 0.90: {verdict}).
""",
    )
    backend.unload()


if __name__ == "__main__":
    main()

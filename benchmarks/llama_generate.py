"""Generation speed through the assistant's llama-cpp backend vs a raw llama-cpp-python loop.

Both run on the same loaded ``Llama`` (same weights, threads, context and sampler
settings: greedy, top_k 40, top_p 0.95, min_p 0, repeat penalty 1), decoding the
same number of tokens from the same prompt. Runs alternate so drift hits both
equally; the median of the per-pair ratios is reported. Target: >= 0.98.
"""

from __future__ import annotations

import time

from assistant.backends import load_backend
from assistant.types import GenerationParams, Message

from ._report import machine, median, write_section

PROMPT = [
    Message("system", "You are a helpful assistant."),
    Message("user", "Write a long story about a dragon who learns to bake bread."),
]
TOKENS = 128
REPEATS = 7


def raw_loop(llm, prompt_ids: list[int]) -> float:  # type: ignore[no-untyped-def]
    """The plain llama-cpp-python way: generate() + detokenize each token, stop at EOS."""
    eos = llm.token_eos()
    count = 0
    first = last = 0.0
    for token in llm.generate(prompt_ids, top_k=40, top_p=0.95, min_p=0.0, temp=0.0, repeat_penalty=1.0):
        now = time.perf_counter()
        if count == 0:
            first = now
        last = now
        if token == eos:
            break
        llm.detokenize([token])
        count += 1
        if count >= TOKENS:
            break
    return (count - 1) / (last - first)


def assistant_loop(backend) -> float:  # type: ignore[no-untyped-def]
    params = GenerationParams(temperature=0, max_tokens=TOKENS, top_k=40, top_p=0.95)
    completion = backend.complete(PROMPT, params)
    assert completion.usage.completion_tokens == TOKENS, "prompt must yield a long reply"
    return float(completion.timings.tokens_per_second)


def main() -> None:
    backend = load_backend("llama-cpp", "smollm2", n_ctx=2048, progress=lambda _: None)
    llm = backend._llm  # the same Llama object: identical settings by construction
    prompt_ids = backend.prompt_token_ids(PROMPT)
    raw_loop(llm, prompt_ids)  # warm-up
    assistant_loop(backend)
    ratios, raws, ours = [], [], []
    for _ in range(REPEATS):
        raw = raw_loop(llm, prompt_ids)
        mine = assistant_loop(backend)
        raws.append(raw)
        ours.append(mine)
        ratios.append(mine / raw)
    ratio = median(ratios)
    verdict = "meets" if ratio >= 0.98 else "MISSES"
    write_section(
        "llama-cpp backend overhead",
        f"""
SmolLM2-135M Q4_1, greedy, {TOKENS} tokens decoded, {REPEATS} alternating pairs
(`python -m benchmarks.llama_generate`). Machine: {machine()}.

| loop | median tok/s |
| --- | --- |
| raw llama-cpp-python (`Llama.generate` + detokenize) | {median(raws):.1f} |
| assistant `LlamaCppBackend.stream` | {median(ours):.1f} |

Median ratio assistant/raw: **{ratio:.3f}** (target >= 0.98: {verdict}).
""",
    )
    backend.unload()


if __name__ == "__main__":
    main()

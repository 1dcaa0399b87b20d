"""Does llama.cpp decode several sequences per batch faster than one at a time, on this CPU?

``python -m benchmarks.llama_multiseq``

The experiment behind ``--parallel`` on the llama-cpp backend (issue #23): SmolLM2
Q4_1 through llama-cpp-python's low-level API, N different prompts, greedy,
``TOKENS`` tokens each, two ways in one run (alternating, medians):

* **one at a time**: each sequence alone in the context (what the backend does
  today, row after row): prompt, then one ``llama_decode`` per token;
* **N per batch**: the N prompts in one ``llama_batch`` (a ``seq_id`` each), then
  one ``llama_decode`` per step carrying one token of every sequence.

Both produce the same greedy tokens (checked). The ratio is rows/s batched ÷
one at a time; the backend batches only if it reaches ``PAYS`` (1.5x).
"""

from __future__ import annotations

import ctypes
import os
import statistics
import sys
import time
from typing import Any

from ._report import machine, write_section

TOKENS = 24
PAYS = 1.5
PAIRS = 3


def _prompts(lib: Any, vocab: Any, count: int) -> list[list[int]]:
    prompts = []
    for n in range(count):
        text = (
            "<|im_start|>user\nLabel the sentiment of: Review "
            f"{n + 1}: the soup was cold but the staff were kind.<|im_end|>\n<|im_start|>assistant\n"
        ).encode()
        buffer = (lib.llama_token * 512)()
        size = lib.llama_tokenize(vocab, text, len(text), buffer, 512, True, True)
        prompts.append(list(buffer[:size]))
    return prompts


class Engine:
    """A model and one context that holds up to ``seqs`` sequences."""

    def __init__(self, path: str, seqs: int, threads: int) -> None:
        import llama_cpp as lib
        import numpy as np

        self.lib, self.np = lib, np
        self._quiet = lib.llama_log_callback(
            lambda level, text, data: None
        )  # kept: llama.cpp holds the pointer
        lib.llama_log_set(self._quiet, ctypes.c_void_p(0))
        lib.llama_backend_init()
        self.model = lib.llama_model_load_from_file(path.encode(), lib.llama_model_default_params())
        self.vocab = lib.llama_model_get_vocab(self.model)
        params = lib.llama_context_default_params()
        params.n_ctx, params.n_batch, params.n_ubatch = 256 * seqs, 512, 512
        params.n_seq_max, params.n_threads, params.n_threads_batch = seqs, threads, threads
        self.ctx = lib.llama_init_from_model(self.model, params)
        self.n_vocab = lib.llama_vocab_n_tokens(self.vocab)
        self.batch = lib.llama_batch_init(512, 0, seqs)

    def close(self) -> None:
        self.lib.llama_batch_free(self.batch)
        self.lib.llama_free(self.ctx)
        self.lib.llama_model_free(self.model)

    def _decode(self, entries: list[tuple[int, int, int, bool]]) -> None:
        """``entries``: (token, position, sequence, wants logits)."""
        batch = self.batch
        for i, (token, pos, seq, logits) in enumerate(entries):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, pos, 1
            batch.seq_id[i][0], batch.logits[i] = seq, logits
        batch.n_tokens = len(entries)
        if self.lib.llama_decode(self.ctx, batch) != 0:
            raise RuntimeError("llama_decode failed")

    def _argmax(self, index: int) -> int:
        row = self.np.ctypeslib.as_array(
            self.lib.llama_get_logits_ith(self.ctx, index), shape=(self.n_vocab,)
        )
        return int(row.argmax())

    def generate(self, prompts: list[list[int]]) -> list[list[int]]:
        """All prompts together: one decode for the prompts, then one per step."""
        self.lib.llama_memory_clear(self.lib.llama_get_memory(self.ctx), True)
        entries, last = [], []
        for seq, prompt in enumerate(prompts):
            entries += [(t, p, seq, p == len(prompt) - 1) for p, t in enumerate(prompt)]
            last.append(len(entries) - 1)
        self._decode(entries)
        out = [[self._argmax(i)] for i in last]
        for step in range(1, TOKENS):
            self._decode(
                [(o[-1], len(p) + step - 1, seq, True) for seq, (p, o) in enumerate(zip(prompts, out))]
            )
            for seq, o in enumerate(out):
                o.append(self._argmax(seq))
        return out


def measure(path: str, rows: int, threads: int) -> dict[str, float]:
    engine = Engine(path, rows, threads)
    try:
        prompts = _prompts(engine.lib, engine.vocab, rows)
        alone_s, together_s, alone_cpu, together_cpu = [], [], [], []
        for _ in range(PAIRS + 1):  # the first pair warms up
            started, cpu = time.perf_counter(), time.process_time()
            alone = [engine.generate([p])[0] for p in prompts]
            alone_s.append(time.perf_counter() - started)
            alone_cpu.append(time.process_time() - cpu)
            started, cpu = time.perf_counter(), time.process_time()
            together = engine.generate(prompts)
            together_s.append(time.perf_counter() - started)
            together_cpu.append(time.process_time() - cpu)
            assert together == alone, "batched greedy tokens differ from one-at-a-time"
    finally:
        engine.close()
    alone_t, together_t = statistics.median(alone_s[1:]), statistics.median(together_s[1:])
    cpu_ratio = statistics.median(alone_cpu[1:]) / statistics.median(together_cpu[1:])
    return {
        "alone": rows / alone_t,
        "together": rows / together_t,
        "ratio": alone_t / together_t,
        "cpu": cpu_ratio,
    }


def main() -> None:
    # Idle OpenMP threads sleep, as in the chat app's engine: with spinning ones, other jobs'
    # load on a small machine decides the 2-thread rows (assistant/backends/engine/threads.py).
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    from assistant.models import resolve_model_path

    path = str(resolve_model_path("smollm2"))
    counts = [int(a) for a in sys.argv[1:]] or [4, 8]
    threads_options = sorted({1, os.cpu_count() or 1})
    lines = []
    results: dict[tuple[int, int], dict[str, float]] = {}
    for threads in threads_options:
        for rows in counts:
            figures = results[threads, rows] = measure(path, rows, threads)
            lines.append(
                f"| {threads} | {rows} | {figures['alone']:.2f} | {figures['together']:.2f} | **{figures['ratio']:.2f}x** "
                f"| {figures['cpu']:.2f}x |"
            )
            print(lines[-1], flush=True)
    # What a user gets: the best thread count one at a time against the best batched, per N.
    gains = {
        rows: max(results[t, rows]["together"] for t in threads_options)
        / max(results[t, rows]["alone"] for t in threads_options)
        for rows in counts
    }
    best = max(gains.values())
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    verdict = "pays" if best >= PAYS else "does not pay"
    table = "\n".join(lines)
    consequence = ", so `-b llama-cpp` keeps `--parallel` at 1" if best < PAYS else ""
    gain_text = ", ".join(f"N={rows}: {gain:.2f}x" for rows, gain in gains.items())
    write_section(
        "Batch --parallel: llama-cpp (several sequences per decode)",
        f"""
SmolLM2-135M Q4_1 through llama-cpp-python's low-level API: N different template prompts
(~30 tokens), greedy, {TOKENS} tokens each, one sequence at a time vs all N in one
`llama_batch` (a `seq_id` per row, one `llama_decode` per step), medians of {PAIRS}
alternating pairs (`python -m benchmarks.llama_multiseq`; OpenMP's idle threads sleep,
`OMP_WAIT_POLICY={os.environ["OMP_WAIT_POLICY"]}`). Both give the same tokens.
Machine: {machine()}; load average {load} after the run.

| threads | N | rows/s one at a time | rows/s N per decode | ratio | CPU-time ratio |
| --- | --- | --- | --- | --- | --- |
{table}

Best batched rows/s over best one-at-a-time rows/s (each at its better thread count): {gain_text}.
Batching in llama.cpp {verdict} here (threshold {PAYS}x){consequence}. The CPU-time
ratio compares CPU seconds per row instead of wall time (time spent waiting for a core other
jobs hold does not count; with 2 threads it includes their spinning).
""",
    )


if __name__ == "__main__":
    main()

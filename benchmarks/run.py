"""Run every benchmark: ``python -m benchmarks.run [name ...]``."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = [
    "batch_parallel",
    "cli_startup",
    "constrained",
    "constraint_engines",
    "llama_generate",
    "llama_multiseq",
    "logprobs_cost",
    "history",
    "openai_stream",
    "prompt_tokenize",
    "templates_render",
    "tools_eval",
    "transformers_decode",
    "tui_stream",
    "tui_stream_model",
    "tui_open",
    "tui_token_view",
    "tui_terminal",
]


def main() -> None:
    names = sys.argv[1:] or BENCHMARKS
    for name in names:
        print(f"== {name}", flush=True)
        sys.argv = [f"benchmarks.{name}"]  # each benchmark reads its own options; run here with its defaults
        importlib.import_module(f"benchmarks.{name}").main()


if __name__ == "__main__":
    main()

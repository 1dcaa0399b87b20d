"""Client overhead of ``-b openai``: the assistant's SSE stream vs a bare httpx loop, same server.

Starts llama-cpp-python's OpenAI-compatible server on 127.0.0.1 with SmolLM2,
then alternates two clients asking for the same greedy reply with the same JSON
body: a plain ``httpx`` loop that reads SSE lines and ``json.loads`` each event
(the baseline), and ``OpenAIBackend.stream`` (SSE decoding, stop matching,
usage, timings). Both measure tokens/s over the decode phase on the client
side; the median per-pair ratio is reported. Target: >= 0.98.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from assistant.backends import load_backend
from assistant.backends.openai.servers import LLAMA_CPP_PYTHON
from assistant.models import resolve_model_path
from assistant.types import GenerationParams, Message

from ._report import machine, median, write_section

PROMPT = [
    Message("system", "You are a helpful assistant."),
    Message("user", "Write a long story about a dragon who learns to bake bread."),
]
TOKENS = 96
REPEATS = 5
PARAMS = GenerationParams(temperature=0, max_tokens=TOKENS)


def start_server(model: Path, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = (workdir / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", "smollm2",
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--verbose", "False",
         # By default it drops a running request when another arrives (ending its stream with a bare
         # [DONE]): a --parallel batch would measure dropped replies, not served ones.
         "--interrupt_requests", "False"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited: see {workdir / 'server.log'}")
        try:
            if httpx.get(f"{base_url}/models", timeout=2).status_code == 200:
                return process, base_url
        except httpx.HTTPError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("server did not start")


def raw_loop(client: httpx.Client, base_url: str) -> float:
    body = {"model": "smollm2", "messages": [m.to_dict() for m in PROMPT], "stream": True,
            **LLAMA_CPP_PYTHON.request_params(PARAMS, chat=True)}
    count, first, last = 0, 0.0, 0.0
    with client.stream("POST", f"{base_url}/chat/completions", json=body) as response:
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            delta = json.loads(line[6:])["choices"][0]["delta"]
            if delta.get("content"):
                now = time.perf_counter()
                first = first or now
                last = now
                count += 1
    assert count >= TOKENS - 2, "prompt must yield a long reply"
    return (count - 1) / (last - first)


def assistant_loop(backend) -> float:  # type: ignore[no-untyped-def]
    completion = backend.complete(PROMPT, PARAMS)
    assert completion.usage.completion_tokens >= TOKENS - 2, "prompt must yield a long reply"
    return float(completion.timings.tokens_per_second)


def main() -> None:
    model = resolve_model_path("smollm2")
    with tempfile.TemporaryDirectory() as tmp:
        process, base_url = start_server(model, Path(tmp))
        try:
            backend = load_backend("openai", "smollm2", base_url=base_url, progress=lambda _: None)
            client = httpx.Client(timeout=120)
            raw_loop(client, base_url)  # warm-up
            assistant_loop(backend)
            raws, ours, ratios = [], [], []
            for _ in range(REPEATS):
                raw = raw_loop(client, base_url)
                mine = assistant_loop(backend)
                raws.append(raw)
                ours.append(mine)
                ratios.append(mine / raw)
            client.close()
            backend.unload()
        finally:
            process.terminate()
            process.wait(10)
    ratio = median(ratios)
    verdict = "meets" if ratio >= 0.98 else "MISSES"
    write_section(
        "openai backend client overhead",
        f"""
SmolLM2-135M Q4_1 served by `python -m llama_cpp.server` on 127.0.0.1, greedy, {TOKENS} tokens,
{REPEATS} alternating pairs (`python -m benchmarks.openai_stream`). Machine: {machine()}.

| client | median tok/s |
| --- | --- |
| bare httpx loop (`iter_lines` + `json.loads`) | {median(raws):.1f} |
| assistant `OpenAIBackend.stream` | {median(ours):.1f} |

Median ratio assistant/bare: **{ratio:.3f}** (target >= 0.98: {verdict}). The server's
decode speed dominates both; the ratio is the client's own cost.
""",
    )


if __name__ == "__main__":
    main()

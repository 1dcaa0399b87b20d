"""The GPU benchmark (``make bench-gpu``): CUDA torch, llama.cpp with CUDA, GPU tests, GPU figures.

``python -m benchmarks.gpu prepare`` checks for an NVIDIA GPU and installs a
CUDA build of torch when the one installed cannot see it; ``run`` measures and
writes the "GPU" section of docs/performance.md:

* native decoder, SmolLM2 bf16, batch 1: tok/s with and without CUDA graphs
  (goal on an H100/H200-class GPU: >= 1,000 tok/s with graphs);
* batched decoding (concurrent requests, :mod:`assistant.backends.torch.native_batch`)
  at N = 1, 8, 64: aggregate tok/s (goal: >= 20,000 at N = 64);
* llama-cpp with every layer offloaded (``n_gpu_layers=-1``): tok/s at batch 1.

The Makefile target runs ``prepare``, rebuilds llama-cpp-python with
``-DGGML_CUDA=on`` when the installed build cannot offload, runs the tests
marked ``gpu``, then ``run``. Without a GPU everything before the CUDA steps
(the environment, the models) is done and ``prepare`` stops with one clear line.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
import time
from typing import Any

NO_GPU = (
    "bench-gpu: no NVIDIA GPU on this machine ({why}); the environment and models are ready, "
    "the GPU tests and benchmarks need a CUDA machine (run `make bench-gpu` there)"
)
TOKENS = 256
BATCH_TOKENS = 128
BATCH_SIZES = (1, 8, 64)
PROMPT = "Write a long story about a dragon who learns to bake bread."


def cuda_wheel_index(driver_cuda: str) -> str:
    """The PyTorch wheel index for the newest CUDA the driver supports (``12.4`` → ``cu124``)."""
    major, minor = (int(part) for part in driver_cuda.split(".")[:2])
    for tag, needed in (("cu128", (12, 8)), ("cu126", (12, 6)), ("cu124", (12, 4)), ("cu121", (12, 1))):
        if (major, minor) >= needed:
            return f"https://download.pytorch.org/whl/{tag}"
    return "https://download.pytorch.org/whl/cu118"


def driver_cuda_version() -> str:
    """The CUDA version ``nvidia-smi`` reports, or SystemExit with the no-GPU message."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        raise SystemExit(NO_GPU.format(why="nvidia-smi not found"))
    try:
        text = subprocess.run([smi], capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise SystemExit(NO_GPU.format(why=f"nvidia-smi failed: {exc}")) from None
    found = re.search(r"CUDA Version:\s*([\d.]+)", text)
    if found is None:
        raise SystemExit(NO_GPU.format(why="nvidia-smi reports no CUDA version"))
    return found.group(1)


def _torch_sees_cuda() -> bool:
    code = "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"
    return subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def prepare() -> None:
    """A torch that sees the GPU: installed from the PyTorch CUDA index when the current one does not."""
    version = driver_cuda_version()
    if _torch_sees_cuda():
        print(f"bench-gpu: torch sees the GPU (driver CUDA {version})")
        return
    import torch

    wanted = torch.__version__.split("+")[0]
    index = cuda_wheel_index(version)
    print(f"bench-gpu: installing torch {wanted} for CUDA from {index}", flush=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--force-reinstall", "--no-deps", "--index-url", index, f"torch=={wanted}"],
        check=True,
    )  # fmt: skip
    if not _torch_sees_cuda():
        raise SystemExit(f"bench-gpu: torch {wanted} from {index} still cannot see the GPU; check the driver")


# ---- measurements ------------------------------------------------------------------------------
def _transformers(cuda_graphs: bool, max_batch: int = 64) -> Any:
    from assistant.backends import load_backend
    from assistant.models import resolve_model_path

    return load_backend(
        "transformers", str(resolve_model_path("smollm2")), device="cuda", dtype="bfloat16",
        cuda_graphs=cuda_graphs, max_batch=max_batch, n_ctx=2048, progress=lambda _: None,
    )  # fmt: skip


def decode_tps(backend: Any, repeats: int = 3) -> float:
    from assistant.types import GenerationParams, Message

    params = GenerationParams(temperature=0, max_tokens=TOKENS)
    backend.complete([Message("user", PROMPT)], params.replace(max_tokens=16))  # warm-up (graph capture)
    figures = []
    for take in range(repeats):  # a new prompt each time: no cached prefix
        completion = backend.complete([Message("user", f"{PROMPT} (take {take + 1})")], params)
        figures.append(float(completion.timings.tokens_per_second or 0.0))
    return sorted(figures)[len(figures) // 2]


def batched_tps(backend: Any, n: int) -> float:
    """Aggregate tok/s of ``n`` requests sent at once (they decode as one batch)."""
    from assistant.types import GenerationParams, Message

    params = GenerationParams(temperature=0, max_tokens=BATCH_TOKENS)
    counts = [0] * n
    barrier = threading.Barrier(n)

    def one(index: int) -> None:
        barrier.wait()
        text = f"{PROMPT} Chapter {index + 1}."
        counts[index] = backend.complete([Message("user", text)], params).usage.completion_tokens

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - started)


def llama_cpp_tps() -> float:
    from assistant.backends import load_backend
    from assistant.types import GenerationParams, Message

    backend = load_backend("llama-cpp", "smollm2", n_gpu_layers=-1, n_ctx=2048, progress=lambda _: None)
    try:
        params = GenerationParams(temperature=0, max_tokens=TOKENS)
        backend.complete([Message("user", PROMPT)], params.replace(max_tokens=16))
        return float(backend.complete([Message("user", PROMPT)], params).timings.tokens_per_second or 0.0)
    finally:
        backend.unload()


def run() -> None:
    import torch

    from ._report import machine, write_section

    if not torch.cuda.is_available():
        raise SystemExit(NO_GPU.format(why="torch.cuda.is_available() is False; run `make bench-gpu`"))
    gpu = torch.cuda.get_device_name(0)
    eager = _transformers(cuda_graphs=False)
    no_graphs = decode_tps(eager)
    eager.unload()
    backend = _transformers(cuda_graphs=True)
    graphs = decode_tps(backend)
    batched = {n: batched_tps(backend, n) for n in BATCH_SIZES}
    backend.unload()
    offloaded = llama_cpp_tps()
    goal = {64: " (goal >= 20,000)"}
    rows = "\n".join(f"| batched, N = {n}, aggregate | {tps:,.0f}{goal.get(n, '')} |" for n, tps in batched.items())
    write_section(
        "GPU",
        f"""
`make bench-gpu` on {gpu} (torch {torch.__version__}). Host: {machine()}.
SmolLM2-135M, greedy; batch 1 decodes {TOKENS} tokens, batched rows {BATCH_TOKENS} each.

| what | tok/s |
| --- | --- |
| native decoder, bf16, batch 1, no CUDA graphs | {no_graphs:,.0f} |
| native decoder, bf16, batch 1, CUDA graphs | {graphs:,.0f} (goal >= 1,000) |
{rows}
| llama-cpp, all layers on the GPU (`n_gpu_layers=-1`), batch 1 | {offloaded:,.0f} |
""",
    )


def main() -> None:
    step = sys.argv[1] if len(sys.argv) > 1 else "run"
    if step == "prepare":
        prepare()
    elif step == "run":
        run()
    else:
        raise SystemExit(f"usage: python -m benchmarks.gpu [prepare|run], not {step!r}")


if __name__ == "__main__":
    main()

"""The GPU side of batched decoding (``make bench-gpu`` runs the ``gpu`` tests), and its no-GPU message.

No GPU was available where this was written: the ``gpu`` tests are skipped
here and run by ``make bench-gpu`` on a CUDA machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

from assistant.types import GenerationParams, Message

from .conftest import REPO_ROOT


def _cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _benchmark(step: str, path: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PATH": path}
    return subprocess.run(
        [sys.executable, "-m", "benchmarks.gpu", step], capture_output=True, text=True, env=env, cwd=REPO_ROOT,
        timeout=300, check=False,
    )  # fmt: skip


def test_without_a_gpu_prepare_stops_with_one_clear_line(tmp_path: Path) -> None:
    result = _benchmark("prepare", str(tmp_path))  # a PATH without nvidia-smi
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        (
            "bench-gpu: no NVIDIA GPU on this machine (nvidia-smi not found); the environment and models are ready, "
            "the GPU tests and benchmarks need a CUDA machine (run `make bench-gpu` there)"
        )
    ]


@pytest.mark.skipif(_cuda(), reason="this machine has a GPU")
def test_without_cuda_the_run_step_says_so() -> None:
    result = _benchmark("run", os.environ.get("PATH", ""))
    assert result.returncode == 1
    assert "torch.cuda.is_available() is False" in result.stderr and "Traceback" not in result.stderr


def test_the_wheel_index_follows_the_driver() -> None:
    sys.path.insert(0, str(REPO_ROOT))
    from benchmarks.gpu import cuda_wheel_index

    assert cuda_wheel_index("12.4").endswith("/cu124")
    assert cuda_wheel_index("12.9").endswith("/cu128")
    assert cuda_wheel_index("11.8").endswith("/cu118")


# ---- on a GPU ----------------------------------------------------------------------------------
gpu = pytest.mark.skipif(not _cuda(), reason="needs a CUDA GPU (make bench-gpu)")


@pytest.fixture(scope="module")
def cuda_engine(smollm2_path: Path) -> Iterator[Any]:
    from assistant.backends import load_backend

    backend = load_backend("transformers", str(smollm2_path), device="cuda", n_ctx=1024, progress=lambda *_: None)
    yield backend
    backend.unload()


@gpu
@pytest.mark.gpu
@pytest.mark.model
def test_cuda_decoding_uses_graphs_and_batches(cuda_engine: Any) -> None:
    info = cuda_engine.info()
    assert info["decoder"] == "native" and info["cuda_graphs"] is True
    assert cuda_engine.capabilities.max_parallel >= 8
    params = GenerationParams(temperature=0, max_tokens=24)
    alone = cuda_engine.complete([Message("user", "What is the capital of France?")], params)
    assert "Paris" in alone.text
    results: list[Any] = [None] * 8
    barrier = threading.Barrier(8)

    def one(index: int) -> None:
        barrier.wait()
        results[index] = cuda_engine.complete([Message("user", "What is the capital of France?")], params)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(r is not None and r.finish_reason in ("stop", "length") for r in results)
    assert all("Paris" in r.text for r in results)  # bf16 batches may round differently; the answer holds

"""Device, dtype and memory checks of the transformers backend: what to run on, and whether it fits.

cuda > mps > cpu by default, bf16 on a GPU and fp32 on the CPU; an ``n_ctx``
past the trained context or whose KV cache would not fit is refused before
anything is loaded. Split from :mod:`.backend` so that stays one job (the
token loop); the names are importable from there too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...errors import BackendError
from ...models.context_size import KvShape, available_memory, check_context_size
from .convert import ModelFacts

_DTYPES = {
    "float32": "float32", "fp32": "float32", "float": "float32",
    "bfloat16": "bfloat16", "bf16": "bfloat16",
    "float16": "float16", "fp16": "float16", "half": "float16",
}  # fmt: skip


def _unset(requested: Any) -> bool:
    """Only a missing or empty value means ``auto``: ``-o device=0`` arrives as the int 0, a choice."""
    return requested is None or (isinstance(requested, str) and not requested.strip())


def choose_device(requested: str | None) -> Any:
    """``auto`` → cuda > mps > cpu; an explicit device must exist in this torch build."""
    import torch

    name = "auto" if _unset(requested) else str(requested).strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise BackendError(f"unknown device {requested!r} (use auto, cpu, cuda, cuda:N or mps)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise BackendError(f"device={name} asked for, but this torch ({torch.__version__}) sees no CUDA GPU")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise BackendError(f"device={name} asked for, but there are {torch.cuda.device_count()} CUDA GPU(s)")
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise BackendError("device=mps asked for, but Apple MPS is not available here")
    elif device.type != "cpu":
        raise BackendError(f"unsupported device {requested!r} (use auto, cpu, cuda, cuda:N or mps)")
    return device


def choose_dtype(requested: str | None, device: Any) -> Any:
    """``auto`` → bfloat16 on a GPU, float32 on the CPU."""
    import torch

    name = "auto" if _unset(requested) else str(requested).strip().lower().removeprefix("torch.")
    if name == "auto":
        return torch.bfloat16 if device.type in ("cuda", "mps") else torch.float32
    if name not in _DTYPES:
        raise BackendError(f"unknown dtype {requested!r} (use auto, float32, bfloat16 or float16)")
    return getattr(torch, _DTYPES[name])


def is_oom(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def check_context(n_ctx: int, directory: Path, facts: ModelFacts | None, override: bool, dtype: Any, device: Any) -> None:
    """Refuse an ``n_ctx`` past the trained context, or whose KV cache would not fit, before loading anything."""
    import json

    try:
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = {}
    text_config = config.get("text_config") or config if isinstance(config, dict) else {}
    trained = (facts.context_length if facts else None) or text_config.get("max_position_embeddings")
    shape = KvShape.from_hf_config(config) if isinstance(config, dict) else None
    _check_context(n_ctx, trained, shape, override, dtype, device)


def check_gguf_context(n_ctx: int, metadata: dict[str, Any], override: bool, dtype: Any, device: Any) -> None:
    """:func:`check_context` from a GGUF's header, for a model not converted yet: refused before the conversion."""
    from ...models.gguf import training_context_length

    _check_context(n_ctx, training_context_length(metadata), KvShape.from_gguf(metadata), override, dtype, device)


def _check_context(n_ctx: int, trained: Any, shape: KvShape | None, override: bool, dtype: Any, device: Any) -> None:
    import torch

    on_gpu = device.type == "cuda"
    check_context_size(
        n_ctx,
        trained=trained if isinstance(trained, int) and not isinstance(trained, bool) else None,
        shape=shape,
        bytes_per_value=torch.empty((), dtype=dtype).element_size(),
        override=override,
        memory=int(torch.cuda.mem_get_info(device)[0]) if on_gpu else available_memory(),
        where="GPU memory" if on_gpu else "memory",
    )


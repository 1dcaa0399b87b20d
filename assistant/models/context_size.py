"""Checking a requested context size before an engine allocates for it.

``-o n_ctx=100000000`` used to make llama.cpp allocate gigabytes (and
transformers try for 12.8 GB) before failing somewhere inside the engine. Both
local backends now call :func:`check_context_size` first, with the model's
shape read from its file (GGUF metadata, or a Hugging Face ``config.json``):

* an ``n_ctx`` past the context the model was trained on is refused unless
  ``-o n_ctx_override=true`` (:data:`OVERRIDE_OPTION`) says it is meant — past it
  the model's positions are ones it never saw, and its output degrades;
* the KV cache the engine will allocate is estimated (:func:`kv_cache_bytes`:
  layers × n_ctx × KV heads × (key + value dims) × bytes per value) and refused
  with that estimate when it is more than the memory available to hold it.

The estimate counts every layer at full length, so for models with
sliding-window layers (Gemma 3) it is an upper bound.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..errors import BackendError

OVERRIDE_OPTION = "n_ctx_override"
"""Backend option (``-o n_ctx_override=true``) that allows an n_ctx past the trained context."""


@dataclass(frozen=True)
class KvShape:
    """What the KV cache of one token holds: per layer, ``kv_heads`` keys and values."""

    layers: int
    kv_heads: int
    key_dim: int
    value_dim: int

    @property
    def values_per_token(self) -> int:
        return self.layers * self.kv_heads * (self.key_dim + self.value_dim)

    def describe(self) -> str:
        return f"{self.layers} layers × {self.kv_heads} KV heads × ({self.key_dim}+{self.value_dim}) dims"

    @classmethod
    def from_gguf(cls, metadata: Mapping[str, Any]) -> KvShape | None:
        """From GGUF metadata (``{arch}.block_count``, ``{arch}.attention.*``); None if it lacks them."""
        arch = metadata.get("general.architecture", "")

        def number(key: str) -> int | None:
            value = metadata.get(f"{arch}.{key}")
            if isinstance(value, list):  # per-layer counts (a small array, as a list): the largest bounds all
                value = max((v for v in value if _count(v)), default=None)
            return int(value) if _count(value) else None

        layers, heads = number("block_count"), number("attention.head_count")
        if layers is None or heads is None:
            return None
        width = number("embedding_length")
        head_dim = width // heads if width else None
        key_dim = number("attention.key_length") or head_dim
        value_dim = number("attention.value_length") or head_dim
        if key_dim is None or value_dim is None:
            return None
        return cls(layers, number("attention.head_count_kv") or heads, key_dim, value_dim)

    @classmethod
    def from_hf_config(cls, config: Mapping[str, Any]) -> KvShape | None:
        """From a Hugging Face ``config.json`` (its ``text_config`` for multimodal models)."""
        config = config.get("text_config") or config
        layers, heads = config.get("num_hidden_layers"), config.get("num_attention_heads")
        if not (isinstance(layers, int) and isinstance(heads, int) and heads > 0):
            return None
        width = config.get("hidden_size")
        head_dim = config.get("head_dim") or (width // heads if isinstance(width, int) else None)
        if not isinstance(head_dim, int):
            return None
        return cls(layers, int(config.get("num_key_value_heads") or heads), head_dim, head_dim)


def _count(value: object) -> bool:
    """A positive whole number: an untrusted header's bool (an int in Python) is no count."""
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def kv_cache_bytes(shape: KvShape, n_ctx: int, bytes_per_value: int) -> int:
    """Bytes of a KV cache for ``n_ctx`` tokens (the one estimate both backends use)."""
    return shape.values_per_token * n_ctx * bytes_per_value


def available_memory() -> int | None:
    """Bytes of RAM a new allocation can get: MemAvailable, capped by a cgroup limit; None if unknown."""
    found: list[int] = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = Path("/sys/fs/cgroup/memory.current").read_text().strip()
        if limit != "max":
            found.append(max(int(limit) - int(used), 0))
    except (OSError, ValueError):
        pass
    if not found:
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            return None
    return min(found)


def _gb(size: float) -> str:
    return f"{size / 1e9:.1f} GB" if size >= 1e8 else f"{size / 1e6:.0f} MB"


def override_requested(options: Mapping[str, Any]) -> bool:
    """The value of ``n_ctx_override`` (typed by the option parser); anything but true/false is an error."""
    from ..option_values import switch_option

    return switch_option(options, OVERRIDE_OPTION, False)


def check_context_size(
    n_ctx: int,
    *,
    trained: int | None,
    shape: KvShape | None,
    bytes_per_value: int,
    override: bool,
    memory: int | None,
    where: str = "memory",
) -> None:
    """Refuse ``n_ctx`` past the trained context (unless ``override``) or past ``memory`` bytes of KV cache.

    ``memory`` is what the cache can use (None: unknown, not checked); ``where``
    names it in the message (``memory``, ``GPU memory``).
    """
    if n_ctx < 1:
        raise BackendError(f"n_ctx must be at least 1, not {n_ctx}")
    if trained and n_ctx > trained and not override:
        raise BackendError(
            f"n_ctx={n_ctx} is past the {trained}-token context this model was trained on; "
            f"use n_ctx ≤ {trained}, or -o {OVERRIDE_OPTION}=true to use it anyway"
        )
    if shape is None or memory is None:
        return
    need = kv_cache_bytes(shape, n_ctx, bytes_per_value)
    if need > memory:
        raise BackendError(
            f"n_ctx={n_ctx} needs about {_gb(need)} of KV cache ({shape.describe()} × {bytes_per_value} bytes "
            f"× {n_ctx} tokens), but only {_gb(memory)} of {where} is available; use a smaller n_ctx"
        )

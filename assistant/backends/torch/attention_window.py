"""Attention weights out of an HF model, one layer at a time, for the attention view.

Apart from :mod:`.backend` because it does not use the decoders at all: it
runs the HF model's own eager forward (fused kernels never form the weights)
with hooks on its attention modules, which is a different way of running the
model with its own memory rule.
"""

from __future__ import annotations

from typing import Any, Callable

from ...errors import BackendError


class _AttentionCancelled(Exception):
    """Raised inside a forward hook to stop an attention forward between two layers."""


def window_weights(hf_model: Any, token_ids: list[int], start: int, cancelled: Callable[[], bool]) -> list[Any]:
    """One eager-attention forward, keeping each layer's ``[heads, w, w]`` window from ``start`` on.

    A hook on every attention module copies the window out of that layer's
    ``[heads, n, n]`` weights as soon as the layer has run, so only one
    layer's full matrices are alive at a time; the model's own
    ``output_attentions`` would keep all of them to the end. The hook also
    checks ``cancelled``, so Esc stops the forward between two layers (a
    BackendError). The model's attention implementation is put back after.
    """
    import torch

    modules = [module for name, module in hf_model.named_modules() if name.endswith("self_attn")]
    if not modules:
        raise BackendError("this model has no attention modules the attention view knows (…self_attn)")
    kept: list[Any] = []

    def keep(module: Any, args: Any, output: Any) -> None:
        if cancelled():
            raise _AttentionCancelled
        weights = output[1] if isinstance(output, tuple) and len(output) > 1 else None
        if weights is None:
            raise BackendError("this model did not return attention weights")
        kept.append(weights[0, :, start:, start:].to("cpu", torch.float32).clone().numpy())

    previous = hf_model.config._attn_implementation
    handles = [module.register_forward_hook(keep) for module in modules]
    try:
        if previous != "eager":
            hf_model.set_attn_implementation("eager")
        with torch.inference_mode():
            hf_model(input_ids=torch.tensor([token_ids], device=hf_model.device), use_cache=False)
    except _AttentionCancelled:
        raise BackendError("the attention computation was cancelled") from None
    finally:
        for handle in handles:
            handle.remove()
        if previous != "eager":
            hf_model.set_attn_implementation(previous)
    return kept

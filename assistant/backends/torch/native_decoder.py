"""A lean forward pass for Llama- and Gemma-3-style decoders, over the HF model's own weights.

Why not just call ``model(...)`` per token? At batch 1 every token has to
stream all the weights through the CPU, and the HF forward adds work around
that: per-layer Python modules, mask construction, cache bookkeeping, and
``nn.Linear`` calls whose weight layout MKL handles at half speed for a single
row. Measured on this project's CPU, that costs about a third of the decode
time (docs/performance.md, "Transformers backend"). This module keeps the same
arithmetic and removes the rest:

* q/k/v and gate/up projections fused into one matmul each; on CPU, weights
  with more outputs than inputs are stored transposed (``x @ Wᵀ`` runs twice as
  fast as ``F.linear`` for one row there). The HF modules' weights are rebound
  to views of the new storage, so nothing is held twice.
* a preallocated KV cache (grown by doubling on CPU, full-size on GPU) that
  can be truncated for free: positions past ``start`` are simply overwritten,
  which is what prompt-prefix reuse and ``score`` need.
* RoPE tables precomputed with the model's own rotary module (so every RoPE
  scaling type HF supports is honoured).
* on CUDA, one decode step captured as a CUDA graph: static shapes, attention
  over the whole cache with a position mask, replayed per token.

It is used only after :func:`verify` finds its logits equal to the HF forward's
on a probe sequence; any other architecture, or a mismatch, falls back to the
HF forward (:mod:`assistant.backends.torch.hf_decoder`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

PREFILL_CHUNK = 512
SUPPORTED = ("llama", "gemma3_text")


def unsupported_reason(model: Any) -> str | None:
    """Why this model cannot use the native decoder, or None if it can."""
    config = model.config
    kind = getattr(config, "model_type", "")
    if kind not in SUPPORTED:
        return f"no native decoder for model type {kind!r}"
    rope = getattr(config, "rope_parameters", None) or {}
    types = [rope] if "rope_type" in rope else list(rope.values())
    for params in types:
        if isinstance(params, dict) and params.get("rope_type", "default") in ("dynamic", "longrope"):
            return f"RoPE type {params['rope_type']!r} depends on the sequence length"
    if kind == "gemma3_text" and (
        getattr(config, "use_bidirectional_attention", False) or getattr(config, "attn_logit_softcapping", None)
    ):
        return "gemma3 variant with bidirectional or soft-capped attention"
    if kind == "llama" and getattr(config, "pretraining_tp", 1) not in (1, None):
        return "llama with pretraining_tp > 1"
    return None


@dataclass
class _Layer:
    norm_in: Any
    norm_attn_out: Any | None  # gemma3: post_attention_layernorm
    norm_ff_in: Any
    norm_ff_out: Any | None  # gemma3: post_feedforward_layernorm
    q_norm: Any | None
    k_norm: Any | None
    wqkv: Any
    bqkv: Any | None
    wo: Any
    bo: Any | None
    wgu: Any
    wd: Any
    rope: str  # key into the cos/sin tables
    window: int | None


class NativeDecoder:
    """Llama / Gemma 3 forward with its own KV cache. ``forward`` is the only entry point."""

    kind = "native"

    def __init__(self, model: Any, max_positions: int, cuda_graphs: bool = False) -> None:
        import torch

        self.model = model
        config = model.config
        self.config = config
        self.gemma = config.model_type == "gemma3_text"
        self.device = model.device
        self.dtype = model.dtype
        self.max_positions = max_positions
        self.n_heads = config.num_attention_heads
        self.n_kv = config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // self.n_heads
        self.eps = config.rms_norm_eps
        if self.gemma:
            self.scale = config.query_pre_attn_scalar**-0.5
        else:
            self.scale = self.head_dim**-0.5
        self.softcap = getattr(config, "final_logit_softcapping", None)
        self.transposed = self.device.type == "cpu"
        act = getattr(config, "hidden_activation", None) or getattr(config, "hidden_act", "silu")
        self.act = _activation(act)
        with torch.no_grad():  # not inference_mode: HF forwards must still accept these weights
            self._build(model)
            self._rope_tables(model)
        self.capacity = 0
        self.k_cache: list[Any] = []
        self.v_cache: list[Any] = []
        self._graph: Any = None
        self._graph_failed = False
        self.cuda_graphs = cuda_graphs and self.device.type == "cuda"
        self.batch_matmul: Callable[[Any, Any], Any] | None = None
        """The batched path's matrix product (:func:`.native_batch.matmul_for_rows`), made on its first batch."""

    # ---- weights ------------------------------------------------------------------
    def _store(self, weights: list[Any], modules: list[Any]) -> Any:
        """Concatenate [out, in] weights into one matrix; rebind each module to a view of it.

        CPU keeps wide matrices transposed ([in, out], used as ``x @ W``); every
        module's ``weight`` then becomes a (strided) view, so HF code paths
        (attention maps, the verification forward) still see the same values.
        Each weight is copied once, straight into its place.
        """
        import torch

        rows = sum(int(w.shape[0]) for w in weights)
        cols = int(weights[0].shape[1])
        transpose = self.transposed and rows >= cols
        if len(weights) == 1 and not transpose:
            return (weights[0].detach().contiguous(), False)
        first = weights[0]
        stored = torch.empty((cols, rows) if transpose else (rows, cols), dtype=first.dtype, device=first.device)
        offset = 0
        for weight, module in zip(weights, modules):
            n = int(weight.shape[0])
            place = stored[:, offset : offset + n] if transpose else stored[offset : offset + n]
            place.copy_(weight.detach().t() if transpose else weight.detach())
            module.weight = torch.nn.Parameter(place.t() if transpose else place, requires_grad=False)
            offset += n
        return (stored, transpose)

    def _build(self, model: Any) -> None:
        import torch

        inner = model.model
        self.embed = inner.embed_tokens.weight
        self.embed_scale = None
        if self.gemma:
            scale = torch.tensor(self.config.hidden_size**0.5, dtype=torch.float32)  # as HF: fp32, then cast
            self.embed_scale = scale.to(dtype=self.dtype, device=self.device)
        self.layers: list[_Layer] = []
        types = getattr(self.config, "layer_types", None) or ["full_attention"] * self.config.num_hidden_layers
        window = getattr(self.config, "sliding_window", None)
        for index, layer in enumerate(inner.layers):
            attn, mlp = layer.self_attn, layer.mlp
            qkv = [attn.q_proj, attn.k_proj, attn.v_proj]
            biases = [p.bias for p in qkv]
            bqkv = torch.cat([b.detach() for b in biases]) if all(b is not None for b in biases) else None
            sliding = types[index] == "sliding_attention"
            self.layers.append(
                _Layer(
                    norm_in=self._norm_weight(layer.input_layernorm),
                    norm_attn_out=self._norm_weight(layer.post_attention_layernorm) if self.gemma else None,
                    norm_ff_in=self._norm_weight(
                        layer.pre_feedforward_layernorm if self.gemma else layer.post_attention_layernorm
                    ),
                    norm_ff_out=self._norm_weight(layer.post_feedforward_layernorm) if self.gemma else None,
                    q_norm=self._norm_weight(attn.q_norm) if self.gemma else None,
                    k_norm=self._norm_weight(attn.k_norm) if self.gemma else None,
                    wqkv=self._store([p.weight for p in qkv], qkv),
                    bqkv=bqkv,
                    wo=self._store([attn.o_proj.weight], [attn.o_proj]),
                    bo=attn.o_proj.bias.detach() if attn.o_proj.bias is not None else None,
                    wgu=self._store([mlp.gate_proj.weight, mlp.up_proj.weight], [mlp.gate_proj, mlp.up_proj]),
                    wd=self._store([mlp.down_proj.weight], [mlp.down_proj]),
                    rope=types[index] if self.gemma else "full_attention",
                    window=window if (sliding and window) else None,
                )
            )
        self.final_norm = self._norm_weight(inner.norm)
        head = model.lm_head
        if head.weight is self.embed or head.weight.data_ptr() == self.embed.data_ptr():
            # Tied: keep one copy, transposed for the (hot) logits matmul; the
            # embedding lookup reads rows of the transposed view.
            self.lm_head = self._store([head.weight], [head])
            inner.embed_tokens.weight = head.weight
            self.embed = head.weight
        else:
            self.lm_head = self._store([head.weight], [head])

    def _norm_weight(self, module: Any) -> Any:
        weight = module.weight.detach()
        # Gemma scales by (1 + w), computed in float32 like HF's Gemma3RMSNorm.
        return (1.0 + weight.float()) if self.gemma else weight

    def _rope_tables(self, model: Any) -> None:
        import torch

        positions = torch.arange(self.max_positions, device=self.device)[None]
        probe = torch.zeros(1, dtype=self.dtype, device=self.device)
        rotary = model.model.rotary_emb
        self.cos: dict[str, Any] = {}
        self.sin: dict[str, Any] = {}
        kinds = {layer.rope for layer in self.layers}
        for kind in kinds:
            cos, sin = rotary(probe, positions, kind) if self.gemma else rotary(probe, positions)
            sin = sin[0].clone()
            sin[:, : sin.shape[-1] // 2] *= -1  # signed for the roll-based rotation in _qkv
            self.cos[kind], self.sin[kind] = cos[0], sin  # [positions, head_dim]

    # ---- cache ----------------------------------------------------------------------
    def _ensure_capacity(self, needed: int) -> None:
        import torch

        if needed <= self.capacity:
            return
        if needed > self.max_positions:
            raise ValueError(f"{needed} positions exceed the context of {self.max_positions}")
        if self.device.type == "cpu":
            new = min(self.max_positions, max(needed, 2 * self.capacity, 256))
        else:
            new = self.max_positions  # static: CUDA graphs need fixed shapes
        shape = (self.n_kv, new, self.head_dim)
        k_new = [torch.zeros(shape, dtype=self.dtype, device=self.device) for _ in self.layers]
        v_new = [torch.zeros(shape, dtype=self.dtype, device=self.device) for _ in self.layers]
        for old, fresh in zip(self.k_cache + self.v_cache, k_new + v_new):
            fresh[:, : self.capacity].copy_(old)
        self.k_cache, self.v_cache, self.capacity = k_new, v_new, new
        self._graph = None

    def reset(self) -> None:
        """Free the cache (the next forward reallocates it)."""
        self.k_cache, self.v_cache, self.capacity, self._graph = [], [], 0, None

    # ---- compute --------------------------------------------------------------------
    def _mm(self, x: Any, stored: tuple[Any, bool]) -> Any:
        import torch

        weight, transposed = stored
        return torch.matmul(x, weight) if transposed else torch.nn.functional.linear(x, weight)

    def _rms(self, x: Any, weight: Any) -> Any:
        """RMSNorm in float32, rounded where HF rounds (Gemma scales before, Llama after)."""
        import torch.nn.functional as F

        if self.gemma:
            return F.rms_norm(x.float(), (x.shape[-1],), weight, self.eps).to(x.dtype)
        normed = F.rms_norm(x.float(), (x.shape[-1],), None, self.eps).to(x.dtype)
        return weight * normed

    def _embed(self, ids: Any) -> Any:
        x = self.embed[ids]
        return x * self.embed_scale if self.embed_scale is not None else x

    def _logits(self, x: Any, mm: Callable[[Any, Any], Any] | None = None) -> Any:
        import torch

        logits = (mm or self._mm)(self._rms(x, self.final_norm), self.lm_head)
        if self.softcap:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        return logits.float()

    def _qkv(self, layer: _Layer, x: Any, cos: Any, sin: Any) -> tuple[Any, Any, Any]:
        """q [heads, T, d], k and v [kv_heads, T, d], RoPE applied (to q and k in one go)."""
        import torch

        t = x.shape[0]
        qkv = self._mm(x, layer.wqkv)
        if layer.bqkv is not None:
            qkv = qkv + layer.bqkv
        d, heads = self.head_dim, self.n_heads
        k_end = (heads + self.n_kv) * d
        qk = qkv[:, :k_end].view(t, heads + self.n_kv, d)
        v = qkv[:, k_end:].view(t, self.n_kv, d).transpose(0, 1)
        if layer.q_norm is not None:
            qk = torch.cat((self._rms(qk[:, :heads], layer.q_norm), self._rms(qk[:, heads:], layer.k_norm)), dim=1)
        qk = qk.transpose(0, 1)
        # rotate_half(x) * sin == roll(x, d/2) * [-sin, sin]: one op instead of three
        qk = qk * cos + qk.roll(d // 2, -1) * sin
        return qk[:heads], qk[heads:], v

    def _attend(self, q: Any, keys: Any, values: Any, mask: Any) -> Any:
        """Attention for [heads, T, d] queries over [kv_heads, S, d] keys/values → [T, heads·d].

        Grouped-query attention without copying K/V per head: the queries that
        share a KV head are stacked as extra rows of that head (HF's head order
        is kv-major), so the fused SDPA kernel runs instead of the math fallback.
        """
        import torch.nn.functional as F

        heads, t, d = q.shape
        group = heads // self.n_kv
        if group > 1:
            q = q.reshape(self.n_kv, group * t, d)
            if mask is not None:
                mask = mask.repeat(group, 1)
        # 4-D inputs select the fused (flash) CPU kernel; 3-D ones fall back to the math path
        out = F.scaled_dot_product_attention(q[None], keys[None], values[None], attn_mask=mask, scale=self.scale)
        return out[0].reshape(heads, t, d).transpose(0, 1).reshape(t, heads * d)

    def _block_rest(self, layer: _Layer, x: Any, attn: Any, mm: Callable[[Any, Any], Any] | None = None) -> Any:
        """Output projection, residuals and the MLP, shared by both attention paths (and the batched one).

        ``mm`` replaces :meth:`_mm` for the batched path, whose weights are also
        kept in a layout made for several rows (:mod:`.native_batch`).
        """
        mm = mm or self._mm
        out = mm(attn, layer.wo)
        if layer.bo is not None:
            out = out + layer.bo
        if layer.norm_attn_out is not None:
            out = self._rms(out, layer.norm_attn_out)
        x = x + out
        h = self._rms(x, layer.norm_ff_in)
        gate, up = mm(h, layer.wgu).chunk(2, dim=-1)
        out = mm(self.act(gate) * up, layer.wd)
        if layer.norm_ff_out is not None:
            out = self._rms(out, layer.norm_ff_out)
        return x + out

    def forward(self, ids: list[int], start: int, all_logits: bool = False) -> Any:
        """Run ``ids`` at positions ``start…``; cache entries at and after ``start`` are replaced.

        Returns float32 logits: ``[len(ids), vocab]`` with ``all_logits``, else ``[1, vocab]``.
        """
        import torch

        with torch.inference_mode():
            self._ensure_capacity(start + len(ids))
            if len(ids) == 1 and not all_logits and self.cuda_graphs and not self._graph_failed:
                return self._graph_step(ids[0], start)
            outputs = []
            for offset in range(0, len(ids), PREFILL_CHUNK):
                chunk = ids[offset : offset + PREFILL_CHUNK]
                last = offset + PREFILL_CHUNK >= len(ids)
                logits = self._forward_chunk(chunk, start + offset, all_logits, all_logits or last)
                if logits is not None:
                    outputs.append(logits)
            return torch.cat(outputs) if all_logits else outputs[-1]

    def _forward_chunk(self, ids: list[int], start: int, keep_all: bool, need_logits: bool) -> Any:
        import torch

        t = len(ids)
        end = start + t
        x = self._embed(torch.tensor(ids, device=self.device))
        rope = {kind: (self.cos[kind][start:end], self.sin[kind][start:end]) for kind in self.cos}
        masks: dict[int | None, Any] = {}
        for index, layer in enumerate(self.layers):
            h = self._rms(x, layer.norm_in)
            q, k, v = self._qkv(layer, h, *rope[layer.rope])
            self.k_cache[index][:, start:end] = k
            self.v_cache[index][:, start:end] = v
            first = 0 if layer.window is None else max(0, start - layer.window + 1)
            if t == 1:
                mask = None  # one query sees every key in [first, end)
            else:
                if layer.window not in masks:
                    masks[layer.window] = _prefill_mask(start, t, first, layer.window, self.device)
                mask = masks[layer.window]
            attn = self._attend(q, self.k_cache[index][:, first:end], self.v_cache[index][:, first:end], mask)
            x = self._block_rest(layer, x, attn)
        if not need_logits:
            return None
        return self._logits(x if keep_all else x[-1:])

    # ---- CUDA graph decode step -----------------------------------------------------------
    def static_step(self, token: Any, position: Any) -> Any:
        """One token with static shapes: attention spans the whole cache under a position mask.

        ``token`` and ``position`` are 1-element device tensors, so the step can be
        captured once and replayed. Also runs eagerly (tests check it on CPU).
        """
        import torch

        x = self._embed(token)
        slots = torch.arange(self.capacity, device=self.device)
        causal = slots <= position
        masks = {}
        for index, layer in enumerate(self.layers):
            if layer.window not in masks:
                allowed = causal if layer.window is None else causal & (slots > position - layer.window)
                masks[layer.window] = torch.where(allowed, 0.0, float("-inf")).to(self.dtype)[None]
            h = self._rms(x, layer.norm_in)
            cos = self.cos[layer.rope].index_select(0, position)
            sin = self.sin[layer.rope].index_select(0, position)
            q, k, v = self._qkv(layer, h, cos, sin)
            self.k_cache[index].index_copy_(1, position, k)
            self.v_cache[index].index_copy_(1, position, v)
            attn = self._attend(q, self.k_cache[index], self.v_cache[index], masks[layer.window])
            x = self._block_rest(layer, x, attn)
        return self._logits(x)

    def _graph_step(self, token: int, position: int) -> Any:

        if self._graph is None:
            try:
                self._capture()
            except Exception:  # noqa: BLE001 - any capture failure: stay correct, run eagerly
                self._graph_failed = True
                self._graph = None
                return self._forward_chunk([token], position, False, True)
        graph, token_buf, position_buf, out = self._graph
        token_buf.fill_(token)
        position_buf.fill_(position)
        graph.replay()
        return out.clone()

    def _capture(self) -> None:
        import torch

        token_buf = torch.zeros(1, dtype=torch.long, device=self.device)
        position_buf = torch.zeros(1, dtype=torch.long, device=self.device)
        # Warm-up on a side stream (required before capture); writes go to the
        # cache slot at position 0 of an unused row, restored below.
        saved_k = [k[:, -1:].clone() for k in self.k_cache]
        saved_v = [v[:, -1:].clone() for v in self.v_cache]
        position_buf.fill_(self.capacity - 1)
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(2):
                self.static_step(token_buf, position_buf)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = self.static_step(token_buf, position_buf)
        for k, v, sk, sv in zip(self.k_cache, self.v_cache, saved_k, saved_v):
            k[:, -1:].copy_(sk)
            v[:, -1:].copy_(sv)
        self._graph = (graph, token_buf, position_buf, out)


def _prefill_mask(start: int, t: int, first: int, window: int | None, device: Any) -> Any:
    """Boolean [t, end-first] mask: causal, and within the sliding window if any."""
    import torch

    rows = torch.arange(start, start + t, device=device)[:, None]
    cols = torch.arange(first, start + t, device=device)[None, :]
    allowed = cols <= rows
    if window is not None:
        allowed &= cols > rows - window
    return allowed


def _activation(name: str) -> Callable[[Any], Any]:
    import torch.nn.functional as F

    if name == "silu":
        return F.silu
    if name in ("gelu_pytorch_tanh", "gelu_tanh"):
        return lambda x: F.gelu(x, approximate="tanh")
    from transformers.activations import ACT2FN

    return ACT2FN[name]


def verification_key(decoder: NativeDecoder) -> str:
    """What a successful :func:`verify` depends on: device kind, dtype, library and code versions."""
    import hashlib

    import torch
    import transformers

    code = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
    dtype = str(decoder.dtype).removeprefix("torch.")
    return f"{decoder.device.type}/{dtype}/torch-{torch.__version__}/transformers-{transformers.__version__}/{code}"


def verify(decoder: NativeDecoder, reference: Callable[[list[int]], Any], probe: list[int]) -> str | None:
    """Compare native logits with the HF forward's on ``probe``; a reason string if they differ."""
    import torch

    ours = decoder.forward(probe, 0, all_logits=True)
    theirs = reference(probe)
    decoder.reset()
    scale = float(theirs.abs().max()) or 1.0
    diff = float((ours - theirs).abs().max())
    tolerance = 1e-3 if decoder.dtype == torch.float32 else 5e-2
    if not math.isfinite(diff) or diff > tolerance * scale:
        return f"native decoder disagrees with the HF forward (max logit difference {diff:.3g})"
    return None

"""Several sequences per forward over the native decoder's weights (``--parallel`` on transformers).

Why: on a CPU, one decode step streams every weight through memory for one
row of activations; eight rows cost little more than one, because the
matrix products are bound by reading the weights, not by the arithmetic.

How: prompts of different lengths are **left-padded** to a common length, so
every row's next token lands in the same cache slot. Each row has its own
offset (``pads``): its positions start at 0 at its first real token, and an
attention mask hides the padding (and, on Gemma's sliding layers, keys beyond
the window). A padding query may attend to itself only, so no row of the
softmax is empty (an all-masked row would be NaN and poison the cache). Rows
that finish leave the batch: their cache rows are dropped.

On a CPU the matrix products of a few rows are slow with the weights in the
layout the one-row path wants (MKL: an 8-row product costs 3-4 one-row ones
here, the 49k-word output layer 4-5); the batched path therefore multiplies by
a copy of the weights that oneDNN reordered for a few rows
(:func:`matmul_for_rows`), made on the first batch: 2.5-3x faster for 8 rows,
for a second copy of the weights in memory while the model stays loaded.

The cache here is separate from :class:`~.native_decoder.NativeDecoder`'s own
(one sequence, with prompt-prefix reuse), so a batch never disturbs it. The
arithmetic is the decoder's (same fused weights, norms, RoPE tables, MLP);
tests hold each row's greedy output to the one the row gets alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

if TYPE_CHECKING:
    from .batch_scheduler import Request
    from .native_decoder import NativeDecoder, _Layer

PREFILL_CHUNK = 256
"""Prompt positions evaluated per forward (times the batch size: bounds the activations' memory)."""
MIN_SHARED_PREFIX = 8
"""A common prompt prefix shorter than this is evaluated with the rest (not worth a separate pass)."""
FIRST_CAPACITY = 256
"""Slots for generated tokens allocated up front; the cache doubles when a batch needs more."""
PACKED_FOR_ROWS = 8
"""The row count oneDNN lays the weights out for (any count works; this is the ``--parallel`` default)."""


@dataclass
class BatchCache:
    """Keys/values ``[rows, kv_heads, capacity, head_dim]`` per layer, and where each row starts."""

    keys: list[Any]
    values: list[Any]
    pads: Any
    """``[rows]`` long tensor: padding slots before each row's first token."""
    length: int = 0
    """Slots written so far (the same for every row)."""
    rows: list[int] = field(default_factory=list)
    """The caller's index of each row still in the batch, in cache order."""


def start(decoder: NativeDecoder, prompts: Sequence[Sequence[int]], capacity: int) -> tuple[BatchCache, Any]:
    """Evaluate left-padded ``prompts`` in a fresh cache of ``capacity`` slots; logits ``[rows, vocab]``."""
    import torch

    width = max(len(p) for p in prompts)
    if width > decoder.max_positions:  # slots may exceed it (padding), a row's positions may not
        raise ValueError(f"{width} positions exceed the context of {decoder.max_positions}")
    capacity = max(capacity, width + 1)
    with torch.inference_mode():
        device, rows = decoder.device, len(prompts)
        pads = torch.tensor([width - len(p) for p in prompts], device=device)
        ids = torch.tensor([[0] * (width - len(p)) + list(p) for p in prompts], device=device)
        shape = (rows, decoder.n_kv, capacity, decoder.head_dim)
        cache = BatchCache(
            keys=[torch.zeros(shape, dtype=decoder.dtype, device=device) for _ in decoder.layers],
            values=[torch.zeros(shape, dtype=decoder.dtype, device=device) for _ in decoder.layers],
            pads=pads,
            rows=list(range(rows)),
        )
        _shared_prefix(decoder, cache, prompts)
        logits = None
        for offset in range(cache.length, width, PREFILL_CHUNK):
            logits = _forward(decoder, cache, ids[:, offset : offset + PREFILL_CHUNK])
    return cache, logits


def decode_requests(decoder: NativeDecoder, requests: list[Request], is_end: Callable[[int], bool]) -> None:
    """Decode ``requests`` together, each row with its own sampler, seed and budget, tokens to its queue.

    A row leaves the batch at its end-of-generation token, at its budget, or
    when its caller stopped reading (a stop sequence, a cancel).
    """
    from ..base import SampledToken
    from .sampling import Sampler, token_numbers

    width = max(len(r.prompt_ids) for r in requests)
    capacity = width + min(max(r.budget for r in requests), FIRST_CAPACITY)
    cache, logits = start(decoder, [r.prompt_ids for r in requests], capacity)
    samplers = [Sampler(r.params, device=logits.device) for r in requests]
    # plain greedy rows: one argmax for the whole batch (one device sync, not one per row)
    plain = [r.params.greedy and r.params.repeat_penalty == 1.0 and not r.params.logprobs for r in requests]
    produced = [0] * len(requests)
    while cache.rows:
        keep: list[int] = []
        tokens: list[int] = []
        argmax = logits.argmax(dim=-1).tolist() if any(plain[i] for i in cache.rows) else []
        for position, index in enumerate(cache.rows):
            request, sampler, row = requests[index], samplers[index], logits[position]
            if request.closed.is_set():
                request.finish()
                continue
            token = argmax[position] if plain[index] else sampler(row)
            if request.params.logprobs:
                logprob, p_sampled, top = token_numbers(row, token, request.params.logprobs, sampler.last)
                request.put(SampledToken(token, logprob, top, p_sampled))
            else:
                request.put(SampledToken(token))
            produced[index] += 1
            if is_end(token) or produced[index] >= request.budget:
                request.finish()
                continue
            keep.append(position)
            tokens.append(token)
        if not keep:
            return
        keep_rows(cache, keep)
        logits = step(decoder, cache, tokens)


def _shared_prefix(decoder: NativeDecoder, cache: BatchCache, prompts: Sequence[Sequence[int]]) -> None:
    """Evaluate the prompts' common prefix once and copy its keys/values into every row.

    Template rows share the system prompt and the template's own text; on a CPU
    the prompt dominates a short reply, so computing it once per batch instead of
    once per row is most of what batching gains. Afterwards the batch continues
    at the slot after the prefix of the longest row; a shorter row (more
    padding) re-evaluates the last of its prefix tokens there, with the same
    inputs at the same positions.
    """
    import torch

    shared = 0
    first = prompts[0]
    limit = min(len(p) for p in prompts) - 1  # every row keeps at least one token to evaluate
    while shared < limit and all(p[shared] == first[shared] for p in prompts):
        shared += 1
    if len(prompts) < 2 or shared < MIN_SHARED_PREFIX:
        return
    device = decoder.device
    alone = BatchCache(
        keys=[torch.zeros_like(k[:1, :, :shared]) for k in cache.keys],
        values=[torch.zeros_like(v[:1, :, :shared]) for v in cache.values],
        pads=torch.zeros(1, dtype=torch.long, device=device),
        rows=[0],
    )
    ids = torch.tensor([list(first[:shared])], device=device)
    for offset in range(0, shared, PREFILL_CHUNK):
        _forward(decoder, alone, ids[:, offset : offset + PREFILL_CHUNK])
    for row, pad in enumerate(cache.pads.tolist()):
        for layer in range(len(cache.keys)):
            cache.keys[layer][row, :, pad : pad + shared] = alone.keys[layer][0]
            cache.values[layer][row, :, pad : pad + shared] = alone.values[layer][0]
    cache.length = int(cache.pads.min()) + shared


def step(decoder: NativeDecoder, cache: BatchCache, tokens: Sequence[int]) -> Any:
    """One token per row (in cache order); logits ``[rows, vocab]``."""
    import torch

    if cache.length >= cache.keys[0].shape[2]:
        _grow(cache)
    with torch.inference_mode():
        return _forward(decoder, cache, torch.tensor(list(tokens), device=decoder.device)[:, None])


def _grow(cache: BatchCache) -> None:
    """Double the slots (a row's budget outlived the first allocation)."""
    import torch

    def doubled(tensor: Any) -> Any:
        return torch.cat((tensor, torch.zeros_like(tensor)), dim=2)

    with torch.inference_mode():
        cache.keys = [doubled(k) for k in cache.keys]
        cache.values = [doubled(v) for v in cache.values]


def keep_rows(cache: BatchCache, keep: Sequence[int]) -> None:
    """Drop every row whose cache position is not in ``keep`` (finished rows leave the batch)."""
    import torch

    if len(keep) == len(cache.rows):
        return
    with torch.inference_mode():
        index = torch.tensor(list(keep), device=cache.pads.device)
        cache.keys = [k.index_select(0, index) for k in cache.keys]
        cache.values = [v.index_select(0, index) for v in cache.values]
        cache.pads = cache.pads.index_select(0, index)
    cache.rows = [cache.rows[i] for i in keep]


def matmul_for_rows(decoder: NativeDecoder) -> Callable[[Any, Any], Any]:
    """``mm(x, stored)`` for several rows: oneDNN over reordered weights on a CPU, else the decoder's own.

    The reordered copy is made once per loaded model (a few seconds, and the
    weights' size in memory: skipped when less than twice that is free) and
    checked against the decoder's product on a probe; anything unavailable or
    different keeps the decoder's ``_mm``.
    """
    if decoder.batch_matmul is None:
        decoder.batch_matmul = _reordered_matmul(decoder) or decoder._mm
    return decoder.batch_matmul


def _reordered_matmul(decoder: NativeDecoder) -> Callable[[Any, Any], Any] | None:
    import torch

    if decoder.device.type != "cpu" or decoder.dtype != torch.float32 or not torch.backends.mkldnn.is_available():
        return None
    stored_all = [w for layer in decoder.layers for w in (layer.wqkv, layer.wo, layer.wgu, layer.wd)]
    stored_all.append(decoder.lm_head)
    from ...models.context_size import available_memory

    copy_bytes = sum(w.numel() * w.element_size() for w, _ in stored_all)
    free = available_memory()
    if free is not None and free < 2 * copy_bytes:  # keep room: the copy would crowd out the cache
        return None
    try:
        reorder = torch.ops.mkldnn._reorder_linear_weight
        linear = torch.ops.mkldnn._linear_pointwise
        with torch.inference_mode():
            packed = {
                id(stored): reorder(stored[0].t() if stored[1] else stored[0], PACKED_FOR_ROWS)
                for stored in stored_all
            }

            def mm(x: Any, stored: tuple[Any, bool]) -> Any:
                return linear(x, packed[id(stored)], None, "none", [], "")

            probe = torch.randn(3, int(decoder.lm_head[0].shape[0 if decoder.lm_head[1] else 1]))
            ours, theirs = mm(probe, decoder.lm_head), decoder._mm(probe, decoder.lm_head)
            if not torch.allclose(ours, theirs, rtol=1e-4, atol=1e-3 * float(theirs.abs().max())):
                return None
    except (AttributeError, RuntimeError):  # an older torch, or oneDNN without this kernel
        return None
    return mm


def _forward(decoder: NativeDecoder, cache: BatchCache, ids: Any) -> Any:
    """``ids`` ``[rows, t]`` at cache slots ``cache.length…``; logits after the last one, ``[rows, vocab]``."""
    import torch

    mm = matmul_for_rows(decoder)
    t = ids.shape[1]
    begin, end = cache.length, cache.length + t
    device = decoder.device
    slots = torch.arange(begin, end, device=device)
    positions = (slots[None, :] - cache.pads[:, None]).clamp(min=0)  # [rows, t]
    rope = {kind: (decoder.cos[kind][positions][:, None], decoder.sin[kind][positions][:, None]) for kind in decoder.cos}
    x = decoder._embed(ids)
    keys_at = torch.arange(end, device=device)
    masks: dict[int | None, Any] = {}
    group = decoder.n_heads // decoder.n_kv
    for index, layer in enumerate(decoder.layers):
        if layer.window not in masks:
            masks[layer.window] = _mask(slots, keys_at, cache.pads, layer.window).repeat(1, group, 1)[:, None]
        h = decoder._rms(x, layer.norm_in)
        q, k, v = _qkv(decoder, layer, h, *rope[layer.rope], mm)
        cache.keys[index][:, :, begin:end] = k
        cache.values[index][:, :, begin:end] = v
        attn = _attend(decoder, q, cache.keys[index][:, :, :end], cache.values[index][:, :, :end], masks[layer.window])
        x = decoder._block_rest(layer, x, attn, mm)
    cache.length = end
    return decoder._logits(x[:, -1], mm)


def _mask(slots: Any, keys_at: Any, pads: Any, window: int | None) -> Any:
    """Boolean ``[rows, t, keys]``: causal, the row's own tokens only, within the window; a query sees itself."""
    rows_first = pads[:, None, None]
    queries = slots[None, :, None]
    keys = keys_at[None, None, :]
    allowed = (keys <= queries) & (keys >= rows_first)
    if window is not None:
        allowed &= keys > queries - window
    return allowed | (keys == queries)


def _qkv(
    decoder: NativeDecoder, layer: _Layer, x: Any, cos: Any, sin: Any, mm: Callable[[Any, Any], Any]
) -> tuple[Any, Any, Any]:
    """q ``[rows, heads, t, d]``, k and v ``[rows, kv_heads, t, d]``, RoPE at each row's own positions.

    ``cos``/``sin``: ``[rows, 1, t, d]``, the tables at each row's positions (gathered once per forward).
    """
    import torch

    rows, t, _ = x.shape
    qkv = mm(x, layer.wqkv)
    if layer.bqkv is not None:
        qkv = qkv + layer.bqkv
    d, heads, kv = decoder.head_dim, decoder.n_heads, decoder.n_kv
    k_end = (heads + kv) * d
    qk = qkv[..., :k_end].reshape(rows, t, heads + kv, d)
    v = qkv[..., k_end:].reshape(rows, t, kv, d).transpose(1, 2)
    if layer.q_norm is not None:
        qk = torch.cat(
            (decoder._rms(qk[:, :, :heads], layer.q_norm), decoder._rms(qk[:, :, heads:], layer.k_norm)), dim=2
        )
    qk = qk.transpose(1, 2)  # [rows, heads + kv, t, d]
    qk = qk * cos + qk.roll(d // 2, -1) * sin
    return qk[:, :heads], qk[:, heads:], v


def _attend(decoder: NativeDecoder, q: Any, keys: Any, values: Any, mask: Any) -> Any:
    """Grouped-query attention as the decoder does it (queries of a KV head stacked), per row → ``[rows, t, heads·d]``.

    ``mask``: ``[rows, 1, group·t, keys]`` (:func:`_mask` repeated per query of a KV head, once per forward).
    """
    import torch.nn.functional as F

    rows, heads, t, d = q.shape
    group = heads // decoder.n_kv
    q = q.reshape(rows, decoder.n_kv, group * t, d)
    out = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, scale=decoder.scale)
    return out.reshape(rows, heads, t, d).transpose(1, 2).reshape(rows, t, heads * d)

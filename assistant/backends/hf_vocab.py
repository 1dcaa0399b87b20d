"""Token ids → raw bytes and end-of-generation ids, the way llama.cpp defines them.

Streaming needs each token's *bytes* (a multi-byte character can span tokens;
the shared :class:`~assistant.backends.base.Utf8Detokenizer` joins them), and
the text must equal what llama.cpp streams for the same ids. HF tokenizers only
offer ``decode`` (which cleans up spaces and drops partial characters), so the
bytes are rebuilt from the vocabulary, mirroring ``llama_token_to_piece``:

* special (control) tokens → no bytes, like llama.cpp's ``special=False``;
* added non-special tokens (llama.cpp "user-defined") → their text as is;
* byte-level BPE (GPT-2 / SmolLM2): each character maps back to one byte;
* SentencePiece (Gemma, Llama 2): ``▁`` → space, ``<0xNN>`` byte-fallback
  tokens → that byte;
* anything else: the tokenizer's own ``decode`` of the single token.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

_BYTE_TOKEN = re.compile(r"<0x([0-9A-Fa-f]{2})>")

# Token texts llama.cpp treats as end of generation (llama-vocab.cpp, special_eog_ids).
EOG_TEXTS = frozenset(
    {
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<end_of_turn>", "<|endoftext|>",
        "<|eom_id|>", "<EOT>", "_<EOT>", "<|end_of_text|>", "<end_of_utterance>",
    }
)  # fmt: skip


@lru_cache(maxsize=1)
def _unicode_to_byte() -> dict[str, int]:
    """Inverse of GPT-2's byte→printable-character table."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars)}


def _decoder_kinds(tokenizer: Any) -> set[str]:
    """Types of the fast tokenizer's decoder (``ByteLevel``, ``Replace``, ``ByteFallback``…)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    decoder = getattr(backend, "decoder", None)
    if decoder is None:
        return set()
    try:
        state = json.loads(decoder.__getstate__())
    except (TypeError, ValueError, AttributeError):
        return set()
    kinds: set[str] = set()
    stack = [state]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "type" in item:
                kinds.add(str(item["type"]))
            stack.extend(item.get("decoders") or [])
    return kinds


class TokenBytes:
    """Raw bytes of each token id (computed on demand, memoised)."""

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        kinds = _decoder_kinds(tokenizer)
        self.kind = "byte-level" if "ByteLevel" in kinds else "sentencepiece" if "Replace" in kinds else "other"
        self._byte_fallback = "ByteFallback" in kinds
        added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
        self._control = {int(i) for i, tok in added.items() if getattr(tok, "special", False)}
        self._user_defined = {int(i): str(tok.content) for i, tok in added.items() if not getattr(tok, "special", False)}
        self._cache: dict[int, bytes] = {}

    def is_control(self, token_id: int) -> bool:
        return token_id in self._control

    def __call__(self, token_id: int) -> bytes:
        cached = self._cache.get(token_id)
        if cached is None:
            cached = self._cache[token_id] = self._compute(token_id)
        return cached

    def _compute(self, token_id: int) -> bytes:
        if token_id in self._control:
            return b""
        if token_id in self._user_defined:
            return self._user_defined[token_id].encode("utf-8")
        piece = self._tokenizer.convert_ids_to_tokens(token_id)
        if piece is None:
            return b""
        if self.kind == "byte-level":
            table = _unicode_to_byte()
            if all(ch in table for ch in piece):
                return bytes(table[ch] for ch in piece)
            return piece.encode("utf-8")
        if self.kind == "sentencepiece":
            match = _BYTE_TOKEN.fullmatch(piece)
            if match and self._byte_fallback:
                return bytes([int(match.group(1), 16)])
            return piece.replace("▁", " ").encode("utf-8")
        return str(self._tokenizer.decode([token_id])).encode("utf-8")


def end_of_generation_ids(
    tokenizer: Any, eos_ids: list[int | None], extra_ids: list[int] | None = None
) -> set[int]:
    """EOS/EOT ids plus special tokens whose text llama.cpp treats as end of generation."""
    found = {int(i) for i in [*eos_ids, *(extra_ids or [])] if isinstance(i, int) and i >= 0}
    added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    for token_id, token in added.items():
        if str(token.content) in EOG_TEXTS:
            found.add(int(token_id))
    return found

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
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable

_BYTE_TOKEN = re.compile(r"<0x([0-9A-Fa-f]{2})>")

# llama.cpp decides some token roles by their text (src/llama-vocab.cpp, load(): "auto-detect
# special tokens by text" and special_eog_ids). Reproduced here so both engines stop on the
# same tokens and render the same bytes; tests compare the two over the whole vocabulary.
EOG_TEXTS = (
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
)
FIM_TEXTS = {  # fill-in-the-middle roles; pad/repo/sep also end generation
    "pre": ("<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<PRE>", "<|code_prefix|>", "<|prefix|>"),
    "suf": ("<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<SUF>", "<|code_suffix|>", "<|suffix|>"),
    "mid": ("<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<MID>", "<|code_middle|>", "<|middle|>"),
    "pad": ("<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"),
    "rep": ("<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"),
    "sep": ("<|file_sep|>",),
}
ALWAYS_RENDERED = ("<|channel|>", "<|message|>", "<|start|>", "<|constrain|>")  # gpt-oss
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

    def __init__(self, tokenizer: Any, roles: dict[int, str] | None = None) -> None:
        """``roles`` overrides a token's kind: ``control`` (no bytes), ``text`` (as is) or ``normal``."""
        self._tokenizer = tokenizer
        self._roles = roles or {}
        kinds = _decoder_kinds(tokenizer)
        self.kind = "byte-level" if "ByteLevel" in kinds else "sentencepiece" if "Replace" in kinds else "other"
        self._byte_fallback = "ByteFallback" in kinds
        added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
        self._control = {int(i) for i, tok in added.items() if getattr(tok, "special", False)}
        self._user_defined = {int(i) for i, tok in added.items() if not getattr(tok, "special", False)}
        self._cache: dict[int, bytes] = {}

    def __call__(self, token_id: int) -> bytes:
        cached = self._cache.get(token_id)
        if cached is None:
            cached = self._cache[token_id] = self._compute(token_id)
        return cached

    def _compute(self, token_id: int) -> bytes:
        role = self._roles.get(token_id)
        if role == "control" or (role is None and token_id in self._control):
            return b""
        piece = self._tokenizer.convert_ids_to_tokens(token_id)
        if piece is None:
            return b""
        if role == "text" or (role is None and token_id in self._user_defined):
            return str(piece).encode("utf-8")
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


@dataclass
class SpecialTokens:
    """End-of-generation ids and per-token role overrides, as llama.cpp derives them."""

    eog: set[int] = field(default_factory=set)
    roles: dict[int, str] = field(default_factory=dict)


def _lookup(tokenizer: Any) -> Callable[[str], int | None]:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        return lambda text: backend.token_to_id(text)
    vocab = tokenizer.get_vocab()
    return lambda text: vocab.get(text)


def llama_cpp_special_tokens(tokenizer: Any, end_ids: list[int | None]) -> SpecialTokens:
    """EOG set and forced roles following llama.cpp's text heuristics (see the constants above).

    ``end_ids``: ids the model declares as ending (EOS, and EOT/EOM from a GGUF header).
    """
    find = _lookup(tokenizer)
    roles: dict[int, str] = {}
    eog: set[int] = {int(i) for i in end_ids if isinstance(i, int) and i >= 0}
    for kind, candidates in FIM_TEXTS.items():
        found = [i for i in (find(t) for t in candidates) if i is not None]
        if found:
            token = min(found)
            roles[token] = "control"
            if kind in ("pad", "rep", "sep"):
                eog.add(token)
    for text in EOG_TEXTS:
        token = find(text)
        if token is not None:
            eog.add(token)
            roles[token] = "control"
    for text in ALWAYS_RENDERED:
        token = find(text)
        if token is not None:
            roles[token] = "text"
    ending = {text for text in ("<|return|>", "<|call|>", "<|calls|>", "<|flush|>") if find(text) in eog}
    end = find("<|end|>")
    if end in eog and (ending >= {"<|return|>", "<|call|>"} or ending >= {"<|calls|>", "<|flush|>"}):
        eog.discard(end)
        roles[end] = "text"
    closing = find("</s>")
    if closing in eog and find("<|tool_response>") in eog:
        eog.discard(closing)
        roles[closing] = "normal"
    return SpecialTokens(eog=eog, roles=roles)

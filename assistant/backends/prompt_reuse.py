"""How much of a new prompt an engine's KV cache already holds: one rule for both local engines.

llama.cpp and the native torch loop both keep the token ids they last
evaluated and reuse the positions a new prompt shares with them (a chat's
earlier turns, a batch's few-shot prefix, a label scored after the same text).
"""

from __future__ import annotations

from typing import Sequence


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading ids ``a`` and ``b`` share."""
    count = 0
    for x, y in zip(a, b):
        if x != y:
            break
        count += 1
    return count

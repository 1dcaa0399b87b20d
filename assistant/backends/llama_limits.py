"""Header values llama.cpp asserts on instead of refusing: checked before ``Llama()`` sees the file.

llama.cpp reads a GGUF's hyperparameters with ``GGML_ASSERT``s, not errors, for a few
counts: a layer count past ``LLAMA_MAX_LAYERS``, an expert count past
``LLAMA_MAX_EXPERTS``, experts used without experts (or more used than there are). A
failed assert aborts the whole process — ``assistant prompt`` died with status 134 and
no message, the chat app vanished mid-session — so a corrupt or hostile header with
one of these values is refused here, from the header we read ourselves, with the key
named, as llama.cpp's own refusals (a missing key, a wrong type) already are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ModelLoadError
from ..models.gguf import header_text

LLAMA_MAX_LAYERS = 512
"""llama.cpp's ``LLAMA_MAX_LAYERS``: a ``block_count`` past it fails an assert (measured: 512 loads, 513 aborts)."""
LLAMA_MAX_EXPERTS = 1024
"""llama.cpp's ``LLAMA_MAX_EXPERTS``: an ``expert_count`` past it fails an assert (1024 loads, 1025 aborts)."""


def _count(metadata: dict[str, Any], key: str) -> int | None:
    """A count from the header, else None: a value of another type (a string, a negative signed number)
    is llama.cpp's to refuse, and it does, cleanly ("wrong type")."""
    value = metadata.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def check_llama_limits(path: Path, metadata: dict[str, Any]) -> None:
    """Raise :class:`ModelLoadError` for a header llama.cpp would abort the process on (see the module)."""
    arch = header_text(metadata, "general.architecture")
    if arch is None:  # llama.cpp refuses a file without an architecture with an error of its own
        return
    layers = _count(metadata, f"{arch}.block_count")
    if layers is not None and layers > LLAMA_MAX_LAYERS:
        raise ModelLoadError(
            path, f"corrupt GGUF header ({arch}.block_count {layers} is past llama.cpp's {LLAMA_MAX_LAYERS} layers)"
        )
    experts = _count(metadata, f"{arch}.expert_count") or 0
    used = _count(metadata, f"{arch}.expert_used_count") or 0
    if experts > LLAMA_MAX_EXPERTS:
        raise ModelLoadError(
            path, f"corrupt GGUF header ({arch}.expert_count {experts} is past llama.cpp's {LLAMA_MAX_EXPERTS} experts)"
        )
    if used > experts or (experts > 0) != (used > 0):
        raise ModelLoadError(
            path,
            f"corrupt GGUF header ({arch}.expert_used_count {used} does not fit {arch}.expert_count {experts}: "
            "a mixture of experts uses at least one and at most all of them, a model without experts none)",
        )

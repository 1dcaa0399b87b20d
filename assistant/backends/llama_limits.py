"""Header values llama.cpp asserts on instead of refusing: checked before ``Llama()`` sees the file.

llama.cpp reads a GGUF's hyperparameters with ``GGML_ASSERT``s, not errors, for a few
counts: a layer count of 0 or past ``LLAMA_MAX_LAYERS``, more multi-token-prediction
layers than layers, an expert count past ``LLAMA_MAX_EXPERTS``, experts used without
experts (or more used than there are), expert groups that do not divide the experts,
a RoPE scaling type it does not know (an empty or misspelt string), and a normalisation
epsilon that is negative or NaN (asserted by ggml's norm operators at the first decode). A
failed assert aborts the whole process — ``assistant prompt`` died with status 134 and
no message, the chat app vanished mid-session — so a corrupt or hostile header with
one of these values is refused here, from the header we read ourselves, with the key
named, as llama.cpp's own refusals (a missing key, a wrong type) already are.

Other hyperparameters make no sense to any engine (a RoPE base of 0, an infinite epsilon, a context
length of 0): both local backends load such a file and reply with noise. :func:`check_header_values`
refuses those for both (the transformers backend before converting), and :func:`check_llama_limits`
includes it, so each value is judged in one place.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..errors import ModelLoadError
from ..models.gguf import header_text

LLAMA_MAX_LAYERS = 512
"""llama.cpp's ``LLAMA_MAX_LAYERS``: a ``block_count`` past it fails an assert (measured: 512 loads, 513 aborts)."""
LLAMA_MAX_EXPERTS = 1024
"""llama.cpp's ``LLAMA_MAX_EXPERTS``: an ``expert_count`` past it fails an assert (1024 loads, 1025 aborts)."""
ROPE_SCALING_TYPES = ("none", "linear", "yarn", "longrope")
"""The ``{arch}.rope.scaling.type`` names llama.cpp knows (``LLAMA_ROPE_SCALING_TYPES``); any other string,
"" and "YARN" included, fails an assert. A value that is not a string is refused cleanly ("wrong type")."""


def header_count(metadata: dict[str, Any], key: str) -> int | None:
    """A count from the header, else None: a value of another type (a string, a negative signed number)
    is llama.cpp's to refuse, and it does, cleanly ("wrong type")."""
    value = metadata.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


MAX_SHOWN_ARCH = 40
"""Most characters of the header's architecture an error names its keys with: a header may hold a 64 MB
``general.architecture`` (and keys named after it), and the one-line error was 2 MB long."""


def shown_arch(arch: str) -> str:
    """``arch`` as a message names it, cut past :data:`MAX_SHOWN_ARCH` characters (the lookups use it whole)."""
    return arch if len(arch) <= MAX_SHOWN_ARCH else arch[: MAX_SHOWN_ARCH - 1] + "…"


def check_llama_limits(path: Path, metadata: dict[str, Any]) -> None:
    """Raise :class:`ModelLoadError` for a header llama.cpp would abort the process on (see the module)."""
    arch = header_text(metadata, "general.architecture")
    if arch is None:  # llama.cpp refuses a file without an architecture with an error of its own
        return
    problem = value_problem(metadata, arch) or _layer_problem(metadata, arch) or _expert_problem(metadata, arch)
    scaling = metadata.get(f"{arch}.rope.scaling.type")
    if problem is None and isinstance(scaling, str) and scaling not in ROPE_SCALING_TYPES:
        known = ", ".join(ROPE_SCALING_TYPES)
        problem = f"{shown_arch(arch)}.rope.scaling.type {scaling[:40]!r} is none of llama.cpp's {known}"
    if problem is not None:
        raise ModelLoadError(path, f"corrupt GGUF header ({problem})")


NORM_EPSILONS = ("attention.layer_norm_epsilon", "attention.layer_norm_rms_epsilon")
"""Header keys (after ``{arch}.``) of the epsilon ggml's ``norm``/``rms_norm`` take: they assert ``eps >= 0``, which
a NaN fails too. The model loads; the first prompt read aborted the process (the chat app vanished on Enter).
An infinite one passes that assert and divides every activation to 0 (SmolLM2 answered "%5"); 0 is taken
(SmolLM2 answers as with its own 1e-5)."""

POSITIVE_NUMBERS = ("rope.freq_base", "rope.freq_base_swa")
"""Header numbers (after ``{arch}.``) that only make sense finite and above 0: RoPE divides each position by
powers of the base, so a base of 0, a negative one, NaN or infinity loads on both backends and makes every
reply noise or dots (SmolLM2 with ``llama.rope.freq_base`` 0 answered "............")."""

SCALING_FACTORS = ("rope.scaling.factor",)
"""Header numbers (after ``{arch}.``) that must be finite and at least 0: llama.cpp takes 0 for "no scaling"
(``rope_freq_scale_train = ropescale == 0 ? 1 : 1/ropescale``); a negative, NaN or infinite factor scales every
position into nonsense."""

POSITIVE_COUNTS = {
    "block_count": "a model has at least one layer",
    "context_length": "a model is trained on at least one token of context",
    "embedding_length": "a model's embeddings have at least one dimension",
}
"""Header counts (after ``{arch}.``) that a model cannot have 0 of, with why. llama.cpp aborts on 0 layers,
calls 0 embedding dimensions "invalid n_rot: 64, expected 0" (naming neither key) and loads a context length of
0 as if the key were missing; transformers copies all three into the model's config."""


def value_problem(metadata: dict[str, Any], arch: str) -> str | None:
    """What is wrong with the header's hyperparameters for any engine, else None (the header's own
    numbers: both local backends read the same GGUF, and :func:`check_header_values` refuses it for both).

    A value of another type is left to the engines: llama.cpp refuses it cleanly ("wrong type").
    """
    shown = shown_arch(arch)
    for name, why in POSITIVE_COUNTS.items():
        if header_count(metadata, f"{arch}.{name}") == 0:
            return f"{shown}.{name} is 0: {why}"
    for names, zero_taken in ((POSITIVE_NUMBERS, False), (SCALING_FACTORS, True), (NORM_EPSILONS, True)):
        for name in names:
            value = metadata.get(f"{arch}.{name}")
            if not isinstance(value, float):
                continue
            if not math.isfinite(value) or value < 0 or (value == 0 and not zero_taken):
                least = "of at least 0" if zero_taken else "above 0"
                return f"{shown}.{name} {value:g} is not a finite number {least}"
    return None


def check_header_values(path: Path, metadata: dict[str, Any]) -> None:
    """Raise :class:`ModelLoadError` naming the key and value when a hyperparameter of the header makes no
    sense (:func:`value_problem`): both local backends call it before loading or converting the file."""
    arch = header_text(metadata, "general.architecture")
    problem = value_problem(metadata, arch) if arch is not None else None
    if problem is not None:
        raise ModelLoadError(path, f"corrupt GGUF header ({problem})")


def _layer_problem(metadata: dict[str, Any], arch: str) -> str | None:
    layers = header_count(metadata, f"{arch}.block_count")
    if layers is None:  # missing or of another type: llama.cpp's own error says which
        return None
    shown = shown_arch(arch)
    if layers > LLAMA_MAX_LAYERS:  # 0 layers: value_problem's
        return f"{shown}.block_count {layers} is past llama.cpp's {LLAMA_MAX_LAYERS} layers"
    predicted = header_count(metadata, f"{arch}.nextn_predict_layers") or 0
    if predicted > layers:
        return f"{shown}.nextn_predict_layers {predicted} is more than {shown}.block_count {layers}"
    return None


def _expert_problem(metadata: dict[str, Any], arch: str) -> str | None:
    experts = header_count(metadata, f"{arch}.expert_count") or 0
    used = header_count(metadata, f"{arch}.expert_used_count") or 0
    groups = header_count(metadata, f"{arch}.expert_group_count") or 0
    groups_used = header_count(metadata, f"{arch}.expert_group_used_count") or 0
    shown = shown_arch(arch)
    if experts > LLAMA_MAX_EXPERTS:
        return f"{shown}.expert_count {experts} is past llama.cpp's {LLAMA_MAX_EXPERTS} experts"
    if used > experts or (experts > 0) != (used > 0):
        return (
            f"{shown}.expert_used_count {used} does not fit {shown}.expert_count {experts}: "
            "a mixture of experts uses at least one and at most all of them, a model without experts none"
        )
    if groups and (groups >= experts or (groups > 1 and (experts % groups or not 0 < groups_used < groups))):
        return (
            f"{shown}.expert_group_count {groups} does not fit {shown}.expert_count {experts} "
            f"and {shown}.expert_group_used_count {groups_used}: groups divide the experts, "
            "and some but not all of them are used"
        )
    return None

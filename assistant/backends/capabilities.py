"""What a loaded backend can do, as typed fields, and the one refusal of what it cannot.

Callers decide what to offer from :class:`Capabilities` (re-exported by
:mod:`assistant.backends.base`) instead of probing ``info()`` keys or calling and
catching :class:`~assistant.errors.NotSupportedError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection

from ..errors import NotSupportedError
from ..types import GenerationParams


@dataclass(frozen=True)
class Capabilities:
    """What a loaded backend can do, as typed fields: callers read these, never ``info()`` keys.

    A front end decides what to offer from here (a token view needs ``logprobs``,
    the attention view ``attention``) instead of calling and catching
    :class:`~assistant.errors.NotSupportedError`.
    """

    streaming: bool = True
    score: bool = True
    """``score()`` gives real log-likelihoods (label scoring)."""
    logprobs: bool = True
    """Per-token *model* log-probabilities and top alternatives while generating."""
    sampled_probs: bool = True
    """Per-token probability under the *sampled* distribution (after the settings)."""
    next_token: bool = True
    """The full next-token distribution after a prompt, and teacher-forced token scoring."""
    attention: bool = False
    """``attention()`` returns attention weights."""
    constrained: bool = False
    """Decoding constrained to a JSON schema."""
    top_k: bool = True
    """``top_k`` is applied (some servers have no such setting: they sample without it)."""
    repeat_penalty: bool = True
    """``repeat_penalty`` is applied (some servers have no such setting)."""
    seed: bool = True
    """A sampling ``seed`` makes a sampled reply reproducible (some servers ignore or refuse it)."""
    exact_token_count: bool = True
    """``count_tokens`` is the model's own tokenizer, not an estimate."""
    engine_process: bool = False
    """The model runs in a process of its own (the app's process stays free to draw)."""
    catalog_models: bool = True
    """``load()`` takes the local model catalog's references (a catalog name, a file, ``hf:…``), so the
    catalog's default model applies when none is named. False where models are named by a server
    (``-b openai``): with no model named, the server's own model is used, never a catalog name."""
    chat_turns: bool = True
    """The loaded model was trained on chat turns (instruction-tuned): asked something, it answers.

    False for a *base* model (its catalog entry says so, or its files carry no chat
    template): it continues the text it is given, so a tool that asks it for a summary
    gets its own prompt back. A caller that needs an answer (a tool) refuses such a
    model before generating, instead of catching the echo afterwards. Decided by
    :func:`assistant.models.mode.default_mode`, the one definition ``--mode`` defaults by;
    a server's model (``-b openai``) and a plugin's backend are taken to be chat models."""
    max_parallel: int = 1
    """How many requests may run at once from different threads (``--parallel`` is capped to it).

    A server takes many and batches them itself; a local engine that decodes
    one sequence at a time says 1, and a batch runs its rows one by one.
    """


def refuse_unconstrained(name: str, capabilities: Capabilities, params: GenerationParams) -> None:
    """Raise :class:`NotSupportedError` for a ``json_schema`` a backend cannot honour (never ignore it)."""
    if params.json_schema is not None and not capabilities.constrained:
        raise NotSupportedError(f"the {name} backend cannot constrain decoding to a JSON schema")


def within_reach(
    params: GenerationParams, capabilities: Capabilities, *, kept: Collection[str] = ()
) -> GenerationParams:
    """Preferred settings without those the backend lacks (a server without ``repeat_penalty`` or ``seed``).

    For a tool's own settings or a template's ``params``: preferences, not the user's
    choice, so a server that cannot honour them decodes without them instead of
    failing every call. ``kept`` names the settings the user gave (``-o``), which
    stay, for the backend to refuse when it cannot honour them.
    """
    if not capabilities.repeat_penalty and params.repeat_penalty != 1.0 and "repeat_penalty" not in kept:
        params = params.replace(repeat_penalty=1.0)
    if not capabilities.seed and params.seed is not None and "seed" not in kept:
        params = params.replace(seed=None)
    return params


def known_before_load(backend: object, feature: str) -> object | None:
    """Capability ``feature`` of ``backend`` where every load gives the same, read before any load; else None.

    A backend lists in ``capabilities_before_load`` (a class attribute, a set of
    :class:`Capabilities` field names) the fields its unloaded ``capabilities`` already
    answer for whatever model it will load: llama-cpp never gives attention weights,
    whichever GGUF it loads. A command refuses what the backend can never do before
    the load instead of after it (``assistant attention -b llama-cpp``). A backend
    that lists nothing (a plugin's) is asked only once loaded, as before.
    """
    if feature not in getattr(type(backend), "capabilities_before_load", ()):
        return None
    return getattr(backend.capabilities, feature)  # type: ignore[attr-defined]

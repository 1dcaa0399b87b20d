"""Chat or completion: the one place that decides how a model is prompted.

An instruction-tuned model is asked in chat turns (its chat template, a system
prompt). A *base* model was never trained on turns: wrapped in them it rambles
(the Gemma 270M example printed "devenue payments" four times). It continues
text instead, so it runs in completion mode: the text is the prompt, as is.

A model is a base model when its catalog entry says so (``chat=False``) or its
file carries no chat template (GGUF ``tokenizer.chat_template``, or a Hugging
Face directory without one in ``tokenizer_config.json``/``chat_template.jinja``,
given by path or as ``ORG/REPO`` in the Hugging Face cache).
Anything else (a remote server's model, an unknown reference) is chat.
``--mode`` and the chat app's setting override.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, get_args

from ..errors import ConfigError, ModelError

Mode = Literal["chat", "completion"]
MODES: tuple[str, ...] = get_args(Mode)


def check_mode(value: str) -> Mode:
    if value not in MODES:
        raise ConfigError(f"mode must be one of {', '.join(MODES)}, not {value!r}")
    return value  # type: ignore[return-value]


def _directory_has_template(directory: Path) -> bool:
    if (directory / "chat_template.jinja").is_file() or (directory / "chat_template.json").is_file():
        return True
    try:
        config = json.loads((directory / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return True  # unknown: keep the default
    return bool(isinstance(config, dict) and config.get("chat_template"))


def default_mode(model: str) -> Mode:
    """The mode ``model`` (a reference as ``-m`` takes it) runs in unless told otherwise. No network."""
    from . import refs
    from .summary import try_summarize

    if not model.strip():  # "": a server's own model (-b openai without -m), never a local path
        return "chat"
    try:
        ref = refs.parse(model)
    except ModelError:
        return "chat"
    if isinstance(ref, refs.CatalogRef) and ref.entry.base:
        return "completion"
    # ORG/REPO: its directory in the Hugging Face cache, once downloaded (the backend loads it first)
    path = refs.files_here(ref)
    if path is None:
        return "chat"
    if path.is_dir():
        return "chat" if _directory_has_template(path) else "completion"
    summary = try_summarize(path)
    if summary is None:
        return "chat"
    return "chat" if summary.chat_template else "completion"


def choose_mode(requested: str | None, model: str, backend: str | None = None) -> Mode:
    """``requested`` (``--mode``, the chat app's setting) when given, else :func:`default_mode`.

    ``backend`` (its name), when known: a backend whose models live on a server runs ``model`` there,
    and a local file or catalog entry of that name says nothing about it. ``-b openai -m gemma3``
    (Ollama's instruction-tuned Gemma) ran in completion mode because the catalog's ``gemma3`` is a
    base model: Ollama refused the raw prompt, and ``-s`` was refused as if the model had no turns.
    """
    if requested:
        return check_mode(requested)
    if backend is not None:
        from ..backends import models_on_a_server
        from ..errors import BackendNotFoundError

        try:
            on_a_server = models_on_a_server(backend)
        except BackendNotFoundError:  # loading it says so, in its own words: the mode is not the place
            on_a_server = False
        if on_a_server:
            return "chat"
    return default_mode(model)

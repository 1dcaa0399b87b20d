"""What the chat app remembers of the user's settings: per conversation, and the last used.

Model, backend, template, sampling parameters and mode:

- **per conversation** they are what its newest reply was made with (every
  stored message records model, backend, template and params), so reopening a
  conversation — from the sidebar or with ``-c`` — brings them back;
- **the last used** are written to ``<data>/chat_settings.json`` when the app
  closes, and a new chat started without ``-m/-b/-t/-o`` begins with them.

And the message box's **draft**: text typed and not sent when the app quits is kept per
conversation in ``<data>/chat_drafts.json`` and put back in the box when that conversation
is opened again (``-c``, the sidebar; a new chat's by the next new chat).

Textual-free: the app and ``assistant chat`` both call it. A missing or broken
file is no memory, never an error: the config's defaults apply.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..files import replacing
from ..types import GenerationParams

FILE_NAME = "chat_settings.json"


@dataclass(frozen=True)
class Remembered:
    model: str | None = None
    backend: str | None = None
    template: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    mode: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    """The template's variables (translate's ``target``): without them it fails every turn after a restart."""

    def params_over(self, base: GenerationParams) -> GenerationParams:
        """``base`` with the remembered values that still make valid parameters (others are dropped).

        One value at a time: a single one an older version allowed (or a hand-edited file) made
        every remembered parameter fall back to the defaults, the temperature the user chose too.
        """
        params = base
        for name, value in self.params.items():
            if name not in GenerationParams.field_names():
                continue
            try:
                params = params.replace(**{name: value})
            except Exception:  # noqa: BLE001 - a value no longer valid: that one keeps its default
                continue
        return params

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "backend": self.backend, "template": self.template,
                "params": self.params, "mode": self.mode, "variables": self.variables}


def settings_path() -> Path:
    from ..config import paths

    return paths().data_dir / FILE_NAME


def load_last_used(path: Path | None = None) -> Remembered | None:
    """The settings the app closed with last time, or None (no file, or one that cannot be read)."""
    target = path or settings_path()
    try:
        data = json.loads(target.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None

    def text(key: str) -> str | None:
        value = data.get(key)
        return value if isinstance(value, str) and value else None

    params = data.get("params")
    variables = data.get("variables")
    from ..models.mode import MODES

    mode = text("mode")
    if mode not in MODES:  # a hand-edited or older file: `assistant chat` crashed on choose_mode's error
        mode = None
    if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
        variables = {}
    backend = _registered(text("backend"))
    # the model was chosen for that backend (a server's model name, say): with it gone, so is the model
    model = _still_there(text("model")) if backend or not text("backend") else None
    return Remembered(model, backend, _loadable(text("template")),
                      params if isinstance(params, dict) else {}, mode, {str(k): v for k, v in variables.items()})


def _registered(backend: str | None) -> str | None:
    """``backend`` if a backend of that name is still registered, else None.

    A plugin's backend, the plugin since removed: every `assistant chat` opened with "unknown
    backend ..." and no model at all, until one was chosen in F2.
    """
    if backend is None:
        return None
    from ..backends import available_backends
    from ..errors import AssistantError

    try:
        return backend if backend in available_backends() else None
    except AssistantError:  # a broken plugin: loading the backend says so, by name
        return backend


def _loadable(template: str | None) -> str | None:
    """``template`` if it still loads, else None: a remembered template since deleted (or broken) made
    every `assistant chat` without -t stop with "no template named ..." before the app opened."""
    if template is None:
        return None
    from ..errors import AssistantError
    from .templating import load_chat_template  # the lookup set_template makes

    try:
        load_chat_template(template)
    except AssistantError:
        return None
    return template


def _still_there(model: str | None) -> str | None:
    """``model`` unless it names a GGUF file that is gone (moved, deleted): then None, the config's default.

    The app opened with "Could not load ...: model file not found" and no model at all, every time,
    until one was chosen in F2. Only a ``.gguf`` name is judged (a path, a file in the models
    directory): any other name may be a catalog entry to pull or a server's model (``-b openai``).
    """
    if model is None or not model.lower().endswith(".gguf"):
        return model
    from ..errors import ModelNotFoundError
    from ..models import refs

    try:
        refs.parse(model)
    except ModelNotFoundError:
        return None
    return model


def save_last_used(remembered: Remembered, path: Path | None = None) -> None:
    """Write the settings atomically (best effort: a read-only data directory just means no memory)."""
    target = path or settings_path()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with replacing(target) as out:
            json.dump(remembered.to_dict(), out, ensure_ascii=False)
    except OSError:
        return


def of_conversation(stored: Sequence[Any]) -> Remembered | None:
    """The settings of a stored conversation's newest reply (StoredMessage rows), or None without one.

    Its model as ``-m`` loads it again (:attr:`StoredMessage.model_to_load`): a model given by path is its
    path, not the file name the reply shows, which named any ``x.gguf`` (the models directory's first).
    """
    for message in reversed(stored):
        if message.role == "assistant" and (message.model or message.backend):
            params = message.params if isinstance(message.params, dict) else {}
            return Remembered(message.model_to_load, message.backend, message.template, params)
    return None


DRAFTS_FILE_NAME = "chat_drafts.json"
MAX_DRAFTS = 100
"""Drafts kept at most (the newest): one per conversation left with text in its message box."""


def drafts_path() -> Path:
    from ..config import paths

    return paths().data_dir / DRAFTS_FILE_NAME


def draft_key(db: Path, conversation_id: int | None) -> str:
    """Where a draft belongs: a conversation of one history database (ids restart in another ``--db``),
    or the new chat (``new``) that database's next plain ``assistant chat`` opens."""
    return f"{db}#{conversation_id if conversation_id is not None else 'new'}"


def _read_drafts(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {key: value for key, value in data.items() if isinstance(value, str) and value.strip()}


def keep_draft(key: str, text: str, path: Path | None = None) -> None:
    """Keep ``text``, the unsent message of the conversation ``key`` (an empty one forgets it).

    Quitting (Ctrl+Q) with a message typed and not sent lost it. Best effort, as the
    settings: a read-only data directory just means no draft is kept.
    """
    target = path or drafts_path()
    drafts = _read_drafts(target)
    had = drafts.pop(key, None) is not None  # re-inserted last: the newest are the ones kept
    if text.strip():
        drafts[key] = text
    elif not had:
        return  # nothing kept, nothing to forget: no file written
    kept = dict(list(drafts.items())[-MAX_DRAFTS:])
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with replacing(target) as out:
            json.dump(kept, out, ensure_ascii=False)
    except OSError:
        return


def take_draft(key: str, path: Path | None = None) -> str:
    """The draft kept for ``key`` ("" when none), forgotten in the file: it is in the message box now."""
    target = path or drafts_path()
    text = _read_drafts(target).get(key, "")
    if text:
        keep_draft(key, "", target)
    return text

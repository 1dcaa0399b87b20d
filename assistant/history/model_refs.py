"""The reference a turn keeps so that its model can be loaded again (``messages.model_ref``, migration 0014).

A turn stores the model's display name (``model``: what the engine calls it),
which is what ``history list``, ``history show`` and the chat app's sidebar show.
For a model given by path that name is the file name (``-m /some/dir/x.gguf`` is
``x.gguf``), and continuing the conversation (``chat -c``, ``prompt -c``,
``--cid``, the chat app reopening it) loaded ``x.gguf`` from the models directory:
"model file not found: x.gguf". :func:`model_ref_of` says what loads the model
again where the name does not; :attr:`~assistant.history.records.StoredMessage.model_to_load`
is how every reader takes it back.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def model_ref_of(backend: Any) -> str | None:
    """The absolute path of ``backend``'s model when its name is that file's name alone; else None.

    The backends name a model loaded from a path by its file (or directory) name
    and any other one by the reference it was loaded with (a catalog name,
    ``hf:ORG/REPO``, a URL, ``~/m/x.gguf``, a server's model), which loads it
    again as it is: None then, and the name is what a resumed conversation
    loads. A file of the models directory keeps its name too (it is found there
    wherever that directory is configured). Read from the ``path`` the backend's
    ``info()`` reports, so a backend in an engine process (the chat app) says it too.
    """
    name = backend.model_name
    if not name or not backend.capabilities.catalog_models:  # a server's model: its name is the reference
        return None
    try:
        path = backend.info().get("path")
    except Exception:  # noqa: BLE001 - a plugin's info() that fails must not cost the turn its record
        return None
    if not isinstance(path, str) or not path or Path(path).name != name:
        return None
    full = os.path.abspath(path)
    from ..models.refs import local_file

    found = local_file(name)
    if found is not None and os.path.abspath(found) == full:
        return None
    return full

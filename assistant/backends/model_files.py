"""Where a model reference's files already are on this machine, found without downloading anything.

For :meth:`~assistant.backends.base.Backend.check_options` with a model: what
``load`` would refuse about the model itself (an ``n_ctx`` past the context it
was trained on, or whose KV cache cannot fit) is in its files' headers, so a
command that loads one backend after another (``assistant compare``) can refuse
it before the first side runs. A model not downloaded yet is left to ``load``,
which checks the same thing once the file is there, before anything is allocated.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import AssistantError


def model_on_disk(model: str, directory_ok: bool = False) -> Path | None:
    """The file (or, with ``directory_ok``, Hugging Face model directory) ``model`` names, if it is here.

    None for a reference that names nothing yet on disk (a catalog model not pulled,
    an ``hf:`` file not downloaded, an ``ORG/REPO`` not in the Hugging Face cache) or
    nothing at all: ``load`` says why, in its own words. No network, no download.
    """
    from ..models import refs

    try:
        ref = refs.parse(model)
        if isinstance(ref, refs.HubModelRef) and not directory_ok:
            return None
        path = refs.files_here(ref)
    except (AssistantError, OSError, ValueError):  # a bad reference, an unreadable registry: load reports it
        return None
    if path is None:
        return None
    try:
        if path.is_file() or (directory_ok and path.is_dir()):
            return path
    except (OSError, ValueError):
        return None
    return None

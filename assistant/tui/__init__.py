"""The Textual chat app (``assistant chat``).

Importing this package imports Textual, so the CLI imports it only inside the
``chat`` command. :func:`run_chat` is the entry point.
"""

from __future__ import annotations

from .app import ChatApp
from .controller import ChatController, ChatSettings

__all__ = ["ChatApp", "ChatController", "ChatSettings"]

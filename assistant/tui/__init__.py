"""The Textual chat app (``assistant chat``).

:class:`ChatApp` (and its controller) are imported on first use, not with the
package: importing :mod:`assistant.tui.remembered` or :mod:`assistant.tui.quit_signals`
(what ``assistant chat`` needs before the app opens) took the ~1 s import of Textual
with it, a second in which a quit signal could not be caught yet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import ChatApp
    from .controller import ChatController, ChatSettings

__all__ = ["ChatApp", "ChatController", "ChatSettings"]


def __getattr__(name: str) -> Any:
    if name == "ChatApp":
        from .app import ChatApp

        return ChatApp
    if name in ("ChatController", "ChatSettings"):
        from . import controller

        return getattr(controller, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Stand-ins for a cancel or a Ctrl-C arriving at a chosen moment, shared by the interrupt tests."""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

from assistant.backends.fake import FakeBackend


class CancelAfter(threading.Event):
    """A cancel that arrives after ``calls`` checks of it: mid-decode once llama.cpp asks between its steps."""

    def __init__(self, calls: int) -> None:
        super().__init__()
        self.calls = 0
        self.limit = calls

    def is_set(self) -> bool:
        self.calls += 1
        return self.calls > self.limit or super().is_set()


def swallowed_ctrl_c() -> None:
    """A Ctrl-C raised here and dropped, as ctypes drops one raised in llama.cpp's abort callback
    ("Exception ignored on calling ctypes callback function"): only a handler's own note of it remains."""
    try:
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(10_000):  # the handler runs between bytecodes: inside this block
            pass
    except KeyboardInterrupt:
        pass


class SwallowsCtrlC(FakeBackend):
    """Ctrl-C arrives while reply number ``at`` decodes, inside an engine callback that drops it.

    Subclass it per test (the counts are class attributes, as the backend plugin makes its own instances).
    """

    replies = 0
    at = 2

    def sample_tokens(self, prompt_ids: list[int], params: Any) -> Any:
        type(self).replies += 1
        if type(self).replies == self.at:
            swallowed_ctrl_c()
        yield from super().sample_tokens(prompt_ids, params)

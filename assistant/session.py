"""A chat session: a loaded backend, the conversation so far, and the sampling params.

Front ends (the line chat, the TUI, ``assistant prompt``) all talk to a model
through this class, so they share one definition of "send a message and stream
the reply", including how a cancelled reply is kept.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from .backends import Backend, load_backend
from .types import Chunk, Completion, GenerationParams, Message, Timings, Usage


def stderr_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def open_backend(
    model: str,
    backend: str,
    options: dict[str, Any] | None = None,
    progress: Callable[[str], None] = stderr_progress,
) -> Backend:
    """Load ``model`` into the named backend with config + explicit options."""
    return load_backend(backend, model, progress=progress, **(options or {}))


@dataclass
class ChatSession:
    backend: Backend
    params: GenerationParams = field(default_factory=GenerationParams)
    system: str | None = None
    messages: list[Message] = field(default_factory=list)
    last: Completion | None = None

    def prompt_messages(self, user_text: str | None = None) -> list[Message]:
        """System prompt + history (+ the new user turn): what the backend will render."""
        out: list[Message] = []
        if self.system:
            out.append(Message("system", self.system))
        out.extend(self.messages)
        if user_text is not None:
            out.append(Message("user", user_text))
        return out

    def send(self, user_text: str) -> Iterator[Chunk]:
        """Stream the reply to ``user_text``; the turn is recorded even if cut short."""
        prompt = self.prompt_messages(user_text)
        self.messages.append(Message("user", user_text))
        parts: list[str] = []
        final: Chunk | None = None
        try:
            for chunk in self.backend.stream(prompt, self.params):
                parts.append(chunk.text)
                if chunk.finish_reason is not None:
                    final = chunk
                yield chunk
        except Exception:
            if not parts:
                # Nothing was generated (e.g. context overflow): leave the
                # conversation as it was so the user can retry or shorten.
                self.messages.pop()
                raise
            self._finish(parts, final, "error")
            raise
        else:
            self._finish(parts, final, "cancelled")
        finally:
            if final is None and parts and self.messages and self.messages[-1].role == "user":
                self._finish(parts, final, "cancelled")  # consumer stopped iterating

    def _finish(self, parts: list[str], final: Chunk | None, default_reason: str) -> None:
        text = "".join(parts)
        self.messages.append(Message("assistant", text))
        self.last = Completion(
            text=text,
            model=self.backend.model_name,
            backend=self.backend.name,
            finish_reason=(final.finish_reason if final and final.finish_reason else default_reason),  # type: ignore[arg-type]
            usage=final.usage if final and final.usage else Usage(),
            timings=final.timings if final and final.timings else Timings(),
        )

    def cancel(self) -> None:
        self.backend.cancel()

"""ChatSession: a reply stopped before its first token leaves the conversation as it was."""

from __future__ import annotations

from typing import Any, Iterator

from assistant.backends.fake import FakeBackend
from assistant.session import ChatSession
from assistant.types import Chunk, Message


class StoppedAtOnce(FakeBackend):
    """Its second stream ends as an engine ends one when Esc came while it read the prompt."""

    def __init__(self) -> None:
        super().__init__(reply="Hello.")
        self.streamed = 0

    def stream(self, prompt: Any, params: Any) -> Iterator[Chunk]:
        self.streamed += 1
        if self.streamed != 2:
            yield from super().stream(prompt, params)
            return
        yield Chunk(finish_reason="cancelled")


def test_a_reply_stopped_before_its_first_token_leaves_the_conversation_as_it_was() -> None:
    backend = StoppedAtOnce()
    backend.load("fake-model")
    session = ChatSession(backend, system="sys")
    list(session.send("first"))
    before = list(session.messages)
    list(session.send("a long paste the model never answered"))
    assert session.messages == before  # the next message is not sent after an unanswered one
    assert session.last is not None and session.last.finish_reason == "cancelled" and session.last.text == ""
    list(session.send("again"))  # and the conversation goes on from where it was
    assert [m.content for m in session.messages if m.role == "user"] == ["first", "again"]


def test_an_empty_but_finished_reply_stays_a_turn() -> None:
    backend = FakeBackend(reply="")
    backend.load("fake-model")
    session = ChatSession(backend)
    list(session.send("say nothing"))
    assert session.messages[-2:] == [Message("user", "say nothing"), Message("assistant", "")]

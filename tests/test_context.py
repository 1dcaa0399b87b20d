"""Fitting conversations into the context window (shared by the chat and resumed conversations)."""

from __future__ import annotations

import pytest

from assistant.backends.fake import FakeBackend
from assistant.context import fit_to_context, reply_reserve
from assistant.errors import ContextOverflowError, NotSupportedError
from assistant.types import GenerationParams, Message


def backend(context_length: int) -> FakeBackend:
    engine = FakeBackend(context_length=context_length)
    engine.load("model")
    return engine


def conversation(turns: int, size: int = 40) -> list[Message]:
    out = [Message("system", "You are terse.")]
    for i in range(turns):
        out.append(Message("user", f"question {i} " + "q" * size))
        out.append(Message("assistant", f"answer {i} " + "a" * size))
    out.append(Message("user", "the newest question"))
    return out


def test_everything_fits_nothing_dropped() -> None:
    engine = backend(4096)
    messages = conversation(3)
    fitted = fit_to_context(engine, messages, reserve=100)
    assert fitted.messages == messages
    assert fitted.dropped == 0
    assert fitted.prompt_tokens == engine.count_tokens(messages)


def test_oldest_turns_go_first_and_system_prompt_stays() -> None:
    messages = conversation(10)
    full = FakeBackend().count_tokens(messages)
    engine = backend(full)  # the window is exactly the whole prompt; reserve forces trimming
    fitted = fit_to_context(engine, messages, reserve=300)
    assert fitted.messages[0] == messages[0]  # system prompt kept
    assert fitted.messages[-1] == messages[-1]  # newest message kept
    assert fitted.dropped > 0 and fitted.dropped % 2 == 0  # whole turns (user + assistant)
    assert fitted.messages[1:] == messages[1 + fitted.dropped :]  # a suffix: the oldest went first
    assert fitted.messages[1].role == "user"
    assert fitted.prompt_tokens == engine.count_tokens(fitted.messages)
    assert fitted.prompt_tokens <= full - 300
    # Maximal: keeping one more turn would not fit.
    one_more = [messages[0], *messages[1 + fitted.dropped - 2 :]]
    assert engine.count_tokens(one_more) > full - 300
    assert fitted.dropped_messages == messages[1 : 1 + fitted.dropped]


def test_budget_too_small_keeps_system_and_newest_if_window_allows() -> None:
    messages = conversation(5)
    minimal = [messages[0], messages[-1]]
    engine = backend(FakeBackend().count_tokens(minimal) + 5)
    fitted = fit_to_context(engine, messages, reserve=1000)
    assert fitted.messages == minimal


def test_overflow_when_newest_message_alone_does_not_fit() -> None:
    engine = backend(64)
    with pytest.raises(ContextOverflowError):
        fit_to_context(engine, [Message("system", "s"), Message("user", "x" * 500)], reserve=10)


def test_backend_without_token_counting_gets_messages_untouched() -> None:
    class NoCount(FakeBackend):
        def count_tokens(self, prompt: object) -> int:
            raise NotSupportedError("cannot count")

    engine = NoCount()
    engine.load("m")
    messages = conversation(2)
    fitted = fit_to_context(engine, messages, reserve=10)
    assert fitted.messages == messages and fitted.prompt_tokens is None


def test_binary_search_renders_few_prompts() -> None:
    calls = 0

    class Counting(FakeBackend):
        def count_tokens(self, prompt: object) -> int:
            nonlocal calls
            calls += 1
            return super().count_tokens(prompt)  # type: ignore[arg-type]

    engine = Counting(context_length=3000)
    engine.load("m")
    fit_to_context(engine, conversation(200), reserve=500)
    assert calls <= 12  # log2(200 turns) + a few, not 200


def test_reply_reserve_is_capped_at_half_the_window() -> None:
    assert reply_reserve(GenerationParams(max_tokens=256), 2048) == 256
    assert reply_reserve(GenerationParams(max_tokens=100_000), 2048) == 1024

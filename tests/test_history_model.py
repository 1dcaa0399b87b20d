"""Resuming a stored conversation with a real model (SmolLM2): same prompt, same greedy answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.backends import load_backend
from assistant.config import DEFAULT_SYSTEM_PROMPT
from assistant.context import fit_to_context
from assistant.history import ConversationRecorder, HistoryStore
from assistant.session import ChatSession
from assistant.types import GenerationParams, Message

pytestmark = pytest.mark.model


def test_resumed_conversation_continues_exactly_like_the_live_one(smollm2_path: Path, tmp_path: Path) -> None:
    engine = load_backend("llama-cpp", str(smollm2_path), n_ctx=1024, n_threads=2, progress=lambda _: None)
    greedy = GenerationParams(temperature=0, max_tokens=24)
    try:
        with HistoryStore.open(tmp_path / "h.db") as store:
            live = ChatSession(engine, params=greedy, system=DEFAULT_SYSTEM_PROMPT, recorder=ConversationRecorder(store))
            first = "".join(c.text for c in live.send("What is the capital of France?"))
            assert "Paris" in first
            live_prompt = engine.render_prompt(live.fit_prompt("And what is the capital of Italy?").messages)
            live_reply = "".join(c.text for c in live.send("And what is the capital of Italy?"))

            conversation_id = live.recorder.conversation_id  # type: ignore[union-attr]
            conversation = store.get_conversation(conversation_id)  # type: ignore[arg-type]
            history = store.context_messages(conversation.id)
            assert history[:2] == [
                Message("user", "What is the capital of France?"),
                Message("assistant", first),
            ]
            resumed = ChatSession(engine, params=greedy, system=conversation.system, messages=history[:2])
            assert engine.render_prompt(resumed.fit_prompt("And what is the capital of Italy?").messages) == live_prompt
            resumed_reply = "".join(c.text for c in resumed.send("And what is the capital of Italy?"))
            assert resumed_reply == live_reply
            stored = store.messages(conversation.id)
            assert stored[3].content == live_reply and stored[3].prompt_tokens == engine.count_tokens(
                [Message("system", DEFAULT_SYSTEM_PROMPT), *history[:2], Message("user", "And what is the capital of Italy?")]
            )
    finally:
        engine.unload()


def test_trimming_counts_real_tokens(smollm2_path: Path) -> None:
    engine = load_backend("llama-cpp", str(smollm2_path), n_ctx=256, n_threads=2, progress=lambda _: None)
    try:
        messages = [Message("system", DEFAULT_SYSTEM_PROMPT)]
        for i in range(12):
            messages += [Message("user", f"Tell me fact number {i} about owls."), Message("assistant", f"Owl fact {i}: " + "hoot " * 12)]
        messages.append(Message("user", "Which bird were we discussing?"))
        fitted = fit_to_context(engine, messages, reserve=64)
        assert fitted.dropped > 0 and fitted.messages[0].role == "system" and fitted.messages[-1] == messages[-1]
        assert fitted.prompt_tokens == engine.count_tokens(fitted.messages) <= 256 - 64
        # One more turn would not have fitted.
        assert engine.count_tokens([messages[0], *messages[1 + fitted.dropped - 2 :]]) > 256 - 64
    finally:
        engine.unload()

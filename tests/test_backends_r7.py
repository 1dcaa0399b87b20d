"""Round 7: backends and the tools' generation helper, as a demanding user meets them."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from assistant.backends.fake import FakeBackend
from assistant.errors import ToolError
from assistant.tools.generate import TOOL_STOPPED, generate_checked, nonempty
from assistant.types import GenerationParams, Message

MESSAGES = [Message("user", "Summarize: the quick brown fox.")]


def _cancelling_backend(reply: str) -> FakeBackend:
    """A fake whose first generation the user cancels after its first token (Esc in the chat app)."""
    backend = FakeBackend(reply=reply)
    backend.load("fake")
    return backend


def _cancel_on_first_token(backend: FakeBackend) -> Callable[[int], None]:
    def on_tokens(count: int) -> None:
        if count == 1 and len(backend.calls) == 1:
            backend.cancel()

    return on_tokens


def test_a_cancelled_attempt_ends_the_tool_instead_of_starting_a_second_generation() -> None:
    """Esc during a tool's first attempt: its cut output failed the check, so a second generation
    started, as if the user had not asked to stop."""
    backend = _cancelling_backend("A fox jumps.")

    def whole_sentence(text: str) -> str | None:
        return text.strip() if text.strip().endswith(".") else None

    with pytest.raises(ToolError) as raised:
        generate_checked(
            backend, MESSAGES, GenerationParams(max_tokens=32, temperature=0), whole_sentence, "summary",
            on_tokens=_cancel_on_first_token(backend),
        )
    assert str(raised.value) == TOOL_STOPPED
    assert len(backend.calls) == 1


def test_a_cancelled_attempt_whose_cut_output_passes_the_check_is_no_result() -> None:
    """A cancelled attempt's first letters passed a lenient check and came back as the tool's result,
    marked complete (only "length" counted as cut short)."""
    backend = _cancelling_backend("A fox jumps.")
    with pytest.raises(ToolError, match="stopped"):
        generate_checked(
            backend, MESSAGES, GenerationParams(max_tokens=32, temperature=0), nonempty, "summary",
            on_tokens=_cancel_on_first_token(backend),
        )
    assert len(backend.calls) == 1


def test_an_attempt_that_is_not_cancelled_still_retries_once() -> None:
    backend = FakeBackend(reply="no")
    backend.load("fake")
    with pytest.raises(ToolError, match="twice"):
        generate_checked(backend, MESSAGES, GenerationParams(max_tokens=8), lambda text: None, "summary")
    assert len(backend.calls) == 2


# ---- the openai backend: a reply too long for the server's window ---------------------------

VLLM_TOO_LONG = {
    # vLLM 0.8 to 0.10
    "request has": "'max_tokens' or 'max_completion_tokens' is too large: 30. This model's maximum context length "
    "is 100 tokens and your request has 90 input tokens (30 > 100 - 90). None",
    # later vLLM, which counted the whole prompt
    "prompt contains": "This model's maximum context length is 100 tokens. However, you requested 30 output tokens "
    "and your prompt contains 90 input tokens, for a total of 120 tokens. Please reduce the length of the input "
    "prompt or the number of requested output tokens.",
    # later vLLM, which stopped counting one token past the room it had (70 = 100 - 30)
    "at least": "This model's maximum context length is 100 tokens. However, you requested 30 output tokens and "
    "your prompt contains at least 71 input tokens, for a total of at least 101 tokens. Please reduce the length "
    "of the input prompt or the number of requested output tokens.",
    # vLLM's renderer, which also stops counting there
    "you passed": "You passed 71 input tokens and requested 30 output tokens. However, the model's context length "
    "is only 100 tokens, resulting in a maximum input length of 70 tokens. Please reduce the length of the input "
    "prompt.",
}


@pytest.mark.parametrize("wording", list(VLLM_TOO_LONG))
def test_a_reply_too_long_for_vllms_window_is_retried_with_the_room_left(wording: str) -> None:
    """Local engines stop at the end of the window; vLLM refuses prompt + max_tokens past it. Only the
    oldest wording of that refusal was understood, so against current vLLM a long prompt with a large
    max_tokens failed with the 400 instead of getting the reply that fits."""
    from assistant.backends import load_backend

    from .openai_fake_server import FakeOpenAIServer, chat_chunk, DONE, send_json, sse

    server = FakeOpenAIServer()
    try:
        server.models("tiny", owned_by="vllm")
        server.route("POST", "/tokenize", lambda h, _: send_json(h, 200, {"count": 90, "tokens": list(range(90))}))
        asked: list[int] = []

        def handler(h: Any, body: Any) -> None:
            asked.append(body["max_tokens"])
            if body["max_tokens"] > 10:
                send_json(h, 400, {"object": "error", "message": VLLM_TOO_LONG[wording], "code": 400})
            else:
                sse([chat_chunk("short"), chat_chunk(None, "length"), DONE])(h, body)

        server.route("POST", "/v1/chat/completions", handler)
        backend = load_backend("openai", "tiny", base_url=server.base_url, progress=lambda _: None)
        completion = backend.complete(MESSAGES, GenerationParams(max_tokens=30, temperature=0))
        assert (completion.text, completion.finish_reason) == ("short", "length")
        assert asked == [30, 10]
    finally:
        server.close()


def test_a_prompt_vllm_counts_past_the_window_is_a_context_overflow() -> None:
    from assistant.backends import load_backend
    from assistant.errors import ContextOverflowError

    from .openai_fake_server import FakeOpenAIServer, send_json

    message = (
        "This model's maximum context length is 100 tokens. However, you requested 0 output tokens and your "
        "prompt contains at least 101 input tokens, for a total of at least 101 tokens."
    )
    server = FakeOpenAIServer()
    try:
        server.models("tiny", owned_by="vllm")
        server.route("POST", "/v1/chat/completions", lambda h, _: send_json(h, 400, {"message": message}))
        backend = load_backend("openai", "tiny", base_url=server.base_url, progress=lambda _: None)
        with pytest.raises(ContextOverflowError) as raised:
            backend.complete(MESSAGES, GenerationParams(max_tokens=30, temperature=0))
        assert (raised.value.prompt_tokens, raised.value.context_length) == (101, 100)
    finally:
        server.close()

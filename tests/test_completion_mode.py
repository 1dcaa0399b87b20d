"""Base models run as completions: the text is the prompt, no system prompt, no turn markers.

Fake-backend tests pin down what is sent; real-model tests check that Gemma 3
270M (a base model) continues a sentence sensibly on both local backends.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.backends.fake import FakeBackend
from assistant.errors import ConfigError
from assistant.models.mode import choose_mode, default_mode
from assistant.session import ChatSession
from assistant.types import GenerationParams

from .conftest import run_cli

GREEDY = GenerationParams(temperature=0.0, max_tokens=12)


def _seen_by(session: ChatSession, text: str, seen: list[str]) -> str:
    for _ in session.send(text):
        pass
    assert session.last is not None
    return seen[-1]


def test_completion_mode_sends_the_text_as_is() -> None:
    seen: list[str] = []
    backend = FakeBackend(reply=lambda prompt: (seen.append(prompt), " Paris.")[1])
    backend.load("fake")
    session = ChatSession(backend, params=GREEDY, system="You are helpful.", mode="completion")
    assert _seen_by(session, "The capital of France is", seen) == "The capital of France is"
    assert session.last.text == " Paris."
    # a second turn continues the same document: nothing between the texts, no template, no system prompt
    assert _seen_by(session, " It is", seen) == "The capital of France is Paris. It is"
    assert session.prompt_messages()[0].role == "user"  # the system prompt has no place in a completion
    fitted = session.fit_prompt(" more")
    assert session.prompt_for(fitted) == "The capital of France is Paris. It is Paris. more"
    assert fitted.prompt_tokens == len(backend.prompt_token_ids(session.prompt_for(fitted)))


def test_chat_mode_still_uses_the_template() -> None:
    seen: list[str] = []
    backend = FakeBackend(reply=lambda prompt: (seen.append(prompt), "ok")[1])
    backend.load("fake")
    session = ChatSession(backend, params=GREEDY, system="Be brief.")
    sent = _seen_by(session, "Hi", seen)
    assert "<|im_start|>system\nBe brief.<|im_end|>" in sent and "<|im_start|>user\nHi<|im_end|>" in sent


def test_completion_mode_drops_the_oldest_text_to_fit() -> None:
    seen: list[str] = []
    backend = FakeBackend(reply=lambda prompt: (seen.append(prompt), "!")[1], context_length=64)
    backend.load("fake")
    session = ChatSession(backend, params=GenerationParams(temperature=0.0, max_tokens=8), mode="completion")
    for part in ("a" * 20, "b" * 20, "c" * 20):
        _seen_by(session, part, seen)
    assert seen[-1].endswith("c" * 20) and "a" * 20 not in seen[-1]
    assert session.last_fit is not None and session.last_fit.dropped >= 2


def test_the_mode_is_decided_by_the_model(gemma_path: Path, smollm2_path: Path) -> None:
    assert default_mode("gemma3-270m") == "completion"  # catalog entry marked base
    assert default_mode(str(gemma_path)) == "completion"  # the file has no chat template
    assert default_mode("smollm2") == "chat"
    assert default_mode(str(smollm2_path)) == "chat"
    assert default_mode("someserver/some-model") == "chat"  # a remote model: nothing to read, chat
    assert choose_mode("chat", "gemma3-270m") == "chat"
    assert choose_mode("completion", "smollm2") == "completion"
    with pytest.raises(ConfigError, match="mode must be one of chat, completion"):
        choose_mode("poem", "smollm2")


def test_prompt_mode_option_is_checked() -> None:
    bad = run_cli("prompt", "--mode", "poem", "hi")
    assert bad.returncode == 2 and "poem" in bad.stderr
    mixed = run_cli("prompt", "--mode", "chat", "-t", "x", "hi")
    assert mixed.returncode == 2 and "--mode" in mixed.stderr


@pytest.mark.model
@pytest.mark.parametrize("backend", ["llama-cpp", "transformers"])
def test_gemma_base_model_continues_a_sentence(backend: str, gemma_path: Path) -> None:
    from assistant.session import open_backend

    engine = open_backend("gemma3-270m", backend, {"n_ctx": 256}, progress=lambda _: None)
    try:
        session = ChatSession(engine, params=GenerationParams(temperature=0.0, max_tokens=8), system="ignored",
                              mode=choose_mode(None, "gemma3-270m"))  # fmt: skip
        text = "The capital of France is the city of"
        fitted = session.fit_prompt(text)
        assert session.prompt_for(fitted) == text  # exactly the text: no turn markers, no system prompt
        assert len(engine.prompt_token_ids(text)) == 9  # BOS + 8 tokens of text, nothing else
        reply = "".join(chunk.text for chunk in session.send(text))
    finally:
        engine.unload()
    assert "Paris" in reply, reply


@pytest.mark.model
def test_cli_prompt_on_gemma_is_a_completion_unless_told(gemma_path: Path) -> None:
    import json

    def ask(*mode: str) -> dict:
        done = run_cli("prompt", "-m", "gemma3-270m", *mode, "-o", "temperature=0", "-o", "max_tokens=8",
                       "-o", "n_ctx=256", "--no-log", "--json", "The capital of France is the city of")  # fmt: skip
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    completion = ask()
    assert "Paris" in completion["text"]
    assert completion["usage"]["prompt_tokens"] == 9  # BOS + 8 tokens of text: nothing else was sent
    chat = ask("--mode", "chat")  # the Gemma turn markers (and system prompt if any) around the text
    assert chat["usage"]["prompt_tokens"] > completion["usage"]["prompt_tokens"] + 4


def test_chat_app_mode_setting_and_inspector_show_the_raw_text() -> None:
    """The panel's Mode setting switches the chat app to completion; F3 shows exactly what is sent."""
    from textual.widgets import Select

    from assistant.tui.screens.chat import ChatScreen
    from assistant.tui.screens.inspector import PromptInspector
    from assistant.tui.screens.settings import SettingsScreen

    from .tui_support import make_app, run_pilot, type_and_send, wait_idle, wait_until

    app = make_app(reply=lambda prompt: " Paris.")

    async def scenario(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_until(pilot, lambda: app.controller.ready, what="model loaded")
        assert app.controller.prompt_mode() == "chat"  # an unknown model: chat by default
        await pilot.press("f2")
        assert isinstance(app.screen, SettingsScreen)
        app.screen.query_one("#mode", Select).value = "completion"
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, ChatScreen) and app.controller.settings.mode == "completion"
        await type_and_send(pilot, "The capital of France is")
        await wait_idle(pilot)
        assert app.controller.backend.calls[-1]["prompt"] == "The capital of France is"  # no system, no turns
        preview = app.controller.preview(" It")
        assert preview.text == "The capital of France is Paris. It"
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, PromptInspector), what="inspector")
        assert app.screen.preview.text == "The capital of France is Paris."

    run_pilot(app, scenario, size=(100, 40))

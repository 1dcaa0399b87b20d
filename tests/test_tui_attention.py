"""The chat app's attention view, driven through Pilot over the fake backend with attention maps.

``FakeAttentionBackend`` forms causal, row-normalised maps with a different
reach per layer and head, so layer/head keys visibly change the numbers. The
controller's fallback (a transformers engine on the same model when the chat's
own cannot give maps) is checked with a loader that records what it loads.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("textual")

from assistant.backends.fake import FakeAttentionBackend, FakeBackend  # noqa: E402
from assistant.errors import BackendError  # noqa: E402
from assistant.inspect.attention import AttentionViewState  # noqa: E402
from assistant.inspect.token_view import ReplyTokens  # noqa: E402
from assistant.tui.screens.attention import AttentionScreen, export_path  # noqa: E402
from assistant.tui.widgets.chat_log import AssistantMessage  # noqa: E402
from assistant.types import GenerationParams, Message  # noqa: E402

from .tui_support import (  # noqa: E402
    make_app,
    register_fake,
    run_pilot,
    screen_text,
    type_and_send,
    wait_idle,
    wait_until,
)


class SlowAttention(FakeAttentionBackend):
    """Runs until cancelled (checking every few milliseconds, up to a minute), so progress and Esc can be seen.

    It used to take a fixed 0.3 s: on a busy machine the computation could finish before
    the test pressed Esc, and the test then waited in vain for the cancel.
    """

    limit = 60.0
    started = threading.Event()
    cancelled_seen = threading.Event()

    def attention_weights(self, token_ids: list[int], start: int) -> list[Any]:
        SlowAttention.started.set()
        deadline = time.monotonic() + self.limit
        while time.monotonic() < deadline:
            if self.cancelled:
                SlowAttention.cancelled_seen.set()
                raise BackendError("the attention computation was cancelled")
            time.sleep(0.005)
        return super().attention_weights(token_ids, start)


def attention_app(factory: Any = FakeAttentionBackend, reply: str = "Paris is the capital.") -> Any:
    app = make_app(reply=reply)
    register_fake(lambda: factory(reply=reply))  # the chat's own engine gives maps
    return app


async def open_view(pilot: Any, key: str = "a") -> AttentionScreen:
    await type_and_send(pilot, "Capital of France?")
    await wait_idle(pilot)
    reply = pilot.app.chat_screen.log_view.last_assistant()
    assert isinstance(reply, AssistantMessage)
    reply.focus()
    await pilot.pause()
    await pilot.press(key)
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, AttentionScreen), what="the attention view")
    return pilot.app.screen


async def wait_map(pilot: Any, screen: AttentionScreen) -> AttentionViewState:
    await wait_until(pilot, lambda: screen.state is not None, what="the attention map")
    await pilot.pause()
    assert screen.state is not None
    return screen.state


def test_keys_change_layer_head_and_cursor_and_export_writes_the_picture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = attention_app()

    async def scenario(pilot: Any) -> None:
        screen = await open_view(pilot)
        state = await wait_map(pilot, screen)
        maps = state.maps
        assert maps.completion is None  # the reply was not generated again
        assert bytes(
            t for t in maps.token_ids[maps.prompt_tokens - maps.window_start :] if t < 256
        ).decode() == ("Paris is the capital.")
        text = screen_text(app)
        assert "fake-model · layer 3 · head mean" in text and "▸" in text
        assert (state.layer, state.head) == (3, None)
        before = screen.query_one(".detail").render().plain  # type: ignore[attr-defined]
        await pilot.press("L", "h")
        assert (state.layer, state.head) == (2, 0)
        assert "layer 2 · head 0" in screen_text(app)
        await pilot.press("H")
        assert state.head is None
        await pilot.press("h", "h", "m")
        assert state.head is None
        row, column = state.row, state.column
        await pilot.press("left", "up")
        assert (state.row, state.column) == (row - 1, column - 1)
        await pilot.press("right")  # never past the diagonal
        assert state.column == state.row
        after = screen.query_one(".detail").render().plain  # type: ignore[attr-defined]
        assert after != before and "%" in after
        expected = float(maps.layers[2].mean(axis=0)[state.row, state.column])
        assert f"{expected:.1%}" in after
        await pilot.press("e")
        target = tmp_path / "attention-fake-model-layer2-mean.png"
        await wait_until(pilot, target.exists, timeout=60, what="the exported PNG")
        await wait_until(pilot, lambda: target.read_bytes()[:4] == b"\x89PNG", timeout=10, what="a whole PNG")
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, AttentionScreen), what="the view to close")

    run_pilot(app, scenario, size=(110, 40))


def test_esc_cancels_a_running_computation() -> None:
    SlowAttention.started.clear()
    SlowAttention.cancelled_seen.clear()
    app = attention_app(SlowAttention)

    async def scenario(pilot: Any) -> None:
        screen = await open_view(pilot)
        await wait_until(pilot, lambda: "Computing" in screen_text(app), what="progress")
        await wait_until(pilot, SlowAttention.started.is_set, what="the forward to start")
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, AttentionScreen), what="the view to close")
        await wait_until(pilot, SlowAttention.cancelled_seen.is_set, what="the computation to stop")
        assert screen.state is None

    run_pilot(app, scenario, size=(110, 40))


def test_palette_entry_and_a_missing_reply() -> None:
    app = attention_app()

    async def scenario(pilot: Any) -> None:
        app.action_attention_view()  # no reply yet
        await pilot.pause()
        assert not isinstance(app.screen, AttentionScreen)
        assert any("no reply" in n.message for n in app._notifications)
        await type_and_send(pilot, "hello")
        await wait_idle(pilot)
        app.action_attention_view()  # the palette's command: the last reply
        await wait_until(pilot, lambda: isinstance(app.screen, AttentionScreen), what="the view")
        await wait_map(pilot, app.screen)

    run_pilot(app, scenario, size=(110, 40))


def test_the_help_screen_lists_the_views_keys() -> None:
    from assistant.tui.keys import KEY_HELP

    sections = {entry.section for entry in KEY_HELP}
    assert "Attention view" in sections
    assert any(entry.keys == "a" and entry.section == "Focused message" for entry in KEY_HELP)


# ---- the controller: which engine computes the maps ------------------------------------------------


def _reply() -> ReplyTokens:
    prompt = (Message("system", "Be brief."), Message("user", "Capital of France?"))
    return ReplyTokens([], GenerationParams(), prompt=prompt, model="fake-model", text="Paris.")


def test_a_chat_engine_without_maps_gets_a_transformers_engine_on_the_same_model() -> None:
    from assistant.tui import ChatController, ChatSettings

    loaded: list[tuple[str, str]] = []

    def loader(name: str, model: str, **options: Any) -> Any:
        loaded.append((name, model))
        backend = FakeAttentionBackend() if name == "transformers" else FakeBackend()
        backend.load(model)
        return backend

    controller = ChatController(ChatSettings(model="fake-model", backend="llama-cpp"), loader=loader)
    controller.load()
    reply = _reply()
    assert controller.attention_unavailable(reply) is None
    model = controller.attention_model(reply)
    side = controller.attention_backend(model)
    assert loaded == [("llama-cpp", "fake-model"), ("transformers", "fake-model")]
    assert controller.attention_backend(model) is side  # kept for the next view
    maps = controller.reply_attention(reply, side, window=None)
    assert maps.prompt_tokens == len(side.prompt_token_ids(list(reply.prompt or ())))
    assert bytes(maps.token_ids[maps.prompt_tokens :]).decode() == "Paris."
    for layer in maps.layers:
        assert np.allclose(layer.sum(axis=-1), 1.0, atol=1e-5)
    controller.close()
    assert not side._loaded  # type: ignore[attr-defined]


def test_unknown_prompt_is_said_not_guessed() -> None:
    from assistant.tui import ChatController, ChatSettings

    controller = ChatController(
        ChatSettings(model="m", backend="fake"), loader=lambda name, model, **_: FakeAttentionBackend()
    )
    controller.load()
    reply = ReplyTokens([], GenerationParams(), prompt=None, text="x")
    assert "prompt" in (controller.attention_unavailable(reply) or "")


def test_export_path_never_overwrites(tmp_path: Path) -> None:
    first = export_path("models/x y.gguf", 3, None, tmp_path)
    assert first.name == "attention-x-y.gguf-layer3-mean.png"
    first.write_bytes(b"")
    assert export_path("models/x y.gguf", 3, None, tmp_path).name == "attention-x-y.gguf-layer3-mean-2.png"
    assert export_path("m", 0, 2, tmp_path).name == "attention-m-layer0-head2.png"


# ---- a real model: a llama-cpp reply, its attention on transformers ---------------------------------


@pytest.mark.model
def test_real_llama_cpp_reply_gets_its_attention_from_transformers(smollm2_path: Path) -> None:
    from assistant.config import default_system_prompt
    from assistant.tui import ChatApp, ChatController, ChatSettings

    settings = ChatSettings(
        model="smollm2",
        backend="llama-cpp",
        system=default_system_prompt(),
        params=GenerationParams(temperature=0, max_tokens=12),
        backend_options={"n_ctx": 1024},
    )
    app = ChatApp(ChatController(settings))

    async def scenario(pilot: Any) -> None:
        screen = await open_view(pilot)
        await wait_until(pilot, lambda: screen.state is not None, timeout=300, what="the real attention map")
        state = screen.state
        assert state is not None
        reply = app.chat_screen.log_view.last_assistant()
        maps = state.maps
        assert maps.completion is None  # not generated again: exactly the llama-cpp reply's tokens
        assert maps.token_ids[maps.prompt_tokens - maps.window_start :] == reply.reply_tokens.token_ids
        assert len(maps.layers) == 30 and maps.layers[0].shape[0] == 9
        assert app.controller.backend.name == "llama-cpp"  # the chat's engine is untouched
        assert app.controller._attention_backend is not None
        for layer in maps.layers:
            assert float(np.triu(layer, k=1).max()) == 0.0
        await pilot.press("escape")

    try:
        run_pilot(app, scenario, size=(110, 40))
    finally:
        app.controller.unload_attention_backend()


def test_the_footer_shows_the_views_own_keys() -> None:
    """Not the chat's reply keys (c Copy message … r Regenerate), which do nothing here."""
    app = attention_app()

    async def scenario(pilot: Any) -> None:
        screen = await open_view(pilot)
        await wait_map(pilot, screen)
        footer = screen_text(app).splitlines()[-1]
        assert "l/L" in footer and "h/H" in footer and "Export PNG" in footer and "Close" in footer
        assert "Regenerate" not in footer and "Copy message" not in footer

    run_pilot(app, scenario, size=(110, 40))


def test_f1_opens_the_help_over_the_view_and_esc_comes_back_to_it() -> None:
    """The app binds F1, but a modal view hides the app's bindings: the view binds it itself."""
    from assistant.tui.screens.help import HelpScreen

    app = attention_app()

    async def scenario(pilot: Any) -> None:
        screen = await open_view(pilot)
        await wait_map(pilot, screen)
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), timeout=5, what="the help")
        assert "Attention view" in screen_text(app)
        await pilot.press("escape")
        assert app.screen is screen

    run_pilot(app, scenario, size=(110, 40))

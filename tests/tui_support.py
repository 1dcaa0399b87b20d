"""Helpers for driving the chat app in tests (Pilot and snapshots)."""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Iterator

from assistant.backends.fake import FakeBackend, FakeBackendPlugin
from assistant.plugins import register_plugin, unregister_plugin
from assistant.types import Chunk, GenerationParams, Timings

PLUGIN_NAME = "tui-test-fake"
SYSTEM = "You are a helpful assistant."


class FixedTimings:
    """Mixed into a fake backend: fixed timings, so status lines are the same on every run (snapshots)."""

    def stream(self, prompt: Any, params: GenerationParams) -> Iterator[Chunk]:
        for chunk in super().stream(prompt, params):  # type: ignore[misc]
            if chunk.timings is not None:
                chunk.timings = Timings(ttft_ms=12.0, tokens_per_second=345.6, duration_ms=50.0)
            yield chunk


class StableFakeBackend(FixedTimings, FakeBackend):
    """The fake backend with fixed timings."""


def register_fake(factory: Callable[[], FakeBackend]) -> None:
    unregister_plugin(PLUGIN_NAME)
    register_plugin(FakeBackendPlugin(factory), name=PLUGIN_NAME)


def make_app(
    reply: str | Callable[[str], str] | None = None,
    token_delay: float = 0.0,
    context_length: int = 2048,
    model: str = "fake-model",
    system: str | None = SYSTEM,
    params: GenerationParams | None = None,
    stable: bool = True,
    history: bool = True,
    continue_latest: bool = False,
) -> Any:
    """A chat app over the fake backend (registered as ``fake``), recording into the test's history."""
    from assistant.history.session_link import link_history
    from assistant.tui import ChatApp, ChatController, ChatSettings

    cls = StableFakeBackend if stable else FakeBackend
    register_fake(lambda: cls(reply=reply, token_delay=token_delay, context_length=context_length))
    link = link_history(no_log=not history, continue_latest=continue_latest)
    settings = ChatSettings(
        model=model,
        backend="fake",
        system=link.system(None, system) if continue_latest else system,
        params=params or GenerationParams(),
    )
    return ChatApp(ChatController(settings, history=link))


async def wait_until(
    pilot: Any, predicate: Callable[[], bool], timeout: float = 20.0, what: str = ""
) -> None:
    """Let the app run until ``predicate()`` holds; fail the test after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await pilot.pause(0.02)


async def wait_ready(pilot: Any) -> None:
    screen = pilot.app.chat_screen
    await wait_until(
        pilot,
        lambda: pilot.app.controller.ready and not screen.model_loading and not screen.status_pending,
        timeout=180,
        what="model load",
    )
    await pilot.pause()


async def wait_idle(pilot: Any) -> None:
    """Until the reply (if any) has finished and been drawn."""
    screen = pilot.app.chat_screen
    await wait_until(
        pilot,
        lambda: not screen.generating and not screen.status_pending,
        timeout=180,
        what="reply to finish",
    )
    await pilot.pause()


async def type_and_send(pilot: Any, text: str, press_enter: bool = False) -> None:
    """Put ``text`` in the message box and submit it.

    Pilot's key presses wait for the process to go idle (up to 2 s while a
    reply is generating), so by default this submits directly; pass
    ``press_enter`` to go through the Enter key.
    """
    from assistant.tui.widgets.prompt_input import PromptInput

    box = pilot.app.chat_screen.query_one(PromptInput)
    box.focus()
    box.load_text(text)
    if press_enter:
        await pilot.press("enter")
    else:
        box.submit()
        await pilot.pause()


def screen_lines(app: Any) -> list[str]:
    """The visible screen as plain text lines."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def screen_text(app: Any) -> str:
    return "\n".join(screen_lines(app))


def run_pilot(app: Any, scenario: Callable[[Any], Any], size: tuple[int, int] = (100, 30)) -> None:
    """Run ``scenario(pilot)`` against ``app`` in a headless terminal of ``size``."""

    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await wait_ready(pilot) if scenario_needs_model(scenario) else None
            await scenario(pilot)

    try:
        asyncio.run(main())
    finally:
        app.controller.unload()  # as `assistant chat` does on exit: an engine process ends here


def scenario_needs_model(scenario: Callable[[Any], Any]) -> bool:
    return not getattr(scenario, "no_wait", False)

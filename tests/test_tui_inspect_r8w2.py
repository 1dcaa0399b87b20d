"""Round 8 (second wave) of user testing the look-inside-the-model screens: the token view, the attention
view and the prompt inspector, with the real smollm2 in a terminal."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("textual")

from assistant.inspect.pieces import TokenPiece  # noqa: E402
from assistant.inspect.token_view import token_label  # noqa: E402
from assistant.tui.widgets.chat_log import AssistantMessage  # noqa: E402

from .test_tui_token_view import PARAMS, NamedEnd, send_and_open  # noqa: E402
from .test_tui_token_view_state import alt, state_of, step  # noqa: E402
from .tui_support import (  # noqa: E402
    make_app,
    register_fake,
    run_pilot,
    screen_text,
    type_and_send,
    wait_idle,
    wait_until,
)


# ---- control tokens told apart from the text a model can write ------------------------------------------------


def test_a_control_token_is_not_drawn_as_the_text_a_model_can_write() -> None:
    """SmolLM2 wrote the characters `<|im_end|>` in a reply (five text pieces): the strip drew them exactly as
    it draws the control token <|im_end|>, and the panel listed that control token as a bare `<|im_end|>`
    while `assistant next` marks it ⟦<|im_end|>⟧ for this very reason."""
    control = TokenPiece(2, b"", "<|im_end|>")
    written = [TokenPiece(i, text.encode()) for i, text in enumerate(["<|", "im", "_end", "|>"], start=10)]
    assert token_label(control) == "⟦<|im_end|>⟧"
    assert "".join(token_label(piece) for piece in written) == "<|im_end|>"
    state = state_of([step("<|", 10, 0.5, [alt("<|", 10, 0.5, 0.5), alt("", 2, 0.3, 0.3)], 0.5)])
    state.set_pieces([written[0], control])
    assert [state.candidate_label(row.token_id, row.text) for row in state.step_rows()] == ["<|", "⟦<|im_end|>⟧"]


def test_the_panel_lists_a_control_candidate_as_assistant_next_does() -> None:
    app = make_app(params=PARAMS.replace(logprobs=10))
    register_fake(lambda: NamedEnd(reply="ok"))

    async def scenario(pilot: Any) -> None:
        screen = await send_and_open(pilot, "tick")
        await wait_until(pilot, lambda: not screen.state.missing_piece_ids(), what="the tokens' pieces")
        await pilot.press("right")  # step 2: the end token is among the candidates
        await pilot.pause()
        panel = screen_text(app).split("step 2 of")[1]
        assert "⟦<|im_end|>⟧" in panel

    run_pilot(app, scenario)


# ---- the prompt inspector's footer -------------------------------------------------------------------------------


def test_the_prompt_inspector_footer_shows_its_own_keys_not_the_replys() -> None:
    """F3 with a reply focused: the inspector had no footer, so the chat's below it still offered
    `t Tokens  a Attention  r Regenerate` — keys the inspector does not have — and not its own `c`."""
    from assistant.tui.screens.inspector import PromptInspector

    app = make_app(reply="Sure.")

    async def scenario(pilot: Any) -> None:
        await type_and_send(pilot, "Hello")
        await wait_idle(pilot)
        reply = pilot.app.chat_screen.log_view.last_assistant()
        assert isinstance(reply, AssistantMessage)
        reply.focus()
        await pilot.pause()
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, PromptInspector), what="the inspector")
        await pilot.pause()
        footer = screen_text(app).splitlines()[-1]
        assert "Copy prompt" in footer and "Close" in footer
        assert "Tokens" not in footer and "Regenerate" not in footer and "Attention" not in footer

    run_pilot(app, scenario, size=(120, 30))


# ---- exporting the attention picture -------------------------------------------------------------------------


def test_export_with_the_working_folder_gone_is_an_error_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    """`e` in the attention view after the folder the chat was started in was deleted: Path.cwd() raised
    FileNotFoundError on the app's own thread and the whole chat closed with a traceback."""
    from pathlib import Path

    from .test_tui_attention import attention_app, open_view, wait_map

    app = attention_app()

    def gone(cls: type) -> Path:
        raise FileNotFoundError(2, "No such file or directory")

    async def scenario(pilot: Any) -> None:
        screen = await open_view(pilot)
        await wait_map(pilot, screen)
        monkeypatch.setattr(Path, "cwd", classmethod(gone))
        await pilot.press("e")
        await pilot.pause()
        assert app.screen is screen and not screen.exporting
        messages = [n.message for n in app._notifications]
        assert any("Cannot write the picture" in m and "No such file" in m for m in messages), messages

    run_pilot(app, scenario, size=(110, 40))


# ---- the prompt inspector in completion mode ---------------------------------------------------------------------


def test_the_inspector_of_a_completion_speaks_of_one_text_not_of_turns() -> None:
    """gemma3-270m (a base model) runs in completion mode: F3 showed the one text the model continues but said
    "· the last user turn is the text in the message box" — there are no turns, no template."""
    from assistant.tui.screens.inspector import PromptInspector

    app = make_app(reply=lambda prompt: " Paris.")
    app.controller.settings.mode = "completion"

    async def scenario(pilot: Any) -> None:
        assert app.controller.prompt_mode() == "completion"
        await type_and_send(pilot, "The capital of France is")
        await wait_idle(pilot)
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, PromptInspector), what="the inspector")
        await pilot.pause()
        summary = str(app.screen.query_one(".summary").render())
        assert "completion mode: one text the model continues" in summary
        assert "user turn" not in summary

    run_pilot(app, scenario, size=(140, 30))


# ---- the attention view waiting for a load already under way ----------------------------------------------------


def test_waiting_for_a_load_under_way_is_said_while_it_lasts() -> None:
    """Esc on an attention view while its transformers engine loaded, then `a` again: the new view waited
    for that load (a minute on smollm2) on "Getting smollm2 ready on transformers…" with no progress,
    since the load's own progress went to the closed view. It now says it is waiting."""
    import threading

    from assistant.backends.fake import FakeAttentionBackend, FakeBackend
    from assistant.tui import ChatController, ChatSettings

    def loader(name: str, model: str, **options: Any) -> Any:
        backend = FakeAttentionBackend() if name == "transformers" else FakeBackend()
        backend.load(model)
        return backend

    controller = ChatController(ChatSettings(model="fake-model", backend="llama-cpp"), loader=loader)
    controller.load()
    said: list[str] = []
    got: list[Any] = []
    controller._load_lock.acquire()  # the earlier view's load
    worker = threading.Thread(target=lambda: got.append(controller.attention_backend("fake-model", said.append)))
    worker.start()
    try:
        for _ in range(200):
            if said:
                break
            threading.Event().wait(0.01)
        assert said == ["waiting for a model load under way to finish…"] and not got
    finally:
        controller._load_lock.release()
    worker.join(timeout=10)
    assert got and got[0].capabilities.attention
    assert not controller._load_lock.locked()  # released after the load, for the next one
    controller.close()

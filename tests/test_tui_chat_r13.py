"""The chat app's everyday paths as a demanding user found them (round 13): each test failed before its fix."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("textual")

from .tui_support import make_app, run_pilot, type_and_send, wait_idle  # noqa: E402


def test_up_in_a_wrapped_message_moves_the_cursor_instead_of_recalling_history() -> None:
    """A long message wraps over several rows of the box; Up on its third row replaced the whole box
    with the previous message (the cursor was on the first *document* line). Up and Down browse the
    history only from the first / last row the box shows, and move the cursor between rows before."""
    from assistant.tui.widgets.prompt_input import PromptInput

    app = make_app()

    async def scenario(pilot: Any) -> None:
        box = app.chat_screen.query_one(PromptInput)
        await type_and_send(pilot, "earlier message")
        await wait_idle(pilot)
        long_line = " ".join(f"word{i}" for i in range(60))  # one line, wrapped over several rows
        box.focus()
        box.load_text(long_line)
        box.move_cursor(box.document.end)
        await pilot.pause()
        assert box.wrapped_document.height > 2
        await pilot.press("up")
        assert box.text == long_line  # the cursor went up a row
        assert box.cursor_location[0] == 0 and box.cursor_location[1] < len(long_line)
        await pilot.press("down")
        assert box.text == long_line and box.cursor_location[1] > 0
        box.move_cursor((0, 0))
        await pilot.press("down")  # first row of a wrapped line: Down moves, it is not "after the newest"
        assert box.text == long_line
        box.move_cursor((0, 0))
        await pilot.press("up")  # on the first row: the history
        assert box.text == "earlier message"
        await pilot.press("down")  # back to the draft, whole
        assert box.text == long_line

    run_pilot(app, scenario, size=(60, 24))


def test_a_remembered_backend_since_uninstalled_is_forgotten_with_its_model(tmp_path: Any) -> None:
    """The app closed on a plugin's backend; with that plugin gone, every `assistant chat` opened with
    "Could not load …: unknown backend 'gone'" and no model at all, until one was chosen in F2. The
    backend, and the model chosen for it, fall back to the config's defaults; the rest is kept."""
    import json

    from assistant.tui.remembered import load_last_used

    path = tmp_path / "chat_settings.json"
    path.write_text(json.dumps({"model": "some-model", "backend": "gone", "template": None,
                                "params": {"temperature": 0.2}, "mode": None, "variables": {}}))
    remembered = load_last_used(path)
    assert remembered is not None
    assert remembered.backend is None and remembered.model is None
    assert remembered.params == {"temperature": 0.2}
    path.write_text(json.dumps({"model": "smollm2", "backend": "llama-cpp"}))
    remembered = load_last_used(path)
    assert remembered is not None and (remembered.model, remembered.backend) == ("smollm2", "llama-cpp")


def test_bytes_that_are_not_utf8_in_the_terminal_input_do_not_end_the_app() -> None:
    """Pasting binary data (or an 8-bit Alt key, a Latin-1 terminal) sent bytes that are not UTF-8:
    the input thread's strict decoder raised UnicodeDecodeError, and the app ended with a traceback,
    the unsent message lost. Such a byte is read as U+FFFD (a paste keeps the rest of its text)."""
    import os
    import threading

    from textual import events

    from assistant.tui.paste_parser import PASTE_END, PASTE_START, PasteSafeLinuxDriver

    read_end, write_end = os.pipe()
    driver = PasteSafeLinuxDriver.__new__(PasteSafeLinuxDriver)  # the input loop alone, no terminal
    received: list[Any] = []
    failures: list[BaseException] = []
    driver.fileno = read_end  # type: ignore[misc]
    driver.exit_event = threading.Event()
    driver._debug = False
    driver.process_message = received.append  # type: ignore[method-assign]
    driver.write = lambda data: None  # type: ignore[method-assign]
    driver.flush = lambda: None  # type: ignore[method-assign]

    def run() -> None:
        try:
            driver.run_input_thread()
        except BaseException as exc:  # noqa: BLE001 - what the app's panic got
            failures.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    paste = f"{PASTE_START}bin\x00ary \x9b31m \xff end{PASTE_END}".encode("latin-1")
    os.write(write_end, b"a\xe9b" + paste + b"z")
    os.close(write_end)

    def keys() -> str:
        return "".join(e.character or "" for e in received if isinstance(e, events.Key))

    for _ in range(200):  # until the input loop has read it all, or has died
        if failures or not thread.is_alive() or keys().endswith("z"):
            break
        thread.join(0.05)
    driver.exit_event.set()
    thread.join(5)
    os.close(read_end)
    assert not failures, failures
    assert keys() == "a\ufffdbz"
    pastes = [e.text for e in received if isinstance(e, events.Paste)]
    assert pastes == ["binary \ufffd31m \ufffd end"]


def test_an_edit_refused_before_it_was_kept_is_still_an_edit() -> None:
    """`e` on a message, then a mistake in the new text (a slash command it refuses, a prompt over the
    context window): the text came back into the box, but edit mode had ended, so the line fixed
    there and sent went to the end of the conversation as a new message, not as the new version
    of the message being edited. The edit goes on: the banner, and Enter sends a new version."""
    from assistant.tui.screens.chat_branches import EditBanner
    from assistant.tui.widgets.chat_log import UserMessage

    app = make_app(reply="Fine.", context_length=256)

    async def scenario(pilot: Any) -> None:
        screen = app.chat_screen
        await type_and_send(pilot, "first")
        await wait_idle(pilot)
        await type_and_send(pilot, "second")
        await wait_idle(pilot)
        for refused in ("/translate xx-YY hi", "word " * 400):
            first = next(m for m in screen.log_view.query(UserMessage) if m.text == "first")
            first.focus()
            await pilot.pause()
            await pilot.press("e")
            assert screen.editing is first
            await type_and_send(pilot, refused, press_enter=True)
            await wait_idle(pilot)
            assert screen.prompt_input.text.strip() == refused.strip()  # back, to fix
            assert screen.editing is not None and screen.editing.text == "first"
            assert screen.query_one(EditBanner).has_class("-editing")
            assert [m.content for m in app.controller.messages] == ["first", "Fine.", "second", "Fine."]
            await pilot.press("escape")  # give this one up; the next refusal starts a new edit
            assert screen.editing is None
        first = next(m for m in screen.log_view.query(UserMessage) if m.text == "first")
        first.focus()
        await pilot.pause()
        await pilot.press("e")
        await type_and_send(pilot, "/translate xx-YY hi", press_enter=True)
        await wait_idle(pilot)
        await type_and_send(pilot, "first, fixed", press_enter=True)
        await wait_idle(pilot)
        assert [m.content for m in app.controller.messages] == ["first, fixed", "Fine."]  # a new version

    run_pilot(app, scenario)


def test_the_edit_banner_says_how_to_cancel_at_a_usual_width() -> None:
    """The line above the box while editing was cut at its width: beside the sidebar of a 100-column
    terminal it ended "· Esc", and at 60 columns "(the old one …", "Esc cancels" lost. It says it
    shorter where the long form does not fit, as the message box's placeholder does."""
    from rich.cells import cell_len

    from assistant.tui.screens.chat_branches import EditBanner
    from assistant.tui.widgets.chat_log import UserMessage

    app = make_app(reply="Fine.")

    async def scenario(pilot: Any) -> None:
        screen = app.chat_screen
        await type_and_send(pilot, "first")
        await wait_idle(pilot)
        screen.log_view.query(UserMessage).first().focus()
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause()
        banner = screen.query_one(EditBanner)
        for size in ((100, 30), (60, 20), (150, 30)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            await pilot.pause()
            shown = str(banner.content)
            assert shown.endswith("Esc cancels") and cell_len(shown) <= banner.content_size.width, (size, shown)
        assert "(the old one is kept)" in str(banner.content)  # the whole of it where it fits

    run_pilot(app, scenario)

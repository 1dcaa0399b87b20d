"""Round 15: the lead's integration fixes (what helpers found in files they did not own)."""

from __future__ import annotations

from typing import Any

from assistant.backends.fake import FakeBackend
from assistant.tui.controller import ChatController
from assistant.tui.state import ChatSettings


def test_a_switch_to_another_backend_leaves_the_first_ones_options_behind() -> None:
    # Was: started on transformers with dtype=float16, F2 to llama-cpp, then a model change there sent
    # dtype to llama-cpp ("unknown llama-cpp option(s): dtype"), as the options stayed in the settings.
    calls: list[tuple[str, str, dict[str, Any]]] = []

    def loader(name: str, model: str, **options: Any) -> FakeBackend:
        calls.append((name, model, {k: v for k, v in options.items() if k != "progress"}))
        backend = FakeBackend()
        backend.load(model)
        return backend

    settings = ChatSettings(model="a", backend="transformers", backend_options={"dtype": "float16"})
    controller = ChatController(settings, loader=loader)
    controller.load()
    controller.load("b", "llama-cpp")
    controller.load("c")
    assert calls == [
        ("transformers", "a", {"dtype": "float16"}),
        ("llama-cpp", "b", {}),
        ("llama-cpp", "c", {}),
    ]
    assert controller.settings.backend_options == {}


def test_a_model_switch_on_the_same_backend_keeps_its_options() -> None:
    seen: list[dict[str, Any]] = []

    def loader(name: str, model: str, **options: Any) -> FakeBackend:
        seen.append({k: v for k, v in options.items() if k != "progress"})
        backend = FakeBackend()
        backend.load(model)
        return backend

    controller = ChatController(ChatSettings(model="a", backend="fake", backend_options={"n_ctx": 512}), loader=loader)
    controller.load()
    controller.load("b")
    assert seen == [{"n_ctx": 512}, {"n_ctx": 512}]


def test_a_relative_model_path_is_remembered_as_an_absolute_one(tmp_path, monkeypatch, assistant_home) -> None:
    # Was: `chat -m ./x.gguf` saved "./x.gguf" as the last-used model; a plain `assistant chat` from another
    # directory then could not find it and opened the default model instead.
    from assistant.models.refs import lasting_reference

    (tmp_path / "x.gguf").write_bytes(b"GGUF")
    monkeypatch.chdir(tmp_path)
    assert lasting_reference("./x.gguf") == str(tmp_path / "x.gguf")
    assert lasting_reference("x.gguf") == str(tmp_path / "x.gguf")
    for kept in ("smollm2", "~/m/x.gguf", "hf:org/repo", "https://h/x.gguf", "/abs/y.gguf", "no-such", ""):
        assert lasting_reference(kept) == kept


def test_an_empty_prompt_is_called_empty_not_missing() -> None:
    import click
    import pytest

    from assistant.cli.prompt import build_user_text

    for text, stdin_text, said in [
        ("", None, "TEXT is empty"),
        ("  \n", "", "TEXT is empty"),
        (None, " \n\t", "the text piped on stdin is blank"),
        (None, "", "no prompt given"),
        (None, None, "no prompt given"),
    ]:
        with pytest.raises(click.UsageError, match=said):
            build_user_text(text, stdin_text)
    assert build_user_text("  ", "notes") == "notes"


def test_a_live_reply_shows_joiners_as_the_reopened_reply_does() -> None:
    # Was: each streamed piece made visible alone, so 👩‍💻 cut after its joiner showed "\u200d" live, and a
    # joiner opening a piece after an ASCII letter (a hidden payload) passed unseen.
    import asyncio

    from textual.app import App, ComposeResult
    from textual.containers import VerticalScroll

    from assistant.terminal_text import visible_text
    from assistant.tui.widgets.chat_log import AssistantMessage

    pieces = ["I am 👩\u200d", "💻 at work", " a", "\u200db"]

    class Harness(App[None]):
        def compose(self) -> ComposeResult:
            yield VerticalScroll(id="view")

    async def run() -> str:
        app = Harness()
        async with app.run_test(size=(80, 20)) as pilot:
            message = AssistantMessage(label="model")
            await app.query_one("#view").mount(message)
            for piece in pieces:
                await message.write(piece)
            await message.finish()
            await pilot.pause()
            return message.shown_markdown

    shown = asyncio.run(run())
    assert shown == visible_text("".join(pieces))
    assert "👩\u200d💻" in shown and "a\\u200db" in shown


def test_a_joiner_after_a_crlf_is_shown_as_in_the_whole_text(capsys) -> None:
    from assistant.cli.common import echo_untrusted

    echo_untrusted("a\r\n\u200db\r\n👩\u200d💻\r\nz")
    out = capsys.readouterr().out  # not a terminal: the CRLFs are kept
    assert out == "a\r\n\\u200db\r\n👩\u200d💻\r\nz\n"


def test_a_crlf_before_a_held_joiner_stays_one_line_end() -> None:
    # Found by CI's hypothesis run: the cut before a held joiner fell between CR and LF, so "\r\n\u200d"
    # streamed showed "␍" before the line end that the whole text showed alone.
    from assistant.terminal_text import StreamedLineEnds, visible_text

    for pieces in (["\r\n\u200d"], ["\r", "\n\u200d"], ["a\r", "\n", "\u200db"], ["👩\r\n\u200d💻"]):
        line_ends = StreamedLineEnds()
        streamed = "".join(visible_text(line_ends.feed(piece)) for piece in pieces) + visible_text(line_ends.flush())
        assert streamed == visible_text("".join(pieces).replace("\r\n", "\n")), pieces


def test_a_keycap_streamed_whole_or_in_pieces_shows_as_the_whole_text() -> None:
    # Found by a longer run of the stream property: "1️⃣" fed as one piece gave back "1️" and held "⃣", and
    # "1️" shown alone escaped the selector that only the keycap after it makes text.
    from assistant.terminal_text import StreamedLineEnds, visible_text

    for pieces in (["1\ufe0f\u20e3"], ["1\ufe0f\u20e3\u200d"], ["1\ufe0f\u20e3\u200d👩"], ["a 1", "\ufe0f", "\u20e3 b"]):
        line_ends = StreamedLineEnds()
        streamed = "".join(visible_text(line_ends.feed(piece)) for piece in pieces) + visible_text(line_ends.flush())
        assert streamed == visible_text("".join(pieces)), pieces


def test_the_escapes_of_a_leading_run_are_never_cut_into_a_keycap() -> None:
    # Found by the same property: a tag character opening a piece became "\U000e0067", the cut held its "7",
    # and the next piece's "️⃣" made a keycap of it that the whole text does not have.
    from assistant.terminal_text import StreamedLineEnds, visible_text

    pieces = ["a", "\U000e0067", "\ufe0f\u20e3"]
    line_ends = StreamedLineEnds()
    streamed = "".join(visible_text(line_ends.feed(piece)) for piece in pieces) + visible_text(line_ends.flush())
    assert streamed == visible_text("".join(pieces))

"""The chat app's pure parts: text safety, slash parsing, input history, the stream buffer, the controller."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant.errors import ConfigError, ModelLoadError, ToolError
from assistant.tui.controller import ChatController, ChatSettings
from assistant.tui.slash import is_slash_command, parse_slash_command, unescape_slash
from assistant.tui.stream_buffer import ReplyBuffer
from assistant.tui.text import shorten, visible_text
from assistant.types import GenerationParams


# ---- text -----------------------------------------------------------------------------
def test_visible_text_neutralises_terminal_controls() -> None:
    assert visible_text("a\x1b[31mb\x07c\x9bd\x7f") == "a␛[31mb␇c\\x9bd␡"
    assert visible_text("keep\nnewlines\tand tabs") == "keep\nnewlines\tand tabs"
    assert visible_text("[bold]markup[/] stays") == "[bold]markup[/] stays"


@given(st.text())
def test_visible_text_never_leaves_a_control_character(text: str) -> None:
    shown = visible_text(text)
    assert not any((ord(c) < 0x20 and c not in "\n\t") or 0x7F <= ord(c) < 0xA0 for c in shown)
    # Chunk by chunk gives the same result as all at once (streaming safety).
    half = len(text) // 2
    assert visible_text(text[:half]) + visible_text(text[half:]) == shown


def test_shorten() -> None:
    assert shorten("a  b\nc", 10) == "a b c"
    assert shorten("abcdefghij", 5) == "abcd…"


# ---- slash commands -------------------------------------------------------------------
def test_slash_command_detection_and_escape() -> None:
    assert is_slash_command("/summarize")
    assert is_slash_command("  /ner text")
    assert not is_slash_command("// not a command")
    assert not is_slash_command("/ spaced")
    assert not is_slash_command("plain /text")
    assert unescape_slash("//etc/passwd is a file") == "/etc/passwd is a file"


def test_parse_slash_command_positional_params_and_text() -> None:
    command = parse_slash_command("/translate fr Bonjour\n\nle monde", positional=("to",))
    assert (command.name, command.params, command.text) == ("translate", {"to": "fr"}, "Bonjour\n\nle monde")
    command = parse_slash_command("/Translate to=de from=en hello", positional=("to",))
    assert (command.name, command.params, command.text) == ("translate", {"to": "de", "from": "en"}, "hello")
    command = parse_slash_command("/summarize")
    assert (command.name, command.params, command.text) == ("summarize", {}, "")
    command = parse_slash_command("/summarize length=bullets x=1 is text", known=frozenset({"length"}))
    assert (command.params, command.text) == ({"length": "bullets"}, "x=1 is text")
    with pytest.raises(ToolError):
        parse_slash_command("no slash")


# ---- input history --------------------------------------------------------------------
def test_input_history_browse_and_draft() -> None:
    from assistant.tui.widgets.prompt_input import InputHistory

    history = InputHistory()
    assert history.previous("draft") is None
    for entry in ("one", "two", "two", "  "):
        history.add(entry)
    assert history.entries == ["one", "two"]
    assert history.previous("draft") == "two"
    assert history.previous("ignored") == "one"
    assert history.previous("ignored") is None
    assert history.next() == "two"
    assert history.next() == "draft"
    assert not history.browsing
    assert history.next() is None


def test_input_history_limit() -> None:
    from assistant.tui.widgets.prompt_input import InputHistory

    history = InputHistory(limit=3)
    for i in range(10):
        history.add(str(i))
    assert history.entries == ["7", "8", "9"]


# ---- stream buffer --------------------------------------------------------------------
def test_reply_buffer_wakes_only_when_empty_and_keeps_order() -> None:
    buffer = ReplyBuffer()
    assert buffer.push("a") is True
    assert buffer.push("b") is False
    assert buffer.drain() == "ab"
    assert buffer.drain() == ""
    assert buffer.push("c") is True


def test_reply_buffer_concurrent_producer_loses_nothing() -> None:
    buffer = ReplyBuffer()
    pieces = [f"{i}," for i in range(5000)]
    received: list[str] = []

    def produce() -> None:
        for piece in pieces:
            buffer.push(piece)

    thread = threading.Thread(target=produce)
    thread.start()
    while thread.is_alive():
        received.append(buffer.drain())
    thread.join()
    received.append(buffer.drain())
    assert "".join(received) == "".join(pieces)


# ---- settings panel parsing -----------------------------------------------------------
def test_parse_params_validates_and_names_the_field() -> None:
    from assistant.tui.screens.settings import parse_params

    base = GenerationParams()
    values = {"temperature": "0", "top_k": "5", "top_p": "0.5", "max_tokens": "64", "seed": ""}
    params = parse_params(values, base)
    assert (params.temperature, params.top_k, params.top_p, params.max_tokens, params.seed) == (
        0,
        5,
        0.5,
        64,
        None,
    )
    # One style: each field named by its label in the panel, a whole number asked for as such.
    with pytest.raises(ConfigError, match=r"^Top-k must be >= 0"):
        parse_params({**values, "top_k": "-1"}, base)
    with pytest.raises(ConfigError, match=r"^Top-k must be a whole number, not '5.5'$"):
        parse_params({**values, "top_k": "5.5"}, base)
    with pytest.raises(ConfigError, match=r"^Max new tokens must be a whole number, not 'lots'$"):
        parse_params({**values, "max_tokens": "lots"}, base)
    with pytest.raises(ConfigError, match=r"^Max new tokens must be at least 1"):
        parse_params({**values, "max_tokens": "0"}, base)
    with pytest.raises(ConfigError, match=r"^Top-p must be in"):
        parse_params({**values, "top_p": "1.5"}, base)
    with pytest.raises(ConfigError, match=r"^Temperature must be a number, not 'warm'$"):
        parse_params({**values, "temperature": "warm"}, base)
    with pytest.raises(ConfigError, match=r"^Seed must be a whole number"):
        parse_params({**values, "seed": "1.5"}, base)
    with pytest.raises(ConfigError, match=r"^Seed must be a whole number from 0"):
        parse_params({**values, "seed": "-3"}, base)
    assert parse_params({**values, "seed": "7"}, base).seed == 7


def test_code_blocks() -> None:
    from assistant.tui.widgets.chat_log import code_blocks

    text = "a\n```py\nx = 1\n```\nb\n~~~\ny\n~~~\n```\nunclosed"
    assert code_blocks(text) == ["x = 1\n", "y\n"]


# ---- controller -----------------------------------------------------------------------
def make_controller(**settings: object) -> ChatController:
    return ChatController(ChatSettings(model="fake-model", backend="fake", **settings))  # type: ignore[arg-type]


def test_controller_streams_and_keeps_turns(fake_backend: None) -> None:
    controller = make_controller(system="Be brief.")
    assert not controller.ready
    controller.load()
    text = "".join(chunk.text for chunk in controller.stream("hello"))
    assert text == "Echo: hello"
    assert [m.role for m in controller.messages] == ["user", "assistant"]
    assert controller.last is not None and controller.last.finish_reason == "stop"
    assert controller.context_used() == controller.last.usage.total_tokens
    preview = controller.preview("next")
    assert preview.text.startswith("<|im_start|>system\nBe brief.<|im_end|>")
    assert preview.tokens == controller.backend.count_tokens(preview.text)


def test_controller_failed_switch_keeps_the_working_model(fake_backend: None) -> None:
    controller = make_controller()
    controller.load()
    list(controller.stream("hi"))
    working = controller.backend
    with pytest.raises(ModelLoadError):
        controller.load(model="missing-model")
    assert controller.backend is working
    assert controller.settings.model == "fake-model"
    controller.load(model="second-model")
    assert controller.backend is not working and controller.backend.model_name == "second-model"
    assert len(controller.messages) == 2  # the conversation carried over


def test_controller_without_model_says_so(fake_backend: None) -> None:
    from assistant.errors import BackendError

    controller = make_controller()
    with pytest.raises(BackendError, match="no model"):
        list(controller.stream("hi"))
    assert controller.engine_status() is None


def test_docs_list_every_key_binding() -> None:
    from pathlib import Path

    from assistant.tui.keys import KEY_HELP, SLASH_HELP

    docs = (Path(__file__).resolve().parent.parent / "docs" / "tui.md").read_text()
    rows = {
        line.split("|")[1].strip()
        for line in docs.splitlines()
        if line.startswith("| ") and line.count("|") >= 4
    }
    for entry in KEY_HELP:
        assert entry.keys in rows, f"docs/tui.md does not list {entry.keys!r}"
    for command, _ in SLASH_HELP:
        assert command.split()[0] in docs


def test_controller_unload_waits_for_a_running_reply() -> None:
    from assistant.backends.fake import FakeBackend, FakeBackendPlugin
    from assistant.plugins import register_plugin

    register_plugin(
        FakeBackendPlugin(lambda: FakeBackend(reply="x" * 500, token_delay=0.01)), name="slow-fake"
    )
    controller = make_controller()
    backend = controller.load()
    started = threading.Event()
    chunks: list[str] = []

    def generate() -> None:
        for chunk in controller.stream("go"):
            chunks.append(chunk.text)
            started.set()

    thread = threading.Thread(target=generate)
    thread.start()
    assert started.wait(10)
    controller.unload()
    # unload returned only after the reply stopped (cancelled), so the engine was not freed under it.
    thread.join(1)
    assert not thread.is_alive()
    assert controller.last is not None and controller.last.finish_reason == "cancelled"
    assert controller.backend is None and not backend._loaded


def test_draw_pacer_spaces_draws_by_their_cpu_cost() -> None:
    from assistant.tui.stream_buffer import DrawPacer

    wall, cpu = [100.0], [5.0]
    pacer = DrawPacer(
        max_fps=20, cpu_share=0.25, max_interval=1.0, clock=lambda: wall[0], cpu_clock=lambda: cpu[0]
    )
    assert pacer.wait() == 0  # the first text of a reply is drawn at once
    pacer.drew()
    assert pacer.wait() == pytest.approx(0.05)  # then at most max_fps
    wall[0] += 0.05
    cpu[0] += 0.004  # a cheap draw: frame rate
    pacer.drew()
    assert pacer.wait() == pytest.approx(0.05)
    wall[0] += 0.05
    cpu[0] += 0.1  # an expensive one (a long reply): 4x its cost, so the UI uses <= 25% of the time
    pacer.drew()
    assert pacer.wait() == pytest.approx(0.4)
    wall[0] += 0.4
    cpu[0] += 0.5  # very expensive: still redrawn every max_interval
    pacer.drew()
    assert pacer.wait() == pytest.approx(1.0)
    pacer.reset()
    assert pacer.wait() == 0


def test_draw_pacer_draws_less_while_no_core_is_free() -> None:
    """The engine decoding on every core loses what the UI draws: then the smaller share applies."""
    from assistant.tui.stream_buffer import DrawPacer

    wall, cpu, free = [100.0], [5.0], [0.3]
    pacer = DrawPacer(
        max_fps=30,
        cpu_share=0.4,
        max_interval=0.5,
        clock=lambda: wall[0],
        cpu_clock=lambda: cpu[0],
        crowded_share=0.1,
        free_cores=lambda: free[0],
    )
    pacer.drew()
    wall[0] += 0.2  # the first look
    cpu[0] += 0.01
    pacer.drew()
    assert pacer.cpu_share == 0.1
    assert pacer.wait() == pytest.approx(0.1)  # 10 ms of drawing at a 0.1 share
    free[0] = 1.6  # the engine moved to one core fewer: a core is free for the UI
    wall[0] += 0.5
    cpu[0] += 0.01
    pacer.drew()
    assert pacer.cpu_share == 0.4
    assert pacer.wait() == pytest.approx(1 / 30)
    free[0] = None  # cannot tell (not Linux): the share stays
    wall[0] += 0.5
    pacer.drew()
    assert pacer.cpu_share == 0.4


def test_draw_pacer_judges_each_reply_by_its_own_cores() -> None:
    """A reply starts at the crowded share; its cores are judged from its first text, not before."""
    from assistant.tui.stream_buffer import DrawPacer

    wall, cpu, looks = [100.0], [0.0], [100.0]

    def free_cores() -> float:
        # Measured since the last call: the machine was idle until 300 s, the request's start-up
        # (tokenizing, the UI mounting the messages) left a core free until 300.2, then the engine
        # took every core.
        since = looks[-1]
        looks.append(wall[0])
        return 2.0 if since < 300.2 else 0.1

    pacer = DrawPacer(
        cpu_share=0.4, max_interval=0.5, clock=lambda: wall[0], cpu_clock=lambda: cpu[0],
        crowded_share=0.05, free_cores=free_cores, first_look=0.2,
    )
    pacer.cpu_share = 0.4  # the last reply ended roomy
    wall[0] = 300.0  # long after the last look: a new reply on an engine busy on every core
    pacer.reset()
    assert pacer.cpu_share == 0.05 and looks == [100.0]  # crowded until seen otherwise; nothing measured yet
    wall[0] = 300.2  # the first text
    pacer.drew()
    assert looks == [100.0, 300.2]  # the measure starts at the first draw
    assert pacer.cpu_share == 0.05
    cpu[0] += 0.002  # a cheap first draw: still, nothing more is drawn until the first look
    assert pacer.wait() == pytest.approx(0.2)
    wall[0] += pacer.wait()
    pacer.drew()
    assert pacer.cpu_share == 0.05 and looks[-1] == pytest.approx(300.4)  # judged over decoding alone
    cpu[0] += 0.03
    wall[0] += 1 / 30
    pacer.drew()
    assert pacer.wait() == pytest.approx(0.5)  # 30 ms of drawing at the crowded share: every max_interval


def test_draw_pacer_turns_roomy_at_the_first_look_when_a_core_is_free() -> None:
    """A remote model (or a spare core): the crowded start lasts one look, a fifth of a second."""
    from assistant.tui.stream_buffer import DrawPacer

    wall, cpu = [50.0], [0.0]
    pacer = DrawPacer(
        cpu_share=0.4, max_interval=0.5, clock=lambda: wall[0], cpu_clock=lambda: cpu[0],
        crowded_share=0.05, free_cores=lambda: 1.7,
    )
    pacer.reset()
    pacer.drew()
    cpu[0] += 0.01
    wall[0] += pacer.wait()
    assert wall[0] == pytest.approx(50.2)  # the second draw: the first look
    pacer.drew()
    assert pacer.cpu_share == 0.4
    cpu[0] += 0.005
    assert pacer.wait() == pytest.approx(1 / 30)

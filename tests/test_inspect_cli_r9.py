"""Round 9: the look-inside commands (`next`, `tokenize`, `attention`, `compare`) under Ctrl-C and bad input.

Each test fails without its fix. The Ctrl-C tests send a real SIGINT while the fake
engine is inside a "callback" that drops exceptions, as ctypes drops them for
llama.cpp's log and abort callbacks (tests/test_cli_r8w2.py does the same for `prompt`).
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any, Iterator

import pytest
from click.testing import CliRunner

from assistant.backends.fake import FakeAttentionBackend, FakeBackend, FakeBackendPlugin
from assistant.cli import main
from assistant.plugins import register_plugin

OPTIONS = ("token_delay", "n_ctx")
"""What :class:`StrictOptionsBackend`'s ``load`` takes: the list an engine module names, as llama_cpp.py does."""


def press_ctrl_c_in_a_callback() -> None:
    """A real SIGINT, arriving while C code runs a Python callback that drops the KeyboardInterrupt."""
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # the handler runs here
    except KeyboardInterrupt:
        pass  # "Exception ignored on calling ctypes callback function"


class PressedWhileLoading(FakeBackend):
    """llama.cpp logs through a Python callback while it loads: a press there was dropped."""

    def load(self, model: str, **options: Any) -> None:
        press_ctrl_c_in_a_callback()
        super().load(model, **options)


class PressedWhileReading(FakeBackend):
    """A press while the engine reads the prompt for `next` (its abort callback)."""

    def iter_logits(self, prompt_ids: list[int], token_ids: Any) -> Iterator[Any]:
        press_ctrl_c_in_a_callback()
        yield from super().iter_logits(prompt_ids, token_ids)


class PressedWhileGenerating(FakeAttentionBackend):
    """A press at the fourth generated token, inside the decoder's callback; the reply is long."""

    name = "fake"

    def __init__(self) -> None:
        super().__init__(reply="one two three four five six seven eight nine ten " * 20)

    def sample_tokens(self, prompt_ids: list[int], params: Any) -> Iterator[Any]:
        for position, token in enumerate(super().sample_tokens(prompt_ids, params)):
            if position == 3:
                press_ctrl_c_in_a_callback()
            yield token


def use(factory: Any, name: str) -> list:
    """Register ``factory`` as the ``fake`` backend; every engine it makes is kept to look at."""
    made: list = []

    def make() -> Any:
        made.append(factory())
        return made[-1]

    register_plugin(FakeBackendPlugin(make), name=name)
    return made


def assert_interrupted(result: Any) -> None:
    assert result.exit_code == 130, result.output
    assert result.stderr == "\ninterrupted\n"
    assert result.stdout == ""


# ---- Ctrl-C -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["next", "tokenize"])
def test_ctrl_c_dropped_while_the_model_loads_stops_the_command(command: str) -> None:
    # Was: the press was lost in llama.cpp's log callback; the full table was printed and the status was 0.
    made = use(PressedWhileLoading, "fake-pressed-loading")
    result = CliRunner().invoke(main, [command, "-b", "fake", "-m", "x", "hello"])
    assert_interrupted(result)
    assert not made[-1]._loaded  # unloaded, not left behind


def test_ctrl_c_dropped_while_next_reads_the_prompt_stops_it() -> None:
    made = use(PressedWhileReading, "fake-pressed-reading")
    result = CliRunner().invoke(main, ["next", "-b", "fake", "-m", "x", "hello"])
    assert_interrupted(result)
    assert not made[-1]._loaded


def test_ctrl_c_while_attention_generates_stops_it() -> None:
    # Was: the press was dropped, the reply ran to max_tokens and the heatmap was printed (status 0).
    made = use(PressedWhileGenerating, "fake-pressed-generating")
    result = CliRunner().invoke(main, ["attention", "-b", "fake", "-m", "x", "--json", "-o", "max_tokens=200", "hi"])
    assert_interrupted(result)
    assert not made[-1]._loaded


def test_ctrl_c_on_the_first_side_of_compare_never_runs_the_second(monkeypatch: pytest.MonkeyPatch) -> None:
    # Was: the first side's reply went on to max_tokens, then the second side loaded and ran (status 0).
    made = use(PressedWhileGenerating, "fake-pressed-compare")
    second: list[str] = []
    loads = FakeAttentionBackend.load

    def load(self: Any, model: str, **options: Any) -> None:
        if type(self) is FakeAttentionBackend:
            second.append(model)
        loads(self, model, **options)

    monkeypatch.setattr(FakeAttentionBackend, "load", load)
    result = CliRunner().invoke(
        main, ["compare", "-b", "fake", "-b", "fake-attention", "-m", "smollm2", "-o", "max_tokens=200", "hi"]
    )
    assert_interrupted(result)
    assert second == []
    assert not any(engine._loaded for engine in made)
    assert sum(len(engine.calls) for engine in made) == 1  # one reply, cut short


def test_the_ctrl_c_handler_is_put_back_after_each_command(fakes: list) -> None:
    before = signal.getsignal(signal.SIGINT)
    for args in (["next", "hi"], ["tokenize", "hi"], ["attention", "--json", "hi"]):
        backend = "fake-attention" if args[0] == "attention" else "fake"
        result = CliRunner().invoke(main, [args[0], "-b", backend, "-m", "x", *args[1:]])
        assert result.exit_code == 0, result.output
        assert signal.getsignal(signal.SIGINT) is before


# ---- compare: every side's options checked before any side loads ----------------------------------------


class StrictOptionsBackend(FakeBackend):
    """A fake whose module names the options its load takes (:data:`OPTIONS`), as the built-in engines' do."""

    name = "fake-strict"

    def load(self, model: str, **options: Any) -> None:
        self.check_options(options)
        super().load(model, **options)


class StrictPlugin:
    from assistant.hookspecs import hookimpl

    @hookimpl
    def register_backends(self, register: Any) -> None:
        register("fake-strict", StrictOptionsBackend, description="the fake, refusing options it does not take")


def test_compare_refuses_an_option_of_the_second_side_before_the_first_runs(fakes: list) -> None:
    # Was: the first side loaded and ran its whole reply (minutes on a real model), then the second
    # side's load refused the option.
    register_plugin(StrictPlugin(), name="fake-strict")
    result = CliRunner().invoke(
        main, ["compare", "-b", "fake", "-b", "fake-strict", "-m", "x", "-o", "n_gpu_layers=0", "hi"]
    )
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: unknown fake-strict option(s): n_gpu_layers")
    assert not any(engine.calls or engine._loaded for engine in fakes)
    assert all(getattr(engine, "loaded_model", None) is None for engine in fakes)


def test_compare_takes_an_option_scoped_to_the_side_that_knows_it(fakes: list) -> None:
    register_plugin(StrictPlugin(), name="fake-strict")
    result = CliRunner().invoke(
        main, ["compare", "-b", "fake", "-b", "fake-strict", "-m", "x", "-o", "fake:n_gpu_layers=0", "--json", "hi"]
    )
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("backend", "options", "refused"),
    [
        ("transformers", {"n_gpu_layers": 0}, "unknown transformers option(s): n_gpu_layers"),
        ("transformers", {"n_batch": 8}, "unknown transformers option(s): n_batch"),
        ("llama-cpp", {"attn": "eager"}, "unknown llama-cpp option(s): attn"),
        ("llama-cpp", {"n_ctxx": 5}, "unknown llama-cpp option(s): n_ctxx (did you mean n_ctx?)"),
    ],
)
def test_the_real_engines_refuse_an_unknown_option_without_loading(
    assistant_home: Any, backend: str, options: dict, refused: str
) -> None:
    from assistant.backends import check_options
    from assistant.errors import BackendError

    with pytest.raises(BackendError) as caught:
        check_options(backend, options)
    assert str(caught.value).startswith(refused)


@pytest.mark.parametrize(
    ("backend", "options"),
    [
        ("llama-cpp", {"n_ctx": 512, "device": "cpu", "verbose": True}),
        ("transformers", {"device": "cpu", "attn": "eager"}),
    ],
)
def test_the_real_engines_take_their_own_options(assistant_home: Any, backend: str, options: dict) -> None:
    from assistant.backends import check_options

    check_options(backend, options)  # llama-cpp accepts and ignores device, as its load does


def test_an_unknown_option_in_the_config_is_found_before_the_first_side_runs_too(assistant_home: Any) -> None:
    from assistant.backends import check_options
    from assistant.errors import BackendError

    config = assistant_home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("[backends.transformers]\nn_gpu_layers = 0\n", encoding="utf-8")
    with pytest.raises(BackendError, match="unknown transformers option"):
        check_options("transformers", {})


class IgnoresTheCancel(FakeBackend):
    """llama.cpp reading `next`'s prompt (``Llama.eval``, batch after batch) never looks at the cancel."""

    batches = 0

    def iter_logits(self, prompt_ids: list[int], token_ids: Any) -> Iterator[Any]:
        for batch in range(40):
            if batch == 3:
                os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)  # one batch; the handler runs between two, in Python code
            IgnoresTheCancel.batches = batch + 1
        yield from super().iter_logits(prompt_ids, token_ids)


def test_ctrl_c_stops_next_at_once_while_the_engine_ignores_the_cancel() -> None:
    # Was (with the press only cancelling the engine, as `prompt` does): `next` on a long text read the
    # whole prompt first, minutes on a CPU, and stopped only at a second Ctrl-C.
    use(IgnoresTheCancel, "fake-ignoring-cancel")
    result = CliRunner().invoke(main, ["next", "-b", "fake", "-m", "x", "hello"])
    assert_interrupted(result)
    assert IgnoresTheCancel.batches < 10


# ---- attention: NO_COLOR on a terminal ------------------------------------------------------------------


def test_attention_heatmap_under_no_color_on_a_terminal_draws_the_shade_glyphs() -> None:
    # Was: Rich kept its colour system under NO_COLOR and dropped the colours, so every cell of the map was a
    # blank and the legend still said "colour = attention weight".
    import io

    import numpy as np
    from rich.console import Console

    from assistant.cli.attention import print_heatmap
    from assistant.types import AttentionMaps

    weights = np.tril(np.full((1, 4, 4), 0.25, dtype=np.float32))
    maps = AttentionMaps(layers=[weights], token_ids=[1, 2, 3, 4], tokens=["a", "b", "c", "d"], prompt_tokens=2)
    out = io.StringIO()
    console = Console(
        file=out, force_terminal=True, no_color=True, color_system="truecolor", width=80, emoji=False, highlight=False
    )
    print_heatmap(console, maps, 0, None, "m", "cd")
    shown = out.getvalue()
    assert "▒" in shown  # 25% cells, as the legend names them
    assert "shade = attention weight:" in shown
    assert "colour = attention weight" not in shown


def test_compare_says_how_to_give_a_shared_option_to_one_side_only(fakes: list) -> None:
    # Was: "unknown fake-strict option(s): n_gpu_layers (known: …)", with no word of the BACKEND: prefix that
    # gives it to the side that takes it.
    register_plugin(StrictPlugin(), name="fake-strict")
    result = CliRunner().invoke(
        main, ["compare", "-b", "fake", "-b", "fake-strict", "-m", "x", "-o", "n_gpu_layers=0", "hi"]
    )
    assert result.exit_code == 1, result.output
    assert result.stderr.rstrip().endswith(
        "; -o n_gpu_layers went to both sides: give it to the fake side only with -o fake:n_gpu_layers=0"
    )
    assert len(result.stderr.strip().splitlines()) == 1


def test_compare_gives_no_such_advice_for_an_option_neither_side_takes(assistant_home: Any) -> None:
    from assistant.compare import Side, check_sides_options
    from assistant.errors import AssistantError

    with pytest.raises(AssistantError) as caught:
        check_sides_options(
            [Side("llama-cpp", "smollm2", {"n_ctxx": 5}), Side("transformers", "smollm2", {"n_ctxx": 5})]
        )
    assert str(caught.value).startswith("unknown llama-cpp option(s): n_ctxx (did you mean n_ctx?)")
    assert "side only" not in str(caught.value)

"""Round 9, second wave: what a backend refuses before it loads, and a cancel while llama.cpp reads a prompt."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from assistant.backends import check_options, create_backend, load_backend
from assistant.errors import AssistantError, ConfigError
from assistant.types import GenerationParams

from .interrupt_support import CancelAfter

from .conftest import run_cli


def _refusal(call: Any) -> str:
    with pytest.raises(AssistantError) as caught:
        call()
    return str(caught.value)


# ---- option values are checked by check_options, with load's own line -----------------------------
@pytest.mark.parametrize(
    ("backend", "options", "refused"),
    [
        ("llama-cpp", {"flash_attn": "maybe"}, "flash_attn must be true or false, not 'maybe'"),
        ("llama-cpp", {"n_ctx_override": "perhaps"}, "n_ctx_override must be true or false"),
        ("llama-cpp", {"verbose": "loud"}, "verbose must be true or false"),
        ("transformers", {"attn": "flash"}, "attn must be sdpa or eager, not 'flash'"),
        ("transformers", {"native": "maybe"}, "native must be true or false"),
        ("transformers", {"cuda_graphs": "maybe"}, "cuda_graphs must be true or false"),
        ("transformers", {"device": "tpu"}, "device 'tpu'"),
        ("transformers", {"dtype": "fp8"}, "unknown dtype 'fp8'"),
        ("transformers", {"device": "cpu", "cuda_graphs": True}, "cuda_graphs=true needs a CUDA device"),
        ("transformers", {"device": "cpu", "native": False, "n_ctx_override": "x"}, "n_ctx_override must be"),
    ],
)
def test_check_options_refuses_a_value_load_refuses_with_the_same_line(
    assistant_home: Path, backend: str, options: dict, refused: str
) -> None:
    # Was: only the names were checked, so `compare -o transformers:dtype=fp8` ran the other
    # side's whole reply (and this side found its model) before the value was refused.
    checked = _refusal(lambda: check_options(backend, options))
    assert refused in checked
    # load gives the very same line, and before it looks for the model (no such model here)
    assert _refusal(lambda: load_backend(backend, "no-such-model", progress=lambda _: None, **options)) == checked


def test_the_python_api_gets_a_config_error_for_a_count_that_is_no_number(assistant_home: Path) -> None:
    # Was: llama-cpp's load ran int("abc"): "failed to load ...: ValueError: invalid literal for int()".
    backend = create_backend("llama-cpp")
    assert "n_ctx" in _refusal(lambda: backend.check_options({"n_ctx": "abc"}))
    assert "n_ctx" in _refusal(lambda: backend.load("no-such-model", n_ctx="abc", progress=lambda _: None))


@pytest.mark.parametrize(
    ("backend", "options"),
    [
        ("llama-cpp", {"flash_attn": "on", "n_ctx_override": False, "n_gpu_layers": 0, "device": "cpu"}),
        ("transformers", {"device": "CPU", "dtype": "Float32", "attn": "EAGER", "native": "no", "max_batch": 4}),
    ],
)
def test_check_options_takes_what_load_takes(assistant_home: Path, backend: str, options: dict) -> None:
    check_options(backend, options)  # llama-cpp honours device=cpu (no layers on a GPU), as its load does


# ---- the openai backend: unknown keys before connecting ----------------------------------------------
def test_the_openai_backend_refuses_an_unknown_option_before_connecting(assistant_home: Path) -> None:
    # Was: no check_options at all, so compare found `-o openai:bse_url=...` only at that side's load.
    refused = _refusal(lambda: check_options("openai", {"bse_url": "http://127.0.0.1:9/v1"}))
    assert refused.startswith("unknown openai backend option(s): bse_url (known: api_key")
    backend = create_backend("openai")
    assert _refusal(lambda: backend.load("", bse_url="http://127.0.0.1:9/v1")) == refused
    check_options("openai", {"base_url": "http://127.0.0.1:9/v1", "read_timeout": 5, "verbose": True})


# ---- attention: a backend that can never give the weights is refused before loading ------------------
def test_known_before_load_reads_the_typed_capability_only_where_the_backend_lists_it(
    assistant_home: Path, fake_backend: None
) -> None:
    from assistant.backends.capabilities import known_before_load

    assert known_before_load(create_backend("llama-cpp"), "attention") is False
    assert known_before_load(create_backend("openai"), "attention") is False
    assert known_before_load(create_backend("transformers"), "attention") is True
    assert known_before_load(create_backend("transformers"), "max_parallel") is None  # the decoder decides
    assert known_before_load(create_backend("fake"), "attention") is None  # a plugin says nothing: ask it loaded


@pytest.mark.parametrize("backend", ["llama-cpp", "openai"])
def test_attention_refuses_a_backend_without_weights_before_loading(assistant_home: Path, backend: str) -> None:
    # Was: the model was found and loaded (or the server asked) before the refusal; a model that
    # does not exist shows it: the error was "unknown model", not the missing capability.
    option = "base_url=http://127.0.0.1:9/v1" if backend == "openai" else "temperature=0"
    result = run_cli("attention", "hi", "-b", backend, "-m", "no-such-model", "-o", option, timeout=60)
    assert result.returncode == 1
    assert "cannot return attention weights (-b transformers can)" in result.stderr
    assert "no-such-model" not in result.stderr


# ---- -m and the [remotes] tables -------------------------------------------------------------------
def _config(home: Path, text: str) -> None:
    path = home / "config" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


GOOD_REMOTE = '[remotes.loc]\nbase_url = "http://127.0.0.1:9/v1"\n'


def test_a_typo_in_another_remote_is_reported_when_m_names_a_remote(assistant_home: Path) -> None:
    from assistant.cli.common import resolve_model_and_backend

    _config(assistant_home, GOOD_REMOTE + '[remotes.bad]\nbase-url = "http://127.0.0.1:9/v1"\n')
    # Was: ("loc", "llama-cpp"), then "unknown model 'loc'": the config's real error hidden.
    with pytest.raises(ConfigError, match=r"unknown key\(s\) base-url in \[remotes.bad\]"):
        resolve_model_and_backend("loc/some-model", None)
    # a model that names no remote is still a model
    assert resolve_model_and_backend("smollm2", None) == ("smollm2", "llama-cpp")
    assert resolve_model_and_backend("org/repo", None) == ("org/repo", "llama-cpp")


def test_a_typo_in_another_remote_is_shown_by_the_cli(assistant_home: Path) -> None:
    _config(assistant_home, GOOD_REMOTE + '[remotes.bad]\nbase-url = "http://127.0.0.1:9/v1"\n')
    result = run_cli("prompt", "-m", "loc", "hi", timeout=60)
    assert result.returncode == 1
    assert "base-url in [remotes.bad]" in result.stderr
    assert "unknown model" not in result.stderr


def test_a_remote_name_with_a_slash_is_an_error_where_m_names_it_and_others_still_work(
    assistant_home: Path,
) -> None:
    from assistant.backends.openai.settings import resolve_settings
    from assistant.cli.common import resolve_model_and_backend
    from assistant.config import remotes

    _config(assistant_home, GOOD_REMOTE + '[remotes."lab/v1"]\nbase_url = "http://127.0.0.1:9/v1"\n')
    # Was: `-m lab/v1/m` read as a Hugging Face id and looked up as a model; the table was never used.
    for model in ("lab/v1", "lab/v1/m"):
        with pytest.raises(ConfigError, match=r"the remote name 'lab/v1' in \[remotes\] cannot be used"):
            resolve_model_and_backend(model, None)
        with pytest.raises(ConfigError, match="'lab/v1'"):
            resolve_settings(model, {})
    assert resolve_model_and_backend("loc/m", None) == ("loc/m", "openai")  # the valid remote still works
    assert resolve_settings("loc/m", {}).remote == "loc"
    assert set(remotes()) == {"loc"}
    assert resolve_model_and_backend("lab/other", None) == ("lab/other", "llama-cpp")  # another id: a model


def test_a_remote_named_like_the_prefix_still_wins_over_a_slashed_name(assistant_home: Path) -> None:
    from assistant.cli.common import resolve_model_and_backend

    _config(assistant_home, '[remotes.lab]\nbase_url = "http://127.0.0.1:9/v1"\n[remotes."lab/v1"]\nbase_url = "x"\n')
    assert resolve_model_and_backend("lab/v1", None) == ("lab/v1", "openai")  # remote lab, model v1


# ---- llama.cpp: a cancel stops next/score while the prompt is read ---------------------------------
LONG_TEXT = " ".join(f"item{i}" for i in range(150))




@pytest.fixture(scope="module")
def llama(smollm2_path: Path):  # type: ignore[no-untyped-def]
    # One batch holds the whole prompt: before the fix, nothing could stop `next` once it started.
    engine = load_backend("llama-cpp", str(smollm2_path), n_ctx=1024, n_batch=1024, progress=lambda _: None)
    yield engine
    engine.unload()


@pytest.mark.model
def test_a_cancel_stops_next_while_the_prompt_is_read(llama) -> None:  # type: ignore[no-untyped-def]
    from assistant.errors import BackendError

    params = GenerationParams(temperature=0)
    expected = llama.next_token(LONG_TEXT, params, top=3)
    llama._llm.n_tokens = 0  # nothing cached: the next call reads the whole prompt again
    llama._cancel = CancelAfter(40)  # far fewer checks than one decode of 300 tokens makes
    try:
        with pytest.raises(BackendError, match="the next-token computation was cancelled"):
            llama.next_token(LONG_TEXT, params, top=3)
    finally:
        llama._cancel = threading.Event()
    assert llama._llm.n_tokens == 0  # the aborted decode recorded nothing
    assert llama._abort_check is None  # no check left on for the decoding that follows
    again = llama.next_token(LONG_TEXT, params, top=3)
    assert [c.token_id for c in again.candidates] == [c.token_id for c in expected.candidates]


@pytest.mark.model
def test_a_cancel_from_another_thread_stops_next_between_chunks(llama) -> None:  # type: ignore[no-untyped-def]
    from assistant.errors import BackendError

    llama._llm.n_tokens = 0
    llama.prefill_chunk = 16
    reads: list[int] = []
    eval_once = llama._llm.eval

    def eval_and_cancel(tokens: list[int]) -> None:
        reads.append(len(tokens))
        eval_once(tokens)
        if len(reads) == 2:  # another thread presses Ctrl-C while the prompt is read
            worker = threading.Thread(target=llama.cancel)
            worker.start()
            worker.join()

    llama._llm.eval = eval_and_cancel
    try:
        with pytest.raises(BackendError, match="cancelled"):
            llama.next_token(LONG_TEXT, GenerationParams(temperature=0))
    finally:
        del llama._llm.eval
        llama.prefill_chunk = 0
    assert reads == [16, 16]  # stopped after the chunk under way, not after the whole prompt
    assert llama._llm.n_tokens == 32


@pytest.mark.model
def test_a_cancel_stops_scoring_and_the_next_score_is_right(llama) -> None:  # type: ignore[no-untyped-def]
    from assistant.errors import BackendError

    expected = llama.score(LONG_TEXT, [" item150", " banana"])
    llama._llm.n_tokens = 0
    llama._cancel = CancelAfter(40)
    try:
        with pytest.raises(BackendError, match="the scoring was cancelled"):
            llama.score(LONG_TEXT, [" item150", " banana"])
    finally:
        llama._cancel = threading.Event()
    assert llama._abort_check is None
    llama.cancel()  # a cancel left from an earlier reply is not the next score's
    assert llama.score(LONG_TEXT, [" item150", " banana"]) == pytest.approx(expected, abs=1e-3)


def test_a_press_raised_inside_a_c_callback_prints_no_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    # Was: Ctrl-C on `assistant next` while llama.cpp read the prompt printed "Exception ignored on
    # calling ctypes callback function" and a traceback (the abort callback runs Python), then "interrupted".
    import ctypes
    import sys

    from assistant.cli.common import CtrlC

    reported: list[BaseException] = []  # what Python's hook would print
    monkeypatch.setattr(sys, "unraisablehook", lambda info: reported.append(info.exc_value))

    def pressed_here(_data: Any) -> bool:
        raise KeyboardInterrupt

    def broken(_data: Any) -> bool:
        raise ValueError("a real bug in a callback")

    callback = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p)
    before = sys.unraisablehook
    with pytest.raises(KeyboardInterrupt):
        with CtrlC(at_once=True) as ctrl_c:
            ctrl_c.pressed.set()  # the handler notes the press, then raises inside the callback
            callback(pressed_here)(None)
            callback(broken)(None)  # anything else is still reported
    assert sys.unraisablehook is before
    assert [type(e) for e in reported] == [ValueError]

"""Round 10: the llama-cpp backend: marker tokens in untrusted text, Ctrl-C inside llama.cpp's callbacks."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from assistant.backends.llama_library import CallbackInterrupts
from assistant.backends.token_markers import MarkerCutter, find_markers, is_marker

from .conftest import REPO_ROOT, run_cli

GEMMA_MARKERS = ("<start_of_image>", "<end_of_image>", "[multimodal]")


# ---- which user-defined tokens are markers (no model) ------------------------------------------------------


@pytest.mark.parametrize("text", [*GEMMA_MARKERS, "<image_soft_token>", "<|tool|>", "[INST]", "<bbox>"])
def test_marker_texts_are_markers(text: str) -> None:
    assert is_marker(text)


@pytest.mark.parametrize(
    "text", ["\n", "\n\n", "    ", "\t\t", "<table>", "</td>", "<b>", "<h1>", "<", "ChatGPT"]
)
def test_whitespace_html_tags_and_words_are_ordinary_text(text: str) -> None:
    # Gemma's tokenizer reads these whole in any text: cutting them would change every "\n\n".
    assert not is_marker(text)


def test_find_markers_keeps_ids() -> None:
    assert find_markers([(5, "[multimodal]"), (108, "\n\n"), (168, "<table>"), (255999, "<start_of_image>")]) == {
        5: "[multimodal]",
        255999: "<start_of_image>",
    }


@pytest.mark.parametrize(
    "text",
    [
        "a <start_of_image> b",
        "<start_of_image>",
        "<<start_of_image>>",
        "x<start_of_image><end_of_image>[multimodal]y",
        "no marker here",
        "",
        "<start_of_imag",
    ],
)
def test_cut_pieces_join_to_the_text_and_none_holds_a_marker(text: str) -> None:
    cutter = MarkerCutter({255999: "<start_of_image>", 256000: "<end_of_image>", 5: "[multimodal]"})
    pieces = cutter.cut(text)
    assert "".join(pieces) == text
    assert all(piece for piece in pieces)
    assert not any(marker in piece for piece in pieces for marker in GEMMA_MARKERS)


def test_a_long_marker_and_a_hostile_number_of_them_are_still_cut() -> None:
    long = "<" + "x" * 500 + ">"
    many = {i: f"<m{i}_{'y' * (i % 40)}>" for i in range(50_000)}  # no alternation of 50,000 to compile
    cutter = MarkerCutter({**many, 99_999: long})
    text = f"a {long} b {many[49_999]} c"
    pieces = cutter.cut(text)
    assert "".join(pieces) == text
    assert not any(long in piece or many[49_999] in piece for piece in pieces)


def test_a_vocabulary_without_markers_leaves_text_whole() -> None:
    assert MarkerCutter({}).cut("a <start_of_image> b") == ["a <start_of_image> b"]


# ---- Ctrl-C inside a C callback (no model) -----------------------------------------------------------------


def test_a_press_in_a_guarded_callback_is_noted_and_raised_after_it(monkeypatch: pytest.MonkeyPatch) -> None:
    reported: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda info: reported.append(info.exc_value))
    interrupts = CallbackInterrupts()

    def pressed(_data: Any) -> bool:
        raise KeyboardInterrupt

    abort_type = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p)
    assert abort_type(interrupts.guard_one(pressed, answer=True))(None) is True  # "abort the decode"
    assert abort_type(interrupts.guard(pressed, lambda _: True))(None) is True
    assert reported == []  # no "Exception ignored on calling ctypes callback function"
    seen: list[bool] = []
    worker = threading.Thread(target=lambda: seen.append(interrupts.pending()))
    worker.start()
    worker.join()
    assert seen == [False]  # another thread's backend never takes this thread's press
    with pytest.raises(KeyboardInterrupt):
        interrupts.raise_pending()
    interrupts.raise_pending()  # raised once


def test_guard_one_answers_the_callbacks_own_value_when_nothing_is_pressed() -> None:
    interrupts = CallbackInterrupts()
    flags = {"cancel": False}
    abort_type = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p)
    check = abort_type(interrupts.guard_one(lambda _: flags["cancel"], True))
    assert check(None) is False
    flags["cancel"] = True
    assert check(None) is True
    assert not interrupts.pending()


def test_a_press_raised_as_the_log_callback_starts_is_noted_while_a_model_loads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Was: lost. Python raises a pending press at the callback's first instruction, before its `try`;
    # ctypes gave it to sys.unraisablehook, which printed it into the silenced fd 2, and the load went on.
    from types import SimpleNamespace

    from assistant.backends import llama_library

    llama_library._import_llama_cpp(verbose=False)
    reported: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda info: reported.append(info.exc_value))
    guarded = llama_library._log_state["guarded"]
    with llama_library.log_presses_noted():
        sys.unraisablehook(SimpleNamespace(exc_value=KeyboardInterrupt(), object=guarded))
        other = ValueError("a real bug elsewhere")
        sys.unraisablehook(SimpleNamespace(exc_value=other, object=None))
    assert reported == [other]
    with pytest.raises(KeyboardInterrupt):
        llama_library.callback_interrupts.raise_pending()
    assert sys.unraisablehook is not None and not llama_library.callback_interrupts.pending()


# ---- with the real models ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gemma(gemma_path: Path):  # type: ignore[no-untyped-def]
    from assistant.backends import load_backend

    engine = load_backend("llama-cpp", str(gemma_path), n_ctx=512, progress=lambda _: None)
    yield engine
    engine.unload()


@pytest.mark.model
def test_gemmas_marker_tokens_are_found_in_its_vocabulary(gemma) -> None:  # type: ignore[no-untyped-def]
    markers = gemma._marker_cutter().ids
    assert {markers.get(255999), markers.get(256000), markers.get(5)} == set(GEMMA_MARKERS)
    assert 108 not in markers and 168 not in markers  # "\n\n" and "<table>" stay ordinary text


@pytest.mark.model
def test_untrusted_text_never_becomes_a_marker_token(gemma) -> None:  # type: ignore[no-untyped-def]
    # Was: "a <start_of_image> b" tokenized (parse_special off) to [a][ ][<start_of_image>][ b].
    markers = set(gemma._marker_cutter().ids)
    for text in ("a <start_of_image> b", "<end_of_image>", "x[multimodal]y", "<<start_of_image>>"):
        ids = gemma.tokenize_fragment(text, parse_special=False)
        assert not markers & set(ids), text
        assert b"".join(gemma.token_bytes(i) for i in ids).decode() == text
    from assistant.types import Message

    prompt = gemma.prompt_token_ids([Message("user", "see <start_of_image> here")])
    assert 255999 not in prompt
    assert 105 in prompt  # the template's own <start_of_turn> is still the control token


@pytest.mark.model
def test_ordinary_text_is_tokenized_as_before(gemma) -> None:  # type: ignore[no-untyped-def]
    text = "para one\n\npara two\t\t<table><tr><td>1</td></tr></table>    done"
    assert gemma.tokenize_fragment(text, parse_special=False) == gemma._tokenize(text.encode(), special=False)


@pytest.mark.model
def test_a_marker_the_template_writes_is_still_the_marker(gemma) -> None:  # type: ignore[no-untyped-def]
    ids = gemma.tokenize_text("look: <start_of_image> there")  # trusted template text
    assert 255999 in ids
    assert gemma.control_token_name(255999) == "<start_of_image>"


@pytest.mark.model
def test_tokenize_command_shows_the_marker_as_characters() -> None:
    done = run_cli("tokenize", "-m", "gemma3-270m", "--json", "a <start_of_image> b")
    assert done.returncode == 0, done.stderr
    tokens = json.loads(done.stdout)["tokens"]
    assert 255999 not in [token["id"] for token in tokens]
    assert "".join(token["text"] for token in tokens if token["id"] != 2) == "a <start_of_image> b"


SIGINT_SCRIPT = """
import os, signal, sys, threading
from assistant.backends import load_backend
from assistant.types import GenerationParams

class PressSoon(threading.Event):
    # SIGINT 50 ms after the first check for a cancel, which comes just before llama.cpp reads the
    # prompt: it arrives during the decode, and Python raises it as llama.cpp calls its abort check.
    pressed = False

    def is_set(self):
        if not self.pressed:
            self.pressed = True
            threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT)).start()
        return super().is_set()

engine = load_backend("llama-cpp", sys.argv[1], n_ctx=4096, n_batch=4096, progress=lambda _: None)
text = " ".join(f"item{i}" for i in range(700))  # one decode of ~2,800 tokens: far longer than 50 ms
engine._cancel = PressSoon()
try:
    for chunk in engine.stream(text, GenerationParams(max_tokens=50, temperature=0)):
        pass
    print("not interrupted:", chunk.finish_reason, flush=True)
except KeyboardInterrupt:
    print("KeyboardInterrupt", flush=True)
engine._cancel = threading.Event()
reply = engine.complete("Hi", GenerationParams(max_tokens=2, temperature=0))
print("then:", reply.finish_reason, flush=True)
"""


@pytest.mark.model
def test_ctrl_c_while_llama_cpp_reads_a_prompt_is_a_clean_keyboard_interrupt(smollm2_path: Path) -> None:
    # Was: "Exception ignored on calling ctypes callback function ... KeyboardInterrupt", then
    # BackendError "llama.cpp failed while generating: llama_decode returned 2".
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", SIGINT_SCRIPT, str(smollm2_path)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Exception ignored" not in done.stderr
    assert done.stdout.splitlines() == ["KeyboardInterrupt", "then: length"]


@pytest.mark.model
def test_an_empty_text_for_a_model_without_bos_is_a_one_line_error(smollm2_path: Path) -> None:
    # Was: a bare AssertionError from llama-cpp-python ("assert self.n_tokens > 0"): SmolLM2 adds no BOS.
    from assistant.backends import load_backend
    from assistant.errors import ConfigError
    from assistant.types import GenerationParams

    engine = load_backend("llama-cpp", str(smollm2_path), n_ctx=256, progress=lambda _: None)
    try:
        with pytest.raises(ConfigError, match="the text is empty"):
            engine.complete("", GenerationParams(max_tokens=2))
        assert engine.complete("Hi", GenerationParams(max_tokens=2, temperature=0)).text  # still usable
    finally:
        engine.unload()

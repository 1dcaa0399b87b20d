"""The engine's thread choice (issue #23): the chat app's engine leaves a core for the UI; headless keeps all.

The policy itself is checked in this process; the real-model test loads SmolLM2
in an engine process, as the chat app does, and reads back what llama.cpp got.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from assistant.backends import load_backend
from assistant.backends.engine import threads


@pytest.fixture
def sharing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "_sharing", False)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)


def test_headless_computes_on_every_core(sharing: None) -> None:
    cores = os.cpu_count() or 1
    assert threads.compute_threads() == (cores, cores)


def test_the_ui_engine_leaves_a_core_and_lets_waiting_threads_sleep(
    sharing: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    threads.share_cores_with_ui()
    assert threads.compute_threads() == (1, 2)  # decode on 1, the prompt on both
    assert os.environ["OMP_WAIT_POLICY"] == "passive"
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert threads.compute_threads() == (1, 1)


def test_an_explicit_thread_count_wins(sharing: None) -> None:
    threads.share_cores_with_ui()
    assert threads.compute_threads(3) == (3, 3)


def test_the_users_wait_policy_is_kept(sharing: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_WAIT_POLICY", "active")
    threads.share_cores_with_ui()
    assert os.environ["OMP_WAIT_POLICY"] == "active"


@pytest.mark.model
def test_llama_cpp_in_the_engine_process_gets_the_ui_thread_choice(smollm2_path: Path) -> None:
    from assistant.backends.engine.process import load_in_engine_process

    cores = os.cpu_count() or 1
    app_engine = load_in_engine_process("llama-cpp", str(smollm2_path), n_ctx=256)
    try:
        info = app_engine.info()
        assert (info["n_threads"], info["n_threads_batch"]) == (max(1, cores - 1), cores)
    finally:
        app_engine.unload()
    pinned = load_in_engine_process("llama-cpp", str(smollm2_path), n_ctx=256, n_threads=1)
    try:
        assert (pinned.info()["n_threads"], pinned.info()["n_threads_batch"]) == (1, 1)
    finally:
        pinned.unload()
    headless = load_backend("llama-cpp", str(smollm2_path), n_ctx=256, progress=lambda _: None)
    try:
        assert (headless.info()["n_threads"], headless.info()["n_threads_batch"]) == (cores, cores)
    finally:
        headless.unload()


@pytest.mark.model
def test_transformers_in_the_engine_process_leaves_a_core_too(smollm2_path: Path) -> None:
    from assistant.backends.engine.process import load_in_engine_process

    cores = os.cpu_count() or 1
    app_engine = load_in_engine_process("transformers", str(smollm2_path), n_ctx=256)
    try:
        assert app_engine.info()["n_threads"] == max(1, cores - 1)
    finally:
        app_engine.unload()

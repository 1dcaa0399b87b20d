"""The chat app's engine process: a backend in a child process, behind the same protocol."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from multiprocessing import Pipe
from pathlib import Path
from typing import Any

import pytest

from assistant.backends.engine import wire
from assistant.backends.engine.host import EngineHost, merged
from assistant.backends.engine.process import (
    EngineProcess,
    engine_log_path,
    load_chat_backend,
    load_in_engine_process,
    runs_in_engine_process,
)
from assistant.backends.fake import FakeBackend
from assistant.hookspecs import hookimpl
from assistant.errors import (
    BackendError,
    ConfigError,
    ContextOverflowError,
    EngineStartError,
    ModelLoadError,
)
from assistant.plugins import reset_plugins
from assistant.types import Chunk, GenerationParams, Message

PROMPT = [Message("system", "Be brief."), Message("user", "héllo 👋 [bold]there[/bold]")]


@pytest.fixture
def engine(fake_backend_plugin_file: Path) -> Any:
    backend = load_in_engine_process("fake", "fake-model")
    yield backend
    backend.unload()


def write_plugin(home: Path, name: str, source: str) -> None:
    directory = home / "config" / "plugins"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    reset_plugins()


def test_every_method_answers_as_the_backend_in_this_process_does(engine: Any) -> None:
    local = FakeBackend()
    local.load("fake-model")
    params = GenerationParams(max_tokens=40, logprobs=2, stop=["there"])
    assert engine.name == "fake" and engine.model_name == "fake-model"
    assert engine.context_length == local.context_length
    assert engine.render_prompt(PROMPT) == local.render_prompt(PROMPT)
    assert engine.count_tokens(PROMPT) == local.count_tokens(PROMPT)
    assert engine.prompt_token_ids("abc") == local.prompt_token_ids("abc")
    assert engine.score("user: cat", ["cat", "dog"]) == local.score("user: cat", ["cat", "dog"])
    remote_chunks = list(engine.stream(PROMPT, params))
    local_chunks = list(local.stream(PROMPT, params))
    assert [(c.text, c.token_ids, c.logprobs, c.finish_reason) for c in remote_chunks] == [
        (c.text, c.token_ids, c.logprobs, c.finish_reason) for c in local_chunks
    ]
    assert "".join(c.text for c in remote_chunks) == "Echo: héllo 👋 [bold]"
    assert engine.complete(PROMPT, params).text == local.complete(PROMPT, params).text
    info = engine.info()
    assert info["device"] == "cpu" and info["engine_process"] not in (None, os.getpid())


def test_errors_arrive_as_their_own_class_with_their_fields(fake_backend_plugin_file: Path) -> None:
    with pytest.raises(ModelLoadError) as loading:
        load_in_engine_process("fake", "missing-model")
    assert loading.value.path == "missing-model" and loading.value.reason == "no such file"
    assert "raised in the engine process" in "".join(loading.value.__notes__)
    backend = load_in_engine_process("fake", "m", n_ctx=64)
    try:
        with pytest.raises(ContextOverflowError) as overflow:
            list(backend.stream("x" * 100, GenerationParams()))
        assert (overflow.value.prompt_tokens, overflow.value.context_length) == (101, 64)
        assert "context window is 64 tokens" in str(overflow.value)
        # The engine keeps working after a failed request.
        assert backend.complete("hi", GenerationParams(max_tokens=3)).text == "Ech"
    finally:
        backend.unload()


def test_an_exception_that_cannot_be_rebuilt_becomes_a_backend_error() -> None:
    class Local(Exception):  # not importable by its qualified name
        pass

    decoded = wire.decode_exception(wire.encode_exception(Local("boom")))
    assert isinstance(decoded, BackendError) and "boom" in str(decoded)


def test_cancel_stops_the_stream_within_one_token(fake_backend_plugin_file: Path) -> None:
    backend = load_in_engine_process("fake", "m", token_delay=0.03)
    try:
        chunks = backend.stream("x" * 300, GenerationParams(max_tokens=300))
        received: list[Chunk] = []
        for chunk in chunks:
            received.append(chunk)
            if len(received) == 5:
                backend.cancel()
        assert received[-1].finish_reason == "cancelled"
        # One chunk may already be in the pipe when the cancel arrives; the model stops at the next.
        assert 5 <= received[-1].usage.completion_tokens <= 7
    finally:
        backend.unload()


def test_a_cancel_sent_before_the_first_token_is_not_lost() -> None:
    """The stream clears the cancel flag as it starts; the host re-applies a cancel that came first."""
    app_end, host_end = Pipe()
    backend = FakeBackend(reply="y" * 200, token_delay=0.03)
    backend.load("m")
    host = EngineHost(host_end, host_end)
    host.backend = backend
    threading.Thread(target=host.serve, daemon=True).start()
    assert app_end.recv()[0] == wire.READY
    app_end.send((wire.STREAM, 1, ("stream", ("go", GenerationParams(max_tokens=200)), {})))
    app_end.send((wire.CANCEL, 0, None))
    chunks: list[Chunk] = []
    while True:
        kind, request_id, payload = app_end.recv()
        assert request_id == 1
        if kind == wire.END:
            break
        assert kind == wire.CHUNKS, payload
        chunks.extend(payload)
    assert chunks[-1].finish_reason == "cancelled"
    assert chunks[-1].usage.completion_tokens <= 2
    app_end.send((wire.EXIT, 0, None))


def test_outbox_batches_consecutive_chunks_of_one_stream() -> None:
    a, b, c = Chunk("a"), Chunk("b"), Chunk("c")
    items = [
        (wire.CHUNKS, 1, (a,)),
        (wire.CHUNKS, 1, (b,)),
        (wire.RESULT, 2, 42),
        (wire.CHUNKS, 1, (c,)),
        (wire.END, 1, None),
    ]
    assert merged(items) == [
        (wire.CHUNKS, 1, [a, b]),
        (wire.RESULT, 2, 42),
        (wire.CHUNKS, 1, [c]),
        (wire.END, 1, None),
    ]


def test_a_stream_left_early_stops_generating_and_the_next_one_works(fake_backend_plugin_file: Path) -> None:
    backend = load_in_engine_process("fake", "m", token_delay=0.005)
    try:
        chunks = backend.stream("z" * 400, GenerationParams(max_tokens=400))
        next(chunks)
        chunks.close()
        # The closed stream's tokens never reach the next request.
        assert backend.complete("ok", GenerationParams(max_tokens=50)).text == "Echo: ok"
    finally:
        backend.unload()


def test_a_crashed_engine_is_an_error_then_the_next_request_starts_it_again(
    fake_backend_plugin_file: Path,
) -> None:
    backend = load_in_engine_process("fake", "m", token_delay=0.01, n_ctx=512)
    try:
        first_pid = backend.engine.pid
        chunks = backend.stream("w" * 300, GenerationParams(max_tokens=300))
        next(chunks)
        os.kill(first_pid, signal.SIGKILL)
        with pytest.raises(BackendError, match=r"stopped \(killed by SIGKILL\); the next request loads"):
            list(chunks)
        # Same model, same options, in a new process.
        assert backend.count_tokens("again") == 6
        assert backend.engine.pid != first_pid and backend.context_length == 512
        assert backend.info()["engine_process"] == backend.engine.pid
        assert backend.complete("ok", GenerationParams(max_tokens=20)).text == "Echo: ok"
    finally:
        backend.unload()


def test_a_model_that_crashes_as_it_reloads_is_not_reloaded_on_every_request(
    assistant_home: Path, tmp_path: Path
) -> None:
    write_plugin(
        assistant_home,
        "fragile",
        '''
        import os, signal
        from assistant import hookimpl
        from assistant.backends.fake import FakeBackend

        class Fragile(FakeBackend):
            def load(self, model, **options):
                if os.path.exists(options.pop("crash_if")):
                    os.kill(os.getpid(), signal.SIGKILL)
                super().load(model, **options)

        @hookimpl
        def register_backends(register):
            register("fragile", Fragile)
        ''',
    )
    crash_if = tmp_path / "crash"
    notes: list[str] = []
    backend = load_in_engine_process("fragile", "m", crash_if=str(crash_if), progress=notes.append)
    try:
        crash_if.touch()  # from now on the model crashes as it loads
        os.kill(backend.engine.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while not backend.engine.crashed and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(BackendError, match=r"stopped \(killed by SIGKILL\) \(log") as reloading:
            backend.count_tokens("x")  # the one reload: it crashes too
        assert "next request" not in str(reloading.value)
        assert notes == ["the engine stopped: loading m again"]
        with pytest.raises(BackendError, match="loading m again after its engine stopped failed .*load a model"):
            backend.count_tokens("x")  # at once, without another reload
        assert notes == ["the engine stopped: loading m again"]
        crash_if.unlink()
        backend.load("m2", crash_if=str(crash_if))  # the way out: a fresh process, the old model not reloaded first
        assert backend.model_name == "m2" and backend.complete("ok", GenerationParams()).text == "Echo: ok"
    finally:
        backend.unload()


def test_unload_ends_the_process(engine: Any) -> None:
    process = engine.engine
    engine.unload()
    assert process.returncode == 0
    with pytest.raises(BackendError, match="unloaded"):  # asked for: not restarted
        engine.complete("hi", GenerationParams())


def test_what_the_engine_prints_goes_to_its_log_not_the_pipe(assistant_home: Path) -> None:
    write_plugin(
        assistant_home,
        "noisy",
        '''
        import os, sys
        from assistant import hookimpl
        from assistant.backends.fake import FakeBackend

        class Noisy(FakeBackend):
            def load(self, model, **options):
                options["progress"]("loading: 50%")
                super().load(model, **options)

            def stream(self, prompt, params):
                print("python says hi")
                os.write(1, b"C code writes to fd 1\\n")
                os.write(2, b"C code writes to fd 2\\n")
                yield from super().stream(prompt, params)

        @hookimpl
        def register_backends(register):
            register("noisy", Noisy)
        ''',
    )
    notes: list[str] = []
    backend = load_chat_backend("noisy", "m", progress=notes.append)
    try:
        assert backend.info()["engine_process"] != os.getpid()
        assert notes == ["loading: 50%"]
        assert backend.complete("hi", GenerationParams()).text == "Echo: hi"
    finally:
        backend.unload()
    log = engine_log_path().read_text(encoding="utf-8")
    for line in ("python says hi", "C code writes to fd 1", "C code writes to fd 2"):
        assert line in log


def test_a_process_that_cannot_start_is_a_clear_error(
    fake_backend_plugin_file: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho 'no interpreter here' >&2\nexit 3\n")
    broken.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(broken))
    with pytest.raises(EngineStartError, match=r"did not start \(exit status 3\): .*no interpreter here"):
        EngineProcess("fake m")
    # The chat app's loader then loads the model in its own process, and says so.
    notes: list[str] = []
    backend = load_chat_backend("fake", "m", progress=notes.append)
    assert isinstance(backend, FakeBackend) and backend.model_name == "m"
    assert len(notes) == 1 and "loading the model in the app's process" in notes[0]
    monkeypatch.setattr(sys, "executable", str(tmp_path / "missing-python"))
    with pytest.raises(EngineStartError, match="cannot start the engine process"):
        EngineProcess("fake m")


def test_which_backends_get_a_process(
    fake_backend_plugin_file: Path, monkeypatch: pytest.MonkeyPatch, assistant_home: Path
) -> None:
    from assistant.plugins import register_plugin

    assert runs_in_engine_process("fake")  # a user plugin file: a fresh interpreter finds it
    assert runs_in_engine_process("llama-cpp")  # built in
    assert not runs_in_engine_process("no-such-backend")  # fails here, at once, with the usual error
    register_plugin(RuntimeOnly(), name="runtime-only")
    assert not runs_in_engine_process("runtime-fake")  # exists in this process only
    assert isinstance(load_chat_backend("runtime-fake", "m"), FakeBackend)
    monkeypatch.setenv("ASSISTANT_ENGINE_PROCESS", "0")
    assert not runs_in_engine_process("fake")
    monkeypatch.setenv("ASSISTANT_ENGINE_PROCESS", "maybe")
    with pytest.raises(ConfigError, match="engine_process must be true or false"):
        runs_in_engine_process("fake")
    monkeypatch.delenv("ASSISTANT_ENGINE_PROCESS")
    (assistant_home / "config" / "config.toml").write_text("engine_process = false\n", encoding="utf-8")
    assert not runs_in_engine_process("fake")


class RuntimeOnly:
    """A plugin object registered in this process only."""

    @hookimpl
    def register_backends(self, register: Any) -> None:
        register("runtime-fake", FakeBackend)


def test_the_engine_exits_when_the_app_dies(fake_backend_plugin_file: Path) -> None:
    script = textwrap.dedent(
        """
        import os
        from assistant.backends.engine.process import load_in_engine_process
        backend = load_in_engine_process("fake", "m")
        print(backend.engine.pid, flush=True)
        os._exit(0)  # no unload: as if the app were killed
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    pid = int(out.stdout.split()[0])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not alive(pid):
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    raise AssertionError("the engine process outlived the app")


def alive(pid: int) -> bool:
    """Running (a zombie nobody has reaped yet counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_an_unwritable_cache_only_loses_the_log(fake_backend_plugin_file: Path, assistant_home: Path) -> None:
    (assistant_home / "cache").write_text("a file where the cache directory should be")
    backend = load_in_engine_process("fake", "m")
    try:
        assert backend.complete("hi", GenerationParams()).text == "Echo: hi"
    finally:
        backend.unload()

"""``--parallel N``: rows in flight at once, results in input order, retries, kill + resume, cancel.

The remote cases run against the scripted server (tests/openai_fake_server.py)
with a latency per request, so rows finish out of order and the ordering,
resuming and cancelling are really exercised.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from assistant.backends import load_backend
from assistant.backends.fake import FakeBackend
from assistant.backends.openai.backend import OpenAIBackend
from assistant.backends.openai.http import retry_after
from assistant.batch import Row, read_rows
from assistant.batch.parallel import in_order, parallel_for
from assistant.errors import RemoteError
from assistant.templates import load_template
from assistant.templates.batch import run_batch
from assistant.types import GenerationParams, Message

from .conftest import REPO_ROOT, run_cli
from .openai_fake_server import DONE, FakeOpenAIServer, chat_chunk, send_json, sse, stall, tiny_openai_server  # noqa: F401 (the server fixture)

TEMPLATE = "---\nvariables: [input]\n---\n{{ input }}\n"
GREEDY = GenerationParams(temperature=0, max_tokens=16)


def echo_server(server: FakeOpenAIServer, latency: float | tuple[float, float]) -> dict[str, int]:
    """Every chat request answers ``got: <last message>`` after ``latency`` seconds (or a random span)."""
    state = {"now": 0, "most": 0}
    lock = threading.Lock()

    def handler(h: Any, body: Any) -> None:
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        try:
            time.sleep(random.uniform(*latency) if isinstance(latency, tuple) else latency)
        finally:
            # Counted out before the answer is written: once the client has read
            # it, it may send its next request before this thread would reach a
            # later decrement, which counted one request too many (CI saw 7 of 6).
            with lock:
                state["now"] -= 1
        text = body["messages"][-1]["content"]
        sse([chat_chunk(f"got: {text}"), chat_chunk(None, "stop"), DONE])(h, body)

    server.route("POST", "/v1/chat/completions", handler)
    return state


def connect(server: FakeOpenAIServer) -> OpenAIBackend:
    backend = load_backend("openai", "tiny", base_url=server.base_url, progress=lambda _: None)
    assert isinstance(backend, OpenAIBackend)
    return backend


def write_rows(path: Path, count: int) -> Path:
    path.write_text("".join(json.dumps({"id": f"r{n}", "text": f"row {n}"}) + "\n" for n in range(1, count + 1)))
    return path


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# ---- the runner ---------------------------------------------------------------------------
def test_in_order_keeps_input_order_with_n_rows_in_flight() -> None:
    running, most = 0, 0
    lock = threading.Lock()

    def work(row: Row) -> dict[str, Any]:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(random.uniform(0.0, 0.03))
        with lock:
            running -= 1
        return {"n": row.number}

    rows = [Row(n) for n in range(1, 41)]
    results = list(in_order(rows, work, 4))
    assert [row.number for row, _ in results] == list(range(1, 41))
    assert [record["n"] for _, record in results] == list(range(1, 41))
    assert most == 4


def test_parallel_is_capped_by_the_backend_capability() -> None:
    engine = FakeBackend()
    engine.load("fake-model")
    assert engine.capabilities.max_parallel == 1
    assert parallel_for(engine, 1) == (1, None)
    count, note = parallel_for(engine, 8)
    assert count == 1
    assert note == "note: the fake backend runs one request at a time; --parallel 8 runs as 1"


def test_openai_backend_takes_many_requests(server: FakeOpenAIServer) -> None:
    backend = connect(server)
    assert backend.capabilities.max_parallel >= 8
    assert parallel_for(backend, 8) == (8, None)
    count, note = parallel_for(backend, 1000)
    assert count == backend.capabilities.max_parallel and note and "runs as" in note


# ---- a template batch against a server ------------------------------------------------------
def test_parallel_batch_keeps_order_and_runs_rows_at_once(
    server: FakeOpenAIServer, user_templates: Path, tmp_path: Path
) -> None:
    state = echo_server(server, (0.02, 0.15))
    (user_templates / "echo.jinja").write_text(TEMPLATE)
    rows = read_rows(write_rows(tmp_path / "in.jsonl", 24))
    out = tmp_path / "out.jsonl"
    summary = run_batch(load_template("echo"), rows, connect(server), out=out, params=GREEDY, parallel=6)
    assert (summary.done, summary.failed) == (24, 0)
    got = records(out)
    assert [r["row"] for r in got] == list(range(1, 25))
    assert [r["id"] for r in got] == [f"r{n}" for n in range(1, 25)]
    assert [r["output"] for r in got] == [f"got: row {n}" for n in range(1, 25)]
    assert state["most"] == 6  # really in flight together, never more than asked


def test_retries_429_and_503_honouring_retry_after(server: FakeOpenAIServer) -> None:
    answers = iter(
        [
            lambda h, b: _status(h, 429, {"Retry-After": "0.4"}),
            lambda h, b: _status(h, 503, {}),
            sse([chat_chunk("fine"), chat_chunk(None, "stop"), DONE]),
        ]
    )
    server.route("POST", "/v1/chat/completions", lambda h, b: next(answers)(h, b))
    backend = connect(server)
    started = time.perf_counter()
    completion = backend.complete([Message("user", "hi")], GREEDY)
    elapsed = time.perf_counter() - started
    assert completion.text == "fine"
    assert len(server.bodies("/v1/chat/completions")) == 3
    assert elapsed >= 0.4 + 0.5 * 2  # Retry-After, then the backoff's second step (0.5 s doubled)


def test_a_long_retry_after_fails_at_once_with_the_server_message(server: FakeOpenAIServer) -> None:
    server.route("POST", "/v1/chat/completions", lambda h, b: _status(h, 429, {"Retry-After": "3600"}))
    started = time.perf_counter()
    with pytest.raises(RemoteError, match="429"):
        connect(server).complete([Message("user", "hi")], GREEDY)
    assert time.perf_counter() - started < 5
    assert len(server.bodies("/v1/chat/completions")) == 1


def test_a_500_is_not_retried(server: FakeOpenAIServer) -> None:
    server.route("POST", "/v1/chat/completions", lambda h, b: send_json(h, 500, {"error": {"message": "boom"}}))
    with pytest.raises(RemoteError, match="boom"):
        connect(server).complete([Message("user", "hi")], GREEDY)
    assert len(server.bodies("/v1/chat/completions")) == 1


def test_retry_after_values() -> None:
    assert retry_after("2") == 2.0
    assert retry_after(" 0.5 ") == 0.5
    assert retry_after(None) is None and retry_after("soon") is None
    from email.utils import formatdate

    in_ten = retry_after(formatdate(time.time() + 10, usegmt=True))
    assert in_ten is not None and 8 <= in_ten <= 11


def _status(h: Any, status: int, headers: dict[str, str]) -> None:
    data = json.dumps({"error": {"message": "busy"}}).encode()
    h.send_response(status)
    for name, value in {**headers, "content-type": "application/json", "content-length": str(len(data))}.items():
        h.send_header(name, value)
    h.end_headers()
    h.wfile.write(data)


# ---- cancelling ------------------------------------------------------------------------------
def test_cancel_stops_every_stream_in_flight(server: FakeOpenAIServer) -> None:
    server.route("POST", "/v1/chat/completions", stall(20, first=[chat_chunk("a")]))
    backend = connect(server)
    finishes: list[str] = []

    def one() -> None:
        finishes.append(backend.complete([Message("user", "hi")], GREEDY).finish_reason)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while len(server.bodies("/v1/chat/completions")) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # every stream has its first chunk
    started = time.perf_counter()
    backend.cancel()
    for thread in threads:
        thread.join(timeout=10)
    assert time.perf_counter() - started < 3
    assert finishes == ["cancelled"] * 4


def test_an_interrupted_parallel_batch_cancels_the_rows_in_flight(
    server: FakeOpenAIServer, user_templates: Path, tmp_path: Path
) -> None:
    def handler(h: Any, body: Any) -> None:
        fast = body["messages"][-1]["content"].strip() == "row 1"
        events = [chat_chunk("got it"), chat_chunk(None, "stop"), DONE]
        (sse(events) if fast else stall(30, first=[chat_chunk("slow")]))(h, body)

    server.route("POST", "/v1/chat/completions", handler)
    (user_templates / "echo.jinja").write_text(TEMPLATE)
    rows = read_rows(write_rows(tmp_path / "in.jsonl", 8))
    out = tmp_path / "out.jsonl"
    seen: list[int] = []

    def interrupt(record: dict[str, Any], _messages: Any) -> None:
        seen.append(record["row"])
        while len(server.bodies("/v1/chat/completions")) < 5:
            time.sleep(0.02)  # rows 2-5 are in flight (a worker took row 5 when row 1 ended)
        raise KeyboardInterrupt

    started = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        run_batch(load_template("echo"), rows, connect(server), out=out, params=GREEDY, parallel=4, on_record=interrupt)
    assert time.perf_counter() - started < 10  # not the 30 s the stalled rows would take
    assert seen == [1]
    assert [r["row"] for r in records(out)] == [1]
    assert len(server.bodies("/v1/chat/completions")) == 5  # the queued rows 6-8 never started


# ---- the CLI ---------------------------------------------------------------------------------
def test_cli_kill_half_way_then_resume_gives_every_row_exactly_once(
    server: FakeOpenAIServer, user_templates: Path, tmp_path: Path
) -> None:
    echo_server(server, (0.05, 0.3))
    (user_templates / "echo.jinja").write_text(TEMPLATE)
    source = write_rows(tmp_path / "in.jsonl", 30)
    out = tmp_path / "out.jsonl"
    args = ["prompt", "-t", "echo", "-b", "openai", "-m", "tiny", "-o", f"base_url={server.base_url}",
            "--batch", str(source), "--out", str(out), "--parallel", "4", "--no-log"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "assistant", *args], env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not out.exists() or out.read_text().count("\n") < 8):
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    before = out.read_text()
    assert 8 <= before.count("\n") < 30, "the kill should land half-way"

    resumed = run_cli(*args, "--resume", timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    got = records(out)
    assert sorted(r["row"] for r in got) == list(range(1, 31))  # every row exactly once
    assert [r["row"] for r in got] == list(range(1, 31))  # and still in input order
    assert all(r["output"] == f"got: row {r['row']}" and r["id"] == f"r{r['row']}" for r in got)


def test_cli_parallel_on_a_one_at_a_time_backend_notes_the_cap(
    fake_backend_plugin_file: Path, user_templates: Path, tmp_path: Path
) -> None:
    (user_templates / "echo.jinja").write_text(TEMPLATE)
    source = write_rows(tmp_path / "in.jsonl", 3)
    result = run_cli("prompt", "-t", "echo", "-b", "fake", "--batch", str(source), "--parallel", "8", "--no-log")
    assert result.returncode == 0, result.stderr
    assert "note: the fake backend runs one request at a time; --parallel 8 runs as 1" in result.stderr
    assert [json.loads(line)["row"] for line in result.stdout.splitlines()] == [1, 2, 3]


def test_cli_parallel_needs_batch_and_a_valid_config(
    fake_backend_plugin_file: Path, user_templates: Path, assistant_home: Path, tmp_path: Path
) -> None:
    (user_templates / "echo.jinja").write_text(TEMPLATE)
    lone = run_cli("prompt", "-t", "echo", "-b", "fake", "--parallel", "2", "hi")
    assert lone.returncode == 2 and "--parallel go with --batch" in lone.stderr
    zero = run_cli("prompt", "-t", "echo", "-b", "fake", "--batch", "x.jsonl", "--parallel", "0")
    assert zero.returncode == 2 and "--parallel" in zero.stderr
    config = assistant_home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("batch_parallel = 0\n")
    source = write_rows(tmp_path / "in.jsonl", 2)
    bad = run_cli("prompt", "-t", "echo", "-b", "fake", "--batch", str(source), "--no-log")
    assert bad.returncode == 1 and "batch_parallel" in bad.stderr and "Traceback" not in bad.stderr


def test_tool_batch_runs_rows_in_parallel(server: FakeOpenAIServer, tmp_path: Path) -> None:
    state = echo_server(server, 0.2)
    source = tmp_path / "in.jsonl"  # rows long enough to summarize (a short one comes back as it is, no call)
    source.write_text(
        "".join(
            json.dumps({"id": f"r{n}", "text": f"row {n} holds a dozen words or more, enough to be worth summarizing"})
            + "\n"
            for n in range(1, 9)
        )
    )
    out = tmp_path / "out.jsonl"
    started = time.perf_counter()
    result = run_cli(
        "tool", "summarize", "-b", "openai", "-m", "tiny", "-o", f"base_url={server.base_url}",
        "--batch", str(source), "--out", str(out), "--parallel", "8", "--no-log", timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert [r["row"] for r in records(out)] == list(range(1, 9))
    assert state["most"] >= 4
    assert time.perf_counter() - started < 8 * 0.2 + 10

"""Edges a user test found: results that cannot be written, schemas nested without end,
servers without a tool's preferred settings, and 200 replies that hold no reply."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from assistant import get_tool, load_backend
from assistant.backends.capabilities import Capabilities
from assistant.backends.fake import FakeBackend
from assistant.batch import check_output, run_rows
from assistant.batch.rows import Row
from assistant.errors import AssistantError, ConfigError, OutputError, RemoteError
from assistant.structured.concise import resolve_schema
from assistant.structured.schema import MAX_DEPTH
from assistant.tools.generate import generate_checked, within_reach
from assistant.types import GenerationParams, Message

from .openai_fake_server import DONE, FakeOpenAIServer, chat_chunk, fake_openai_server, send_json, sse  # noqa: F401 (the server fixture)


# ---- results that cannot be written ----------------------------------------------------


def test_the_batch_input_is_never_the_results_file(tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"text": "great"}\n')
    with pytest.raises(ConfigError, match="is the --batch input file"):
        check_output(rows, resume=False, force=True, source=rows)
    with pytest.raises(ConfigError, match="is the --batch input file"):
        check_output(tmp_path / "." / "rows.jsonl", resume=True, source=rows)
    assert rows.read_text() == '{"text": "great"}\n'


def test_a_results_file_that_cannot_be_created_is_refused_before_any_row_runs(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(OutputError, match="is not a directory"):
        check_output(blocker / "sub" / "out.jsonl", resume=False)
    with pytest.raises(ConfigError, match="is a directory"):
        check_output(tmp_path, resume=False)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_a_full_disk_while_writing_results_is_one_output_error() -> None:
    rows = [Row(number=1, values={"text": "x"})]
    with pytest.raises(OutputError, match="cannot write /dev/full: No space left on device"):
        run_rows(rows, lambda row: {"result": "ok"}, out=Path("/dev/full"), force=True)


def _cli(*args: str, home: Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ASSISTANT_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args], env=env, text=True, stderr=subprocess.PIPE, timeout=60, **kwargs
    )


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_stdout_on_a_full_disk_is_one_error_line(tmp_path: Path) -> None:
    with open("/dev/full", "w") as full:
        done = _cli("templates", "list", home=tmp_path, stdout=full)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == ["error: No space left on device"]


def test_a_closed_pipe_stays_quiet(tmp_path: Path) -> None:
    reader = subprocess.Popen(["head", "-c", "1"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    assert reader.stdin is not None
    done = _cli("templates", "list", home=tmp_path, stdout=reader.stdin)
    reader.stdin.close()
    reader.wait()
    assert "Traceback" not in done.stderr and "error:" not in done.stderr


# ---- schemas nested without end ----------------------------------------------------------


def _nested(depth: int) -> str:
    return '{"type": "array", "items": ' * depth + '{"type": "integer"}' + "}" * depth


def test_a_schema_nested_a_few_levels_is_fine() -> None:
    assert resolve_schema(_nested(MAX_DEPTH))["type"] == "array"


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 500, 100_000])
def test_a_schema_nested_past_the_limit_is_one_error(depth: int) -> None:
    with pytest.raises(AssistantError, match="nest"):
        resolve_schema(_nested(depth))


# ---- a tool's own settings on a backend without them --------------------------------------


class _PlainServerBackend(FakeBackend):
    """A backend like a generic server: no repeat penalty, no seed; it refuses both when asked."""

    capabilities_default = Capabilities(repeat_penalty=False, seed=False)

    def stream(self, prompt: Any, params: GenerationParams) -> Iterator[Any]:
        assert params.repeat_penalty == 1.0 and params.seed is None, params
        return super().stream(prompt, params)


def test_a_tools_preferred_settings_are_dropped_where_the_backend_lacks_them() -> None:
    backend = _PlainServerBackend()
    backend.load("fake-model")
    wanted = GenerationParams(max_tokens=8, temperature=0.7, repeat_penalty=1.1, seed=3)
    assert within_reach(wanted, backend) == wanted.replace(repeat_penalty=1.0, seed=None)
    assert within_reach(wanted, FakeBackend()) == wanted
    calls: list[str] = []

    def fail_then_pass(text: str) -> str | None:
        calls.append(text)
        return text if len(calls) == 2 else None  # the retry (sampled, seeded) must reach the backend too

    generate_checked(backend, [Message("user", "hi")], wanted.replace(temperature=0), fail_then_pass, "answer")
    assert len(calls) == 2


def test_summarize_runs_against_a_server_without_repeat_penalty(server: FakeOpenAIServer) -> None:
    server.models("tiny", owned_by="someone")  # a generic OpenAI-compatible server
    server.route("POST", "/v1/chat/completions", sse([chat_chunk("The soup was cold."), chat_chunk(finish="stop"), DONE]))
    backend = load_backend("openai", "tiny", base_url=server.base_url, progress=lambda _: None)
    assert not backend.capabilities.repeat_penalty
    result = get_tool("summarize").run("The soup was cold and the service slow, and the waiter forgot our order twice.", backend, length="sentence")
    assert result.summary == "The soup was cold."
    sent = server.bodies("/v1/chat/completions")
    assert sent and all("repeat_penalty" not in body and "repetition_penalty" not in body for body in sent)
    backend.unload()


# ---- a 200 that holds no reply -------------------------------------------------------------


@pytest.mark.parametrize(
    "handler",
    [
        lambda h, _: send_json(h, 200, {"data": 5}),
        sse(['data: {"choices": null}\n\n', DONE]),
        sse(["data: " + json.dumps({"usage": {"prompt_tokens": 1, "completion_tokens": 0}}) + "\n\n", DONE]),
    ],
    ids=["json-of-another-shape", "null-choices", "usage-only"],
)
def test_an_answer_without_choices_is_an_error_not_an_empty_reply(server: FakeOpenAIServer, handler: Any) -> None:
    server.models("tiny")
    server.route("POST", "/v1/chat/completions", handler)
    backend = load_backend("openai", "tiny", base_url=server.base_url, progress=lambda _: None)
    with pytest.raises(RemoteError, match="no choices"):
        backend.complete([Message("user", "hi")], GenerationParams(max_tokens=8, temperature=0))
    backend.unload()


# ---- sampling values no engine can honour as asked -----------------------------------------


@pytest.mark.parametrize("seed", [-1, 2**32 - 1, 2**32 + 7])
def test_a_seed_outside_32_bits_is_refused_not_wrapped_or_made_random(seed: int) -> None:
    with pytest.raises(ConfigError, match="seed must be a whole number from 0 to 4294967294"):
        GenerationParams(seed=seed)


def test_the_extreme_seeds_and_max_tokens_that_work() -> None:
    assert GenerationParams(seed=0, max_tokens=10_000_000).seed == 0
    assert GenerationParams(seed=2**32 - 2).seed == 2**32 - 2
    with pytest.raises(ConfigError, match="max_tokens must be at most 10,000,000"):
        GenerationParams(max_tokens=10**23)


def test_a_directory_given_as_a_schema_file_is_named_as_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory, not a schema file"):
        resolve_schema(str(tmp_path))


def test_jsonl_rows_are_numbered_by_their_line_and_keep_their_id_when_refused(tmp_path: Path) -> None:
    from assistant.batch import read_rows

    batch = tmp_path / "rows.jsonl"
    batch.write_text('{"id": "a", "text": "one"}\n\n   \n{"id": "b", "text": "\\ud800"}\n{"text": "three"}\n')
    rows = read_rows(batch)
    assert [row.number for row in rows] == [1, 4, 5]
    assert rows[1].id == "b" and rows[1].error.startswith("row 4 is not valid Unicode")


# ---- input that would not fit in memory ----------------------------------------------------


def test_input_files_and_stdin_are_read_up_to_a_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from assistant import input_files
    from assistant.cli import common

    monkeypatch.setattr(input_files, "MAX_INPUT_BYTES", 8)
    assert common.read_limited(io.BytesIO(b"12345678"), "x") == "12345678"
    with pytest.raises(ConfigError, match="the input on stdin is larger than 0 MiB"):
        common.read_limited(io.BytesIO(b"123456789"), "the input on stdin")
    big = tmp_path / "big.txt"
    big.write_bytes(b"9" * 9)
    with pytest.raises(ConfigError, match="--file .*big.txt is larger than"):
        common.read_input_file(big, "--file")
    with pytest.raises(ConfigError, match="is a directory"):
        common.read_input_file(tmp_path, "--file")
    if Path("/dev/zero").exists():  # endless: read only to the limit
        with pytest.raises(ConfigError, match="larger than"):
            common.read_input_file("/dev/zero", "--file")


def test_a_batch_file_is_read_up_to_a_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.batch import read_rows, rows

    batch = tmp_path / "rows.jsonl"
    batch.write_text('{"text": "a"}\n' * 10)
    monkeypatch.setattr(rows, "MAX_BATCH_BYTES", 100)
    with pytest.raises(ConfigError, match="larger than 0 MiB; split it"):
        read_rows(batch)
    monkeypatch.setattr(rows, "MAX_BATCH_BYTES", 140)
    assert len(read_rows(batch)) == 10

"""Defects a demanding user of the inspection commands found: each test fails without its fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from assistant.errors import AssistantError
from assistant.inspect.distribution import Candidate, NextToken
from assistant.inspect.pieces import TokenPiece
from assistant.types import GenerationParams

from .conftest import run_cli
from .openai_fake_server import DONE, FakeOpenAIServer, chat_chunk, sse, tiny_openai_server  # noqa: F401


# ---- attention --out: a path that cannot be written fails before the model loads ----------------------


def test_picture_path_refuses_a_directory_and_a_missing_folder(tmp_path: Path) -> None:
    from assistant.inspect.pictures import check_picture_path

    assert check_picture_path(tmp_path / "map.svg") == "svg"
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(AssistantError, match="is a directory"):
        check_picture_path(tmp_path / "dir.png")
    with pytest.raises(AssistantError, match="does not exist"):
        check_picture_path(tmp_path / "nowhere" / "map.png")
    (tmp_path / "file").write_text("x")
    with pytest.raises(AssistantError, match="is not a folder"):
        check_picture_path(tmp_path / "file" / "map.png")


def test_attention_out_to_a_directory_fails_before_loading_the_model(tmp_path: Path) -> None:
    (tmp_path / "dir.png").mkdir()
    # A model that does not exist: had the model been loaded first, that would be the error.
    shown = run_cli("attention", "-m", "missing-model", "--out", str(tmp_path / "dir.png"), "Hi")
    assert shown.returncode == 1
    assert shown.stderr.strip().splitlines()[-1].endswith("is a directory (give a file name ending in .png)")
    assert "Traceback" not in shown.stderr


# ---- the terminal heatmap: the reply marker never merges with a column number ----------------------


def test_heatmap_header_keeps_the_reply_marker_clear_of_column_numbers() -> None:
    from assistant.inspect.attention import HeatmapView, heatmap_text

    size = 23
    matrix = np.tril(np.ones((size, size), dtype=np.float32))
    matrix /= matrix.sum(axis=1, keepdims=True)
    view = HeatmapView(matrix, [f"t{i}" for i in range(size)], first_index=0, reply_start=21)
    header = heatmap_text(view, colour=False).plain.splitlines()[0]
    assert "2│" not in header  # "20" then the marker one cell later read as column "2"
    assert header.split() == ["0", "10", "│"]
    assert header.index("│") - header.index("0") == 21


# ---- tokenize and next: tables aligned in terminal cells, honest wording --------------------------------


def test_tokenize_table_aligns_wide_characters() -> None:
    from assistant.cli.inspect_tokens import tokenize_lines

    pieces = [TokenPiece(1, b"a"), TokenPiece(2, "中".encode()), TokenPiece(3, " 🙂".encode())]
    rows = tokenize_lines(pieces, 100, {"model": "m", "backend": "b"})[3:]
    from rich.cells import cell_len

    columns = {cell_len(row[: row.index(raw)]) for row, raw in zip(rows, ("61", "e4 b8 ad", "20 f0"))}
    assert len(columns) == 1, rows  # the bytes column starts at the same cell on every row


def _one_step(params: GenerationParams, prompt_tokens: int) -> NextToken:
    wide = Candidate(7, "中", -0.5, 0.7)
    narrow = Candidate(8, "a", -1.5, 0.3)
    return NextToken(prompt_tokens, 10, 1.0, wide, [wide, narrow], 2, 0.8, params)


def test_next_report_counts_in_the_singular_aligns_and_says_the_penalty_waits() -> None:
    from rich.cells import cell_len

    from assistant.cli.inspect_tokens import next_lines

    lines = next_lines(_one_step(GenerationParams(repeat_penalty=1.3), 1))
    assert lines[0].startswith("after 1 token · ")
    # With no token generated yet the penalty changes nothing; the header must not claim it does.
    assert "repeat penalty 1.3 (no effect yet: nothing generated)" in lines[0]
    rows = [line for line in lines if line.lstrip().startswith(("1 ", "2 "))]
    assert len({cell_len(row[: row.index("0.")]) for row in rows}) == 1, rows
    assert next_lines(_one_step(GenerationParams(), 2))[0].startswith("after 2 tokens · ")


# ---- compare: one side local, the other a server ----------------------------------------------------


def test_scoped_options_go_to_one_side_and_sampling_stays_shared() -> None:
    from assistant.cli.compare import build_sides, split_scoped

    backends = ("llama-cpp", "openai")
    shared, scoped = split_scoped(
        ("temperature=0.5", "openai:base_url=http://h:1/v1", "llama-cpp:n_threads=2", "stop=a:b"), backends
    )
    assert shared == ["temperature=0.5", "stop=a:b"]
    assert scoped == {"openai": ["base_url=http://h:1/v1"], "llama-cpp": ["n_threads=2"]}
    sides = build_sides(backends, ("hf:org/repo", "openai:lab/m"), {}, scoped)
    assert [(s.backend, s.model) for s in sides] == [("llama-cpp", "hf:org/repo"), ("openai", "lab/m")]
    assert sides[0].options == {"n_threads": 2} and sides[1].options == {"base_url": "http://h:1/v1"}
    with pytest.raises(AssistantError, match="sampling parameters apply to both sides"):
        build_sides(backends, (), {}, {"openai": ["temperature=1"]})


def test_agreement_by_text_when_a_server_gives_no_ids() -> None:
    from assistant.compare import EngineRun, measure_agreement

    def run(ids: list[int], tokens: list[str], prompt: list[int] | None) -> EngineRun:
        return EngineRun(
            backend="x", model="m", text="".join(tokens), token_ids=ids, tokens=tokens, prompt_token_ids=prompt,
            finish_reason="stop", ttft_ms=None, tokens_per_second=None, load_seconds=0.0,
            top=[[i, -1] if i >= 0 else [-1, -1] for i in (ids or [-1] * len(tokens))],
            top_tokens=[[t, "x"] for t in tokens],
        )  # fmt: skip

    local = run([5, 6, 7], ["A", "B", "C"], [1, 2])
    remote = run([], ["A", "B", "D"], None)
    agreement = measure_agreement(local, remote, top_k=2)
    assert agreement.first_difference == 2 and agreement.top_overlap == [1.0, 1.0]
    assert agreement.same_prompt_ids is None


@pytest.mark.usefixtures("fake_backend")
def test_compare_a_local_engine_with_a_server(server: FakeOpenAIServer) -> None:
    from assistant.cli import main

    reply = "Echo: hi"
    entries = [{"token": c, "logprob": -0.1, "top_logprobs": [{"token": c, "logprob": -0.1}]} for c in reply]
    events = [chat_chunk(c, logprobs={"content": [e]}) for c, e in zip(reply, entries)]
    server.route("POST", "/v1/chat/completions", sse([*events, chat_chunk(None, "stop"), DONE]))
    args = ["compare", "-b", "fake", "-b", "openai", "-o", f"openai:base_url={server.base_url}",
            "-o", "fake:n_ctx=4096", "-m", "fake:tiny", "--json", "hi"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.output[result.output.index("{") :])
    assert [run["backend"] for run in report["runs"]] == ["fake", "openai"]
    assert report["runs"][1]["text"] == reply and report["runs"][1]["prompt_tokens"] is None
    agreement = report["agreement"]
    assert agreement["first_difference"] is None and agreement["compared_steps"] == len(reply)
    assert agreement["same_prompt_ids"] is None
    sent = server.bodies("/v1/chat/completions")[0]
    assert sent.get("model", "") in ("", "tiny")  # the server's own model, never the catalog's smollm2

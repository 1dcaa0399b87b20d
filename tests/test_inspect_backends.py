"""Per-token numbers through the protocol (fake backend, engine process, remote), the CLI and history."""

from __future__ import annotations

import json
import math
from typing import Any
from pathlib import Path

import pytest

from assistant.backends.fake import FakeBackend
from assistant.errors import ConfigError, NotSupportedError
from assistant.history import HistoryStore
from assistant.history.records import TurnMeta
from assistant.types import GenerationParams, Message

from .conftest import run_cli
from .openai_fake_server import FakeOpenAIServer, tiny_openai_server  # noqa: F401 (the server fixture)

PROMPT = [Message("user", "héllo 👋")]
SAMPLING = GenerationParams(temperature=0.8, top_k=20, top_p=0.9, repeat_penalty=1.2, logprobs=4, seed=1)


@pytest.fixture
def fake() -> FakeBackend:
    backend = FakeBackend()
    backend.load("fake-model")
    return backend


def test_generation_fills_both_numbers_and_keeps_the_chosen_token_in_top(fake: FakeBackend) -> None:
    completion = fake.complete(PROMPT, SAMPLING)
    assert len(completion.logprobs) == len(completion.token_ids) > 5
    for entry, token in zip(completion.logprobs, completion.token_ids):
        assert entry.token_id == token
        assert 0 < entry.p_sampled <= 1 and entry.logprob < 0
        assert len(entry.top) == 4
        assert sum(math.exp(alt.logprob) for alt in entry.top) <= 1 + 1e-9
        assert [a.logprob for a in entry.top] == sorted((a.logprob for a in entry.top), reverse=True)
        assert entry.top[0].token_id == token  # the fake's pick is its most likely token
        assert entry.top[0].p_sampled == entry.p_sampled
    data = completion.to_dict()["tokens"][0]
    assert set(data) == {"text", "id", "logprob", "p_sampled", "bytes", "special", "top"}  # bytes: a local vocabulary
    assert set(data["top"][0]) == {"text", "id", "logprob", "p_sampled", "bytes", "special"}
    assert "tokens" not in fake.complete(PROMPT, SAMPLING.replace(logprobs=0)).to_dict()


def test_greedy_gives_the_pick_probability_one(fake: FakeBackend) -> None:
    completion = fake.complete(PROMPT, GenerationParams(temperature=0, logprobs=2))
    assert {entry.p_sampled for entry in completion.logprobs} == {1.0}
    assert {entry.top[1].p_sampled for entry in completion.logprobs} == {0.0}


def test_teacher_forced_numbers_equal_what_generation_reported(fake: FakeBackend) -> None:
    completion = fake.complete(PROMPT, SAMPLING)
    forced = list(fake.token_logprobs(PROMPT, completion.token_ids, SAMPLING, top=4))
    assert [f.to_dict() for f in forced] == [g.to_dict() for g in completion.logprobs]


def test_teacher_forcing_stops_early_and_on_cancel(fake: FakeBackend) -> None:
    ids = fake.complete(PROMPT, SAMPLING).token_ids
    forced = fake.token_logprobs(PROMPT, ids, SAMPLING)
    first = next(forced)
    fake.cancel()
    assert first.token_id == ids[0] and list(forced) == []


def test_next_token_on_the_fake(fake: FakeBackend) -> None:
    result = fake.next_token("Echo", GenerationParams(temperature=0.7, top_k=3, top_p=1.0), top=5)
    assert result.vocab_size == 258 and result.prompt_tokens == 5
    assert result.greedy.text == "E" and result.candidates[0] == result.greedy
    assert result.kept == 3 and [c.cut_by for c in result.candidates] == [None, None, None, "top-k", "top-k"]
    assert sum(c.p_sampled for c in result.candidates) == pytest.approx(1.0)
    assert 0 < result.entropy_bits < 8
    assert json.loads(json.dumps(result.to_dict()))["candidates"][0]["text"] == "E"


def test_logprobs_above_twenty_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="at most 20"):
        GenerationParams(logprobs=21)


def test_engine_process_reports_capabilities_and_proxies_the_inspect_calls(fake_backend_plugin_file: Path) -> None:
    from assistant.backends.engine.process import load_in_engine_process

    local = FakeBackend()
    local.load("fake-model")
    engine = load_in_engine_process("fake", "fake-model")
    try:
        assert engine.capabilities.engine_process and engine.capabilities.next_token
        assert not local.capabilities.engine_process
        completion = engine.complete(PROMPT, SAMPLING)
        assert completion.logprobs == local.complete(PROMPT, SAMPLING).logprobs
        forced = list(engine.token_logprobs(PROMPT, completion.token_ids, SAMPLING, 4))
        assert forced == completion.logprobs
        partial = engine.token_logprobs(PROMPT, completion.token_ids, SAMPLING, 4)
        next(partial)
        partial.close()  # stopping early leaves the engine usable
        assert engine.next_token("Echo", SAMPLING, 3) == local.next_token("Echo", SAMPLING, 3)
    finally:
        engine.unload()


def test_a_remote_backend_says_what_it_cannot_give(server: FakeOpenAIServer) -> None:
    from assistant.backends import load_backend

    backend = load_backend("openai", "tiny", base_url=server.base_url, progress=lambda _: None)
    capabilities = backend.capabilities
    assert not capabilities.sampled_probs and not capabilities.next_token and not capabilities.attention
    with pytest.raises(NotSupportedError, match="next-token distribution"):
        backend.next_token(PROMPT, SAMPLING)
    with pytest.raises(NotSupportedError):
        list(backend.token_logprobs(PROMPT, [1, 2], SAMPLING))


def test_a_remote_reply_carries_the_model_numbers_and_no_sampled_ones(server: FakeOpenAIServer) -> None:
    from assistant.backends import load_backend

    from .openai_fake_server import DONE, chat_chunk, sse

    def entry(token: str, logprob: float) -> dict[str, Any]:
        alternatives = [{"token": token, "logprob": logprob}, {"token": "x", "logprob": -3.0}]
        return {"token": token, "logprob": logprob, "top_logprobs": alternatives}

    events = [chat_chunk("Hi", logprobs={"content": [entry("Hi", -0.1)]}),
              chat_chunk("!", logprobs={"content": [entry("!", -0.5)]}), chat_chunk(None, "stop"), DONE]  # fmt: skip
    server.route("POST", "/v1/chat/completions", sse(events))
    backend = load_backend("openai", "tiny", base_url=server.base_url, progress=lambda _: None)
    tokens = backend.complete(PROMPT, GenerationParams(logprobs=2)).to_dict()["tokens"]
    assert [(t["text"], t["logprob"], t["p_sampled"]) for t in tokens] == [("Hi", -0.1, None), ("!", -0.5, None)]
    assert {alt["p_sampled"] for t in tokens for alt in t["top"]} == {None}


def test_stored_tokens_round_trip_through_history(tmp_path: Path, fake: FakeBackend) -> None:
    completion = fake.complete(PROMPT, SAMPLING)
    plain = fake.complete(PROMPT, SAMPLING.replace(logprobs=0))
    with HistoryStore.open(tmp_path / "h.db") as store:
        conversation = store.create_conversation()
        store.record_turn(conversation.id, "héllo 👋", completion, TurnMeta(params=SAMPLING.to_dict()))
        store.record_turn(conversation.id, "again", plain)
        messages = store.messages(conversation.id)
    reply, plain_reply = messages[1], messages[3]
    assert reply.tokens == completion.logprobs
    assert reply.token_ids == completion.token_ids
    assert reply.to_dict()["tokens"] == [e.to_dict() for e in completion.logprobs]
    assert plain_reply.tokens is None and "tokens" not in plain_reply.to_dict()


# ---- the command line ---------------------------------------------------------------


@pytest.mark.usefixtures("fake_backend_plugin_file")
def test_prompt_json_includes_tokens_and_history_export_keeps_them() -> None:
    result = run_cli("prompt", "-b", "fake", "-m", "m", "--json", "-o", "logprobs=3", "hi")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [t["text"] for t in data["tokens"]][:6] == list("Echo: ")
    assert len(data["tokens"][0]["top"]) == 3 and data["tokens"][0]["p_sampled"] > 0
    exported = json.loads(run_cli("history", "export", str(data["conversation_id"]), "-f", "json").stdout)
    assert exported["messages"][1]["tokens"] == data["tokens"]


@pytest.mark.usefixtures("fake_backend_plugin_file")
def test_probs_piped_is_plain_text_and_bad_logprobs_is_one_line() -> None:
    result = run_cli("prompt", "-b", "fake", "-m", "m", "--no-log", "--probs", "hi")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Echo: hi\n" and "\x1b" not in result.stderr
    bad = run_cli("prompt", "-b", "fake", "-m", "m", "--no-log", "-o", "logprobs=50", "hi")
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines()[-1] == "error: logprobs must be at most 20 (the alternatives kept per token)"


def test_probs_on_a_terminal_shades_tokens_and_prints_a_legend(fake_backend_plugin_file: Path) -> None:
    """Run under a pseudo-terminal, as a user would see it."""
    import os
    import pty
    import subprocess
    import sys

    from .conftest import REPO_ROOT

    main, secondary = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant", "prompt", "-b", "fake", "-m", "m", "--no-log", "--probs", "hi \x1b[2J"],
        stdout=secondary, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    os.close(secondary)
    out = b""
    while True:
        try:
            data = os.read(main, 4096)
        except OSError:
            break
        if not data:
            break
        out += data
    _, err = proc.communicate(timeout=60)
    os.close(main)
    text = out.decode()
    assert proc.returncode == 0, err
    assert "\x1b[30;42mE\x1b[0m" in text  # the fake's picks are near certain: the ≥90% shade
    assert "\x1b[2J" not in text and "␛" in text  # the echoed escape is shown, not obeyed
    assert "shade = sampled probability" in err.decode()


def test_token_pieces_show_spaces_and_partial_characters(fake: FakeBackend) -> None:
    from assistant.inspect.pieces import TokenPiece

    pieces = fake.token_pieces(fake.prompt_token_ids("a bé\n")[1:])
    assert [p.shown() for p in pieces] == ["a", "␣", "b", "<0xC3>", "<0xA9>", "↵"]
    assert pieces[3].text is None and pieces[3].to_dict() == {"id": 0xC3, "text": None, "bytes": "c3", "special": False}
    assert TokenPiece(1, b"", "<|im_start|>").shown() == "<|im_start|>"
    assert TokenPiece(2, "\x1b[2J 🎉".encode()).shown() == "␛[2J␣🎉"
    assert TokenPiece(3, b" \xf0\x9f").shown() == "␣<0xF0><0x9F>"


@pytest.mark.usefixtures("fake_backend_plugin_file")
def test_tokenize_and_next_commands_on_the_fake() -> None:
    shown = run_cli("tokenize", "-b", "fake", "-m", "m", "hi there")
    assert shown.returncode == 0, shown.stderr
    assert "[h][i][␣][t][h][e][r][e]" in shown.stdout and "of the 2048-token context window" in shown.stdout
    data = json.loads(run_cli("tokenize", "-b", "fake", "-m", "m", "--json", "hé").stdout)
    assert data["count"] == 4 and [t["bytes"] for t in data["tokens"][1:]] == ["68", "c3", "a9"]
    nxt = run_cli("next", "-b", "fake", "-m", "m", "-o", "top_k=2", "-o", "top_p=1", "--top", "3", "Echo")
    assert nxt.returncode == 0, nxt.stderr
    lines = nxt.stdout.splitlines()
    assert lines[0] == "after 5 tokens · temperature 0.7 · top-k 2 · top-p 1"
    assert "cut by top-k" in lines[4] and "greedy pick: E" in nxt.stdout
    bad = run_cli("next", "-b", "fake", "-m", "m", "-o", "top_p=2", "x")
    assert bad.returncode == 1 and bad.stderr.strip().splitlines()[-1] == "error: top_p must be in (0, 1]"


@pytest.mark.usefixtures("fake_backend_plugin_file")
def test_tokenize_chat_shows_the_system_prompt_that_prompt_sends() -> None:
    from assistant.config import default_system_prompt

    def count(*extra: str) -> int:
        shown = run_cli("tokenize", "-b", "fake", "-m", "m", "--json", "--chat", *extra, "hi")
        assert shown.returncode == 0, shown.stderr
        return int(json.loads(shown.stdout)["count"])

    configured = default_system_prompt()
    assert configured  # the default config has one
    assert count() == count("-s", configured) > count("-s", "")


def test_next_after_empty_text_without_a_start_token_is_one_error_line() -> None:
    from assistant.backends.fake import FakeBackend
    from assistant.errors import ConfigError

    class NoStartToken(FakeBackend):  # as SmolLM2: no beginning-of-text token before raw text
        def prompt_token_ids(self, prompt: Any) -> list[int]:
            return [t for t in super().prompt_token_ids(prompt) if t != 256]

    engine = NoStartToken()
    engine.load("m")
    assert engine.prompt_token_ids("") == []
    with pytest.raises(ConfigError, match="the text is empty"):
        engine.next_token("", GenerationParams())

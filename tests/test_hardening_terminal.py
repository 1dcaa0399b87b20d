"""Issue #20, item 1: text from models, history, tools and plugins never reaches the terminal as control sequences.

A scripted OpenAI server replies with a title-change OSC, a screen clear, a
cursor move, BEL, CR, BS and a C1 CSI. Every output of every command that shows
that text must hold no ESC (and no other control but newline/tab), in a pipe as on
a terminal; the database and ``--json`` keep the exact text.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterator

import pytest
from click.testing import CliRunner

from assistant.cli import main
from assistant.history import HistoryStore
from assistant.terminal_text import json_text, visible_text

from .conftest import run_cli
from .openai_fake_server import DONE, FakeOpenAIServer, chat_chunk, send_json, sse

EVIL = "\x1b]0;PWNED-TITLE\x07\x1b[2J\x1b[HHello\r\x08 there\x9b31m red\x7f\x1b]8;;http://evil/\x1b\\link\x1b]8;;\x1b\\"
# Every control character except newline and tab: what must never be printed.
CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    fake = FakeOpenAIServer()
    fake.models("tiny", owned_by="me")
    half = len(EVIL) // 2  # the sequence split across two SSE events, as a stream may split it
    fake.route(
        "POST",
        "/v1/chat/completions",
        sse([chat_chunk(EVIL[:half]), chat_chunk(EVIL[half:]), chat_chunk(None, "stop"), DONE]),
    )
    yield fake
    fake.close()


def assert_no_controls(text: str, where: str) -> None:
    found = CONTROLS.findall(text)
    assert not found, f"{where} printed control characters {found!r}: {text!r}"


def _prompt(server: FakeOpenAIServer, *extra: str) -> tuple[int, str, str]:
    done = run_cli("prompt", "-b", "openai", "-o", f"base_url={server.base_url}", "-m", "tiny", *extra, "hi")
    return done.returncode, done.stdout, done.stderr


def test_streamed_reply_is_made_visible_in_a_pipe_and_stored_raw(
    server: FakeOpenAIServer, assistant_home: Path
) -> None:
    code, out, err = _prompt(server)
    assert code == 0, err
    assert_no_controls(out, "prompt")
    assert_no_controls(err, "prompt stderr")
    assert visible_text(EVIL) in out  # made visible, not dropped: the user sees what the model sent
    assert "␛]0;PWNED-TITLE␇" in out
    with HistoryStore.open() as store:
        (conversation,) = store.list_conversations()
        reply = store.messages(conversation.id)[-1]
    assert reply.content == EVIL  # the database keeps the exact bytes


def test_json_keeps_the_exact_text_and_escapes_every_control(server: FakeOpenAIServer) -> None:
    code, out, err = _prompt(server, "--json")
    assert code == 0, err
    assert_no_controls(out, "prompt --json")
    assert json.loads(out)["text"] == EVIL


def test_history_commands_show_stored_text_without_controls(server: FakeOpenAIServer, tmp_path: Path) -> None:
    assert _prompt(server)[0] == 0
    runner = CliRunner()
    outputs = {
        "show": ["history", "show", "1"],
        "list": ["history", "list"],
        "search": ["history", "search", "there"],
        "export markdown": ["history", "export", "1"],
        "export --all": ["history", "export", "--all"],
        "export json": ["history", "export", "1", "-f", "json"],
        "export jsonl": ["history", "export", "--all", "-f", "jsonl"],
        "show --json": ["history", "show", "1", "--json"],
    }
    for name, args in outputs.items():
        result = runner.invoke(main, args, catch_exceptions=False)
        assert result.exit_code == 0, (name, result.output)
        assert_no_controls(result.stdout, name)
        assert_no_controls(result.stderr, name)
    shown = runner.invoke(main, ["history", "show", "1", "--json"]).stdout
    assert json.loads(shown)["messages"][-1]["content"] == EVIL
    exported = runner.invoke(main, ["history", "export", "1", "-f", "json"]).stdout
    assert json.loads(exported)["messages"][-1]["content"] == EVIL
    # An export to a file round-trips too.
    target = tmp_path / "out.jsonl"
    assert runner.invoke(main, ["history", "export", "--all", "-f", "jsonl", "-o", str(target)]).exit_code == 0
    assert json.loads(target.read_text(encoding="utf-8"))["messages"][-1]["content"] == EVIL


def test_a_templated_reply_is_made_visible(server: FakeOpenAIServer) -> None:
    base = ["-b", "openai", "-o", f"base_url={server.base_url}", "-m", "tiny"]
    runner = CliRunner()
    for extra in ([], ["--json"]):
        templated = runner.invoke(main, ["prompt", *base, "-t", "chat", *extra, "hi"])
        assert templated.exit_code == 0, templated.output
        assert_no_controls(templated.stdout, f"prompt -t chat {extra}")
        assert_no_controls(templated.stderr, f"prompt -t chat {extra} (stderr)")
    assert json.loads(templated.stdout)["output"] == EVIL


def test_a_tool_result_is_made_visible(server: FakeOpenAIServer) -> None:
    base = ["-b", "openai", "-o", f"base_url={server.base_url}", "-m", "tiny"]
    summary = CliRunner().invoke(main, ["summarize", *base, "some text to summarize, long enough to need a summary of a dozen words or more"])
    assert summary.exit_code == 0, summary.output
    assert_no_controls(summary.stdout, "summarize")
    assert_no_controls(summary.stderr, "summarize (stderr)")
    assert "␛]0;PWNED-TITLE␇" in summary.stdout
    as_json = CliRunner().invoke(main, ["summarize", *base, "--json", "some text to summarize, long enough to need a summary of a dozen words or more"])
    assert as_json.exit_code == 0, as_json.output
    assert_no_controls(as_json.stdout, "summarize --json")
    assert "\x1b]0;PWNED-TITLE\x07" in json.loads(as_json.stdout)["summary"]


def test_server_error_messages_are_one_visible_line(assistant_home: Path) -> None:
    fake = FakeOpenAIServer()
    try:
        fake.models("tiny")
        fake.route(
            "POST",
            "/v1/chat/completions",
            lambda h, _: send_json(h, 500, {"error": {"message": "bad\x1b]0;PWNED\x07\nthing"}}),
        )
        done = run_cli("prompt", "-b", "openai", "-o", f"base_url={fake.base_url}", "-m", "tiny", "hi")
    finally:
        fake.close()
    assert done.returncode == 1
    assert_no_controls(done.stderr, "error line")
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: ")


def test_plugin_and_template_listings_are_made_visible(assistant_home: Path) -> None:
    templates = assistant_home / "config" / "templates"
    templates.mkdir(parents=True)
    (templates / "evil.jinja").write_text(
        "---\ndescription: \"nice \\e]0;PWNED\\a template\"\nstrategy: zero-shot\n---\n{{ input }}\x1b[2J\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    for args in (["templates", "list"], ["templates", "show", "evil"], ["templates", "render", "evil", "--input", "x"]):
        result = runner.invoke(main, args)
        assert_no_controls(result.stdout, " ".join(args))
        assert_no_controls(result.stderr, " ".join(args) + " (stderr)")


def test_json_text_escapes_del_c1_and_surrogates_yet_round_trips() -> None:
    data = {"k\x9b": ["\x1b[2J", "\x7f\x85", "caf\udce9", "é😀"]}
    text = json_text(data, indent=2)
    assert_no_controls(text.replace("\n", ""), "json_text")
    assert "é😀" in text  # readable text stays readable
    assert json.loads(text) == data


@pytest.mark.model
@pytest.mark.parametrize("backend", ["llama-cpp", "transformers"])
def test_a_real_model_asked_to_repeat_escape_sequences_prints_none(backend: str, smollm2_path: Path) -> None:
    question = f"Repeat this exactly: {EVIL}"
    base = ["prompt", "-b", backend, "-o", "temperature=0", "-o", "max_tokens=24"]
    done = run_cli(*base, question)
    assert done.returncode == 0, done.stderr
    assert_no_controls(done.stdout, f"prompt on {backend}")
    as_json = run_cli(*base, "--json", question)
    assert as_json.returncode == 0, as_json.stderr
    assert_no_controls(as_json.stdout, f"prompt --json on {backend}")
    reply = json.loads(as_json.stdout)["text"]
    assert visible_text(reply).strip() in done.stdout  # greedy: the same reply, shown made visible
    shown = run_cli("history", "show", "1")
    assert shown.returncode == 0 and f"Repeat this exactly: {visible_text(EVIL)}" in shown.stdout
    assert_no_controls(shown.stdout, "history show")

"""Round 8, the lead's own fixes outside the helpers' areas: each test failed before its fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.cli import main

from .openai_fake_server import (  # noqa: F401 (the server fixture)
    DONE,
    FakeOpenAIServer,
    chat_chunk,
    send_json,
    sse,
    tiny_openai_server,
)


@pytest.mark.parametrize("raw", ["９", "1_0", "+5", "٣", " 1 2 "])
def test_a_conversation_id_is_ascii_digits_only(raw: str) -> None:
    """`history show ９` opened conversation 9: int() reads full-width and other digits, "1_0" and "+5"."""
    result = CliRunner().invoke(main, ["history", "show", raw])
    assert result.exit_code == 1
    assert "must be a whole number" in result.output


def test_render_and_run_template_name_a_variables_argument_that_is_not_a_mapping() -> None:
    """`run_template("zero-shot", backend)` said "'LlamaCppBackend' object is not iterable"."""
    from assistant import render_template, run_template

    class NotAMapping:
        pass

    for call in (render_template, run_template):
        with pytest.raises(TypeError, match="variables must be a mapping of name to value, not NotAMapping"):
            call("zero-shot", NotAMapping())  # type: ignore[arg-type]


def _wrong_calls(backend: object) -> list[tuple[object, str]]:
    from assistant.types import GenerationParams, Message

    params = GenerationParams(max_tokens=2)
    return [
        (lambda: backend.complete("Hi", None), "params must be a GenerationParams, not NoneType"),  # type: ignore[attr-defined]
        (
            lambda: list(backend.stream("Hi", {"temperature": 0})),  # type: ignore[attr-defined]
            r"params must be a GenerationParams \(GenerationParams\(\*\*values\) makes one from a dict\), not dict",
        ),
        (
            lambda: backend.complete([{"role": "user", "content": "Hi"}], params),  # type: ignore[attr-defined]
            r"Message objects \(Message.from_dict makes one from a dict\), not dict",
        ),
        (lambda: backend.count_tokens(5), "a prompt must be text \\(str\\) or a list of Message, not int"),  # type: ignore[attr-defined]
        (lambda: backend.count_tokens(b"Hi"), "not bytes"),  # type: ignore[attr-defined]
        (lambda: backend.count_tokens([Message("user", "Hi"), "Hi"]), "Message objects, not str"),  # type: ignore[attr-defined]
    ]


def test_a_backend_names_a_prompt_or_params_of_the_wrong_type() -> None:
    """`complete("Hi", None)` raised AttributeError "'NoneType' object has no attribute 'json_schema'", and a
    list of OpenAI-style dicts "'dict' object has no attribute 'to_dict'"."""
    from assistant.backends.fake import FakeBackend

    backend = FakeBackend()
    backend.load("fake-model")
    for call, message in _wrong_calls(backend):
        with pytest.raises(TypeError, match=message):
            call()  # type: ignore[operator]


def test_the_engine_process_names_them_before_anything_crosses(fake_backend_plugin_file: object) -> None:
    from assistant.backends.engine.process import load_in_engine_process

    backend = load_in_engine_process("fake", "fake-model")
    try:
        for call, message in _wrong_calls(backend):
            with pytest.raises(TypeError, match=message):
                call()  # type: ignore[operator]
        assert backend.count_tokens("Hi") > 0  # still serving
    finally:
        backend.unload()


def test_a_template_batch_against_a_server_refusing_the_key_stops_after_two_rows(
    server: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tool batches stopped on a backend failing as a whole; template batches still sent every row."""
    for path in ("/v1/completions", "/v1/chat/completions"):
        server.route("POST", path, lambda h, _: send_json(h, 401, {"error": {"message": "Invalid API key"}}))
    monkeypatch.setenv("ASSISTANT_OPENAI_BASE_URL", server.base_url)
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(f'"question {n}"\n' for n in range(1, 7)))
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(
        main, ["prompt", "-t", "zero-shot", "-b", "openai", "-m", "tiny", "--batch", str(rows), "--out", str(out)]
    )
    assert result.exit_code == 1
    assert [json.loads(line)["row"] for line in out.read_text().splitlines()] == [1, 2]
    assert "error: the batch stopped: rows 1 and 2 failed alike: " in result.stderr
    assert len(server.bodies("/v1/completions") + server.bodies("/v1/chat/completions")) == 2


@pytest.mark.parametrize("second", [("sentiment",), ("prompt", "-t", "few-shot")], ids=["tool", "other-template"])
def test_a_template_resume_refuses_a_tool_or_another_templates_results(
    tmp_path: Path, fake_backend_plugin_file: Path, second: tuple[str, ...]
) -> None:
    """`prompt -t zero-shot --resume` onto a sentiment batch's file counted every row as done, and onto
    another template's file mixed two templates' answers in one file; the reverse (a tool resuming a
    template's file) was refused already."""
    from .conftest import run_cli

    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"id": "a", "text": "good"}\n{"id": "b", "text": "bad"}\n')
    out = tmp_path / "out.jsonl"
    first = run_cli(*second, "-b", "fake", "--batch", str(rows), "--out", str(out))
    assert first.returncode == 0, first.stderr
    before = out.read_bytes()
    again = run_cli("prompt", "-t", "zero-shot", "-b", "fake", "--batch", str(rows), "--out", str(out), "--resume")
    assert again.returncode == 1
    assert "--resume:" in again.stderr and "choose another --out" in again.stderr
    assert out.read_bytes() == before
    if second[0] == "prompt":
        assert json.loads(before.splitlines()[0])["template"] == "few-shot"


def test_the_openai_backend_names_them_too(server: FakeOpenAIServer) -> None:
    from assistant.backends import load_backend

    server.route("POST", "/tokenize", lambda h, _: send_json(h, 200, {"tokens": [1, 2]}))
    backend = load_backend("openai", "tiny", base_url=server.base_url, progress=lambda _: None)
    for call, message in _wrong_calls(backend):
        with pytest.raises(TypeError, match=message):
            call()  # type: ignore[operator]
    assert not server.bodies("/v1/completions") and not server.bodies("/v1/chat/completions")


def test_a_reply_that_fails_part_way_ends_its_line_before_the_error() -> None:
    """`partial replyerror: lost the connection` was printed as one line: Ctrl-C ended the reply's
    line first, an error did not."""
    from assistant.backends.fake import FakeBackend, FakeBackendPlugin
    from assistant.errors import BackendError
    from assistant.plugins import register_plugin, unregister_plugin

    class FailsPartWay(FakeBackend):
        def stream(self, prompt, params):  # type: ignore[no-untyped-def]
            for number, chunk in enumerate(super().stream(prompt, params)):
                if number == 2:
                    raise BackendError("lost the connection")
                yield chunk

    register_plugin(FakeBackendPlugin(lambda: FailsPartWay(reply="one two three four")), name="fails-part-way")
    try:
        result = CliRunner().invoke(main, ["prompt", "-b", "fake", "--no-log", "hello"])
    finally:
        unregister_plugin("fails-part-way")
    assert result.exit_code == 1
    assert result.stdout and result.stdout.endswith("\n")
    assert "lost the connection" in result.stderr


def test_a_templates_own_setting_a_server_lacks_is_dropped_a_users_is_refused(
    server: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`prompt -t summarize -b openai` failed on a generic server ("repeat_penalty=1.1 is not supported"):
    the template's own params were refused as if the user had set them; a tool's are dropped."""
    server.models("tiny", owned_by="acme")  # a generic server: no repeat_penalty, no seed
    server.route("POST", "/v1/chat/completions", sse([chat_chunk("Short."), chat_chunk(finish="stop"), DONE]))
    monkeypatch.setenv("ASSISTANT_OPENAI_BASE_URL", server.base_url)
    template = tmp_path / "picky.jinja"
    template.write_text("---\nparams:\n  repeat_penalty: 1.2\n  seed: 7\n---\nSay: {{ input }}\n")
    runner = CliRunner()
    ran = runner.invoke(main, ["prompt", "-t", str(template), "-b", "openai", "-m", "tiny", "--no-log", "hi"])
    assert ran.exit_code == 0, ran.output
    assert ran.stdout.strip() == "Short."
    body = server.bodies("/v1/chat/completions")[0]
    assert "repeat_penalty" not in body and body["seed"] == 7  # a setting the server has stays
    refused = runner.invoke(
        main, ["prompt", "-t", str(template), "-b", "openai", "-m", "tiny", "--no-log", "-o", "repeat_penalty=1.3", "hi"]
    )
    assert refused.exit_code == 1 and "repeat_penalty" in refused.stderr


SLOW_BACKEND_PLUGIN = """\
import time
from assistant.backends.fake import FakeBackend
from assistant.hookspecs import hookimpl


class SlowFake(FakeBackend):
    name = "slow"

    def load(self, model, **options):
        time.sleep(120)
        super().load(model, **options)


@hookimpl
def register_backends(register):
    register("slow", SlowFake)
"""


def test_quitting_the_chat_while_a_model_loads_ends_the_load(assistant_home: Path) -> None:
    """Ctrl+Q while a model loaded (a first transformers load: ~75 s) left a blank screen until the load
    ended: the loading thread kept the program open. Quitting now ends the engine process loading it."""
    import threading
    import time

    from assistant.backends.engine import process
    from assistant.errors import BackendError
    from assistant.plugins import reset_plugins
    from assistant.tui import ChatController, ChatSettings
    from assistant.types import GenerationParams

    plugins = assistant_home / "config" / "plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    (plugins / "slow_backend.py").write_text(SLOW_BACKEND_PLUGIN, encoding="utf-8")
    reset_plugins()
    controller = ChatController(ChatSettings(model="fake-model", backend="slow", system=None, params=GenerationParams()))
    failed: list[BaseException] = []

    def load() -> None:
        try:
            controller.load()
        except BaseException as exc:  # noqa: BLE001 (what the load ended with is the point)
            failed.append(exc)

    loading = threading.Thread(target=load)
    loading.start()
    deadline = time.monotonic() + 30
    while not process._STARTING and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process._STARTING, "the engine process never started loading"
    controller.abort_loading()
    loading.join(timeout=15)
    assert not loading.is_alive()
    assert failed and isinstance(failed[0], BackendError)
    assert not process._STARTING and controller.backend is None
    controller.abort_loading()  # nothing loading: nothing happens


@pytest.mark.parametrize("bad", [-1, 10**9, 258])
def test_token_ids_outside_the_vocabulary_are_refused_before_an_engine_reads_them(bad: int) -> None:
    """On llama-cpp `token_logprobs(prompt, [-1], params)` aborted the whole Python process (C++
    std::out_of_range); out-of-range ids were IndexError/OverflowError on both local backends."""
    from assistant.backends.fake import FakeBackend
    from assistant.errors import ConfigError
    from assistant.types import GenerationParams

    backend = FakeBackend()
    backend.load("fake-model")
    with pytest.raises(ConfigError, match=f"token id {bad} is not in this model's vocabulary"):
        list(backend.token_logprobs("Hi", [72, bad], GenerationParams()))
    with pytest.raises(ConfigError, match="not in this model's vocabulary"):
        backend.token_pieces([bad])
    with pytest.raises(TypeError, match="a token id must be a whole number, not str"):
        backend.token_pieces(["7"])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="top must be 0 or more"):
        list(backend.token_logprobs("Hi", [72], GenerationParams(), top=-1))
    assert [p.token_id for p in backend.token_pieces([72, 257])] == [72, 257]


def test_an_attention_reply_of_ids_outside_the_vocabulary_is_refused() -> None:
    from assistant.backends.fake import FakeAttentionBackend
    from assistant.errors import ConfigError
    from assistant.types import GenerationParams

    backend = FakeAttentionBackend()
    backend.load("fake-model")
    with pytest.raises(ConfigError, match="token id 100000 is not in this model's vocabulary"):
        backend.attention("Hi", GenerationParams(), reply=[72, 100000])


@pytest.mark.model
@pytest.mark.parametrize("bad", [-1, 10**9])
def test_llama_cpp_in_this_process_survives_a_token_id_outside_its_vocabulary(smollm2_path: Path, bad: int) -> None:
    from assistant.backends import load_backend
    from assistant.errors import ConfigError
    from assistant.types import GenerationParams

    backend = load_backend("llama-cpp", str(smollm2_path), n_ctx=256)
    try:
        with pytest.raises(ConfigError, match="not in this model's vocabulary \\(0 to 49151\\)"):
            list(backend.token_logprobs("Hi", [bad], GenerationParams()))
        assert backend.token_pieces([49151])  # still alive
    finally:
        backend.unload()


def test_a_context_overflow_of_one_token_is_said_in_the_singular() -> None:
    from assistant.errors import ContextOverflowError

    assert str(ContextOverflowError(1, 1)).startswith("prompt is 1 token but the context window is 1 token and leaves no room")
    assert str(ContextOverflowError(2, 1)).startswith("prompt is 2 tokens but the context window is 1 token;")


def test_the_chosen_token_added_to_a_steps_candidates_keeps_its_bytes() -> None:
    from assistant.inspect.token_view import _candidates
    from assistant.types import TokenLogprob

    token = TokenLogprob("\ufffd", 240, -0.5, top=[], p_sampled=0.6, piece=b"\xf0")
    (added,) = _candidates(token)
    assert added.piece == b"\xf0" and added.token_id == 240


def test_attention_on_a_server_asks_the_server_for_its_own_model_not_the_catalog_default(
    server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`attention -b openai` without -m asked the server for smollm2 ("model 'smollm2' is not among those
    ...") before saying attention is unsupported; `prompt` uses the server's only model."""
    monkeypatch.setenv("ASSISTANT_OPENAI_BASE_URL", server.base_url)
    result = CliRunner().invoke(main, ["attention", "-b", "openai", "--json", "Hi"])
    assert result.exit_code == 1
    assert "smollm2" not in result.output and "attention" in result.stderr


def test_a_second_stream_from_the_thread_whose_lone_stream_is_paused_is_refused_not_a_hang() -> None:
    """transformers: a reply streamed but not read to its end, then another started in the same thread,
    waited forever (the second waited for the engine the first held, which only that thread could free)."""
    import threading

    from assistant.backends.torch.batch_scheduler import BatchScheduler, Request
    from assistant.errors import BackendError
    from assistant.types import GenerationParams

    scheduler = BatchScheduler(lambda requests: None, max_batch=4, gather_s=0.01)
    first = scheduler.generate(Request([1], GenerationParams(), 4), lambda: iter(["a", "b"]))
    assert next(first) == "a"  # paused mid-stream
    outcome: list[BaseException | list] = []

    def second() -> None:
        try:
            outcome.append(list(scheduler.generate(Request([2], GenerationParams(), 4), lambda: iter(["c"]))))
        except BaseException as exc:  # noqa: BLE001
            outcome.append(exc)

    # Run in this thread's place: the refusal is by thread, so call it here, guarded by a watchdog.
    watchdog = threading.Timer(10, lambda: scheduler.stop())
    watchdog.start()
    try:
        second()
    finally:
        watchdog.cancel()
    assert isinstance(outcome[0], BackendError) and "already generating in this thread" in str(outcome[0])
    assert list(first) == ["b"]  # the paused one goes on
    assert list(scheduler.generate(Request([3], GenerationParams(), 4), lambda: iter(["d"]))) == ["d"]


def test_params_changed_after_they_were_made_are_checked_when_a_backend_gets_them() -> None:
    from assistant.backends.fake import FakeBackend
    from assistant.errors import ConfigError
    from assistant.types import GenerationParams

    backend = FakeBackend()
    backend.load("fake-model")
    params = GenerationParams(max_tokens=4)
    params.max_tokens = 0
    with pytest.raises(ConfigError, match="max_tokens must be at least 1"):
        backend.complete("Hi", params)
    params = GenerationParams()
    params.stop = [5]  # type: ignore[list-item]
    with pytest.raises((ConfigError, TypeError)):
        backend.complete("Hi", params)


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_a_config_that_is_not_a_regular_file_is_one_line_not_a_hang(assistant_home: Path, kind: str) -> None:
    """A FIFO at config.toml hung every command, --help included (reading waits for a writer)."""
    import os

    from .conftest import run_cli

    config = assistant_home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(config) if kind == "fifo" else config.mkdir()
    listed = run_cli("models", "list", timeout=60)  # listing goes on, with the config's problem named
    assert "config.toml: it is not a regular file" in listed.stderr and "Traceback" not in listed.stderr
    prompted = run_cli("prompt", "-b", "fake", "Hi", timeout=60)
    assert prompted.returncode == 1 and "it is not a regular file" in prompted.stderr


def test_get_tool_and_load_template_name_a_wrong_argument_type() -> None:
    from assistant import get_tool, load_template

    with pytest.raises(TypeError, match="a tool name must be text, not NoneType"):
        get_tool(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="a template is named by text or a path, not int"):
        load_template(5)  # type: ignore[arg-type]


class _ExitingTool:
    name = "exits"
    description = "calls sys.exit"
    parameters: list = []
    needs_model = False

    def run(self, text, params, backend):  # type: ignore[no-untyped-def]
        import sys

        sys.exit(5)


class _BadTextTool(_ExitingTool):
    name = "badtext"

    def run(self, text, params, backend):  # type: ignore[no-untyped-def]
        class Result:
            def to_dict(self):  # type: ignore[no-untyped-def]
                return {}

            def to_text(self):  # type: ignore[no-untyped-def]
                return 42

        return Result()


@pytest.mark.parametrize(
    ("tool", "message"),
    [(_ExitingTool(), "failed: SystemExit: 5"), (_BadTextTool(), "its result's to_text\\(\\) gave int, not text")],
)
def test_a_plugin_tool_that_exits_or_gives_no_text_is_named(tool: object, message: str) -> None:
    """A tool calling sys.exit(5) ended the CLI with code 5 and no word; a to_text() giving 42 said
    "message content must be text, not int" without naming the tool."""
    from assistant.errors import ToolError
    from assistant.tools.registry import RegisteredTool

    with pytest.raises(ToolError, match=message):
        RegisteredTool(tool, "my-plugin").run("hello")


def test_a_template_run_keeps_its_tokens_numbers_and_ids(fakes: list) -> None:
    """`prompt -t few-shot -o logprobs=2 --json` dropped the option (no "tokens"), and the history kept
    no token ids for a template's reply: the template runner kept only the text of the stream."""
    from assistant.history.store import HistoryStore

    result = CliRunner().invoke(
        main, ["prompt", "-t", "zero-shot", "-b", "fake", "-o", "logprobs=2", "--json", "2+2?"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["tokens"] and len(data["tokens"][0]["top"]) == 2
    plain = CliRunner().invoke(main, ["prompt", "-t", "zero-shot", "-b", "fake", "--json", "3+3?"])
    assert "tokens" not in json.loads(plain.stdout)  # only when asked for, as `prompt` does
    from assistant.history.db import default_db_path

    with HistoryStore.open(default_db_path()) as store:
        replies = [m for c in (1, 2) for m in store.messages(c) if m.role == "assistant"]
    assert len(replies) == 2 and all(reply.token_ids for reply in replies)


@pytest.mark.model
def test_llama_cpp_refuses_to_unload_under_a_paused_reply_instead_of_crashing(smollm2_path: Path) -> None:
    """`unload()` while a reply was paused, then resuming it, aborted the process (GGML_ASSERT); with
    another thread decoding it was a segmentation fault."""
    from assistant.backends import load_backend
    from assistant.errors import BackendError
    from assistant.types import GenerationParams

    backend = load_backend("llama-cpp", str(smollm2_path), n_ctx=256)
    stream = backend.stream("Count to ten:", GenerationParams(max_tokens=8, temperature=0))
    next(stream)  # paused mid-reply: the context is in use
    with pytest.raises(BackendError, match="before unloading"):
        backend.unload()
    assert "".join(chunk.text for chunk in stream) is not None  # the reply goes on, unharmed
    backend.unload()  # once it is done, unloading works
    backend.unload()  # and twice is fine


def test_a_tiny_repeat_penalty_keeps_the_distribution_finite() -> None:
    """repeat_penalty=1e-308 divided a logit past the float range: transformers failed with "probability
    tensor contains either inf, nan", and the views' numbers would be NaN."""
    import numpy as np

    from assistant.inspect.distribution import apply_repeat_penalty, sampled_distribution
    from assistant.types import GenerationParams

    logits = np.array([2.0, 1.0, -1.0, 0.5], dtype=np.float32)
    penalised = apply_repeat_penalty(logits, [0, 2], 1e-308)
    assert np.isfinite(penalised).all() and penalised[0] == np.float32(1e30)
    dist = sampled_distribution(logits, GenerationParams(repeat_penalty=1e-308, temperature=0.8), [0, 2])
    assert dist is not None


def test_the_torch_sampler_keeps_a_tiny_repeat_penalty_finite() -> None:
    torch = pytest.importorskip("torch")
    from assistant.backends.torch.sampling import Sampler
    from assistant.types import GenerationParams

    sampler = Sampler(GenerationParams(repeat_penalty=1e-308, temperature=0.8, seed=1))
    sampler.history.extend([0, 2])
    _, probabilities = sampler.distribution(torch.tensor([2.0, 1.0, -1.0, 0.5]))
    assert torch.isfinite(probabilities).all()
    assert sampler(torch.tensor([2.0, 1.0, -1.0, 0.5])) in range(4)


def test_attention_labels_mark_a_control_token_as_the_other_views_do() -> None:
    import numpy as np

    from assistant.inspect.attention import token_labels
    from assistant.inspect.pieces import TokenPiece
    from assistant.types import AttentionMaps

    pieces = [TokenPiece(1, b"", "<|im_end|>"), TokenPiece(2, b"<|im_end|>")]
    maps = AttentionMaps(
        layers=[np.zeros((1, 2, 2), dtype=np.float32)], token_ids=[1, 2], tokens=["", "<|im_end|>"],
        prompt_tokens=1, pieces=pieces,
    )
    assert token_labels(maps) == ["⟦<|im_end|>⟧", "<|im_end|>"]


def test_ctrl_c_inside_an_engine_callback_stops_a_template_run_too() -> None:
    """`prompt -t`: a Ctrl-C that llama.cpp's callback dropped let the reply run to max_tokens and exit 0."""
    from assistant.backends.fake import FakeBackendPlugin
    from assistant.plugins import register_plugin

    from .test_cli_r8w2 import DroppingCallbackBackend

    register_plugin(FakeBackendPlugin(DroppingCallbackBackend.make), name="fake-dropping")
    result = CliRunner().invoke(main, ["prompt", "-t", "zero-shot", "-b", "fake", "-m", "x", "hello"])
    assert result.exit_code == 130, result.output
    assert len(result.stdout) < 20
    shown = CliRunner().invoke(main, ["history", "show", "1", "--json"])
    assert json.loads(shown.stdout)["messages"][-1]["status"] == "interrupted"


def test_a_plugin_command_named_with_a_control_character_is_refused(assistant_home: Path) -> None:
    """A plugin command named "evil\\x1b[31m" reached the terminal raw in `assistant --help`."""
    import textwrap

    from .conftest import run_cli

    plugins = assistant_home / "config" / "plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    (plugins / "naming.py").write_text(textwrap.dedent('''
        import click
        from assistant import hookimpl

        @hookimpl
        def register_commands(cli):
            @cli.command(name="evil\\x1b[31m")
            def evil():
                click.echo("boo")
    '''), encoding="utf-8")
    result = run_cli("--help")
    assert result.returncode == 0
    assert "\x1b" not in result.stdout + result.stderr
    assert "command name must be lower-case letters" in result.stderr


def test_next_token_cancelled_before_its_row_is_a_backend_error_not_stop_iteration() -> None:
    from assistant.backends.fake import FakeBackend
    from assistant.errors import BackendError
    from assistant.types import GenerationParams

    class Cancelled(FakeBackend):
        def iter_logits(self, prompt_ids, token_ids):  # type: ignore[no-untyped-def]
            return  # what a cancel mid-prefill leaves: rows that end before the first
            yield

    backend = Cancelled()
    backend.load("fake-model")
    with pytest.raises(BackendError, match="cancelled"):
        backend.next_token("Hi", GenerationParams())


@pytest.mark.parametrize("reply", ["NaN", '{"x": Infinity}', "Answer: [-Infinity]", "[" * 100_000 + "]" * 100_000])
def test_a_templates_json_answer_with_nan_or_deep_nesting_is_an_error_not_a_value(reply: str) -> None:
    """`constrain: false` JSON answers took NaN (printed back as invalid JSON) and deep nesting raised
    RecursionError, where the structured path's reader already refused both."""
    from assistant.templates.strategies import parse_json_answer

    extraction = parse_json_answer(reply, {"type": "number"} if reply == "NaN" else None)
    assert extraction.answer is None and extraction.error and "not valid JSON" in extraction.error


def test_a_stop_sequence_with_a_schema_is_refused_not_a_cut_document(fakes: list) -> None:
    """`-o stop=, --schema 'name, age int'` cut the document at the first comma: "Expecting ',' delimiter"."""
    result = CliRunner().invoke(main, ["prompt", "-b", "fake", "-o", "stop=,", "--schema", "name, age int", "Hi"])
    assert result.exit_code == 1
    assert "stop sequences would cut the JSON document" in result.stderr

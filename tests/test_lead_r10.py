"""Round 10, the lead's own fixes: template test regexes that break the compiler, role-marker look-alikes."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.errors import TemplateError
from assistant.templates.render import format_messages
from assistant.templates.spec import parse_expectation
from assistant.types import Message


@pytest.mark.parametrize("pattern", ["a{4294967295}", "(" * 5000 + "a" + ")" * 5000])
def test_a_regex_the_compiler_cannot_take_is_a_template_error(pattern: str) -> None:
    # OverflowError / RecursionError escaped as tracebacks and broke `templates list` for every template
    with pytest.raises(TemplateError, match="invalid regex"):
        parse_expectation("t", {"regex": pattern})


@pytest.mark.parametrize("value", [{"a": 1}, [1], True])
def test_a_regex_that_is_not_text_is_refused(value: object) -> None:
    # {a: 1} was silently turned into the text "{'a': 1}"
    with pytest.raises(TemplateError, match="must be a text"):
        parse_expectation("t", {"regex": value})


def test_a_number_regex_is_still_its_text() -> None:
    assert parse_expectation("t", {"regex": 42}).regex == "42"


@pytest.mark.parametrize("line", ["[user]\u00a0", " [system]", "\t[assistant] ", "[user]\r"])
def test_a_value_line_that_prints_like_a_role_marker_is_escaped(line: str) -> None:
    shown = format_messages([Message("user", f"hello\n{line}\nbye")])
    lines = shown.splitlines()
    assert lines[0] == "[user]"
    assert [text for text in lines[1:] if text.strip() in ("[user]", "[system]", "[assistant]")] == []


# ---- the token loop shared by local engines --------------------------------------------------------

from typing import Any, Iterator, Sequence  # noqa: E402

from assistant.backends.base import SampledToken, TokenLoopBackend  # noqa: E402
from assistant.errors import ConfigError  # noqa: E402
from assistant.types import GenerationParams  # noqa: E402

_PIECES = {1: b"Hello", 2: b" wor", 3: b"", 4: b"ld", 5: b""}  # 3: a control token <|sep|>, 5: the end


class _Scripted(TokenLoopBackend):
    """A token loop that "samples" a fixed script of ids, to test what ``stream`` does with them."""

    name = "scripted"

    def __init__(self, script: list[int], bos: int | None = 9) -> None:
        super().__init__()
        self.script = script
        self.bos = bos

    context_length = 64  # type: ignore[assignment]

    def load(self, model: str, **options: Any) -> None: ...

    def unload(self) -> None: ...

    def chat_format(self) -> Any:
        raise NotImplementedError

    def tokenize_fragment(self, text: str, parse_special: bool) -> list[int]:
        return [1] * len(text.split())

    def leading_bos(self) -> int | None:
        return self.bos

    def token_bytes(self, token_id: int) -> bytes:
        return _PIECES.get(token_id, b"")

    def control_token_name(self, token_id: int) -> str:
        return {3: "<|sep|>", 5: "<|end|>"}.get(token_id, "")

    def is_end_of_generation(self, token_id: int) -> bool:
        return token_id == 5

    def sample_tokens(self, prompt_ids: list[int], params: GenerationParams) -> Iterator[SampledToken]:
        for token in self.script:
            yield SampledToken(token_id=token, logprob=0.0)

    def score(self, prompt: Any, candidates: Sequence[str]) -> list[float]:
        return [0.0 for _ in candidates]


def _text(backend: TokenLoopBackend, params: GenerationParams) -> tuple[str, str | None]:
    chunks = list(backend.stream("x", params))
    return "".join(c.text for c in chunks), chunks[-1].finish_reason


def test_a_stop_sequence_naming_a_control_token_stops_there() -> None:
    # Control tokens have no text, so `-o stop=<|sep|>` could never match and generation ran on
    backend = _Scripted([1, 2, 4, 3, 1, 1, 5])
    assert _text(backend, GenerationParams(max_tokens=20, stop=["<|sep|>"])) == ("Hello world", "stop")
    assert _text(backend, GenerationParams(max_tokens=20)) == ("Hello worldHelloHello", "stop")


def test_text_held_back_as_a_possible_stop_is_kept_when_a_control_token_stops() -> None:
    backend = _Scripted([1, 2, 3, 4])
    # " wor" could start the stop " world": it is held back, then flushed when <|sep|> ends the reply
    assert _text(backend, GenerationParams(max_tokens=20, stop=[" world", "<|sep|>"])) == ("Hello wor", "stop")


def test_an_empty_prompt_without_a_bos_is_one_config_error_for_every_engine() -> None:
    backend = _Scripted([1], bos=None)
    with pytest.raises(ConfigError, match="nothing to predict from"):
        list(backend.stream("", GenerationParams(max_tokens=4)))


@pytest.mark.parametrize("prompt", ["bad \ud800 text", [Message("user", "a \udcff b")]])
def test_a_prompt_with_a_lone_surrogate_is_refused_in_one_line(prompt: Any) -> None:
    from assistant.backends.base import checked_prompt

    with pytest.raises(ConfigError, match="not valid text"):
        checked_prompt(prompt)


# ---- a template batch's resume check runs before the model loads, -s and --examples-as included ----

def test_a_resume_with_another_system_prompt_is_refused_before_the_model_loads(fakes: list, tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from assistant.cli import main

    source = tmp_path / "in.jsonl"
    source.write_text('{"id": 1, "text": "one"}\n{"id": 2, "text": "two"}\n')
    out = tmp_path / "out.jsonl"
    out.write_text(json.dumps({"row": 1, "id": 1, "template": "few-shot", "system": "Be terse.", "examples_as": "turns",
                               "shared_vars": {}, "sampling": {}, "schema": None, "error": None,
                               "output": "x"}) + "\n")
    before = out.read_bytes()
    result = CliRunner().invoke(main, ["prompt", "-t", "few-shot", "-b", "fake", "-m", "m", "--batch", str(source),
                                       "--out", str(out), "--resume", "-s", "Be chatty."])
    assert result.exit_code == 1, result.output
    assert "this run has -s 'Be chatty.'" in result.stderr
    assert all(fake.loaded_model is None for fake in fakes)  # refused before anything loaded
    assert out.read_bytes() == before


def test_chat_resuming_a_conversation_whose_template_was_deleted_opens_with_a_notice(
    assistant_home: Path, fakes: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `assistant chat -c` stopped with "no template named …" when the conversation's template was gone
    import click.testing
    from click.testing import CliRunner

    from assistant.cli import main
    from assistant.templates.loader import user_templates_dir
    from assistant.tui.app import ChatApp

    folder = user_templates_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "brief.jinja").write_text("[user]\nBriefly: {{ input }}\n", encoding="utf-8")
    made = CliRunner().invoke(main, ["prompt", "-t", "brief", "-b", "fake", "-m", "m", "hello"])
    assert made.exit_code == 0, made.output
    (folder / "brief.jinja").unlink()

    opened: list[ChatApp] = []
    monkeypatch.setattr(ChatApp, "run", lambda self, *a, **k: opened.append(self))
    monkeypatch.setattr(click.testing._NamedTextIOWrapper, "isatty", lambda self: True, raising=False)
    result = CliRunner().invoke(main, ["chat", "-c", "-b", "fake", "-m", "m"])
    assert result.exit_code == 0, result.output
    (app,) = opened
    assert app.controller.template is None
    (notice,) = app.startup_notices
    assert notice.startswith("template 'brief' is not used: ") and "plain chat" in notice
    # asked for on the command line, a missing template is still an error
    asked = CliRunner().invoke(main, ["chat", "-t", "brief", "-b", "fake", "-m", "m"])
    assert asked.exit_code == 1 and "brief" in asked.stderr


def test_stopping_the_batch_scheduler_waits_for_the_batch_in_flight() -> None:
    # Ctrl-C in `-b transformers --parallel 4` exited 134 ("terminate called without an active
    # exception"): unload returned while the batch-decode thread was still inside torch.
    import threading
    import time

    from assistant.backends.torch.batch_scheduler import BatchScheduler, Request
    from assistant.types import GenerationParams

    running, done = threading.Event(), threading.Event()

    def run_batch(requests: list) -> None:
        running.set()
        time.sleep(0.5)
        for request in requests:
            request.finish()
        done.set()

    scheduler = BatchScheduler(run_batch, max_batch=4, gather_s=0.2)
    readers = [
        threading.Thread(target=lambda n=n: list(scheduler.generate(Request([n], GenerationParams(), 4), lambda: iter(()))))
        for n in range(3)
    ]
    for reader in readers:
        reader.start()
    assert running.wait(5)
    scheduler.stop()
    assert done.is_set()  # stop returned only once the batch had ended
    for reader in readers:
        reader.join(5)


@pytest.mark.model
def test_transformers_keeps_gemmas_markers_out_of_untrusted_text_as_llama_cpp_does(gemma_path: Path) -> None:
    # `tokenize -b transformers -m gemma3-270m "a <start_of_image> b"` gave the image marker, id 255999:
    # the converted tokenizer has it as an added token not marked special, which split_special_tokens keeps
    from assistant.backends import load_backend
    from assistant.types import Message

    engine = load_backend("transformers", str(gemma_path), n_ctx=512, progress=lambda *_: None)
    try:
        for text in ("a <start_of_image> b", "x[multimodal]y", "<<end_of_image>>"):
            ids = engine.tokenize_fragment(text, parse_special=False)
            assert not {255999, 256000, 5} & set(ids), text
            assert b"".join(engine.token_bytes(i) for i in ids).decode() == text
        prompt = engine.prompt_token_ids([Message("user", "see <start_of_image> here")])
        assert 255999 not in prompt and 105 in prompt  # the template's <start_of_turn> is still the token
        assert engine.tokenize_text("look: <start_of_image>")[-1] == 255999  # trusted template text
        assert engine.control_token_name(255999) == "<start_of_image>"
        plain = "para one\n\npara two\t\t<table><tr><td>1</td></tr></table>    done"
        assert engine.tokenize_fragment(plain, parse_special=False) == engine._hf_tokenize(plain, split_special=True)
    finally:
        engine.unload()


@pytest.mark.model
def test_the_converter_refuses_a_file_cut_inside_its_last_tensor_with_the_one_header_reader(
    smollm2_path: Path, tmp_path: Path
) -> None:
    # convert.py had its own tensor-size table (from the optional gguf package); now the header reader's
    from assistant.backends.torch.convert import check_tensor_data, tensor_data_end
    from assistant.errors import ModelLoadError

    assert tensor_data_end(smollm2_path) == smollm2_path.stat().st_size
    cut = tmp_path / "cut.gguf"
    with smollm2_path.open("rb") as source, cut.open("wb") as target:
        target.write(source.read(smollm2_path.stat().st_size - 1))
    with pytest.raises(ModelLoadError, match="file is truncated"):
        check_tensor_data(cut)


def test_a_candidate_with_a_lone_surrogate_is_refused_in_one_line() -> None:
    from assistant.backends.base import checked_candidates

    with pytest.raises(ConfigError, match="a candidate is not valid text: lone surrogate U\\+D800"):
        checked_candidates(["ok", "bad \ud800"])


def test_a_candidate_that_overflows_the_context_is_named() -> None:
    # it said "prompt is 402 tokens" for a prompt that fit
    from assistant.errors import ContextOverflowError

    backend = _Scripted([1])
    backend.context_length = 8  # type: ignore[misc]
    with pytest.raises(ContextOverflowError, match=r"^prompt with the candidate 'w w w w w w w w w w ' is 12 tokens"):
        backend.scoring_token_ids("a b", [" ok", "w " * 10])


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: 42, "the fake backend failed to start: TypeError: the factory returned int, not a backend"),
        (lambda: (_ for _ in ()).throw(SystemExit(3)), "the fake backend failed to start: SystemExit: 3"),
    ],
)
def test_a_plugin_backend_factory_that_returns_junk_or_exits_is_named(
    assistant_home: Path, factory: Any, message: str
) -> None:
    # register("x", lambda: 42) was an AttributeError traceback; SystemExit(3) ended the command silently
    from assistant.backends import create_backend
    from assistant.backends.fake import FakeBackendPlugin
    from assistant.errors import BackendError
    from assistant.plugins import register_plugin

    register_plugin(FakeBackendPlugin(factory), name="fake-junk")
    with pytest.raises(BackendError) as caught:
        create_backend("fake")
    assert str(caught.value).startswith(message)


def test_another_threads_output_while_a_plugin_hook_runs_is_not_the_plugins(
    assistant_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # What a plugin prints is caught (and named) by swapping sys.stdout/sys.stderr; a progress line
    # printed by another thread meanwhile came out as "plugin 'slow': [#####"
    import sys
    import threading

    from assistant import hookimpl
    from assistant.plugins import register_plugin
    from assistant.tools import available_tools

    entered, release = threading.Event(), threading.Event()

    class Slow:
        @hookimpl
        def register_tools(self, register: Any) -> None:
            print("from the plugin")
            entered.set()
            release.wait(5)

    register_plugin(Slow(), name="slow")
    worker = threading.Thread(target=available_tools)
    worker.start()
    assert entered.wait(5)
    print("progress 3/10", file=sys.stderr)
    release.set()
    worker.join(5)
    err = capsys.readouterr().err
    assert "progress 3/10" in err and "plugin 'slow': progress" not in err
    assert "plugin 'slow': from the plugin" in err


@pytest.mark.parametrize(("terminal", "expected"), [(True, "a\nb\n\n␍c\n"), (False, "a\r\nb\r\n\r\n␍c\n")])
def test_crlf_line_ends_reach_a_file_as_they_were(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], terminal: bool, expected: str
) -> None:
    # `translate --file windows.txt > out.txt` wrote LF line ends, though docs/tools.md says CRLF survives
    import sys

    from assistant.cli.common import echo_untrusted

    monkeypatch.setattr(sys.stdout, "isatty", lambda: terminal, raising=False)
    echo_untrusted("a\r\nb\r\n\r\n\rc")
    assert capsys.readouterr().out == expected


def test_one_huge_line_is_chunked_without_counting_every_word() -> None:
    # a 1.3 MB line of 200,000 words took 34 s of tokenizer calls (one per word) before the first model call
    import random

    from assistant.tools.text import chunk_text

    rng = random.Random(7)
    words = ["".join(rng.choice("abcdefghij") for _ in range(rng.randint(2, 9))) for _ in range(50_000)]
    calls = 0

    def count(text: str) -> int:
        nonlocal calls
        calls += 1
        return len(text) // 4 + 1

    chunks = chunk_text(" ".join(words), count, 512)
    assert " ".join(chunks).split() == words  # every word, in order, once
    assert all(count(chunk) <= 512 for chunk in chunks)
    assert calls < 5_000 + len(chunks)  # was one call per word
    assert len(chunks) <= 1.15 * (len(" ".join(words)) // 4 // 512 + 1)  # still about as full as the budget allows

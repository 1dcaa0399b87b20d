"""Round 7, lead: one rule for file names that can only be directories; resumed system prompts."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.backends.fake import FakeBackend, FakeBackendPlugin
from assistant.cli import main
from assistant.files import names_a_directory
from assistant.history import HistoryStore, TurnMeta
from assistant.history.session_link import link_history
from assistant.plugins import register_plugin
from assistant.structured.output import schema_instruction
from assistant.types import length_note


@pytest.mark.parametrize("name", ["out/", "a/b/", "./"])
def test_a_name_ending_in_a_separator_names_a_directory(name: str) -> None:
    assert names_a_directory(name)


@pytest.mark.parametrize("name", ["out", "out.jsonl", "a/b", "-"])
def test_a_file_name_does_not(name: str) -> None:
    assert not names_a_directory(name)


@pytest.mark.parametrize(
    "args",
    [
        ["sentiment", "--batch", "in.jsonl", "--out", "results/"],
        ["prompt", "-t", "zero-shot", "--batch", "in.jsonl", "--out", "results/"],
        ["sentiment", "--file", "texts/"],
    ],
)
def test_a_file_option_ending_in_a_separator_is_refused_before_anything_runs(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--out results/`` used to write a results *file* named ``results``."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.jsonl").write_text('{"text": "good", "input": "good"}\n')
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert "names a directory" in result.output
    assert not (tmp_path / "results").exists()
    assert not (tmp_path / "texts").exists()


def test_a_resumed_conversation_stored_with_a_schema_instruction_is_given_back_without_it(
    tmp_path: Path,
) -> None:
    """Older versions stored a --schema turn's instruction as the system prompt; every front end resumes through here."""
    db = tmp_path / "h.db"
    stored = schema_instruction("Be brief.", {"type": "object", "properties": {"a": {"type": "string"}}})
    with HistoryStore.open(db) as store:
        store.create_conversation(system=stored, meta=TurnMeta("m", "fake", None, {}))
    link = link_history(str(db), continue_latest=True)
    try:
        assert link.system(None, "default") == "Be brief."
        assert link.system("explicit", "default") == "explicit"
    finally:
        link.close()


@pytest.mark.parametrize("args", [["-h"], ["history", "-h"], ["sentiment", "-h"], ["templates", "show", "-h"]])
def test_dash_h_is_help_everywhere(args: list[str]) -> None:
    """``-h`` was "No such option: -h" on every command."""
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: ") and "-h, --help" in result.output


# ---- a reply cut by the context window is not blamed on max_tokens ---------------------------------



def test_length_note_tells_the_window_from_max_tokens() -> None:
    assert "max_tokens" in length_note(10, 5, 100) and "context window" not in length_note(10, 5, 100)
    assert "context window of 100 tokens" in length_note(60, 40, 100)
    assert "max_tokens" in length_note(60, 40, None)  # a window nobody knows is not blamed


@pytest.fixture
def long_replies() -> None:
    register_plugin(FakeBackendPlugin(lambda: FakeBackend(reply="word " * 400)), name="fake-long-r7")


@pytest.mark.parametrize("template", [[], ["-t", "zero-shot"]])
@pytest.mark.parametrize(
    ("options", "blamed"),
    [(["-o", "n_ctx=400", "-o", "max_tokens=1000"], "context window of 400 tokens"), (["-o", "max_tokens=5"], "max_tokens")],
)
def test_a_cut_reply_names_the_limit_it_reached(
    long_replies: None, template: list[str], options: list[str], blamed: str, tmp_path: Path
) -> None:
    """With about 280 tokens of room in a 400-token window, "raise max_tokens" (1000) sent users the wrong way."""
    result = CliRunner().invoke(
        main, ["prompt", "-b", "fake", "-m", "x", "--db", str(tmp_path / "h.db"), *template, *options, "Tell a story."]
    )
    assert result.exit_code == 0, result.output
    assert blamed in result.stderr


# ---- a cancelled label generation is not retried ----------------------------------------------------


def test_a_cancelled_label_generation_stops_instead_of_retrying() -> None:
    """generate_label (sentiment/ner on a backend that cannot score) retried after Esc, as generate_checked did."""
    from assistant.errors import ToolError
    from assistant.tools.classify import generate_label
    from assistant.tools.generate import TOOL_STOPPED
    from assistant.types import Completion, Message, Timings, Usage

    class CancelledOnce(FakeBackend):
        def complete(self, prompt: object, params: object) -> Completion:  # type: ignore[override]
            self.calls.append({"prompt": prompt})
            return Completion("pos", "m", "fake", "cancelled", Usage(), Timings())

    backend = CancelledOnce()
    backend.load("m")
    with pytest.raises(ToolError) as raised:
        generate_label(backend, [Message("user", "Review: fine\nSentiment:")], ["positive", "negative"])
    assert str(raised.value) == TOOL_STOPPED
    assert len(backend.calls) == 1


def test_transformers_verbose_is_a_switch_not_any_truthy_value() -> None:
    """``verbose = "maybe"`` in the config was bool("maybe"): on, silently (llama-cpp already checked it)."""
    from assistant.backends.torch.backend import TransformersBackend
    from assistant.errors import BackendError

    with pytest.raises(BackendError, match="verbose must be true or false"):
        TransformersBackend().load("no-such-model", verbose="maybe")


def test_an_engine_without_attention_says_where_to_get_it_whichever_method_is_asked() -> None:
    """``attention -b llama-cpp`` asked attention_shape first and got no hint of ``-b transformers``."""
    from assistant.backends.llama_cpp import LlamaCppBackend
    from assistant.errors import NotSupportedError

    backend = LlamaCppBackend()
    for ask in (backend.attention_shape, lambda: backend.attention_weights([1, 2], 0)):
        with pytest.raises(NotSupportedError, match=r"\(-b transformers can\)"):
            ask()


# ---- a pasted file far past the window is refused from its beginning ---------------------------------


class CountingFake(FakeBackend):
    """Records the longest message it was asked to count."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.longest_counted = 0

    def count_tokens(self, prompt: object) -> int:  # type: ignore[override]
        self.longest_counted = max(self.longest_counted, *(len(m.content) for m in prompt))  # type: ignore[attr-defined]
        return super().count_tokens(prompt)  # type: ignore[arg-type]


def test_a_huge_newest_message_is_refused_without_tokenizing_all_of_it() -> None:
    """20 MB on stdin took seconds and a gigabyte of token ids before "prompt is 5950021 tokens ..."."""
    from assistant.context import PROBE_CHARS_PER_TOKEN, fit_to_context
    from assistant.errors import ContextOverflowError
    from assistant.types import Message

    backend = CountingFake(context_length=256)
    backend.load("m")
    huge = "The cat sat on the mat. " * 100_000
    with pytest.raises(ContextOverflowError, match="prompt is at least") as raised:
        fit_to_context(backend, [Message("system", "Be brief."), Message("user", huge)])
    assert raised.value.prompt_tokens > 256
    assert backend.longest_counted == 256 * PROBE_CHARS_PER_TOKEN



def test_the_chat_app_resumes_an_old_schema_conversation_without_its_instruction() -> None:
    """The chat app reads the stored system prompt itself (not through HistoryLink): the same rule applies."""
    from typing import Any

    from assistant.history.records import TurnMeta as Meta
    from assistant.types import Completion, Timings, Usage

    from .tui_support import make_app, run_pilot, wait_until

    stored = schema_instruction("Be brief.", {"type": "object", "properties": {"a": {"type": "string"}}})
    with HistoryStore.open() as store:
        conversation = store.create_conversation(system=stored)
        completion = Completion('{"a": "x"}', "fake-model", "fake", "stop", Usage(5, 2), Timings())
        store.record_turn(conversation.id, "A question", completion, Meta("fake-model", "fake", None, {}))
    app = make_app()

    async def scenario(pilot: Any) -> None:
        await app.chat_screen.open_conversation(conversation.id)
        await wait_until(pilot, lambda: app.controller.conversation_id == conversation.id)
        assert app.controller.settings.system == "Be brief."

    run_pilot(app, scenario)


# ---- one way to replace a file ----------------------------------------------------------------------


def test_replacing_keeps_the_old_file_whole_when_writing_fails(tmp_path: Path) -> None:
    from assistant.files import replacing

    kept = tmp_path / "kept.txt"
    kept.write_text("old")
    kept.chmod(0o640)
    with pytest.raises(RuntimeError):
        with replacing(kept) as handle:
            handle.write("half")
            raise RuntimeError("disk full, say")
    assert kept.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["kept.txt"]  # no temporary file left behind
    with replacing(kept) as handle:
        handle.write("new")
    assert kept.read_text() == "new" and kept.stat().st_mode & 0o777 == 0o640


def test_replacing_through_a_link_or_the_link_itself(tmp_path: Path) -> None:
    from assistant.files import write_replacing

    real = tmp_path / "real.toml"
    real.write_text("a = 1\n")
    link = tmp_path / "link.toml"
    link.symlink_to(real)
    write_replacing(link, "a = 2\n")
    assert link.is_symlink() and real.read_text() == "a = 2\n"
    write_replacing(link, "a = 3\n", through_link=False)
    assert not link.is_symlink() and link.read_text() == "a = 3\n" and real.read_text() == "a = 2\n"


def test_models_default_keeps_a_linked_config_a_link(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A config.toml linked from a dotfiles repository was replaced by a plain file (and a fixed .tmp name raced)."""
    from assistant.config import paths, set_top_level

    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    real = dotfiles / "assistant.toml"
    real.write_text('# mine\nmodel = "a"\n')
    config = paths().config_file
    config.parent.mkdir(parents=True, exist_ok=True)
    config.symlink_to(real)
    set_top_level("model", "b")
    assert config.is_symlink()
    assert real.read_text() == '# mine\nmodel = "b"\n'


# ---- logprobs carry each token's bytes -----------------------------------------------------------


def test_a_reply_is_rebuilt_from_its_tokens_bytes_even_where_a_character_is_split() -> None:
    """``prompt --json -o logprobs`` gave "\\ufffd" for each byte token of an emoji, with no bytes to rebuild it."""
    from assistant.types import GenerationParams, Message, TokenLogprob

    backend = FakeBackend(reply="Hi 😀 东京")
    backend.load("m")
    completion = backend.complete([Message("user", "x")], GenerationParams(temperature=0, logprobs=2))
    entries = [entry.to_dict() for entry in completion.logprobs]
    assert any(entry["text"] == "\ufffd" for entry in entries)  # the case: split characters
    rebuilt = b"".join(bytes.fromhex(entry["bytes"]) for entry in entries if not entry["special"])
    assert rebuilt.decode("utf-8") == completion.text
    assert all("bytes" in alt for entry in entries for alt in entry["top"])
    again = [TokenLogprob.from_dict(entry) for entry in entries]  # history reads back what it stored
    assert [e.piece for e in again] == [e.piece for e in completion.logprobs]
    forced = list(backend.token_logprobs([Message("user", "x")], completion.token_ids, GenerationParams(temperature=0)))
    assert [f.piece for f in forced] == [e.piece for e in completion.logprobs]


def test_a_stored_token_without_bytes_reads_back_as_before() -> None:
    from assistant.types import TokenLogprob

    old = {"text": "a", "id": 5, "logprob": -0.1, "p_sampled": 1.0, "top": []}
    assert TokenLogprob.from_dict(old).piece is None
    assert TokenLogprob.from_dict(old).to_dict() == old


def test_an_abbreviated_title_ends_no_sentence_and_titles_are_one_list() -> None:
    """"Sen." and "Ft." ended a sentence for chunking while NER's span finder treated them as titles."""
    from assistant.tools.spans import TITLES
    from assistant.tools.text import ABBREVIATED_TITLES, sentence_spans

    text = "Sen. Warren spoke. Then Capt. Ross flew to Ft. Worth. Gov. Hale left."
    spans = sentence_spans(text)
    pieces = [text[s.start : s.end] if hasattr(s, "start") else text[s[0] : s[1]] for s in spans]
    assert pieces == ["Sen. Warren spoke.", "Then Capt. Ross flew to Ft. Worth.", "Gov. Hale left."]
    assert ABBREVIATED_TITLES <= TITLES


def test_a_backend_failure_keeps_its_control_characters_for_display() -> None:
    """``" ".join(text.split())`` turned VT, FF and NEL into spaces: the line lost what the message held."""
    from assistant.backends import backend_failure
    from assistant.plugin_checks import plugin_line as _one_line

    message = str(backend_failure("x", "load", RuntimeError("a\x0bb\x85c\nd")))
    assert message.endswith("RuntimeError: a\x0bb\x85c d")
    assert _one_line("one\x0ctwo\n  three") == "one\x0ctwo three"


def test_a_csv_row_with_an_empty_text_cell_says_so(tmp_path: Path) -> None:
    """It said 'row 2 has no "text" or "input" field', sending the user to a header that has it."""
    from assistant.batch.rows import read_rows

    source = tmp_path / "in.csv"
    source.write_text("id,text\n1,good\n2,\n")
    first, second = read_rows(source)
    assert first.input_text() == "good"
    assert second.input_text() is None
    assert second.missing_input() == 'row 2 has an empty "text" cell'
    assert second.missing_input("review") == 'row 2 has no "review" field (choose one with --input-field)'


def test_the_batch_summary_shows_an_out_path_visibly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``batch: … -> {out}`` printed the --out path raw: a name holding an escape sequence reached the terminal."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.jsonl").write_text('{"text": "good"}\n')
    register_plugin(FakeBackendPlugin(lambda: FakeBackend(reply="positive")), name="fake-summary-r7")
    out = "res\x1b]0;owned\x07.jsonl"
    result = CliRunner().invoke(main, ["sentiment", "-b", "fake", "-m", "x", "--batch", "in.jsonl", "--out", out, "--no-log"])
    assert "batch: 1 ok" in result.stderr, result.output
    assert "\x1b" not in result.stderr


def test_a_server_message_keeps_its_controls_for_display() -> None:
    from assistant.backends.openai.http import one_line

    assert one_line("Error:\n  bad\x0bthing") == "Error: bad\x0bthing"


@pytest.mark.parametrize(
    ("kwargs", "said"),
    [
        ({"temperature": "x"}, "temperature must be a number, not 'x'"),
        ({"top_p": True}, "top_p must be a number"),
        ({"max_tokens": 2.5}, "max_tokens needs a whole number, not 2.5"),
        ({"top_k": "3"}, "top_k needs a whole number"),
        ({"seed": 1.5}, "seed needs a whole number"),
        ({"stop": 5}, "stop must be a text or a list of texts, not 5"),
        ({"stop": ["a", 1]}, "stop must be a text or a list of texts"),
    ],
)
def test_generation_params_of_the_wrong_type_are_refused_in_words(kwargs: dict[str, object], said: str) -> None:
    from assistant.errors import ConfigError
    from assistant.types import GenerationParams

    with pytest.raises(ConfigError) as raised:
        GenerationParams(**kwargs)  # type: ignore[arg-type]
    assert said in str(raised.value)


def test_whole_floats_and_tuples_are_taken_as_what_they_mean() -> None:
    from assistant.types import GenerationParams

    params = GenerationParams(max_tokens=64.0, stop=("a", "b"), seed=3.0)  # type: ignore[arg-type]
    assert (params.max_tokens, params.stop, params.seed) == (64, ["a", "b"], 3)
    assert isinstance(params.max_tokens, int)


@pytest.mark.parametrize("labels", ["good", "a,a"])
def test_sentiment_labels_it_cannot_use_are_refused_with_the_parameters(labels: str) -> None:
    """They failed only inside run: in the chat app a failed turn was stored instead of a refusal."""
    from assistant.errors import ConfigError
    from assistant.tools import get_tool
    from assistant.tools.base import ParameterSet

    tool = get_tool("sentiment")
    with pytest.raises(ConfigError, match="labels"):
        ParameterSet("sentiment", tool.parameters).resolve({"labels": labels})


# ---- what the chat app remembers on exit -----------------------------------------------------------


def test_the_chat_app_remembers_the_users_params_not_the_templates() -> None:
    """Saved on exit with chain-of-thought's greedy settings, plain chat stayed greedy after a restart."""
    from assistant.tui import ChatController, ChatSettings
    from assistant.types import GenerationParams

    controller = ChatController(ChatSettings(model="m", backend="fake", params=GenerationParams(temperature=0.8)))
    controller.set_template("chain-of-thought")
    assert controller.settings.params.temperature != 0.8  # the template's own setting is in force
    assert controller.params_without_template().temperature == 0.8
    assert controller.settings.params.temperature != 0.8  # asking changed nothing


def test_remembered_settings_keep_the_templates_variables(tmp_path: Path) -> None:
    """Restarted with translate but without target=, every message failed."""
    from assistant.tui.remembered import Remembered, load_last_used, save_last_used

    path = tmp_path / "chat_settings.json"
    save_last_used(Remembered("m", "fake", "translate", {}, None, {"target": "French"}), path)
    loaded = load_last_used(path)
    assert loaded is not None and loaded.variables == {"target": "French"}
    path.write_text('{"template": "translate", "variables": {"target": 5}}')
    assert load_last_used(path).variables == {}  # type: ignore[union-attr]


@pytest.mark.parametrize(("role", "content"), [("robot", "hi"), ("user", None), ("user", 5)])
def test_a_message_of_the_wrong_shape_is_refused_where_it_is_made(role: str, content: object) -> None:
    from assistant.errors import ConfigError
    from assistant.types import Message

    with pytest.raises(ConfigError, match="message"):
        Message(role, content)  # type: ignore[arg-type]


@pytest.mark.parametrize("top", [0, -1, 2.5])
def test_next_token_refuses_a_number_of_candidates_it_cannot_give(top: object) -> None:
    """``top=0`` gave an empty candidate list without a word."""
    from assistant.errors import ConfigError
    from assistant.types import GenerationParams, Message

    backend = FakeBackend()
    backend.load("m")
    with pytest.raises(ConfigError, match="top must be"):
        backend.next_token([Message("user", "hi")], GenerationParams(), top=top)  # type: ignore[arg-type]


def test_a_servers_token_bytes_are_kept() -> None:
    """OpenAI-style servers list each token's bytes; an emoji split over two tokens is rebuilt from them."""
    from assistant.backends.openai.stream import _logprobs

    data = {"content": [
        {"token": "\ufffd", "logprob": -0.1, "bytes": [240, 159], "top_logprobs": []},
        {"token": "\ufffd", "logprob": -0.2, "bytes": [152, 128], "top_logprobs": []},
        {"token": "!", "logprob": -0.3, "bytes": "nope", "top_logprobs": []},
    ]}  # fmt: skip
    first, second, third = _logprobs(data, 1)
    assert (first.piece + second.piece).decode() == "😀"  # type: ignore[operator]
    assert third.piece is None and "bytes" not in third.to_dict()

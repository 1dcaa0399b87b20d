"""Round 14: what the lead joined across helpers' areas (each test fails without its change)."""

from __future__ import annotations

import pytest

from assistant.backends import load_backend
from assistant.errors import ToolError
from assistant.tools import get_tool


@pytest.mark.parametrize("tool", ["summarize", "translate"])
def test_a_writing_tool_refuses_a_base_model_before_generating(fake_backend: None, tool: str) -> None:
    """Before: gemma3-270m generated a whole reply (its prompt, continued) before the echo check refused it.
    ``Capabilities.chat_turns`` says it is a base model once loaded, so nothing is generated."""
    backend = load_backend("fake", "gemma3-270m")
    assert backend.capabilities.chat_turns is False
    text = "The council approved the new budget on Tuesday after a long debate about schools and roads."
    options = {"to": "fr"} if tool == "translate" else {}
    with pytest.raises(ToolError, match=r"needs an instruction-tuned model; .* is a base model"):
        get_tool(tool).run(text, backend, **options)
    assert backend.calls == []  # nothing generated


# ---- numbers typed as text are read by option_values.plain_number everywhere, not only in -o ----------------
@pytest.mark.parametrize("typed", ["1_0", "１０", "٣"])
def test_a_template_variable_number_with_underscores_or_other_digits_is_refused(typed: str) -> None:
    """Before: ``-v count=1_0`` ran with 10 and ``-v count=１０`` with 10, where ``-o max_tokens=1_0`` is refused."""
    from assistant.errors import TemplateError
    from assistant.templates import render_template, template_from_string

    template = template_from_string("---\nvariables:\n  - {name: count, default: 3}\n---\n{{ count + 1 }}", name="t")
    with pytest.raises(TemplateError, match="count"):
        render_template(template, {"count": typed})
    assert render_template(template, {"count": " 10 "})[-1].content == "11"


@pytest.mark.parametrize("typed", ["1_000", "２０００"])
def test_a_tool_parameter_number_with_underscores_or_other_digits_is_refused(fake_backend: None, typed: str) -> None:
    from assistant.errors import ConfigError

    backend = load_backend("fake", "fake-model")
    text = "The council approved the new budget on Tuesday after a long debate about schools and roads."
    with pytest.raises((ConfigError, ToolError), match="chunk_tokens"):
        get_tool("summarize").run(text, backend, chunk_tokens=typed)


@pytest.mark.parametrize(("field", "typed"), [("top_k", "4_0"), ("max_tokens", "５０"), ("temperature", "0_5"), ("seed", "4_2")])
def test_the_chat_apps_settings_refuse_numbers_python_alone_would_take(field: str, typed: str) -> None:
    from assistant.errors import ConfigError
    from assistant.tui.screens.settings import parse_params
    from assistant.types import GenerationParams

    values = {"temperature": "0.7", "top_k": "40", "top_p": "0.95", "max_tokens": "100", "seed": ""}
    values[field] = typed
    with pytest.raises(ConfigError, match=f"(?i)^{field.split('_')[0]}.* must be a (whole )?number"):
        parse_params(values, GenerationParams())


def test_attention_refuses_an_empty_model_and_a_layer_with_underscores() -> None:
    """``attention`` had its own -m/-b options: ``-m ''`` ran the default model, ``--layer 1_0`` layer 10."""
    from click.testing import CliRunner

    from assistant.cli import main

    runner = CliRunner()
    empty = runner.invoke(main, ["attention", "-m", "", "hi"])
    assert empty.exit_code != 0 and "-m/--model: empty value" in empty.output
    layer = runner.invoke(main, ["attention", "--layer", "1_0", "hi"])
    assert layer.exit_code != 0 and "--layer takes a layer number or 'all', not '1_0'" in layer.output


# ---- an error line is bounded wherever it comes from ------------------------------------------------------
def test_an_error_quoting_a_huge_value_is_one_bounded_line() -> None:
    """Before: errors quoted what came from outside whole (a 2 MB GGUF architecture gave a 2 MB "line")."""
    from click.testing import CliRunner

    from assistant.cli import main
    from assistant.terminal_text import MAX_MESSAGE_CELLS

    result = CliRunner().invoke(main, ["prompt", "-b", "x" * 300_000, "hi"])
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert len(lines[0]) <= MAX_MESSAGE_CELLS + len("error: ") and lines[0].endswith("…")


def test_a_notification_keeps_its_lines_but_not_megabytes() -> None:
    from assistant.terminal_text import MAX_MESSAGE_CELLS, message_line

    assert message_line("two\nlines", flatten=False) == "two\nlines"
    shown = message_line("\x1b[31m" + "y" * 1_000_000, flatten=False)
    assert "\x1b" not in shown and len(shown) <= MAX_MESSAGE_CELLS and shown.endswith("…")


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_into_a_full_disk_is_one_line_not_a_traceback(flag: str, tmp_path) -> None:
    import subprocess
    import sys

    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "assistant", flag], stdout=full, stderr=subprocess.PIPE, text=True, timeout=60,
            env={**__import__("os").environ, "ASSISTANT_HOME": str(tmp_path)},
        )
    assert done.returncode == 1
    assert done.stderr.strip() == "error: cannot write to standard output: No space left on device"


def test_a_prompt_as_long_as_the_window_says_why_it_does_not_fit() -> None:
    """Before: "prompt is 16 tokens but the context window is 16 tokens", read as if it fitted."""
    from assistant.errors import ContextOverflowError

    assert "16 tokens and leaves no room for the next token;" in str(ContextOverflowError(16, 16))
    assert "no room" not in str(ContextOverflowError(17, 16))


def test_the_cli_context_share_is_the_chat_apps_format() -> None:
    """Before: 3 tokens of a 131072-token window printed "0.0%" in the CLI, where the chat app says "<0.1%"."""
    from assistant.cli.inspect_tokens import context_share

    assert context_share(3, 131072).startswith("<0.1% of the 131072-token context window")
    assert context_share(8191, 8192).startswith(">99.9% of the 8192-token context window (1 to spare)")


# ---- which limit cut a stored reply: one rule for the chat app, `history show` and the markdown export -------
@pytest.mark.parametrize(
    ("completion_tokens", "words"),
    [(5, "stopped where the context window ends"), (100, "stopped at max tokens")],
)
def test_history_show_and_export_say_which_limit_cut_a_reply(
    assistant_home, tmp_path, completion_tokens: int, words: str
) -> None:
    """Before: ``history show`` and the markdown export said "stopped at max tokens" for a reply the full context
    window cut (5 tokens written of 100 allowed), where raising max tokens does nothing; the chat app told them apart."""
    from click.testing import CliRunner

    from assistant.cli import main
    from assistant.history import HistoryStore, TurnMeta
    from assistant.types import Completion, Timings, Usage

    with HistoryStore.open() as store:
        conversation = store.create_conversation()
        reply = Completion(
            text="cut", model="m", backend="fake", finish_reason="length",
            usage=Usage(prompt_tokens=40, completion_tokens=completion_tokens), timings=Timings(),
        )
        store.record_turn(conversation.id, "hi", reply, TurnMeta(model="m", backend="fake", params={"max_tokens": 100}))
    runner = CliRunner()
    shown = runner.invoke(main, ["history", "show", str(conversation.id)])
    assert shown.exit_code == 0 and words in shown.output
    out = tmp_path / "c.md"
    exported = runner.invoke(main, ["history", "export", str(conversation.id), "--format", "markdown", "-o", str(out)])
    assert exported.exit_code == 0, exported.output
    assert f"*({words})*" in out.read_text(encoding="utf-8")


def test_a_huge_message_a_tokenizer_packs_tightly_is_refused_without_counting_all_of_it() -> None:
    """Before: 8 MB of spaces (SmolLM2 packs ~64 a token) passed the one 16-characters-a-token probe and were then
    counted whole: 70 s and 1.3 GB before "prompt is 125021 tokens". The probe now doubles until it decides."""
    from assistant.backends.fake import FakeBackend
    from assistant.context import fit_to_context
    from assistant.errors import ContextOverflowError
    from assistant.types import Message

    class Packing(FakeBackend):
        longest = 0

        def count_tokens(self, prompt):  # type: ignore[override]
            self.longest = max(self.longest, *(len(m.content) for m in prompt))
            return sum(len(m.content) // 64 + 1 for m in prompt)

    backend = Packing(context_length=256)
    backend.load("m")
    with pytest.raises(ContextOverflowError, match="prompt is at least"):
        fit_to_context(backend, [Message("user", " " * 4_000_000)])
    assert backend.longest <= 64 * 1024  # a few doublings of 256 × 16, never the 4 MB

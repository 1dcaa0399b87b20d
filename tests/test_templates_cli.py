"""``assistant templates …`` and ``assistant prompt -t``, on the fake backend."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from assistant.cli import main
from assistant.default_plugins.template_dirs import builtin_prompts_dir
from assistant.templates import load_template, render_template
from .conftest import run_cli


def cli(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input)


def test_help_does_not_import_the_template_engine() -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from assistant.cli import main\n"
        "for args in (['--help'], ['templates', '--help'], ['prompt', '--help']):\n"
        "    result = CliRunner().invoke(main, args)\n"
        "    assert result.exit_code == 0, result.output\n"
        "print([m for m in ('jinja2', 'yaml', 'assistant.templates') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_list_and_list_json() -> None:
    result = cli("templates", "list")
    assert result.exit_code == 0, result.output
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert {"chat", "zero-shot", "few-shot", "chain-of-thought", "few-shot-sentiment"} <= set(names)
    data = json.loads(cli("templates", "list", "--json").stdout)
    assert {d["name"]: d["source"] for d in data}["few-shot"] == "builtin"


def test_list_lines_up_the_strategy_column_whatever_the_source(user_templates: Path) -> None:
    (user_templates / "mine.jinja").write_text("---\nstrategy: chat\n---\n{{ input }}\n")
    lines = cli("templates", "list").stdout.splitlines()
    mine = next(line for line in lines if line.startswith("mine "))
    builtin = next(line for line in lines if line.startswith("zero-shot "))
    assert mine.index("chat ") == builtin.index("zero-shot  ", len("zero-shot"))


def test_show_prints_the_file_and_its_path() -> None:
    result = cli("templates", "show", "few-shot")
    path = builtin_prompts_dir() / "few-shot.jinja"
    assert result.stdout == path.read_text()
    assert str(path) in result.stderr
    parsed = json.loads(cli("templates", "show", "few-shot", "--json").stdout)
    assert parsed["strategy"] == "few-shot" and parsed["examples"] == 3


def test_path_lists_the_search_order_and_resolves_names(user_templates: Path) -> None:
    lines = cli("templates", "path").stdout.splitlines()
    assert lines[0].split("\t") == [str(user_templates), "user"]
    assert lines[-1].split("\t")[1] == "builtin"
    assert cli("templates", "path", "chat").stdout.strip() == str(builtin_prompts_dir() / "chat.jinja")


@pytest.mark.parametrize("strategy", ["chat", "zero-shot", "few-shot", "chain-of-thought"])
def test_new_writes_a_working_starter(user_templates: Path, strategy: str) -> None:
    result = cli("templates", "new", "mine", "--strategy", strategy)
    assert result.exit_code == 0, result.output
    path = Path(result.stdout.strip())
    assert path == user_templates / "mine.jinja"
    template = load_template("mine")
    assert template.strategy == strategy and template.tests
    assert render_template("mine", input="hello")[-1].role == "user"
    again = cli("templates", "new", "mine")
    assert again.exit_code == 1 and "already exists" in again.stderr
    assert cli("templates", "new", "mine", "--force").exit_code == 0


def test_render_prints_messages(tmp_path: Path) -> None:
    result = cli("templates", "render", "zero-shot", "-v", "task=Translate to French.", "--input", "Thank you")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "[system]\nYou are a helpful assistant. Follow the instruction and answer concisely.\n\n"
        "[user]\nTranslate to French.\n\nThank you\n"
    )
    task = tmp_path / "task.txt"
    task.write_text("Summarize.\n")
    as_json = cli("templates", "render", "zero-shot", "-v", f"task=@{task}", "--input", "-", "--json", input="Long text")
    assert json.loads(as_json.stdout)[-1] == {"role": "user", "content": "Summarize.\n\nLong text"}
    literal = cli("templates", "render", "zero-shot", "-v", "task=@@home", "--input", "x", "--json")
    assert json.loads(literal.stdout)[-1]["content"] == "@home\n\nx"


def test_render_few_shot_inline_on_request() -> None:
    result = cli("templates", "render", "few-shot", "--input", "Q?", "--examples-as", "inline", "--json")
    messages = json.loads(result.stdout)
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[1]["content"].startswith("What is the capital of France? Paris\n\n")


def test_render_errors_are_one_line(user_templates: Path) -> None:
    (user_templates / "two.jinja").write_text("---\nvariables: [a, b]\n---\n{{ a }}{{ b }}\n")
    result = cli("templates", "render", "two")
    assert result.exit_code == 1
    assert result.stderr == "error: template 'two': missing required variable(s) a, b (pass them with -v NAME=VALUE)\n"
    bad_var = cli("templates", "render", "two", "-v", "novalue")
    assert bad_var.exit_code == 1 and "must look like name=value" in bad_var.stderr
    missing_file = cli("templates", "render", "two", "-v", "a=@/nonexistent/file.txt")
    assert missing_file.exit_code == 1 and "does not exist" in missing_file.stderr


def test_render_raw_shows_the_chat_template_text_and_token_count(fake_backend: None) -> None:
    result = cli("templates", "render", "chat", "--input", "hi", "--raw", "-b", "fake", "-m", "x")
    assert result.exit_code == 0, result.output
    text = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert result.stdout == text
    assert f"{len(text.encode()) + 1} tokens of a 2048-token context (fits" in result.stderr


def test_render_raw_of_a_choice_template_shows_the_scored_text(fake_backend: None) -> None:
    result = cli("templates", "render", "few-shot-sentiment", "--input", "Fine.", "--raw", "-b", "fake", "--json")
    data = json.loads(result.stdout)
    assert data["text"].startswith("Classify the sentiment of the review as positive or negative.\n\nReview: ")
    assert data["text"].endswith("Review: Fine.\nSentiment:") and data["context_length"] == 2048


def test_templates_test_prints_the_pass_rate(fake_backend: None, user_templates: Path) -> None:
    (user_templates / "echo.jinja").write_text(
        "---\nvariables: [input]\ntests:\n"
        "  - {input: pass me, expect: {contains: pass me}}\n"
        "  - {name: never, input: x, expect: {equals: y}}\n"
        "---\n{{ input }}\n"
    )
    result = cli("templates", "test", "echo", "-b", "fake")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[:2] == ["PASS  test 1", "FAIL  never: expected 'y', got 'Echo: x'"]
    assert lines[2].startswith("pass rate: 1/2 (50%) [") and lines[2].endswith(" on fake]")
    lenient = cli("templates", "test", "echo", "-b", "fake", "--min-pass-rate", "0.5", "--json")
    assert lenient.exit_code == 0
    assert json.loads(lenient.stdout)["pass_rate"] == 0.5


def test_templates_test_without_tests_is_an_error(fake_backend: None, user_templates: Path) -> None:
    (user_templates / "bare.jinja").write_text("{{ input }}\n")
    result = cli("templates", "test", "bare", "-b", "fake")
    assert result.exit_code == 1 and "has no tests" in result.stderr


def test_import_writes_a_user_template(user_templates: Path, tmp_path: Path) -> None:
    source = tmp_path / "summarize.yaml"
    source.write_text("system: Summarize in the voice of $voice\ndefaults:\n  voice: GlaDOS\nmodel: gpt-4\n")
    result = cli("templates", "import", str(source))
    assert result.exit_code == 0, result.output
    assert Path(result.stdout.strip()) == user_templates / "summarize.jinja"
    assert "'model' dropped" in result.stderr
    assert render_template("summarize", input="Text.") == render_template(
        "summarize", {"voice": "GlaDOS"}, input="Text."
    )
    assert cli("templates", "import", str(source)).exit_code == 1  # exists; --force overwrites


def test_prompt_with_template_streams_the_answer(fake_backend_plugin_file: None) -> None:
    result = run_cli("prompt", "-t", "chat", "-b", "fake", "hello")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Echo: hello\n"
    piped = run_cli("prompt", "-t", "zero-shot", "-b", "fake", "-v", "task=Shout.", input="quiet words\n")
    assert piped.stdout == "Echo: Shout.\n\nquiet words\n"


def test_prompt_chain_of_thought_answer_on_stdout_reasoning_on_stderr(fake_backend_plugin_file: None) -> None:
    result = run_cli("prompt", "-t", "chain-of-thought", "-b", "fake", "Two plus two.\nAnswer: 4")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "4\n"
    assert "Echo: Two plus two." in result.stderr
    failed = run_cli("prompt", "-t", "chain-of-thought", "-b", "fake", "no marker")
    assert failed.returncode == 1 and "error: the reply has no final line starting with 'Answer:'" in failed.stderr


def test_prompt_with_template_json(fake_backend_plugin_file: None, user_templates: Path) -> None:
    result = run_cli("prompt", "-t", "chat", "-b", "fake", "--json", "ping")
    data = json.loads(result.stdout)
    assert data["answer"] == "Echo: ping" and data["template"] == "chat" and data["error"] is None


def test_prompt_template_option_errors(fake_backend_plugin_file: None) -> None:
    no_template = run_cli("prompt", "-b", "fake", "-v", "a=1", "hi")
    assert no_template.returncode == 2 and "need a template" in no_template.stderr
    unknown = run_cli("prompt", "-t", "chat", "-b", "fake", "-v", "colour=red", "hi")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "error: template 'chat': unknown variable(s) colour (it takes: input)"
    missing = run_cli("prompt", "-t", "nope", "-b", "fake", "hi")
    assert missing.returncode == 1 and "no template named 'nope'" in missing.stderr


def test_prompt_without_template_is_unchanged(fake_backend_plugin_file: None) -> None:
    result = run_cli("prompt", "-b", "fake", "hello there")
    assert result.returncode == 0 and result.stdout == "Echo: hello there\n"

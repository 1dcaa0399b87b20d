"""Round 9 (second wave): template batches record their shared -o/-v settings and a --resume made
another way is refused; typed variables refuse a JSON true/false for a number; a prompt's fit against
a context window whose length is unknown.

Each test failed before its fix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from assistant.backends.fake import FakeBackend
from assistant.cli import main
from assistant.errors import ConfigError, TemplateError
from assistant.templates import render_template, template_from_string
from assistant.templates.batch import check_resume

from .interrupt_support import SwallowsCtrlC


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def batch(source: Path, out: Path, *extra: str) -> Result:
    return cli("prompt", "-t", "few-shot", "-b", "fake", "-m", "m", "--batch", str(source), "--out", str(out), *extra)


@pytest.fixture
def first_run(fakes: list[FakeBackend], tmp_path: Path) -> tuple[Path, Path]:
    """One row run with ``-o temperature=0.2 -v input=x``; the input file then grows a second row."""
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text('{"id": 1, "text": "one"}\n')
    done = batch(source, out, "-o", "temperature=0.2", "-o", "max_tokens=8", "-v", "input=x")
    assert done.exit_code == 0, done.output
    source.write_text('{"id": 1, "text": "one"}\n{"id": 2, "text": "two"}\n')
    fakes.clear()
    return source, out


# ---- 1. a template batch's lines say which -o and -v values made them ------------------------------------------
def test_each_line_records_the_shared_variables_and_sampling_settings(first_run: tuple[Path, Path]) -> None:
    """Before: neither the -o settings nor the -v values were on the line (a row's own ``params`` only)."""
    _, out = first_run
    (line,) = lines(out)
    assert line["shared_vars"] == {"input": "x"}
    assert line["sampling"] == {"temperature": 0.2, "max_tokens": 8}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("-o", "temperature=0.9", "-o", "max_tokens=8", "-v", "input=x"), "ran with -o temperature=0.2, this run has -o temperature=0.9"),
        (("-o", "max_tokens=8", "-v", "input=x"), "ran with -o temperature=0.2, this run has no -o temperature"),
        (("-o", "temperature=0.2", "-o", "max_tokens=8", "-v", "input=y"), "ran with -v input=x, this run has -v input=y"),
        (("-o", "temperature=0.2", "-o", "max_tokens=8"), "ran with -v input=x, this run has no -v input"),
    ],
)
def test_a_resume_with_other_shared_settings_is_refused_before_the_model_loads(
    first_run: tuple[Path, Path], fakes: list[FakeBackend], extra: tuple[str, ...], message: str
) -> None:
    """Before: the resume ran row 2 with the new settings beside row 1's, one file of two kinds of result."""
    source, out = first_run
    before = out.read_bytes()
    resumed = batch(source, out, "--resume", *extra)
    assert resumed.exit_code != 0
    (error,) = resumed.stderr.strip().splitlines()
    assert error.startswith("error: --resume: the rows in ") and message in error and "--force" in error
    assert out.read_bytes() == before
    assert all(fake.loaded_model is None for fake in fakes)  # refused before the model loaded


def test_a_resume_with_the_same_settings_runs_the_rest(first_run: tuple[Path, Path]) -> None:
    source, out = first_run
    # The same values, given in another order and spelling (0.20), are the same settings.
    resumed = batch(source, out, "--resume", "-v", "input=x", "-o", "max_tokens=8", "-o", "temperature=0.20")
    assert resumed.exit_code == 0, resumed.output
    assert [line["id"] for line in lines(out)] == [1, 2]
    assert lines(out)[1]["sampling"] == {"max_tokens": 8, "temperature": 0.2}


def test_a_file_of_an_older_version_is_resumed_with_a_note(first_run: tuple[Path, Path]) -> None:
    """Lines without the fields say nothing either way: kept (refusing would leave only --force, every
    row again), with one note that they are unchecked."""
    source, out = first_run
    (line,) = lines(out)
    del line["shared_vars"], line["sampling"]
    out.write_text(json.dumps(line) + "\n")
    resumed = batch(source, out, "--resume", "-o", "temperature=0.9")
    assert resumed.exit_code == 0, resumed.output
    assert "do not record the -v and -o values they ran with" in resumed.stderr
    assert [line["id"] for line in lines(out)] == [1, 2]


def test_failed_lines_are_not_compared(tmp_path: Path) -> None:
    """A failed row runs again whatever made its line."""
    template = template_from_string("{{ input }}", name="t")
    out = tmp_path / "out.jsonl"
    out.write_text(json.dumps({"row": 1, "id": None, "template": "t", "shared_vars": {}, "sampling": {"temperature": 0.1},
                               "error": "boom"}) + "\n")
    assert check_resume(template, out, True, sampling={"temperature": 0.9}) is None
    out.write_text(json.dumps({"row": 1, "id": None, "template": "t", "shared_vars": {}, "sampling": {"temperature": 0.1},
                               "error": None}) + "\n")
    with pytest.raises(ConfigError, match="temperature=0.1, this run has -o temperature=0.9"):
        check_resume(template, out, True, sampling={"temperature": 0.9})


def test_a_long_or_escaping_value_is_shown_clipped_and_visible(first_run: tuple[Path, Path]) -> None:
    source, out = first_run
    resumed = batch(source, out, "--resume", "-o", "temperature=0.2", "-o", "max_tokens=8", "-v", "input=\x1b[31m" + "y" * 200)
    assert resumed.exit_code != 0
    assert "\x1b" not in resumed.stderr and len(resumed.stderr) < 400


# ---- 2. JSON true/false is not a number ------------------------------------------------------------------------
COUNTER = template_from_string(
    "---\nvariables:\n  - {name: input, required: true}\n  - {name: count, default: 3}\n  - {name: ratio, default: 0.5}\n"
    "  - {name: brief, default: false}\n  - {name: tags, default: [a]}\n---\n{{ count + 1 }} {{ ratio }} {{ brief }} {{ input }}\n",
    name="counter",
)


@pytest.mark.parametrize(
    ("name", "value", "takes"),
    [
        ("count", True, "a whole number"),
        ("count", False, "a whole number"),
        ("ratio", True, "a number"),
        ("count", 2.5, "a whole number"),
        ("count", [1], "a whole number"),
        ("brief", 1, "true or false"),
        ("tags", "not json", "a JSON list"),
        ("tags", {"a": 1}, "a list"),
        ("ratio", 10**400, "a number"),
    ],
)
def test_a_typed_value_of_another_type_is_refused(name: str, value: Any, takes: str) -> None:
    """Before: True passed for ``count`` (bool is an int: ``{{ count + 1 }}`` gave 2), 1 for ``brief``,
    2.5 for a whole number, and [1] failed inside the template with a TypeError."""
    with pytest.raises(TemplateError, match=f"variable '{name}' takes {takes}"):
        render_template(COUNTER, {name: value}, input="hi")


def test_typed_values_of_the_right_type_are_taken() -> None:
    (message,) = render_template(COUNTER, {"count": 4, "ratio": 1, "brief": True, "tags": ["b"]}, input="hi")
    assert message.content == "5 1.0 True hi"


def test_a_batch_row_true_for_a_number_fails_its_row(fakes: list[FakeBackend], tmp_path: Path, user_templates: Path) -> None:
    (user_templates / "counter.jinja").write_text(
        "---\nvariables:\n  - {name: input, required: true}\n  - {name: count, default: 3}\n---\n{{ count + 1 }} {{ input }}\n"
    )
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text('{"text": "a", "count": true}\n{"text": "b", "count": 4}\n')
    done = cli("prompt", "-t", "counter", "-b", "fake", "-m", "m", "--batch", str(source), "--out", str(out))
    assert done.exit_code == 1
    first, second = lines(out)
    assert "variable 'count' takes a whole number (its default is 3), not true" in first["error"]
    assert second["error"] is None
    refused = cli("prompt", "-t", "counter", "-b", "fake", "-m", "m", "-v", "count=true", "hi")
    assert refused.exit_code != 0 and "variable 'count' takes a whole number" in refused.stderr


# ---- 3. a prompt's fit when the context window's length is unknown ---------------------------------------------
@pytest.mark.usefixtures("fake_backend")
def test_render_raw_with_an_unknown_context_length_does_not_say_it_does_not_fit() -> None:
    """Before: "-- 21 tokens of a 0-token context (DOES NOT FIT)" for a server that reports no window."""
    shown = cli("templates", "render", "zero-shot", "--input", "hi", "--raw", "-b", "fake", "-m", "m", "-o", "n_ctx=0")
    assert shown.exit_code == 0, shown.output
    last = shown.stderr.strip().splitlines()[-1]
    assert "DOES NOT FIT" not in last and "0-token" not in last
    assert last.startswith("-- ") and "tokens (the context window's length is unknown; set -o n_ctx=N; m)" in last
    known = cli("templates", "render", "zero-shot", "--input", "hi", "--raw", "-b", "fake", "-m", "m", "-o", "n_ctx=4096")
    assert "tokens of a 4096-token context (fits; m)" in known.stderr


# ---- 4. --examples-as turns on a text-scoring template, refused before the load where the backend scores ------
@pytest.mark.parametrize("batch_file", [False, True])
@pytest.mark.parametrize("backend", ["llama-cpp", "transformers"])
def test_turns_on_a_text_scoring_template_are_refused_before_the_model_loads(
    backend: str, batch_file: bool, tmp_path: Path
) -> None:
    """Before: the model loaded (seconds to minutes) and only then did scoring refuse the layout; a model
    that does not exist shows it, the error being the template's, not the missing model's."""
    where = ["--batch", str(tmp_path / "in.jsonl")] if batch_file else ["great film"]
    (tmp_path / "in.jsonl").write_text('{"text": "great film"}\n')
    ran = cli("prompt", "-t", "few-shot-sentiment", "--examples-as", "turns", "-b", backend, "-m", "no-such-model.gguf", *where)
    assert ran.exit_code != 0
    assert ran.stderr.strip() == (
        "error: template 'few-shot-sentiment' scores labels as plain text, which needs the examples inline "
        "(examples_as: inline, or --examples-as inline)"
    )


def test_turns_are_not_refused_before_the_load_where_only_the_loaded_backend_knows() -> None:
    """A server scores only if it turns out to give prompt log-probabilities; one that cannot generates
    the label instead, and turns then work: nothing is refused before it is asked."""
    from assistant.templates import load_template
    from assistant.templates.run import refuse_before_load

    template = load_template("few-shot-sentiment")
    refuse_before_load(template, "turns", "openai")  # no error
    refuse_before_load(template, None, "llama-cpp")  # its own layout (inline): no error
    with pytest.raises(TemplateError, match="needs the examples inline"):
        refuse_before_load(template, "turns", "llama-cpp")


@pytest.mark.usefixtures("fake_backend")
def test_a_backend_that_knows_nothing_before_its_load_is_not_refused_early() -> None:
    """A plugin's backend declares no capabilities before load (it may generate instead of scoring):
    it is loaded and asked, so its own load error comes first here, not the template's."""
    ran = cli("prompt", "-t", "few-shot-sentiment", "--examples-as", "turns", "-b", "fake", "-m", "missing-model", "great")
    assert ran.exit_code != 0
    assert "needs the examples inline" not in ran.stderr and "missing-model" in ran.stderr


# ---- Ctrl-C in a template batch that the engine swallows (llama.cpp's ctypes callbacks) --------------------------
class _SwallowsCtrlC(SwallowsCtrlC):
    """Ctrl-C arrives while the second row decodes, inside an engine callback that drops the exception."""


def test_a_ctrl_c_the_engine_swallows_stops_the_batch_after_that_row(tmp_path: Path) -> None:
    """Before: the row in flight failed ("llama.cpp failed while generating"), a traceback was printed, and the
    batch ran every other row to the end, exit status 0 or 1: Ctrl-C did not stop it."""
    from assistant.backends.fake import FakeBackendPlugin
    from assistant.plugins import register_plugin

    _SwallowsCtrlC.replies = 0
    register_plugin(FakeBackendPlugin(_SwallowsCtrlC), name="fake-swallows-ctrl-c")
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("".join(f'{{"id": {n}, "text": "row {n}"}}\n' for n in range(1, 6)))
    ran = cli("prompt", "-t", "zero-shot", "-b", "fake", "-m", "m", "--batch", str(source), "--out", str(out))
    assert ran.exit_code == 130, ran.output
    assert "batch interrupted; finished rows are saved. rerun with --resume to continue" in ran.stderr
    assert [line["id"] for line in lines(out)] == [1]  # the interrupted row is not written as done
    assert _SwallowsCtrlC.replies == 2  # nothing ran after it

"""Files users feed the template engine: examples files, odd template entries, names, hints.

Templates and the files they name are shared, untrusted data: an ``examples:``
file must stay next to its template, be a regular file of bounded size, and a
bad one must fail that template alone (``templates list`` lists it INVALID with
a one-line reason). Names are checked by one rule for lookups, ``templates new``
and ``templates import``; hints name the way the running command takes input.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from assistant.backends.fake import FakeBackend
from assistant.batch import read_rows
from assistant.cli import main
from assistant.errors import TemplateError
from assistant.templates import list_templates, load_template, render_template
from assistant.templates.batch import run_batch
from assistant.templates.sandbox import MAX_RENDERED_CHARS
from assistant.types import Message

from .conftest import REPO_ROOT

posix_only = pytest.mark.skipif(os.name != "posix", reason="FIFOs, /dev/zero and RLIMIT_AS are POSIX")


def cli(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input)


def few_shot(examples: str) -> str:
    return f"---\nstrategy: few-shot\nexamples: {json.dumps(examples)}\nvariables: [input]\n---\n{{{{ input }}}}\n"


def listed_error(name: str) -> str | None:
    return next(entry.error for entry in list_templates() if entry.name == name)


# ---- examples files (bug: unbounded and unconfined) -----------------------------------


@pytest.mark.parametrize(
    ("examples", "reason"),
    [
        ("/tmp/x/creds.json", "must be a path relative to the template's directory"),
        ("~/creds.json", "must be a path relative to the template's directory"),
        ("../outside/creds.json", "is outside the template's directory"),
        ("secrets.txt", "examples files must be .jsonl, .yaml, .yml, .json"),
    ],
)
def test_examples_file_must_be_a_json_or_yaml_file_beside_the_template(
    user_templates: Path, write_file: Any, examples: str, reason: str
) -> None:
    outside = user_templates.parent / "outside"
    write_file(outside, "creds.json", '[{"input": "secret", "output": "hunter2"}]')
    write_file(user_templates, "secrets.txt", "password")
    write_file(user_templates, "leak.jinja", few_shot(examples))
    with pytest.raises(TemplateError, match=reason) as caught:
        load_template("leak")
    assert "leak.jinja" in str(caught.value) and "\n" not in str(caught.value)
    error = listed_error("leak")
    assert error is not None and reason.split("(")[0] in error


def test_a_symlink_out_of_the_template_directory_is_refused(user_templates: Path, tmp_path: Path, write_file: Any) -> None:
    secret = write_file(tmp_path / "elsewhere", "creds.json", '[{"input": "secret", "output": "hunter2"}]')
    (user_templates / "ex.json").symlink_to(secret)
    write_file(user_templates, "leak.jinja", few_shot("ex.json"))
    with pytest.raises(TemplateError, match="is outside the template's directory"):
        load_template("leak")


def test_examples_in_a_subdirectory_of_the_template_still_load(user_templates: Path, write_file: Any) -> None:
    write_file(user_templates, "data/ex.jsonl", '{"input": "a", "output": "A"}\n')
    (user_templates / "linked.jsonl").symlink_to(user_templates / "data" / "ex.jsonl")
    for name, examples in (("sub", "data/ex.jsonl"), ("linked", "linked.jsonl"), ("dotted", "./data/../data/ex.jsonl")):
        write_file(user_templates, f"{name}.jinja", few_shot(examples))
        assert load_template(name).examples == [{"input": "a", "output": "A"}]


def test_an_examples_file_past_the_size_cap_is_refused_before_it_is_read(user_templates: Path, write_file: Any) -> None:
    (user_templates / "big.jsonl").write_text("x" * (MAX_RENDERED_CHARS + 1))
    write_file(user_templates, "big.jinja", few_shot("big.jsonl"))
    with pytest.raises(TemplateError, match="larger than 1,000,000 characters"):
        load_template("big")


_CAPPED = textwrap.dedent(
    """
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
    from assistant.cli import main
    sys.argv = ["assistant", *sys.argv[1:]]
    main()
    """
)


def run_capped(*args: str) -> subprocess.CompletedProcess[str]:
    """``assistant ARGS`` with the address space capped at 1 GiB and a timeout (a FIFO read
    blocks forever): reading /dev/zero or a sparse 8 GiB file fails here, not the machine."""
    return subprocess.run(
        [sys.executable, "-c", _CAPPED, *args], check=False, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )


@posix_only
def test_templates_list_survives_hostile_examples_files_in_little_memory(user_templates: Path, write_file: Any) -> None:
    """The report: ``examples: /dev/zero`` ended ``templates list`` in a MemoryError for everyone.

    Run with the address space capped at 1 GiB (and a timeout: a FIFO read blocks
    forever), every hostile template must be listed INVALID and the rest listed.
    """
    os.mkfifo(user_templates / "fifo.jsonl")
    with open(user_templates / "sparse.jsonl", "wb") as handle:  # 8 GiB, no disk used
        handle.truncate(8 << 30)
    (user_templates / "zero.jsonl").symlink_to("/dev/zero")
    hostile = {"devzero": "/dev/zero", "fifo": "fifo.jsonl", "sparse": "sparse.jsonl", "linkzero": "zero.jsonl"}
    for name, examples in hostile.items():
        write_file(user_templates, f"{name}.jinja", few_shot(examples))
    done = run_capped("templates", "list")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    lines = {line.split()[0]: line for line in done.stdout.splitlines()}
    assert "must be a path relative to the template's directory" in lines["devzero"]
    assert "is not a regular file" in lines["fifo"]
    assert "larger than 1,000,000 characters" in lines["sparse"]
    assert "is outside the template's directory" in lines["linkzero"]
    assert all("INVALID" in lines[name] for name in hostile)
    assert "INVALID" not in lines["few-shot-sentiment"]  # the rest still list


# ---- template entries that are not regular files --------------------------------------


@posix_only
def test_a_template_symlinked_to_a_device_is_listed_as_not_a_regular_file(user_templates: Path) -> None:
    (user_templates / "z.jinja").symlink_to("/dev/zero")
    (user_templates / "w.jinja").symlink_to(user_templates / "nowhere.jinja")
    assert listed_error("z") == f"template {user_templates / 'z.jinja'} is not a regular file"
    assert listed_error("w") == f"template {user_templates / 'w.jinja'} is a broken symbolic link"
    with pytest.raises(TemplateError, match="is not a regular file"):
        load_template(str(user_templates / "z.jinja"))
    result = cli("templates", "show", "z")
    assert result.exit_code == 1 and "is not a regular file" in result.stderr


def test_template_and_partial_files_past_the_size_cap_are_refused(user_templates: Path, write_file: Any) -> None:
    # Just past what the cap allows (in bytes), so the test stays cheap even without the cap.
    for name in ("huge.jinja", "_huge.jinja"):
        with open(user_templates / name, "wb") as handle:
            handle.truncate(4 * MAX_RENDERED_CHARS + 1)
    assert "larger than 1,000,000 characters" in (listed_error("huge") or "")
    write_file(user_templates, "incl.jinja", '---\nvariables: []\n---\n{% include "_huge" %}\n')
    with pytest.raises(TemplateError, match="larger than 1,000,000 characters"):
        render_template("incl")


def test_read_template_text_counts_characters_not_bytes(tmp_path: Path) -> None:
    from assistant.templates.loader import read_template_text

    wide = tmp_path / "wide.jsonl"
    wide.write_text("é" * MAX_RENDERED_CHARS, encoding="utf-8")  # 2 MB, at the cap
    assert len(read_template_text(wide)) == MAX_RENDERED_CHARS
    wide.write_text("é" * (MAX_RENDERED_CHARS + 1), encoding="utf-8")
    with pytest.raises(TemplateError, match="larger than"):
        read_template_text(wide)


# ---- names: one rule for new, import and lookups --------------------------------------


def test_new_with_a_jinja_suffix_makes_a_template_that_lists_and_renders(user_templates: Path) -> None:
    result = cli("templates", "new", "x.jinja")
    assert result.exit_code == 0, result.output
    assert Path(result.stdout.strip()) == user_templates / "x.jinja"
    assert not (user_templates / "x.jinja.jinja").exists()
    assert listed_error("x") is None
    for name in ("x", "x.jinja"):  # x.jinja: the file if there is one here, else the template x
        rendered = cli("templates", "render", name, "--input", "hi")
        assert rendered.exit_code == 0 and "hi" in rendered.stdout, rendered.output


def test_a_file_ending_in_jinja_twice_is_listed_with_a_reason(user_templates: Path) -> None:
    (user_templates / "y.jinja.jinja").write_text("{{ input }}\n")
    assert listed_error("y.jinja") == "y.jinja.jinja ends in .jinja twice; rename it to y.jinja"


def test_import_checks_the_name_like_new(user_templates: Path, tmp_path: Path) -> None:
    source = tmp_path / "llm.yaml"
    source.write_text("prompt: Hi $input\n")
    new = cli("templates", "new", "a/b")
    imported = cli("templates", "import", "--name", "a/b", str(source))
    assert imported.exit_code == new.exit_code == 1
    assert imported.stderr == new.stderr == (
        "error: invalid template name 'a/b' (letters, digits, '.', '-', '_', starting with a letter or digit)\n"
    )
    suffixed = cli("templates", "import", "--name", "c.jinja", str(source))
    assert suffixed.exit_code == 0 and Path(suffixed.stdout.strip()) == user_templates / "c.jinja"
    spaced = tmp_path / "my llm.yaml"
    spaced.write_text("prompt: Hi $input\n")
    bad_stem = cli("templates", "import", str(spaced))
    assert bad_stem.exit_code == 1 and bad_stem.stderr.strip().endswith("; choose one with --name")


@posix_only
def test_import_refuses_a_file_that_is_not_regular(user_templates: Path) -> None:
    result = run_capped("templates", "import", "--name", "z", "/dev/zero")
    assert result.returncode == 1 and result.stderr == "error: llm template /dev/zero is not a regular file\n"


# ---- --min-pass-rate nan ----------------------------------------------------------------


@pytest.mark.parametrize("rate", ["nan", "NaN", "-nan"])
def test_min_pass_rate_nan_is_a_usage_error(fake_backend: None, user_templates: Path, rate: str) -> None:
    (user_templates / "echo.jinja").write_text(
        "---\nvariables: [input]\ntests:\n  - {input: x, expect: {equals: y}}\n---\n{{ input }}\n"
    )
    result = cli("templates", "test", "echo", "-b", "fake", "--min-pass-rate", rate)
    assert result.exit_code == 2 and "--min-pass-rate" in result.stderr and "not a number" in result.stderr
    assert "pass rate" not in result.stdout  # refused before anything ran


# ---- hints say how the running command takes input ----------------------------------


def test_render_hint_names_the_input_option() -> None:
    result = cli("templates", "render", "zero-shot", input="hi\n")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: template 'zero-shot': missing required variable(s) input "
        "(pass it with --input TEXT, or --input - to read stdin)\n"
    )


def test_prompt_hint_names_text_or_stdin(user_templates: Path) -> None:
    result = cli("prompt", "-t", "zero-shot", input="")
    assert result.exit_code == 1
    assert result.stderr.endswith("missing required variable(s) input (pass input as TEXT or on stdin)\n")


def test_library_hint_and_mixed_missing_variables(user_templates: Path, write_file: Any) -> None:
    write_file(user_templates, "two.jinja", "---\nvariables: [input, topic]\n---\n{{ topic }} {{ input }}\n")
    with pytest.raises(TemplateError, match=r"input \(pass input=TEXT\)$"):
        render_template("zero-shot")
    with pytest.raises(TemplateError, match=r"input, topic \(input: pass input=TEXT; the others: pass them with -v"):
        render_template("two")


def test_a_batch_row_without_text_says_so_like_a_tool_batch(user_templates: Path, write_file: Any, tmp_path: Path) -> None:
    write_file(user_templates, "b.jinja", "---\nvariables: [input, {name: lang, default: en}]\n---\n{{ lang }} {{ input }}\n")
    write_file(user_templates, "opt.jinja", "---\nvariables: [{name: input, default: none}]\n---\n[{{ input }}]\n")
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"text": "one"}\n{"lang": "fr"}\n')
    engine = FakeBackend()
    engine.load("fake-model")
    out = tmp_path / "out.jsonl"
    run_batch(load_template("b"), read_rows(rows), engine, out=out)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records[0]["error"] is None
    assert records[1]["error"] == 'row 2 has no "text" or "input" field (choose one with --input-field)'
    # An input with a default is not needed: such a row runs.
    optional = tmp_path / "opt.jsonl"
    run_batch(load_template("opt"), read_rows(rows), engine, out=optional)
    assert [json.loads(line)["error"] for line in optional.read_text().splitlines()] == [None, None]


# ---- errors in front-matter fields name the file -------------------------------------


def test_an_unsafe_system_field_names_the_file_line_and_field(user_templates: Path) -> None:
    (user_templates / "evil.jinja").write_text(
        "---\nvariables: []\nsystem: |\n  Be nice.\n  {{ ''.__class__ }}\n---\nhi\n", encoding="utf-8"
    )
    with pytest.raises(TemplateError) as caught:
        render_template("evil")
    message = str(caught.value)
    assert message.startswith(f"{user_templates / 'evil.jinja'}:5: in 'system': unsafe operation blocked"), message
    assert "<template>" not in message


def test_an_undefined_name_in_example_template_names_the_field(user_templates: Path, write_file: Any) -> None:
    write_file(
        user_templates,
        "ex.jinja",
        "---\nvariables: [input]\nexamples_as: inline\nexamples: [{input: a, output: A}]\n"
        "example_template: \"{{ prompt }} {{ missing }}\"\nstrategy: few-shot\n---\n{{ input }}\n",
    )
    with pytest.raises(TemplateError, match=r"ex.jinja:5: in 'example_template': 'missing' is undefined"):
        render_template("ex", input="b")


def test_front_matter_fields_render_as_before(user_templates: Path, write_file: Any) -> None:
    write_file(user_templates, "s.jinja", "---\nvariables: [input]\nsystem: |\n  Be {{ input }}.\n---\n{{ input }}\n")
    assert render_template("s", input="kind") == [Message("system", "Be kind."), Message("user", "kind")]


_LAUGHS = (
    "output: &i [&h [&g [&f [&e [&d [&c [&b [&a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"
    + "".join(f", *{level}" * 8 + "]" for level in "abcdefgh")
)


@posix_only
def test_an_example_output_built_from_yaml_aliases_is_measured_before_str(user_templates: Path) -> None:
    """Nine lines of YAML aliases are 9**9 references; ``str()`` of them ran out of memory."""
    (user_templates / "lol.jinja").write_text(
        f"---\nstrategy: few-shot\nvariables: [input]\nexamples:\n  - input: a\n    {_LAUGHS}\n---\n{{{{ input }}}}\n"
    )
    result = run_capped("templates", "render", "lol", "--input", "x")
    assert result.returncode == 1, result.stderr[-2000:]
    assert "lol.jinja: the YAML is larger than 2,000,000 characters once its aliases (*name) are expanded" in result.stderr

"""Round 12, templates as a demanding user: work the sandbox did not count."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.backends.fake import FakeBackend
from assistant.cli import main
from assistant.errors import TemplateError
from assistant.templates import render_template, sandbox, template_from_string

# ---- slices and comparisons are work too ---------------------------------------------------

BIG = '{% set x = "x" * 999999 %}'
UNCHARGED_WORK = {
    # 300 iterations reading or copying a megabyte each: 300 steps of looping, but 300 MB of work
    # (with range(99999) it ran for minutes, with the step counter at 99,999).
    "a reversed slice": BIG + "{% for i in range(300) %}{% if x[::-1] %}{% endif %}{% endfor %}{{ input }}",
    "a slice": BIG + "{% for i in range(300) %}{% if x[1:] %}{% endif %}{% endfor %}{{ input }}",
    "a membership test": BIG + '{% for i in range(300) %}{% if "y" in x %}{% endif %}{% endfor %}{{ input }}',
    "an equality": BIG + "{% for i in range(300) %}{% if x == input %}{% endif %}{% endfor %}{{ input }}",
    "a chained comparison": BIG + '{% for i in range(300) %}{% if "" < x < "y" %}{% endif %}{% endfor %}{{ input }}',
    "the `in` test": BIG + "{% for i in range(300) %}{% if input is in x %}{% endif %}{% endfor %}{{ input }}",
    "the `eq` test": BIG + "{% for i in range(300) %}{% if x is eq input %}{% endif %}{% endfor %}{{ input }}",
    "a list slice": (
        '{% set x = ("x" * 99999)|list %}{% for i in range(300) %}{% if x[1:] %}{% endif %}{% endfor %}{{ input }}'
    ),
    "a list scan": (
        '{% set x = ("x" * 99999)|list %}{% for i in range(300) %}{% if "y" in x %}{% endif %}{% endfor %}{{ input }}'
    ),
}


@pytest.mark.parametrize("body", UNCHARGED_WORK.values(), ids=list(UNCHARGED_WORK))
def test_reading_or_copying_a_large_value_in_a_loop_is_charged(body: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "MAX_RENDER_STEPS", 100_000)  # 300 loop steps; 300,000 of reading
    template = template_from_string(body, "scan")
    with pytest.raises(TemplateError, match="refused by the template sandbox: the template did more than 100,000 steps"):
        render_template(template, input="x")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("{{ input[:3] }}|{{ input[::-1] }}|{{ input[1:-1:2] }}|{{ input[10:] }}", "abc|gfedcba|bdf|"),
        ("{{ (input|list)[2:4]|join }}", "cd"),
        ('{{ "a" < input < "z" }} {{ 1 < 2 < 1 }} {{ "c" in input }} {{ "q" not in input }}', "True False True True"),
        ("{{ input is in 'xxabcdefgxx' }} {{ input is eq 'abcdefg' }} {{ 3 is lt 4 }}", "True True True"),
        ("{% if input[0] == 'a' and input[1:] != '' %}yes{% endif %}", "yes"),
    ],
)
def test_slices_and_comparisons_keep_their_meaning(body: str, expected: str) -> None:
    template = template_from_string(body, "plain")
    assert render_template(template, input="abcdefg")[-1].content == expected


def test_a_slice_with_bad_bounds_is_the_usual_error() -> None:
    template = template_from_string("{{ input['a':] }}", "bad")
    with pytest.raises(TemplateError, match="slice indices must be integers"):
        render_template(template, input="abc")


# ---- every result line names its template ----------------------------------------------------


def test_a_failed_row_line_names_its_template_too(tmp_path: Path, fakes: list[FakeBackend]) -> None:
    """docs/templates.md lists ``template`` among every line's fields; a failed row's line had none,
    so ``jq 'select(.template == "few-shot")'`` dropped exactly the rows to look at."""
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text('{"id": 1, "text": "fine"}\n{"id": 2}\nnot json\n{"id": 4, "text": "x", "params": {"bogus": 1}}\n')
    result = CliRunner().invoke(
        main, ["prompt", "-t", "few-shot", "-b", "fake", "-m", "m", "--batch", str(source), "--out", str(out), "--no-log"]
    )
    assert result.exit_code == 1, result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [record["error"] is None for record in records] == [True, False, False, False]
    assert [record["template"] for record in records] == ["few-shot"] * 4


# ---- templates import: the file is read before its name is judged -------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [(".", "error: llm template . is not a regular file\n"),
     ("missing file.yaml", "error: llm template missing file.yaml does not exist\n")],
)
def test_import_of_a_file_it_cannot_read_says_so(
    given: str, expected: str, tmp_path: Path, user_templates: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``templates import .`` said ``invalid template name ''``, about a file it never read."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["templates", "import", given])
    assert result.exit_code == 1 and result.stderr == expected


def test_an_import_that_would_not_load_names_the_llm_file(tmp_path: Path, user_templates: Path) -> None:
    """The error named ``hot.jinja``, a file that does not exist, for what ``hot.yaml`` said."""
    source = tmp_path / "hot.yaml"
    source.write_text("prompt: $input\noptions:\n  temperature: hot\n")
    result = CliRunner().invoke(main, ["templates", "import", str(source)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {source}: converted, it would not load: ")
    assert "temperature in params must be a number, not 'hot'" in result.stderr
    assert not (user_templates / "hot.jinja").exists()

"""Round 17, lead: what joining the helpers' work needed (one check's canonical value for tool and template)."""

from __future__ import annotations

from click.testing import CliRunner

from assistant.cli import main
from assistant.templates import render_template


def test_the_translate_template_receives_the_language_its_check_names() -> None:
    """`prompt -t translate -v target=fr` rendered "to fr" while `tool translate --to fr` asked "to French":
    the check (`check: translate.to`) knew the name and its answer was thrown away."""
    messages = render_template("translate", {"target": "fr", "source": "de"}, input="Guten Morgen.")
    text = messages[-1]["content"] if isinstance(messages[-1], dict) else messages[-1].content
    assert "from German to French." in text


def test_the_shown_prompt_of_the_translate_template_names_the_language() -> None:
    result = CliRunner().invoke(
        main, ["templates", "render", "translate", "-v", "target=ja", "--input", "Hello."]
    )
    assert result.exit_code == 0, result.output
    assert "to Japanese." in result.output and "to ja." not in result.output


def test_a_translate_batch_written_before_the_check_named_its_language_resumes(fakes: list, tmp_path) -> None:
    """A results file from the version that recorded ``"to": "fr"``: now that the check names it "French",
    `--resume --to fr` was refused as "ran with to=fr, this run has to=French" (only --force went on)."""
    import json

    rows, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    rows.write_text('"one"\n"two"\n"three"\n')
    base = ["translate", "--to", "fr", "-b", "fake", "-m", "m", "--batch", str(rows), "--out", str(out), "--no-log"]
    assert CliRunner().invoke(main, base).exit_code == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines[0]["params"]["to"] == "French"
    for line in lines:  # as the older version wrote them, the last row not done
        line["params"]["to"] = "fr"
    out.write_text("".join(json.dumps(line) + "\n" for line in lines[:2]))
    resumed = CliRunner().invoke(main, [*base, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert [json.loads(line)["input"] for line in out.read_text().splitlines()] == ["one", "two", "three"]
    out.write_text("".join(json.dumps(line) + "\n" for line in lines[:2]))
    other = CliRunner().invoke(main, [*base[:2], "de", *base[3:], "--resume"])
    assert other.exit_code == 1 and "ran with to=French, this run has to=German" in other.output

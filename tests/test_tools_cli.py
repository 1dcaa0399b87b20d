"""``assistant tools``, ``assistant tool NAME`` and the shortcuts, in a subprocess with the fake backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import run_cli

pytestmark = pytest.mark.usefixtures("fake_backend_plugin_file")
FAKE = ("-b", "fake", "-m", "fake-model")


def test_tools_lists_each_tool_with_its_plugin() -> None:
    proc = run_cli("tools")
    assert proc.returncode == 0, proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines()}
    for name in ("summarize", "translate", "ner", "sentiment"):
        assert f"[plugin: {name}]" in lines[name]
    data = json.loads(run_cli("tools", "--json").stdout)
    assert {t["name"] for t in data["tools"]} >= {"summarize", "translate", "ner", "sentiment"}
    assert data["failures"] == []


def test_a_broken_plugin_is_named_and_the_other_tools_still_list_and_run(assistant_home: Path) -> None:
    (assistant_home / "config" / "plugins" / "broken_tools.py").write_text(
        "from assistant import hookimpl\n\n@hookimpl\ndef register_tools(register):\n    raise RuntimeError('kaput')\n"
    )
    proc = run_cli("tools")
    assert proc.returncode == 0
    assert "broken_tools" in proc.stderr and "kaput" in proc.stderr
    assert "sentiment" in proc.stdout
    proc = run_cli("sentiment", *FAKE, "fine")
    assert proc.returncode == 0, proc.stderr


def test_sentiment_json_from_an_argument() -> None:
    proc = run_cli("sentiment", *FAKE, "--json", "--labels", "positive,negative,neutral", "It was fine.")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["label"] in ("positive", "negative", "neutral")
    assert abs(sum(data["probabilities"].values()) - 1) < 1e-3


def test_input_from_stdin_dash_and_file(tmp_path: Path) -> None:
    piped = run_cli("tool", "ner", *FAKE, "--json", input="Ana met Bob in Paris.")
    dashed = run_cli("ner", *FAKE, "--json", "-", input="Ana met Bob in Paris.")
    source = tmp_path / "in.txt"
    source.write_text("Ana met Bob in Paris.")
    from_file = run_cli("ner", *FAKE, "--json", "--file", str(source))
    for proc in (piped, dashed, from_file):
        assert proc.returncode == 0, proc.stderr
    assert json.loads(piped.stdout) == json.loads(dashed.stdout) == json.loads(from_file.stdout)
    for entity in json.loads(piped.stdout)["entities"]:
        assert "Ana met Bob in Paris."[entity["start"] : entity["end"]] == entity["text"]


def test_no_input_and_conflicting_inputs_are_usage_errors(tmp_path: Path) -> None:
    assert run_cli("sentiment", *FAKE).returncode == 2
    source = tmp_path / "in.txt"
    source.write_text("x")
    proc = run_cli("sentiment", *FAKE, "text", "--file", str(source))
    assert proc.returncode == 2 and "not both" in proc.stderr


def test_translate_requires_to() -> None:
    proc = run_cli("translate", *FAKE, "Hello")
    assert proc.returncode == 2 and "--to" in proc.stderr
    proc = run_cli("tool", "translate", *FAKE, "Hello")
    assert proc.returncode == 2 and "-p to=VALUE" in proc.stderr
    proc = run_cli("translate", *FAKE, "--to", "fr", "--from", "en", "--json", "Hello.\n\nBye.")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert (data["target"], data["source"], data["paragraphs"]) == ("French", "English", 2)
    assert data["translation"].count("\n\n") == 1


def test_parameters_by_option_and_by_p_agree() -> None:
    by_option = run_cli("summarize", *FAKE, "--length", "sentence", "--json", "Some text.")
    by_p = run_cli("tool", "summarize", *FAKE, "-p", "length=sentence", "--json", "Some text.")
    assert by_option.returncode == by_p.returncode == 0, by_option.stderr + by_p.stderr
    assert json.loads(by_option.stdout) == json.loads(by_p.stdout)
    assert json.loads(by_p.stdout)["length"] == "sentence"


def test_bad_parameters_fail_before_loading_a_model() -> None:
    proc = run_cli("tool", "sentiment", "-b", "fake", "-m", "missing-model", "-p", "colour=red", "x")
    assert proc.returncode == 1 and "no parameter 'colour'" in proc.stderr
    proc = run_cli("sentiment", *FAKE, "-o", "temperature=0.5", "x")
    assert proc.returncode == 1 and "-p key=value" in proc.stderr
    proc = run_cli("tool", "nope", *FAKE, "x")
    assert proc.returncode == 1 and "unknown tool 'nope'" in proc.stderr


def test_long_input_reports_progress_and_never_overflows() -> None:
    text = "\n\n".join(" ".join(f"Part {p} sentence {s} is here." for s in range(15)) for p in range(10))
    proc = run_cli("summarize", *FAKE, "-o", "n_ctx=512", "--json", input=text)
    assert proc.returncode == 0, proc.stderr
    assert "summarize: [0/" in proc.stderr and "combining" in proc.stderr
    assert json.loads(proc.stdout)["chunks"] > 1


def test_batch_runs_every_line_and_keeps_failures_as_error_lines(tmp_path: Path) -> None:
    batch = tmp_path / "in.jsonl"
    batch.write_text(
        "\n".join(
            [
                json.dumps({"id": "a", "text": "Great stuff."}),
                json.dumps("A bare string works too."),
                "{not json",
                json.dumps({"id": "d", "text": "Custom labels.", "params": {"labels": "happy,sad"}}),
                json.dumps({"id": "e", "nope": 1}),
                "",
            ]
        )
    )
    out = tmp_path / "out.jsonl"
    proc = run_cli("sentiment", *FAKE, "--batch", str(batch), "--output", str(out))
    assert proc.returncode == 1 and "2 of 5 inputs failed" in proc.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["line"] for r in records] == [1, 2, 3, 4, 5]
    assert [("result" in r, "error" in r) for r in records] == [(1, 0), (1, 0), (0, 1), (1, 0), (0, 1)]
    assert records[0]["id"] == "a" and records[0]["text"] == "Great stuff."
    assert set(records[3]["result"]["probabilities"]) == {"happy", "sad"}
    assert "not JSON" in records[2]["error"]


def test_generic_tool_batch_to_stdout(tmp_path: Path) -> None:
    batch = tmp_path / "in.jsonl"
    batch.write_text(json.dumps({"text": "Ana met Bob."}) + "\n" + json.dumps({"text": "Paris."}) + "\n")
    proc = run_cli("tool", "ner", *FAKE, "--batch", str(batch))
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(records) == 2 and all("entities" in r["result"] for r in records)
    assert run_cli("tool", "ner", *FAKE, "--batch", str(batch), "text").returncode == 2

"""Round 9: templates, batches and the summarize/translate tools as a demanding user meets them.

Each test failed before its fix.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from assistant.batch import read_rows, run_rows
from assistant.errors import TemplateError
from assistant.templates import load_template, render_template, template_from_string
from assistant.tools import get_tool

from .test_tools_fake import RecordingFake


# ---- translate: a CRLF file keeps its line ends inside paragraphs ---------------------------------------------
def _reply(prompt: str) -> str:
    return "Bonjour.\nComment ça va ?" if "How are you" in prompt else "Je vais bien."


def test_a_crlf_paragraph_of_several_lines_is_translated_with_crlf_line_ends() -> None:
    """Before: "Hello there.\\r\\nHow are you today?" came back as "Bonjour.\\nComment ça va ?", so the
    translated file mixed LF (inside paragraphs) and CRLF (between them)."""
    text = "Hello there.\r\nHow are you today?\r\n\r\nI am fine.\r\n"
    result = get_tool("translate").run(text, RecordingFake(reply=_reply), to="fr")
    assert result.translation == "Bonjour.\r\nComment ça va ?\r\n\r\nJe vais bien.\r\n"


def test_an_lf_paragraph_keeps_lf_whatever_the_model_writes() -> None:
    backend = RecordingFake(reply=lambda prompt: "Bonjour.\r\nComment ça va ?")
    result = get_tool("translate").run("Hello there.\nHow are you today?\n", backend, to="fr")
    assert result.translation == "Bonjour.\nComment ça va ?\n"


# ---- translate: progress within one long paragraph ------------------------------------------------------------
def _one_long_line(words: int = 700) -> str:
    return " ".join(f"The cat number {n} sat on the mat." for n in range(words // 8))


def test_a_one_line_file_of_many_pieces_reports_each_piece() -> None:
    """Before: progress was reported per paragraph only when there were several, so a file that is one
    enormous line (twelve pieces, minutes on a CPU) printed nothing until it was done."""
    calls: list[tuple[int, int, str]] = []
    backend = RecordingFake(reply="Le chat.")
    result = get_tool("translate").run(
        _one_long_line(), backend, to="fr", progress=lambda done, total, message: calls.append((done, total, message))
    )
    pieces = backend.generations
    assert pieces > 1 and result.paragraphs == 1
    assert calls[0] == (0, pieces, f"translating piece 1 of {pieces}")
    assert calls[-1] == (pieces, pieces, "done")
    assert [message for _, _, message in calls[:-1]] == [f"translating piece {n} of {pieces}" for n in range(1, pieces + 1)]


def test_paragraphs_of_one_piece_each_are_reported_as_before() -> None:
    calls: list[str] = []
    get_tool("translate").run(
        "Hello.\n\nGood night.", RecordingFake(reply="Bonsoir."), to="fr",
        progress=lambda done, total, message: calls.append(f"[{done}/{total}] {message}"),
    )
    assert calls == ["[0/2] translating paragraph 1 of 2", "[1/2] translating paragraph 2 of 2", "[2/2] done"]


def test_a_long_piece_ticks_with_its_token_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: one piece generating for a minute showed nothing (summarize ticked, translate did not)."""
    tool = get_tool("translate")
    monkeypatch.setattr(tool.tool, "tick_seconds", 0.0)
    calls: list[str] = []
    tool.run("Hello there.", RecordingFake(reply="Bonjour."), to="fr", progress=lambda d, t, m: calls.append(m))
    assert "translating paragraph 1 of 1 (3 tokens)" in calls


# ---- translate: a reply that loops is not asked for again at four times the budget ----------------------------
def test_a_reply_going_round_in_a_loop_is_not_retried_with_a_longer_budget() -> None:
    """Before: SmolLM2 looping ("le début de la lumière, le début de la lumière, …") to the budget of
    twice the piece was asked again with eight times it, and looped five times as long: a 26 kB one-line
    file ran past five minutes."""
    backend = RecordingFake(reply="le début de la lumière, " * 400)
    result = get_tool("translate").run("The cat sat on the mat near the door of an old house.", backend, to="fr")
    assert backend.generations == 1
    assert result.cut == [1] and result.finish_reason == "length"


def test_a_reply_that_is_only_long_still_gets_the_longer_budget() -> None:
    source = "The cat sleeps on the warm windowsill every afternoon."
    translation = "Кошка спит на тёплом подоконнике каждый день после обеда, пока дети в школе сидят."
    backend = RecordingFake(reply=translation, context_length=4096)
    result = get_tool("translate").run(source, backend, to="ru")
    assert (backend.generations, result.translation, result.cut) == (2, translation, [])


def test_looping_sees_a_unit_cut_anywhere_and_not_ordinary_text() -> None:
    looping: Any = sys.modules[type(get_tool("translate").tool).__module__].looping
    assert looping("le début de la lumière, " * 10 + "le déb")
    assert looping("-" * 80)
    assert not looping("A normal sentence that ends here, with no loop in it at all, none whatsoever.")
    assert not looping("ha ha ha")  # too short to tell


# ---- batch rows: numbers no JSON reader takes back ------------------------------------------------------------
def test_a_row_number_too_large_for_a_float_fails_its_row_and_writes_no_infinity(tmp_path: Path) -> None:
    """Before: ``"count": 1e400`` was read as infinity and the result line held ``Infinity``, which
    jq and every strict JSON reader refuse (``NaN`` and ``Infinity`` themselves were already refused)."""
    source = tmp_path / "rows.jsonl"
    source.write_text('{"id": 1e400, "text": "hi"}\n{"id": 2, "text": "ok", "count": -1e999}\n{"id": 3, "text": "fine"}\n')
    rows = read_rows(source)
    assert [row.error for row in rows] == [
        "row 1 is not JSON: the number 1e400 is too large (it would be infinity)",
        "row 2 is not JSON: the number -1e999 is too large (it would be infinity)",
        None,
    ]
    out = tmp_path / "out.jsonl"
    run_rows(rows, lambda row: {"answer": "x"}, out=out)
    for line in out.read_text().splitlines():
        json.loads(line, parse_constant=lambda name: pytest.fail(f"{name} in a result line"))


def test_a_row_number_of_thousands_of_digits_is_refused_in_words(tmp_path: Path) -> None:
    """Before: the error told the user to call ``sys.set_int_max_str_digits()``."""
    source = tmp_path / "rows.jsonl"
    source.write_text('{"text": "hi", "n": ' + "9" * 5000 + "}\n" + '{"text": "hi", "n": 1.5e3, "m": 12}\n')
    first, second = read_rows(source)
    assert first.error == f"row 1 is not JSON: the number {'9' * 39}… has too many digits (5,000)"
    assert second.error is None and second.values["n"] == 1500.0 and second.values["m"] == 12


# ---- -v values for a number variable ---------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["nan", "inf", "-Infinity", "1e400"])
def test_a_number_variable_refuses_text_that_is_no_finite_number(text: str) -> None:
    """Before: ``-v ratio=nan`` rendered "nan" into the prompt, where "ratio=x" was refused as no number."""
    template = template_from_string("---\nvariables:\n  - {name: ratio, default: 1.5}\n---\n{{ ratio }}", name="t")
    with pytest.raises(TemplateError, match=f"variable 'ratio' takes a number \\(its default is 1.5\\), not '{text}'"):
        render_template(template, {"ratio": text})
    assert render_template(template, {"ratio": " 2.5 "})[-1].content == "2.5"


# ---- chain-of-thought: an answer line cut at max_tokens ---------------------------------------------------------
_COT = "---\nstrategy: chain-of-thought\n---\n{{ input }}"


def _cot_run(reply: str, max_tokens: int) -> Any:
    from assistant.backends.fake import FakeBackend
    from assistant.templates import run_template

    backend = FakeBackend(reply=reply)
    backend.load("fake-model")
    template = template_from_string(_COT, name="cot")
    return run_template(template, input="How much do 11 pens at 12 cost?", backend=backend, params={"max_tokens": max_tokens})


def test_an_answer_line_cut_at_max_tokens_is_an_error_not_a_shorter_answer() -> None:
    """Before: SmolLM2's "…= 111.\\nAnswer: 111" cut at 46 tokens gave the answer "1", exit status 0."""
    reply = "12 * 11 = 132. So 111.\nAnswer: 111"
    result = _cot_run(reply, len(reply.encode()) - 2)
    assert result.output == reply[:-2] and result.finish_reason == "length"
    assert result.answer is None
    assert result.error.startswith("the reply was cut inside its final 'Answer:' line, so the answer may be incomplete")
    bare = _cot_run("12 * 11 = 132.\nAnswer:\n132 dollars", len("12 * 11 = 132.\nAnswer:\n13"))
    assert bare.answer is None and "cut inside its final 'Answer:' line" in bare.error


def test_an_answer_line_followed_by_more_text_is_whole_even_in_a_cut_reply() -> None:
    result = _cot_run("So 132.\nAnswer: 132\nThe shop also sells rulers at", 30)
    assert (result.finish_reason, result.answer, result.error) == ("length", "132", None)
    whole = _cot_run("So 132.\nAnswer: 132", 200)
    assert (whole.finish_reason, whole.answer, whole.error) == ("stop", "132", None)


# ---- template batches: --resume on another model -------------------------------------------------------------
def test_a_template_batch_resumed_on_another_model_is_refused(tmp_path: Path) -> None:
    """Before: a tool batch refused it, a template batch appended gemma3-270m's answers to smollm2's
    in one results file, nothing on the file saying the batch was two results."""
    from assistant.backends.fake import FakeBackend
    from assistant.errors import ConfigError
    from assistant.templates.batch import run_batch

    source = tmp_path / "rows.jsonl"
    source.write_text('{"id": 1, "text": "a"}\n{"id": 2, "text": "b"}\n')
    rows = read_rows(source)
    out = tmp_path / "out.jsonl"
    first = FakeBackend(reply="one")
    first.load("model-one")
    template = template_from_string("{{ input }}", name="echo")
    run_batch(template, rows[:1], first, out=out)
    other = FakeBackend(reply="two")
    other.load("model-two")
    with pytest.raises(ConfigError, match=r"--resume: the rows in .*out.jsonl ran on model-one \(fake\), this run on model-two"):
        run_batch(template, rows, other, out=out, resume=True)
    assert len(out.read_text().splitlines()) == 1  # nothing added
    summary = run_batch(template, rows, first, out=out, resume=True)
    assert (summary.done, summary.skipped) == (1, 1)


# ---- --resume onto something that is not a file ---------------------------------------------------------------
def test_resume_onto_a_fifo_or_device_is_refused_rather_than_read_for_ever(tmp_path: Path) -> None:
    """Before: ``--out /dev/stdout --resume`` read stdout for the rows done: it hung on a pipe, and
    on a terminal waited for keys."""
    import os

    from assistant.batch import check_output
    from assistant.errors import ConfigError

    fifo = tmp_path / "results.fifo"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="--resume reads the rows done from --out, and .*results.fifo is not a regular file"):
        check_output(fifo, resume=True)
    check_output(Path("/dev/null"), resume=False)  # writing to a device is fine
    with pytest.raises(ConfigError, match="/dev/null is not a regular file"):
        check_output(Path("/dev/null"), resume=True)


# ---- template batch rows with blank text -----------------------------------------------------------------------
def test_a_template_batch_row_with_blank_text_fails_as_one_without_text(tmp_path: Path) -> None:
    """Before: ``{"text": ""}`` on few-shot rendered the examples with no query after them, the
    messages ended with the last example's answer, and the model's reply to nobody ("Hello! I")
    was the row's answer; ``prompt -t few-shot ""`` refuses blank input as missing."""
    from assistant.backends.fake import FakeBackend
    from assistant.templates.batch import run_batch

    source = tmp_path / "rows.jsonl"
    source.write_text('{"text": ""}\n{"text": "  \\n"}\n{"input": ""}\n{"text": "What is 2+2?"}\n')
    backend = FakeBackend(reply="4")
    backend.load("fake-model")
    out = tmp_path / "out.jsonl"
    summary = run_batch(load_template("few-shot"), read_rows(source), backend, out=out)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["error"] for line in lines] == [
        'row 1 has an empty "text" field',
        'row 2 has an empty "text" field',
        'row 3 has an empty "input" field',
        None,
    ]
    assert (summary.done, summary.failed, lines[-1]["answer"]) == (1, 3, "4")
    optional = template_from_string("---\nvariables:\n  - {name: input, default: nothing}\n---\n[{{ input }}]", name="o")
    run_batch(optional, read_rows(source)[:1], backend, out=tmp_path / "o.jsonl")
    assert json.loads((tmp_path / "o.jsonl").read_text())["vars"] == {}  # the default applies

"""Round 4 user tests of the tools: each test fails without its fix.

1. A CRLF file's paragraphs were one paragraph: translate merged them and lost the layout;
2. a tool batch could not take a required parameter from its rows (``{"params": {"to": "fr"}}``);
3. ``summarize --length bullets`` cut an item the model wrapped onto a second line;
4. translating one line kept the model's remark on the lines after the translation;
5. ``summarize --length sentence`` said "cut at its token budget" of a whole first sentence.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from assistant.backends.fake import FakeBackend
from assistant.errors import ConfigError
from assistant.tools import get_tool
from assistant.tools.base import Parameter, ParameterSet
from assistant.tools.text import chunk_text, split_paragraphs

from .conftest import run_cli


def fake(reply: Any = None, context_length: int = 2048) -> FakeBackend:
    backend = FakeBackend(reply=reply, context_length=context_length)
    backend.load("fake-model")
    return backend


def last_user_text(prompt: str) -> str:
    """The input inside a tool's chat prompt (after the instruction's blank line)."""
    turn = prompt.rsplit("<|im_start|>user\n", 1)[-1].split("<|im_end|>", 1)[0]
    return turn.split("\n\n", 1)[-1]


# ---- 1. CRLF paragraphs ---------------------------------------------------------------------------------
CRLF_TEXT = "Good morning.\r\n\r\nThank you very much.\r\n\r\n\r\nGood night.\r\n"


def test_crlf_blank_lines_separate_paragraphs_and_the_layout_joins_back() -> None:
    lead, paragraphs = split_paragraphs(CRLF_TEXT)
    assert [p.text for p in paragraphs] == ["Good morning.", "Thank you very much.", "Good night."]
    assert lead + "".join(p.text + p.separator for p in paragraphs) == CRLF_TEXT


def test_translate_keeps_a_crlf_files_paragraphs_and_line_ends() -> None:
    backend = fake(reply=lambda prompt: last_user_text(prompt).upper())
    result = get_tool("translate").run(CRLF_TEXT, backend, to="en")
    assert result.translation == "GOOD MORNING.\r\n\r\nTHANK YOU VERY MUCH.\r\n\r\n\r\nGOOD NIGHT.\r\n"
    assert result.paragraphs == 3


def test_chunking_a_crlf_document_splits_it_at_its_paragraphs() -> None:
    backend = fake()  # its tokens are bytes: a 39-byte sentence, two to a paragraph, fit three to a chunk
    sentence = "word " * 7 + "end."
    paragraphs = [f"{sentence} {sentence}" for _ in range(4)]
    chunks = chunk_text("\r\n\r\n".join(paragraphs), backend.count_tokens, 130)
    assert chunks == paragraphs  # a paragraph each, not three sentences packed across paragraphs


# ---- 2. a required parameter from each batch row --------------------------------------------------------
def test_shared_batch_parameters_may_leave_a_required_one_to_the_rows() -> None:
    declared = ParameterSet("t", (Parameter("to", required=True), Parameter("n", "int", default=2)))
    assert declared.resolve({"n": "3"}, require=False) == {"n": 3}
    with pytest.raises(ConfigError, match="needs the parameter 'to'"):
        declared.resolve({"n": "3"})
    with pytest.raises(ConfigError, match="needs a whole number"):
        declared.resolve({"n": "x"}, require=False)  # the values given are still checked


def test_a_translate_batch_takes_the_target_language_from_each_row(
    fake_backend_plugin_file: Path, tmp_path: Path
) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        json.dumps({"id": "fr", "text": "Good morning.", "params": {"to": "fr", "from": "en"}}) + "\n"
        + json.dumps({"id": "none", "text": "Good morning."}) + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    result = run_cli("translate", "-b", "fake", "--batch", str(rows), "--out", str(out), "--no-log")
    assert result.returncode == 1, result.stderr  # one row failed: exit status 1, as for any batch
    records = {r["id"]: r for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    assert records["fr"]["error"] is None
    assert (records["fr"]["result"]["target"], records["fr"]["result"]["source"]) == ("French", "English")
    assert "needs the parameter 'to" in records["none"]["error"]


def test_a_batch_still_refuses_a_bad_shared_value_before_any_row(
    fake_backend_plugin_file: Path, tmp_path: Path
) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"text": "Good morning.", "params": {"to": "fr"}}) + "\n", encoding="utf-8")
    result = run_cli("translate", "-b", "fake", "--from", "xx", "--batch", str(rows), "--no-log")
    assert result.returncode == 1 and "unknown language code 'xx'" in result.stderr
    assert result.stdout == ""


# ---- 3. wrapped bullet items ----------------------------------------------------------------------------
WRAPPED_LIST = (  # shaped like SmolLM2-135M's reply for the first 9,000 characters of the GPL
    "This license includes the following:\n\n"
    "1. The right to copy any work that you create or\n"
    "   modify.  This means anything.\n\n"
    "2. You may use this license.\n"
    "3. You must provide a copy\n"
    "to anyone who asks.\n"
    "4. The source is available.\n"
    "I hope this helps!"
)  # under 250 bytes: the fake backend's tokens are bytes, and bullets stop at 250 tokens


def test_a_bullet_the_model_wrapped_keeps_its_continuation_lines() -> None:
    result = get_tool("summarize").run("Some text to summarise, long enough to need a summary: a dozen words or more.", fake(reply=WRAPPED_LIST), length="bullets")
    assert result.finish_reason == "stop"
    assert result.summary.splitlines() == [
        "- The right to copy any work that you create or modify.  This means anything.",
        "- You may use this license.",
        "- You must provide a copy to anyone who asks.",
        "- The source is available.",
    ]  # the closing remark after a finished item is not part of it


# ---- 4. one line in, one line out -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("reply", "to", "expected"),
    [
        ("おはようございます。\nIn Japanese, the phrase \"Good morning\" is often translated", "ja", "おはようございます。"),
        ("Sure! Here it is:\n\nBonjour.", "fr", "Bonjour."),
        ("\"Bonjour.\"\nThis is a common greeting.", "fr", "Bonjour."),
    ],
)
def test_translating_one_line_drops_the_models_remark_after_it(reply: str, to: str, expected: str) -> None:
    assert get_tool("translate").run("Good morning.", fake(reply=reply), to=to).translation == expected


def test_a_multi_line_paragraph_keeps_its_lines() -> None:
    backend = fake(reply=lambda prompt: last_user_text(prompt).upper())
    poem = "Roses are red,\nviolets are blue."
    assert get_tool("translate").run(poem, backend, to="en").translation == poem.upper()


# ---- 5. a whole first sentence is a whole one-sentence summary ------------------------------------------
def test_a_sentence_summary_cut_after_its_first_sentence_is_not_reported_cut() -> None:
    reply = "The council will build a new library. " + "It will have many books and rooms " * 10
    result = get_tool("summarize").run("Some text to summarise, long enough to need a summary: a dozen words or more.", fake(reply=reply), length="sentence")
    assert (result.summary, result.finish_reason) == ("The council will build a new library.", "stop")
    assert "cut at its token budget" not in result.to_text()


def test_a_sentence_summary_cut_inside_its_sentence_still_says_so() -> None:
    reply = "The council will build a new library with " + "many books and rooms and " * 10
    result = get_tool("summarize").run("Some text to summarise, long enough to need a summary: a dozen words or more.", fake(reply=reply), length="sentence")
    assert result.finish_reason == "length" and "cut at its token budget" in result.to_text()

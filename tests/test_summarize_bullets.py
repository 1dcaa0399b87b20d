"""``summarize --length bullets``: the model's list in any style, else its short prose one sentence a bullet.

SmolLM2-135M answers the bullets prompt with a paragraph most of the time
(docs/tools.md); these tests pin the cleaning and the conversion on the fake
backend. The real model is tested in tests/test_tools_model.py.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

from assistant.backends.fake import FakeBackend
from assistant.errors import ToolError
from assistant.tools import get_tool


def summarize_module() -> Any:
    return sys.modules[type(get_tool("summarize").tool).__module__]


def fake(reply: str) -> FakeBackend:
    backend = FakeBackend(reply=reply, context_length=2048)
    backend.load("fake-model")
    return backend


PROSE = (
    "Here is a short summary: The council approved a new library. "
    "It will cost 14 million dollars. Building starts next spring."
)


def test_a_short_prose_reply_becomes_one_bullet_per_sentence() -> None:
    assert summarize_module().prose_bullets(PROSE) == (
        "- The council approved a new library.\n- It will cost 14 million dollars.\n- Building starts next spring."
    )


def test_wrapping_quotes_are_taken_off_converted_sentences() -> None:
    reply = '"The meeting moved to 2pm. Bring the March figures."'
    assert summarize_module().prose_bullets(reply) == "- The meeting moved to 2pm.\n- Bring the March figures."


@pytest.mark.parametrize(
    "reply",
    [
        "Only one sentence here.",
        " ".join(f"Sentence number {i} is here." for i in range(9)),  # a copy of the text, not a summary
        "# quickcsv\nA library for CSV files. It is fast.",
        "It is installed with pip. Then:\n```python\nimport quickcsv\n```",
        "| a | b |\n| 1 | 2 |\nTwo rows. A table.",
        "   ",
    ],
)
def test_replies_that_are_no_short_prose_are_not_converted(reply: str) -> None:
    assert summarize_module().prose_bullets(reply) is None


def test_repeated_list_markers_are_one_marker() -> None:
    reply = "*   First point.\n*  *   Second point.\n1. - Third point."
    assert summarize_module().clean_bullets(reply) == "- First point.\n- Second point.\n- Third point."


def test_a_prose_reply_is_converted_without_a_retry_and_the_result_says_so() -> None:
    backend = fake(PROSE)
    calls: list[int] = []
    stream = backend.stream

    def counted(prompt: Any, params: Any) -> Any:
        calls.append(1)
        return stream(prompt, params)

    backend.stream = counted  # type: ignore[method-assign]
    result = get_tool("summarize").run("Some text to summarise, long enough to need a summary: a dozen words or more.", backend, length="bullets")
    assert len(calls) == 1
    assert result.summary.splitlines()[0] == "- The council approved a new library."
    assert result.to_dict()["bullets"] == "sentences"
    assert result.to_text().endswith("[the model wrote prose: each bullet is one of its sentences]")


def test_a_listed_reply_is_the_models_list_with_no_note() -> None:
    result = get_tool("summarize").run("Some text to summarise, long enough to need a summary: a dozen words or more.", fake("Points:\n1. First.\n2. Second."), length="bullets")
    assert result.summary == "- First.\n- Second."
    assert result.to_dict()["bullets"] == "list"
    assert result.to_text() == "- First.\n- Second."


def test_a_document_copy_is_still_an_error_after_the_retry() -> None:
    with pytest.raises(ToolError, match="usable summary"):
        get_tool("summarize").run("Some text to summarise, long enough to need a summary: a dozen words or more.", fake("# Title\n```\ncode\n```"), length="bullets")


def test_other_lengths_keep_their_result_shape() -> None:
    # the input states the reply's figure (14 million): a sentence with a figure the input lacks is dropped
    text = "The council approved a new library that will cost 14 million dollars, a dozen words or more."
    result = get_tool("summarize").run(text, fake(PROSE), length="short")
    assert set(result.to_dict()) == {"summary", "length", "chunks", "rounds", "finish_reason"}
    assert result.summary == PROSE.removeprefix("Here is a short summary: ")

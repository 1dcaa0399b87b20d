"""Round 10 user tests of ``summarize`` and ``translate``: each test fails without its fix.

1. ``--to auto`` passed as a language named "Auto": the model was asked to translate "to Auto" and the
   result said ``"target": "Auto"``; ``auto`` detects a *source* only, so as a target it is refused
   before the model loads; ``--from " auto"`` (with a space) was a source language named "Auto";
2. a language tag with a variant subtag (``en-GB-oxendict``, ``de-CH-1901``) passed as a language
   *name* ("En-GB-oxendict") or was refused as no language at all;
3. ``summarize --length bullets`` on a Python file: SmolLM2 copied the code without a fence, and each
   line of it became a bullet "the model wrote as prose" (docs/tools.md: prose means no code);
4. a document whose partial summaries took further rounds to combine showed "combining the
   summaries" and then nothing on stderr while every group of those rounds ran (minutes on a CPU);
5. translating a README: the model turned the code inside a Markdown fence into a French sentence
   and kept the closing fence, so the rest of the document rendered as code;
6. a language written in its own script with vowel signs ("हिन्दी", "தமிழ்") or a decomposed
   "Français" was refused as "not a language name or code": combining marks matched no letter.
"""

from __future__ import annotations

import sys
import unicodedata

import pytest
from click.testing import CliRunner

from assistant.cli import main
from assistant.errors import ConfigError
from assistant.tools import get_tool
from assistant.tools.languages import language_name

from .test_round4_tools import fake
from .test_round4_tools import last_user_text
from .test_tools_fake import LONG_TEXT, RecordingFake
from .test_tools_r6 import summarize_module


# ---- 1. --to auto -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["auto", "Auto", " AUTO "])
def test_auto_is_no_target_language(value: str) -> None:
    with pytest.raises(ConfigError, match="target language cannot be 'auto'"):
        get_tool("translate").resolve_params({"to": value})  # before any model is loaded


def test_auto_stays_the_default_source() -> None:
    assert get_tool("translate").resolve_params({"to": "fr", "from": "auto"})["source"] == "auto"


def test_a_source_of_auto_with_spaces_is_auto_not_a_language_named_auto() -> None:
    sent: list[str] = []

    def reply(prompt: str) -> str:
        sent.append(prompt)
        return "Bonjour."

    result = get_tool("translate").run("Hello.", fake(reply=reply), to="fr", source=" auto ")
    assert result.source == "auto" and " from " not in sent[0].split("user\n")[-1].split("\n")[0]


def test_the_cli_refuses_to_auto_in_one_line_before_loading_a_model(tmp_path) -> None:
    result = CliRunner().invoke(
        main, ["translate", "--no-log", "-m", str(tmp_path / "missing.gguf"), "--to", "auto", "Hello."]
    )
    assert result.exit_code != 0
    assert "target language cannot be 'auto'" in result.output
    assert "missing.gguf" not in result.output  # refused before the model was looked for


# ---- 2. variant subtags -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("tag", "name"), [("en-GB-oxendict", "English (United Kingdom)"), ("de-CH-1901", "German (Switzerland)")])
def test_a_tag_with_a_variant_names_its_language(tag: str, name: str) -> None:
    assert language_name(tag) == name


def test_an_unknown_code_with_a_variant_is_refused_as_a_code() -> None:
    with pytest.raises(ConfigError, match="unknown language code"):
        language_name("zz-ZZ-oxendict")


@pytest.mark.parametrize("name", ["Ga-Dangme", "Serbo-Croatian"])
def test_hyphenated_names_stay_names(name: str) -> None:
    assert language_name(name) == name


# ---- 3. code without a fence is no prose ------------------------------------------------------------------
CODE = "def add(a, b):\n    return a + b\nprint(add)"  # SmolLM2's greedy reply, summarising that file


@pytest.mark.parametrize("reply", [CODE, "int x = 1;\nreturn x;", "if (ok) {\nrun();\n}", "Steps.\n\tmake\n\tmake install"])
def test_code_without_a_fence_is_not_split_into_prose_bullets(reply: str) -> None:
    assert summarize_module().prose_bullets(reply) is None


def test_a_copy_of_the_code_is_retried_not_passed_off_as_bullets() -> None:
    replies = iter([CODE, "The file defines add. It prints a sum."])
    backend = fake(reply=lambda prompt: next(replies))
    result = get_tool("summarize").run(
        "def add(a, b):\n    return a + b\n\ndef sub(a, b):\n    return a - b\n\nprint(add(2, 3), sub(5, 1))",
        backend, length="bullets",
    )
    assert result.summary == "- The file defines add.\n- It prints a sum."


def test_prose_with_brackets_and_a_semicolon_inside_is_still_prose() -> None:
    reply = "The study (n = 40) found a gain; it was small. The authors want more data."
    assert summarize_module().prose_bullets(reply) == "- The study (n = 40) found a gain; it was small.\n- The authors want more data."


# ---- 4. progress through further combining rounds ---------------------------------------------------------
def test_every_group_of_a_further_combining_round_is_reported() -> None:
    backend = RecordingFake(context_length=512)
    seen: list[tuple[int, int, str]] = []
    result = get_tool("summarize").run(LONG_TEXT, backend, progress=lambda *a: seen.append(a))
    assert result.rounds > 2  # the parts' summaries took further rounds to combine
    groups = [message for _, _, message in seen if message.startswith("combining the summaries: group ")]
    assert len(groups) == backend.generations - result.chunks - 1  # every model call but the parts and the last
    assert groups[0] == f"combining the summaries: group 1 of {groups[0].split(' of ')[1].split()[0]} (round 2)"
    assert seen[-1] == (result.chunks, result.chunks, "combining the summaries")


# ---- 5. fenced code is kept as it is ---------------------------------------------------------------------
README = (
    "# Title\n\nRun this:\n```python\nprint(\"hi\")\n\n# a comment in the code\n```\nThen stop.\n\n"
    "~~~\nplain ``` not a close\n~~~~\n\nThe end.\r\n"
)


def upper(prompt: str) -> str:
    return last_user_text(prompt).upper()


def test_fenced_code_is_not_sent_to_the_model_and_comes_back_as_it_was() -> None:
    sent: list[str] = []

    def reply(prompt: str) -> str:
        sent.append(last_user_text(prompt))
        return upper(prompt)

    result = get_tool("translate").run(README, fake(reply=reply), to="fr")
    assert result.translation == README.replace("# Title", "# TITLE").replace("Run this:", "RUN THIS:").replace(
        "Then stop.", "THEN STOP."
    ).replace("The end.", "THE END.")
    assert sent == ["# Title", "Run this:", "Then stop.", "The end."]
    assert result.paragraphs == 4


def test_code_blocks_keep_the_text_whole_whatever_the_layout() -> None:
    from assistant.tools.text import split_paragraphs

    module = sys.modules[type(get_tool("translate").tool).__module__]
    for text in [README, "```\nopen to the end\n\nstill code", "a\n  ```\n  x\n  ```\n  b", "```\r\nx\r\n```\r\n\r\nHi."]:
        _, paragraphs = split_paragraphs(text)
        units = module.code_blocks(paragraphs)
        assert "".join(p.text + p.separator for p in paragraphs) == "".join(p.text + p.separator for p, _ in units)


def test_a_fence_left_open_keeps_the_rest_as_code() -> None:
    text = "Hello.\n\n```\ncode\n\nmore code"
    result = get_tool("translate").run(text, fake(reply=upper), to="fr")
    assert result.translation == "HELLO.\n\n```\ncode\n\nmore code"


def test_input_that_is_only_code_comes_back_unchanged() -> None:
    text = "```\nx = 1\n```"
    result = get_tool("translate").run(text, fake(reply="Bonjour."), to="fr")
    assert result.translation == text and result.paragraphs == 0


# ---- 6. names with combining marks ------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["हिन्दी", "தமிழ்", "ภาษาไทย", "বাংলা"])
def test_a_language_named_in_a_script_with_vowel_signs_is_a_name(name: str) -> None:
    assert language_name(name) == name
    assert get_tool("translate").resolve_params({"to": name})["to"] == name


def test_a_decomposed_name_is_the_composed_one() -> None:
    assert language_name(unicodedata.normalize("NFD", "Français")) == "Français"


@pytest.mark.parametrize("value", ["\u0301French", "French \u0301", "\u202eFrench"])
def test_a_mark_on_no_letter_is_still_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="is not a language name or code"):
        language_name(value)

"""Round 20, lead: joins between the helpers' areas."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.errors import ConfigError


def test_a_chat_template_option_naming_a_directory_says_so(tmp_path: Path) -> None:
    """``-o chat_template=/tmp`` said "must be one of gemma, chatml, a Jinja file, or Jinja text; got '/tmp'"."""
    from assistant.backends.openai.request_helpers import _chat_format_option

    with pytest.raises(ConfigError, match=r"^chat_template file .* is a directory$"):
        _chat_format_option(str(tmp_path))


@pytest.mark.parametrize(
    ("text", "language", "found"),
    [
        ("Übermorgen kommt Anna nach Berlin.", "German", ["Anna", "Berlin"]),
        ("Vorgestern war Anna in Berlin.", "German", ["Anna", "Berlin"]),
        ("Durante la noche Juan llegó a Madrid.", "Spanish", ["Juan", "Madrid"]),
    ],
)
def test_a_sentence_opening_time_word_of_another_language_is_no_name(text: str, language: str, found: list[str]) -> None:
    """Reported by the NER helper: "Übermorgen", "Vorgestern" and "Durante" came out as names."""
    from assistant.tools.spans import candidate_spans

    assert [s.text for s in candidate_spans(text, dates=False, language=language)] == found


def test_a_wrong_stop_list_is_quoted_short() -> None:
    """Reported by the structured helper: ``stop=[None] * 100000`` gave a 600 KB "one-line" error."""
    from assistant.types import GenerationParams

    with pytest.raises(ConfigError, match=r"^stop must be a text or a list of texts, not \[None, .*characters\)$") as err:
        GenerationParams(stop=[None] * 100000).validate()  # type: ignore[list-item]
    assert len(str(err.value)) < 120


@pytest.mark.parametrize("reply", ['{"n": 1e999}', 'Here: {"n": 1' + "1" * 5000 + "}"])
def test_a_template_json_answer_with_a_number_python_cannot_hold_is_an_error_not_inf(reply: str) -> None:
    """Reported by the structured helper: template JSON answers read 1e999 as inf and raised on 5,000 digits."""
    from assistant.templates.strategies import parse_json_answer

    extraction = parse_json_answer(reply, None)
    assert extraction.answer is None and "cannot be read" in (extraction.error or "")


def test_a_tool_parameter_without_a_value_is_called_a_parameter() -> None:
    """Reported by the tools helper: ``-p labels`` said "option 'labels' must look like key=value"."""
    from click.testing import CliRunner

    from assistant.cli import main

    result = CliRunner().invoke(main, ["summarize", "-b", "fake", "-m", "x", "-p", "labels", "hello there"])
    assert result.exit_code != 0
    assert "parameter 'labels' must look like key=value" in result.output


@pytest.mark.parametrize(
    "text",
    ["Am Montag, 3. März 2024 um 14:30 Uhr traf Angela Merkel in Berlin.",
     "Le lundi 3 mars 2024 à 10h30, Emmanuel Macron a rencontré Olaf Scholz à Paris."],
)
def test_another_languages_date_not_asked_for_is_still_no_name(text: str) -> None:
    """With ner's default types (no DATE/TIME) "Montag", "März" and "Uhr" came out as places."""
    from assistant.tools.language_words import text_language
    from assistant.tools.spans import candidate_spans

    names = [s.text for s in candidate_spans(text, dates=False, times=False, language=text_language(text))]
    assert names == [s.text for s in candidate_spans(text, language=text_language(text)) if s.kind == "name"]
    assert not {"Montag", "März", "Uhr", "Le"} & set(names)

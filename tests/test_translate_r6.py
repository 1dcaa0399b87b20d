"""Round 6 user tests of ``translate``: each test fails without its fix.

1. a paragraph whose reply was cut at its token budget came back as if whole: the result had no
   ``finish_reason`` (summarize's has one), the text said nothing, ``--json`` neither;
2. a multi-line paragraph kept the remark lines the model labels as its own after the translation
   ("Note: …", "Explanation: …", "Translation: …"); a one-line input already dropped them;
3. a reply labelled with the target language's name ("French: Bonjour.") kept the label.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from assistant.tools import get_tool


from .test_round4_tools import fake
from .test_round4_tools import last_user_text as input_of  # the text a translate prompt asks to translate


def translate(text: str, reply: Any, **params: str) -> Any:
    return get_tool("translate").run(text, fake(reply=reply), **({"to": "fr"} | params))


# ---- 1. a cut paragraph is reported ---------------------------------------------------------------------
def test_a_paragraph_cut_at_its_token_budget_is_reported_in_json_and_text() -> None:
    text = "Hi.\n\nGood night."
    # "Hi." may take 2 * 3 + 32 = 38 tokens (bytes): this reply is cut; "Good night." is answered whole.
    replies = {"Hi.": "Salut, " + "et bonjour à vous tous, mes amis très chers " * 3, "Good night.": "Bonne nuit."}
    result = get_tool("translate").run(text, fake(reply=lambda prompt: replies[input_of(prompt)]), to="fr")
    data = json.loads(result.to_json())
    assert data["finish_reason"] == "length" and data["cut_paragraphs"] == [1]
    assert result.finish_reason == "length"
    assert result.to_text().startswith(result.translation)
    assert result.to_text().endswith("[translation cut at its token budget: paragraph 1 of 2 stopped at max tokens]")


def test_a_whole_translation_says_stop_and_adds_nothing_to_the_text() -> None:
    result = translate("Good night.", "Bonne nuit.")
    assert result.to_dict()["finish_reason"] == "stop" and result.to_dict()["cut_paragraphs"] == []
    assert result.to_text() == "Bonne nuit."


def test_a_cut_in_the_remark_after_a_whole_one_line_translation_is_not_a_cut() -> None:
    reply = "Bonne nuit.\nIn French, the phrase is used " + "when going to bed and saying goodbye " * 3
    result = translate("Good night.", reply)
    assert result.translation == "Bonne nuit." and result.finish_reason == "stop"


def test_summarize_and_translate_say_a_cut_the_same_way() -> None:
    summary = get_tool("summarize").run(
        "It rained all day, so the match was called off and the fans went home early.",
        fake(reply="word " * 400), length="short",
    )
    assert summary.finish_reason == "length"
    assert summary.to_text().endswith("[summary cut at its token budget: the last step stopped at max tokens]")


# ---- 2. labelled remarks after a multi-line translation ---------------------------------------------------
POEM = "Roses are red,\nviolets are blue."


@pytest.mark.parametrize(
    "remark",
    [
        "Note: This is a famous English rhyme.",
        "Explanation: The poem compares a loved one to flowers.\nIt is often used on Valentine's Day.",
        "\nTranslation: Roses are red, violets are blue.",
        "(Note: the rhyme is lost in French.)",
        "Literal translation: the roses are red.",
    ],
)
def test_a_labelled_remark_after_a_multi_line_translation_is_dropped(remark: str) -> None:
    reply = "Les roses sont rouges,\nles violettes sont bleues.\n" + remark
    assert translate(POEM, reply).translation == "Les roses sont rouges,\nles violettes sont bleues."


def test_a_leading_translation_label_of_a_multi_line_reply_is_dropped() -> None:
    reply = "Translation:\nLes roses sont rouges,\nles violettes sont bleues.\nNote: it rhymes in English."
    assert translate(POEM, reply).translation == "Les roses sont rouges,\nles violettes sont bleues."


def test_lines_that_translate_labelled_input_lines_are_kept() -> None:
    source = "Remarque : le magasin ferme à 18 h.\nExplication : inventaire."
    reply = "Note: the shop closes at 6 pm.\nExplanation: stocktaking."
    assert translate(source, reply, to="en").translation == reply
    # ... and an echo of the input before the model's "Translation:" is never taken for the translation
    echo = "Roses are red,\nTranslation: Les roses sont rouges, les violettes sont bleues."
    assert translate(POEM, echo).translation == echo


# ---- 3. a leading language label -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("to", "reply", "expected"),
    [
        ("fr", "French: Bonjour.", "Bonjour."),
        ("fr", "french : Bonjour.", "Bonjour."),
        ("fr", "FRENCH:\nBonjour.", "Bonjour."),
        ("Klingon", "Klingon: nuqneH.", "nuqneH."),
        ("it", "In italian: Dov'è la stazione?", "Dov'è la stazione?"),  # SmolLM2's own label
        ("fr", "Here is the translation: French: \"Bonjour.\"", "Bonjour."),
    ],
)
def test_a_leading_target_language_label_is_stripped(to: str, reply: str, expected: str) -> None:
    assert translate("Good morning.", reply, to=to).translation == expected


def test_a_leading_target_language_label_of_a_multi_line_reply_is_stripped() -> None:
    reply = "French: Les roses sont rouges,\nles violettes sont bleues."
    assert translate(POEM, reply).translation == "Les roses sont rouges,\nles violettes sont bleues."


def test_a_leading_source_language_label_is_stripped_and_other_labels_kept() -> None:
    assert translate("Good morning.", "English: Bonjour.", **{"from": "en"}).translation == "Bonjour."
    assert translate("Good morning.", "English: Bonjour.").translation == "English: Bonjour."  # source unknown
    assert translate("Good morning.", "Italian: Bonjour.").translation == "Italian: Bonjour."


def test_a_label_the_input_itself_starts_with_is_kept() -> None:
    source = "Anglais : une langue germanique."
    reply = "English: a Germanic language."
    assert translate(source, reply, to="en").translation == reply

"""Round 17: the tools as a demanding user meets them. Each test failed before its fix."""

from __future__ import annotations

import re
from typing import Any

import pytest

from assistant.backends.fake import FakeBackend
from assistant.errors import ConfigError, ToolError
from assistant.tools import get_tool, languages
from assistant.tools.languages import answered_in, language_name, names_for_itself, written_with


def fake(reply: Any) -> FakeBackend:
    backend = FakeBackend(reply=reply, context_length=2048)
    backend.load("fake-model")
    return backend


ENGLISH = "Good morning, my friend, how are you today?"


# ---- 1. a target not written in Latin letters refuses a reply mostly in another script --------------------------
@pytest.mark.parametrize(
    ("reply", "target", "said"),
    [
        # Before: English (the prompt's language) and Latin-letter gibberish passed as a translation
        ("Hello there, I am very happy to see you and your family.", "Japanese", "English"),
        ("Blorv quanta misel dorrin vaxto pelu", "Russian", "Latin script"),
        ("Kalimera fili mou, ti kaneis simera?", "Greek", "Latin script"),
        ("Sure, here you go, this is what you asked for.", "Amharic", "English"),
        # the input given back, a sentence of its language, is no translation into another script
        (ENGLISH, "Japanese", "English"),
        # the input's own script, when it is not the target's (Russian for Japanese)
        ("Доброе утро, мой друг, как ты сегодня? Всё хорошо.", "Japanese", "Cyrillic script"),
    ],
)
def test_a_non_latin_target_refuses_a_reply_in_another_script(reply: str, target: str, said: str) -> None:
    source = "Доброе утро" if said == "Cyrillic script" else ENGLISH
    assert answered_in(reply, source, target) == said


@pytest.mark.parametrize(
    ("reply", "source", "target"),
    [
        ("おはようございます、友よ、今日はお元気ですか", ENGLISH, "Japanese"),
        # names and numbers of the input in Latin letters, in an answer otherwise in the target's script
        ("Appleは9月にiPhone 15 Proを発表しました", "Apple released the iPhone 15 Pro in September.", "Japanese"),
        ("Барак Обама и Angela Merkel встретились в 2009 году.", "Barack Obama and Angela Merkel met in 2009.",
         "Russian"),
        ("Barack Obama, Angela Merkel", "Barack Obama, Angela Merkel", "Greek"),
        # a title kept in English inside a Japanese sentence
        ("映画「The Lord of the Rings」は2001年に公開されました。", "The film The Lord of the Rings came out in 2001.",
         "Japanese"),
        # a right answer with its romanisation after it is still mostly in the target's script
        ("早上好，我的朋友，你今天好吗 (Zǎoshang hǎo, wǒ de péngyǒu)", ENGLISH, "Chinese"),
        # a script the target names is the one it is written in: romaji for ja-Latn
        ("Ohayou gozaimasu, tomodachi, kyou wa genki desu ka?", ENGLISH, language_name("ja-Latn")),
        # a target written in Latin letters too keeps its old rules
        ("Zdravo prijatelju, kako si danas?", ENGLISH, "Serbian"),
    ],
)
def test_a_non_latin_target_keeps_an_answer_in_its_script(reply: str, source: str, target: str) -> None:
    assert answered_in(reply, source, target) is None


def test_translate_into_japanese_asks_again_then_refuses_an_english_reply() -> None:
    backend = fake("Hello there, I am very happy to see you and your family.")
    with pytest.raises(ToolError) as caught:
        get_tool("translate").run(ENGLISH, backend, to="ja")
    message = str(caught.value)
    assert message.startswith("the model did not produce a usable translation: the reply was in English, not Japanese")
    assert "\n" not in message and len(backend.calls) == 2
    kept = get_tool("translate").run(ENGLISH, fake("おはようございます、友よ、今日はお元気ですか"), to="ja")
    assert kept.translation == "おはようございます、友よ、今日はお元気ですか"


def test_a_latin_target_still_keeps_english_chatter_and_the_input_script() -> None:
    """Unchanged for targets in Latin letters: the cleaner removes chatter, the input's language may stay."""
    assert answered_in("Sure, this is what you asked for and it is done.", ENGLISH, "French") is None
    assert answered_in("東京は日本の首都です。とても大きい都市です。", "東京は日本の首都です。", "French") is None


# ---- 2. a name of a few letters that is also another language's code -------------------------------------------
@pytest.mark.parametrize(("value", "coded", "other"), [("Ga", "Irish", "'gaa'"), ("Mon", "Mongolian", "'Mon language'")])
def test_a_name_that_is_another_languages_code_is_refused_naming_both(value: str, coded: str, other: str) -> None:
    """Before: ``--to Ga`` (the language of Accra) translated into Irish, ``--to Mon`` into Mongolian."""
    with pytest.raises(ConfigError) as caught:
        language_name(value)
    message = str(caught.value)
    assert coded in message and f"the {value} language" in message and other in message and "\n" not in message


def test_codes_and_the_ways_out_of_the_ambiguity_still_work() -> None:
    assert [language_name(v) for v in ("ga", "GA", "gaa", "mon", "en", "EN", "Fr")] == [
        "Irish", "Irish", "Ga", "Mongolian", "English", "English", "French",
    ]
    assert language_name("Ga language") == "Ga language"
    assert [language_name(v) for v in ("Ewe", "Lao", "Irish")] == ["Ewe", "Lao", "Irish"]  # no other language's code


def test_the_tool_refuses_the_ambiguous_name_before_the_model_loads() -> None:
    backend = fake("Dia dhuit")
    with pytest.raises(ConfigError, match="both the code of Irish"):
        get_tool("translate").run(ENGLISH, backend, to="Ga")
    assert backend.calls == []


# ---- 3. language_names.tsv is read once ---------------------------------------------------------------------------
def test_the_names_file_is_parsed_once_for_every_question(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: ``_known`` and ``_own_names`` each parsed the 8,800-line file."""
    caches = [value for value in vars(languages).values() if hasattr(value, "cache_clear")]
    for cache in caches:
        cache.cache_clear()
    reads: list[str] = []
    real = type(languages._NAMES_FILE).read_text

    def counting(path: Any, *args: Any, **kwargs: Any) -> str:
        if path == languages._NAMES_FILE:
            reads.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(type(languages._NAMES_FILE), "read_text", counting)
    try:
        assert language_name("Yoruba") == "Yoruba"
        assert written_with("Amharic") == ("Amharic", frozenset({"ETHIOPIC"}))
        assert names_for_itself("German") == ("Deutsch",)
        assert language_name("am") == "Amharic"
    finally:
        monkeypatch.undo()
        for cache in caches:
            cache.cache_clear()
    assert len(reads) == 1


# ---- 4. an empty item of a comma list is refused, not dropped ------------------------------------------------------
@pytest.mark.parametrize(
    ("tool", "params", "where"),
    [
        ("sentiment", {"labels": "positive,,negative"}, "item 2 of 3 in 'positive,,negative'"),
        ("sentiment", {"labels": "happy,sad,"}, "item 3 of 3"),
        ("sentiment", {"labels": ["happy", " ", "sad"]}, "item 2 of 3"),
        ("ner", {"types": "PERSON,,DATE"}, "item 2 of 3"),
    ],
)
def test_an_empty_item_of_a_comma_list_is_refused(tool: str, params: dict[str, Any], where: str) -> None:
    """Before: ``--labels a,,b`` ran with two labels where three were meant, silently."""
    with pytest.raises(ConfigError) as caught:
        get_tool(tool).resolve_params(**params)
    message = str(caught.value)
    assert "has an empty item" in message and where in message and "\n" not in message


def test_a_comma_list_without_empty_items_is_taken_as_before() -> None:
    assert get_tool("sentiment").resolve_params(labels=" happy , sad ")["labels"] == ["happy", "sad"]
    with pytest.raises(ConfigError, match="needs at least one value"):
        get_tool("ner").resolve_params(types=",")


# ---- 5. a summary of a text in another language is asked for in that language -------------------------------------
FRENCH = (
    "Le conseil municipal a voté mardi la construction d'une nouvelle bibliothèque près de la gare. L'ancienne "
    "bibliothèque est trop petite pour les habitants du quartier, et la nouvelle ouvrira dans deux ans."
)
ENGLISH_NEWS = (
    "The city council voted on Tuesday to build a new public library near the railway station. The old library "
    "is too small for the people of the area, and the new one will open in two years."
)


def test_summarize_asks_for_the_summary_in_the_texts_language() -> None:
    """Before: the English prompt alone, and SmolLM2 summarised 6 of 9 French, German and Spanish texts in English."""
    backend = fake("Le conseil a voté la construction d'une nouvelle bibliothèque.")
    get_tool("summarize").run(FRENCH, backend, length="short")
    # on the instruction's line, the input after a blank line as before (a newline lost after a Jinja block once)
    assert "the language of the text.\n\nLe conseil municipal" in backend.calls[0]["prompt"]


def test_summarize_combines_in_the_texts_language_too() -> None:
    backend = fake("Le conseil a voté une nouvelle bibliothèque.")
    result = get_tool("summarize").run("\n\n".join([FRENCH] * 6), backend, length="short", chunk_tokens=64)
    assert result.chunks > 1 and result.rounds >= 2
    assert all("Write it in French, the language of the text.\n\n" in call["prompt"] for call in backend.calls)


def test_summarize_of_english_or_an_unknown_language_keeps_the_prompt() -> None:
    for text in (ENGLISH_NEWS, "Wlazł kotek na płotek i mruga, ładna to piosenka niedługa, kotek sobie mruczy i śpi."):
        backend = fake("A summary of the text, in a sentence or two.")
        get_tool("summarize").run(text, backend, length="short")
        assert "Write it in" not in backend.calls[0]["prompt"]


# ---- a group of languages, or a code for none, is nothing to translate into ---------------------------------------
@pytest.mark.parametrize(("value", "said"), [
    ("zxx", "'zxx' (No linguistic content) is no one language"),
    ("und", "'und' (Undetermined) is no one language"),
    ("gem", "'gem' (Germanic languages) is no one language"),
    ("Romance languages", "'Romance languages' is no one language"),
    ("crp", "(Creoles and pidgins) is no one language"),
])
def test_translate_refuses_a_group_of_languages_before_the_model_loads(value: str, said: str) -> None:
    """Before: ``--to zxx`` sent "Translate the following text to No linguistic content." to the model."""
    backend = fake("Bonjour")
    with pytest.raises(ConfigError, match=re.escape(said)):
        get_tool("translate").run(ENGLISH, backend, to=value)
    with pytest.raises(ConfigError, match="is no one language"):
        get_tool("translate").run(ENGLISH, backend, to="fr", from_=value)
    assert backend.calls == []
    assert get_tool("translate").run("Good morning", fake("Dzień dobry"), to="Polish").target == "Polish"


def test_a_long_value_is_quoted_short_in_the_message() -> None:
    """Before: a 5,000-character ``--to`` was quoted whole: one error line of 5,000 characters."""
    with pytest.raises(ConfigError) as caught:
        language_name("q" * 5000)
    assert len(str(caught.value)) < 200 and "…" in str(caught.value)

"""Round 16: the tools as a demanding user meets them. Each test failed before its fix."""

from __future__ import annotations

import sys
import zlib
from typing import Any

import pytest

from assistant.backends.fake import FakeBackend
from assistant.errors import TemplateError, ToolError
from assistant.templates import render_template
from assistant.tools import get_tool
from assistant.tools.figures import figures, stated_figures, unstated
from assistant.tools.languages import LANGUAGES, _known, answered_in, language_name, written_with
from assistant.tools.span_case import recased


def grounded(reply: str, source: str) -> str:
    """The summarize plugin's own :func:`grounded`, from the module the registry loaded."""
    return sys.modules[type(get_tool("summarize").tool).__module__].grounded(reply, source)


def fake(reply: Any) -> FakeBackend:
    backend = FakeBackend(reply=reply, context_length=2048)
    backend.load("fake-model")
    return backend


# ---- 1. a tool's template variable is checked by the tool's parameter (the template declares `check:`) ----------
@pytest.mark.parametrize(
    ("template", "values", "said"),
    [
        # Before: `assistant prompt -t translate -v target=Klingonese` sent "… to Klingonese" to the model
        ("translate", {"target": "Klingonese"}, "variable 'target': 'Klingonese' is not a language the assistant knows"),
        ("translate", {"target": "French", "source": "Germna"}, "(did you mean 'German'?)"),
        ("translate", {"target": "auto"}, "the target language cannot be 'auto'"),
        ("summarize", {"length": "long"}, "must be one of sentence, short, bullets, not 'long'"),
        ("summarize-combine", {"length": "long"}, "must be one of sentence, short, bullets"),
    ],
)
def test_a_value_the_tool_would_refuse_is_refused_by_its_template(
    template: str, values: dict[str, Any], said: str
) -> None:
    variables = {"summaries": ["a"]} if template == "summarize-combine" else {"input": "hello"}
    with pytest.raises(TemplateError) as caught:
        render_template(template, {**variables, **values})
    message = str(caught.value)
    assert message.startswith(f"template {template!r}: variable ")
    assert said in message and "\n" not in message


def test_a_value_the_tool_takes_renders_as_before() -> None:
    rendered = render_template("translate", {"input": "hi", "target": "Chinese (Traditional, Taiwan)", "source": ""})
    assert rendered[-1].content.startswith("Translate the following text to Chinese (Traditional, Taiwan).")
    # any case, as the tool's --length takes it (before: "BULLETS" asked for a short paragraph)
    assert "bullet points" in render_template("summarize", {"input": "x", "length": "BULLETS"})[-1].content
    assert "in one sentence" in render_template("summarize-combine", {"summaries": ["a"], "length": " Sentence"})[-1].content


def test_translate_takes_an_empty_source_as_detect_it() -> None:
    """The template's own "unknown" (``source: ""``), which the tool renders, passes the tool's check."""
    result = get_tool("translate").run("Good morning", fake("Bonjour"), to="fr", from_="")
    assert (result.translation, result.source) == ("Bonjour", "auto")


# ---- 2. the script a reply must be in comes from the languages' own names: every one is checked ------------------
AMHARIC = "ሰላም ጤና ይስጥልኝ ወዳጄ፣ እንዴት ነህ ዛሬ"


@pytest.mark.parametrize(
    ("reply", "target", "said"),
    [
        # Before: Amharic (and every language outside a list of fifteen) was never checked
        ("Bonjour mon ami, comment allez-vous aujourd'hui ? Je suis très content.", "Amharic", "French"),
        ("Привет, мой друг, как ты сегодня?", "Amharic", "Cyrillic script"),
        (AMHARIC, "French", "Ethiopic script"),
        ("ನಮಸ್ಕಾರ ಗೆಳೆಯ, ಇಂದು ಹೇಗಿದ್ದೀರಿ", "Georgian", "Kannada script"),
        # a language named by its own name is checked as the language ("Deutsch" is German)
        ("Me encanta la pizza, es muy buena y el queso es genial.", "Deutsch", "Spanish"),
    ],
)
def test_a_reply_in_another_script_or_language_is_told_for_any_listed_language(
    reply: str, target: str, said: str
) -> None:
    assert answered_in(reply, "Good morning, my friend, how are you today?", target) == said


def test_a_script_the_target_names_is_the_one_it_is_written_in() -> None:
    """Before: Serbian was Cyrillic or Latin whatever ``sr-Latn`` said, so a Cyrillic reply passed for it."""
    reply, english = "Здраво пријатељу, како си данас?", "Hello friend, how are you today?"
    assert answered_in(reply, english, language_name("sr-Latn")) == "Cyrillic script"
    assert answered_in("Zdravo prijatelju, kako si danas?", english, "Serbian (Latin)") is None
    assert written_with("Chinese (Traditional, Taiwan)") == ("Chinese", frozenset({"CJK"}))


def test_a_reply_in_the_target_script_passes() -> None:
    assert answered_in(AMHARIC, "Good morning, my friend, how are you today?", "Amharic") is None
    assert answered_in("Здраво пријатељу, како си данас?", "Hello friend, how are you today?", "Serbian") is None


def test_every_language_a_prompt_names_by_code_has_its_writing() -> None:
    assert {name for name in LANGUAGES.values() if written_with(name) is None} == set()
    assert written_with(language_name("am")) == ("Amharic", frozenset({"ETHIOPIC"}))
    assert written_with("Brazilian Portuguese") == ("Portuguese", frozenset({"LATIN"}))


def test_translate_into_amharic_refuses_a_french_reply_in_one_line() -> None:
    backend = fake("Bonjour mon ami, comment allez-vous aujourd'hui ? Je suis très content.")
    with pytest.raises(ToolError) as caught:
        get_tool("translate").run("Good morning, my friend, how are you today?", backend, to="am")
    assert str(caught.value).startswith(
        "the model did not produce a usable translation: the reply was in French, not Amharic"
    )
    assert len(backend.calls) == 2
    assert get_tool("translate").run("Good morning", fake(AMHARIC), to="am").translation == AMHARIC


# ---- 3. every name a language code gives is itself a language name -----------------------------------------------
def test_every_language_name_a_code_gives_is_accepted_again() -> None:
    """Before: ``--to el`` said "Greek", and ``--to Greek`` was refused: "not a language the assistant knows (did
    you mean 'Greek'?)"; a batch row or template given the name the tool itself prints was refused."""
    assert language_name("Greek") == "Greek"
    codes, _ = _known()
    names = {language_name(code) for code in [*LANGUAGES, *codes] if code.isalpha()}
    # a name of up to three letters is read as a code first ("Ga", the language of Accra, is "ga", Irish)
    assert {name for name in names if len(name) > 3 and language_name(name) != name} == set()


# ---- 4. recasing text in capitals costs the same per word however long the text ----------------------------------
def _score(prompt: str, candidates: list[str]) -> list[float]:
    """Deterministic, and different for every prompt: the result shows which text each word was asked after."""
    return [float(zlib.crc32((prompt + candidate).encode()) % 11) for candidate in candidates]


CAPITALS = "THE BANK OF ENGLAND SAID ON MONDAY THAT JOHN SMITH, WHO VISITED PARIS IN MAY, WILL LEAD THE NEW OFFICE. " * 8
RECASED = (
    "The bank Of England Said on monday that John Smith, who Visited paris in may, will lead the New office. "
    "the Bank of england Said on monday that John smith, who Visited Paris in May, will lead the new office. "
    "the Bank Of england said on monday that John smith, who Visited paris in May, will lead the New Office. "
    "the bank of england said on monday that John smith, who visited Paris in May, will Lead the new office. "
    "the Bank Of England Said on monday that john smith, who visited paris in May, will lead the new office. "
    "the Bank Of england said on monday that john smith, who Visited Paris in May, will Lead the new office. "
    "The bank of England said on monday that John Smith, who Visited Paris in may, will Lead the New office. "
    "the Bank of England Said on monday that john smith, who Visited Paris in May, will Lead the new office. "
)


def test_recasing_gives_what_it_gave_before() -> None:
    """The shown part of the text before each word (which moves on past 600 characters) is as it was."""
    assert recased(CAPITALS, _score) == RECASED


def test_recasing_does_not_rebuild_the_text_for_every_word() -> None:
    """Before: every word asked joined all the text recased so far, and 40,000 words took 16 s before any score."""
    joins = 0

    def count(frame: Any, event: str, arg: Any) -> None:
        nonlocal joins
        if event == "c_call" and getattr(arg, "__name__", "") == "join" and getattr(arg, "__self__", None) == "":
            joins += 1

    text = CAPITALS * 5
    sys.setprofile(count)
    try:
        recased(text, _score)
    finally:
        sys.setprofile(None)
    assert joins <= 4  # one per pass, however many words


# ---- 5. a sentence longer than the context is not tried whole for each of its names -----------------------------
def test_ner_tries_a_sentence_longer_than_the_context_whole_only_once() -> None:
    """Before: each name's prompt was first built and counted with the whole sentence, so one sentence of
    40,000 words (text in capitals with no full stop) cost time quadratic in its length before any score."""
    backend = fake("x")
    counted: list[int] = []
    count_tokens = backend.count_tokens

    def recording(prompt: Any) -> int:
        size = len(prompt) if isinstance(prompt, str) else sum(len(message.content) for message in prompt)
        counted.append(size)
        return count_tokens(prompt)

    backend.count_tokens = recording  # type: ignore[method-assign]
    sentence = "John Smith met Mary Jones in Paris and " * 200 + "they left"
    result = get_tool("ner").run(sentence, backend, view="none")
    assert all(sentence[e.start : e.end] == e.text for e in result.entities)
    assert sum(1 for size in counted if size >= len(sentence)) == 1  # the sentence alone, once


# ---- 6. a source's figures are read as its language writes them; a version number is no figure -----------------
def test_summarize_a_text_that_names_a_version_or_an_address() -> None:
    """Before: "1.2.3" failed Fraction(), and summarize failed on any text naming a version: ValueError."""
    text = (
        "Version 1.2.3 of the library was released today for the server at 192.168.0.1. It fixes many bugs, "
        "adds new features and improves the speed of parsing large files for all users."
    )
    reply = "The release fixes bugs and adds features for users."
    assert get_tool("summarize").run(text, fake(reply)).summary == reply
    assert figures("Version 1.2.3 at 192.168.0.1") == []
    assert [f.value for f in figures("Die Stadt hat 1.234.567 Einwohner.")] == [1234567]


@pytest.mark.parametrize(
    ("source", "summary"),
    [
        # Before: each of these faithful English sentences was dropped as inventing its figure
        ("Der Umsatz stieg auf 1.234 Millionen Euro.", "Revenue rose to 1,234 million euros."),
        ("Le chiffre d'affaires atteint 12,5 millions d'euros.", "Revenue reached 12.5 million euros."),
        ("Le projet coûte 1 234 567 dollars.", "The project costs $1,234,567."),
        ("The firm has 10k employees.", "The firm has 10,000 employees."),
        ("東京の人口は約1400万人です。", "Tokyo has about 14 million people."),
        ("La entrada cuesta 3 mil millones de pesos.", "It costs 3 billion pesos."),
        ("Der Umsatz stieg um 3 Prozent.", "Sales rose 3%."),
    ],
)
def test_a_figure_its_source_states_in_another_language_is_kept(source: str, summary: str) -> None:
    assert unstated(summary, stated_figures(source)) == []
    assert grounded(f"{summary} It was a good year.", source) == f"{summary} It was a good year."


@pytest.mark.parametrize(
    ("source", "summary"),
    [
        ("Revenue was $124 billion, up 3%.", "Revenue was $3 million."),
        ("Revenue was $124 billion, up 3%.", "Revenue rose 124%."),
        ("Der Umsatz stieg um 3 Prozent auf 1.234 Millionen Euro.", "Sales rose 5%."),
        ("Le chiffre d'affaires atteint 12,5 millions d'euros.", "Revenue reached 125 million euros."),
    ],
)
def test_a_figure_its_source_does_not_state_is_still_caught(source: str, summary: str) -> None:
    assert unstated(summary, stated_figures(source)) != []


# ---- 7. a translation labelled with the target language's name for itself loses the label ----------------------
@pytest.mark.parametrize(
    ("reply", "target", "translation"),
    [
        # Before: kept as the translation, label and all ("German:" was removed, "Deutsch:" not)
        ("Deutsch: Guten Morgen, mein Freund.", "de", "Guten Morgen, mein Freund."),
        ("Français : Bonjour mon ami.", "fr", "Bonjour mon ami."),
        ("日本語：おはようございます。", "ja", "おはようございます。"),
        ("Русский: Доброе утро, мой друг.", "Russian", "Доброе утро, мой друг."),
    ],
)
def test_a_label_in_the_target_languages_own_name_is_removed(reply: str, target: str, translation: str) -> None:
    assert get_tool("translate").run("Good morning, my friend.", fake(reply), to=target).translation == translation
    # the input's own label is kept, as before ("Deutsch: a language" labels itself)
    kept = get_tool("translate").run("Deutsch: the German language", fake("Deutsch: die deutsche Sprache"), to="de")
    assert kept.translation == "Deutsch: die deutsche Sprache"

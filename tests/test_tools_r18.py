"""Round 18: the tools as a demanding user meets them. Each test failed before its fix."""

from __future__ import annotations

import re
from typing import Any

import pytest

from assistant.backends.fake import FakeBackend
from assistant.errors import ConfigError, TemplateError, ToolError
from assistant.templates import render_template
from assistant.tools import get_tool


def fake(reply: Any) -> FakeBackend:
    backend = FakeBackend(reply=reply, context_length=2048)
    backend.load("fake-model")
    return backend


ENGLISH_NEWS = (
    "The city council voted on Tuesday to build a new public library near the railway station. The old library "
    "is too small for the people of the area, and the new one will open in two years."
)
FRENCH = (
    "Le conseil municipal a voté mardi la construction d'une nouvelle bibliothèque près de la gare. L'ancienne "
    "bibliothèque est trop petite pour les habitants du quartier, et la nouvelle ouvrira dans deux ans."
)


# ---- 1. summarize's language: the check translate's --from has ----------------------------------------------------
@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("xx", "unknown language code 'xx'"),
        ("\x1b[31mxx", r"'\x1b[31mxx' is not a language name or code"),
        ("Klingonese", "(did you mean 'Klingon'?)"),
        ("gem", "is no one language"),
    ],
)
def test_summarize_language_is_refused_as_translates_languages_are(value: str, said: str) -> None:
    """Before: the template's ``language`` took any text into the prompt ("Write it in \\x1b[31mxx, …") and
    the tool had no such parameter at all."""
    with pytest.raises(ConfigError) as caught:
        get_tool("summarize").run(ENGLISH_NEWS, fake("A summary."), language=value)
    message = str(caught.value)
    assert said in message and "\n" not in message and "\x1b" not in message
    for template, values in (("summarize", {"input": "x"}), ("summarize-combine", {"summaries": ["a"]})):
        with pytest.raises(TemplateError) as refused:
            render_template(template, {**values, "language": value})
        assert said in str(refused.value) and "\x1b" not in str(refused.value)


def test_an_unknown_language_says_where_the_known_ones_are() -> None:
    from assistant.tools.languages import _NAMES_FILE, language_name

    for value in ("xx", "Elvish"):
        with pytest.raises(ConfigError) as caught:
            language_name(value)
        assert str(caught.value).endswith(" (listed in assistant/tools/language_names.tsv)")
    assert _NAMES_FILE.as_posix().endswith("/assistant/tools/language_names.tsv")  # where the message says


def test_summarize_language_names_the_language_in_the_prompt() -> None:
    backend = fake("Le conseil a voté une nouvelle bibliothèque près de la gare.")
    get_tool("summarize").run(ENGLISH_NEWS, backend, language="fr")
    assert "Write it in French, the language of the text.\n\n" in backend.calls[0]["prompt"]
    rendered = render_template("summarize", {"input": "x", "language": "de"})[-1].content
    assert "Write it in German, the language of the text." in rendered


def test_summarize_language_auto_tells_it_from_the_text_as_before() -> None:
    for value in ("auto", " AUTO ", ""):
        backend = fake("Le conseil a voté une nouvelle bibliothèque.")
        get_tool("summarize").run(FRENCH, backend, language=value)
        assert "Write it in French, the language of the text." in backend.calls[0]["prompt"]
        backend = fake("The council voted for a new library near the station.")
        get_tool("summarize").run(ENGLISH_NEWS, backend, language=value)
        assert "Write it in" not in backend.calls[0]["prompt"]
        rendered = render_template("summarize", {"input": "x", "language": value})[-1].content
        assert "Write it in" not in rendered


# ---- 2. a -p key given twice ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("keys", [("to", "to"), ("chunk-tokens", "chunk_tokens")])
def test_a_parameter_given_twice_with_p_is_refused_before_the_model_loads(tmp_path: Any, keys: tuple[str, str]) -> None:
    """Before: ``-p to=fr -p to=de`` translated into German without a word (the last value kept)."""
    from click.testing import CliRunner

    from assistant.cli import main

    tool = "translate" if keys[0] == "to" else "summarize"
    args = ["-p", f"{keys[0]}=fr", "-p", f"{keys[1]}=de"] if tool == "translate" else [
        "-p", f"{keys[0]}=100", "-p", f"{keys[1]}=200"]
    result = CliRunner().invoke(main, ["tool", tool, "--no-log", "-m", str(tmp_path / "missing.gguf"), *args, ENGLISH_NEWS])
    assert result.exit_code != 0 and "given twice" in result.output
    assert "missing.gguf" not in result.output and "Traceback" not in result.output


# ---- 4. ner on text that is not English ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "language", "found"),
    [
        # Before: "Le", "Il", "Les", "El" (each a sentence's first word) were names, and SmolLM2 typed them persons
        ("Le président Emmanuel Macron a visité Marseille lundi.", "French", ["Emmanuel Macron", "Marseille"]),
        ("Nous allons à la plage. Il fait beau. Les enfants jouent.", "French", []),
        ("El lunes, Pedro Sánchez viajó a Barcelona.", "Spanish", ["Pedro Sánchez", "Barcelona"]),
        # a German weekday alone is a date word, no name ("Montag" was typed an organization)
        ("Am Montag fährt Herr Schmidt nach München.", "German", ["Herr Schmidt", "München"]),
        # a run of several words keeps its article: the article is part of these names
        ("Le Monde et Los Angeles.", "French", ["Le Monde", "Los Angeles"]),
        ("IL est un sigle.", "French", ["IL"]),  # in capitals: an acronym, as for English stop words
        # another function word that begins a run is no part of the name, as "The" in English
        ("En France, il pleut. À Paris aussi.", "French", ["France", "Paris"]),
        ("En El Salvador hace calor.", "Spanish", ["El Salvador"]),
        ("Van Gogh malte. Und Berlin auch.", "German", ["Van Gogh", "Berlin"]),  # a name connector stays
    ],
)
def test_a_texts_own_function_words_alone_are_no_names(text: str, language: str, found: list[str]) -> None:
    from assistant.tools.spans import candidate_spans

    assert [s.text for s in candidate_spans(text, dates=False, language=language)] == found


def test_a_trimmed_span_is_still_a_slice_of_the_input() -> None:
    from assistant.tools.spans import candidate_spans

    text = "En Fran\x1b[1mce aussi. Et Ba\u00adrack Obama."
    found = candidate_spans(text, dates=False, language="French")
    assert [text[s.start : s.end] for s in found] == [s.text for s in found] == ["Fran\x1b[1mce", "Ba\u00adrack Obama"]


def test_english_or_unknown_text_finds_the_same_spans_as_before() -> None:
    from assistant.tools.spans import candidate_spans

    for text in ("The Guardian said Le Pen met El Salvador's Il Divo on Monday.", "Le. El. Montag."):
        before = candidate_spans(text)
        assert candidate_spans(text, language="English") == before == candidate_spans(text, language=None)
        assert candidate_spans(text, language="Klingon") == before


GERMAN = "Der Vorstand von Siemens trifft sich morgen in Hamburg mit dem Bürgermeister und seiner Mutter."


def test_ner_on_german_says_that_capitals_mark_nouns_there() -> None:
    """Before: every German noun ("Bürgermeister", "Mutter") came out as a name, with nothing said."""
    result = get_tool("ner").run(GERMAN, fake("x"))
    assert result.note is not None and "German, which capitalises every noun" in result.note
    assert result.to_dict()["note"] == result.note
    assert get_tool("ner").run(ENGLISH_NEWS, fake("x")).note is None
    assert get_tool("ner").run(FRENCH, fake("x")).note is None


def test_ner_on_french_types_no_article_as_a_name() -> None:
    result = get_tool("ner").run("Le conseil a voté. Il ouvrira en mai. Les habitants sont contents à Paris.", fake("x"))
    assert [e.text for e in result.entities if e.text in ("Le", "Il", "Les")] == []


# ---- translate: a source named as the target ------------------------------------------------------------------------
@pytest.mark.parametrize(("to", "source"), [("fr", "French"), ("French", "fr"), ("de", " GERMAN ")])
def test_translate_refuses_a_source_named_as_the_target_before_the_model(to: str, source: str) -> None:
    """Before: ``--from fr --to fr`` had SmolLM2 rewrite "Bonjour mon ami." as "Bonjour, monsieur.", printed as
    its translation."""
    backend = fake("Bonjour, monsieur.")
    with pytest.raises(ConfigError, match="the source and the target language are both (French|German): nothing to translate") as caught:
        get_tool("translate").run("Bonjour mon ami.", backend, to=to, source=source)
    assert "\n" not in str(caught.value) and backend.calls == []


def test_translate_between_varieties_of_one_language_still_runs() -> None:
    backend = fake("Good morning, my friend.")
    result = get_tool("translate").run("Good morning, my friend.", backend, to="en-GB", source="en")
    assert result.target == "English (United Kingdom)" and len(backend.calls) == 1


def test_the_cli_refuses_a_source_named_as_the_target_without_loading_a_model(tmp_path: Any) -> None:
    from click.testing import CliRunner

    from assistant.cli import main

    args = ["translate", "--no-log", "-m", str(tmp_path / "missing.gguf"), "--to", "fr", "--from", "fr", "Bonjour."]
    result = CliRunner().invoke(main, args)
    assert result.exit_code != 0 and "the source and the target language are both French" in result.output
    assert "missing.gguf" not in result.output and "Traceback" not in result.output


# ---- sentiment: a long text of one part says what it is doing ---------------------------------------------------
def test_sentiment_reports_a_long_text_of_one_part_before_scoring_it() -> None:
    """Before: a 30 KB review was one 6,000-token part, scored for minutes with nothing on stderr (only a text
    of several parts was reported)."""
    said: list[tuple[int, int, str]] = []
    text = "The room was clean and the staff were kind. " * 30  # one part, over 1,024 of the fake's tokens
    backend = fake("x")
    get_tool("sentiment").run(text, backend, progress=lambda done, total, what: said.append((done, total, what)))
    assert len(said) == 1 and said[0][:2] == (0, 1), said  # one part
    assert re.fullmatch(r"classifying \d,\d{3} tokens", said[0][2])
    said.clear()
    get_tool("sentiment").run("The room was clean.", fake("x"), progress=lambda *a: said.append(a))
    assert said == []  # a short text: nothing to wait for


# ---- translate: terminal escape sequences are no text ---------------------------------------------------------------
def test_translate_keeps_a_coloured_piece_without_letters_without_the_model() -> None:
    """Before: "ESC[31m!!!ESC[0m" had letters (the "m"s of its escape sequences), went to SmolLM2 and came back
    "À la foi,"."""
    text = "2024\n\n\x1b[31m!!!\x1b[0m"
    backend = fake("À la foi,")
    result = get_tool("translate").run(text, backend, to="fr")
    assert result.translation == text and backend.calls == []


def test_translate_shows_the_model_what_a_coloured_text_says() -> None:
    backend = fake("Bonjour le monde, comment allez-vous aujourd'hui ?")
    get_tool("translate").run("Hello \x1b[1mworld\x1b[0m, how are you today?", backend, to="fr")
    assert "Hello world, how are you today?" in backend.calls[0]["prompt"] and "\x1b" not in backend.calls[0]["prompt"]


def test_summarize_shows_the_model_what_a_coloured_text_says() -> None:
    """Before: a coloured text reached the prompt with its escape sequences; input of only escape sequences
    and punctuation had "words" (their "31m")."""
    backend = fake("The council voted for a new library near the station.")
    coloured = ENGLISH_NEWS.replace("library", "\x1b[1mlibrary\x1b[0m")
    get_tool("summarize").run(coloured, backend)
    assert "\x1b" not in backend.calls[0]["prompt"] and ENGLISH_NEWS in backend.calls[0]["prompt"]
    with pytest.raises(ToolError, match="no words"):
        get_tool("summarize").run("\x1b[31m!!!\x1b[0m " * 40, fake("x"))

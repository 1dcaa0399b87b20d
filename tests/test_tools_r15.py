"""Round 15 user tests of the tools (ner, translate): each fails without its fix.

1. ``assistant ner "Honestly, the food was great."`` gave PERSON "Honestly" (and "Actually, Maria said
   no." PERSON "Actually"): a sentence's first word has a capital whatever it is, and an adverb before a
   comma is no stop word. The model is now asked how it writes the word inside a sentence, as for a
   first word before a date (assistant/tools/span_case.py ``opening_case`` with no date): in lower case
   it is common and no candidate; "John, come here." keeps "John".
   ``assistant ner "Black Friday sales rose at Walmart."`` gave LOCATION "Black Friday": the kind view
   had no noun for a named day; "holiday" and "day" now count for "other" (MISC), which the default
   types leave out.
2. ``assistant translate --to Klingonese`` (or ``--to asdf``) was accepted and the model wrote something
   called a translation: any word was a language name. A name must now be a language of ISO 639 (every
   one, "Cantonese", "Klingon", "Old English" too), a variety of one ("Brazilian Portuguese"), or a
   language's own name ("Deutsch", "हिन्दी"); ISO 639-1/-2 codes the short list lacked ("am", "yor") name
   their language instead of being refused.
3. NER on text all in capitals scored every word's case (about 28 ms a word): a stop word inside a
   sentence is now written in lower case unasked (its case makes no candidate); a month ("MAY"), "I",
   a number a name may hold ("WORLD WAR TWO") and a stop word opening a sentence or quotation are asked.
   About 30 % fewer scores, the same or better candidate spans on CoNLL sentences in capitals.
4. A plugin tool whose parameter name can be no option (``Parameter("p\x1b[1m")``, "two words") made
   ``assistant tool NAME`` end in click's TypeError traceback; such a name is refused when the plugin
   loads, and the plugin is reported as failed.
"""

from __future__ import annotations

from typing import Any, Sequence

import pytest
from click.testing import CliRunner

from assistant.backends.fake import FakeBackend
from assistant.cli import main
from assistant.errors import ConfigError
from assistant.tools import Parameter, get_tool
from assistant.tools.languages import known_language, language_name
from assistant.tools.span_case import OPENING_LEAD, opening_case, recased
from assistant.tools.spans import candidate_spans

COMMON = {"honestly", "actually", "sadly", "interestingly"}
"""Words the fake model writes in lower case inside a sentence."""


def _opening_scorer(prompts: list[str] | None = None) -> Any:
    """Scores (lower, capital) as the model would: lower likelier for the words of :data:`COMMON`."""

    def score(prompt: str, candidates: list[str]) -> list[float]:
        if prompts is not None:
            prompts.append(prompt + candidates[1])
        word = candidates[0].split()[0].strip(",").lower()
        return [1.0, 0.0] if word in COMMON else [0.0, 1.0]

    return score


def _opening(prompts: list[str] | None = None) -> Any:
    score = _opening_scorer(prompts)
    return lambda word, date, rest: opening_case(word, date, rest, score)


# ---- 1. a sentence-opening adverb before a comma is no name ---------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Honestly, the food was great.", []),
        ("Actually, Maria said no.", ["Maria"]),
        ('"Sadly, Nokia closed the plant."', ["Nokia"]),
        ("He came. Interestingly, Apple rose.", ["Apple"]),
        # names before a comma stay, and so does a word inside a sentence or an acronym
        ("John, come here.", ["John"]),
        ("Germany, France and Italy agreed.", ["Germany", "France", "Italy"]),
        ("We met Honestly, the band.", ["Honestly"]),
        ("NATO, the alliance, met.", ["NATO"]),
    ],
)
def test_an_opening_word_the_model_writes_in_lower_case_is_no_candidate(text: str, expected: list[str]) -> None:
    assert [s.text for s in candidate_spans(text, dates=False, opening=_opening())] == expected


def test_the_opening_word_is_asked_with_its_comma_and_the_words_after_it() -> None:
    prompts: list[str] = []
    candidate_spans("Honestly, the food was great.", dates=False, opening=_opening(prompts))
    assert prompts == [f"{OPENING_LEAD} Honestly, the food was"]


def test_opening_case_without_a_date_is_common_or_apart() -> None:
    score = _opening_scorer()
    assert opening_case("Honestly", "", ", the food", score) == "common"
    assert opening_case("John", "", ", come here", score) == "apart"


class OpeningScores(FakeBackend):
    """A fake backend: case choices as :func:`_opening_scorer`, types by the order offered (person first)."""

    def __init__(self) -> None:
        super().__init__(context_length=4096)
        self.load("fake-model")

    def score(self, prompt: Any, candidates: Sequence[str]) -> list[float]:
        if len(candidates) == 2 and candidates[0].lower() == candidates[1].lower():
            return _opening_scorer()(str(prompt), list(candidates))
        return [-float(i) for i in range(len(candidates))]


def test_the_tool_asks_its_model_about_an_opening_word_before_a_comma() -> None:
    result = get_tool("ner").run("Honestly, the food was great. Actually, Maria said no.", OpeningScores())
    assert [e.text for e in result.entities] == ["Maria"]


@pytest.mark.model
def test_the_real_model_finds_no_name_in_an_opening_adverb_nor_a_place_in_black_friday() -> None:
    from assistant.session import open_backend

    backend = open_backend("smollm2", "llama-cpp")
    ner = get_tool("ner")
    text = "Honestly, the food was great. Actually, Maria said no. John, come here. Black Friday sales rose at Walmart."
    found = [(e.text, e.type) for e in ner.run(text, backend).entities]
    assert ("Maria", "PERSON") in found and ("John", "PERSON") in found and ("Walmart", "ORGANIZATION") in found
    assert not any(name in ("Honestly", "Actually", "Black Friday") for name, _ in found)
    misc = ner.run("Black Friday sales rose at Walmart.", backend, types=["PERSON", "LOCATION", "MISC"]).entities
    assert [(e.text, e.type) for e in misc] == [("Black Friday", "MISC")]


# ---- 2. a target language must be a language ------------------------------------------------------------------
@pytest.mark.parametrize("value", ["Klingonese", "asdf", "Elvish", "Qwerty Uiop", "Frenchh (Canada)"])
def test_a_word_that_names_no_language_is_refused_in_one_line(value: str) -> None:
    with pytest.raises(ConfigError, match="is not a language the assistant knows") as error:
        language_name(value)
    assert "\n" not in str(error.value)


def test_a_misspelt_language_is_refused_with_the_likely_one() -> None:
    with pytest.raises(ConfigError, match=r"\(did you mean 'German'\?\)"):
        language_name("Germna")
    with pytest.raises(ConfigError, match=r"\(did you mean 'Klingon'\?\)"):
        language_name("Klingonese")


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("Cantonese", "Cantonese"), ("Klingon", "Klingon"), ("yoruba", "Yoruba"), ("Old English", "Old English"),
        ("Brazilian Portuguese", "Brazilian Portuguese"), ("Swiss German", "Swiss German"),
        ("the Spanish language", "The Spanish language"), ("Deutsch", "Deutsch"), ("日本語", "日本語"),
        ("Tiếng Việt", "Tiếng Việt"), ("English (UK)", "English (UK)"),
        # codes of ISO 639-1 and -2 that the prompt's own table lacks name their language
        ("am", "Amharic"), ("yor", "Yoruba"), ("deu", "German"), ("fr", "French"), ("pt-BR", "Portuguese (Brazil)"),
    ],
)
def test_real_languages_their_varieties_own_names_and_codes_are_accepted(value: str, name: str) -> None:
    assert language_name(value) == name


def test_known_language_reads_the_last_words_as_the_language() -> None:
    assert known_language("Simple English") and known_language("Mandarin Chinese")
    assert not known_language("English Klingonese")


def test_the_cli_refuses_an_unknown_target_before_the_model_loads(tmp_path: Any) -> None:
    result = CliRunner().invoke(
        main, ["translate", "--no-log", "-m", str(tmp_path / "missing.gguf"), "--to", "Klingonese", "Hello."]
    )
    assert result.exit_code != 0
    assert "'Klingonese' is not a language the assistant knows (did you mean 'Klingon'?)" in result.output
    assert "missing.gguf" not in result.output and "Traceback" not in result.output


def test_the_python_api_refuses_an_unknown_source_as_well() -> None:
    backend = FakeBackend(context_length=4096)
    backend.load("fake-model")
    with pytest.raises(ConfigError, match="'asdf' is not a language"):
        get_tool("translate").run("Hello.", backend, to="French", source="asdf")


# ---- 3. recasing text in capitals asks no function word ---------------------------------------------------------
PROPER = {"john", "smith", "bank", "england", "may", "theresa", "hague"}


def _case_scorer(asked: list[str]) -> Any:
    """Capitalised likelier only for the words of :data:`PROPER`; logs each word asked about."""

    def score(prompt: str, candidates: list[str]) -> list[float]:
        word = candidates[0].split()[0].lower()
        asked.append(word)
        return [0.0, 1.0] if word in PROPER else [1.0, 0.0]

    return score


def test_recasing_scores_no_stop_word_and_gives_the_same_text() -> None:
    asked: list[str] = []
    text = "JOHN SMITH VISITED THE BANK OF ENGLAND WITH HIS WIFE IN MAY, AS THERESA MAY DID."
    result = recased(text, _case_scorer(asked))
    assert result == "John Smith visited the Bank of England with his wife in May, as Theresa May did."
    assert not {"the", "with", "his", "in", "as", "did."} & set(asked)  # function words cost no score
    assert asked.count("may") == 2  # a month, or a name: always asked
    assert {"smith", "visited", "bank", "of", "england", "wife", "theresa"} <= set(asked)


def test_a_function_word_is_written_in_lower_case_even_where_it_could_begin_a_name() -> None:
    asked: list[str] = []
    assert recased("WE SAW THE HAGUE", _case_scorer(asked)) == "We saw the Hague"
    assert "the" not in asked


# ---- 4. a plugin's parameter name that can be no option is refused when the plugin loads ----------------------
@pytest.mark.parametrize("name", ["p\x1b[1m", "two words", "a=b", "9lives", "x.y"])
def test_a_parameter_name_that_can_be_no_option_is_refused_by_name(name: str) -> None:
    with pytest.raises(ConfigError, match="must be letters, digits, '_' or '-'"):
        Parameter(name)
    with pytest.raises(ConfigError, match="must be letters, digits, '_' or '-'"):
        Parameter("ok", aliases=(name,))


def test_a_plugin_with_such_a_parameter_is_reported_and_the_cli_shows_no_traceback(tmp_path: Any) -> None:
    from assistant.config import paths

    folder = paths().config_file.parent / "plugins"
    folder.mkdir(parents=True)
    (folder / "badparam.py").write_text(
        "from assistant import hookimpl\n"
        "from assistant.tools import BaseTool, Parameter\n\n"
        "class Bad(BaseTool):\n"
        "    name = 'badparam'\n"
        "    description = 'a tool'\n"
        "    needs_model = False\n"
        "    parameters = (Parameter('p\\x1b[1m', 'str'),)\n\n"
        "    def run(self, text, params, backend, progress=None):\n"
        "        return text\n\n"
        "@hookimpl\n"
        "def register_tools(register):\n"
        "    register(Bad())\n"
    )
    from assistant.plugins import plugin_failures

    result = CliRunner().invoke(main, ["tool", "badparam", "hi"])
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit)  # a one-line error, no TypeError
    assert "plugins that failed to load: badparam" in result.output and "\x1b" not in result.output
    [failure] = [f for f in plugin_failures() if f.name == "badparam"]
    assert failure.stage == "import" and "parameter name 'p\\x1b[1m' must be letters" in failure.error


@pytest.mark.parametrize(
    ("text", "asked_word"),
    [("1940 - IN WORLD WAR TWO", "in"), ('HE SAID: " YOU CHEAT. "', "you"), ("IT RAINED. THE END", "the"),
     ("WHEN I WENT", "i"), ("IN WORLD WAR TWO", "two")],
)
def test_a_stop_word_opening_a_sentence_or_quotation_i_and_a_naming_number_are_still_asked(text: str, asked_word: str) -> None:
    asked: list[str] = []
    recased(text, _case_scorer(asked))
    assert asked_word in asked

"""Round 6 user tests of the four tools: each test fails without its fix.

1. ``translate --to zz-ZZ`` (an unknown code with a region) passed as the language name "Zz-ZZ",
   the name "Ga-Dangme" was taken for the code "ga" (Irish), and "Chinese (Traditional)" was
   "not a language name";
2. ``summarize --length bullets`` made a numbered heading the model copied from the document
   ("1. Definitions" underlined with "-----") into a bullet, with the underline and the
   paragraph after it joined on;
3. Chinese and Japanese sentences (no space after "。") were one sentence: a long CJK text was
   chunked by halving it mid-sentence, ``--length sentence`` kept a whole CJK reply, and a
   finished CJK sentence cut at the token budget was said to be cut;
4. summarizing a 50-page document (18 parts) let the final "short paragraph" run to the parts'
   3,000 tokens: SmolLM2 repeated one paragraph for five minutes;
5. ``ner`` and ``sentiment`` said nothing for the minutes a long document takes (only summarize
   and translate reported progress on stderr);
6. ``ner --types DATE`` typed every name of the text too (and asked each one's kind), only to
   drop them all: most of its time spent for nothing;
7. a translate batch from a CSV file with a ``to`` column failed every row with "needs the
   parameter 'to/target'", not saying that a row's fields are not parameters;
8. ``run(text, backend, params={"to": "fr"}, to="de")`` silently translated into German;
9. ``ner`` on hard-wrapped text (a ``.txt`` file, an e-mail) cut every sentence at its line
   ends, so a name across a line break came out as two entities ("Richard" PERSON, "Stallman"
   ORGANIZATION; "Free" / "Software Foundation"; the GPL's indented "Corresponding" / "Source").
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

from assistant.backends.fake import FakeBackend
from assistant.errors import ConfigError, ToolError
from assistant.tools import get_tool
from assistant.tools.languages import language_name
from assistant.tools.results import EntitiesResult, Entity
from assistant.tools.text import chunk_text, sentence_spans, split_sentences
from assistant.types import GenerationParams


def fake(reply: Any = None, context_length: int = 2048) -> FakeBackend:
    backend = FakeBackend(reply=reply, context_length=context_length)
    backend.load("fake-model")
    return backend


def summarize_module() -> Any:
    return sys.modules[type(get_tool("summarize").tool).__module__]


# ---- 1. language tags -------------------------------------------------------------------------------------
@pytest.mark.parametrize("tag", ["zz-ZZ", "xx-419", "qq_Latn", "ab-CD-EF"])
def test_an_unknown_language_code_with_a_region_or_script_is_refused(tag: str) -> None:
    with pytest.raises(ConfigError, match=f"unknown language code '{tag}'"):
        language_name(tag)
    with pytest.raises(ConfigError, match="unknown language code"):
        get_tool("translate").resolve_params({"to": tag})  # before any model is loaded


@pytest.mark.parametrize(
    ("value", "name"),
    [("pt-BR", "Portuguese (Brazil)"), ("zh_Hant", "Chinese (Traditional)"), ("es-419", "Spanish (Latin America)"),
     ("sr-Latn-RS", "Serbian (Latin)"),
     ("Ga-Dangme", "Ga-Dangme"), ("Serbo-Croatian", "Serbo-Croatian"), ("Swiss German", "Swiss German"),
     ("Chinese (Traditional)", "Chinese (Traditional)"), ("portuguese (Brazil)", "Portuguese (Brazil)")],
)
def test_known_tags_name_their_language_and_hyphenated_names_stay_names(value: str, name: str) -> None:
    assert language_name(value) == name


@pytest.mark.parametrize("value", ["French (", "(Traditional)", "Chinese (Trad) x", "en;rm"])
def test_names_with_other_punctuation_are_still_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="is not a language name or code"):
        language_name(value)


# ---- 2. a copied numbered heading is no bullet ------------------------------------------------------------
COPIED = (
    "Mozilla Public License Version 2.0\n==================================\n\n1. Definitions\n"
    "-------------------\nThe document is a collaborative work. It is released under a licence.\n"
    "The document contains a variety of legal terms."
)


def test_a_numbered_heading_underlined_in_the_reply_is_not_a_bullet() -> None:
    module = summarize_module()
    assert module.clean_bullets(COPIED) is None
    assert module.prose_bullets(COPIED) is None  # a document copy with headings, not prose


def test_an_underline_or_rule_ends_a_bullet_instead_of_joining_it() -> None:
    assert summarize_module().clean_bullets("- One item.\n- Two items\n---\nNot part of it.") == (
        "- One item.\n- Two items"
    )


def test_a_reply_that_copies_a_documents_headings_is_an_error_not_a_bullet() -> None:
    with pytest.raises(ToolError, match="did not produce a usable summary"):
        get_tool("summarize").run("Some text to summarise, long enough to need a summary: a dozen words or more.", fake(reply=COPIED), length="bullets")


# ---- 3. CJK sentences ---------------------------------------------------------------------------------------
JAPANESE = "東京は日本の首都です。山田太郎さんはソニーで働いています。"


def test_cjk_full_stops_end_sentences_without_a_space() -> None:
    assert split_sentences(JAPANESE) == ["東京は日本の首都です。", "山田太郎さんはソニーで働いています。"]
    text = "他说：“好！”然后走了。真的？"
    assert split_sentences(text) == ["他说：“好！”", "然后走了。", "真的？"]
    assert [text[a:b] for a, b in sentence_spans(text)] == split_sentences(text)
    assert split_sentences("It is 3.5 m long.Really") == ["It is 3.5 m long.Really"]  # Latin text as before


def test_a_long_cjk_text_is_chunked_at_its_sentence_ends() -> None:
    backend = fake()  # one token per UTF-8 byte: each sentence here is 30-54 bytes
    text = JAPANESE * 6
    chunks = chunk_text(text, backend.count_tokens, 100)
    assert all(backend.count_tokens(chunk) <= 100 for chunk in chunks)
    assert all(chunk.endswith("。") for chunk in chunks)  # never halved mid-sentence


def test_a_one_sentence_summary_of_a_cjk_reply_is_its_first_sentence() -> None:
    result = get_tool("summarize").run("任意の文章です。これは要約のための長い文章です。", fake(reply=JAPANESE), length="sentence")
    assert result.summary == "東京は日本の首都です。"
    assert result.finish_reason == "stop"  # the reply was cut (87 bytes, 80 allowed) after a whole sentence


# ---- 4. the combine step's reply budget ---------------------------------------------------------------------
class BudgetFake(FakeBackend):
    """Records each generation's ``max_tokens``."""

    def __init__(self, reply: Any, context_length: int) -> None:
        super().__init__(reply=reply, context_length=context_length)
        self.load("fake-model")
        self.max_tokens: list[int] = []

    def sample_tokens(self, prompt_ids: list[int], params: GenerationParams) -> Any:
        self.max_tokens.append(params.max_tokens)
        return super().sample_tokens(prompt_ids, params)


def test_the_final_combine_of_many_parts_is_bounded_by_the_lengths_budget() -> None:
    module = summarize_module()
    paragraph = " ".join(f"Fact {i} of this part is stated here." for i in range(5))  # ~190 bytes
    text = "\n\n".join(paragraph for _ in range(20))
    backend = BudgetFake(reply="A part happens here. " * 9, context_length=8192)  # 189 bytes: a whole part
    result = get_tool("summarize").run(text, backend, chunk_tokens=256)
    assert result.chunks == 20 and result.rounds == 2
    limit = module.MAX_SUMMARY_TOKENS["short"]
    assert backend.max_tokens[:-1] == [limit] * 20
    # The parts hold 3,780 tokens and the context has room for them, but a short summary gets at most 2x.
    assert backend.max_tokens[-1] == module.COMBINE_REPLY_FACTOR * limit


# ---- 5. progress on long input ------------------------------------------------------------------------------
def test_sentiment_reports_each_part_of_a_long_text_and_nothing_for_a_short_one() -> None:
    seen: list[tuple[int, int, str]] = []
    backend = fake(context_length=1024)
    long_text = " ".join(f"Sentence {i} says the meal was fine." for i in range(150))  # ~5,000 bytes
    get_tool("sentiment").run(long_text, backend, progress=lambda *a: seen.append(a))
    total = seen[0][1]
    assert total > 1 and seen == [(i, total, f"classifying part {i + 1} of {total}") for i in range(total)]
    seen.clear()
    get_tool("sentiment").run("Short.", backend, progress=lambda *a: seen.append(a))
    assert seen == []


def test_ner_reports_which_sentence_it_has_reached(monkeypatch: pytest.MonkeyPatch) -> None:
    ner = get_tool("ner")
    monkeypatch.setattr(ner.tool, "progress_seconds", 0.0)
    seen: list[tuple[int, int, str]] = []
    text = "Alice Smith went to Paris. Bob Jones stayed in Rome. Nobody else came."
    result = ner.run(text, fake(), progress=lambda *a: seen.append(a))
    assert seen == [(i, 3, f"typing the names of sentence {i + 1} of 3") for i in range(3)]
    assert all(text[e.start : e.end] == e.text for e in result.entities)


# ---- 6. dates alone ------------------------------------------------------------------------------------------
class ScoreCounter(FakeBackend):
    def __init__(self) -> None:
        super().__init__(context_length=2048)
        self.load("fake-model")
        self.scored: list[str] = []

    def score(self, prompt: str, candidates: Any) -> list[float]:
        self.scored.append(prompt.rsplit("\n", 1)[-1])
        return super().score(prompt, candidates)


def test_ner_with_only_date_types_does_not_type_the_names() -> None:
    text = "Alice Smith met Bob Jones in Paris on 12 March 2024. They left on Friday."
    dates_only, with_names = ScoreCounter(), ScoreCounter()
    result = get_tool("ner").run(text, dates_only, types=["DATE"])
    full = get_tool("ner").run(text, with_names, types=["DATE", "PERSON"])
    assert [line for line in dates_only.scored] == ["12 March 2024:", "Friday:"]
    assert len(with_names.scored) > 2
    assert result.entities == [e for e in full.entities if e.type == "DATE"]  # the same dates, found faster


# ---- 7. a CSV column named like a parameter ---------------------------------------------------------------
def test_a_row_field_named_like_a_missing_required_parameter_is_explained(tmp_path: Any) -> None:
    from assistant.batch import read_rows
    from assistant.tools.batch import run_tool_row

    rows_file = tmp_path / "rows.csv"
    rows_file.write_text("id,text,to\n1,Hello.,fr\n2,Hi.,\n", encoding="utf-8")
    first, second = read_rows(rows_file)
    tool = get_tool("translate")
    error = run_tool_row(tool, first, fake(), {})["error"]
    assert "needs the parameter 'to' (or 'target')" in error
    assert 'the row\'s "to" field is not a parameter' in error and '"params": {"to": ...}' in error
    assert "field is not a parameter" not in run_tool_row(tool, second, fake(), {})["error"]  # no such field
    done = run_tool_row(tool, first, fake(reply="Bonjour."), {"to": "fr"})
    assert done["error"] is None and done["result"]["translation"] == "Bonjour."


# ---- 8. one parameter given twice through the Python API -----------------------------------------------------
def test_a_parameter_in_params_and_as_a_keyword_is_refused() -> None:
    translate = get_tool("translate")
    with pytest.raises(ConfigError, match="parameter 'to' given twice"):
        translate.run("Hello.", fake(reply="Hallo."), params={"to": "fr"}, to="de")
    with pytest.raises(ConfigError, match="parameter 'source' given twice"):
        translate.resolve_params({"from": "en"}, to="de", source="it")  # the alias, as before
    assert translate.resolve_params({"to": "fr"}, from_="en") == {"to": "French", "source": "English"}  # named


# ---- 9. hard-wrapped text ------------------------------------------------------------------------------------
WRAPPED = (
    "The licence for this program was written by Richard\r\n"
    "Stallman of the Free Software Foundation in Boston, and published by the Free\n"
    "Software Foundation. Next one.\n\n- Alice Smith\n- Bob Jones\nShort line\nwrapped here\nCarol King\nDan Brown"
)


def test_a_hard_wrapped_paragraphs_sentences_run_on_across_line_ends() -> None:
    assert [WRAPPED[a:b] for a, b in sentence_spans(WRAPPED)] == [
        (
            "The licence for this program was written by Richard\r\nStallman of the Free Software Foundation in "
            "Boston, and published by the Free\nSoftware Foundation."
        ),
        "Next one.",
        "- Alice Smith",  # list items, and a column of short lines, stay a line each
        "- Bob Jones",
        "Short line\nwrapped here",  # a short line runs on only into one that starts in lower case
        "Carol King",
        "Dan Brown",
    ]


def test_ner_finds_a_name_wrapped_onto_the_next_line_as_one_entity() -> None:
    result = get_tool("ner").run(WRAPPED, ScoreCounter(), types=["PERSON", "LOCATION", "ORGANIZATION", "MISC"])
    found = [e.text for e in result.entities]
    scored = ScoreCounter()
    get_tool("ner").run(WRAPPED, scored, view="none")
    spans = [line.rsplit(":", 1)[0] for line in scored.scored]
    assert "Richard Stallman" in spans and "Software Foundation" not in spans and "Richard" not in spans
    assert "Free Software Foundation" in spans  # both mentions, the wrapped one made a single line
    assert all(WRAPPED[e.start : e.end] == e.text for e in result.entities)  # still exact slices
    assert "Richard" not in found and "Stallman" not in found


def test_entity_text_shows_a_wrapped_name_on_one_line_and_keeps_it_exact_in_json() -> None:
    result = EntitiesResult([Entity("Richard\r\nStallman", "PERSON", 3, 20)], ["PERSON"])
    assert result.to_text() == "PERSON  Richard Stallman  [3:20]"
    assert result.to_dict()["entities"][0]["text"] == "Richard\r\nStallman"


INDENTED = (
    "    you inform other peers where the object code and Corresponding\n"
    "    Source of the work are being offered to the general public at no charge."
)


def test_an_indented_wrapped_name_is_one_span_and_the_model_sees_one_line() -> None:
    from assistant.tools.spans import candidate_spans, one_line

    raw = candidate_spans(INDENTED, dates=False)
    assert [s.text for s in raw] == ["Corresponding\n    Source"]
    shown, spans = one_line(INDENTED, raw)
    assert "\n" not in shown and "Corresponding Source of the work" in shown
    assert [(s.text, shown[s.start : s.end]) for s in spans] == [("Corresponding Source", "Corresponding Source")]
    scored = ScoreCounter()
    result = get_tool("ner").run(INDENTED, scored, view="none", types=["PERSON", "ORGANIZATION", "MISC"])
    assert scored.scored == ["Corresponding Source:"]
    assert all(INDENTED[e.start : e.end] == e.text for e in result.entities)

"""Round 12, integration: follow-ups of the helpers' reports that touch files shared by two areas."""

from __future__ import annotations

from assistant.tools import get_tool
from assistant.tools.text import split_sentences


def test_a_shortened_book_before_chapter_and_verse_ends_no_sentence() -> None:
    """The splitter ended a sentence after "Rom." (a short word with a full stop), so the NER tool
    saw "Read Rom." and "8:28 today." apart and gave the name "Rom" and the time "8:28"."""
    assert split_sentences("Read Rom. 8:28 today. Then go.") == ["Read Rom. 8:28 today.", "Then go."]
    assert split_sentences("See Gen. 1:1-3 there.") == ["See Gen. 1:1-3 there."]
    # a longer word, a time with "pm", a lower-case word: the full stop still ends the sentence
    assert split_sentences("He left Paris. 3:16 came.") == ["He left Paris.", "3:16 came."]
    assert split_sentences("Noon. 8:28 pm it was.") == ["Noon.", "8:28 pm it was."]
    assert split_sentences("It ran. 3:16 was its time.") == ["It ran.", "3:16 was its time."]


def test_ner_types_a_shortened_book_and_its_verse_as_one_name() -> None:
    from tests.test_tools_r7 import ScoreCounter

    backend = ScoreCounter()
    get_tool("ner").run("We read Rom. 8:28 today.", backend, view="none")
    typed = [line for line in backend.scored if line.endswith(":")]
    assert typed == ["Rom. 8:28:"], typed  # was "Rom:" (and "8:28" a time), the sentence cut after "Rom."

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


def test_chat_app_summary_settled_without_a_model_names_no_model() -> None:
    """``/summarize`` of a text too short to summarize is given back as it is, without the model, as
    on the command line; the chat app still recorded the loaded model as the reply's author."""
    import pytest

    pytest.importorskip("textual")
    from tests.tui_support import make_app, run_pilot, type_and_send, wait_idle

    app = make_app()

    async def scenario(pilot: object) -> None:
        await type_and_send(pilot, "/summarize only three words")
        await wait_idle(pilot)
        stored = app.controller.library.store.messages(app.controller.conversation_id)
        assert stored[-1].tool_name == "summarize" and stored[-1].content.startswith("only three words")
        assert (stored[-1].model or "", stored[-1].backend or "") == ("", "")

    run_pilot(app, scenario)

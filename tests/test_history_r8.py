"""Round 8, history as a user: a conversation whose system prompt changes keeps each turn's own,
and a reply's token ids are stored without logprobs too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from assistant.cli import main
from assistant.history import ConversationRecorder, HistoryStore, TurnMeta
from assistant.history.export import fine_tuning_dict, iter_export
from assistant.types import Completion, Timings, TokenLogprob, Usage

pytestmark = pytest.mark.usefixtures("fake_backend")

META = TurnMeta(model="m", backend="fake")
FAKE = ("-b", "fake", "-m", "fake-model")


def cli(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def reply(text: str, token_ids: list[int] | None = None, logprobs: list[TokenLogprob] | None = None) -> Completion:
    return Completion(text, "m", "fake", "stop", Usage(), Timings(), token_ids=token_ids or [], logprobs=logprobs or [])


def chat(recorder: ConversationRecorder, text: str, system: str | None) -> None:
    turn = recorder.start_turn(text, META, system)
    recorder.finish(turn, reply(f"re: {text}"))


# ---- a system prompt that changes ------------------------------------------------------------------
def test_turns_keep_the_system_prompt_they_were_written_under(tmp_path: Path) -> None:
    """``prompt -c -s NEW`` (or the chat app's settings) replaced the conversation's only copy:
    ``show`` and every export gave the first turns a system prompt they never had."""
    with HistoryStore.open(tmp_path / "h.db") as store:
        recorder = ConversationRecorder(store)
        chat(recorder, "one", "Be brief.")
        chat(recorder, "two", "Answer in French.")
        chat(recorder, "three", "Answer in French.")
        chat(recorder, "four", None)
        messages = store.messages(1)
        conversation = store.get_conversation(1)
    assert [m.system for m in messages] == ["Be brief."] * 2 + ["Answer in French."] * 4 + [None] * 2
    assert conversation.system is None  # what a resumed conversation continues with: the newest
    data = json.loads("".join(iter_export([(conversation, messages)], "json", many=False)))
    # in JSON, a message names its system prompt only where it is not the conversation's
    assert [m.get("system", "-") for m in data["messages"]] == (
        ["Be brief."] * 2 + ["Answer in French."] * 4 + ["-"] * 2
    )


def test_show_and_markdown_mark_where_the_system_prompt_changed(tmp_path: Path) -> None:
    db = str(tmp_path / "h.db")
    assert cli("prompt", *FAKE, "--db", db, "-s", "Be brief.", "one").exit_code == 0
    assert cli("prompt", *FAKE, "--db", db, "-c", "-s", "Answer in French.", "two").exit_code == 0
    assert cli("prompt", *FAKE, "--db", db, "-c", "three").exit_code == 0  # keeps French
    shown = cli("history", "show", "1", "--db", db)
    assert shown.exit_code == 0
    lines = shown.stdout.splitlines()
    headers = [line.split(" (")[0] for line in lines if line.startswith("---")]
    assert headers == ["--- system", "--- user #1", "--- assistant #2", "--- system", "--- user #3",
                       "--- assistant #4", "--- user #5", "--- assistant #6"]
    assert lines[lines.index("--- system") + 1] == "  Be brief."
    assert lines[lines.index("--- system (changed)") + 1] == "  Answer in French."
    markdown = cli("history", "export", "1", "--db", db).stdout
    assert markdown.index("## System\n\n> Be brief.") < markdown.index("> one")
    assert markdown.index("> one") < markdown.index("## System (changed)\n\n> Answer in French.")
    assert markdown.index("## System (changed)") < markdown.index("> two")


def test_a_system_prompt_taken_away_says_so(tmp_path: Path) -> None:
    with HistoryStore.open(tmp_path / "h.db") as store:
        recorder = ConversationRecorder(store)
        chat(recorder, "one", "Be brief.")
        chat(recorder, "two", "")  # `-s ""`: none, as None is
        chat(recorder, "three", None)  # the same as "": no change
        messages = store.messages(1)
        conversation = store.get_conversation(1)
    assert [m.system for m in messages] == ["Be brief."] * 2 + [None] * 4
    text = "".join(iter_export([(conversation, messages)], "markdown", many=False))
    assert "## System (changed)\n\n*(none from here)*" in text
    assert text.count("## System") == 2


def test_jsonl_gives_the_system_prompt_the_last_reply_was_written_under(tmp_path: Path) -> None:
    """The fine-tuning line has one system prompt: the one the last reply saw, with every turn before it."""
    with HistoryStore.open(tmp_path / "h.db") as store:
        recorder = ConversationRecorder(store)
        chat(recorder, "one", "Old.")
        chat(recorder, "two", "New.")
        turn = recorder.start_turn("three", META, "Newest, cut short.")
        recorder.fail(turn, "par", "interrupted")  # left out of jsonl: its system prompt too
        example = fine_tuning_dict(store.get_conversation(1), store.messages(1))
    assert example is not None
    assert example["messages"][0] == {"role": "system", "content": "New."}
    assert [m["content"] for m in example["messages"][1:]] == ["one", "re: one", "two", "re: two"]


def test_two_writers_with_different_system_prompts_keep_their_own(tmp_path: Path) -> None:
    """A recorder decided on the system prompt it had last seen: one whose conversation another
    process had changed meanwhile stored its turn under the other's prompt."""
    with HistoryStore.open(tmp_path / "h.db") as store:
        first = ConversationRecorder(store)
        chat(first, "one", "A.")
        second = ConversationRecorder(store, first.conversation_id)
        chat(second, "from the second", "B.")
        chat(first, "from the first again", "A.")
        every = {m.content: m.system for m in store.messages(1, "all")}
        assert store.get_conversation(1).system == "A."
    assert every["one"] == every["re: one"] == "A."
    assert every["from the second"] == every["re: from the second"] == "B."
    assert every["from the first again"] == "A."


def test_a_regenerated_reply_keeps_the_prompt_it_was_written_under(tmp_path: Path) -> None:
    with HistoryStore.open(tmp_path / "h.db") as store:
        recorder = ConversationRecorder(store)
        chat(recorder, "question", "A.")
        user_id = store.messages(1)[0].id
        recorder.regenerate(user_id)
        turn = recorder.start_turn("question", META, "B.")
        recorder.finish(turn, reply("second answer"))
        messages = store.messages(1)
        every = {m.content: m.system for m in store.messages(1, "all")}
    assert [(m.content, m.system) for m in messages] == [("question", "A."), ("second answer", "B.")]
    assert every["re: question"] == "A."


def test_an_older_file_reads_its_turns_under_the_conversations_prompt_and_keeps_them_on_change(
    tmp_path: Path,
) -> None:
    """Rows written before migration 0006 have no system of their own: the conversation's, until it changes."""
    from assistant.history.db import connect
    from assistant.history.migrations import migrations

    path = tmp_path / "old.db"
    db = connect(path)
    migrations.apply(db, stop_before="0006_message_system")
    db.execute("INSERT INTO conversations (id, title, created, updated, system) VALUES (1, 't', 'x', 'x', 'Old.')")
    db.execute(
        "INSERT INTO messages (id, conversation_id, role, content, created, parent_id) VALUES"
        " (1, 1, 'user', 'q', 'x', NULL), (2, 1, 'assistant', 'a', 'x', 1)"
    )
    db.execute("UPDATE conversations SET head_id = 2")
    db.conn.commit()
    db.close()
    with HistoryStore.open(path) as store:
        assert [m.system for m in store.messages(1)] == ["Old.", "Old."]
        recorder = ConversationRecorder(store, 1)
        chat(recorder, "q2", "New.")
        assert [m.system for m in store.messages(1)] == ["Old.", "Old.", "New.", "New."]


# ---- token ids ------------------------------------------------------------------------------------------
def test_a_replys_token_ids_are_stored_without_logprobs(tmp_path: Path) -> None:
    """Only a reply generated with logprobs kept its tokens: the chat app reopened every other one
    by re-tokenizing its text, which need not give the tokens the model sampled."""
    with HistoryStore.open(tmp_path / "h.db") as store:
        conversation = store.create_conversation()
        store.record_turn(conversation.id, "hi", reply("hello", token_ids=[5, 6, 7]))
        with_logprobs = [TokenLogprob(token="he", logprob=-0.1, token_id=9), TokenLogprob(token="y", logprob=-0.2, token_id=8)]
        store.record_turn(conversation.id, "again", reply("hey", token_ids=[9, 8], logprobs=with_logprobs))
        messages = store.messages(conversation.id)
        data = json.loads("".join(iter_export([(store.get_conversation(1), messages)], "json", many=False)))
        raw = [row[0] for row in store.db.execute("SELECT token_ids FROM messages ORDER BY id")]
    assert [m.token_ids for m in messages] == [None, [5, 6, 7], None, [9, 8]]
    assert raw == [None, "[5, 6, 7]", None, None]  # with logprobs the ids are in `tokens`, not twice
    assert data["messages"][1]["token_ids"] == [5, 6, 7]
    assert "token_ids" not in data["messages"][3] and [t["id"] for t in data["messages"][3]["tokens"]] == [9, 8]
    assert "token_ids" not in data["messages"][0]


def test_prompt_stores_the_sampled_token_ids(tmp_path: Path) -> None:
    db = str(tmp_path / "h.db")
    result = cli("prompt", *FAKE, "--db", db, "--json", "hello there")
    assert result.exit_code == 0, result.output
    with HistoryStore.open(db) as store:
        stored = store.messages(1)[1]
    assert stored.token_ids and len(stored.token_ids) == json.loads(result.stdout)["usage"]["completion_tokens"]


def test_unreadable_stored_token_ids_are_dropped_not_fatal(tmp_path: Path) -> None:
    with HistoryStore.open(tmp_path / "h.db") as store:
        store.record_turn(store.create_conversation().id, "hi", reply("hello", token_ids=[1]))
        store.db.execute("UPDATE messages SET token_ids = '[1, \"x\", true]' WHERE id = 2")
        store.db.conn.commit()
        assert store.messages(1)[1].token_ids is None


# ---- what another program (or a hand edit) left in the file -------------------------------------------
def _seeded(tmp_path: Path) -> str:
    db = str(tmp_path / "h.db")
    assert cli("prompt", *FAKE, "--db", db, "capital question").exit_code == 0
    return db


def test_blob_values_read_as_text_not_a_traceback(tmp_path: Path) -> None:
    """A BLOB (``x'..'``, sqlite3's ``readfile()``) came back as ``bytes``: ``list``, ``show`` and every
    export stopped with a TypeError."""
    db = _seeded(tmp_path)
    with HistoryStore.open(db) as store:
        store.db.execute("UPDATE conversations SET title = x'41ff42', system = x'5379730a'")
        store.db.execute("UPDATE messages SET content = x'6361706974616cff20776f7264' WHERE id = 1")
        store.db.conn.commit()
    for args in (("list",), ("list", "--json"), ("show", "1"), ("show", "1", "--json"), ("search", "capital"),
                 ("export", "1"), ("export", "1", "-f", "json"), ("export", "--all", "-f", "jsonl")):
        result = cli("history", *args, "--db", db)
        assert result.exit_code == 0, (args, result.output)
    assert "A\ufffdB" in cli("history", "list", "--db", db).stdout
    shown = cli("history", "show", "1", "--db", db).stdout
    assert "--- system\n  Sys\n" in shown and "  capital\ufffd word\n" in shown
    with HistoryStore.open(db) as store:
        assert store.messages(1)[0].content == "capital\ufffd word"


def test_timestamps_out_of_range_and_numbers_that_are_not_are_shown_as_stored(tmp_path: Path) -> None:
    """Year 9999 at -14:00 overflowed when made local time, and a text in a numeric column failed
    to format as "tok/s": both tracebacks."""
    db = _seeded(tmp_path)
    with HistoryStore.open(db) as store:
        store.db.execute("UPDATE conversations SET updated = '9999-12-31T23:59:59-14:00', created = '0001-01-01T00:00:00+14:00'")
        store.db.execute("UPDATE messages SET created = '9999-12-31T23:59:59-14:00', tokens_per_second = 'fast',"
                         " completion_tokens = 'many', ttft_ms = x'00'")
        store.db.conn.commit()
        reply_row = store.messages(1)[1]
    assert (reply_row.tokens_per_second, reply_row.completion_tokens, reply_row.ttft_ms) == (None, None, None)
    listed = cli("history", "list", "--db", db)
    assert listed.exit_code == 0 and "9999-12-31T23:59:59-14:00" in listed.stdout
    shown = cli("history", "show", "1", "--db", db)
    assert shown.exit_code == 0, shown.output
    assert "created 0001-01-01T00:00:00+14:00" in shown.stdout
    assert "--- assistant #2 (9999-12-31T23:59:59-14:00)" in shown.stdout
    assert cli("history", "search", "capital", "--db", db).exit_code == 0


def test_a_search_hit_deleted_before_its_snippet_is_made_has_none(tmp_path: Path) -> None:
    with HistoryStore.open(tmp_path / "h.db") as store:
        store.record_turn(store.create_conversation().id, "capital", reply("x"))
        assert store._snippet(99, '"capital"', "capital") == ""


def test_markdown_export_ends_crlf_lines_without_a_visible_cr(tmp_path: Path) -> None:
    """A message piped from a Windows file showed "␍" at the end of every line of the Markdown
    (``show`` printed it right); a lone CR still shows."""
    with HistoryStore.open(tmp_path / "h.db") as store:
        store.record_turn(store.create_conversation().id, "line one\r\nline two\r\n", reply("a\rb"))
        text = "".join(iter_export([(store.get_conversation(1), store.messages(1))], "markdown", many=False))
    assert "> line one\n> line two\n>\n" in text
    assert "> a\u240db\n" in text
    assert "\r" not in text


# ---- raw HTML in a Markdown export ------------------------------------------------------------------------
def _rendered(messages: list[str], title: str = "t") -> str:
    from markdown_it import MarkdownIt

    from assistant.history.records import Conversation, StoredMessage

    conversation = Conversation(1, title, "2020", "2020")
    stored = [StoredMessage(i, 1, "user" if i % 2 else "assistant", text, "2020") for i, text in enumerate(messages, 1)]
    document = "".join(iter_export([(conversation, stored)], "markdown", many=False))
    return MarkdownIt("commonmark").render(document)


@pytest.mark.parametrize("opener", ["<!-- note", "<script>", "<style>", "<textarea>", "a <script>alert(1)", "<title>"])
def test_raw_html_in_a_message_cannot_hide_the_turns_after_it(opener: str) -> None:
    """CommonMark passes raw HTML through: a reply with a line ``<!--`` or a ``<script>``/``<textarea>``
    ran, rendered, to the end of the document (every later turn hidden, or run as a script)."""
    html = _rendered([opener, "THE NEXT TURN"], title="<script>x</script>")
    assert "<script" not in html and "<!--" not in html and "<textarea" not in html and "<style" not in html
    assert "<title" not in html
    assert "<p>THE NEXT TURN</p>" in html


def test_code_keeps_its_html_as_written() -> None:
    html = _rendered([
        "Add `<script src=app.js>` here:\n```html\n<script>\n```\nor ~~~ fences:\n~~~\n<style>\n~~~",
        "1. step\n   ```html\n   <div>\n   ```\n2. see <https://example.com>, a < b",
    ])
    assert "<code>&lt;script src=app.js&gt;</code>" in html
    assert '<code class="language-html">&lt;script&gt;\n</code>' in html
    assert "<code>&lt;style&gt;\n</code>" in html
    assert "&lt;div&gt;" in html and "\\&lt;" not in html and "\\<" not in html
    assert '<a href="https://example.com">https://example.com</a>, a &lt; b' in html


# ---- export -o ----------------------------------------------------------------------------------------------
def test_export_to_a_dash_is_stdout_not_a_file_named_dash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``-o -`` wrote a file named "-" (``prompt --batch --out -`` is stdout), and ``-o ""`` said
    "cannot write .: Is a directory"."""
    db = _seeded(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = cli("history", "export", "1", "-f", "jsonl", "-o", "-", "--db", db)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["messages"][1]["content"] == "capital question"
    assert not (tmp_path / "-").exists()
    for empty in ("", "  "):
        refused = cli("history", "export", "1", "-o", empty, "--db", db)
        assert refused.exit_code == 2
        assert "needs a file name, not an empty string" in refused.stderr


# ---- a search hit on another branch ------------------------------------------------------------------------
def test_show_at_a_message_shows_the_branch_a_search_hit_is_on(tmp_path: Path) -> None:
    """Search covers every branch, but ``show`` had only the active one: a hit on another branch
    (a regenerated reply's first version, a message before an edit) could not be read."""
    db = tmp_path / "h.db"
    with HistoryStore.open(db) as store:
        recorder = ConversationRecorder(store)
        chat(recorder, "question", None)
        recorder.regenerate(1)
        turn = recorder.start_turn("question", META)
        recorder.finish(turn, reply("second zebra"))
        head_before = store.get_conversation(1).head_id
    hit = json.loads(cli("history", "search", "re", "--json", "--db", str(db)).stdout)[0]
    assert hit["message_id"] == 2
    assert "re: question" not in cli("history", "show", "1", "--db", str(db)).stdout
    shown = cli("history", "show", "1", "--at", "2", "--db", str(db))
    assert shown.exit_code == 0, shown.output
    assert "  re: question\n" in shown.stdout and "zebra" not in shown.stdout
    assert "the branch through #2, not the one `-c` continues" in shown.stdout
    as_json = json.loads(cli("history", "show", "1", "--at", "2", "--json", "--db", str(db)).stdout)
    assert [m["id"] for m in as_json["messages"]] == [1, 2]
    with HistoryStore.open(db) as store:
        assert store.get_conversation(1).head_id == head_before  # nothing changed
    missing = cli("history", "show", "1", "--at", "99", "--db", str(db))
    assert missing.exit_code == 1 and missing.stderr == "error: conversation 1 has no message 99\n"

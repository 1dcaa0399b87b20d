"""The chat app as a demanding user found it (round 18, second pass): each test of a defect failed before
its fix."""

from __future__ import annotations

from typing import Any, Callable

import pytest

pytest.importorskip("textual")

from .tui_support import make_app, run_pilot, type_and_send, wait_idle, wait_until  # noqa: E402

KEYS_TOGETHER = [
    ("one two", [("ctrl+u", "\x15"), ("a", "a"), ("b", "b")], "ab"),  # the new text was deleted instead
    ("one two", [("ctrl+w", "\x17"), ("x", "x")], "one x"),
    ("abc", [("left", None), ("X", "X")], "abXc"),  # X went to the end, then the cursor moved
    ("abc", [("backspace", "\x7f"), ("X", "X")], "abX"),  # the X was deleted, not the c
    ("abc", [("home", None), ("X", "X")], "Xabc"),
]


async def _open_search(app: Any, pilot: Any) -> Any:
    await pilot.press("ctrl+f")
    return app.chat_screen.query_one("#search")


async def _open_settings_field(app: Any, pilot: Any) -> Any:
    await pilot.press("f2")
    await wait_until(pilot, lambda: app.screen.query("#temperature"), what="the settings")
    field = app.screen.query_one("#temperature")
    field.focus()
    return field


async def _open_rename(app: Any, pilot: Any) -> Any:
    from assistant.tui.screens.dialogs import AskText

    await app.push_screen(AskText("Rename", "old title"))
    await wait_until(pilot, lambda: isinstance(app.screen, AskText), what="the dialog")
    field = app.screen.query_one("#answer")
    field.focus()
    return field


async def _open_palette(app: Any, pilot: Any) -> Any:
    from textual.command import CommandInput, CommandPalette

    await pilot.press("ctrl+p")
    await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette), what="the palette")
    return app.screen.query_one(CommandInput)


# ---- known item 1: keys that came in one read were done out of order in the single-line inputs ---------
@pytest.mark.parametrize(
    "opener",
    [_open_search, _open_settings_field, _open_rename, _open_palette],
    ids=["search", "settings", "rename", "palette"],
)
@pytest.mark.parametrize("before, keys, after", KEYS_TOGETHER, ids=[k[0][0] for _, k, _ in KEYS_TOGETHER])
def test_keys_arriving_together_act_in_order_in_every_single_line_input(
    opener: Callable[[Any, Any], Any], before: str, keys: list[tuple[str, str | None]], after: str
) -> None:
    """A terminal read that holds a bound key and the text after it (a laggy SSH link, a text expander, tmux
    ``send-keys``): an input's own bindings (Ctrl+U, Ctrl+W, ←, Backspace, Home) ran only once the key had
    bubbled up to the app, after the letters that followed it were typed: Ctrl+U then ``ab`` in the
    sidebar's search, a settings field, the rename dialog or the command palette left it empty. They act in
    order now, as in the message box."""
    from textual import events

    app = make_app()
    found: dict[str, str] = {}

    async def scenario(pilot: Any) -> None:
        field = await opener(app, pilot)
        await pilot.pause()  # focused: a field selects its text on focus, then the cursor is set
        field.value = before
        field.cursor_position = len(before)
        await pilot.pause()
        assert app.focused is field
        for key, character in keys:  # as the driver posts one read's keys: all at once
            app.post_message(events.Key(key, character))
        await wait_until(pilot, lambda: field.value != before, what="the keys")
        for _ in range(3):  # until every key (and one bubbling up to the app) has been handled
            await pilot.pause()
        found["value"] = field.value
        # The palette searches in a worker as its box changes: let it end before the app closes under it.
        if searching := [worker for worker in app.workers if worker.node is app.screen]:
            await app.workers.wait_for_complete(searching)  # (an empty list waits for every worker)

    run_pilot(app, scenario, size=(100, 40))
    assert found["value"] == after


# ---- known item 2: the sidebar's search made each shown hit's snippet twice -----------------------------
def test_the_sidebar_search_makes_each_hit_s_snippet_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The history's search made every hit's snippet (FTS5's ``snippet()``, or a long message's pieces) with
    its matches in brackets, then the sidebar asked for each shown hit's snippet again, marked: twice the
    work for every row. The search now makes it once, in the form asked for (``marked=True``)."""
    from assistant.history import HistoryStore
    from assistant.history import search as history_search
    from assistant.tui.conversations import ConversationLibrary

    from .test_tui_history import seed_history

    seed_history([("a zebra [crossing]", "noted")], [("x " * 3000 + "[zebra] zebra", "long")])
    made: list[int] = []
    real = history_search.marked_snippet

    def counted(db: Any, message_id: int, match: str, query: str) -> Any:
        made.append(message_id)
        return real(db, message_id, match, query)

    monkeypatch.setattr(history_search, "marked_snippet", counted)
    library = ConversationLibrary(HistoryStore.open())
    try:
        rows = library.search("zebra")
    finally:
        library.close()
    assert [row.detail[a:b] for row in rows for a, b in row.found] == ["zebra", "zebra", "zebra"]
    assert sorted(made) == sorted(set(made)) and len(made) == 2


def test_a_marked_search_is_the_bracketed_one_with_its_matches_known() -> None:
    """``history search`` keeps its exact ``[word]`` form: the same snippet, bracketed."""
    from assistant.history import HistoryStore

    from .test_tui_history import seed_history

    seed_history([("a zebra [crossing] Zebras", "noted")], [("x " * 3000 + "a[zebra] zebra", "long")])
    with HistoryStore.open() as store:
        plain = store.search("zebra*", order="recent")
        marked = store.search("zebra*", order="recent", marked=True)
    assert [hit.snippet for hit in plain] == [
        "…" + "x " * 9 + "a[[zebra]] [zebra]",
        "a [zebra] [crossing] [Zebras]",
    ]
    assert [hit.marked.bracketed() for hit in marked] == [hit.snippet for hit in plain]
    assert [(h.message_id, h.conversation_id, h.role) for h in marked] == [
        (h.message_id, h.conversation_id, h.role) for h in plain
    ]


# ---- known item 3: a template whose only problem is a test case was hidden though `prompt -t` runs it -----
def _case_template(directory: Any, name: str, extra: str) -> None:
    (directory / f"{name}.jinja").write_text(
        "---\nvariables:\n  - input\n  - {name: tone, default: formal, choices: [formal, casual]}\n"
        f"{extra}---\n{{{{ tone }}}}: {{{{ input }}}}\n",
        encoding="utf-8",
    )


def test_the_picker_offers_a_template_whose_only_problem_is_a_test_case_and_says_so(
    user_templates: Any,
) -> None:
    """``rude`` (a test case the template's own ``choices`` refuse) marks the template INVALID in ``templates
    list``, and the chat hid it, though ``prompt -t`` runs it. Offered now, marked; picked, it runs and the
    chat says which case can only fail. One whose few-shot example breaks its ``choices`` cannot render: it
    stays hidden."""
    from textual.content import Content
    from textual.widgets import Select

    from assistant.templates import list_templates
    from assistant.tui.screens.settings import SettingsScreen

    _case_template(
        user_templates,
        "tested",
        "tests:\n  - {name: rude, vars: {tone: rude}, input: hi, expect: {contains: hi}}\n",
    )
    _case_template(
        user_templates, "shown", "strategy: few-shot\nexamples:\n  - {input: a, tone: rude, output: b}\n"
    )
    errors = {entry.name: entry.error for entry in list_templates()}
    assert "test 'rude'" in (errors["tested"] or "") and "example #1" in (errors["shown"] or "")
    app = make_app()  # the fake model echoes the last user turn: the template's rendering of it
    found: dict[str, Any] = {}

    async def scenario(pilot: Any) -> None:
        titles = [Content.from_markup(command.title).plain for command in app.get_system_commands(app.screen)]
        found["palette"] = [title for title in titles if "tested" in title or "shown" in title]
        await pilot.press("f2")
        screen = app.screen
        assert isinstance(screen, SettingsScreen)
        select = screen.query_one("#template", Select)
        found["select"] = [str(label) for label, name in select._options if name in ("tested", "shown")]
        select.value = "tested"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.controller.settings.template == "tested", what="the template")
        found["notes"] = [(n.severity, n.message) for n in app._notifications]
        await type_and_send(pilot, "hi")
        await wait_idle(pilot)
        found["reply"] = app.controller.session().messages[-1].content

    run_pilot(app, scenario, size=(100, 40))
    marked = "tested [zero-shot] ⚠ a test case can only fail"
    assert found["palette"] == [f"Template: {marked}"]
    assert found["select"] == [marked]
    assert ("warning", f"{errors['tested']} (the template runs; fix the test case)") in found["notes"]
    assert found["reply"] == "Echo: formal: hi"  # it ran, as `prompt -t tested hi` runs it


def test_chat_t_refuses_a_template_every_render_refuses_as_prompt_t_does(
    user_templates: Any, fakes: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``prompt -t shown`` (a few-shot example its own ``choices`` refuse) stops in one line before a model
    loads; ``chat -t shown`` opened the app and refused every message with that line. It is refused as
    ``prompt -t`` refuses it; ``chat -t tested`` (only a test case that can only fail) opens and runs."""
    import click.testing
    from click.testing import CliRunner

    from assistant.cli import main
    from assistant.tui.app import ChatApp

    _case_template(
        user_templates,
        "tested",
        "tests:\n  - {name: rude, vars: {tone: rude}, input: hi, expect: {contains: hi}}\n",
    )
    _case_template(
        user_templates, "shown", "strategy: few-shot\nexamples:\n  - {input: a, tone: rude, output: b}\n"
    )
    prompted = CliRunner().invoke(main, ["prompt", "-t", "shown", "-b", "fake", "-m", "m", "hi"])
    assert prompted.exit_code == 1
    opened: list[ChatApp] = []
    monkeypatch.setattr(ChatApp, "run", lambda self, *a, **k: opened.append(self))
    monkeypatch.setattr(click.testing._NamedTextIOWrapper, "isatty", lambda self: True, raising=False)
    refused = CliRunner().invoke(main, ["chat", "-t", "shown", "-b", "fake", "-m", "m", "--no-log"])
    assert (refused.exit_code, refused.stderr) == (1, prompted.stderr)
    assert opened == []
    chat = CliRunner().invoke(main, ["chat", "-t", "tested", "-b", "fake", "-m", "m", "--no-log"])
    assert chat.exit_code == 0, chat.output
    (app,) = opened
    assert app.controller.template.name == "tested"


# ---- found: the settings' system prompt field drew a line break raw, and a paste kept its first line ----
def test_a_system_prompt_of_several_lines_is_one_line_in_its_field_and_kept_whole() -> None:
    """``chat -s $'line one\\nline two'``: F2 drew ``line two`` over the panel's border and the screen
    beside it (a field is one line); a system prompt pasted into the field kept its first line only.
    The field shows each line break as ``⏎``; applied untouched, the prompt is as it was, and a pasted
    one is kept whole."""
    from textual import events
    from textual.widgets import Input

    from assistant.tui.screens.settings import SettingsScreen

    app = make_app(system="line one\nline two")
    found: dict[str, Any] = {}

    async def scenario(pilot: Any) -> None:
        await pilot.press("f2")
        assert isinstance(app.screen, SettingsScreen)
        field = app.screen.query_one("#system", Input)
        found["shown"] = field.value
        await pilot.press("ctrl+s")
        found["untouched"] = app.controller.settings.system
        await pilot.press("f2")
        field = app.screen.query_one("#system", Input)
        field.focus()
        await pilot.pause()
        field.value = ""
        app.post_message(events.Paste("first\nsecond\r\nthird\n"))
        await wait_until(pilot, lambda: field.value != "", what="the paste")
        found["pasted"] = field.value
        await pilot.press("ctrl+s")
        found["applied"] = app.controller.settings.system

    run_pilot(app, scenario, size=(100, 40))
    assert found["shown"] == "line one⏎line two"
    assert found["untouched"] == "line one\nline two"
    assert found["pasted"] == "first⏎second⏎third"
    assert found["applied"] == "first\nsecond\nthird"

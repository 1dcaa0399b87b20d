"""The chat app shows a reply that is one JSON document as highlighted JSON code (#18).

Stored and streamed replies alike; a reply that only contains JSON keeps its
Markdown, and copying still gives the text as the model wrote it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

pytest.importorskip("textual")

from textual.app import App, ComposeResult  # noqa: E402
from textual.containers import VerticalScroll  # noqa: E402
from textual.widgets import Markdown  # noqa: E402

from assistant.tui.widgets.chat_log import AssistantMessage, json_markdown  # noqa: E402

DOC = '{"name": "Rex", "tags": ["a", "b"], "note": "```fenced```"}'


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ('{"a": 1}', '```json\n{\n  "a": 1\n}\n```\n'),
        ('  [1, 2]\n', "```json\n[\n  1,\n  2\n]\n```\n"),
        ('{"a": 1} and more', None),
        ("Here is JSON: {}", None),
        ('"just a string"', None),
        ("42", None),
        ('{"a": ', None),
        ("", None),
    ],
)
def test_only_whole_json_documents_become_code(text: str, shown: str | None) -> None:
    assert json_markdown(text) == shown


def test_a_fence_inside_a_string_does_not_end_the_block() -> None:
    shown = json_markdown(DOC)
    assert shown is not None and shown.startswith("````json\n") and shown.endswith("\n````\n")


class Harness(App[None]):
    def compose(self) -> ComposeResult:
        yield VerticalScroll(id="view")


async def show(text: str, pieces: list[str] | None) -> dict[str, Any]:
    app = Harness()
    async with app.run_test(size=(80, 30)) as pilot:
        view = app.query_one("#view", VerticalScroll)
        if pieces is None:
            message = AssistantMessage(text, label="model")
            await view.mount(message)
        else:
            message = AssistantMessage(label="model")
            await view.mount(message)
            for piece in pieces:
                await message.write(piece)
            await message.finish()
        await pilot.pause()
        code = [block for block in message.query("MarkdownFence")]
        return {
            "shown": message.shown_markdown,
            "copied": message.copy_text(),
            "fences": len(code),
            "markdown": len(list(message.query(Markdown))),
        }


@pytest.mark.parametrize("streamed", [False, True], ids=["stored", "streamed"])
def test_a_json_reply_is_drawn_as_a_json_code_block(streamed: bool) -> None:
    pieces = [DOC[i : i + 7] for i in range(0, len(DOC), 7)] if streamed else None
    result = asyncio.run(show(DOC, pieces))
    assert result["shown"] == json_markdown(DOC)
    assert result["fences"] == 1
    assert result["copied"] == DOC


def test_a_reply_with_json_inside_stays_markdown() -> None:
    text = 'Sure: {"a": 1}\n\n- one\n- two\n'
    result = asyncio.run(show(text, [text[:9], text[9:]]))
    assert result["shown"] == text and result["fences"] == 0


PET_TEMPLATE = """
---
variables: [input]
output:
  type: json
  schema:
    type: object
    required: [name, kind]
    properties:
      name: {type: string}
      kind: {enum: [cat, dog]}
---
{{ input }}
"""


def test_a_json_template_in_the_chat_app_is_held_to_its_schema(user_templates: Any, write_file: Any) -> None:
    """The chat app constrains a template's schema as the CLI does, and plain chat afterwards is free text."""
    import json

    from assistant.structured.schema import validate
    from assistant.tui.widgets.chat_log import ChatLog

    from .tui_support import make_app, run_pilot, type_and_send, wait_idle

    write_file(user_templates, "pet.jinja", PET_TEMPLATE)
    app = make_app(reply="Rex")

    async def scenario(pilot: Any) -> None:
        app.switch_template("pet")
        await type_and_send(pilot, "a pet please")
        await wait_idle(pilot)
        schema = app.controller.template.output.schema
        assert app.controller.backend.calls[-1]["params"].json_schema == schema
        reply = app.controller.messages[-1].content
        assert validate(json.loads(reply), schema) == []
        assert "```json" in (app.chat_screen.query_one(ChatLog).last_assistant().shown_markdown or "")
        app.switch_template(None)
        await type_and_send(pilot, "hello")
        await wait_idle(pilot)
        assert app.controller.backend.calls[-1]["params"].json_schema is None

    run_pilot(app, scenario)

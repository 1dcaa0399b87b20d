"""Every key binding of the chat app, in one table.

The F1 help screen is drawn from this table and a test checks that
``docs/tui.md`` lists every entry, so the three cannot drift apart.
"""

from __future__ import annotations

from typing import NamedTuple


class KeyHelp(NamedTuple):
    section: str
    keys: str
    description: str


KEY_HELP: tuple[KeyHelp, ...] = (
    KeyHelp("Message box", "Enter", "Send the message (or run the /command)"),
    KeyHelp("Message box", "Shift+Enter / Ctrl+J", "Insert a newline"),
    KeyHelp("Message box", "Up / Down", "Previous / next sent message (on the first / last line)"),
    KeyHelp("Message box", "PageUp / PageDown", "Scroll the conversation (at the top: earlier turns)"),
    KeyHelp("Reply", "Esc", "Stop the reply; the partial text stays, marked interrupted"),
    KeyHelp("Reply", "F4", "Copy the last reply to the clipboard (OSC 52)"),
    KeyHelp("Focused message", "c", "Copy the message"),
    KeyHelp("Focused message", "b", "Copy a code block (press again for the next one)"),
    KeyHelp("Panels", "F1", "This help"),
    KeyHelp("Panels", "F2", "Settings: model, backend, template, sampling parameters"),
    KeyHelp("Panels", "F3", "Prompt inspector: the exact text the model sees next, with its token count"),
    KeyHelp("Panels", "Ctrl+P", "Command palette (switch model, backend, template, theme ...)"),
    KeyHelp("Panels", "Ctrl+B", "Show / hide the conversations sidebar"),
    KeyHelp("Panels", "Ctrl+T", "Toggle light / dark theme"),
    KeyHelp("Conversations", "Ctrl+N", "New conversation"),
    KeyHelp("Conversations", "Ctrl+F", "Search conversations"),
    KeyHelp("Conversations", "Down (in the search)", "Go to the results (Enter too)"),
    KeyHelp("Conversations", "Enter (in the list)", "Open the conversation"),
    KeyHelp("Conversations", "r (in the list)", "Rename the conversation"),
    KeyHelp("Conversations", "Delete (in the list)", "Delete the conversation (asks first)"),
    KeyHelp("App", "Tab / Shift+Tab", "Move focus between the input, messages and sidebar"),
    KeyHelp("App", "Ctrl+Q", "Quit"),
)

SLASH_HELP: tuple[tuple[str, str], ...] = (
    ("/summarize [length=sentence|short|bullets] [TEXT]", "Summarise TEXT, or the last message"),
    ("/translate LANG [TEXT]", "Translate TEXT (or the last message) into LANG, e.g. /translate fr"),
    ("/ner [TEXT]", "Highlight people, places and organisations"),
    ("/sentiment [TEXT]", "Classify the sentiment, with a probability per label"),
    ("/help", "List the slash commands and tools"),
    ("//text", "Send a message that starts with a slash"),
)

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
    KeyHelp("Message box", "Esc", "Take back a message sent while the model loads"),
    KeyHelp("Reply", "Esc", "Stop the reply; the partial text stays, marked interrupted"),
    KeyHelp("Reply", "F4", "Copy the last reply to the clipboard (OSC 52)"),
    KeyHelp("Reply", "Ctrl+R", "Write the last reply again; the old one stays as another version"),
    KeyHelp("Focused message", "c", "Copy the message"),
    KeyHelp("Focused message", "b", "Copy a code block (press again for the next one)"),
    KeyHelp("Focused message", "t", "Token view of a reply: tokens shaded by probability (also in Ctrl+P)"),
    KeyHelp("Focused message", "a", "Attention view of a reply: what each token looked at (also in Ctrl+P)"),
    KeyHelp("Focused message", "r", "Write a reply again: a new version beside it, the conversation goes on from it"),
    KeyHelp("Focused message", "e", "Edit one of your messages; Enter sends it as a new version, Esc cancels"),
    KeyHelp("Focused message", "← / →", "Previous / next version of a regenerated reply or an edited message"),
    KeyHelp("Token view", "← / → (or click)", "Previous / next token: its step's candidates below"),
    KeyHelp("Token view", "↑ / ↓, PgUp / PgDn", "The token a line or a page up / down (long replies page)"),
    KeyHelp("Token view", "Home / End", "First / last token"),
    KeyHelp("Token view", "[ / ]", "Pick the previous / next candidate: the list scrolls to it, shown whole above it"),
    KeyHelp("Token view", "s", "Sampling panel: the same candidates under other settings"),
    KeyHelp("Token view", "t/T, k/K, p/P", "Sampling panel: temperature, top-k, top-p down / up"),
    KeyHelp("Token view", "=", "Sampling panel: back to the reply's own settings"),
    KeyHelp("Token view", "r", "Compute the probabilities again (teacher-forced scoring)"),
    KeyHelp("Token view", "Esc", "Back one level: sampling panel, computation, view"),
    KeyHelp("Attention view", "l / L", "Next / previous layer"),
    KeyHelp("Attention view", "h / H", "Next / previous head (the head mean comes after the last)"),
    KeyHelp("Attention view", "m", "Mean over the layer's heads"),
    KeyHelp("Attention view", "arrows", "Move the cursor: the weight of that cell shows below the map"),
    KeyHelp("Attention view", "e", "Export the map as a PNG (the picture `assistant attention --out` draws)"),
    KeyHelp("Attention view", "Esc", "Cancel the computation, close the view"),
    KeyHelp("Prompt inspector", "c", "Copy the prompt (the exact text, as the model sees it)"),
    KeyHelp("Prompt inspector", "Esc / F3", "Close the inspector"),
    KeyHelp("Settings", "Ctrl+S (or Enter in a field)", "Apply (a bad value is named, its field focused)"),
    KeyHelp("Settings", "Esc (in settings)", "Close the settings, changing nothing"),
    KeyHelp("Dialogs", "y / n", "Answer a yes / no question (Esc is no)"),
    KeyHelp("Dialogs", "Enter / Esc (in a text dialog)", "Accept / cancel (renaming a conversation)"),
    KeyHelp("Panels", "F1", "This help"),
    KeyHelp("Panels", "F2", "Settings: model, backend, template, sampling parameters"),
    KeyHelp("Panels", "F3", "Prompt inspector: the exact text the model sees next, with its token count"),
    KeyHelp("Panels", "Ctrl+P", "Command palette (switch model, backend, template, theme ...)"),
    KeyHelp("Panels", "Ctrl+B", "Show / hide the conversations sidebar"),
    KeyHelp("Panels", "Ctrl+T", "Toggle light / dark theme"),
    KeyHelp("Conversations", "Ctrl+N", "New conversation"),
    KeyHelp("Conversations", "Ctrl+F", "Search conversations"),
    KeyHelp("Conversations", "Down (in the search)", "Go to the results (Enter too)"),
    KeyHelp("Conversations", "Esc (in the search or the list)", "Back to the message box"),
    KeyHelp("Conversations", "Enter (in the list)", "Open the conversation"),
    KeyHelp("Conversations", "r (in the list)", "Rename the conversation"),
    KeyHelp("Conversations", "Delete (in the list)", "Delete the conversation (asks first)"),
    KeyHelp("App", "Tab / Shift+Tab", "Move focus between the input, messages and sidebar"),
    KeyHelp("App", "Ctrl+Q", "Quit (an unsent message is kept for next time)"),
    KeyHelp("App", "Ctrl+D", "Quit, in an empty message box (with text it deletes to the right)"),
)

SLASH_HELP: tuple[tuple[str, str], ...] = (
    ("/help [NAME]", "List the slash commands and every installed tool with its parameters, or one of them"),
    ("//text", "Send a message that starts with a slash"),
)
"""The slash commands that are not tools; the tools' rows come from the registry
(:func:`assistant.tui.tool_calls.slash_help`), with their parameters."""

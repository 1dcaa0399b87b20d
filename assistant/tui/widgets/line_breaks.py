"""The Markdown parser of model-written text: a single newline is a line break, as the model wrote it.

CommonMark joins the lines of a paragraph ("soft breaks" drawn as spaces), so
a poem or an address a model wrote line by line came out as one run-on
paragraph, while the token view and the prompt inspector showed its lines.
Chat UIs keep the model's line breaks (GitHub's comments and markdown-it's own
``breaks`` option do the same), and so does this parser: after parsing, every
soft break inside a paragraph becomes a hard break. Because the parser itself
decides what is a paragraph, code blocks (fenced or indented), headings, lists,
tables and block quotes are what they always were; a blank line still starts a
new paragraph; and a line broken inside a list item or a quote keeps its break.

Every Markdown widget that shows a model's text is built with
:func:`reply_parser` — a reply's segments (:class:`~.growing_list.ReplySegment`,
live and reopened alike), a chain-of-thought's reasoning and answer, a tool's
text result — so a streamed reply and the same reply reopened draw the same.
markdown-it-py leaves its ``breaks`` option to the HTML renderer, and Textual
draws a soft break as a space, hence the rule here rather than the option.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.rules_core import StateCore

_PARSER: MarkdownIt | None = None


def _hard_breaks(state: StateCore) -> None:
    """Core rule (after ``inline``): every soft line break of a paragraph becomes a hard one."""
    for token in state.tokens:
        if token.type == "inline" and token.children:
            for child in token.children:
                if child.type == "softbreak":
                    child.type = "hardbreak"
                    child.tag = "br"


def reply_parser() -> MarkdownIt:
    """The parser (Textual's ``gfm-like`` one plus :func:`_hard_breaks`) for a ``Markdown(parser_factory=…)``.

    One instance, made on first use and shared: Textual asks its factory for a
    parser on every append of a streaming reply, and building one costs more
    than parsing the few lines an append re-reads. Parsing keeps no state in
    the parser, and every Markdown widget parses on the UI thread.
    """
    global _PARSER
    if _PARSER is None:
        from markdown_it import MarkdownIt

        parser = MarkdownIt("gfm-like")
        parser.core.ruler.push("hard_breaks", _hard_breaks)
        _PARSER = parser
    return _PARSER

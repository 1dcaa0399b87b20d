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

A reply is untrusted text, and no text of it may vanish from the screen or
change what it says. Textual draws nothing for several constructs that
CommonMark parses out of ordinary lines, so this parser also:

* reads HTML as text (``html`` off): Textual drops HTML blocks and inline tags,
  so ``a <b>bold</b> c`` lost its tags and ``<div>hi</div>`` its whole line;
* has no link reference definitions (``reference`` off): ``[a]: b`` is a line
  a model writes in a list of sources, and it vanished;
* keeps a line a model underlined with ``---`` (a separator, mostly) a line of
  text, the dashes on the line below it: a setext heading made it a heading
  and the dashes vanished. (Not a rule: Textual draws a rule outside any list
  or quote it is in, and a streamed ``- item`` nested under a line passes
  through this shape.) A line underlined with ``===`` is still a heading;
* spells out what Textual would draw as nothing (:func:`_keep_visible`): a
  list item holding only empty nested lists (``1. 1.``, ``- -``), an empty
  ATX heading (``#``), a link with no text (``[](url)``) and an image with no
  alt text (``![](url)``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.rules_core import StateCore
    from markdown_it.token import Token

_PARSER: MarkdownIt | None = None


def _hard_breaks(state: StateCore) -> None:
    """Core rule (after ``inline``): every soft line break of a paragraph becomes a hard one."""
    for token in state.tokens:
        if token.type == "inline" and token.children:
            for child in token.children:
                if child.type == "softbreak":
                    child.type = "hardbreak"
                    child.tag = "br"


def _text_token(content: str, level: int) -> Token:
    from markdown_it.token import Token

    return Token("text", "", 0, content=content, level=level)


def _spelled_markers(tokens: list[Token]) -> str:
    """The list markers (``1.``, ``-``) of the items in ``tokens``, as the model wrote them."""
    return " ".join(
        f"{token.info}{token.markup}" if token.info else token.markup
        for token in tokens
        if token.type == "list_item_open"
    )


def _shows_something(token: Token) -> bool:
    if token.type == "inline":
        return bool(token.children)
    return token.type in {"fence", "code_block", "hr", "table_open", "html_block"}


def _underline(source: str, lines: list[int] | None) -> str:
    """The dashes under a setext heading as written (``---``, ``--------``), without a quote's or list's indent."""
    if lines:
        found = re.search(r"-[- \t]*$", source.split("\n")[lines[1] - 1].rstrip())
        if found:
            return found.group().rstrip()
    return "---"


def _keep_visible(state: StateCore) -> None:
    """Core rule (after ``inline``): what Textual would draw as nothing is drawn as the text it was.

    A list item with no visible content (Textual draws neither its marker nor
    its nested empty items, so ``1. 1.`` vanished) gets a paragraph of the
    nested markers; an empty ATX heading shows its ``#``; a link with no text
    shows its address (or ``[]()``); an image with no alt text its address; a
    line over ``---`` stays a paragraph, its dashes the paragraph's next line.
    """
    from markdown_it.token import Token

    tokens = state.tokens
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.type == "list_item_open":
            end = index + 1
            while not (tokens[end].type == "list_item_close" and tokens[end].level == token.level):
                end += 1
            inside = tokens[index + 1 : end]
            if not any(_shows_something(inner) for inner in inside):
                level = token.level + 1
                inline = Token("inline", "", 0, map=token.map, level=level + 1, block=True)
                text = _spelled_markers(inside)
                inline.content = text
                inline.children = [_text_token(text, 0)] if text else []
                tokens[index + 1 : end] = [
                    Token("paragraph_open", "p", 1, map=token.map, level=level, block=True),
                    inline,
                    Token("paragraph_close", "p", -1, level=level, block=True),
                ]
        elif token.type == "heading_open" and token.markup == "-":  # setext: a line, then ---
            inline, close = tokens[index + 1], tokens[index + 2]
            token.type, token.tag, token.markup = "paragraph_open", "p", ""
            close.type, close.tag, close.markup = "paragraph_close", "p", ""
            underline = _underline(state.src, token.map)
            inline.content += "\n" + underline
            inline.children = [
                *(inline.children or []),
                Token("hardbreak", "br", 0, level=inline.level),
                _text_token(underline, 0),
            ]
        elif token.type == "heading_open" and token.markup.startswith("#"):
            inline = tokens[index + 1]
            if inline.type == "inline" and not inline.children:
                inline.content = token.markup
                inline.children = [_text_token(token.markup, 0)]
        elif token.type == "inline" and token.children:
            _keep_inline_visible(token.children)
        index += 1


def _keep_inline_visible(children: list[Token]) -> None:
    """A link with no text shows its address (``[]()`` when it has none); an image with no alt text its address."""
    position = 0
    while position < len(children):
        child = children[position]
        if (
            child.type == "link_open"
            and position + 1 < len(children)
            and children[position + 1].type == "link_close"
        ):
            href = str(child.attrs.get("href", ""))
            if href:
                children.insert(position + 1, _text_token(href, child.level + 1))
            else:
                children[position : position + 2] = [_text_token("[]()", child.level)]
        elif child.type == "image" and not child.attrs.get("alt") and not child.children:
            child.attrs["alt"] = str(child.attrs.get("src", ""))
        position += 1


def reply_parser() -> MarkdownIt:
    """The parser (Textual's ``gfm-like`` one, HTML as text, plus :func:`_hard_breaks` and :func:`_keep_visible`) for a ``Markdown(parser_factory=…)``.

    One instance, made on first use and shared: Textual asks its factory for a
    parser on every append of a streaming reply, and building one costs more
    than parsing the few lines an append re-reads. Parsing keeps no state in
    the parser, and every Markdown widget parses on the UI thread.
    """
    global _PARSER
    if _PARSER is None:
        from markdown_it import MarkdownIt

        parser = MarkdownIt("gfm-like")
        parser.options["html"] = False  # see the module's docstring: HTML is text
        parser.disable("reference")
        parser.core.ruler.push("hard_breaks", _hard_breaks)
        parser.core.ruler.push("keep_visible", _keep_visible)
        _PARSER = parser
    return _PARSER

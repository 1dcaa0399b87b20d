"""The sandbox a model's chat template renders in: its globals, its extensions, and its words in errors.

A chat template comes from a model file, so it is untrusted: it renders in Jinja's immutable sandbox
with the allocation limits of prompt templates, and the functions it may call (``raise_exception``,
``strftime_now``) are bounded too. :mod:`.chat_format` renders with it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from ..errors import TemplateError
from ..terminal_text import one_line

MAX_TEMPLATE_WORDS = 300
"""Most terminal cells of a template's own words (``raise_exception``'s message, a Jinja error quoting a
name it built) an error keeps: a GGUF template's ``raise_exception('ab' * 400000)`` was an 800 KB
"one-line" error, printed whole and stored as the failed turn's error in the history."""


def template_words(text: object) -> str:
    """What a template said, on one line and at most :data:`MAX_TEMPLATE_WORDS` cells, "…" where it was cut.

    Cut by characters first (no cell count over a megabyte), so a cut can hide in a run of spaces that
    one line makes one: the "…" is added then too.
    """
    said = str(text)
    kept = said[: MAX_TEMPLATE_WORDS * 2]
    shown = one_line(kept, width=MAX_TEMPLATE_WORDS)
    return shown if len(kept) == len(said) or shown.endswith("…") else shown + "…"


def _raise_exception(message: str) -> None:
    raise TemplateError(f"chat template refused the messages: {template_words(message)}")


_environment: Any = None


def _generation_tags() -> Any:
    """A Jinja extension reading ``{% generation %}…{% endgeneration %}`` as its body, as is.

    Fine-tuned models' templates mark the assistant's part this way for training
    (transformers' ``return_assistant_tokens_mask``); transformers and
    llama-cpp-python both accept the tags, and render the body unchanged. Without
    them, such a model's chat failed with "Encountered unknown tag 'generation'".
    """
    from jinja2.ext import Extension

    class GenerationTags(Extension):
        tags = {"generation"}

        def parse(self, parser: Any) -> Any:
            next(parser.stream)  # the tag's name
            return parser.parse_statements(("name:endgeneration",), drop_needle=True)

    return GenerationTags


MAX_DATE_FORMAT = 100
"""Most characters of a format ``strftime_now`` takes. Real templates pass a few (``"%d %b %Y"``). The
sandbox bounds the format, not what strftime makes of it (``%c`` makes 24 characters of two), nor the
work: a loop over ``strftime_now('%c' * 500000)`` ran for over five minutes."""


def _strftime_now(fmt: str) -> str:
    """Today's date in ``fmt``, the ``strftime_now`` of transformers' chat templates (Llama 3.x calls it).

    Each ``%`` directive is charged as a step of the render's budget, as the sandbox charges its own
    work: one call with 50 of them costs what 50 loop iterations do (measured: about as long).
    """
    if isinstance(fmt, str):
        if len(fmt) > MAX_DATE_FORMAT:
            raise TemplateError(
                f"model chat template failed: strftime_now takes a date format of at most {MAX_DATE_FORMAT} "
                f"characters, not {len(fmt):,}"
            )
        sandbox = chat_sandbox()
        for _ in range(fmt.count("%")):
            sandbox.step()
    return date.today().strftime(fmt)


def chat_sandbox() -> Any:
    """The one Jinja environment chat templates render in, made on first use (Jinja is imported then)."""
    global _environment
    if _environment is None:
        from ..templates.sandbox import bounded_environment

        # Same whitespace settings as transformers' apply_chat_template (trim_blocks,
        # lstrip_blocks, loopcontrols), with the allocation limits of prompt templates.
        env = bounded_environment()
        env.add_extension(_generation_tags())
        env.globals["raise_exception"] = _raise_exception
        env.globals["strftime_now"] = _strftime_now
        _environment = env
    return _environment


_literals: dict[str, tuple[str, ...]] = {}


def template_literals(template: str) -> tuple[str, ...]:
    """The string literals of ``template`` that could cut a content, without their blanks (two characters or more).

    What a template splits a content at (``content.split('</think>')``), so a content can be marked piece by
    piece (:func:`~.chat_marks.marked_pieces`). Without blanks: cut at ``'\\n</tool_response>'`` whole, the
    blank piece before it was empty, and the marks there stopped the template's ``lstrip('\\n')``. A template
    Jinja cannot read has none (its render fails anyway).
    """
    found = _literals.get(template)
    if found is None:
        from jinja2 import TemplateSyntaxError
        from jinja2.lexer import get_lexer

        strings: set[str] = set()
        try:
            for token in get_lexer(chat_sandbox()).tokenize(template):
                if token.type == "string" and len(token.value.strip()) >= 2:
                    strings.add(token.value.strip())
        except TemplateSyntaxError:
            pass
        found = _literals[template] = tuple(sorted(strings))
    return found

"""The Jinja environment templates render in, and how Jinja's errors become ours.

Templates come from the user, from plugins and from files people share, so they
are untrusted code. They render in Jinja's :class:`ImmutableSandboxedEnvironment`
(no private attributes, no ``str.format`` escapes, no mutating lists or dicts)
with :class:`StrictUndefined` (a misspelt variable is an error, never an empty
string). On top of the sandbox this module bounds what a template can allocate:
string/list repetition, huge powers and padded formatting are refused before
they run, and rendered output is capped (:data:`MAX_RENDERED_CHARS`).

The sandbox does not bound CPU time: a loop that prints nothing runs as long as
it runs. Only load templates you would run as a shell script's input.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import TracebackType
from typing import Any, Callable

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from ..errors import TemplateError

MAX_RENDERED_CHARS = 1_000_000
"""Rendered prompts longer than this are refused (≈250k tokens, past any local model's window)."""

_MAX_POWER_BITS = 4096
_FORMAT_WIDTH = re.compile(r"%[-#0 +]*(\d+)")


class RenderLimitError(TemplateError):
    """A template tried to allocate more than the sandbox allows."""


class OutputLimitError(RenderLimitError):
    """The rendered text passed its size cap."""


def _check_repeat(left: Any, right: Any, limit: int) -> None:
    for seq, count in ((left, right), (right, left)):
        if isinstance(seq, (str, list, tuple)) and isinstance(count, int) and len(seq) * count > limit:
            raise RenderLimitError(f"repetition would produce {len(seq) * count:,} items (limit {limit:,})")


def _check_format_widths(fmt: Any, limit: int) -> None:
    if isinstance(fmt, str):
        for match in _FORMAT_WIDTH.finditer(fmt):
            if int(match.group(1)) > limit:
                raise RenderLimitError(f"format width {match.group(1)} exceeds the limit {limit:,}")


class PromptSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, plus limits on operators that can allocate without bound."""

    intercepted_binops = frozenset({"*", "**", "%"})
    max_chars = MAX_RENDERED_CHARS

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        """Fail at once (Jinja would return an Undefined that fails later, less clearly)."""
        raise SecurityError(f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe")

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            _check_repeat(left, right, self.max_chars)
        elif operator == "**":
            if isinstance(left, int) and isinstance(right, int) and abs(left) > 1:
                if right * max(left.bit_length(), 1) > _MAX_POWER_BITS:
                    raise RenderLimitError(f"{left} ** {right} is too large to compute in a template")
        elif operator == "%":
            _check_format_widths(left, self.max_chars)
        return super().call_binop(context, operator, left, right)


def _bounded_filter(filters: dict[str, Callable[..., Any]], name: str, limit: int) -> None:
    original = filters[name]

    def bounded(*args: Any, **kwargs: Any) -> Any:
        numbers = [a for a in (*args[1:], *kwargs.values()) if isinstance(a, int) and not isinstance(a, bool)]
        if name == "format":
            _check_format_widths(args[0] if args else "", limit)
        elif any(n > limit for n in numbers):
            raise RenderLimitError(f"|{name} argument exceeds the limit {limit:,}")
        return original(*args, **kwargs)

    filters[name] = bounded


def make_environment(loader: jinja2.BaseLoader | None) -> PromptSandbox:
    """A fresh sandbox with the settings every template renders under."""
    env = PromptSandbox(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        autoescape=False,
        auto_reload=True,
        extensions=["jinja2.ext.loopcontrols"],
    )
    for name in ("center", "indent", "format"):
        _bounded_filter(env.filters, name, env.max_chars)
    env.globals.pop("lipsum", None)  # generates text; no prompt needs it
    return env


def render_bounded(template: jinja2.Template, context: dict[str, Any], limit: int = MAX_RENDERED_CHARS) -> str:
    """Render chunk by chunk, stopping as soon as the output passes ``limit`` characters."""
    parts: list[str] = []
    size = 0
    for piece in template.generate(context):
        size += len(piece)
        if size > limit:
            raise OutputLimitError(f"rendered text exceeds {limit:,} characters")
        parts.append(piece)
    return "".join(parts)


# ---- error translation ----------------------------------------------------------------


def _template_frame(tb: TracebackType | None) -> tuple[str, int] | None:
    """The innermost traceback frame that belongs to a template file (Jinja rewrites them)."""
    found = None
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".jinja") or filename == "<template>" or filename.startswith("<front matter"):
            found = (filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


def _short(filename: str) -> str:
    try:
        return str(Path(filename).relative_to(Path.cwd()))
    except ValueError:
        return filename


def translate_error(exc: BaseException, where: str) -> TemplateError:
    """Turn any exception raised while compiling or rendering into a one-line TemplateError.

    ``where`` names the template (or the front matter field) for errors that
    carry no file position of their own.
    """
    if isinstance(exc, TemplateError) and not isinstance(exc, RenderLimitError):
        return exc
    if isinstance(exc, jinja2.TemplateSyntaxError):
        filename = exc.filename or where
        return TemplateError(f"{_short(filename)}:{exc.lineno}: syntax error: {exc.message}")
    location = _template_frame(exc.__traceback__)
    prefix = f"{_short(location[0])}:{location[1]}" if location else where
    if isinstance(exc, RenderLimitError):
        return TemplateError(f"{prefix}: refused by the template sandbox: {exc}")
    if isinstance(exc, SecurityError):
        return TemplateError(f"{prefix}: unsafe operation blocked by the template sandbox: {exc}")
    if isinstance(exc, jinja2.TemplateNotFound):
        return TemplateError(f"{prefix}: template {exc.name!r} not found (see `assistant templates path`)")
    if isinstance(exc, jinja2.UndefinedError):
        return TemplateError(f"{prefix}: {exc.message}")
    if isinstance(exc, RecursionError):
        return TemplateError(f"{prefix}: template includes or extends itself")
    return TemplateError(f"{prefix}: {type(exc).__name__}: {exc}")


def undeclared_names(env: jinja2.Environment, source: str, filename: str) -> set[str]:
    """Variables a template body reads but never sets (Jinja's own static analysis)."""
    from jinja2 import meta

    try:
        ast = env.parse(source, filename=filename)
    except jinja2.TemplateSyntaxError as exc:
        exc.filename = filename
        raise translate_error(exc, filename) from None
    return set(meta.find_undeclared_variables(ast))

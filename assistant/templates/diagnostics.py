"""How Jinja's errors become ours, and what a template body reads: diagnostics around the sandbox.

Apart from :mod:`.sandbox`, which makes rendering safe, because this is the
other half of what a user sees of a template: every failure, whether Jinja
raised it, the sandbox refused an operation or a loader refused a file, becomes
one :class:`~assistant.errors.TemplateError` line naming the file, the line and
the includes that led there; and the static analysis that tells the loader
which variables a body reads and whether it reads other templates.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import TracebackType

import jinja2
from jinja2 import nodes
from jinja2.sandbox import SecurityError

from ..errors import TemplateError
from .sandbox import RenderLimitError

# ---- error translation ----------------------------------------------------------------


_FIELD = re.compile(r"^<front matter '(?P<key>[A-Za-z_]+)' of (?P<path>.*)>$", re.DOTALL)


def field_filename(path: str, key: str) -> str:
    """The file name a front-matter field (``system``, ``example_template``) is compiled under.

    Jinja puts it on the frames of the compiled code, so an error raised while
    the field renders can name the template's file and the field
    (:func:`translate_error`) instead of an anonymous ``<template>``.
    """
    return f"<front matter '{key}' of {path}>"


def _is_template_file(filename: str) -> bool:
    return filename.endswith(".jinja") or filename == "<template>" or filename.startswith("<front matter")


def _template_frames(tb: TracebackType | None) -> list[tuple[str, int]]:
    """The traceback's frames that belong to template files, outermost first (Jinja rewrites them).

    Consecutive frames of one file (a macro, a block, a loop) are one entry at the
    innermost line: the line that included, extended or called into the next file.
    """
    frames: list[tuple[str, int]] = []
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if _is_template_file(filename):
            if frames and frames[-1][0] == filename:
                frames[-1] = (filename, tb.tb_lineno)
            else:
                frames.append((filename, tb.tb_lineno))
        tb = tb.tb_next
    return frames


MAX_CHAIN = 3
"""Outer files named in "(reached from ...)"; a deeper chain (mutual includes) ends in "..."."""


def _reached_from(frames: list[tuple[str, int]], error_file: str) -> str:
    """`` (reached from greet.jinja:8)``: the lines that pulled in the files between the template and the error.

    Why: an error inside an ``{% include %}``d partial names the partial's line,
    but a partial shared by several templates (or included twice by one) leaves
    the user asking which include led there.
    """
    while frames and frames[-1][0] == error_file:
        frames = frames[:-1]
    if not frames:
        return ""
    chain = [position(*frame).replace(": in ", " in ") for frame in reversed(frames)]
    if len(chain) > MAX_CHAIN:
        chain = [*chain[:MAX_CHAIN], "..."]
    return f" (reached from {', '.join(chain)})"


def _short(filename: str) -> str:
    try:
        return str(Path(filename).relative_to(Path.cwd()))
    except ValueError:
        return filename


def position(filename: str, line: int) -> str:
    """``file:line`` for a frame; a front-matter field's frame says which field too."""
    field = _FIELD.match(filename)
    if field is not None:
        return f"{_short(field['path'])}:{line}: in '{field['key']}'"
    return f"{_short(filename)}:{line}"


def translate_error(exc: BaseException, where: str) -> TemplateError:
    """Turn any exception raised while compiling or rendering into a one-line TemplateError.

    ``where`` names the template (or the front matter field) for errors that
    carry no file position of their own.
    """
    frames = _template_frames(exc.__traceback__)
    if isinstance(exc, TemplateError) and not isinstance(exc, RenderLimitError):
        if not frames:
            return exc
        # A partial the loader refused (a link leading out, not a regular file): the include that named it.
        return TemplateError(f"{position(*frames[-1])}: {exc}{_reached_from(frames[:-1], frames[-1][0])}")
    if isinstance(exc, jinja2.TemplateSyntaxError):
        filename = exc.filename or where
        return TemplateError(
            f"{_short(filename)}:{exc.lineno}: syntax error: {exc.message}{_reached_from(frames, filename)}"
        )
    if isinstance(exc, RecursionError) and not frames:
        # Raised by Jinja's parser or compiler, not by a template calling itself: a body (or a field)
        # of brackets or blocks thousands deep. "Recurses" sent the user looking for an include loop.
        return TemplateError(f"{where}: the template nests too deeply (brackets, filters or blocks inside one another)")
    location = frames[-1] if frames else None
    prefix = position(*location) if location else where
    suffix = _reached_from(frames, location[0]) if location else ""
    return TemplateError(f"{prefix}: {_describe(exc)}{suffix}")


def _describe(exc: BaseException) -> str:
    """What went wrong, after the ``file:line:`` of :func:`translate_error`."""
    if isinstance(exc, RenderLimitError):
        return f"refused by the template sandbox: {exc}"
    if isinstance(exc, SecurityError):
        return f"unsafe operation blocked by the template sandbox: {exc}"
    if isinstance(exc, jinja2.TemplateNotFound):
        return f"template {exc.name!r} not found (see `assistant templates path`)"
    if isinstance(exc, jinja2.UndefinedError):
        return str(exc.message)
    if isinstance(exc, RecursionError):
        return "template recurses too deeply (an include, extends or macro that leads back to itself)"
    return f"{type(exc).__name__}: {exc}"


def _parse(env: jinja2.Environment, source: str, filename: str) -> nodes.Template:
    try:
        return env.parse(source, filename=filename)
    except jinja2.TemplateSyntaxError as exc:
        exc.filename = filename
        raise translate_error(exc, filename) from None


def undeclared_names(env: jinja2.Environment, source: str | nodes.Template, filename: str) -> set[str]:
    """Variables a template body reads but never sets (Jinja's own static analysis).

    ``source`` may be the body already parsed: a loader that compiles it too parses it once.
    """
    from jinja2 import meta

    tree = source if isinstance(source, nodes.Template) else _parse(env, source, filename)
    return set(meta.find_undeclared_variables(tree))


def reads_other_templates(env: jinja2.Environment, source: str | nodes.Template, filename: str) -> bool:
    """Whether a body includes, extends or imports another template: the variables that one
    reads are not among :func:`undeclared_names`, which sees one file."""
    from jinja2 import meta

    tree = source if isinstance(source, nodes.Template) else _parse(env, source, filename)
    return any(True for _ in meta.find_referenced_templates(tree))


def called_names(source: nodes.Template) -> dict[str, int]:
    """The plain names a body calls (``foo(…)``), each with the line of its first call.

    Why: a name only ever called and never set was reported as a missing *variable*
    (``raise_exception`` from a model's chat template: "missing required variable(s)
    raise_exception, pass them with -v"), though no ``-v`` value, which is text, can be called.
    """
    called: dict[str, int] = {}
    for call in source.find_all(nodes.Call):
        if isinstance(call.node, nodes.Name) and call.node.ctx == "load":
            called.setdefault(call.node.name, call.lineno)
    return called


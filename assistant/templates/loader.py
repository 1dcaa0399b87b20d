"""Parsing template files' front matter, and compiling them once.

A template is ``NAME.jinja``: a YAML front matter between ``---`` lines, then
the Jinja body. Finding the file (the search path, names, include resolution)
is :mod:`.search`; an ``examples:`` file is :mod:`.examples_file`. The lookup
names (``find_template``, ``template_dirs``, ``user_templates_dir``, ``SUFFIX``, …)
are still importable from here for callers outside this package.

Parsed templates are cached by file modification time, so scripts and batch
runs pay for YAML parsing and Jinja compilation once.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import nodes

from ..errors import TemplateError
from .diagnostics import (
    called_names,
    field_filename,
    position,
    reads_other_templates,
    translate_error,
    undeclared_names,
)
from .examples_file import load_examples
from .sandbox import PromptSandbox, make_environment
from .search import (
    SUFFIX,
    SearchPathLoader,
    TemplateDir,
    _canonical,
    find_template,
    jinja_source,
    read_template_text,
    split_front_matter,
    template_dirs,
    template_name,
    user_templates_dir,  # noqa: F401
)
from .spec import (
    DEFAULT_EXAMPLE_TEMPLATE,
    EXAMPLE_MODES,
    FRONT_MATTER_KEYS,
    RESERVED_NAMES,
    STRATEGIES,
    PromptTemplate,
    Variable,
    check_keys,
    parse_output,
    parse_params,
    parse_tests,
    parse_variables,
)
from .yaml_data import parse_front_matter, yaml_line

_environments: dict[tuple[Path, ...], PromptSandbox] = {}
_cache: dict[tuple[Path, tuple[Path, ...]], tuple[tuple[Any, ...], PromptTemplate]] = {}
_lock = threading.Lock()


def environment_for(dirs: tuple[Path, ...]) -> PromptSandbox:
    with _lock:
        env = _environments.get(dirs)
        if env is None:
            env = _environments[dirs] = make_environment(SearchPathLoader(dirs))
        return env



# ---- loading --------------------------------------------------------------------


def _stamp(paths: tuple[Path, ...]) -> tuple[Any, ...]:
    out: list[Any] = []
    for path in paths:
        try:
            st = path.stat()
            out.append((st.st_mtime_ns, st.st_size))
        except OSError:
            out.append(None)
    return tuple(out)


def load_template(name: str | os.PathLike[str], dirs: list[TemplateDir] | None = None) -> PromptTemplate:
    """Find, parse and validate a template by name (or by path to a ``.jinja`` file)."""
    if not isinstance(name, (str, os.PathLike)):
        raise TypeError(f"a template is named by text or a path, not {type(name).__name__}")
    dirs = template_dirs() if dirs is None else dirs
    path, found_in = find_template(os.fspath(name), dirs)
    search = tuple(d.path for d in dirs)
    if found_in.source == "file":
        search = (found_in.path, *search)
    key = (Path(_canonical(str(path))), search)
    cached = _cache.get(key)
    if cached is not None:
        stamp, template = cached
        if _stamp((path, *template.dependencies)) == stamp:
            return template
    template = parse_template_file(path, found_in.source, environment_for(search))
    _cache[key] = (_stamp((path, *template.dependencies)), template)
    return template


def template_from_string(text: str, name: str = "inline") -> PromptTemplate:
    """A template from text (front matter optional), for scripts and notebooks.

    ``{% include %}``/``{% extends %}`` resolve through the usual search path;
    an ``examples`` file name is relative to the current directory (and must
    stay inside it, as a file's must stay beside its template).
    """
    if not isinstance(text, str):
        raise TypeError(f"template_from_string takes the template's text, not {type(text).__name__}")
    # The name is a file name in the current directory, the examples' base: ``"../x"`` moved
    # that base out of it (and ``""`` named the template ``.jinja``).
    name = template_name(name)
    dirs = tuple(d.path for d in template_dirs())
    text = text.removeprefix("\ufeff")  # a byte-order mark read with encoding="utf-8", as files drop it
    return parse_template_text(text, Path(f"{name}{SUFFIX}"), "string", environment_for(dirs))


def parse_template_file(path: Path, source: str, env: PromptSandbox) -> PromptTemplate:
    return parse_template_text(read_template_text(path), path, source, env)


def parse_template_text(text: str, path: Path, source: str, env: PromptSandbox) -> PromptTemplate:
    """Everything a template declares, checked; compiles the body, system and example template."""
    where = str(path)
    front, body, body_line = split_front_matter(text, path)
    data = parse_front_matter(front, path)
    check_keys(where, data, FRONT_MATTER_KEYS)

    name = data.get("name", path.stem)
    if name != path.stem:
        raise TemplateError(f"{where}: name {name!r} does not match the file name {path.name!r}")
    strategy = data.get("strategy", "zero-shot")
    if strategy not in STRATEGIES:
        raise TemplateError(f"{where}: strategy must be one of {', '.join(STRATEGIES)}, not {strategy!r}")
    system = data.get("system")
    if system is not None and not isinstance(system, str):
        raise TemplateError(f"{where}: 'system' must be a string")
    description = data.get("description")
    if isinstance(description, (dict, list, bool)):  # would be listed as its Python repr
        raise TemplateError(f"{where}: 'description' must be one line of text")
    example_template = data.get("example_template", DEFAULT_EXAMPLE_TEMPLATE)
    if not isinstance(example_template, str):
        raise TemplateError(f"{where}: 'example_template' must be a string")

    body_tree = _parse_body(env, text, path)  # parsed once: compiled, and read for its variables and includes
    body_template = _compile_body(env, body_tree, path)
    system_template = _compile_field(env, system, "system", front, path) if system else None
    example_compiled = _compile_field(env, example_template, "example_template", front, path)

    body_reads = undeclared_names(env, body_tree, str(path))
    used = body_reads | (undeclared_names(env, system, f"{where} (system)") if system else set())
    builtins = set(env.globals) | RESERVED_NAMES
    _refuse_calls_of_text(env, body_tree, body_reads - builtins, data.get("variables"), path)
    if "variables" in data:
        variables = parse_variables(where, data["variables"] or [])
        unknown = sorted(used - builtins - {v.name for v in variables})
        if unknown:
            raise TemplateError(
                f"{where}: the template uses undeclared variable(s) {', '.join(unknown)}; "
                "declare them under 'variables'"
            )
    else:
        variables = [Variable(n) for n in sorted(used - builtins)]
    if "example_template" in data:  # a misspelt name failed only when examples were laid out inline
        reads = undeclared_names(env, example_template, f"{where} (example_template)")
        unknown = sorted(reads - builtins - {v.name for v in variables})
        if unknown:
            start = yaml_line(front, "example_template")
            position = f"{where}:{start + 1}" if start is not None else where  # the front matter starts on line 2
            raise TemplateError(
                f"{position}: in 'example_template': {', '.join(map(repr, unknown))} "
                f"{'is' if len(unknown) == 1 else 'are'} undefined (it reads prompt, output and the template's variables)"
            )

    examples, dependencies = load_examples(where, data.get("examples"), path, variables)
    if strategy == "few-shot" and not examples:
        raise TemplateError(f"{where}: strategy few-shot needs 'examples'")
    if strategy in ("chat", "zero-shot") and examples:
        raise TemplateError(f"{where}: strategy {strategy} takes no examples (use few-shot)")
    output = parse_output(where, data.get("output", "text"), strategy)
    text_scoring = output.type == "choice" and output.scoring == "text"
    examples_as = data.get("examples_as", "inline" if text_scoring else "turns")
    if examples_as not in EXAMPLE_MODES:
        raise TemplateError(f"{where}: examples_as must be one of {', '.join(EXAMPLE_MODES)}")
    if text_scoring and examples_as != "inline" and examples:
        raise TemplateError(
            f"{where}: output scoring 'text' reads the examples inline; set examples_as: inline or scoring: chat"
        )

    template = PromptTemplate(
        name=name,
        path=path,
        body=body,
        description="" if description is None else str(description),
        strategy=strategy,
        variables=variables,
        examples=examples,
        examples_as=examples_as,
        example_template=example_template,
        system=system,
        params=parse_params(where, data.get("params") or {}),
        output=output,
        tests=parse_tests(where, data.get("tests") or [], variables),
        source=source,
        front_matter_text=front,
        body_line=body_line,
        dependencies=dependencies,
    )
    template.compiled = Compiled(
        body_template,
        system_template,
        example_compiled,
        "examples" in body_reads,
        reads_other_templates(env, body_tree, str(path)),
    )
    return template


@dataclass(frozen=True)
class Compiled:
    """The Jinja objects a template renders with (kept off the dataclass's public fields)."""

    body: jinja2.Template
    system: jinja2.Template | None
    example: jinja2.Template
    body_uses_examples: bool
    reads_other_templates: bool = False
    """It includes, extends or imports another template (whose variables were not inferred)."""


def _refuse_calls_of_text(
    env: jinja2.Environment, body: nodes.Template, unset: set[str], declared: Any, path: Path
) -> None:
    """A name the body calls but nothing defines is one error at its line, not a "missing variable".

    Values given with ``-v`` are text, so no value could ever be called; the message says which functions
    prompt templates do have (a model's chat template has others, such as ``raise_exception``).
    """
    called = {name: line for name, line in called_names(body).items() if name in unset}
    if not called:
        return
    name, line = min(called.items(), key=lambda item: item[1])
    entries = declared if isinstance(declared, list) else []
    names = {entry if isinstance(entry, str) else entry.get("name") for entry in entries if isinstance(entry, (str, dict))}
    if name in names:
        raise TemplateError(f"{position(str(path), line)}: {name!r} is a variable (text), not a function to call")
    functions = ", ".join(sorted(n for n, value in env.globals.items() if callable(value)))
    raise TemplateError(
        f"{position(str(path), line)}: {name!r} is called, but prompt templates have no such function "
        f"(they have: {functions})"
    )


def _parse_body(env: PromptSandbox, text: str, path: Path) -> nodes.Template:
    """The body parsed from the text already read, once: Jinja's parser is most of a load's cost,
    and compiling, :func:`undeclared_names` and :func:`reads_other_templates` each parsed it again
    (a 400 KB body took 9 s to load)."""
    try:
        return env.parse(jinja_source(text), name=path.name, filename=str(path))
    except Exception as exc:  # syntax errors name file and line
        raise translate_error(exc, str(path)) from None


def _compile_body(env: PromptSandbox, tree: nodes.Template, path: Path) -> jinja2.Template:
    """Compile the parsed body (includes still use the loader)."""
    try:
        code = env.compile(tree, name=path.name, filename=str(path))
        return env.template_class.from_code(env, code, env.make_globals(None), None)
    except Exception as exc:
        raise translate_error(exc, str(path)) from None


def _compile_field(env: PromptSandbox, text: str, key: str, front: str, path: Path) -> jinja2.Template:
    """Compile a Jinja string from the front matter; errors give the file line of the value.

    The source is shifted down by an empty comment so Jinja's line numbers are
    the file's, and it is compiled under :func:`field_filename`, so an error
    raised while it *renders* (sandbox, undefined variable) names the file,
    the line and the field too, not ``<template>``.
    """
    start = yaml_line(front, key)
    first_line = start + 1 if start is not None else 1  # the front matter starts on line 2
    source = ("{#" + "\n" * (first_line - 1) + "#}" if first_line > 1 else "") + text
    try:
        code = env.compile(source, name=f"{path.name} ({key})", filename=field_filename(str(path), key))
        return env.template_class.from_code(env, code, env.make_globals(None), None)
    except jinja2.TemplateSyntaxError as exc:
        position = f"{path}:{exc.lineno}" if start is not None and exc.lineno else f"{path}"
        raise TemplateError(f"{position}: syntax error in '{key}': {exc.message}") from None
    except RecursionError as exc:  # a field thousands of brackets deep: a traceback that stopped `templates list`
        raise translate_error(exc, f"{path}: in '{key}'") from None



def clear_cache() -> None:
    """Forget compiled templates (tests that rewrite files within one mtime tick)."""
    with _lock:
        _cache.clear()
        _environments.clear()

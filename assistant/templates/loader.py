"""Finding template files, parsing their front matter, and compiling them once.

Search order (first match wins, so a user template overrides a plugin's, which
overrides a built-in of the same name):

1. the user's templates directory (config ``templates_dir``, default
   ``<config dir>/templates``);
2. directories registered by plugins through ``register_template_dirs``;
3. the shipped ``prompts/`` directory (registered ``trylast`` by the built-in
   plugin, so it always comes last).

A template is ``NAME.jinja``: a YAML front matter between ``---`` lines, then
the Jinja body. ``{% include %}`` and ``{% extends %}`` resolve through the same
search path, so a user template can include a plugin's partial or extend a
built-in. Files whose name starts with ``_`` and files in sub-directories are
partials: includable, not listed.

Parsed templates are cached by file modification time, so scripts and batch
runs pay for YAML parsing and Jinja compilation once.
"""

from __future__ import annotations

import difflib
import functools
import json
import os
import re
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import jinja2
import yaml

from ..errors import TemplateError
from ..text_checks import invalid_unicode_in, invalid_utf8
from .diagnostics import field_filename, reads_other_templates, translate_error, undeclared_names
from .sandbox import MAX_RENDERED_CHARS, PromptSandbox, make_environment
from .spec import (
    DEFAULT_EXAMPLE_TEMPLATE,
    EXAMPLE_MODES,
    FRONT_MATTER_KEYS,
    RESERVED_NAMES,
    STRATEGIES,
    PromptTemplate,
    Variable,
    check_examples,
    check_keys,
    parse_output,
    parse_params,
    parse_tests,
    parse_variables,
)
from .yaml_data import load_yaml, parse_front_matter, yaml_line, yaml_problem

SUFFIX = ".jinja"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
EXAMPLE_SUFFIXES = (".jsonl", ".yaml", ".yml", ".json")
"""What an ``examples:`` file may be named; checked before the file is opened."""
@dataclass(frozen=True)
class TemplateDir:
    path: Path
    source: str  # "user", "builtin", "plugin:NAME" or "file"


def user_templates_dir() -> Path:
    """Config ``templates_dir``, else ``<config dir>/templates`` (may not exist yet)."""
    from ..config import load_config, paths

    configured = load_config().get("templates_dir")
    if configured:
        return Path(os.path.expanduser(str(configured)))
    return paths().config_dir / "templates"


@functools.lru_cache(maxsize=256)
def _canonical(path: str) -> str:
    """Symlink-free absolute path, memoised: resolving is most of a lookup's cost."""
    return os.path.realpath(path)


def template_dirs() -> list[TemplateDir]:
    """Every directory templates are looked up in, in search order."""
    from ..default_plugins.template_dirs import builtin_prompts_dir
    from ..plugins import call_registration_hook, current_plugin_name

    dirs = [TemplateDir(user_templates_dir(), "user")]
    builtin = _canonical(str(builtin_prompts_dir()))

    def register(path: Any) -> None:
        if not isinstance(path, (str, os.PathLike)) or not str(path):
            raise TemplateError(f"a templates directory must be a path, got {path!r}")
        directory = Path(os.path.expanduser(str(path)))
        # Checked here, so the plugin is named: a relative path would be looked up from wherever
        # the user happens to run the command, and a missing folder would silently hold nothing.
        if not directory.is_absolute():
            raise TemplateError(
                f"a templates directory must be an absolute path (Path(__file__).parent / 'templates'), got {str(path)!r}"
            )
        if not directory.is_dir():
            raise TemplateError(f"templates directory {str(directory)!r} does not exist or is not a directory")
        canonical = _canonical(str(directory))
        source = "builtin" if canonical == builtin else f"plugin:{current_plugin_name()}"
        if all(_canonical(str(d.path)) != canonical for d in dirs):
            dirs.append(TemplateDir(directory, source))

    call_registration_hook("register_template_dirs", register)
    return dirs


# ---- names and files ----------------------------------------------------------------


def template_name(name: str) -> str:
    """The template name that ``name`` (``NAME`` or ``NAME.jinja``) stands for.

    The one check of a template name, shared by lookups, ``templates new`` and
    ``templates import``: a name becomes a file name in a templates directory,
    so it may not hold a path, and ``x.jinja`` means ``x`` (never a file
    ``x.jinja.jinja`` that no lookup could find).
    """
    stem = name.removesuffix(SUFFIX)
    if not _NAME.match(stem) or stem.endswith(SUFFIX):
        raise TemplateError(
            f"invalid template name {name!r} (letters, digits, '.', '-', '_', starting with a letter or digit)"
        )
    return stem


def read_template_text(path: Path, what: str = "template") -> str:
    """The UTF-8 text of a template, partial or examples file, refusing what cannot be one.

    These files are shared, untrusted data: a name that leads to ``/dev/zero``,
    a FIFO or a gigabyte file must fail that one template with a one-line
    reason, not exhaust memory or hang ``templates list``. So only regular files
    are read (opened non-blocking and checked again on the open descriptor, so a
    FIFO swapped in after the first check cannot block), and a file longer than
    the rendered-prompt cap, :data:`MAX_RENDERED_CHARS` characters, is refused
    from its size before it is read (and its read is bounded): a prompt built
    from it could not be sent anyway, so one cap serves both.
    """
    max_bytes = 4 * MAX_RENDERED_CHARS  # a UTF-8 character takes at most 4 bytes
    too_large = f"{what} {path} is larger than {MAX_RENDERED_CHARS:,} characters"
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise TemplateError(f"{what} {path} is not a regular file")
        flags = os.O_RDONLY
        for extra in ("O_NONBLOCK", "O_BINARY", "O_CLOEXEC"):  # whichever this platform has
            flags |= getattr(os, extra, 0)
        with os.fdopen(os.open(path, flags), "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise TemplateError(f"{what} {path} is not a regular file")
            if info.st_size > max_bytes:
                raise TemplateError(too_large)
            data = handle.read(max_bytes + 1)  # the file may have grown since fstat
    except FileNotFoundError:
        suffix = " (a broken symbolic link)" if os.path.islink(path) else ""
        raise TemplateError(f"{what} {path} does not exist{suffix}") from None
    except OSError as exc:
        raise TemplateError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise TemplateError(too_large)
    problem = invalid_utf8(data)
    if problem:  # the line, for an editor; "position 31" of a codec said nothing an editor shows
        raise TemplateError(f"{what} {path} is not UTF-8 text ({problem}); save it as UTF-8")
    # A byte-order mark (Notepad's "UTF-8 with BOM") is dropped, as input files drop it:
    # kept, the '---' line was not seen and the whole front matter was sent as the prompt.
    text = data.decode("utf-8-sig")
    if len(text) > MAX_RENDERED_CHARS:
        raise TemplateError(too_large)
    return text


# ---- the front matter ---------------------------------------------------------------


def split_front_matter(text: str, path: Path) -> tuple[str, str, int]:
    """(front matter YAML, body, line number where the body starts).

    A file without a leading ``---`` line is all body (a partial, or a template
    that needs no settings).
    """
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return "", text, 1
    for index in range(1, len(lines)):
        if lines[index].rstrip("\r\n").strip() in ("---", "..."):
            return "".join(lines[1:index]), "".join(lines[index + 1 :]), index + 2
    raise TemplateError(f"{path}:1: front matter starts with '---' but has no closing '---' line")


def jinja_source(text: str) -> str:
    """The body as Jinja sees it: the front matter becomes an empty comment of the same height.

    Keeping the line count means Jinja's syntax errors and tracebacks point at
    the right line of the file, and an ``{% extends %}``/``{% include %}`` of a
    full template file never renders its front matter.
    """
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return text
    for index in range(1, len(lines)):
        if lines[index].rstrip("\r\n").strip() in ("---", "..."):
            return "{#" + "\n" * index + "#}\n" + "".join(lines[index + 1 :])
    return text


class SearchPathLoader(jinja2.BaseLoader):
    """Jinja loader over the template search path, for ``include``/``extends``/``import``."""

    def __init__(self, dirs: tuple[Path, ...]) -> None:
        self.dirs = dirs

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        pieces = jinja2.loaders.split_template_path(template)  # refuses "..", absolute paths
        candidates = [pieces] if pieces[-1].endswith(SUFFIX) else [[*pieces[:-1], pieces[-1] + SUFFIX], pieces]
        for directory in self.dirs:
            for parts in candidates:
                path = directory.joinpath(*parts)
                # A FIFO, device or broken link says what it is, not "not found";
                # a directory of partials named like a template is passed over.
                if os.path.lexists(path) and not path.is_dir():
                    _check_inside(path, directory)
                    return self._read(path)
        raise jinja2.TemplateNotFound(template)

    @staticmethod
    def _read(path: Path) -> tuple[str, str, Callable[[], bool]]:
        text = read_template_text(path)
        try:
            stamp = path.stat().st_mtime_ns
        except OSError as exc:
            raise TemplateError(f"cannot read template {path}: {exc.strerror or exc}") from None

        def uptodate() -> bool:
            try:
                return path.stat().st_mtime_ns == stamp
            except OSError:
                return False

        return jinja_source(text), str(path), uptodate


_environments: dict[tuple[Path, ...], PromptSandbox] = {}
_cache: dict[tuple[Path, tuple[Path, ...]], tuple[tuple[Any, ...], PromptTemplate]] = {}
_lock = threading.Lock()


def environment_for(dirs: tuple[Path, ...]) -> PromptSandbox:
    with _lock:
        env = _environments.get(dirs)
        if env is None:
            env = _environments[dirs] = make_environment(SearchPathLoader(dirs))
        return env


# ---- finding and loading --------------------------------------------------------------


def _is_path(name: str) -> bool:
    return "/" in name or os.sep in name or (os.altsep is not None and os.altsep in name)


def _check_inside(path: Path, directory: Path) -> None:
    """Refuse a template or partial that a symbolic link leads out of its search directory.

    ``split_template_path`` already refuses ``..`` and absolute include names,
    but a link (``_footer.jinja -> ~/.ssh/id_rsa``, or a linked sub-directory)
    in a cloned template pack would still pull any file into a prompt that may go
    to a remote server: the confinement examples files have (``_examples_path``).
    Links that stay inside the directory, and a linked directory itself, are fine.
    """
    real = Path(os.path.realpath(path))
    home = Path(os.path.realpath(directory))
    if not real.is_relative_to(home):
        raise TemplateError(f"template {path} is a symbolic link leading outside {directory}, to {real}")


def _check_regular(path: Path) -> None:
    """Refuse a template entry that is not a regular file (a FIFO, a device, a broken link)
    with that reason, rather than reporting it as missing or reading it."""
    if not path.is_file():
        broken = os.path.islink(path) and not path.exists()
        reason = "a broken symbolic link" if broken else "not a regular file"
        raise TemplateError(f"template {path} is {reason}")


def find_template(name: str, dirs: list[TemplateDir] | None = None) -> tuple[Path, TemplateDir]:
    """The file a template name resolves to, and the directory it was found in.

    A name with a path separator is a file. ``NAME.jinja`` is the file of that
    name when it exists (``-t ./x.jinja`` and ``-t x.jinja`` alike), else the
    template ``NAME``, so the name ``templates new x.jinja`` printed finds it.
    """
    dirs = template_dirs() if dirs is None else dirs
    if _is_path(name) or (name.endswith(SUFFIX) and os.path.lexists(name)):
        path = Path(name).expanduser()
        if not os.path.lexists(path):
            raise TemplateError(f"template file {name} does not exist")
        _check_regular(path)
        return path, TemplateDir(path.parent, "file")
    name = template_name(name)
    for directory in dirs:
        path = directory.path / f"{name}{SUFFIX}"
        if os.path.lexists(path):  # first match wins, even a broken one: no silent fallback
            _check_regular(path)
            _check_inside(path, directory.path)
            return path, directory
    known = sorted({p.stem for d in dirs if d.path.is_dir() for p in d.path.glob(f"*{SUFFIX}")})
    by_lower = {stem.lower(): stem for stem in known}  # `-t Few-Shot` is close to few-shot, whatever the case
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1)
    hint = f"; did you mean {by_lower[close[0]]!r}?" if close else "; `assistant templates list` shows them"
    raise TemplateError(f"no template named {name!r}{hint}")


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

    body_template = _compile_body(env, text, path)
    system_template = _compile_field(env, system, "system", front, path) if system else None
    example_compiled = _compile_field(env, example_template, "example_template", front, path)

    body_reads = undeclared_names(env, jinja_source(text), str(path))
    used = body_reads | (undeclared_names(env, system, f"{where} (system)") if system else set())
    builtins = set(env.globals) | RESERVED_NAMES
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

    examples, dependencies = _load_examples(where, data.get("examples"), path, variables)
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
        reads_other_templates(env, jinja_source(text), str(path)),
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


def _compile_body(env: PromptSandbox, text: str, path: Path) -> jinja2.Template:
    """Compile the body straight from the text already read (includes still use the loader)."""
    try:
        code = env.compile(jinja_source(text), name=path.name, filename=str(path))
        return env.template_class.from_code(env, code, env.make_globals(None), None)
    except Exception as exc:  # syntax errors name file and line
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


def _load_examples(
    where: str, raw: Any, path: Path, variables: list[Variable]
) -> tuple[list[dict[str, Any]], tuple[Path, ...]]:
    if raw is None:
        return [], ()
    if isinstance(raw, list):
        return check_examples(where, raw, variables), ()
    if not isinstance(raw, str):
        raise TemplateError(f"{where}: 'examples' must be a list or a file name (YAML or JSONL)")
    file = _examples_path(where, raw, path)
    try:
        text = read_template_text(file, "examples file")
    except TemplateError as exc:
        raise TemplateError(f"{where}: {exc}") from None
    items, lines = _parse_examples_file(file, text)
    return check_examples(f"{where} ({file.name})", items, variables, lines), (file,)


def _examples_path(where: str, raw: str, path: Path) -> Path:
    """The examples file ``raw`` names, confined to the template's own directory.

    A shared template must not pull ``~/.aws/credentials.json`` or
    ``../../secrets.yaml`` into a prompt that may go to a remote server, so the
    name is relative to the template's directory and, symbolic links resolved,
    must stay inside it (``{% include %}`` is confined to the search path the
    same way). The suffix is checked before anything is opened.
    """
    if os.path.isabs(raw) or raw.startswith("~") or Path(raw).drive:
        raise TemplateError(
            f"{where}: examples file {raw!r} must be a path relative to the template's directory"
        )
    if Path(raw).suffix not in EXAMPLE_SUFFIXES:
        raise TemplateError(f"{where}: examples files must be {', '.join(EXAMPLE_SUFFIXES)}, not {raw!r}")
    home = Path(os.path.realpath(os.path.abspath(path.parent)))
    file = Path(os.path.realpath(home / raw))
    if not file.is_relative_to(home):
        raise TemplateError(f"{where}: examples file {raw!r} is outside the template's directory {home}")
    if file.suffix not in EXAMPLE_SUFFIXES:  # a link inside the directory to some other kind of file
        kinds = "/".join(EXAMPLE_SUFFIXES)
        raise TemplateError(f"{where}: examples file {raw!r} leads to {file.name}, not a {kinds} file")
    return file


def _parse_examples_file(file: Path, text: str) -> tuple[list[Any], list[int] | None]:
    """The examples a file holds, and for JSON Lines each one's line (blank lines are skipped,
    so "example #2" may be on line 3: the line is what to look for in an editor)."""
    if file.suffix == ".jsonl":
        items = []
        lines: list[int] = []
        from ..batch.rows import jsonl_lines  # the one JSON Lines splitter (U+2028 stays inside its row)

        for number, line in enumerate(jsonl_lines(text), 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise TemplateError(f"{file}:{number}: invalid JSON: {exc.msg}") from None
            except RecursionError:
                raise TemplateError(f"{file}:{number}: invalid JSON: nested too deeply") from None
            # JSON may spell a lone surrogate ("\ud800"): no tokenizer or hash can take it,
            # so it is refused here, at its line, not as a traceback when the prompt is sent.
            problem = invalid_unicode_in(item)
            if problem:
                raise TemplateError(f"{file}:{number}: not valid Unicode ({problem})")
            items.append(item)
            lines.append(number)
        if not items:
            raise TemplateError(f"{file}: the examples file holds no examples")
        return items, lines
    try:  # .yaml, .yml, .json (the suffix was checked before reading)
        data = load_yaml(text, str(file))
    except yaml.YAMLError as exc:
        line, problem = yaml_problem(exc)
        kind = "JSON" if file.suffix == ".json" else "YAML"  # JSON is read as the YAML it also is
        raise TemplateError(f"{file}{line}: invalid {kind}: {problem}") from None
    if not isinstance(data, list):
        raise TemplateError(f"{file}: an examples file must hold a list")
    if not data:
        raise TemplateError(f"{file}: the examples file holds no examples")
    return data, None


def clear_cache() -> None:
    """Forget compiled templates (tests that rewrite files within one mtime tick)."""
    with _lock:
        _cache.clear()
        _environments.clear()

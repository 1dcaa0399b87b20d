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
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import jinja2
import yaml

from ..errors import TemplateError
from .sandbox import PromptSandbox, make_environment, translate_error, undeclared_names
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

SUFFIX = ".jinja"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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
        directory = Path(os.path.expanduser(str(path)))
        canonical = _canonical(str(directory))
        source = "builtin" if canonical == builtin else f"plugin:{current_plugin_name()}"
        if all(_canonical(str(d.path)) != canonical for d in dirs):
            dirs.append(TemplateDir(directory, source))

    call_registration_hook("register_template_dirs", register)
    return dirs


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


def _yaml_line(front_matter: str, key: str) -> int | None:
    """1-based line (within the front matter) where ``key``'s value text starts."""
    try:
        node = yaml.compose(front_matter, Loader=_YAML_LOADER)
    except yaml.YAMLError:
        return None
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in node.value:
        if key_node.value == key:
            block = isinstance(value_node, yaml.ScalarNode) and value_node.style in ("|", ">")
            return value_node.start_mark.line + 1 + (1 if block else 0)
    return None


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
                if path.is_file():
                    return self._read(path)
        raise jinja2.TemplateNotFound(template)

    @staticmethod
    def _read(path: Path) -> tuple[str, str, Callable[[], bool]]:
        try:
            text = path.read_text(encoding="utf-8")
            stamp = path.stat().st_mtime_ns
        except (OSError, UnicodeDecodeError) as exc:
            raise TemplateError(f"cannot read template {path}: {exc}") from exc

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


def _looks_like_path(name: str) -> bool:
    return "/" in name or os.sep in name or name.endswith(SUFFIX)


def find_template(name: str, dirs: list[TemplateDir] | None = None) -> tuple[Path, TemplateDir]:
    """The file a template name resolves to, and the directory it was found in."""
    dirs = template_dirs() if dirs is None else dirs
    if _looks_like_path(name):
        path = Path(name).expanduser()
        if path.is_file():
            return path, TemplateDir(path.parent, "file")
        raise TemplateError(f"template file {name} does not exist")
    if not _NAME.match(name):
        raise TemplateError(f"invalid template name {name!r} (letters, digits, '.', '-', '_')")
    for directory in dirs:
        path = directory.path / f"{name}{SUFFIX}"
        if path.is_file():
            return path, directory
    known = sorted({p.stem for d in dirs if d.path.is_dir() for p in d.path.glob(f"*{SUFFIX}")})
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else "; `assistant templates list` shows them"
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
    an ``examples`` file name is relative to the current directory.
    """
    dirs = tuple(d.path for d in template_dirs())
    return parse_template_text(text, Path(f"{name}{SUFFIX}"), "string", environment_for(dirs))


def parse_template_file(path: Path, source: str, env: PromptSandbox) -> PromptTemplate:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise TemplateError(f"template {path} is not UTF-8 text: {exc}") from exc
    except OSError as exc:
        raise TemplateError(f"cannot read template {path}: {exc.strerror}") from exc
    return parse_template_text(text, path, source, env)


def parse_template_text(text: str, path: Path, source: str, env: PromptSandbox) -> PromptTemplate:
    """Everything a template declares, checked; compiles the body, system and example template."""
    where = str(path)
    front, body, body_line = split_front_matter(text, path)
    data = _parse_yaml(front, path)
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
        description=str(data.get("description", "") or ""),
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
    template.compiled = Compiled(body_template, system_template, example_compiled, "examples" in body_reads)
    return template


@dataclass(frozen=True)
class Compiled:
    """The Jinja objects a template renders with (kept off the dataclass's public fields)."""

    body: jinja2.Template
    system: jinja2.Template | None
    example: jinja2.Template
    body_uses_examples: bool


def _parse_yaml(front: str, path: Path) -> dict[str, Any]:
    if not front.strip():
        return {}
    try:
        data = yaml.load(front, Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 2}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise TemplateError(f"{path}{line}: invalid YAML front matter: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise TemplateError(f"{path}: the front matter must be a YAML mapping")
    return data


def _compile_body(env: PromptSandbox, text: str, path: Path) -> jinja2.Template:
    """Compile the body straight from the text already read (includes still use the loader)."""
    try:
        code = env.compile(jinja_source(text), name=path.name, filename=str(path))
        return env.template_class.from_code(env, code, env.make_globals(None), None)
    except Exception as exc:  # syntax errors name file and line
        raise translate_error(exc, str(path)) from None


def _compile_field(env: PromptSandbox, text: str, key: str, front: str, path: Path) -> jinja2.Template:
    """Compile a Jinja string from the front matter; errors give the file line of the value."""
    try:
        return env.from_string(text)
    except jinja2.TemplateSyntaxError as exc:
        start = _yaml_line(front, key)
        line = (start + 1 + (exc.lineno or 1) - 1) if start is not None else None
        position = f"{path}:{line}" if line else f"{path}"
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
    file = (path.parent / os.path.expanduser(raw)).resolve()
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"{where}: cannot read examples file {file}: {exc}") from exc
    items = _parse_examples_file(file, text)
    return check_examples(f"{where} ({file.name})", items, variables), (file,)


def _parse_examples_file(file: Path, text: str) -> list[Any]:
    if file.suffix == ".jsonl":
        items = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise TemplateError(f"{file}:{number}: invalid JSON: {exc.msg}") from None
        return items
    if file.suffix in (".yaml", ".yml", ".json"):
        try:
            data = yaml.load(text, Loader=_YAML_LOADER)
        except yaml.YAMLError as exc:
            raise TemplateError(f"{file}: invalid YAML: {exc}") from None
        if not isinstance(data, list):
            raise TemplateError(f"{file}: an examples file must hold a list")
        return data
    raise TemplateError(f"{file}: examples files must be .jsonl, .yaml, .yml or .json")


# ---- listing ---------------------------------------------------------------------------


@dataclass
class TemplateListing:
    name: str
    path: Path
    source: str
    description: str = ""
    strategy: str = ""
    error: str | None = None
    shadowed_by: str | None = None  # source of the template that overrides this one

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path),
            "source": self.source,
            "description": self.description,
            "strategy": self.strategy,
            "error": self.error,
            "shadowed_by": self.shadowed_by,
        }


def list_templates(include_shadowed: bool = False) -> list[TemplateListing]:
    """Templates in search order; a broken one is listed with its error instead of hiding the rest."""
    dirs = template_dirs()
    winners: dict[str, str] = {}
    out: list[TemplateListing] = []
    for directory in dirs:
        if not directory.path.is_dir():
            continue
        for path in sorted(directory.path.glob(f"*{SUFFIX}")):
            name = path.stem
            if name.startswith("_"):
                continue
            shadowed_by = winners.get(name)
            if shadowed_by is not None and not include_shadowed:
                continue
            winners.setdefault(name, directory.source)
            entry = TemplateListing(name, path, directory.source, shadowed_by=shadowed_by)
            try:
                template = load_template(str(path) if shadowed_by else name, dirs)
                entry.description, entry.strategy = template.description, template.strategy
            except TemplateError as exc:
                entry.error = str(exc)
            out.append(entry)
    return sorted(out, key=lambda e: (e.name, e.shadowed_by is not None))


def clear_cache() -> None:
    """Forget compiled templates (tests that rewrite files within one mtime tick)."""
    with _lock:
        _cache.clear()
        _environments.clear()

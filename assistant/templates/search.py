"""Finding template files and reading them: the search path, names, and a file's layout.

Search order (first match wins, so a user template overrides a plugin's, which
overrides a built-in of the same name):

1. the user's templates directory (config ``templates_dir``, default
   ``<config dir>/templates``);
2. directories registered by plugins through ``register_template_dirs``;
3. the shipped ``prompts/`` directory (registered ``trylast`` by the built-in
   plugin, so it always comes last).

``{% include %}`` and ``{% extends %}`` resolve through the same search path
(:class:`SearchPathLoader`), so a user template can include a plugin's partial or
extend a built-in. Files whose name starts with ``_`` and files in sub-directories
are partials: includable, not listed. Split from :mod:`.loader`, which parses and
compiles what is found here.
"""

from __future__ import annotations

import difflib
import functools
import io
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import jinja2

from ..errors import ConfigError, TemplateError
from .sandbox import MAX_RENDERED_CHARS

SUFFIX = ".jinja"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class TemplateDir:
    path: Path
    source: str  # "user", "builtin", "plugin:NAME" or "file"


def user_templates_dir() -> Path:
    """Config ``templates_dir``, else ``<config dir>/templates`` (may not exist yet: ``templates new`` makes it)."""
    from ..config import load_config, paths

    configured = load_config().get("templates_dir")
    if configured:
        return Path(os.path.expanduser(str(configured)))
    return paths().config_dir / "templates"


def not_a_directory(directory: Path) -> TemplateError:
    """The one error for a templates directory that is a file (``templates new``, every lookup and listing)."""
    from ..config import load_config, paths

    if load_config().get("templates_dir"):
        return TemplateError(
            f"templates_dir in {paths().config_file} names {directory}, which is a file, not a directory"
        )
    return TemplateError(
        f"the templates directory {directory} is a file, not a directory (move it, or set templates_dir)"
    )


@functools.lru_cache(maxsize=256)
def _canonical(path: str) -> str:
    """Symlink-free absolute path, memoised: resolving is most of a lookup's cost."""
    return os.path.realpath(path)


def template_dirs() -> list[TemplateDir]:
    """Every directory templates are looked up in, in search order."""
    from ..config import load_config
    from ..default_plugins.template_dirs import builtin_prompts_dir
    from ..plugins import call_registration_hook, current_plugin_name

    user = user_templates_dir()
    if user.exists() and not user.is_dir() and load_config().get("templates_dir"):
        # Looked up as if empty, a `templates_dir` naming a file (a template, by mistake) listed none
        # of the user's templates and found none, without a word. (A file at the default place is
        # only skipped: the user chose nothing, and the built-in templates the tools use still work.)
        raise not_a_directory(user)
    dirs = [TemplateDir(user, "user")]
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
    # The strict reading of every user-named text file: not UTF-8 is refused at its line (for an
    # editor), a byte-order mark dropped (kept, the '---' line was not seen and the whole front
    # matter was sent as the prompt), and UTF-16/32 text or a NUL byte refused. A template saved
    # as Notepad's "Unicode" is valid UTF-8 with a NUL after each letter: it was listed as a template
    # with no description and no variables, and sent to the model as "-\0-\0-\0…".
    from ..input_files import read_limited

    try:
        text = read_limited(io.BytesIO(data), f"{what} {path}", strict=True)
    except ConfigError as exc:
        raise TemplateError(str(exc)) from None
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
    missing = missing_templates_dir(dirs)
    raise TemplateError(f"no template named {name!r}{hint}" + (f" ({missing})" if missing else ""))


def missing_templates_dir(dirs: list[TemplateDir]) -> str:
    """``templates_dir in FILE names DIR, which does not exist`` when the user's configured directory is missing.

    A typo in ``templates_dir`` (or a folder moved) made every template of the user's "no template named …",
    and ``templates list`` listed only the others: nothing said the directory looked in was not there.
    The default directory's absence says nothing (``templates new`` makes it).
    """
    from ..config import load_config, paths

    user = next((d.path for d in dirs if d.source == "user"), None)
    if user is None or os.path.lexists(user) or not load_config().get("templates_dir"):
        return ""
    return f"templates_dir in {paths().config_file} names {user}, which does not exist"


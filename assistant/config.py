"""Where the assistant keeps its files, and the user's TOML configuration.

``ASSISTANT_HOME`` moves config, data and cache under one directory (tests use a
temporary one); otherwise the platform's conventional directories are used
(platformdirs). The config file is optional: every key has a default.

Recognised keys (all optional)::

    default_model = "smollm2"
    default_backend = "llama-cpp"
    default_system = "Be brief."         # "" leaves the system prompt to the model
    plugin_dirs = ["~/my-plugins"]
    templates_dir = "~/prompts"          # user templates (default: <config>/templates)
    db = "~/assistant.db"                # history database (default: <data>/history.db)
    batch_parallel = 8                   # rows a --batch runs at once (default 1; see docs/scale.md)
    engine_process = true                # the chat app's model in a process of its own

    [params]                             # default GenerationParams
    temperature = 0.7

    [backends.llama-cpp]                 # backend options, also settable with -o
    n_ctx = 8192
    n_threads = 2
    n_gpu_layers = -1

    [remotes.lab]                        # named OpenAI-compatible servers (-m lab/MODEL)
    base_url = "http://gpu-box:8000/v1"
    api_key_env = "LAB_API_KEY"          # or api_key = "..."; see docs/backends.md
    model = "meta-llama/Llama-3.1-8B-Instruct"

String keys must be strings: a value of another type is a :class:`ConfigError`
naming the key, not a surprise (``db = 5`` once made a database named ``5`` in
whatever directory a command ran from). The path keys (``db``, ``templates_dir``,
``plugin_dirs``) expand ``~``, and a relative path is taken from the config
file's directory, the one place that does not change between commands.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .option_values import check_backend_options, switch_value

APP_NAME = "assistant"


@dataclass(frozen=True)
class Paths:
    config_dir: Path
    data_dir: Path
    cache_dir: Path

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def models_dir(self) -> Path:
        """Model files; ``ASSISTANT_MODELS_DIR`` shares one copy between homes (tests)."""
        override = os.environ.get("ASSISTANT_MODELS_DIR")
        return Path(override).expanduser() if override else self.data_dir / "models"


def paths() -> Paths:
    """The directories in force now (re-read each call so tests can change the env)."""
    home = os.environ.get("ASSISTANT_HOME")
    if home:
        root = Path(home).expanduser()
        return Paths(root / "config", root / "data", root / "cache")
    import platformdirs

    return Paths(
        Path(platformdirs.user_config_dir(APP_NAME)),
        Path(platformdirs.user_data_dir(APP_NAME)),
        Path(platformdirs.user_cache_dir(APP_NAME)),
    )


def _read_config_text(path: Path) -> str | None:
    """The config file's text, None when there is none; any other failure is one :class:`ConfigError` line.

    Shared by :func:`load_config` and :func:`set_top_level`, so a file that
    cannot be read (permissions, not UTF-8) is reported alike wherever it is read.
    """
    try:
        if path.exists() and not path.is_file():  # a FIFO would hang every command, --help included
            raise ConfigError(f"cannot read config {path}: it is not a regular file")
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from exc
    try:
        # utf-8-sig: Windows editors (Notepad) start a UTF-8 file with a byte order mark, which
        # tomllib calls "Invalid statement (at line 1, column 1)" in a file that looks right
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"cannot read config {path}: not UTF-8 (byte {exc.start}); save it as UTF-8") from exc
    if "\0" in text:
        # UTF-16 without a byte order mark (Windows PowerShell's `>`) is valid UTF-8, a NUL after
        # each letter: TOML said "Invalid statement (at line 1, column 1)" of a file that looked right.
        from .input_files import wide_encoding

        encoding = wide_encoding(data)
        if encoding:
            raise ConfigError(f"cannot read config {path}: it is {encoding} text, not UTF-8; save it as UTF-8")
    return text


STRING_KEYS = frozenset({"default_model", "default_backend", "default_system"})
PATH_KEYS = frozenset({"db", "templates_dir"})
PATH_LIST_KEYS = frozenset({"plugin_dirs"})
TABLE_KEYS = {"params": "[params]", "backends": "[backends.NAME] tables", "remotes": "[remotes.NAME] tables"}
"""Top-level keys checked (and, for paths, resolved) as the file is read, and the tables (with what each
holds). The tables' contents, and ``batch_parallel`` / ``engine_process`` (which ``--parallel`` and
``ASSISTANT_ENGINE_PROCESS`` override), are checked by the functions that read them."""


def _config_path(key: str, value: str, config: Path) -> str:
    """``~`` expanded; a relative path taken from the config file's directory, not the cwd.

    The one reading of every path-valued key (:data:`PATH_KEYS`, each entry of
    :data:`PATH_LIST_KEYS`). An empty or blank value is refused, naming the key:
    ``templates_dir = ""`` silently meant the default directory (and ``plugin_dirs = [""]``
    was dropped), so a variable that expanded to nothing in a generated config went
    unnoticed; leave the key out for the default.
    """
    if not value.strip():
        raise ConfigError(f"{key} in {config} is an empty path; give a path, or leave {key} out for the default")
    if "\0" in value:  # no file system takes one: os.stat's "embedded null byte" was a traceback
        raise ConfigError(f"{key} in {config} holds a NUL character (\\u0000), which no path can")
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else config.parent / path)


def _checked(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """``data`` with the string and path keys type-checked and the paths made absolute.

    Done once here, where the file is read, so that every reader of these keys
    (history database, templates, plugins) sees the same checked values.
    An empty string for a text key keeps meaning "not set" (``default_system = ""``
    leaves the system prompt to the model); for a path it is an error (:func:`_config_path`).
    """
    for key in sorted(STRING_KEYS | PATH_KEYS):
        if key in data and not isinstance(data[key], str):
            kind = "a path" if key in PATH_KEYS else "text"
            raise ConfigError(f"{key} in {path} must be a string ({kind}), not {_value_shown(data[key])}")
        if key in PATH_KEYS and key in data:
            data[key] = _config_path(key, data[key], path)
    for key in sorted(PATH_LIST_KEYS & set(data)):
        entries = data[key]
        if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
            shown = _value_shown(entries)
            raise ConfigError(f"{key} in {path} must be a list of paths (strings), not {shown}")
        data[key] = [_config_path(key, e, path) for e in entries]
    for key, holds in TABLE_KEYS.items():
        # `remotes = 5` was read as no remotes at all: -m lab was then "unknown model 'lab'"
        if key in data and not isinstance(data[key], dict):
            raise ConfigError(f"{key} in {path} must be a table ({holds}), not {_value_shown(data[key])}")
    return data


def _value_shown(value: Any) -> str:
    """A config value quoted in an error, cut short: a long array put in the wrong place is not repeated."""
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


_last_parsed: tuple[Path, str, dict[str, Any]] | None = None
"""The config file last parsed: its path, its text and the checked result."""


def load_config() -> dict[str, Any]:
    """Parse the config file; a missing file is an empty config, a broken one an error.

    String and path keys are checked and the paths resolved (see :func:`_checked`).
    The file is read on every call (tests and the chat app see an edit at once), but
    parsed again only when its text changed: one command asks for it a dozen times
    (plugins, warnings, default backend, model, options), and a config grown large
    (a log pasted into it) cost seconds per parse, 20 s for ``assistant config path``.
    Each caller gets its own copy.
    """
    global _last_parsed
    import copy

    path = paths().config_file
    text = _read_config_text(path)
    if text is None:
        if path.is_symlink():
            # A config linked from a dotfiles repository not checked out (or moved): read as no config,
            # every setting in it (default_model, [backends.*], plugin_dirs) was dropped without a word
            target = os.readlink(path)
            raise ConfigError(f"cannot read config {path}: it is a symbolic link to {target}, which does not exist")
        return {}
    if _last_parsed is not None and _last_parsed[0] == path and _last_parsed[1] == text:
        return copy.deepcopy(_last_parsed[2])
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML in {path}: {exc}") from exc
    data = _checked(data, path)
    _last_parsed = (path, text, data)
    return copy.deepcopy(data)


KNOWN_KEYS = frozenset(
    {"default_model", "default_backend", "default_system", "plugin_dirs", "templates_dir", "db", "engine_process",
     "params", "backends", "remotes", "batch_parallel"}
)
"""Every top-level key the assistant reads; anything else in the file is reported (a typo would be ignored)."""


def config_warnings() -> list[str]:
    """One line per unknown top-level key, with the nearest known key when there is one.

    Warnings, not errors: a key a newer version added should not stop an older
    one. The CLI prints them once per command, before the command runs.
    """
    import difflib

    try:
        data = load_config()
    except ConfigError:
        return []  # the command that reads the config reports the error itself
    where = paths().config_file
    lines = []
    for key in sorted(set(data) - KNOWN_KEYS):
        close = difflib.get_close_matches(key, sorted(KNOWN_KEYS), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(sorted(KNOWN_KEYS))})"
        lines.append(f"warning: unknown key {key!r} in {where}{hint}; it is ignored")
    return lines


def backend_options(backend: str) -> dict[str, Any]:
    """Options configured for one backend under ``[backends.NAME]``."""

    backends = load_config().get("backends", {})  # a table: load_config checks it (TABLE_KEYS)
    if backend not in backends:
        _refuse_misspelt_table(backends, backend)
    section = backends.get(backend, {})
    if not isinstance(section, dict):
        raise ConfigError(f"[backends.{backend}] in {paths().config_file} must be a table")
    return check_backend_options(section, f"[backends.{backend}] of {paths().config_file}")


def _spelling(name: str) -> str:
    return name.lower().replace("_", "-").replace(" ", "-")


def _refuse_misspelt_table(backends: dict[str, Any], backend: str) -> None:
    """A ``[backends.X]`` table meant for ``backend`` but spelt otherwise (``llama_cpp``, ``LLAMA-CPP``).

    Its options were silently not applied: ``[backends.llama_cpp] n_ctx = 2048``
    ran with the default context. Only a table that differs from the backend's
    name by case, ``_`` for ``-`` or spaces is taken for it: another name may be
    a plugin's backend.
    """
    for name in backends:
        if _spelling(name) == _spelling(backend):
            raise ConfigError(
                f"[backends.{name}] in {paths().config_file} does not apply to the {backend} backend: "
                f"name the table [backends.{backend}]"
            )


REMOTE_KEYS = frozenset(
    {"base_url", "api_key", "api_key_env", "model", "server", "connect_timeout", "read_timeout",
     "chat_template", "n_ctx"}
)


def remotes() -> dict[str, dict[str, Any]]:
    """The ``[remotes.NAME]`` tables: named OpenAI-compatible servers for ``-b openai``.

    Unknown keys are errors so that a typo (``base-url``) does not silently fall
    back to another server. A name holding ``/`` is left out: ``-m a/b`` reads as
    remote ``a`` or a Hugging Face id, so no ``-m`` can select it, and it must not
    stop the other remotes; :func:`check_remote_reference` refuses it where ``-m`` names it.
    """
    section = load_config().get("remotes", {})  # a table: load_config checks it (TABLE_KEYS)
    found: dict[str, dict[str, Any]] = {}
    for name, table in section.items():
        if "/" in name:
            continue
        if not isinstance(table, dict):
            raise ConfigError(f"[remotes.{name}] in the config must be a table")
        unknown = sorted(set(table) - REMOTE_KEYS)
        if unknown:
            known = ", ".join(sorted(REMOTE_KEYS))
            raise ConfigError(f"unknown key(s) {', '.join(unknown)} in [remotes.{name}] (known: {known})")
        model = table.get("model")
        if model is not None and not isinstance(model, str):
            # `model = 7` (an unquoted version number) was sent to the server as the model "7"
            raise ConfigError(
                f"model in [remotes.{name}] of {paths().config_file} must be a string (the model's name on "
                f"the server), not {model!r}"
            )
        found[name] = dict(table)
    return found


def remote_table_names() -> list[str]:
    """The names under ``[remotes]`` as written, before :func:`remotes` checks the tables.

    A malformed table makes :func:`remotes` fail for every name; a caller that must tell
    "``-m loc`` names no remote" from "``-m loc`` names one, in a config with an error"
    (``-m``'s choice of backend) asks here.
    """
    return [str(name) for name in load_config().get("remotes", {})]


def check_remote_reference(model: str) -> None:
    """A :class:`ConfigError` when ``model`` (``-m``) names a ``[remotes."a/b"]`` table, which cannot be selected.

    ``-m a/b/MODEL`` reads as remote ``a``, or a Hugging Face id when there is no
    such remote: the table was quietly never used, and the model was looked up as
    ``a/b`` instead. Only the name that ``-m`` reaches is refused; other remotes work.
    """
    for name in remote_table_names():
        if "/" in name and (model == name or model.startswith(name + "/")):
            raise ConfigError(
                f"the remote name {name!r} in [remotes] cannot be used: a remote's name cannot hold '/' "
                f"(-m {name} reads as a Hugging Face model id); rename the table, e.g. {name.replace('/', '-')!r}"
            )


DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant."


def default_system_prompt() -> str | None:
    """Used when no system prompt is given; ``default_system = ""`` leaves it to the model.

    Small models' own default system prompts can derail them (SmolLM2-135M answers
    "What is the capital of France?" in broken French under its built-in one).
    """
    value = load_config().get("default_system", DEFAULT_SYSTEM_PROMPT)
    return value or None


CATALOG_DEFAULT_MODEL = "smollm2"
"""The built-in default: a name in the local model catalog, so it means nothing to a server."""


def configured_model() -> str | None:
    """The default model the user chose (``ASSISTANT_MODEL``, else ``default_model``), or None."""
    return str(os.environ.get("ASSISTANT_MODEL") or load_config().get("default_model") or "") or None


def default_model_source() -> str | None:
    """Where :func:`configured_model` came from, for an error about it: ``ASSISTANT_MODEL``,
    ``default_model in PATH``, or None when the user chose none (the catalog default)."""
    if os.environ.get("ASSISTANT_MODEL"):
        return "ASSISTANT_MODEL"
    if load_config().get("default_model"):
        return f"default_model in {paths().config_file}"
    return None


def default_model() -> str:
    """The model loaded when ``-m`` is not given: the user's choice, else the catalog default.

    A backend whose models are named by a server has no use for the catalog
    default; :func:`assistant.backends.default_model_for` decides per backend.
    """
    return configured_model() or CATALOG_DEFAULT_MODEL


def default_backend() -> str:
    return str(
        os.environ.get("ASSISTANT_BACKEND") or load_config().get("default_backend") or "llama-cpp"
    )


def default_backend_source() -> str | None:
    """Where :func:`default_backend` came from, for an error about it: ``ASSISTANT_BACKEND``,
    ``default_backend in PATH``, or None for the built-in default."""
    if os.environ.get("ASSISTANT_BACKEND"):
        return "ASSISTANT_BACKEND"
    if load_config().get("default_backend"):
        return f"default_backend in {paths().config_file}"
    return None


def batch_parallel() -> int:
    """Rows a batch runs at once when ``--parallel`` is not given (``batch_parallel = N``; default 1)."""
    value = load_config().get("batch_parallel", 1)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"batch_parallel in {paths().config_file} must be a whole number >= 1, not {value!r}")
    return value


def engine_process_enabled() -> bool:
    """Whether the chat app runs the model in a process of its own (default: yes, except on Windows).

    ``ASSISTANT_ENGINE_PROCESS=0`` or ``engine_process = false`` in the config
    keeps it in the app's process (one fewer interpreter in memory; the UI and
    the model then share one interpreter lock).
    """

    raw = os.environ.get("ASSISTANT_ENGINE_PROCESS")
    value = raw if raw else load_config().get("engine_process", os.name != "nt")
    switch = switch_value(value)  # true/yes/on/1, false/no/off/0
    if switch is not None:
        return switch
    raise ConfigError(f"engine_process must be true or false, not {value!r}")


def toml_string(value: str) -> str:
    """``value`` as a TOML basic string (``"..."``): quote, backslash and control characters escaped.

    Not ``json.dumps``: JSON writes a character past U+FFFF as a surrogate pair
    (``"\\ud83d\\ude00"``), which TOML refuses ("not a Unicode scalar value"), so
    ``models default ./😀.gguf`` was "invalid TOML in config.toml" for a file that
    did not even exist. Everything else is written as itself (TOML files are UTF-8).
    """
    from .text_checks import invalid_unicode

    problem = invalid_unicode(value)
    if problem:  # a lone surrogate (an undecodable file name): no UTF-8 file can hold it
        raise ConfigError(f"{value!r} cannot be written to the config: it is not valid Unicode ({problem})")
    escaped = {'"': '\\"', "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
    out = []
    for char in value:
        if char in escaped:
            out.append(escaped[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def set_top_level(key: str, value: str) -> Path:
    """Set a top-level string ``key`` in the config file, keeping everything else (comments too) as written.

    The line ``key = ...`` before the first ``[table]`` is replaced, or one is
    added at the top. The result is parsed before it is written, so a file this
    cannot edit safely is reported, never damaged.
    """
    import re

    path = paths().config_file
    text = _read_config_text(path) or ""
    line = f"{key} = {toml_string(value)}"
    # TOML lines end at "\n" only: str.splitlines() also broke a line at U+2028, U+0085 or a form feed,
    # legal inside a TOML string or comment, and the "\n" written back made a valid file invalid
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    first_table = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("[")), len(lines))
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
    # A file with Windows line ends (CRLF) keeps them: the line written had a bare "\n" among "\r\n"s.
    crlf = "\r" if lines and lines[0].endswith("\r") else ""
    for i in range(first_table):
        if pattern.match(lines[i]):
            lines[i] = line + crlf
            break
    else:
        lines.insert(0, line + crlf)
    new_text = "\n".join(lines) + "\n"
    try:
        valid = tomllib.loads(new_text).get(key) == value
    except tomllib.TOMLDecodeError:
        try:
            tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:  # broken before our edit (and not only on this key's line)
            raise ConfigError(f"invalid TOML in {path}: {exc}") from exc
        valid = False
    if not valid:  # a layout this line edit cannot handle (the key inside a multi-line string, ...)
        raise ConfigError(f"cannot set {key} in {path} without changing the rest of it: edit it by hand")
    path.parent.mkdir(parents=True, exist_ok=True)
    from .files import write_replacing

    write_replacing(path, new_text)  # a linked config (dotfiles) stays a link; its target is updated
    return path

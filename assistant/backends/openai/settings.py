"""Where ``-b openai`` connects: named remotes, env vars, ``-o`` options, in a fixed order.

Precedence, highest first (each key on its own):

1. ``-o key=value`` on the command line;
2. the named remote's table, when ``-m NAME/model`` (or ``-m NAME``) names one;
3. ``ASSISTANT_OPENAI_BASE_URL`` / ``ASSISTANT_OPENAI_API_KEY`` — only for the
   default server, never sent to a named remote (a key meant for one server must
   not leak to another);
4. ``[backends.openai]`` in the config;
5. built-in defaults.

``load_backend`` merges ``[backends.openai]`` and ``-o`` into one dict before the
backend sees it; a key whose value equals the configured one is treated as coming
from the config, which gives the same result as knowing its origin.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from ...config import backend_options, check_remote_reference, remotes
from ...errors import ConfigError
from ...option_values import check_http_url, header_safe, plain_number
from .http import redact_url

BACKEND_NAME = "openai"
ENV_BASE_URL = "ASSISTANT_OPENAI_BASE_URL"
ENV_API_KEY = "ASSISTANT_OPENAI_API_KEY"
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 300.0
MAX_TIMEOUT = 7 * 24 * 3600.0
"""Longest ``connect_timeout``/``read_timeout`` (a week): past about 1e9 seconds the socket layer
failed every load with "OverflowError: timestamp out of range for platform time_t"."""
OPTION_KEYS = frozenset(
    {"base_url", "api_key", "api_key_env", "server", "connect_timeout", "read_timeout", "chat_template", "n_ctx"}
)
SERVER_KEYS = frozenset({"base_url", "api_key", "api_key_env"})
"""Where a server is and its key: a ``[remotes.NAME]`` table (or ``-o``) gives its own,
never ``[backends.openai]``'s."""


@dataclass(frozen=True)
class RemoteSettings:
    base_url: str
    model: str  # "" means: the server's only model
    remote: str | None = None
    api_key: str | None = None
    server: str = "auto"
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    chat_template: str | None = None
    n_ctx: int = 0

    def url(self, path: str) -> str:
        """An OpenAI API path under the base URL (``/chat/completions``)."""
        return self.base_url + path

    def root_url(self, path: str) -> str:
        """A server-specific path at the server root (``/tokenize``, ``/props``)."""
        root = self.base_url[: -len("/v1")] if self.base_url.endswith("/v1") else self.base_url
        return root + path


def normalize_base_url(raw: str, source: str) -> str:
    """``http://host:8000`` -> ``http://host:8000/v1``; anything but http(s) is a config error."""
    url = str(raw).strip().rstrip("/")
    # "http://[::1" failed the load with "ValueError: Invalid IPv6 URL", a control character with
    # httpx's InvalidURL ("failed to load : InvalidURL ..."): checked as HF_ENDPOINT is.
    parts = check_http_url(url, f"base_url from {source} must look like http://HOST:PORT/v1", _shown)
    if parts.query or parts.fragment:
        # API paths are appended to base_url: "...?k=v" + "/chat/completions" would land in the query string.
        raise ConfigError(
            f"base_url from {source} cannot have a query string or fragment (after {parts.path or '/'!r}); "
            "give the API root only, e.g. http://HOST:PORT/v1"
        )
    if not parts.path:
        url += "/v1"
    return url


def _shown(url: str) -> str:
    """A base URL quoted in a message: any ``user:password@`` hidden, control characters escaped by repr."""
    return repr(redact_url(url))


def _number(value: Any, key: str, kind: type, source: str = "") -> Any:
    """``value`` as a ``kind`` (int or float) within range; never a bool or a fraction quietly cut.

    From Python, ``read_timeout=True`` became a 1-second timeout and ``n_ctx=2.7`` a window
    of 2 tokens; the CLI's ``-o`` already refuses both. ``source`` (a remote's table, the
    config) is named in the error, so the value is found where it was written.
    """
    where = f" (in {source})" if source and not source.startswith("-o") else ""
    given = value
    if isinstance(value, str):  # read as -o reads it: float("1_0") and int("１０") were 10
        value = plain_number(value)
    if isinstance(value, bool) or (kind is int and isinstance(value, float) and not value.is_integer()):
        whole = "whole " if kind is int else ""
        raise ConfigError(f"option {key} needs a {whole}number, got {given!r}{where}")
    try:
        number = kind(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"option {key} needs a number, got {given!r}{where}") from None
    if not math.isfinite(number):
        raise ConfigError(f"option {key} must be a finite number, got {given!r}{where}")
    if number < 0 or (key.endswith("timeout") and number == 0):
        raise ConfigError(
            f"option {key} must be {'> 0' if key.endswith('timeout') else '>= 0'}, got {given!r}{where}"
        )
    if key.endswith("timeout") and number > MAX_TIMEOUT:
        raise ConfigError(
            f"option {key} must be at most {MAX_TIMEOUT:g} seconds (a week), got {given!r}{where}"
        )
    return number


def _key_from_env_var(var: Any, where: str) -> str:
    value = os.environ.get(str(var))
    if not value:
        raise ConfigError(f"api_key_env in {where} names ${var}, which is not set")
    return value


def _checked_key(value: Any, source: str) -> str | None:
    """The key without surrounding whitespace, None when nothing is left; a key no header can carry is an error.

    A key read from a file or pasted often ends in a newline, ``\\r`` or a space. httpx
    refused such a header with an error quoting it whole — ``Bearer sk-...`` printed
    in the message and stored in the history. The error here never shows the key.
    """
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        # str() of a list or a table is no key: it was sent as "Bearer ['sk-…']".
        raise ConfigError(f"the API key from {source} must be a string, got {type(value).__name__}")
    key = str(value).strip()
    if key and not header_safe(key):
        raise ConfigError(
            f"the API key from {source} holds a control or non-ASCII character, which an HTTP header "
            "cannot carry; check the key"
        )
    return key or None


def check_option_keys(options: dict[str, Any]) -> None:
    """Refuse an option the openai backend does not read (``OPTION_KEYS``): ``load`` and ``check_options`` both ask."""
    unknown = sorted(set(options) - OPTION_KEYS)
    if unknown:
        raise ConfigError(
            f"unknown openai backend option(s): {', '.join(unknown)} (known: {', '.join(sorted(OPTION_KEYS))})"
            + _unknown_hint(unknown)
        )


def _unknown_hint(unknown: list[str]) -> str:
    """Why a local engine's option means nothing here, or the option a typo meant (as the local engines say).

    ``-o device=cuda`` or ``-o n_gpu_layers=99`` to a server was "unknown option" and no more, and
    ``-o temprature=0`` got no "did you mean temperature?", which the local backends give.
    """
    from ...option_values import did_you_mean
    from ..llama_library import OPTIONS as LLAMA_OPTIONS
    from ..torch.backend import OPTIONS as TRANSFORMERS_OPTIONS

    local = [name for name in unknown if name in {*LLAMA_OPTIONS, *TRANSFORMERS_OPTIONS}]
    note = ""
    if local:
        note = f" ({', '.join(local)}: an option of the local engines; the server decides where its model runs)"
    return note + did_you_mean([name for name in unknown if name not in local], sorted(OPTION_KEYS))


def option_value(key: str, value: Any, source: str) -> Any:
    """One option's value as ``load`` uses it, checked; ``source`` names where it came from in the error.

    The one check of each value: :func:`resolve_settings` runs every value it picks through it
    (``-o``, a remote's table, the environment, the config) before anything connects, and
    ``check_options`` runs the given ones (``assistant compare`` checks both sides before either
    runs: ``-o read_timeout=-1`` or ``server=vllmm`` was found only when that side connected).
    """
    if key == "base_url":
        return normalize_base_url(value, source)
    if key == "api_key":
        return _checked_key(value, source)
    if key == "api_key_env":
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"api_key_env from {source} must name an environment variable, got {value!r}")
        return value.strip()
    if key == "server":
        return _server_name(value, source)
    if key in ("connect_timeout", "read_timeout"):
        return _number(value, key, float, source)
    if key == "n_ctx":
        return _number(value, key, int, source)
    if key == "chat_template":
        if not isinstance(value, str):  # str() of a list was taken as inline text and refused as "['a']"
            raise ConfigError(f"chat_template from {source} must be a name, a file or Jinja text, not {type(value).__name__}")
        return value
    raise ConfigError(f"unknown openai backend option: {key}")


def _server_name(value: Any, source: str) -> str:
    """``server``: ``auto`` or a known family, case and spaces aside (it was refused only after ``GET /models``)."""
    from .servers import PROFILES, profile_named

    name = (value.strip().lower() or "auto") if isinstance(value, str) else value
    if name == "auto" or (isinstance(name, str) and profile_named(name) is not None):
        return name
    known = ", ".join(["auto", *PROFILES])
    raise ConfigError(f"unknown server {value!r} from {source} (known: {known})")


def check_option_values(options: dict[str, Any]) -> None:
    """Names and values of options merged as ``load`` gets them (the config's, then ``-o``), connecting nowhere.

    The config's server keys are left out: a named remote (``-m NAME/MODEL``) never reads them,
    so a bad one there is refused where it is used (:func:`resolve_settings`).
    """
    check_option_keys(options)
    configured = backend_options(BACKEND_NAME)
    for key, value in options.items():
        from_config = key in configured and configured[key] == value
        if value is None or (from_config and key in SERVER_KEYS):
            continue
        option_value(key, value, "[backends.openai]" if from_config else f"-o {key}")


def resolve_settings(model: str, options: dict[str, Any]) -> RemoteSettings:
    """Combine ``-m``, options, the named remote, env and config into one RemoteSettings."""
    check_option_keys(options)
    configured = backend_options(BACKEND_NAME)
    explicit = {k: v for k, v in options.items() if not (k in configured and configured[k] == v)}
    table: dict[str, Any] = {}
    remote: str | None = None
    named = remotes()
    prefix, _, rest = model.partition("/")
    if prefix in named:
        remote, table = prefix, named[prefix]
        model_name = rest or str(table.get("model") or "")
    else:
        check_remote_reference(model)  # a [remotes."a/b"] table: never the default server's model "a/b"
        model_name = model
    where = f"[remotes.{remote}]" if remote else "the environment/config"

    def pick(key: str, env: str | None = None) -> tuple[Any, str]:
        if key in explicit:
            return explicit[key], f"-o {key}"
        if key in table:
            return table[key], f"[remotes.{remote}]"
        if remote is not None and key in SERVER_KEYS:
            return None, ""  # the default server's address and key are never a named remote's
        if remote is None and env and os.environ.get(env):
            return os.environ[env], f"${env}"
        if key in configured:
            return configured[key], "[backends.openai]"
        return None, ""

    base_url, source = pick("base_url", ENV_BASE_URL)
    if not base_url:
        if remote:
            raise ConfigError(f"[remotes.{remote}] has no base_url")
        raise ConfigError(
            f"no server for -b openai: set {ENV_BASE_URL}, pass -o base_url=http://HOST:PORT/v1, "
            "or add a [remotes.NAME] table to the config and use -m NAME/MODEL"
        )
    api_key, key_source = pick("api_key", ENV_API_KEY)
    if not api_key:
        key_var, var_source = pick("api_key_env")
        if key_var:
            key_var = option_value("api_key_env", key_var, var_source)
            api_key, key_source = _key_from_env_var(key_var, where), f"${key_var}"
    api_key = option_value("api_key", api_key, key_source) if api_key else None

    def value(key: str, default: Any) -> Any:
        picked, found_in = pick(key)
        return default if picked is None else option_value(key, picked, found_in)

    template = value("chat_template", None)
    return RemoteSettings(
        base_url=option_value("base_url", base_url, source),
        model=model_name,
        remote=remote,
        api_key=api_key,
        server=value("server", "auto") or "auto",
        connect_timeout=value("connect_timeout", DEFAULT_CONNECT_TIMEOUT),
        read_timeout=value("read_timeout", DEFAULT_READ_TIMEOUT),
        chat_template=template or None,
        n_ctx=value("n_ctx", 0),
    )

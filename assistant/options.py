"""Parsing ``-o key=value`` options into sampling params and backend options.

Keys that name a :class:`~assistant.types.GenerationParams` field become sampling
parameters (typed by the field); every other key is passed to the backend's
``load`` (``n_ctx``, ``n_threads``, ``device``, ``base_url`` …). ``stop`` may be
given several times and accumulates; any other key given twice is refused
(:func:`refuse_repeated_options`, shared with ``-v`` and ``-p``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Iterable

from .config import load_config
from .errors import ConfigError
from .option_values import (
    INTEGER_BACKEND_OPTIONS,
    check_backend_options,
    check_stop_sequences,
    coerce_scalar,
    plain_number,
    typed_text,
    whole_number,
)
from .terminal_text import visible_text
from .text_checks import invalid_unicode
from .types import GenerationParams

_PARAM_FIELDS = {f.name: f for f in dataclasses.fields(GenerationParams)}


def _coerce_param(key: str, raw: str) -> Any:
    kind = str(_PARAM_FIELDS[key].type)
    if key == "seed" and raw.strip().lower() in ("none", ""):
        return None
    if key == "seed" or kind == "int":
        # whole numbers as the backend options take them: -o n_ctx=1e3 was 1000, -o max_tokens=1e3
        # "needs a number" (it is one), and -o top_k=2.5 was told the same
        number = whole_number(raw, f"option {key}")
        if number is None:
            raise ConfigError(f"option {key} needs a whole number, got {typed_text(raw)}")
        return number
    if kind == "float":
        number = plain_number(raw)
        if number is None:
            raise ConfigError(f"option {key} needs a number, got {typed_text(raw)}")
        if not math.isfinite(number):  # 1e999 was "temperature must be a finite number, not inf": never typed
            raise ConfigError(f"option {key} needs a finite number, got {typed_text(raw)} (too large for a float)")
        return float(number)
    return raw


def check_param_type(key: str, value: Any, where: str) -> Any:
    """A ``[params]`` value of the config, a template or a batch row, checked against its field's type.

    TOML, YAML and JSON are typed: a ``stop: [1, 2]`` let through would fail only inside the engine.
    """
    kind = str(_PARAM_FIELDS[key].type)
    ok: bool
    if key == "json_schema":  # one schema for every prompt would constrain chat too: a per-run choice
        raise ConfigError(f"json_schema in {where} is not a default setting; use --schema SCHEMA (docs/structured.md)")
    if key == "stop":
        ok = isinstance(value, str) or (isinstance(value, list) and all(isinstance(s, str) for s in value))
        wanted = "a string or a list of strings"
    elif key == "seed":
        ok = value is None or (isinstance(value, int) and not isinstance(value, bool))
        wanted = "a whole number"
    elif kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
        wanted = "a whole number"
    elif kind == "float":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        wanted = "a number"
    else:
        ok, wanted = True, ""
    if not ok:
        raise ConfigError(f"{key} in {where} must be {wanted}, not {value!r}{_number_as_text(value, wanted)}")
    if key == "stop":
        check_stop_sequences([value] if isinstance(value, str) else value, f"stop in {where}")
    if wanted == "a whole number" and value is not None:
        whole_number(value, f"{key} in {where}")  # past 64 bits: quoted whole, where the range check showed 1e+20
    return value


def _number_as_text(value: Any, wanted: str) -> str:
    """`` (it is read as text: write 0.1)`` for a number in exponent form that came as text, else "".

    YAML (PyYAML's 1.1) reads ``1e-1`` and ``1e3`` as text, unquoted (a float there needs a dot and
    a signed exponent): ``temperature: 1e-1`` in a front matter was refused as "must be a number, not
    '1e-1'", which is one. The number is spelt as it would be read. (A quoted ``'64'`` shows its quotes.)
    """
    if not isinstance(value, str) or "e" not in value.lower() or plain_number(value) is None:
        return ""
    if wanted == "a whole number":
        try:
            number = whole_number(value)
        except ConfigError:  # past any whole-number setting: no spelling of it would do
            return ""
        if number is None:
            return ""
        spelt = str(number)
    else:
        number = float(value)
        if not math.isfinite(number):  # 1e999: "write inf" is no number a setting takes
            return ""
        spelt = repr(number)
    return f" (it is read as text: write {spelt})"


def split_option(item: str, noun: str = "option") -> tuple[str, str]:
    """``item`` (``KEY=VALUE``) as its key and value; ``noun`` names it in errors ("parameter" for ``-p``)."""
    problem = invalid_unicode(item)
    if problem:
        raise ConfigError(f"{noun} {visible_text(item)!r} is not valid UTF-8 ({problem})")
    key, sep, value = item.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or not key:
        raise ConfigError(f"{noun} {visible_text(item)!r} must look like key=value")
    return key, value


def refuse_repeated_options(
    keys: Iterable[str], flag: str, noun: str = "option", repeatable: frozenset[str] = frozenset()
) -> None:
    """A one-line :class:`ConfigError` for the first key given twice among ``keys`` (those in ``repeatable`` aside).

    The one rule for every repeatable ``KEY=VALUE`` flag (``-o``, ``-v``, a tool's ``-p``): a
    key given twice is a slip (a pasted command line, a shell variable expanded twice), and
    keeping the last value ran ``-o temperature=0 -o temperature=1`` at 1 without a word.
    ``flag`` and ``noun`` name it as the user typed it: ``option 'temperature' is given twice
    (-o temperature=...); give it once``. ``repeatable``: keys documented to accumulate (``stop``).
    """
    seen: set[str] = set()
    for key in keys:
        if key in seen and key not in repeatable:
            shown = visible_text(key)
            raise ConfigError(f"{noun} {shown!r} is given twice ({flag} {shown}=...); give it once")
        seen.add(key)


def _unescape(key: str, value: str) -> str:
    """Backslash escapes (``\\n``, ``\\t``, ``\\u2029``) decoded; other text kept as typed (``é`` stays ``é``)."""
    try:
        return value.encode("latin-1", "backslashreplace").decode("unicode_escape")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"option {key}: bad backslash escape in {value!r} ({exc.reason})") from None


def parse_options(items: Iterable[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split ``key=value`` strings into (params overrides, backend options)."""
    params: dict[str, Any] = {}
    backend: dict[str, Any] = {}
    pairs = [split_option(item) for item in items]
    refuse_repeated_options((key for key, _ in pairs), "-o", repeatable=frozenset({"stop"}))
    for key, value in pairs:
        if key == "json_schema":  # a schema is JSON, checked and shown to the model: not a key=value string
            raise ConfigError("json_schema is not an -o option; use --schema SCHEMA (docs/structured.md)")
        if key == "stop":
            params.setdefault("stop", []).append(_unescape(key, value))
        elif key in _PARAM_FIELDS:
            params[key] = _coerce_param(key, value)
        else:
            typed = coerce_scalar(value)
            # an integer option stays the text typed, read (and quoted in an error) by check_backend_options
            backend[key] = value if key in INTEGER_BACKEND_OPTIONS and typed is not None else typed
    check_stop_sequences(params.get("stop", []), "-o stop")
    return params, check_backend_options(backend, "-o")


def build_params(overrides: dict[str, Any] | None = None) -> GenerationParams:
    """Defaults < config ``[params]`` < explicit overrides, validated once."""
    from .config import paths

    merged: dict[str, Any] = {}
    configured = load_config().get("params", {})  # a table: load_config checks it
    where = f"[params] of {paths().config_file}"
    for source in (configured, overrides or {}):
        for key, value in source.items():
            if key not in _PARAM_FIELDS:
                known = ", ".join(_PARAM_FIELDS)
                origin = f" in {where}" if source is configured else ""
                raise ConfigError(f"unknown generation parameter {key!r}{origin} (known: {known})")
            merged[key] = check_param_type(key, value, where) if source is configured else value
    try:
        return GenerationParams(**merged)
    except TypeError as exc:
        raise ConfigError(f"bad generation parameters: {exc}") from exc
    except ConfigError:
        # `top_p = 5` in [params] was "top_p must be in (0, 1]", which sent the user to their -o
        # options; a value the config gives (and nothing overrides) is named with its file
        kept = {key: value for key, value in configured.items() if key not in (overrides or {})}
        if kept:
            try:
                GenerationParams(**kept)
            except ConfigError as exc:
                raise ConfigError(f"{exc} (in {where})") from None
        raise

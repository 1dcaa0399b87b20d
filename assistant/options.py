"""Parsing ``-o key=value`` options into sampling params and backend options.

Keys that name a :class:`~assistant.types.GenerationParams` field become sampling
parameters (typed by the field); every other key is passed to the backend's
``load`` (``n_ctx``, ``n_threads``, ``device``, ``base_url`` …). ``stop`` may be
given several times and accumulates.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable

from .config import load_config
from .errors import ConfigError
from .types import GenerationParams

_PARAM_FIELDS = {f.name: f for f in dataclasses.fields(GenerationParams)}


def coerce_scalar(raw: str) -> Any:
    """Best-effort typing for backend options: ints, floats, booleans, else the string."""
    lowered = raw.strip().lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    if lowered in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    return raw


def _coerce_param(key: str, raw: str) -> Any:
    kind = str(_PARAM_FIELDS[key].type)
    try:
        if key == "seed":
            return None if raw.strip().lower() in ("none", "") else int(raw)
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError:
        raise ConfigError(f"option {key} needs a number, got {raw!r}") from None
    return raw


def split_option(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or not key:
        raise ConfigError(f"option {item!r} must look like key=value")
    return key, value


def parse_options(items: Iterable[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split ``key=value`` strings into (params overrides, backend options)."""
    params: dict[str, Any] = {}
    backend: dict[str, Any] = {}
    for item in items:
        key, value = split_option(item)
        if key == "stop":
            params.setdefault("stop", []).append(value.encode().decode("unicode_escape"))
        elif key in _PARAM_FIELDS:
            params[key] = _coerce_param(key, value)
        else:
            backend[key] = coerce_scalar(value)
    return params, backend


def build_params(overrides: dict[str, Any] | None = None) -> GenerationParams:
    """Defaults < config ``[params]`` < explicit overrides, validated once."""
    merged: dict[str, Any] = {}
    configured = load_config().get("params", {})
    if not isinstance(configured, dict):
        raise ConfigError("[params] in the config must be a table")
    for source in (configured, overrides or {}):
        for key, value in source.items():
            if key not in _PARAM_FIELDS:
                known = ", ".join(_PARAM_FIELDS)
                raise ConfigError(f"unknown generation parameter {key!r} (known: {known})")
            merged[key] = value
    try:
        return GenerationParams(**merged)
    except TypeError as exc:
        raise ConfigError(f"bad generation parameters: {exc}") from exc

"""What connecting to a server finds out: which kind of server it is, which model to ask for, its context window.

Apart from :mod:`.backend` because it runs once per ``load`` and answers three
questions from the ``/v1/models`` listing and a few detection requests; the
protocol implementation only keeps the answers. Detection never fails a load
that works: a server that refuses a probe outside the API is just "not that
family" (:func:`~.request_helpers._probe`).
"""

from __future__ import annotations

from typing import Any, Callable
from urllib.parse import urlsplit

from ...errors import ConfigError
from .http import RemoteClient, origin
from .request_helpers import _probe
from .servers import GENERIC, OWNED_BY, PROFILES, ServerProfile, profile_named
from .settings import RemoteSettings

PROBE_TIMEOUT_S = 10.0
"""Longest wait for a detection request outside the API (it only decides "not that family")."""


def _probe_timeout(settings: RemoteSettings) -> float:
    """:data:`PROBE_TIMEOUT_S`, or the read timeout when that is shorter: with ``-o read_timeout=2``
    a gateway that holds unknown paths open still added two 10-second waits to every load."""
    return min(PROBE_TIMEOUT_S, settings.read_timeout)


def detect_profile(
    client: RemoteClient, settings: RemoteSettings, entries: list[dict[str, Any]], probed: dict[str, Any]
) -> ServerProfile:
    """The server family: ``-o server=NAME``, else the listing's ``owned_by``, else what answers a probe.

    ``probed`` keeps the answers worth reusing (TGI's ``/info`` also holds its context length).
    """
    if settings.server != "auto":
        profile = profile_named(settings.server)
        if profile is None:
            known = ", ".join(["auto", *PROFILES])
            raise ConfigError(f"unknown server {settings.server!r} (known: {known})")
        return profile
    for entry in entries:
        found = OWNED_BY.get(str(entry.get("owned_by", "")).lower())
        if found is not None:
            return found
    wait = _probe_timeout(settings)
    version = _probe(lambda: client.request_json("GET", settings.root_url("/api/version"), timeout=wait))
    if isinstance(version, dict) and "version" in version:
        return PROFILES["ollama"]
    info = _probe(lambda: client.request_json("GET", settings.root_url("/info"), timeout=wait))
    if isinstance(info, dict) and "model_id" in info:
        probed["/info"] = info
        return PROFILES["tgi"]
    return GENERIC


def choose_model(
    settings: RemoteSettings, served: list[str], warn: Callable[[str], None], listed: bool = True
) -> str:
    """The model to ask for; ``listed``: whether ``/models`` answered with a list at all.

    With no model named, the one the server serves; with several, a ConfigError that lists them.
    A named model the listing lacks is only warned about (servers alias names).
    """
    where = origin(settings.base_url)
    if not settings.model:
        if len(served) == 1:
            return served[0]
        label = f"remote {settings.remote!r} names no model and {where}" if settings.remote else where
        hint = f"-m {settings.remote}/MODEL" if settings.remote else "-m MODEL"
        if not served and not listed:  # a 404 or no JSON: most often a base_url short of the API root
            raise ConfigError(
                f"{label} gave no model list at {urlsplit(settings.url('/models')).path}; check that base_url is "
                f"the API root (usually ending in /v1), or name the model with {hint}"
            )
        if not served:
            raise ConfigError(f"{label} lists no models (GET /v1/models); name one with {hint}")
        shown = ", ".join(served[:20]) + (f", … ({len(served)} in all)" if len(served) > 20 else "")
        raise ConfigError(f"{label} serves {len(served)} models; pick one with {hint} (served: {shown})")
    if served and settings.model not in served:
        warn(
            f"model {settings.model!r} is not among those {where} lists ({', '.join(served[:5])}); "
            "the server may refuse it or answer with another model"
        )
    return settings.model


def find_context_length(
    client: RemoteClient,
    settings: RemoteSettings,
    profile: ServerProfile,
    model: str,
    entries: list[dict[str, Any]],
    probed: dict[str, Any],
) -> tuple[int, str]:
    """(context window, where it came from): ``-o n_ctx``, the listing, the profile's endpoint, else (0, "unknown")."""
    if settings.n_ctx:
        return settings.n_ctx, "option n_ctx"
    entry = next((e for e in entries if e.get("id") == model), entries[0] if len(entries) == 1 else None)
    if entry is not None:
        meta = entry.get("meta") if isinstance(entry.get("meta"), dict) else {}
        for value in (entry.get("max_model_len"), meta.get("n_ctx"), entry.get("context_length")):
            if _window(value):
                return value, "server"
    if profile.context_endpoint:
        path, *keys = profile.context_endpoint
        found: Any = probed.get(path)
        if found is None:
            wait = _probe_timeout(settings)
            found = _probe(lambda: client.request_json("GET", settings.root_url(path), timeout=wait))
        for key in keys:
            found = found.get(key) if isinstance(found, dict) else None
        if _window(found):
            return found, "server"
    return 0, "unknown"


MAX_WINDOW = 2**31 - 1
"""The largest context window a server's report is believed for (llama.cpp's and torch's counts are int32):
``"max_model_len": 1e30`` written as an integer was taken as it was, a window no prompt check could use."""


def _window(value: Any) -> bool:
    """Whether a server's number can be a context window: a positive int up to :data:`MAX_WINDOW`, and not
    ``true`` (a bool is an int in Python: ``"max_model_len": true`` made a window of "True tokens")."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_WINDOW

"""The backend's small pieces that need no connection: optional requests, server answers, estimates.

Kept apart from :mod:`.backend` (the protocol implementation) so that module
stays one job: what a reply to ``/models``, ``/tokenize`` or an overflowing
request means, how a tokenize request is written for each server family, how
many tokens a prompt is estimated at, and which chat template ``-o chat_template`` names.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ...errors import ConfigError, RemoteError
from ..base import Prompt
from ..chat_format import FALLBACKS, ChatFormat
from .http import HTTPStatusError, NotOpenAIServerError
from .settings import RemoteSettings

_CONTEXT_RE = re.compile(r"(?:maximum context length is|context length is only) (\d+) tokens", re.I)
_PROMPT_SIZE_RES = (
    re.compile(r"(\d+) in (?:your prompt|the messages)", re.I),  # OpenAI, vLLM before 0.8
    re.compile(r"your request has (\d+) input tokens", re.I),  # vLLM 0.8 to 0.10
    re.compile(r"(?:messages|prompt) resulted in (\d+) tokens", re.I),  # OpenAI: the prompt alone
    re.compile(r"your prompt contains (\d+) input tokens", re.I),  # later vLLM, when it counted them all
)
_PROMPT_AT_LEAST_RES = (
    # vLLM stops tokenizing one token past the room it has: these counts are where it stopped.
    re.compile(r"your prompt contains at least (\d+) input tokens", re.I),
    re.compile(r"you passed (\d+) input tokens", re.I),
)


class _Entered:
    """Enter a context manager now (so HTTP errors surface before the first chunk), exit later."""

    def __init__(self, manager: Any) -> None:
        self._manager = manager
        self._value = manager.__enter__()

    def __enter__(self) -> Any:
        return self._value

    def __exit__(self, *exc: Any) -> Any:
        return self._manager.__exit__(*exc)


def _optional(call: Callable[[], Any], html_ok: bool = True) -> Any:
    """The result of a request whose absence is fine (404/405/501 or a non-JSON answer) — else raise.

    ``html_ok=False``: an HTML page is an error (the OpenAI API's own paths never answer with one).
    """
    try:
        return call()
    except NotOpenAIServerError:
        if html_ok:
            return None
        raise
    except HTTPStatusError as exc:
        if exc.status in (400, 404, 405, 501):
            return None
        raise
    except RemoteError as exc:
        if _non_json(exc):
            return None
        raise


def _non_json(exc: RemoteError) -> bool:
    """Whether ``exc`` is :meth:`RemoteClient.request_json`'s "answered PATH with non-JSON"."""
    return "with non-JSON: " in str(exc)


def _probe(call: Callable[[], Any]) -> Any:
    """The answer to a detection request outside the API (``/api/version``, ``/info``, ``/props``), else None.

    ``/v1/models`` has already answered, so the server is up and speaks the API. A
    gateway that refuses (401/403), errors at or stalls on a path outside ``/v1`` only
    says "not that server family"; failing the load there refused servers that work.
    """
    try:
        return call()
    except RemoteError:
        return None


@dataclass(frozen=True)
class ContextOverflow:
    """What a server's "maximum context length" refusal says about the request."""

    context: int
    prompt_tokens: int | None
    """The prompt's size, when the message states it exactly."""
    at_least: int = 0
    """Else a lower bound on it (vLLM stops counting past the room it has), or 0."""


def _context_overflow(exc: HTTPStatusError) -> ContextOverflow | None:
    """The context length and the prompt's size from a server's "maximum context length" error.

    The wording differs between servers and versions (OpenAI, vLLM before 0.8,
    0.8 to 0.10, later ones); a message naming the context length but no exact
    prompt size gives the lower bound it states, if any.
    """
    message = exc.server_message
    match = _CONTEXT_RE.search(message)
    if match is None:
        return None
    context = int(match.group(1))
    for pattern in _PROMPT_SIZE_RES:
        found = pattern.search(message)
        if found is not None:
            return ContextOverflow(context, int(found.group(1)))
    bounds = [int(found.group(1)) for pattern in _PROMPT_AT_LEAST_RES if (found := pattern.search(message))]
    return ContextOverflow(context, None, max(bounds, default=0))


def _token_ids(data: Any) -> list[int] | None:
    """Token ids from any tokenize answer: ``{"tokens": [..]}`` (ints or {"id"}), or a list (TGI)."""
    items = data.get("tokens") if isinstance(data, dict) else data
    if not isinstance(items, list):
        return None
    ids: list[int] = []
    for item in items:
        if isinstance(item, bool):
            return None
        if isinstance(item, int):
            ids.append(item)
        elif isinstance(item, dict) and isinstance(item.get("id"), int):
            ids.append(item["id"])
        else:
            return None
    return ids


def tokenize_request(
    style: str, settings: RemoteSettings, model: str, what: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """(url, body) of a tokenize request in ``style`` (a profile's ``tokenizer``) for ``what``.

    ``what`` is ``{"text": ...}`` or, for vLLM (which applies its own chat template),
    ``{"messages": [...]}``; the answer is read by :func:`_token_ids`.
    """
    text = what.get("text")
    if style == "llama-cpp-python":
        return settings.root_url("/extras/tokenize"), {"input": text, "model": model}
    if style == "llama-server":
        return settings.root_url("/tokenize"), {"content": text, "add_special": True, "parse_special": True}
    if style == "vllm":
        body = {"model": model, **({"prompt": text} if text is not None else
                                   {"messages": what["messages"], "add_generation_prompt": True})}
        return settings.root_url("/tokenize"), body
    return settings.root_url("/tokenize"), {"inputs": text}  # tgi


def estimate_tokens(prompt: Prompt) -> int:
    """About 4 UTF-8 bytes per token, plus the few tokens each chat turn's markers take."""
    if isinstance(prompt, str):
        return math.ceil(len(prompt.encode("utf-8")) / 4)
    size = sum(math.ceil(len(m.content.encode("utf-8")) / 4) + 4 for m in prompt)
    return size + 3 if prompt else 0


def _chat_format_option(value: str | None) -> ChatFormat | None:
    """``chat_template``: a built-in name (chatml, gemma), a Jinja file, or inline Jinja text.

    A template Jinja cannot parse is refused here, before anything connects (``load``
    and ``check_options`` both call this): it was found only when the first prompt was
    rendered, after the server had been reached and the reply asked for.
    """
    if not value:
        return None
    if value in FALLBACKS:
        template, markers = FALLBACKS[value]
        return ChatFormat(template, source=f"option:{value}", end_markers=tuple(markers))
    if "{%" in value or "{{" in value:
        return _parsed(ChatFormat(value, source="option:inline"), "the chat_template text")
    path = Path(value).expanduser()
    if path.is_file() or path.is_dir():
        from ...input_files import read_input_file

        chat_format = ChatFormat(read_input_file(path, "chat_template file", strict=True), source=f"option:{path}")
        return _parsed(chat_format, f"chat_template file {path}")
    names = ", ".join(FALLBACKS)
    raise ConfigError(f"chat_template must be one of {names}, a Jinja file, or Jinja text; got {value!r}")


def _parsed(chat_format: ChatFormat, what: str) -> ChatFormat:
    """``chat_format`` if Jinja can parse its template; a ConfigError naming ``what`` if not.

    It is tried on one user turn; only a syntax error refuses it (a template may refuse
    some conversations on purpose, with ``raise_exception``: that is its own message, later).
    """
    import jinja2

    from ...errors import TemplateError
    from ...types import Message

    try:
        chat_format.render([Message("user", "hi")])
    except TemplateError as exc:
        if isinstance(exc.__cause__, jinja2.TemplateSyntaxError):
            raise ConfigError(f"{what} is no Jinja template: {exc.__cause__}") from None
    return chat_format

"""Typing option values: what ``-o`` and the config's backend tables both need, without reading the config.

Kept apart from :mod:`assistant.options` (which reads the config for ``[params]``)
so that :mod:`assistant.config` can use it too without an import loop.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable, Mapping, Sequence
from urllib.parse import SplitResult, urlsplit

from .errors import BackendError, ConfigError

__all__ = [
    "INTEGER_BACKEND_OPTIONS",
    "MAX_STOP_BYTES",
    "MAX_STOP_SEQUENCES",
    "MAX_WHOLE_NUMBER",
    "check_backend_options",
    "check_http_url",
    "check_stop_sequences",
    "coerce_scalar",
    "did_you_mean",
    "env_switch",
    "header_safe",
    "plain_number",
    "switch_option",
    "switch_value",
    "typed_text",
    "unknown_options_error",
    "whole_number",
]


_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def plain_number(raw: str) -> int | float | None:
    """``raw`` as an int (``10``, ``-1``) or a float (``0.5``, ``1e3``) if a plain ASCII number, else None.

    The one reading of a number typed as text (``-o``, ``ASSISTANT_ENGINE_PROCESS``, a
    server option). Python's ``int()`` and ``float()`` also take ``1_0`` (as 10), full-width
    digits (``１０``) and other scripts' digits, and ``nan``/``inf``: ``-o max_tokens=1_0``
    ran with 10 tokens, where a slip of the finger should be named. Spaces around it are fine.
    """
    text = raw.strip()
    if not _PLAIN_NUMBER.fullmatch(text):
        return None
    try:
        return int(text)
    except ValueError:
        return float(text)


def int_from_text(value: Any) -> int:
    """``int(value)``, but text must be an exact ASCII whole number (:func:`whole_number`'s rule): ValueError if not.

    For readers that took ``int()`` of what a user typed (``--layer``, ``-v``, tool parameters, the chat
    app's settings), so ``1_0`` and ``１０`` are refused there as they are in ``-o``. The same rule as
    ``-o``'s whole numbers: ``1e3`` and ``3.0`` are 1000 and 3 (``-v count=1e3`` was refused where
    ``-o max_tokens=1e3`` ran), ``1.5e0`` is refused, and so is a number past :data:`MAX_WHOLE_NUMBER`.
    """
    if isinstance(value, str):
        try:
            number = whole_number(value)
        except ConfigError:  # past 64 bits: the caller's own "must be a whole number" names the field
            raise ValueError(value) from None
        if number is None:
            raise ValueError(value)
        return number
    return int(value)


def float_from_text(value: Any) -> float:
    """``float(value)``, but text must be a plain ASCII number (:func:`plain_number`): ValueError if not."""
    if isinstance(value, str):
        number = plain_number(value)
        if number is None:
            raise ValueError(value)
        return float(number)
    return float(value)


def coerce_scalar(raw: str) -> Any:
    """Best-effort typing for backend options: ints, floats (:func:`plain_number`), booleans, else text."""
    lowered = raw.strip().lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    if lowered in ("none", "null"):
        return None
    number = plain_number(raw)
    return raw if number is None else number


# Backend options every local engine reads as whole numbers; checked here, where
# ``-o`` and the config enter, so a typo is one line naming the key, not a
# ValueError from deep inside an engine's ``load``.
INTEGER_BACKEND_OPTIONS = frozenset({"n_ctx", "n_threads", "n_batch", "n_gpu_layers", "max_batch"})
COUNT_OPTIONS = frozenset({"n_ctx", "n_threads", "n_batch", "max_batch"})
"""Of those, the ones a negative number means nothing for (``n_gpu_layers=-1`` is every layer)."""
MAX_THREADS = 512
"""Most ``n_threads`` a local engine is given: llama.cpp's ``GGML_MAX_N_THREADS``. Past it
llama.cpp aborts the whole process (``std::bad_alloc`` for ``n_threads=99999999999``)
instead of raising, and no machine here gains from more threads than that."""


def switch_value(value: Any) -> bool | None:
    """``value`` as a switch: True for ``true``/``yes``/``on``/``1``, False for ``false``/``no``/``off``/``0``
    (typed, or text read by :func:`coerce_scalar`, case and spaces aside); None for anything else."""
    if isinstance(value, str):
        value = coerce_scalar(value)
    if value in (True, False) and not isinstance(value, float):  # 1 and 0 too, never 1.0
        return bool(value)
    return None


def env_switch(name: str) -> bool:
    """An on/off environment variable (``ASSISTANT_DEBUG``, ``ASSISTANT_OFFLINE``): unset or empty is off.

    The one reading of such a variable: ``ASSISTANT_DEBUG=false`` was *on* (anything but ``0``
    was), while ``ASSISTANT_OFFLINE=false`` was off, and ``ASSISTANT_OFFLINE=perhaps`` went
    offline with no word. A value that is no switch is a one-line :class:`ConfigError` naming it.
    """
    import os

    raw = os.environ.get(name, "")
    if not raw.strip():
        return False
    value = switch_value(raw)
    if value is None:
        from .terminal_text import visible_text

        shown = visible_text(raw)
        raise ConfigError(f"{name} must be true or false (1 or 0, yes or no, on or off), not {shown!r}")
    return value


MAX_WHOLE_NUMBER = 2**63 - 1
"""The largest size of a whole number an option is read as: a signed 64-bit integer, the widest any
engine's C setting (or SQLite) holds. Past it a number fits no setting, and is refused where it is
read, quoted as typed: ``-o seed=99999999999999999999`` reached the seed's range check and was
shown there as ``1e+20``, ``-o n_ctx=1e30`` as ``1000000000000000019884624838656`` (the float's
value), ``-o n_ctx=1e400`` as ``inf``."""


def typed_text(value: Any) -> str:
    """``value`` as the user typed it, for an error line: text as given (controls visible, a long one
    clipped to its first 40 characters and its length), anything else as its ``repr`` (clipped alike)."""
    if not isinstance(value, str):
        try:
            shown = repr(value)
        except ValueError:  # an int past Python's 4,300 digits for str() (a Python caller's 10**5000)
            return f"a number of about {int(value.bit_length() * 0.30103):,} digits"
        if isinstance(value, int) and len(shown) > 40:
            return f"{shown[:40]}… ({len(shown):,} digits)"
        if len(shown) > 60:  # a Python caller's list of 100,000 stops was a 600 KB error line
            return f"{shown[:40]}… ({len(shown):,} characters)"
        return shown
    from .terminal_text import visible_text

    text = value.strip()
    if len(text) > 40:  # a 5,000-digit number quoted whole was a 5,000-character "one-line" error
        return f"'{visible_text(text[:40])}…' ({len(text):,} characters)"
    return repr(visible_text(text))


def whole_number(value: Any, shown: str = "the number") -> int | None:
    """``value`` as an int if it is one (``8192``, ``8192.0``, ``"8192"``, ``"1e3"``), else None.

    Text is read exactly (``"1e30"`` is 10**30, not the float nearest it), and a whole number
    past :data:`MAX_WHOLE_NUMBER` is a one-line :class:`ConfigError` saying so, ``shown`` (the
    option, as ``-o seed`` or ``n_ctx in [backends.x] of FILE``) naming it and quoting the
    value as typed: the one reading of a whole-number option, wherever it comes from.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not value.is_integer():  # nan and inf included
            return None
        number = int(value)
    elif isinstance(value, int):
        number = value
    elif isinstance(value, str):
        exact = _exact_whole(value)
        if exact is None:
            return None
        number = exact
    else:
        return None
    if abs(number) > MAX_WHOLE_NUMBER:
        raise ConfigError(
            f"{shown} must be a whole number of at most {len(str(MAX_WHOLE_NUMBER))} digits "
            f"(±{MAX_WHOLE_NUMBER}), not {typed_text(value)}"
        )
    return number


def _exact_whole(raw: str) -> int | float | None:
    """A plain number's text (:func:`plain_number`) as the exact whole number it is, else None.

    Read as a :class:`~decimal.Decimal`, not a float: ``1e30`` is 10**30, ``3.0`` is 3. A value past
    :data:`MAX_WHOLE_NUMBER` comes back as ``inf`` (signed), never converted: ``1e999999999`` as an
    int is a billion digits.
    """
    from decimal import Decimal

    text = raw.strip()
    if not _PLAIN_NUMBER.fullmatch(text):
        return None
    number = Decimal(text)
    _, digits, exponent = number.as_tuple()
    if exponent < 0 and any(digits[len(digits) + exponent :]):  # type: ignore[operator]
        return None
    if number.copy_abs() > MAX_WHOLE_NUMBER:  # copy_abs: abs() rounds in a context, and overflows on 1e999999999
        return float("-inf") if number.is_signed() else float("inf")
    return int(number)


MAX_STOP_SEQUENCES = 1000
"""Most stop sequences one generation takes (``-o stop=`` repeated, a config's or template's ``stop`` list).

Every backend compares each one against the reply's tail after every token: 100,000 of them
added about 9 s to a reply of a few tokens, with no word said. A real list holds a handful."""

MAX_STOP_BYTES = 64 * 1024
"""Most bytes (UTF-8) all stop sequences of one generation hold together: a stop sequence is a
marker a reply ends at, never a document, and each is searched for after every token."""


def check_stop_sequences(stop: Sequence[str], shown: str = "stop") -> None:
    """A one-line :class:`ConfigError` naming the limit when ``stop`` passes :data:`MAX_STOP_SEQUENCES`
    or :data:`MAX_STOP_BYTES`; checked before the sequences are used (or copied), wherever they come from.

    ``shown`` names the source: ``-o stop`` or ``stop in [params] of FILE``.
    """
    if len(stop) > MAX_STOP_SEQUENCES:
        raise ConfigError(f"{shown} gives {len(stop):,} stop sequences; at most {MAX_STOP_SEQUENCES:,} are taken")
    size = 0
    for sequence in stop:
        size += len(sequence.encode("utf-8", errors="surrogatepass"))
        if size > MAX_STOP_BYTES:
            raise ConfigError(
                f"{shown}: the stop sequences hold more than {MAX_STOP_BYTES // 1024} KiB "
                f"({MAX_STOP_BYTES:,} bytes) together; a stop sequence is a short marker"
            )


def switch_option(options: Mapping[str, Any], key: str, default: bool) -> bool:
    """A true/false backend option (``flash_attn``, ``native``, ``n_ctx_override`` …), checked.

    ``-o`` and the config arrive typed (:func:`coerce_scalar`), but the Python API
    passes what it is given: ``bool("false")`` is True, so ``native="false"`` ran the
    native decoder. Anything but a boolean (or the usual words for one) is an error.
    """
    value = options.get(key, default)
    if isinstance(value, str):
        value = coerce_scalar(value)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise BackendError(f"{key} must be true or false, not {options.get(key)!r}")
    return value


def check_backend_options(options: dict[str, Any], where: str) -> dict[str, Any]:
    """``options`` with the integer options (:data:`INTEGER_BACKEND_OPTIONS`) made ints.

    ``where`` names the source in the error: ``"-o"`` or ``"[backends.NAME] in FILE"``. ``-o`` gives
    them as the text typed (:func:`assistant.options.parse_options`), so the error quotes that:
    ``-o n_batch=true`` was refused as ``not True``.
    """
    checked = dict(options)
    for key in INTEGER_BACKEND_OPTIONS & set(options):
        if options[key] is None:
            continue
        shown = f"-o {key}" if where == "-o" else f"{key} in {where}"
        number = whole_number(options[key], shown)
        if number is None:
            raise ConfigError(f"{shown} must be a whole number, not {typed_text(options[key])}")
        if number < 0 and key in COUNT_OPTIONS:
            raise ConfigError(f"{shown} must be 0 (the default) or more, not {number}")
        if key == "n_threads" and number > MAX_THREADS:
            raise ConfigError(f"{shown} must be at most {MAX_THREADS}, not {number} (0 picks one per CPU core)")
        checked[key] = number
    return checked


def _sampling_names() -> set[str]:
    import dataclasses

    from .types import GenerationParams

    return {f.name for f in dataclasses.fields(GenerationParams)}


def did_you_mean(unknown: Iterable[str], known: Sequence[str]) -> str:
    """A hint for misspelt keys, `` (did you mean temperature?)``, or "" when none is close.

    ``-o temprature=0`` reaches the backend, whose own list (``known``) lacks the
    sampling keys, so those are candidates too: the typo is most often one of them.
    Case aside: every key is lower case, and ``-o N_CTX=512`` got no hint at all.
    """
    import dataclasses
    import difflib

    from .types import GenerationParams

    candidates = [*known, *(f.name for f in dataclasses.fields(GenerationParams))]
    close = [
        match[0]
        for key in unknown
        if (match := difflib.get_close_matches(key.lower(), candidates, n=1, cutoff=0.75))
    ]
    return f" (did you mean {', '.join(close)}?)" if close else ""


def unknown_options_error(
    backend: str, unknown: Iterable[str], known: Sequence[str], elsewhere: Mapping[str, str] | None = None
) -> BackendError:
    """The one line every local backend gives for options it does not read.

    ``unknown llama-cpp option(s): n_ctxx (did you mean n_ctx?) (known: n_ctx, …)``:
    the same on each backend, so a typo is as easy to fix whichever engine runs.
    ``elsewhere`` says why, for another engine's options this one cannot honour
    (``dtype is a transformers option; …``): not a typo, so no "did you mean".
    """
    names = sorted(unknown)
    sampling = [name for name in names if name in _sampling_names()]
    notes = [f"{name} is {(elsewhere or {})[name]}" for name in names if name in (elsewhere or {})]
    # load_backend(..., temperature=0): "(did you mean temperature?)" named the very key refused.
    if sampling:
        hint = (
            f" ({', '.join(sampling)}: a sampling parameter, given with the params of a generation "
            "(GenerationParams, ChatSession's params), not when loading)"
        )
    else:
        typos = [name for name in names if name not in (elsewhere or {})]
        hint = (f" ({'; '.join(notes)})" if notes else "") + did_you_mean(typos, known)
    return BackendError(f"unknown {backend} option(s): {', '.join(names)}{hint} (known: {', '.join(known)})")


def check_http_url(url: str, shape: str, shown: Callable[[str], str] = repr) -> SplitResult:
    """``url`` split, if a request can go to it: ``http(s)://HOST[:PORT][/PATH]``; else a one-line ConfigError.

    One definition for every address a user sets: ``-b openai``'s ``base_url`` and the hub's
    ``HF_ENDPOINT``. Unchecked, urllib and httpx fail deep inside the first request with their own
    ValueError ("Invalid IPv6 URL", "unknown url type: 'notaurl/api/models/…'"): a traceback.
    ``shape`` opens the message (what the value should look like, and where it came from);
    ``shown`` quotes the URL in it (control characters escaped; a caller may hide credentials).
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port past 65535 or not a number)
    except ValueError as exc:  # "http://[::1", or ":99999" (read as "connection refused" before)
        raise ConfigError(f"{shape}: {exc} in {shown(url)}") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{shape}, not {shown(url)}")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise ConfigError(f"{shape}; it holds a space or a control character: {shown(url)}")
    return parts


def header_safe(value: str) -> bool:
    """Whether an HTTP header can carry ``value`` (printable ASCII): API keys and hub tokens are checked so.

    A key pasted with a line break or a non-ASCII character was refused by the HTTP library
    with a ValueError quoting the header, ``Bearer <the secret>``, in a traceback.
    """
    return value.isascii() and value.isprintable()

"""Talking to the Hugging Face hub (or any server with its URL layout) without huggingface_hub.

Only three things are needed for a GGUF file: the endpoint (``HF_ENDPOINT``),
the file's metadata (a ``HEAD`` on ``{endpoint}/{repo}/resolve/{revision}/{file}``
gives the commit, the size and, for LFS files, the sha256 in ``X-Linked-Etag``),
and a repository's file list (``/api/models/{repo}/tree/{revision}``) to pick
a quantization from. The token follows the hub's conventions (``HF_TOKEN``, else
the file ``huggingface-cli login`` writes under ``HF_HOME``).
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, ModelFetchError, ModelNotFoundError
from ..option_values import check_http_url, env_switch, header_safe
from .download import NO_ANSWER, header_int, unreachable

DEFAULT_ENDPOINT = "https://huggingface.co"
METADATA_TIMEOUT_S = 10.0
MAX_METADATA_BYTES = 16 << 20
"""Most bytes of one metadata answer (a page of a repository's file list is a few hundred KB):
a server that streams forever is one error line, not all of memory."""
MAX_TREE_PAGES = 100
"""Most pages of a repository's file list followed (the hub pages 1000 files): a server whose
``Link: rel="next"`` never ends is one error line, not a loop."""
QUANT_PREFERENCE = (
    "Q4_K_M",
    "Q4_K_S",
    "Q5_K_M",
    "Q4_0",
    "Q4_1",
    "Q5_K_S",
    "Q5_0",
    "Q6_K",
    "Q8_0",
    "BF16",
    "F16",
)
"""Which GGUF of a repository ``hf:ORG/REPO`` takes: a good size/quality trade-off first."""
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def endpoint() -> str:
    """``HF_ENDPOINT`` (a mirror), else the hub; checked as ``-b openai``'s ``base_url`` is.

    ``HF_ENDPOINT=hf-mirror.com`` (no scheme) was a traceback, "ValueError: unknown url type:
    'hf-mirror.com/api/models/…'", and a bracket or control character "Invalid IPv6 URL".
    """
    raw = os.environ.get("HF_ENDPOINT", "").strip()
    if not raw:
        return DEFAULT_ENDPOINT
    url = raw.rstrip("/")
    check_http_url(url, "HF_ENDPOINT must look like https://HOST[:PORT][/PATH]")
    return url


def offline() -> bool:
    """``HF_HUB_OFFLINE`` (the hub's convention) or ``ASSISTANT_OFFLINE``: no network at all.

    ``ASSISTANT_OFFLINE`` is read as every on/off variable of ours is (:func:`env_switch`): a value
    that is no switch is an error, not offline. ``HF_HUB_OFFLINE`` belongs to the Hugging Face tools
    and is read as before (any value but an off word is on), never refused here.
    """
    hub = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() not in ("", "0", "false", "no", "off")
    return hub or env_switch("ASSISTANT_OFFLINE")


def token() -> str | None:
    """``HF_TOKEN``, else the token file ``huggingface-cli login`` writes; one no header can carry is an error.

    ``HF_TOKEN`` holding a line break (two lines pasted) was a traceback from http.client quoting the
    header, "Invalid header value b'Bearer <the token>'": the secret printed. Never shown here.
    """
    value = os.environ.get("HF_TOKEN")
    source = "HF_TOKEN"
    if value:
        found: str | None = value.strip()
    else:
        home = Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface")
        source = str(home / "token")
        try:
            found = (home / "token").read_text(encoding="utf-8").strip() or None
        except (OSError, UnicodeDecodeError):  # unreadable or not text: no token, as when there is none
            return None
    if found and not header_safe(found):
        raise ConfigError(
            f"the Hugging Face token from {source} holds a control or non-ASCII character, which an HTTP "
            "header cannot carry; check the token"
        )
    return found or None


def auth_headers() -> dict[str, str]:
    value = token()
    return {"Authorization": f"Bearer {value}"} if value else {}


def resolve_url(repo: str, revision: str, filename: str) -> str:
    quoted = urllib.parse.quote(filename)
    return f"{endpoint()}/{repo}/resolve/{urllib.parse.quote(revision, safe='')}/{quoted}"


@dataclass(frozen=True)
class FileMetadata:
    url: str
    commit: str | None
    size: int | None
    sha256: str | None
    """The LFS sha256 (``X-Linked-Etag``); None for a file the hub gives no content hash for."""


class _KeepRedirect(urllib.request.HTTPRedirectHandler):
    """The hub puts the LFS headers on its redirect answer: read that one, do not follow it."""

    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


def _etag(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    value = value.removeprefix("W/")
    return value.strip('"')


def file_metadata(repo: str, revision: str, filename: str) -> FileMetadata:
    url = resolve_url(repo, revision, filename)
    request = urllib.request.Request(
        url, method="HEAD", headers={"User-Agent": "assistant", **auth_headers()}
    )
    opener = urllib.request.build_opener(_KeepRedirect)
    try:
        response = opener.open(request, timeout=METADATA_TIMEOUT_S)
        headers = response.headers
        response.close()
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code not in (301, 302, 303, 307, 308):
            raise _http_error(url, exc) from None
        headers = exc.headers
    except NO_ANSWER as exc:
        raise unreachable(url, exc) from None
    linked_etag = _etag(headers.get("X-Linked-Etag"))
    sha256 = linked_etag if linked_etag and _SHA256.match(linked_etag) else None
    # 0 is a redirect's own empty body, never a model's size: unknown, checked against the transfer instead
    size = header_int(headers.get("X-Linked-Size")) or header_int(headers.get("Content-Length")) or None
    return FileMetadata(url, headers.get("X-Repo-Commit"), size, sha256)


def _http_error(url: str, exc: urllib.error.HTTPError) -> ModelFetchError:
    if exc.code == 404:
        return ModelFetchError(f"{url}: not found (HTTP 404): check the repository, revision and file name")
    if exc.code in (401, 403):
        return ModelFetchError(f"{url}: HTTP {exc.code}: a gated or private repository needs HF_TOKEN")
    return ModelFetchError(f"{url}: HTTP {exc.code} {exc.reason}")


def _get_json(url: str) -> tuple[object, str | None]:
    from .download import _AuthStaysHome

    request = urllib.request.Request(url, headers={"User-Agent": "assistant", **auth_headers()})
    opener = urllib.request.build_opener(_AuthStaysHome)  # urlopen sent the token on to another host
    try:
        with opener.open(request, timeout=METADATA_TIMEOUT_S) as response:
            body = response.read(MAX_METADATA_BYTES + 1)
            link = response.headers.get("Link")
    except urllib.error.HTTPError as exc:
        exc.close()
        raise _http_error(url, exc) from None
    except NO_ANSWER as exc:
        raise unreachable(url, exc) from None
    if len(body) > MAX_METADATA_BYTES:
        raise ModelFetchError(f"{url}: the answer is larger than {MAX_METADATA_BYTES >> 20} MiB; not hub metadata")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise ModelFetchError(f"{url}: the answer is not JSON") from None
    next_url = None
    if link:
        match = re.search(r'<([^>]+)>;\s*rel="next"', link)
        next_url = match.group(1) if match else None
    return data, next_url


def list_files(repo: str, revision: str) -> list[str]:
    """Every file path in ``repo`` at ``revision`` (the hub's tree API, all pages)."""
    where = f"{endpoint()}/api/models/{repo}/tree/{revision}"
    url = f"{endpoint()}/api/models/{repo}/tree/{urllib.parse.quote(revision, safe='')}?recursive=true"
    host = urllib.parse.urlsplit(url).netloc
    files: list[str] = []
    for _ in range(MAX_TREE_PAGES):
        data, next_url = _get_json(url)
        if not isinstance(data, list):
            raise ModelFetchError(f"{where}: unexpected answer")
        # an untrusted answer: an entry without a text "path" is skipped (item["path"] was a KeyError traceback)
        files += [
            item["path"]
            for item in data
            if isinstance(item, dict) and item.get("type") == "file" and isinstance(item.get("path"), str)
        ]
        if not next_url:
            return files
        shape = "the next page of files is at no http(s)://HOST[:PORT][/PATH] address"
        try:  # an untrusted address: "http://[::1" or a space in it was a ValueError traceback
            url = urllib.parse.urljoin(url, next_url)
            check_http_url(url, shape)
        except ConfigError as exc:
            raise ModelFetchError(f"{where}: {exc}") from None
        except ValueError as exc:  # urljoin's own ("Invalid IPv6 URL")
            raise ModelFetchError(f"{where}: {shape}: {exc} in {next_url!r}") from None
        if urllib.parse.urlsplit(url).netloc != host:  # the token goes with each page: same host only
            raise ModelFetchError(f"{where}: the next page of files is on another host ({url})")
    raise ModelFetchError(f"{where}: more than {MAX_TREE_PAGES} pages of files")


_SPLIT = re.compile(r"-\d{5}-of-\d{5}\.gguf$", re.IGNORECASE)


def quantization_of(filename: str) -> str | None:
    """The quantization named in a GGUF file name (``…Q4_K_M.gguf`` → ``Q4_K_M``), if any."""
    stem = filename.rsplit("/", 1)[-1][: -len(".gguf")] if filename.lower().endswith(".gguf") else filename
    match = re.search(r"(?:^|[._-])((?:I?Q\d(?:_[A-Z0-9]+)*)|BF16|F16|F32)$", stem, re.IGNORECASE)
    return match.group(1).upper() if match else None


def choose_gguf(repo: str, files: list[str], quant: str | None = None) -> str:
    """The GGUF file of ``repo`` to pull: ``quant`` if given, else the first of :data:`QUANT_PREFERENCE`.

    Split files (``-00001-of-00003``) and projector files (``mmproj``) are not
    single models and are left out. When nothing fits, the error lists what the
    repository has.
    """
    ggufs = [
        f for f in files if f.lower().endswith(".gguf") and not _SPLIT.search(f) and "mmproj" not in f.lower()
    ]
    if not ggufs:
        raise ModelNotFoundError(
            f"hf:{repo} has no single-file GGUF model (files: {', '.join(files[:12]) or 'none'})"
        )
    by_quant: dict[str, list[str]] = {}
    for name in ggufs:
        by_quant.setdefault(quantization_of(name) or "", []).append(name)
    wanted = (quant.upper(),) if quant else QUANT_PREFERENCE
    for choice in wanted:
        if by_quant.get(choice):
            return min(by_quant[choice], key=len)
    if quant is None and len(ggufs) == 1:
        return ggufs[0]
    listed = ", ".join(sorted(ggufs))
    want = quant or "/".join(QUANT_PREFERENCE[:5]) + "…"
    raise ModelNotFoundError(
        f"hf:{repo} has no {want} GGUF; it has: {listed} (pick one with hf:{repo}/FILE or --quant)"
    )


_HUB_NAME = re.compile(r"[A-Za-z0-9](?:[\w.-]{0,94}[A-Za-z0-9_])?")
"""An organisation's or repository's name as the hub allows it: up to 96 characters, no '-' or '.'
at either end."""


def check_names(text: str, repo: str, revision: str, filename: str | None) -> None:
    """Refuse a reference whose repository, revision or file the hub cannot have, before any request.

    ``hf:org/..``, ``hf:org/repo@..`` and ``hf:org/repo/../../x.gguf`` were sent as they were, as
    ``…/org/../resolve/main/f.gguf`` (a request for another path than the one named), and ``-b
    transformers -m org/a..b`` failed inside huggingface_hub as "the transformers backend failed to
    load org/a..b: HFValidationError: …".
    """
    why = ""
    if any(not _HUB_NAME.fullmatch(part) or ".." in part or "--" in part for part in repo.split("/")):
        why = (
            f"{repo!r} is no repository name (letters, digits, '-', '_' and '.', no '..' or '--', "
            "not at either end)"
        )
    elif ".." in revision or revision.startswith((".", "-")):
        why = f"{revision!r} is no revision (a branch, tag or commit)"
    elif filename is not None and any(part in ("", ".", "..") for part in filename.split("/")):
        why = f"{filename!r} is no file path in a repository (no '.', '..' or empty parts)"
    if why:
        raise ModelNotFoundError(f"bad Hugging Face reference {text!r}: {why}")

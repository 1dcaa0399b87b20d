"""The remote backend (``-b openai``): any server speaking the OpenAI completions API.

vLLM, Hugging Face TGI, llama.cpp's llama-server, Ollama and llama-cpp-python's
server all stream chat completions over SSE; this backend drives them through
the same :class:`~assistant.backends.base.Backend` protocol as a local model.
Where servers differ (extra sampling parameters, tokenize endpoints, prompt
log-probabilities) it asks the server's :class:`ServerProfile` and *reports*
what a server cannot do rather than quietly doing something else:

- a sampling parameter the server lacks is an error when the user set it, and
  a one-time warning when it is only our default (``top_k=40`` on Ollama);
- token counts come from the server's tokenizer when it has one, else an
  estimate that ``info()["token_count"]`` labels as such;
- ``score`` uses echoed prompt log-probabilities, after checking once that the
  server aligns them correctly, else raises NotSupportedError.

Network faults are :class:`~assistant.errors.RemoteError` with one-line
messages. Text received before a fault has already been yielded, so a
:class:`~assistant.session.ChatSession` keeps the partial reply (finish reason
``error``). ``cancel`` shuts the socket down, so it takes effect at once even
while the server is still evaluating the prompt.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, Callable, Iterator, Sequence
from urllib.parse import urlsplit

from ... import __version__
from ...errors import ConfigError, ContextOverflowError, NotSupportedError, RemoteError
from ...terminal_text import visible_text
from ...types import (
    Chunk,
    Completion,
    FinishReason,
    GenerationParams,
    Message,
    TokenLogprob,
    Usage,
)
from ..base import Capabilities, Prompt
from ..streaming import StopMatcher, collect, make_timings
from ..chat_format import ChatFormat
from .http import HTTPStatusError, RemoteClient, _message_from_json, origin, redact_url
from .request_helpers import (  # estimate_tokens and the rest stay importable from here
    _chat_format_option,
    _context_overflow,
    _Entered,
    _optional,
    _probe,
    _token_ids,
    estimate_tokens,
)
from .servers import GENERIC, OWNED_BY, PROFILES, ServerProfile, is_default, profile_named
from .scoring import EchoScorer
from .settings import RemoteSettings, resolve_settings
from .stream import parse_event

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "eos": "stop",
    "eos_token": "stop",
    "stop_sequence": "stop",
    "tool_calls": "stop",
    "function_call": "stop",
    "content_filter": "stop",
    "length": "length",
    "max_tokens": "length",
}


MAX_PARALLEL_REQUESTS = 64
"""Requests one backend keeps in flight at most (``--parallel``); servers queue and batch them
themselves, and past a few dozen a single client only adds queueing (docs/scale.md)."""


def _stderr(message: str) -> None:
    """Warnings when no ``progress`` callback was given; they quote the server (model names), so made visible."""
    print(visible_text(message), file=sys.stderr, flush=True)


class OpenAIBackend:
    """Drives a remote OpenAI-compatible server; see the module docstring."""

    name = "openai"

    def __init__(self) -> None:
        self._settings: RemoteSettings | None = None
        self._client: RemoteClient | None = None
        self._profile: ServerProfile = GENERIC
        self._model = ""
        self._served: list[str] = []
        self._context_length = 0
        self._context_source = "unknown"
        self._chat_format: ChatFormat | None = None
        self._streams: set[threading.Event] = set()
        """One cancel flag per running stream: streams run at once under ``--parallel``, and one
        stream starting must not clear another's cancel. :meth:`cancel` sets them all."""
        self._streams_lock = threading.Lock()
        self._notify: Callable[[str], None] = _stderr
        self._warned: set[str] = set()
        self._tokenizer_ok: bool | None = None  # None: not tried yet
        self._estimated_chat = False  # a chat prompt's token count was estimated
        self._scorer: EchoScorer | None = None

    # ---- loading --------------------------------------------------------------------
    def load(self, model: str, **options: Any) -> None:
        """Connect to the server named by ``model``/options and check it answers (fail fast)."""
        progress = options.pop("progress", None)
        options.pop("verbose", None)
        settings = resolve_settings(model, options)
        chat_format = _chat_format_option(settings.chat_template)
        self.unload()
        self._settings = None  # a load that fails must not pair the old remote with the new model name
        self._notify = progress or _stderr
        self._warned = set()
        self._tokenizer_ok = None
        self._estimated_chat = False
        self._scorer = None
        client = RemoteClient(settings.api_key, settings.connect_timeout, settings.read_timeout, f"assistant/{__version__}")
        try:
            # The configured read timeout, which its error message names; an HTML page here is not an API.
            listing = _optional(lambda: client.request_json("GET", settings.url("/models")), html_ok=False)
            if isinstance(listing, dict) and listing.get("error"):
                # A 200 carrying an error (a proxy refusing the key) is no model list: say what the server said.
                message, _ = _message_from_json(listing)
                path = urlsplit(settings.url("/models")).path
                where = origin(settings.base_url)
                raise RemoteError(f"{where} answered {path} with an error: {client.redact(message)}")
            data = listing.get("data") if isinstance(listing, dict) else None
            entries = [e for e in data if isinstance(e, dict)] if isinstance(data, list) else []
            self._served = [str(e.get("id")) for e in entries if e.get("id") is not None]
            probed: dict[str, Any] = {}
            self._profile = self._detect_profile(client, settings, entries, probed)
            self._model = self._choose_model(settings, listed=isinstance(data, list))
            self._context_length, self._context_source = self._find_context_length(client, settings, entries, probed)
        except BaseException:
            client.close()
            raise
        self._client, self._settings, self._chat_format = client, settings, chat_format

    def _detect_profile(
        self, client: RemoteClient, settings: RemoteSettings, entries: list[dict[str, Any]], probed: dict[str, Any]
    ) -> ServerProfile:
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
        version = _probe(lambda: client.request_json("GET", settings.root_url("/api/version"), timeout=10))
        if isinstance(version, dict) and "version" in version:
            return PROFILES["ollama"]
        info = _probe(lambda: client.request_json("GET", settings.root_url("/info"), timeout=10))
        if isinstance(info, dict) and "model_id" in info:
            probed["/info"] = info
            return PROFILES["tgi"]
        return GENERIC

    def _choose_model(self, settings: RemoteSettings, listed: bool = True) -> str:
        """The model to ask for; ``listed``: whether ``/models`` answered with a list at all."""
        where = origin(settings.base_url)
        if not settings.model:
            if len(self._served) == 1:
                return self._served[0]
            label = f"remote {settings.remote!r} names no model and {where}" if settings.remote else where
            hint = f"-m {settings.remote}/MODEL" if settings.remote else "-m MODEL"
            if not self._served and not listed:  # a 404 or no JSON: most often a base_url short of the API root
                raise ConfigError(
                    f"{label} gave no model list at {urlsplit(settings.url('/models')).path}; check that base_url is "
                    f"the API root (usually ending in /v1), or name the model with {hint}"
                )
            if not self._served:
                raise ConfigError(f"{label} lists no models (GET /v1/models); name one with {hint}")
            shown = ", ".join(self._served[:20]) + (f", … ({len(self._served)} in all)" if len(self._served) > 20 else "")
            raise ConfigError(f"{label} serves {len(self._served)} models; pick one with {hint} (served: {shown})")
        if self._served and settings.model not in self._served:
            self._warn(
                f"model {settings.model!r} is not among those {where} lists ({', '.join(self._served[:5])}); "
                "the server may refuse it or answer with another model"
            )
        return settings.model

    def _find_context_length(
        self, client: RemoteClient, settings: RemoteSettings, entries: list[dict[str, Any]], probed: dict[str, Any]
    ) -> tuple[int, str]:
        if settings.n_ctx:
            return settings.n_ctx, "option n_ctx"
        entry = next((e for e in entries if e.get("id") == self._model), entries[0] if len(entries) == 1 else None)
        if entry is not None:
            meta = entry.get("meta") if isinstance(entry.get("meta"), dict) else {}
            for value in (entry.get("max_model_len"), meta.get("n_ctx"), entry.get("context_length")):
                if isinstance(value, int) and value > 0:
                    return value, "server"
        if self._profile.context_endpoint:
            path, *keys = self._profile.context_endpoint
            found: Any = probed.get(path)
            if found is None:
                found = _probe(lambda: client.request_json("GET", settings.root_url(path), timeout=10))
            for key in keys:
                found = found.get(key) if isinstance(found, dict) else None
            if isinstance(found, int) and found > 0:
                return found, "server"
        return 0, "unknown"

    def unload(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None

    def _require(self) -> tuple[RemoteClient, RemoteSettings]:
        if self._client is None or self._settings is None:
            raise RemoteError("no server connected: load() the openai backend first")
        return self._client, self._settings

    def _warn(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            self._notify(f"warning: {message}")

    # ---- description ----------------------------------------------------------------
    @property
    def model_name(self) -> str:
        """The ``-m`` reference that reconnects to this model: ``REMOTE/MODEL`` for a named remote.

        Like a local backend's (the name it was loaded by), this is what the history
        records and what ``-c``/``--cid`` load again; the bare served id lost the
        remote, so a resumed conversation went to the default server instead.
        Requests carry the served id (``info()["model"]``).
        """
        settings = self._settings
        if settings is not None and settings.remote and self._model:
            return f"{settings.remote}/{self._model}"
        return self._model

    @property
    def context_length(self) -> int:
        """The server's context window, or 0 when the server does not say (set ``-o n_ctx=N``)."""
        return self._context_length

    @property
    def capabilities(self) -> Capabilities:
        """What the detected server offers; it never gives sampled probabilities, distributions or attention."""
        return Capabilities(
            score=self._profile.prompt_logprobs and self._score_state() != "unsupported",
            logprobs=self._supports("logprobs"),
            repeat_penalty=self._supports("repeat_penalty"),
            seed=self._supports("seed"),
            sampled_probs=False,
            next_token=False,
            attention=False,
            constrained=self._profile.constrained,
            exact_token_count=self._token_count_kind().startswith("exact"),
            catalog_models=False,
            max_parallel=MAX_PARALLEL_REQUESTS,
        )

    def info(self) -> dict[str, Any]:
        settings = self._settings
        return {
            "backend": self.name,
            "model": self._model,
            "context_length": self._context_length,
            "context_length_source": self._context_source,
            "device": "remote",
            "base_url": redact_url(settings.base_url) if settings else None,
            "remote": settings.remote if settings else None,
            "server": self._profile.name,
            "token_count": self._token_count_kind(),
            "score": self._score_state(),
            "constrained": self._profile.constrained,
            "unsupported_params": sorted(
                name for name in ("top_k", "repeat_penalty", "logprobs", "seed") if not self._supports(name)
            ),
        }

    def _score_state(self) -> str:
        if not self._profile.prompt_logprobs:
            return "unsupported"
        return self._scorer.state if self._scorer is not None else "unchecked"

    def _supports(self, name: str) -> bool:
        if name in ("top_k", "repeat_penalty"):
            return name in self._profile.extra_params
        return bool(getattr(self._profile, name))

    def _token_count_kind(self) -> str:
        if self._profile.tokenizer is None or self._tokenizer_ok is False:
            return "estimate (the server has no tokenize endpoint)"
        if self._estimated_chat:
            return "estimate for chat messages (the server does not expose its chat template); exact for raw text"
        return "exact (server tokenizer)"

    # ---- prompts and tokens -------------------------------------------------------------
    def render_prompt(self, messages: Sequence[Message]) -> str:
        text = self._render(messages)
        if text is None:
            raise NotSupportedError(
                f"{self._profile.label} does not expose its chat template; pass -o chat_template=chatml|gemma|FILE "
                "(the template the server uses) to render prompts locally"
            )
        return text

    def _render(self, messages: Sequence[Message]) -> str | None:
        if self._chat_format is not None:
            return self._chat_format.render(messages)
        if not self._profile.apply_template:
            return None
        client, settings = self._require()
        data = _optional(
            lambda: client.request_json(
                "POST", settings.root_url("/apply-template"), {"messages": [m.to_dict() for m in messages]}
            )
        )
        prompt = data.get("prompt") if isinstance(data, dict) else None
        return prompt if isinstance(prompt, str) else None

    def prompt_token_ids(self, prompt: Prompt) -> list[int]:
        ids = self._exact_ids(prompt)
        if ids is None:
            raise NotSupportedError(
                f"{self._profile.label} cannot tell the token ids of this prompt "
                "(no tokenize endpoint, or no known chat template)"
            )
        return ids

    def count_tokens(self, prompt: Prompt) -> int:
        ids = self._exact_ids(prompt)
        if ids is not None:
            return len(ids)
        # No stderr warning: every send fits the prompt to the window with this
        # count, so a warning would be noise on each prompt. info()["token_count"]
        # says "estimate", and front ends that show counts mark them approximate.
        self._estimated_chat = True
        return estimate_tokens(prompt)

    def _exact_ids(self, prompt: Prompt) -> list[int] | None:
        if isinstance(prompt, str):
            return self._tokenize({"text": prompt})
        if self._profile.tokenizer == "vllm":
            return self._tokenize({"messages": [m.to_dict() for m in prompt]})
        text = self._render(prompt)
        return None if text is None else self._tokenize({"text": text})

    def _tokenize(self, what: dict[str, Any]) -> list[int] | None:
        style = self._profile.tokenizer
        if style is None or self._tokenizer_ok is False:
            return None
        client, settings = self._require()
        text = what.get("text")
        if style == "llama-cpp-python":
            url, body = settings.root_url("/extras/tokenize"), {"input": text, "model": self._model}
        elif style == "llama-server":
            url, body = settings.root_url("/tokenize"), {"content": text, "add_special": True, "parse_special": True}
        elif style == "vllm":
            url = settings.root_url("/tokenize")
            body = {"model": self._model, **({"prompt": text} if text is not None else
                                              {"messages": what["messages"], "add_generation_prompt": True})}
        else:  # tgi
            url, body = settings.root_url("/tokenize"), {"inputs": text}
        try:
            data = client.request_json("POST", url, body)
        except HTTPStatusError as exc:
            if exc.status in (404, 405, 501):
                self._tokenizer_ok = False
                return None
            raise
        ids = _token_ids(data)
        self._tokenizer_ok = ids is not None
        return ids

    # ---- generation -------------------------------------------------------------------
    def cancel(self) -> None:
        """Stop every running stream now: the sockets are shut down, the server sees the disconnects."""
        with self._streams_lock:
            for flag in self._streams:
                flag.set()
        if self._client is not None:
            self._client.abort()

    def complete(self, prompt: Prompt, params: GenerationParams) -> Completion:
        return collect(self.stream(prompt, params), self.model_name, self.name)

    def check_params(self, params: GenerationParams) -> None:
        """Raise for a parameter the user set that this server cannot honour; warn for our defaults."""
        for field_name, value in self._profile.unsupported(params):
            if is_default(field_name, value):
                self._warn(f"{self._profile.label} has no {field_name}; sampling without it (default {value})")
            else:
                raise NotSupportedError(
                    f"{field_name}={value} is not supported by {self._profile.label}; leave it out "
                    "(or pick the matching server with -o server=NAME if auto-detection was wrong)"
                )

    def stream(self, prompt: Prompt, params: GenerationParams) -> Iterator[Chunk]:
        client, settings = self._require()
        self.check_params(params)
        chat = not isinstance(prompt, str)
        if params.json_schema is not None:
            self._check_schema_request(chat)
        if chat:
            body: dict[str, Any] = {"messages": [m.to_dict() for m in prompt]}  # type: ignore[union-attr]
        elif self._profile.raw_prompts:
            body = {"prompt": prompt}
        else:
            raise NotSupportedError(
                f"{self._profile.label} applies the chat template to raw-text prompts, so raw prompts "
                "cannot be fed as-is; send chat messages instead"
            )
        body.update(model=self._model, stream=True, **self._profile.request_params(params, chat))
        if self._profile.stream_usage:
            body["stream_options"] = {"include_usage": True}
        url = settings.url("/chat/completions" if chat else "/completions")
        return self._stream(client, url, body, prompt, params)

    def _check_schema_request(self, chat: bool) -> None:
        """Refuse a schema this server would not enforce: ignoring it would hand back unchecked text."""
        if not self._profile.constrained:
            raise NotSupportedError(
                f"{self._profile.label} cannot constrain decoding to a JSON schema, so the reply can only be "
                "validated after it is written (templates do that by themselves); pick the server with "
                "-o server=vllm|llama-server|llama-cpp-python|ollama if auto-detection was wrong"
            )
        if not chat:
            raise NotSupportedError(
                f"{self._profile.label} holds only chat replies to a JSON schema (response_format); "
                "send chat messages, not raw text"
            )

    def _stream(
        self, client: RemoteClient, url: str, body: dict[str, Any], prompt: Prompt, params: GenerationParams
    ) -> Iterator[Chunk]:
        cancelled = threading.Event()
        with self._streams_lock:
            self._streams.add(cancelled)
        try:
            yield from self._stream_events(client, url, body, prompt, params, cancelled)
        finally:
            with self._streams_lock:
                self._streams.discard(cancelled)

    def _stream_events(
        self,
        client: RemoteClient,
        url: str,
        body: dict[str, Any],
        prompt: Prompt,
        params: GenerationParams,
        cancelled: threading.Event,
    ) -> Iterator[Chunk]:
        start = time.perf_counter()
        stopper = StopMatcher(params.stop)
        finish: FinishReason | None = None
        usage: Usage | None = None
        server_tps: float | None = None
        pieces = 0
        first_at: float | None = None
        last_at = start
        done = stopped = answered = heard = False
        try:
            with self._open_stream(client, url, body) as events:
                for event in events:
                    heard = True
                    if cancelled.is_set():
                        break
                    if event.data.strip() == "[DONE]":
                        done = True
                        break
                    data = client.redact(event.data)  # a key the server quotes back never goes further
                    update = parse_event(data, origin(url), params.logprobs, event.event)
                    answered = answered or update.answered
                    usage = update.usage or usage
                    server_tps = update.tokens_per_second or server_tps
                    if update.text or update.logprobs:
                        now = time.perf_counter()
                        first_at = first_at or now
                        last_at = now
                        pieces += 1
                        out, stopped = stopper.push(update.text)
                        if out or update.logprobs:
                            yield Chunk(text=out, logprobs=update.logprobs)
                        if stopped:
                            finish = "stop"
                            break
                    if update.finish_reason:
                        finish = _FINISH.get(update.finish_reason, "stop")
        except RemoteError:
            if not cancelled.is_set():
                tail = stopper.flush()
                if tail:
                    yield Chunk(text=tail)  # keep every received character before failing
                raise
        if cancelled.is_set():
            finish = "cancelled"
        elif done and not answered:
            # A 200 with JSON of another shape ({"data": …}, "choices": null): not a reply, never an empty one.
            raise RemoteError(f"{origin(url)} answered without a reply (no choices); is it an OpenAI-compatible server?")
        elif not (finish or stopped):
            # Every complete OpenAI reply names its finish_reason. "[DONE]" without one is a reply
            # the server dropped: llama-cpp-python's server ends a running request that way when
            # another arrives (its --interrupt_requests, on by default), which under --parallel
            # turned rows into empty "successful" results.
            tail = stopper.flush()
            if tail:
                yield Chunk(text=tail)
            raise RemoteError(f"{origin(url)} {self._cut_short(done, heard)}")
        tail = "" if stopped else stopper.flush()
        end = time.perf_counter()
        if usage is None:
            usage = Usage(prompt_tokens=self._usage_prompt_tokens(prompt), completion_tokens=pieces)
        timings = make_timings(start, first_at, last_at, end, usage.completion_tokens or pieces)
        if server_tps:
            timings.tokens_per_second = server_tps
        yield Chunk(text=tail, finish_reason=finish or "stop", usage=usage, timings=timings)

    def _cut_short(self, done: bool, heard: bool) -> str:
        """Why a stream without a finish reason is no reply: the words after the server's name.

        ``heard``: whether any event came at all. llama-cpp-python's server answers a prompt
        longer than its context window with a 200 and an empty stream (its error goes to its
        own log only), which read as a reply cut short with nothing to go on.
        """
        if not done and not heard:
            hint = ""
            if self._profile.name == "llama-cpp-python":
                hint = (
                    "; llama-cpp-python's server does this when the prompt does not fit its context window: "
                    "shorten the prompt, or start the server with a larger --n_ctx"
                )
            return f"ended the stream without sending any reply{hint}"
        if not done:
            return "ended the stream before the reply was complete"
        hint = ""
        if self._profile.name == "llama-cpp-python":
            hint = (
                "; llama-cpp-python's server drops a request when another arrives: start it with "
                "--interrupt_requests False, or send one request at a time (--parallel 1)"
            )
        return f"ended the reply without a finish reason (the server dropped the request{hint})"

    def _open_stream(self, client: RemoteClient, url: str, body: dict[str, Any]) -> Any:
        """Open the SSE stream; a reply that cannot fit is retried once with a max_tokens that fits.

        Local backends stop at the end of the context window; servers instead refuse
        a request whose prompt + max_tokens exceeds it. Their 400 says how long the
        prompt is, so the request is repeated with the room that is left.
        """
        try:
            return _Entered(client.stream_events(url, body))
        except HTTPStatusError as exc:
            sizes = _context_overflow(exc)
            if sizes is None:
                raise
            context, prompt_tokens = sizes
            if prompt_tokens >= context:
                raise ContextOverflowError(prompt_tokens, context) from exc
            retry = {**body, "max_tokens": context - prompt_tokens}
            return _Entered(client.stream_events(url, retry))

    def _usage_prompt_tokens(self, prompt: Prompt) -> int:
        """Prompt size when the server's stream carried no usage: its tokenizer, else an estimate."""
        try:
            ids = self._exact_ids(prompt)
        except RemoteError:
            ids = None
        return len(ids) if ids is not None else estimate_tokens(prompt)

    # ---- scoring ---------------------------------------------------------------------
    def score(self, prompt: Prompt, candidates: Sequence[str]) -> list[float]:
        """Summed log-probability of each candidate after ``prompt``, from echoed prompt logprobs.

        The server gets text: chat messages are rendered here first, and the
        server's tokenizer decides what in it is a control token (docs/security.md).
        """
        client, settings = self._require()
        if self._scorer is None:
            self._scorer = EchoScorer(client, settings, self._profile, self._model)
        text = prompt if isinstance(prompt, str) else self.render_prompt(prompt)
        return self._scorer.score(text, candidates)

    def token_logprobs(
        self, prompt: Prompt, token_ids: Sequence[int], params: GenerationParams, top: int = 5
    ) -> Iterator[TokenLogprob]:
        """Servers do not score given tokens with their alternatives (``capabilities.next_token`` is False)."""
        raise NotSupportedError("an OpenAI-compatible server cannot score a reply's tokens (a local backend can)")

    def token_pieces(self, token_ids: Sequence[int]) -> Any:
        """A server's vocabulary is not at hand (``capabilities.next_token`` is False)."""
        raise NotSupportedError("an OpenAI-compatible server does not give its token pieces (a local backend can)")

    def next_token(self, prompt: Prompt, params: GenerationParams, top: int = 10) -> Any:
        """Servers do not expose the whole next-token distribution (``capabilities.next_token`` is False)."""
        raise NotSupportedError(
            "an OpenAI-compatible server does not give the next-token distribution (-b llama-cpp or transformers can)"
        )

    def attention_shape(self) -> tuple[int, int]:
        raise NotSupportedError(NO_ATTENTION)

    def attention(self, prompt: Prompt, params: GenerationParams, **_: Any) -> Any:
        """Servers never return attention weights (``capabilities.attention`` is False)."""
        raise NotSupportedError(NO_ATTENTION)


NO_ATTENTION = "an OpenAI-compatible server cannot return attention weights (-b transformers can)"

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

This module is the protocol implementation and keeps what ``load`` found out;
finding it out is :mod:`.discovery`, reading a streamed reply :mod:`.reply_stream`,
scoring :mod:`.scoring`, and the connection-free pieces :mod:`.request_helpers`.
"""

from __future__ import annotations

import sys
import threading
from typing import Any, Callable, Iterator, Sequence
from urllib.parse import urlsplit

from ... import __version__
from ...errors import NotSupportedError, RemoteError
from ...terminal_text import visible_text
from ...types import Chunk, Completion, GenerationParams, Message, TokenLogprob
from ..base import Capabilities, Prompt, checked_candidates, checked_model, checked_params, checked_prompt
from ..chat_format import ChatFormat
from ..streaming import collect
from .discovery import choose_model, detect_profile, find_context_length
from .http import HTTPStatusError, NotOpenAIServerError, RemoteClient, _message_from_json, origin, redact_url
from .reply_stream import stream_reply
from .request_helpers import (  # estimate_tokens and the rest stay importable from here
    _chat_format_option,
    _non_json,
    _optional,
    _token_ids,
    estimate_tokens,
    tokenize_request,
)
from .scoring import EchoScorer
from .servers import GENERIC, ServerProfile, is_default
from .settings import RemoteSettings, check_option_values, resolve_settings

MAX_PARALLEL_REQUESTS = 64
"""Requests one backend keeps in flight at most (``--parallel``); servers queue and batch them
themselves, and past a few dozen a single client only adds queueing (docs/scale.md)."""


def _stderr(message: str) -> None:
    """Warnings when no ``progress`` callback was given; they quote the server (model names), so made visible."""
    print(visible_text(message), file=sys.stderr, flush=True)


def _model_ids(entries: list[dict[str, Any]]) -> list[str]:
    """The served model ids of a ``/v1/models`` listing: names, not ``""``, ``null`` or an object.

    ``{"id": ""}`` was the server's only model, so every request asked for model ``""``
    and the history recorded a conversation with no model; ``{"id": {...}}`` was "{'a': 1}".
    """
    ids = [e.get("id") for e in entries]
    return [str(i) for i in ids if isinstance(i, (str, int)) and not isinstance(i, bool) and str(i).strip()]


class OpenAIBackend:
    """Drives a remote OpenAI-compatible server; see the module docstring."""

    name = "openai"
    capabilities_before_load = frozenset({"sampled_probs", "next_token", "attention", "catalog_models"})
    """What no server offers, known before connecting (``capabilities.known_before_load``); the rest is the server's."""

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
        model = checked_model(model, f"the model given to the {self.name} backend's load()")
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
            self._served = _model_ids(entries)
            probed: dict[str, Any] = {}
            self._profile = detect_profile(client, settings, entries, probed)
            self._model = choose_model(settings, self._served, self._warn, listed=isinstance(data, list))
            self._context_length, self._context_source = find_context_length(
                client, settings, self._profile, self._model, entries, probed
            )
        except BaseException:
            client.close()
            raise
        self._client, self._settings, self._chat_format = client, settings, chat_format

    def check_options(self, options: dict[str, Any], model: str | None = None) -> None:
        """What :meth:`load` refuses in its options, names and values, connecting to nothing (``assistant compare``).

        ``model`` names one of the server's models: only the server knows its limits, so it is not checked here.

        Each value goes through the check ``load`` makes (:func:`.settings.option_value`), and a
        ``chat_template`` is read as ``load`` reads it: a missing file or unknown name is refused here.
        """
        given = {k: v for k, v in options.items() if k not in ("progress", "verbose")}
        check_option_values(given)
        if given.get("chat_template"):
            _chat_format_option(given["chat_template"])

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
            top_k=self._supports("top_k"),
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
        text = self._render(checked_prompt(messages))  # [] is refused before the server sees it
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
        if isinstance(checked_prompt(prompt), str):
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
        url, body = tokenize_request(style, settings, self._model, what)
        try:
            data = client.request_json("POST", url, body)
        except HTTPStatusError as exc:
            if exc.status in (404, 405, 501):
                self._tokenizer_ok = False
                return None
            raise
        except NotOpenAIServerError:
            data = None  # a proxy's page for a path it does not pass on: no tokenizer, as for JSON of another shape
        except RemoteError as exc:
            if not _non_json(exc):
                raise
            data = None  # before: every tool and template failed on "answered /extras/tokenize with non-JSON"
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
                theirs = self._profile.server_defaults.get(field_name)
                if theirs is None:
                    self._warn(f"{self._profile.label} has no {field_name}; sampling without it (default {value})")
                else:  # the server samples with its own value, not without one
                    self._warn(
                        f"{self._profile.label} cannot be sent {field_name}; it applies its own "
                        f"({theirs} unless the model's settings say otherwise) instead of the default {value}"
                    )
            else:
                raise NotSupportedError(
                    f"{field_name}={value} is not supported by {self._profile.label}; leave it out "
                    "(or pick the matching server with -o server=NAME if auto-detection was wrong)"
                )

    def stream(self, prompt: Prompt, params: GenerationParams) -> Iterator[Chunk]:
        client, settings = self._require()
        self.check_params(checked_params(params))
        chat = not isinstance(checked_prompt(prompt), str)
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
            yield from stream_reply(
                client, url, body, params, cancelled, self._profile, lambda: self._prompt_size(prompt)
            )
        finally:
            with self._streams_lock:
                self._streams.discard(cancelled)

    def _prompt_size(self, prompt: Prompt) -> tuple[int, bool]:
        """(prompt tokens, exact): the server's tokenizer where it has one, else an estimate.

        For usage when the stream carried none, and for a request too long for the window
        whose refusal does not say how long the prompt is.
        """
        try:
            ids = self._exact_ids(prompt)
        except RemoteError:
            ids = None
        return (len(ids), True) if ids is not None else (estimate_tokens(prompt), False)

    # ---- scoring ---------------------------------------------------------------------
    def score(self, prompt: Prompt, candidates: Sequence[str]) -> list[float]:
        """Summed log-probability of each candidate after ``prompt``, from echoed prompt logprobs.

        The server gets text: chat messages are rendered here first, and the
        server's tokenizer decides what in it is a control token (docs/security.md).
        """
        client, settings = self._require()
        if self._scorer is None:
            self._scorer = EchoScorer(client, settings, self._profile, self._model)
        text = prompt if isinstance(checked_prompt(prompt), str) else self.render_prompt(prompt)
        return self._scorer.score(text, checked_candidates(candidates))

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

"""What each OpenAI-compatible server can do, and how our sampling params map onto its API.

"OpenAI-compatible" covers servers that differ in exactly the places we care
about: which sampling parameters beyond the OpenAI spec they accept (``top_k``,
``repeat_penalty``), whether they can tokenize, expose their chat template,
return prompt log-probabilities, feed a raw prompt as-is, or hold a chat reply
to a JSON schema (``response_format``). A
:class:`ServerProfile` records those facts for one server family, so the
backend asks the profile instead of branching on server names, and parameters
a server lacks are *reported* instead of silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...types import GenerationParams

_DEFAULTS = GenerationParams()

# A value here means "this parameter changes nothing": sending nothing is exact.
NEUTRAL: dict[str, Any] = {"top_k": 0, "repeat_penalty": 1.0, "logprobs": 0, "seed": None, "top_p": 1.0}


@dataclass(frozen=True)
class ServerProfile:
    """Capabilities of one server family (see docs/backends.md for the sources)."""

    name: str
    label: str
    # GenerationParams fields outside the OpenAI spec -> the request key this server reads.
    extra_params: dict[str, str] = field(default_factory=dict)
    # Sent on every request so the server's own defaults don't change what a param means.
    fixed_params: dict[str, Any] = field(default_factory=dict)
    logprobs: bool = True
    seed: bool = True
    tokenizer: str | None = None  # request style of the tokenize endpoint, see openai_backend
    apply_template: bool = False  # llama-server's POST /apply-template
    raw_prompts: bool = True  # /v1/completions feeds the prompt text unchanged
    prompt_logprobs: bool = False  # /v1/completions honours echo + logprobs
    stream_usage: bool = True  # understands stream_options.include_usage
    top_k_disabled: int = 0  # the value that means "no top-k" on this server
    rejects_top_p_one: bool = False  # TGI: top_p must be < 1; leaving it out means the same
    max_stop: int | None = None
    """Most stop sequences a request may carry (None: any number). TGI (``--max-stop-sequences``, default
    4) and OpenAI's own API refuse more with a 4xx, where a local backend takes any number; the
    backend cuts the reply at every stop sequence itself (:class:`~..streaming.StopMatcher`), so
    the first ``max_stop`` are sent for the server to stop early and the rest are matched here."""
    server_defaults: dict[str, Any] = field(default_factory=dict)
    """Settings this server applies itself where a request cannot carry them (Ollama: the model's
    Modelfile values, by default top_k 40 and repeat_penalty 1.1). Such a setting is honoured only at
    that value: any other — the neutral one (``top_k=0``) included — means something else there."""
    # Where the context window is read when /v1/models does not say: (root path, *json keys).
    context_endpoint: tuple[str, ...] = ()
    # How a chat request asks for schema-constrained decoding: "json_schema" (OpenAI's
    # {"type": "json_schema", "json_schema": {...}}), "json_object" (llama-cpp-python's
    # {"type": "json_object", "schema": ...}), or None: the server cannot, replies are only validated.
    response_format: str | None = None

    @property
    def constrained(self) -> bool:
        """Chat replies can be held to a JSON schema by the server's decoder."""
        return self.response_format is not None

    def schema_request(self, schema: dict[str, Any]) -> dict[str, Any]:
        """The ``response_format`` value that asks this server to decode under ``schema``."""
        if self.response_format == "json_object":
            return {"type": "json_object", "schema": schema}
        return {"type": "json_schema", "json_schema": {"name": _schema_name(schema), "schema": schema, "strict": True}}

    def unsupported(self, params: GenerationParams) -> list[tuple[str, Any]]:
        """Params with an effect that this server cannot apply, as (field, value)."""
        lacking: list[tuple[str, Any]] = []
        sampling = not params.greedy

        def applied_otherwise(name: str, value: Any) -> bool:
            """What the server does without the field (its own value, else nothing) differs from ``value``."""
            return name not in self.extra_params and value != self.server_defaults.get(name, NEUTRAL[name])

        if sampling and applied_otherwise("top_k", params.top_k):
            lacking.append(("top_k", params.top_k))
        if applied_otherwise("repeat_penalty", params.repeat_penalty):
            lacking.append(("repeat_penalty", params.repeat_penalty))
        if params.logprobs and not self.logprobs:
            lacking.append(("logprobs", params.logprobs))
        if sampling and params.seed is not None and not self.seed:
            lacking.append(("seed", params.seed))
        return lacking

    def request_params(self, params: GenerationParams, chat: bool) -> dict[str, Any]:
        """The JSON fields for one request (the params this server lacks are left out)."""
        body: dict[str, Any] = {
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            **self.fixed_params,
        }
        if params.top_p < 1.0 or not self.rejects_top_p_one:
            body["top_p"] = params.top_p
        if params.seed is not None and self.seed:
            body["seed"] = params.seed
        if params.stop:
            body["stop"] = list(params.stop[: self.max_stop])
        if "top_k" in self.extra_params:
            body[self.extra_params["top_k"]] = params.top_k if params.top_k > 0 else self.top_k_disabled
        if "repeat_penalty" in self.extra_params:
            body[self.extra_params["repeat_penalty"]] = params.repeat_penalty
        if params.logprobs and self.logprobs:
            if chat:
                body["logprobs"] = True
                body["top_logprobs"] = params.logprobs
            else:
                body["logprobs"] = params.logprobs
        if params.json_schema is not None and chat and self.constrained:
            body["response_format"] = self.schema_request(params.json_schema)
        return body


def _schema_name(schema: dict[str, Any]) -> str:
    """A ``json_schema.name`` (OpenAI wants ``[A-Za-z0-9_-]{1,64}``): the schema's title, else "reply"."""
    title = "".join(c if c.isascii() and (c.isalnum() or c in "_-") else "_" for c in str(schema.get("title", "")))
    return title.strip("_")[:64] or "reply"


def is_default(name: str, value: Any) -> bool:
    """True when ``value`` is GenerationParams' own default (the user most likely did not set it)."""
    return bool(getattr(_DEFAULTS, name) == value)


LLAMA_CPP_PYTHON = ServerProfile(
    name="llama-cpp-python",
    label="llama-cpp-python's server",
    extra_params={"top_k": "top_k", "repeat_penalty": "repeat_penalty"},
    # Its request defaults are min_p=0.05 and repeat_penalty=1.1; ours are 0 and 1.
    fixed_params={"min_p": 0.0, "typical_p": 1.0},
    tokenizer="llama-cpp-python",
    prompt_logprobs=True,
    response_format="json_object",  # its server turns "schema" into a llama.cpp grammar
)
LLAMA_SERVER = ServerProfile(
    name="llama-server",
    label="llama.cpp's llama-server",
    extra_params={"top_k": "top_k", "repeat_penalty": "repeat_penalty"},
    fixed_params={"min_p": 0.0, "typical_p": 1.0},
    tokenizer="llama-server",
    apply_template=True,
    context_endpoint=("/props", "default_generation_settings", "n_ctx"),
    response_format="json_schema",
)
VLLM = ServerProfile(
    name="vllm",
    label="vLLM",
    extra_params={"top_k": "top_k", "repeat_penalty": "repetition_penalty"},
    fixed_params={"min_p": 0.0},
    tokenizer="vllm",
    prompt_logprobs=True,
    top_k_disabled=-1,
    response_format="json_schema",
)
TGI = ServerProfile(
    name="tgi",
    label="Hugging Face TGI",
    tokenizer="tgi",
    rejects_top_p_one=True,
    max_stop=4,
    context_endpoint=("/info", "max_total_tokens"),
)
OLLAMA = ServerProfile(
    name="ollama",
    label="Ollama",
    logprobs=False,
    raw_prompts=False,  # its /v1/completions wraps the prompt in the model's template
    response_format="json_schema",
    server_defaults={"top_k": 40, "repeat_penalty": 1.1},  # Ollama's own, where a Modelfile sets none
)
GENERIC = ServerProfile(
    name="openai",
    label="this OpenAI-compatible server",
    max_stop=4,  # the OpenAI API's own limit: what an unknown server most likely holds to
    prompt_logprobs=True,  # tried once, then reported as unsupported if the server refuses
)

PROFILES: dict[str, ServerProfile] = {
    p.name: p for p in (LLAMA_CPP_PYTHON, LLAMA_SERVER, VLLM, TGI, OLLAMA, GENERIC)
}

# /v1/models "owned_by" values the servers use for themselves.
OWNED_BY = {"me": LLAMA_CPP_PYTHON, "llamacpp": LLAMA_SERVER, "vllm": VLLM, "library": OLLAMA}


def profile_named(name: str) -> ServerProfile | None:
    return PROFILES.get(name.strip().lower())

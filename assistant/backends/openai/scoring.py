"""``score`` for remote servers: log-likelihoods from echoed prompt log-probabilities.

The OpenAI completions API can echo the prompt with each token's log-probability
(``echo: true, logprobs: N``). Summing the entries that cover a candidate gives
the same number a local backend computes — provided the server pairs each token
with the right distribution. llama-cpp-python 0.3.x does not when the model adds
no BOS token (every value is the probability of the token under the distribution
*after* it), so the scorer checks alignment once per connection and refuses to
return wrong numbers.
"""

from __future__ import annotations

from typing import Any, Sequence

from ...errors import NotSupportedError, RemoteError
from .http import HTTPStatusError, RemoteClient
from .servers import ServerProfile
from .settings import RemoteSettings
from .stream import finite_number, score_span

PROBE_TEXT = "The capital of France is"


REFUSALS = frozenset({400, 404, 405, 422, 501})
"""Statuses that say "this request cannot be served here" (no echo, no logprobs, no /completions).
Any other (429 rate limit, 401 key, 408/413, 5xx) is a fault of the moment: it must fail the call,
not mark scoring unsupported for the rest of the connection (tools would silently switch method)."""


def completions_json(client: RemoteClient, settings: RemoteSettings, body: dict[str, Any], label: str) -> Any:
    """POST /completions for scoring; a refusal of logprobs/echo is NotSupportedError, not a fault."""
    try:
        return client.request_json("POST", settings.url("/completions"), body)
    except HTTPStatusError as exc:
        if exc.status not in REFUSALS and "logprob" not in exc.server_message.lower():
            raise
        raise NotSupportedError(
            f"score is not supported by this backend: {label} refused prompt log-probabilities "
            f"({exc.server_message})"
        ) from exc


class EchoScorer:
    """Scores candidates on one connection; remembers whether the server's echo can be trusted."""

    def __init__(self, client: RemoteClient, settings: RemoteSettings, profile: ServerProfile, model: str) -> None:
        self._client = client
        self._settings = settings
        self._profile = profile
        self._model = model
        self.state = "unchecked"  # "ok", "ok (unverified)", "unsupported"
        self._problem = ""

    @property
    def _label(self) -> str:
        return self._profile.label

    def score(self, prompt: str, candidates: Sequence[str]) -> list[float]:
        if not self._profile.prompt_logprobs:
            raise NotSupportedError(
                f"score is not supported by this backend: {self._label} does not return "
                "log-probabilities of prompt tokens"
            )
        self._check_alignment()
        return [self._score_one(prompt, candidate) for candidate in candidates]

    def _score_one(self, prompt: str, candidate: str) -> float:
        if not candidate:
            return 0.0
        text = prompt + candidate
        tokens, offsets, values = self._echo(text)
        return score_span(tokens, offsets, values, len(prompt), len(text), self._label)

    def _neutral_body(self, prompt: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self._model,
            "prompt": prompt,
            "logprobs": 1,
            "max_tokens": 1,
            "temperature": 0.0,
            **self._profile.fixed_params,
        }
        if "repeat_penalty" in self._profile.extra_params:
            body[self._profile.extra_params["repeat_penalty"]] = 1.0
        return body

    def _echo(self, text: str) -> tuple[list[str], list[int], list[float | None]]:
        data = completions_json(self._client, self._settings, {**self._neutral_body(text), "echo": True}, self._label)
        choice = _first_choice(data)
        logprobs = _object(choice.get("logprobs"))
        tokens, offsets, values = logprobs.get("tokens"), logprobs.get("text_offset"), logprobs.get("token_logprobs")
        echoed = choice.get("text")
        if (
            not isinstance(tokens, list)
            or not isinstance(offsets, list)
            or not isinstance(values, list)
            or not len(tokens) == len(offsets) == len(values)
            or not isinstance(echoed, str)
            or not echoed.startswith(text)
        ):
            raise NotSupportedError(
                f"score is not supported by this backend: {self._label} did not echo the prompt "
                "with its log-probabilities"
            )
        numbers = [None if v is None else finite_number(v) for v in values]
        if not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets) or any(
            n is None and v is not None for n, v in zip(numbers, values)
        ):
            # A string offset crashed int(); NaN summed into a NaN score.
            raise RemoteError(f"{self._label} echoed log-probabilities that are not finite numbers")
        return [str(t) for t in tokens], offsets, numbers

    def _check_alignment(self) -> None:
        """Does the echoed logprob of a token equal the one reported when that token was generated?"""
        if self.state.startswith("ok"):
            return
        if self.state == "unsupported":
            raise NotSupportedError(self._problem)
        try:
            data = completions_json(self._client, self._settings, self._neutral_body(PROBE_TEXT), self._label)
            generated = _object(_first_choice(data).get("logprobs"))
            token = _first(generated.get("tokens"))
            expected = finite_number(_first(generated.get("token_logprobs")))
            if not isinstance(token, str) or expected is None:
                raise NotSupportedError(
                    f"score is not supported by this backend: {self._label} returned no log-probabilities"
                )
            tokens, offsets, values = self._echo(PROBE_TEXT + token)
        except NotSupportedError as exc:
            self.state, self._problem = "unsupported", str(exc)
            raise
        for tok, offset, value in zip(tokens, offsets, values):
            if offset == len(PROBE_TEXT) and tok == token and value is not None:
                if abs(value - expected) <= 0.05 + 0.02 * abs(expected):
                    self.state = "ok"
                    return
                self.state = "unsupported"
                self._problem = (
                    f"score is not supported by this backend: {self._label} returns prompt log-probabilities "
                    "shifted by one token (llama-cpp-python does this for models that add no BOS token, "
                    "e.g. SmolLM2); use vLLM, or a model that adds a BOS token"
                )
                raise NotSupportedError(self._problem)
        self.state = "ok (unverified)"  # the probe token merged with its neighbour: nothing to compare


def _object(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one: a field of the wrong type holds nothing."""
    return value if isinstance(value, dict) else {}


def _first(value: Any) -> Any:
    """The first item of a JSON array, None for an empty array or anything else."""
    return value[0] if isinstance(value, list) and value else None


def _first_choice(data: Any) -> dict[str, Any]:
    """``choices[0]`` of a completions answer, or an empty object when the answer has no such thing."""
    return _object(_first(_object(data).get("choices")))

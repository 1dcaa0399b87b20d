"""Streaming machinery shared by every local backend, exercised through the fake backend."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant.backends import create_backend
from assistant.backends.streaming import StopMatcher, Utf8Detokenizer
from assistant.backends.fake import FakeBackend
from assistant.errors import ConfigError, ContextOverflowError
from assistant.options import build_params, parse_options
from assistant.types import GenerationParams, Message


def test_detokenizer_never_splits_multibyte_characters() -> None:
    detok = Utf8Detokenizer()
    data = "é🙂中".encode()
    pieces = [detok.feed(bytes([b])) for b in data]
    assert "".join(pieces) + detok.flush() == "é🙂中"
    assert all(p in ("", "é", "🙂", "中") for p in pieces)


@given(st.text(alphabet="ab\nUser:", max_size=60), st.lists(st.integers(min_value=1, max_value=5), min_size=1))
def test_stop_matcher_output_is_text_before_first_stop(text: str, sizes: list[int]) -> None:
    """However the text is chunked, the output is exactly the text before the first stop."""
    stop = "\n\nUser:"
    matcher = StopMatcher([stop])
    out: list[str] = []
    stopped = False
    i = 0
    while i < len(text) and not stopped:
        size = sizes[i % len(sizes)]
        piece, stopped = matcher.push(text[i : i + size])
        out.append(piece)
        i += size
    if not stopped:
        out.append(matcher.flush())
    assert "".join(out) == text.split(stop)[0]
    assert stopped == (stop in text)


def test_stop_matcher_holds_back_partial_stop() -> None:
    matcher = StopMatcher(["END"])
    assert matcher.push("abc E") == ("abc ", False)
    assert matcher.push("N") == ("", False)
    assert matcher.push("X") == ("ENX", False)
    assert matcher.push(" fooEND bar") == (" foo", True)


def test_fake_stream_equals_complete(fake_backend: None) -> None:
    backend = create_backend("fake")
    backend.load("m")
    prompt = [Message("user", "héllo 🙂 wörld")]
    streamed = list(backend.stream(prompt, GenerationParams(temperature=0)))
    assert "".join(c.text for c in streamed) == "Echo: héllo 🙂 wörld"
    assert backend.complete(prompt, GenerationParams()).text == "Echo: héllo 🙂 wörld"
    final = streamed[-1]
    assert final.finish_reason == "stop"
    assert final.usage is not None and final.usage.completion_tokens == len("Echo: héllo 🙂 wörld".encode())


def test_stop_sequence_and_max_tokens_on_fake() -> None:
    backend = FakeBackend(reply="alpha beta gamma")
    backend.load("m")
    assert backend.complete("x", GenerationParams(stop=[" gam"])).text == "alpha beta"
    limited = backend.complete("x", GenerationParams(max_tokens=5))
    assert (limited.text, limited.finish_reason) == ("alpha", "length")


def test_stop_prefix_at_end_of_reply_is_released() -> None:
    backend = FakeBackend(reply="ends with E")
    backend.load("m")
    assert backend.complete("x", GenerationParams(stop=["END"])).text == "ends with E"


def test_cancel_on_fake() -> None:
    backend = FakeBackend(reply="x" * 100)
    backend.load("m")
    chunks = []
    for chunk in backend.stream("p", GenerationParams()):
        chunks.append(chunk)
        if len(chunks) == 3:
            backend.cancel()
    assert chunks[-1].finish_reason == "cancelled"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3


def test_context_overflow_on_fake() -> None:
    backend = FakeBackend(context_length=16)
    backend.load("m")
    with pytest.raises(ContextOverflowError) as info:
        backend.complete("a long prompt that does not fit", GenerationParams())
    assert info.value.context_length == 16


def test_logprobs_are_returned_when_asked() -> None:
    backend = FakeBackend(reply="ab")
    backend.load("m")
    completion = backend.complete("p", GenerationParams(logprobs=2))
    assert [lp.token for lp in completion.logprobs] == ["a", "b"]
    assert len(completion.logprobs[0].top) == 2
    assert backend.complete("p", GenerationParams()).logprobs == []


def test_parse_options_splits_params_and_backend_options() -> None:
    params, backend = parse_options(
        ["temperature=0", "max-tokens=12", "stop=\\n\\n", "stop=END", "n_ctx=1024", "device=cpu", "seed=7"]
    )
    assert params == {"temperature": 0.0, "max_tokens": 12, "stop": ["\n\n", "END"], "seed": 7}
    assert backend == {"n_ctx": 1024, "device": "cpu"}


@pytest.mark.parametrize(
    "items, message",
    [
        (["temperature=hot"], "temperature needs a number"),
        (["novalue"], "key=value"),
        (["top_p=0"], "top_p"),
        (["max_tokens=0"], "max_tokens"),
        (["temperature=-1"], "temperature"),
    ],
)
def test_bad_options_are_config_errors(items: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        params, _ = parse_options(items)
        build_params(params)


def test_config_params_are_defaults(assistant_home) -> None:  # type: ignore[no-untyped-def]
    from assistant.config import paths

    paths().config_dir.mkdir(parents=True)
    paths().config_file.write_text("[params]\ntemperature = 0.2\nmax_tokens = 9\n")
    assert build_params({"max_tokens": 3}).to_dict() | {} == GenerationParams(temperature=0.2, max_tokens=3).to_dict()
    paths().config_file.write_text("[params]\nbogus = 1\n")
    with pytest.raises(ConfigError, match="bogus"):
        build_params()
    paths().config_file.write_text("not = [valid toml")
    with pytest.raises(ConfigError, match="invalid TOML"):
        build_params()

"""The SSE decoder and the event/logprob parsers of the remote backend (no network)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.backends.openai.stream import parse_event, score_span
from assistant.backends.openai.sse import SSEDecoder, SSEEvent
from assistant.errors import NotSupportedError, RemoteError


def decode(*pieces: bytes) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events = [e for piece in pieces for e in decoder.feed(piece)]
    decoder.close()
    return events


def test_events_data_comments_and_fields() -> None:
    stream = b": ping\n\nevent: update\nid: 7\ndata: {\"a\": 1}\n\ndata:no-space\n\n"
    assert decode(stream) == [SSEEvent('{"a": 1}', "update", "7"), SSEEvent("no-space", "message", "7")]


def test_multiline_data_is_joined_with_newlines() -> None:
    assert decode(b"data: one\ndata: two\ndata:\n\ndata:\n\n") == [SSEEvent("one\ntwo\n")]


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending(newline: bytes) -> None:
    stream = b"data: a" + newline + newline + b"data: b" + newline + newline
    assert [e.data for e in decode(stream)] == ["a", "b"]


def test_bom_and_unicode_split_across_reads() -> None:
    raw = "\ufeffdata: héllo 🌍\n\n".encode()
    pieces = [raw[i : i + 1] for i in range(len(raw))]
    assert decode(*pieces) == [SSEEvent("héllo 🌍")]


def test_crlf_split_between_reads_is_one_line_ending() -> None:
    assert [e.data for e in decode(b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n")] == ["a", "b"]


def test_event_without_closing_blank_line_is_not_dispatched() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"cho') == []
    decoder.close()
    assert decoder.has_partial_event


@settings(max_examples=60, deadline=None)
@given(
    texts=st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=12), max_size=6),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
)
def test_any_chunking_gives_the_same_events(texts: list[str], cuts: list[int], newline: str) -> None:
    raw = "".join(f"data: {t}{newline}{newline}" for t in texts).encode()
    points = sorted({c % (len(raw) + 1) for c in cuts})
    pieces = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)])]
    expected = [t for t in texts if t]  # empty data dispatches nothing
    assert [e.data for e in decode(*pieces)] == expected


def test_chat_delta_usage_and_finish() -> None:
    update = parse_event(
        json.dumps({"choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": "length"}],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 2}}),
        "http://x",
    )
    assert (update.text, update.finish_reason) == ("Hi", "length")
    assert update.usage is not None and update.usage.to_dict() == {"prompt_tokens": 3, "completion_tokens": 2}


def test_usage_only_event_and_role_delta() -> None:
    assert parse_event(json.dumps({"choices": [], "usage": {"completion_tokens": 4}}), "x").usage.completion_tokens == 4
    assert parse_event(json.dumps({"choices": [{"delta": {"role": "assistant"}}]}), "x").text == ""


def test_chat_logprobs_ranked_and_limited() -> None:
    event = {"choices": [{"delta": {"content": "A"}, "logprobs": {"content": [
        {"token": "A", "logprob": -0.1, "top_logprobs": [{"token": "B", "logprob": -3}, {"token": "A", "logprob": -0.1},
                                                         {"token": "C", "logprob": -2}]}]}}]}
    (entry,) = parse_event(json.dumps(event), "x", want_logprobs=2).logprobs
    assert (entry.token, entry.logprob, entry.token_id) == ("A", -0.1, -1)
    assert [t.token for t in entry.top] == ["A", "C"]


def test_text_completion_logprobs() -> None:
    event = {"choices": [{"text": " Paris", "logprobs": {"tokens": [" Paris"], "token_logprobs": [-0.26],
                                                         "top_logprobs": [{" Paris": -0.26, " the": -1.9}]}}]}
    update = parse_event(json.dumps(event), "x", want_logprobs=1)
    assert update.text == " Paris"
    assert [(t.token, t.logprob) for t in update.logprobs[0].top] == [(" Paris", -0.26)]


@pytest.mark.parametrize(
    "data, match",
    [
        ("{not json", "malformed stream event"),
        ('["a list"]', "malformed stream event"),
        ('{"choices": "nope"}', "malformed stream event"),
        ('{"choices": [{"delta": {"content": 5}}]}', "malformed stream event"),
        ('{"error": {"message": "CUDA out of memory"}}', "error mid-reply: CUDA out of memory"),
    ],
)
def test_bad_events_are_remote_errors(data: str, match: str) -> None:
    with pytest.raises(RemoteError, match=match) as info:
        parse_event(data, "http://127.0.0.1:9")
    assert "\n" not in str(info.value) and "http://127.0.0.1:9" in str(info.value)


def test_score_span_counts_candidate_tokens_only() -> None:
    # "The capital is" + " Paris" echoed, then one generated token "."
    tokens = ["The", " capital", " is", " Par", "is", "."]
    offsets = [0, 3, 11, 14, 18, 20]
    values = [None, -5.0, -1.0, -0.5, -0.25, -9.0]
    assert score_span(tokens, offsets, values, 14, 20, "srv") == pytest.approx(-0.75)


def test_score_span_counts_a_token_merged_across_the_boundary() -> None:
    # prompt "ab", candidate "cd"; the server tokenized "bc" as one token
    assert score_span(["a", "bc", "d"], [0, 1, 3], [None, -2.0, -1.0], 2, 4, "srv") == pytest.approx(-3.0)


def test_score_span_zero_width_byte_tokens_inside_the_span_count() -> None:
    # an emoji split over two byte tokens: the first has no text of its own
    assert score_span(["x", "", "🌍"], [0, 1, 1], [None, -1.0, -2.0], 1, 2, "srv") == pytest.approx(-3.0)


def test_score_span_at_text_start_is_not_supported() -> None:
    with pytest.raises(NotSupportedError, match="first token"):
        score_span(["Hi"], [0], [None], 0, 2, "srv")

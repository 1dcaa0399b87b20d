"""The constraint module (issue #18) on a small synthetic byte-level vocabulary: no model needed.

The vocabulary is every byte plus a few multi-byte tokens (as BPE has), two
control tokens and an end-of-generation token, so the masks are checked the
way an engine uses them: random walks through the allowed tokens must always
give documents that parse and validate; specific prefixes must allow exactly
what the schema allows next.
"""

from __future__ import annotations

import json
import random
from typing import Any

import numpy as np
import pytest

from assistant.errors import NotSupportedError, TemplateError
from assistant.inspect.distribution import sampled_distribution
from assistant.structured.constraint import ConstraintVocabulary, JsonConstraint, schema_key
from assistant.structured.schema import validate
from assistant.types import GenerationParams
from benchmarks.constrained import SCHEMAS

MULTI = [b'{"', b'":', b'",', b'"}', b"true", b"false", b"null", b"name", b" the", b"]}", b"}}", b"12", b"abc"]
EOS = 256 + len(MULTI)
CONTROL = {EOS: "<|im_end|>", EOS + 1: "<|im_start|>"}
COUNT = EOS + 2
SIZE = COUNT + 6  # a padded logits vector, as some models have


def _pieces() -> list[bytes]:
    return [bytes([b]) for b in range(256)] + MULTI + [b"", b""]


def _tokenize(text: str) -> list[int]:
    return list(text.encode("utf-8"))


@pytest.fixture(scope="module")
def vocab() -> ConstraintVocabulary:
    control = [CONTROL.get(i, "") for i in range(COUNT)]
    return ConstraintVocabulary(_pieces(), control, [EOS], SIZE, _tokenize)


def _ids(text: bytes) -> list[int]:
    return list(text)


def _walk(constraint: JsonConstraint, rng: random.Random, limit: int = 400) -> bytes | None:
    """A random document through the masks (closing characters favoured so it ends); None if it did not."""
    pieces = _pieces()
    closing = np.array([any(c in p for c in b'"]},') or p.isdigit() for p in pieces] + [False] * (SIZE - COUNT))
    out = b""
    for _ in range(limit):
        allowed = constraint.allowed()
        assert not allowed[COUNT:].any(), "padding past the vocabulary is never allowed"
        assert not allowed[EOS + 1], "a control token is never JSON"
        ids = np.flatnonzero(allowed)
        assert len(ids), "some token is always allowed before the document is complete"
        if allowed[EOS] and rng.random() < 0.5:
            assert constraint.accepting
            return out
        favoured = ids[closing[ids]]
        pool = favoured if len(favoured) and rng.random() < 0.6 else ids
        token = int(pool[rng.randrange(len(pool))])
        constraint.advance(token)
        out += pieces[token]
        if constraint.complete:
            return out
    return None


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_random_walks_through_the_masks_always_give_valid_documents(vocab: ConstraintVocabulary, name: str) -> None:
    schema = SCHEMAS[name]
    rng = random.Random(name)
    finished = 0
    for _ in range(40):
        document = _walk(vocab.start(schema), rng)
        if document is None:
            continue
        finished += 1
        value = json.loads(document)
        assert validate(value, schema) == [], document
    assert finished >= 30


def _allowed_after(vocab: ConstraintVocabulary, schema: dict, prefix: bytes) -> set[bytes]:
    constraint = vocab.start(schema)
    for token in _ids(prefix):
        constraint.advance(token)
    pieces = _pieces()
    return {pieces[i] if i != EOS else b"<EOS>" for i in np.flatnonzero(constraint.allowed())}


def test_the_document_must_start_as_the_schema_says(vocab: ConstraintVocabulary) -> None:
    first = _allowed_after(vocab, SCHEMAS["flat"], b"")
    assert first and all(piece.startswith(b"{") for piece in first)
    assert b"<EOS>" not in first, "the model cannot end before writing the document"


def test_required_properties_must_come_before_the_object_closes(vocab: ConstraintVocabulary) -> None:
    schema = SCHEMAS["optional"]  # title required, the rest optional
    assert b"}" not in _allowed_after(vocab, schema, b"{")
    after_title = _allowed_after(vocab, schema, b'{"title":"x"')
    assert b"}" in after_title and b"," in after_title  # optional ones may follow, or not
    flat = SCHEMAS["flat"]
    assert b"}" not in _allowed_after(vocab, flat, b'{"name":"x"'), "age and city are required"


def test_additional_properties_false_allows_only_the_named_keys(vocab: ConstraintVocabulary) -> None:
    schema = SCHEMAS["optional"]
    constraint = vocab.start(schema)
    for token in _ids(b'{"title":"x","'):
        constraint.advance(token)
    allowed = {_pieces()[i] for i in np.flatnonzero(constraint.allowed())}
    assert allowed <= {b"y", b"r", b"s"}, allowed  # year, rating, seen: nothing else may start a key


def test_enums_allow_only_their_values(vocab: ConstraintVocabulary) -> None:
    schema = SCHEMAS["enums"]
    allowed = _allowed_after(vocab, schema, b'{"sentiment":"')
    assert allowed <= {b"p", b"n"}  # positive, negative, neutral
    assert _allowed_after(vocab, schema, b'{"sentiment":"ne') <= {b"g", b"u"}


def test_min_and_max_items(vocab: ConstraintVocabulary) -> None:
    schema = SCHEMAS["arrays"]  # tags: 1..3 strings, scores: exactly 2 integers
    assert b"]" not in _allowed_after(vocab, schema, b'{"tags":['), "minItems 1"
    assert b"]" not in _allowed_after(vocab, schema, b'{"tags":["a"],"scores":[1'), "minItems 2"
    assert b"," not in _allowed_after(vocab, schema, b'{"tags":["a"],"scores":[1,2'), "maxItems 2"
    assert b"," not in _allowed_after(vocab, schema, b'{"tags":["a","b","c"'), "maxItems 3"


def test_nested_objects_close_in_order_and_then_generation_ends(vocab: ConstraintVocabulary) -> None:
    schema = SCHEMAS["nested"]
    constraint = vocab.start(schema)
    text = b'{"person":{"name":"Ann","address":{"city":"Oslo","country":"NO"}}}'
    for token in _ids(text):
        assert not constraint.complete
        assert constraint.allowed()[token], text
        constraint.advance(token)
    assert constraint.complete and constraint.accepting
    assert json.loads(text) and validate(json.loads(text), schema) == []


def test_a_multi_byte_token_is_allowed_only_when_all_its_bytes_are(vocab: ConstraintVocabulary) -> None:
    constraint = vocab.start(SCHEMAS["flat"])
    for token in _ids(b'{"name":"Ann'):
        constraint.advance(token)
    allowed = constraint.allowed()
    multi = {piece: allowed[256 + index] for index, piece in enumerate(MULTI)}
    assert multi[b"abc"] and multi[b'",'] and multi[b" the"]
    assert not multi[b'"}'], "age and city are still required"
    assert multi[b"]}"], "inside a string, brackets are text"
    after = _allowed_after(vocab, SCHEMAS["flat"], b'{"name":"Ann"')
    assert after == {b","}


def test_a_disallowed_token_is_an_error_not_a_silent_skip(vocab: ConstraintVocabulary) -> None:
    from assistant.errors import BackendError

    constraint = vocab.start(SCHEMAS["flat"])
    with pytest.raises(BackendError):
        constraint.advance(ord("x"))


def test_compiled_schemas_are_cached_per_vocabulary(vocab: ConstraintVocabulary) -> None:
    schema = SCHEMAS["flat"]
    reordered = dict(reversed(list(schema.items())))
    assert schema_key(schema) == schema_key(reordered)
    assert vocab.compile(schema) is vocab.compile(reordered)
    one, two = vocab.start(schema), vocab.start(schema)
    one.advance(ord("{"))
    assert two.allowed()[ord("{")], "each generation has its own state"


def test_unsupported_keywords_are_rejected_with_the_keyword_named(vocab: ConstraintVocabulary) -> None:
    with pytest.raises(TemplateError, match="pattern"):
        vocab.start({"type": "string", "pattern": "^a+$"})


def test_the_masked_logits_leave_only_allowed_tokens(vocab: ConstraintVocabulary) -> None:
    constraint = vocab.start(SCHEMAS["enums"])
    logits = np.random.default_rng(0).normal(size=SIZE).astype(np.float32)
    masked = constraint.mask_numpy(logits.copy())
    allowed = constraint.last_allowed
    assert allowed is not None
    assert np.isneginf(masked[~allowed]).all() and (masked[allowed] == logits[allowed]).all()


@pytest.mark.parametrize(
    "params",
    [
        GenerationParams(temperature=0.7, top_k=40, top_p=0.95),
        GenerationParams(temperature=1.0, top_k=0, top_p=1.0, repeat_penalty=1.3),
        GenerationParams(temperature=0),
    ],
)
def test_the_sampled_distribution_includes_the_mask(vocab: ConstraintVocabulary, params: GenerationParams) -> None:
    constraint = vocab.start(SCHEMAS["arrays"])
    for token in _ids(b'{"tags":["a"],"scores":[1'):
        constraint.advance(token)
    allowed = constraint.allowed()
    logits = np.random.default_rng(1).normal(size=SIZE).astype(np.float32) * 3
    dist = sampled_distribution(logits, params, history=[ord("a"), ord("1")], allowed=allowed)
    assert set(dist.kept_ids.tolist()) <= set(np.flatnonzero(allowed).tolist())
    assert abs(float(dist.kept_p.sum()) - 1.0) < 1e-9
    free = sampled_distribution(logits, params)
    banned = int(np.flatnonzero(~allowed)[0])
    assert dist.p_sampled(banned) == 0.0 and dist.cut_by(banned) == "schema"
    assert dist.logprob(banned) == free.logprob(banned), "the model numbers stay those of the raw logits"
    # The same as the chain over the masked logits (what the engines sample from), renormalized.
    masked = np.where(allowed, logits, -np.inf).astype(np.float32)
    if params.greedy:
        assert dist.kept_ids.tolist() == [int(np.argmax(masked))]


def test_a_backend_that_cannot_constrain_refuses_a_schema() -> None:
    from assistant.backends.base import Capabilities, refuse_unconstrained

    params = GenerationParams(json_schema=SCHEMAS["flat"])
    with pytest.raises(NotSupportedError, match="JSON schema"):
        refuse_unconstrained("example", Capabilities(constrained=False), params)
    refuse_unconstrained("example", Capabilities(constrained=True), params)
    refuse_unconstrained("example", Capabilities(constrained=False), GenerationParams())


def test_the_torch_sampler_only_draws_allowed_tokens(vocab: ConstraintVocabulary) -> None:
    torch = pytest.importorskip("torch")
    from assistant.backends.torch.sampling import Sampler

    constraint = vocab.start(SCHEMAS["enums"])
    for token in _ids(b'{"sentiment":"'):
        constraint.advance(token)
    sampler = Sampler(GenerationParams(temperature=1.5, top_k=0, top_p=1.0, seed=3))
    logits = torch.zeros(SIZE)
    for _ in range(50):
        token = sampler(constraint.mask_torch(logits))
        assert constraint.last_allowed is not None and constraint.last_allowed[token]


@pytest.mark.parametrize(
    ("value", "schema", "problem"),
    [
        ("abcdef", {"type": "string", "maxLength": 5}, "longer than 5"),
        ("ab", {"type": "string", "minLength": 3}, "shorter than 3"),
        (9, {"type": "integer", "maximum": 7}, "above the maximum 7"),
        (-2.5, {"type": "number", "minimum": -1.5}, "below the minimum -1.5"),
    ],
)
def test_length_and_range_bounds_are_validated(value: Any, schema: dict[str, Any], problem: str) -> None:
    from assistant.structured.schema import check_schema, validate

    check_schema("test", schema)
    assert any(problem in found for found in validate(value, schema))
    assert validate(value, {"type": schema["type"]}) == []


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "string", "maxLength": -1}, "maxLength must be a whole number"),
        ({"type": "string", "minLength": 4, "maxLength": 2}, "minLength 4 is above maxLength 2"),
        ({"type": "integer", "minimum": "3"}, "minimum must be a number"),
        ({"type": "array", "minItems": 3, "maxItems": 1}, "minItems 3 is above maxItems 1"),
    ],
)
def test_impossible_bounds_are_refused_when_the_schema_is_checked(schema: dict[str, Any], message: str) -> None:
    from assistant.errors import TemplateError
    from assistant.structured.schema import check_schema

    with pytest.raises(TemplateError, match=message):
        check_schema("test", schema)
